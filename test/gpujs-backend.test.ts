/**
 * The gpu.js backend in each mode that can be created here, op by op against naive float64 loops
 * written in this file, plus the gpu.js pitfalls: loops past loopMaxIterations, pow of negative
 * bases, tensors past 2^24 elements, kernels compiled from tsc output, and buffer leaks.
 * A mode that cannot be created is a skipped test that prints why.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { BackendBuffer, BinaryOp, UnaryOp, View } from '../src/tensor/backend.js';
import { ARITH_OPS, COMPARE_OPS, UNARY_OPS } from '../src/tensor/backend.js';
import { Rng } from '../src/tensor/random.js';
import { contiguousStrides, sizeOf, type Shape } from '../src/tensor/shape.js';
import type { GpujsBackend } from '../src/tensor/gpujs/backend.js';
import { OPS } from '../src/tensor/ops/index.js';
import { copyKernel } from '../src/tensor/ops/layout.js';
import { createGpujsBackend, GPUJS_MODES, type GpujsMode } from '../src/tensor/gpujs/setup.js';
import { UNARY_REF, BINARY_REF, close } from './support/reference.js';

// ---- naive references ----

function view(buffer: BackendBuffer, shape: Shape, strides?: readonly number[], offset = 0): View {
  return { buffer, shape, strides: strides ?? contiguousStrides(shape), offset };
}

/** Calls fn with each multi-index of shape in row-major order. */
function eachIndex(shape: Shape, fn: (idx: number[], flat: number) => void): void {
  const n = sizeOf(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    fn(idx, flat);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

/** The view's elements in row-major order, read by stride arithmetic on the host data. */
function gatherHost(data: ArrayLike<number>, v: { shape: Shape; strides: readonly number[]; offset: number }): number[] {
  const out: number[] = [];
  eachIndex(v.shape, (idx) => {
    let p = v.offset;
    for (let d = 0; d < idx.length; d++) p += idx[d] * v.strides[d];
    out.push(data[p]);
  });
  return out;
}

/** float32 tolerance: a few ulps relative plus a small absolute floor. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-5, atol = 1e-6): void {
  close(actual, expected, rtol, atol, what);
}

function randomData(rng: Rng, n: number, lo = -2, hi = 2): Float32Array {
  return rng.uniformArray(n, lo, hi, 'float32') as Float32Array;
}

// ---- backends ----

const backends = new Map<GpujsMode, GpujsBackend>();
const skipped = new Map<GpujsMode, string>();
for (const mode of GPUJS_MODES) {
  try {
    backends.set(mode, await createGpujsBackend(mode));
  } catch (err) {
    const reason = `gpujs-${mode} unavailable: ${(err as Error).message}`;
    console.log(`SKIP ${reason}`);
    skipped.set(mode, reason);
  }
}

after(async () => {
  for (const b of backends.values()) await b.close();
});

for (const mode of GPUJS_MODES) {
  const reason = skipped.get(mode);
  if (reason !== undefined) {
    test(`gpujs-${mode}`, { skip: reason }, () => {});
    continue;
  }
  const be = backends.get(mode) as GpujsBackend;

  describe(`gpujs-${mode}`, () => {
    test('upload/read round-trips every dtype; copy materialises a transposed, offset view', () => {
      const f = new Float32Array([1.5, -2, 3, 4, 5, 6]);
      assert.deepEqual(be.read(view(be.upload(f), [6])), f);
      const i = new Int32Array([-7, 0, 16777216, 3]);
      const ri = be.read(view(be.upload(i), [4]));
      assert.ok(ri instanceof Int32Array);
      assert.deepEqual(ri, i);
      const d = new Float64Array([0.25, -1e3]);
      const rd = be.read(view(be.upload(d), [2]));
      assert.ok(rd instanceof Float64Array);
      assert.deepEqual(rd, d);
      const rng = new Rng(1);
      const data = randomData(rng, 2 * 3 * 4 + 1);
      const buf = be.upload(data);
      // shape [4, 3, 2] walking a [2, 3, 4] array backwards in axis order, offset 1
      const v = view(buf, [4, 3, 2], [1, 4, 12], 1);
      assertClose(be.read(view(be.run('copy', [v], {}), [4, 3, 2])), gatherHost(data, v), 'copy');
      assertClose(be.read(v), gatherHost(data, v), 'read strided');
    });

    test('fill, allocate and cast (float to int32 truncates toward zero)', () => {
      assert.deepEqual(be.read(view(be.run('fill', [], { size: 5, value: 2.5, dtype: 'float32' }), [5])), new Float32Array(5).fill(2.5));
      assert.deepEqual(be.read(view(be.allocate(3, 'int32'), [3])), new Int32Array(3));
      const x = be.upload(new Float32Array([-2.7, -0.5, 0, 0.5, 2.7, 7]));
      assert.deepEqual(be.read(view(be.run('cast', [view(x, [6])], { dtype: 'int32' }), [6])), new Int32Array([-2, 0, 0, 0, 2, 7]));
      const i = be.upload(new Int32Array([3, -4]));
      assert.deepEqual(be.read(view(be.run('cast', [view(i, [2])], { dtype: 'float32' }), [2])), new Float32Array([3, -4]));
    });

    test('unary ops on a transposed view match float64 references', () => {
      const rng = new Rng(2);
      const data = randomData(rng, 12, 0.1, 3);
      const signed = data.map((x, k) => (k % 2 === 0 ? -x : x));
      const pos = be.upload(data);
      const sgn = be.upload(signed);
      const shape = [4, 3];
      const strides = [1, 4];
      for (const op of UNARY_OPS) {
        // log, sqrt need positive inputs; the rest get mixed signs
        const positive = op === 'log' || op === 'sqrt';
        const buf = positive ? pos : sgn;
        const host = positive ? data : signed;
        const v = view(buf, shape, strides);
        const expected = gatherHost(host, v).map(UNARY_REF[op]);
        assertClose(be.read(view(be.run(op, [v], {}), shape)), expected, op, 2e-6, 2e-6);
      }
      // large magnitudes: tanh and sigmoid saturate instead of overflowing to NaN
      const big = be.upload(new Float32Array([-100, 100]));
      assertClose(be.read(view(be.run('tanh', [view(big, [2])], {}), [2])), [-1, 1], 'tanh saturates');
      assertClose(be.read(view(be.run('sigmoid', [view(big, [2])], {}), [2])), [0, 1], 'sigmoid saturates');
    });

    test('binary ops with a broadcast (stride 0) operand match float64 references', () => {
      const rng = new Rng(3);
      const aData = randomData(rng, 6, 0.5, 2);
      const bData = randomData(rng, 3, 0.5, 2);
      bData[1] = aData[1]; // an equal pair for the comparisons
      const a = view(be.upload(aData), [2, 3]);
      const b = view(be.upload(bData), [2, 3], [0, 1]);
      for (const op of [...ARITH_OPS, ...COMPARE_OPS]) {
        const bh = gatherHost(bData, b);
        const expected = gatherHost(aData, a).map((x, k) => BINARY_REF[op](x, bh[k]));
        assertClose(be.read(view(be.run(op, [a, b], {}), [2, 3])), expected, op, 1e-5, 1e-6);
      }
      // int32 division truncates toward zero
      const ia = view(be.upload(new Int32Array([7, -7, 6])), [3]);
      const ib = view(be.upload(new Int32Array([2, 2, 3])), [3]);
      assert.deepEqual(be.read(view(be.run('div', [ia, ib], {}), [3])), new Int32Array([3, -3, 2]));
    });

    test('pow of negative bases follows Math.pow (pitfall: NaN on Dawn-GLES)', () => {
      const bases = [-2, -2, -3, -0.5, -2, 0, 0, 2, -8];
      const exps = [3, 2, 0, -1, 0.5, 0, 2, 0.5, 1 / 3];
      const got = be.read(
        view(be.run('pow', [view(be.upload(new Float32Array(bases)), [9]), view(be.upload(new Float32Array(exps)), [9])], {}), [9]),
      );
      const expected = bases.map((x, k) => Math.pow(Math.fround(x), Math.fround(exps[k])));
      assertClose(got, expected, 'pow');
    });

    test('where picks a where cond != 0', () => {
      const c = view(be.upload(new Float32Array([1, 0, -3, 0])), [4]);
      const a = view(be.upload(new Float32Array([1, 2, 3, 4])), [4]);
      const b = view(be.upload(new Float32Array([9]))  , [4], [0]);
      assert.deepEqual(be.read(view(be.run('where', [c, a, b], {}), [4])), new Float32Array([1, 9, 3, 9]));
    });

    test('reduce over several axes of a permuted view, and argmax/argmin take the first extremum', () => {
      const rng = new Rng(4);
      const data = randomData(rng, 60);
      const x = view(be.upload(data), [5, 4, 3], [1, 5, 20]); // a transposed view
      const host = gatherHost(data, x);
      const xs = x.shape;
      for (const op of ['sum', 'max', 'min'] as const) {
        const expected = new Array<number>(4).fill(op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity);
        eachIndex(xs, (idx, flat) => {
          const v = host[flat];
          const o = idx[1];
          expected[o] = op === 'sum' ? expected[o] + v : op === 'max' ? Math.max(expected[o], v) : Math.min(expected[o], v);
        });
        assertClose(be.read(view(be.run('reduce', [x], { op: op, axes: [0, 2] }), [1, 4, 1])), expected, `reduce ${op}`, 1e-5, 1e-5);
      }
      const t = view(be.upload(new Float32Array([1, 5, 5, 0, 0, 2, -1, -1])), [2, 4]);
      const am = be.read(view(be.run('reduce', [t], { op: 'argmax', axes: [1] }), [2, 1]));
      assert.ok(am instanceof Int32Array);
      assert.deepEqual(am, new Int32Array([1, 1]));
      assert.deepEqual(be.read(view(be.run('reduce', [t], { op: 'argmin', axes: [1] }), [2, 1])), new Int32Array([3, 2]));
      // sum over an empty axis is 0
      assert.deepEqual(be.read(view(be.run('reduce', [view(be.upload(new Float32Array(0)), [2, 0])], { op: 'sum', axes: [1] }), [2, 1])), new Float32Array(2));
    });

    test('batched matmul with a transposed right operand', () => {
      const rng = new Rng(5);
      const [bt, m, k, n] = [2, 3, 4, 5];
      const aData = randomData(rng, bt * m * k);
      const bData = randomData(rng, bt * n * k);
      const a = view(be.upload(aData), [bt, m, k]);
      const b = view(be.upload(bData), [bt, k, n], [n * k, 1, k]); // b stored as [bt, n, k]
      const expected: number[] = [];
      for (let q = 0; q < bt; q++) {
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let p = 0; p < k; p++) s += aData[q * m * k + i * k + p] * bData[q * n * k + j * k + p];
            expected.push(s);
          }
        }
      }
      assertClose(be.read(view(be.run('matmul', [a, b], {}), [bt, m, n])), expected, 'matmul', 1e-5, 1e-5);
    });

    test('matmul with inner dimension 1500 is right (pitfall: loops stop at loopMaxIterations = 1000)', () => {
      const k = 1500;
      const aData = new Float32Array(2 * k).fill(1);
      const bData = new Float32Array(k * 3);
      for (let p = 0; p < k; p++) for (let j = 0; j < 3; j++) bData[p * 3 + j] = j + 1;
      const r = be.read(view(be.run('matmul', [view(be.upload(aData), [2, k]), view(be.upload(bData), [k, 3])], {}), [2, 3]));
      assert.deepEqual(r, new Float32Array([1500, 3000, 4500, 1500, 3000, 4500]));
      // and a reduction over 1500 elements
      const s = be.read(view(be.run('reduce', [view(be.upload(aData), [2, k])], { op: 'sum', axes: [1] }), [2, 1]));
      assert.deepEqual(s, new Float32Array([1500, 1500]));
    });

    test('gather and scatterAdd (repeated indices accumulate; out-of-range index throws RangeError)', () => {
      const data = new Float32Array([1, 2, 3, 4, 5, 6]);
      const x = view(be.upload(data), [2, 3]);
      const idx = view(be.upload(new Int32Array([2, 0, 2, 1])), [2, 2]);
      // out[i, a, b] = x[i, idx[a, b]]
      const expected: number[] = [];
      for (let i = 0; i < 2; i++) for (const j of [2, 0, 2, 1]) expected.push(data[i * 3 + j]);
      assert.deepEqual(Array.from(be.read(view(be.run('gather', [x, idx], { axis: 1 }), [2, 2, 2]))), expected);
      // along axis 0 of x: rows
      const rows = view(be.upload(new Int32Array([1, 1, 0])), [3]);
      assert.deepEqual(Array.from(be.read(view(be.run('gather', [x, rows], { axis: 0 }), [3, 3]))), [4, 5, 6, 4, 5, 6, 1, 2, 3]);
      // scatterAdd: the transpose of gather along axis 1
      const src = view(be.upload(new Float32Array([1, 2, 3, 4, 10, 20, 30, 40])), [2, 2, 2]);
      const sc = Array.from(be.read(view(be.run('scatterAdd', [src, idx], { axis: 1, axisSize: 3 }), [2, 3])));
      assert.deepEqual(sc, [2, 4, 1 + 3, 20, 40, 10 + 30]);
      const bad = view(be.upload(new Int32Array([3])), [1]);
      assert.throws(() => be.run('gather', [x, bad], { axis: 1 }), (e: unknown) => e instanceof RangeError && /gather: index 3/.test(e.message));
      assert.throws(() => be.run('scatterAdd', [view(be.upload(new Float32Array(2)), [2, 1]), bad], { axis: 1, axisSize: 3 }), RangeError);
    });

    test('concat of strided views and unslice with steps (including a negative step)', () => {
      const a = view(be.upload(new Float32Array([1, 2, 3, 4])), [2, 2]);
      const b = view(be.upload(new Float32Array([5, 6, 7, 8, 9, 10])), [2, 3], [1, 2]); // transposed [3,2]
      const c = view(be.upload(new Float32Array([0])), [2, 1], [0, 0]);
      const r = be.read(view(be.run('concat', [a, b, c], { axis: 1 }), [2, 6]));
      assert.deepEqual(Array.from(r), [1, 2, 5, 7, 9, 0, 3, 4, 6, 8, 10, 0]);
      const r0 = be.read(view(be.run('concat', [a, a], { axis: 0 }), [4, 2]));
      assert.deepEqual(Array.from(r0), [1, 2, 3, 4, 1, 2, 3, 4]);
      // unslice: x [2, 2] into [3, 5] at rows 1.., columns 4, 2 (start 4, step -2)
      const u = be.read(view(be.run('unslice', [a], { outShape: [3, 5], starts: [1, 4], steps: [1, -2] }), [3, 5]));
      assert.deepEqual(Array.from(u), [0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0, 0, 4, 0, 3]);
    });

    test('tensors past 2^24 elements are refused with an error naming the op and shape', () => {
      const n = 2 ** 24 + 1;
      assert.throws(() => be.run('fill', [], { size: n, value: 0, dtype: 'float32' }), /fill: shape \[16777217\]/);
      const one = be.upload(new Float32Array([1]));
      const wide = view(one, [2, 2 ** 23 + 1], [0, 0]);
      assert.throws(() => be.run('copy', [wide], {}), (e: unknown) => e instanceof RangeError && /copy: shape \[2, 8388609\]/.test(e.message));
      assert.throws(() => be.run('exp', [wide], {}), /exp: shape \[2, 8388609\]/);
      // exactly 2^24 elements is allowed, and indexing is exact up to the last element
      const m = 2 ** 24;
      const data = new Float32Array(m);
      data[m - 3] = 3;
      data[m - 2] = 5;
      data[m - 1] = 7;
      const big = be.upload(data);
      assert.deepEqual(be.read(view(big, [2], [1], m - 2)), new Float32Array([5, 7]));
      assert.deepEqual(be.read(view(big, [2], [-2], m - 1)), new Float32Array([7, 3]));
      be.dispose(big);
    });

    test('kernels compiled from the tsc output in dist/ (plain function sources) run', () => {
      // This file runs from dist/test, so these are tsc's emitted functions, as gpu.js sees them.
      assert.match(copyKernel.toString(), /^function \(x, layout\) \{/);
      assert.match(OPS.matmul.kernel.toString(), /^function \(a, b\) \{/);
      assert.ok(import.meta.url.includes('/dist/'), `expected to run from dist/, got ${import.meta.url}`);
      const x = be.upload(new Float32Array([1, 2, 3, 4]));
      assert.deepEqual(Array.from(be.read(view(be.run('matmul', [view(x, [2, 2]), view(x, [2, 2], [1, 2])], {}), [2, 2]))), [5, 11, 11, 25]);
    });

    test('liveBuffers returns to its start after a sequence of ops with dispose', () => {
      const start = be.liveBuffers();
      const deviceStart = be.deviceStats().deviceBuffers;
      const x = be.upload(new Float32Array([1, 2, 3, 4, 5, 6]));
      const y = be.run('exp', [view(x, [3, 2], [1, 3])], {});
      const z = be.run('mul', [view(y, [3, 2]), view(x, [3, 2], [1, 3])], {});
      const s = be.run('reduce', [view(z, [3, 2])], { op: 'sum', axes: [0, 1] });
      const m = be.run('matmul', [view(x, [2, 3]), view(x, [3, 2], [1, 3])], {});
      assert.equal(be.liveBuffers(), start + 5);
      for (const b of [x, y, z, s, m]) be.dispose(b);
      be.dispose(x); // twice is a no-op
      assert.equal(be.liveBuffers(), start);
      assert.equal(be.deviceStats().deviceBuffers, deviceStart);
      assert.throws(() => be.read(view(x, [6])), /disposed/);
    });
  });
}
