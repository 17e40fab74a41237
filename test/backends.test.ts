/**
 * The op suite and the gradient checks, once per available backend (cpu, gpujs-webgpu,
 * gpujs-webasm, gpujs-cpu; see test/support/backends.ts). A backend that cannot be created here is
 * a skipped test that prints why.
 *
 * - Ops go through the NDArray front end with float32 inputs created on the backend, and are
 *   compared with float64 references computed on the host in this file (naive loops over strides).
 * - Gradients: every case of scripts/gradcheck-cases.ts runs forward and one vector-Jacobian
 *   product on the backend in float32, against the same on the cpu backend in float64 (whose
 *   gradients `npm run gradcheck` validates against finite differences). Inputs are rounded to
 *   float32 first, so the two differ only by float32 arithmetic. The case list is built on each
 *   backend (`withBackend(be, allCases)`), so module parameters and constants live there too; the
 *   builders are seeded, so every list holds the same values (parameters held in float32 on the
 *   gpu.js backends).
 * - Memory: memoryScope semantics, and a forward + backward of a small MLP on a gpu.js backend
 *   that leaves liveBuffers() where it started.
 * - Fused ops (softmaxRows, siluMul) against host references on every backend.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Tensor } from '../src/autograd/index.js';
import type { Backend } from '../src/tensor/backend.js';
import { ARITH_OPS, COMPARE_OPS, UNARY, UNARY_OPS } from '../src/tensor/ops/index.js';
import { cpuBackend, withBackend } from '../src/tensor/device.js';
import type { DType } from '../src/tensor/dtype.js';
import { siluMul, softmaxRows } from '../src/tensor/fused.js';
import { keep, memoryScope, scopeDepth } from '../src/tensor/memory.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';
import { contiguousStrides, sizeOf, type Shape } from '../src/tensor/shape.js';
import { allCases } from '../scripts/gradcheck-cases.js';
import { roundedInputs, runVjp, type Vjp } from '../scripts/backend-gradcheck.js';
import { openTestBackends } from './support/backends.js';
import { UNARY_REF, BINARY_REF, close } from './support/reference.js';
import { layoutArb, shapeArb } from './support/arbitraries.js';
import { logical, readBuf, reduceRef, viewOf } from './support/strided.js';

// ---------------------------------------------------------------- host references (float64)

/** A row-major float64 array on the host. */
interface Host {
  readonly data: Float64Array;
  readonly shape: Shape;
}

/** Uniform float32-representable values in [lo, hi), optionally kept `gap` away from zero. */
function hostRand(rng: Rng, shape: Shape, lo = -2, hi = 2, gap = 0): Host {
  const data = new Float64Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) {
    let v = rng.uniformIn(lo, hi);
    if (gap > 0 && Math.abs(v) < gap) v = v < 0 ? v - gap : v + gap;
    data[i] = Math.fround(v);
  }
  return { data, shape };
}

function upload(h: Host, be: Backend, dtype: DType = 'float32'): NDArray {
  const typed = dtype === 'float32' ? Float32Array.from(h.data) : dtype === 'int32' ? Int32Array.from(h.data) : Float64Array.from(h.data);
  return NDArray.fromData(typed, h.shape, dtype, be);
}

/** The elements of a strided window onto `data`, in row-major order. */
function strided(data: ArrayLike<number>, shape: Shape, strides: readonly number[], offset = 0): Float64Array {
  const out = new Float64Array(sizeOf(shape));
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < out.length; flat++) {
    let p = offset;
    for (let d = 0; d < idx.length; d++) p += idx[d] * strides[d];
    out[flat] = data[p];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** NumPy broadcasting of `h` to `shape`. */
function bcast(h: Host, shape: Shape): Float64Array {
  const lead = shape.length - h.shape.length;
  const own = contiguousStrides(h.shape);
  const strides = shape.map((_, i) => (i < lead || h.shape[i - lead] === 1 ? 0 : own[i - lead]));
  return strided(h.data, shape, strides);
}

function transposeHost(h: Host): Host {
  const [r, c] = h.shape;
  return { data: strided(h.data, [c, r], [1, c]), shape: [c, r] };
}

/** Batched matmul with NumPy batch broadcasting: a [..., m, k] @ b [..., k, n]. */
function matmulHost(a: Host, b: Host): Host {
  const m = a.shape[a.shape.length - 2];
  const k = a.shape[a.shape.length - 1];
  const n = b.shape[b.shape.length - 1];
  const ab = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  const rank = Math.max(ab.length, bb.length);
  const batch: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = ab[i - (rank - ab.length)] ?? 1;
    const y = bb[i - (rank - bb.length)] ?? 1;
    batch.push(Math.max(x, y));
  }
  const A = bcast(a, [...batch, m, k]);
  const B = bcast(b, [...batch, k, n]);
  const nb = sizeOf(batch);
  const out = new Float64Array(nb * m * n);
  for (let q = 0; q < nb; q++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += A[q * m * k + i * k + p] * B[q * k * n + p * n + j];
        out[q * m * n + i * n + j] = s;
      }
    }
  }
  return { data: out, shape: [...batch, m, n] };
}

/** Elementwise |actual - expected| <= atol + rtol |expected|; NaN must match NaN. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-5, atol = 1e-6): void {
  close(actual, expected, rtol, atol, what);
}

function maxAbs(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i]));
  return m;
}

// ---------------------------------------------------------------- op suite

function opSuite(be: Backend): void {
  test('unary ops on a transposed view', () => {
    const rng = new Rng(11);
    for (const op of UNARY_OPS) {
      const h = hostRand(rng, [3, 5], ...UNARY[op].gradcheck); // a range where the op is defined
      const x = upload(h, be).transpose();
      const expected = transposeHost(h).data.map(UNARY_REF[op]);
      assertClose(x.unary(op).toTypedArray(), expected, op, 1e-5, 2e-6);
    }
  });

  test('log1p keeps the digits of small inputs that log(1 + x) loses', () => {
    const xs = [1e-10, -3e-8, 1e-5, -0.25, 0, 3, 1e20].map(Math.fround);
    const x = NDArray.fromData(Float32Array.from(xs), [xs.length], 'float32', be);
    assertClose(x.unary('log1p').toTypedArray(), xs.map(Math.log1p), 'log1p', 1e-5, 0);
    assert.equal(x.add(1).log().toTypedArray()[0], 0, 'the composite rounds 1 + 1e-10 to 1');
  });

  test('binary ops broadcast [2, 1, 3] with [4, 1], and int32 arithmetic', () => {
    const rng = new Rng(12);
    const a = hostRand(rng, [2, 1, 3], 0.5, 2);
    const b = hostRand(rng, [4, 1], 0.5, 2);
    b.data[1] = a.data[0]; // an equal pair for the comparisons
    const shape = [2, 4, 3];
    const A = bcast(a, shape);
    const B = bcast(b, shape);
    for (const op of [...ARITH_OPS, ...COMPARE_OPS]) {
      const got = upload(a, be).binary(op, upload(b, be));
      assert.deepEqual(got.shape, shape, `${op} shape`);
      assertClose(got.toTypedArray(), A.map((x, i) => BINARY_REF[op](x, B[i])), op);
    }
    const ia = NDArray.fromData(Int32Array.from([7, -7, 6, 0]), [4], undefined, be);
    const ib = NDArray.fromData(Int32Array.from([2, 2, -4, 3]), [4], undefined, be);
    assert.deepEqual(Array.from(ia.div(ib).toTypedArray()), [3, -3, -1, 0]);
    assert.deepEqual(Array.from(ia.mul(ib).add(1).toTypedArray()), [15, -13, -23, 1]);
    // a scalar operand
    assertClose(upload(a, be).mul(2.5).toTypedArray(), a.data.map((x) => x * 2.5), 'mul scalar');
  });

  test('views: permute, strided slice, expand and reshape of a non-contiguous view', () => {
    const rng = new Rng(13);
    const h = hostRand(rng, [4, 5, 6]);
    const x = upload(h, be);
    const p = x.permute([2, 0, 1]);
    assertClose(p.toTypedArray(), strided(h.data, [6, 4, 5], [1, 30, 6]), 'permute');
    const s = x.slice([{ start: 1, step: 2 }, { start: -4, stop: 5, step: 3 }, { start: 1, stop: 6, step: 2 }]);
    assert.deepEqual(s.shape, [2, 2, 3]);
    assertClose(s.toTypedArray(), strided(h.data, [2, 2, 3], [60, 18, 2], 30 + 6 + 1), 'slice');
    const r = p.reshape([6, 20]); // a copy: permuted axes are not mergeable
    assertClose(r.toTypedArray(), strided(h.data, [6, 4, 5], [1, 30, 6]), 'reshape of permuted');
    const col = upload({ data: h.data.slice(0, 4), shape: [4, 1] }, be);
    const e = col.expand([4, 3]).add(x.sliceAxis(1, 0, 1).reshape([4, 6]).sliceAxis(1, 0, 3));
    const expected = new Float64Array(12);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 3; j++) expected[i * 3 + j] = h.data[i] + h.data[i * 30 + j];
    assertClose(e.toTypedArray(), expected, 'expand + slice');
  });

  test('reductions over several axes of a permuted view, argmax/argmin, mean', () => {
    const rng = new Rng(14);
    const h = hostRand(rng, [3, 4, 5]);
    const x = upload(h, be).permute([1, 2, 0]); // [4, 5, 3]
    const v = strided(h.data, [4, 5, 3], [5, 1, 20]);
    for (const op of ['sum', 'max', 'min'] as const) {
      const expected = new Float64Array(5).fill(op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity);
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 5; j++) {
          for (let k = 0; k < 3; k++) {
            const val = v[(i * 5 + j) * 3 + k];
            expected[j] = op === 'sum' ? expected[j] + val : op === 'max' ? Math.max(expected[j], val) : Math.min(expected[j], val);
          }
        }
      }
      const got = x.reduce(op, [0, 2]);
      assert.deepEqual(got.shape, [5]);
      assertClose(got.toTypedArray(), expected, op, 1e-5, 1e-5);
    }
    const total = v.reduce((s, a) => s + a, 0);
    assertClose([x.mean().item()], [total / 60], 'mean', 1e-5, 1e-6);
    const t = NDArray.fromData([1, 5, 5, 0, 0, 2, -1, -1], [2, 4], 'float32', be);
    const am = t.argmax(1);
    assert.equal(am.dtype, 'int32');
    assert.deepEqual(Array.from(am.toTypedArray()), [1, 1]);
    assert.deepEqual(Array.from(t.argmin(1).toTypedArray()), [3, 2]);
    assert.deepEqual(Array.from(NDArray.zeros([2, 0], 'float32', be).sum(1).toTypedArray()), [0, 0]);
  });

  test('matmul: odd sizes, vectors, transposed operands, batch broadcast, k = 0', () => {
    const rng = new Rng(15);
    const check = (a: Host, b: Host, what: string, ta = false, tb = false): void => {
      let x = upload(a, be);
      let y = upload(b, be);
      let ha = a;
      let hb = b;
      if (ta) [x, ha] = [x.transpose(), transposeHost(a)];
      if (tb) [y, hb] = [y.transpose(), transposeHost(b)];
      const ref = matmulHost(ha, hb);
      const got = x.matmul(y);
      const k = ha.shape[ha.shape.length - 1];
      assert.deepEqual(got.shape, ref.shape, `${what} shape`);
      assertClose(got.toTypedArray(), ref.data, what, 1e-5, 2e-6 * Math.max(1, k) * maxAbs(a.data) * maxAbs(b.data));
    };
    check(hostRand(rng, [7, 13]), hostRand(rng, [13, 5]), '[7, 13] @ [13, 5]');
    check(hostRand(rng, [1, 1]), hostRand(rng, [1, 1]), '[1, 1] @ [1, 1]');
    check(hostRand(rng, [33, 67]), hostRand(rng, [67, 17]), '[33, 67] @ [67, 17]');
    check(hostRand(rng, [9, 6]), hostRand(rng, [11, 9]), '[9, 6]^T @ [11, 9]^T', true, true);
    check(hostRand(rng, [2, 1, 3, 5]), hostRand(rng, [4, 5, 2]), '[2, 1, 3, 5] @ [4, 5, 2] batch broadcast');
    // 1-D operands
    const v = hostRand(rng, [6]);
    const m = hostRand(rng, [6, 4]);
    const vm = upload(v, be).matmul(upload(m, be));
    assert.deepEqual(vm.shape, [4]);
    assertClose(vm.toTypedArray(), matmulHost({ data: v.data, shape: [1, 6] }, m).data, 'vector @ matrix', 1e-5, 1e-5);
    const mv = upload(transposeHost(m), be).matmul(upload(v, be));
    assert.deepEqual(mv.shape, [4]);
    assertClose(mv.toTypedArray(), matmulHost(transposeHost(m), { data: v.data, shape: [6, 1] }).data, 'matrix @ vector', 1e-5, 1e-5);
    const z = NDArray.zeros([2, 0], 'float32', be).matmul(NDArray.zeros([0, 3], 'float32', be));
    assert.deepEqual(Array.from(z.toTypedArray()), [0, 0, 0, 0, 0, 0]);
  });

  test('gather and scatterAdd, including repeated and out-of-range indices', () => {
    const rng = new Rng(16);
    const h = hostRand(rng, [3, 4, 2]);
    const x = upload(h, be);
    const idx = NDArray.fromData(Int32Array.from([3, 0, 3, 1, 2, 2]), [2, 3], undefined, be);
    const g = x.gather(idx, 1); // [3, 2, 3, 2]
    assert.deepEqual(g.shape, [3, 2, 3, 2]);
    const expected: number[] = [];
    for (let i = 0; i < 3; i++) for (const j of [3, 0, 3, 1, 2, 2]) for (let k = 0; k < 2; k++) expected.push(h.data[(i * 4 + j) * 2 + k]);
    assertClose(g.toTypedArray(), expected, 'gather');
    const src = hostRand(rng, [3, 2, 3, 2]);
    const sc = upload(src, be).scatterAdd(idx, 1, 5);
    assert.deepEqual(sc.shape, [3, 5, 2]);
    const ref = new Float64Array(30);
    const flatIdx = [3, 0, 3, 1, 2, 2];
    for (let i = 0; i < 3; i++) {
      for (let q = 0; q < 6; q++) for (let k = 0; k < 2; k++) ref[(i * 5 + flatIdx[q]) * 2 + k] += src.data[(i * 6 + q) * 2 + k];
    }
    assertClose(sc.toTypedArray(), ref, 'scatterAdd', 1e-5, 1e-6);
    const bad = NDArray.fromData(Int32Array.from([4]), [1], undefined, be);
    assert.throws(() => x.gather(bad, 1), (e: unknown) => e instanceof RangeError && /gather/.test(e.message) && /4/.test(e.message));
  });

  test('concat of views, stack, pad', () => {
    const rng = new Rng(17);
    const a = hostRand(rng, [2, 3]);
    const b = hostRand(rng, [4, 2]); // used transposed: [2, 4]
    const c = upload(a, be);
    const d = upload(b, be).transpose();
    const j = NDArray.concat([c, d, NDArray.zeros([2, 0], 'float32', be)], 1);
    assert.deepEqual(j.shape, [2, 7]);
    const bt = transposeHost(b).data;
    const expected: number[] = [];
    for (let i = 0; i < 2; i++) expected.push(...a.data.slice(i * 3, i * 3 + 3), ...bt.slice(i * 4, i * 4 + 4));
    assertClose(j.toTypedArray(), expected, 'concat');
    const s = NDArray.stack([c, c.mul(2)], 0);
    assert.deepEqual(s.shape, [2, 2, 3]);
    assertClose(s.toTypedArray(), [...a.data, ...a.data.map((x) => 2 * x)], 'stack');
    const p = c.pad([[1, 0], [2, 1]]);
    assert.deepEqual(p.shape, [3, 6]);
    const pe = new Float64Array(18);
    for (let i = 0; i < 2; i++) for (let k = 0; k < 3; k++) pe[(i + 1) * 6 + k + 2] = a.data[i * 3 + k];
    assertClose(p.toTypedArray(), pe, 'pad');
  });

  test('cast (float to int32 truncates toward zero) and where with broadcasting', () => {
    const f = NDArray.fromData([-2.7, -0.5, 0, 0.5, 2.7, 7], [6], 'float32', be);
    const i = f.cast('int32');
    assert.equal(i.dtype, 'int32');
    assert.deepEqual(Array.from(i.toTypedArray()), [-2, 0, 0, 0, 2, 7]);
    assert.deepEqual(Array.from(i.cast('float32').toTypedArray()), [-2, 0, 0, 0, 2, 7]);
    const rng = new Rng(18);
    const a = hostRand(rng, [3]);
    const b = hostRand(rng, [2, 1]);
    const cond = upload(a, be).gt(0).reshape([1, 3]);
    const w = NDArray.where(cond, upload(a, be), upload(b, be));
    assert.deepEqual(w.shape, [2, 3]);
    const expected: number[] = [];
    for (let r = 0; r < 2; r++) for (let k = 0; k < 3; k++) expected.push(a.data[k] > 0 ? a.data[k] : b.data[r]);
    assertClose(w.toTypedArray(), expected, 'where');
    assertClose(NDArray.where(cond.expand([2, 3]), 0.5, upload(b, be)).toTypedArray(), expected.map((x, q) => (a.data[q % 3] > 0 ? 0.5 : x)), 'where scalar');
  });

  test('fused softmaxRows and siluMul match host references (transposed and broadcast inputs)', () => {
    const rng = new Rng(19);
    const h = hostRand(rng, [6, 5], -30, 30); // large magnitudes: the max must be subtracted
    const x = upload(h, be).transpose(); // [5, 6] softmax over rows of the transpose
    const t = transposeHost(h);
    const expected = new Float64Array(30);
    for (let r = 0; r < 5; r++) {
      let m = -Infinity;
      for (let c = 0; c < 6; c++) m = Math.max(m, t.data[r * 6 + c]);
      let s = 0;
      for (let c = 0; c < 6; c++) s += Math.exp(t.data[r * 6 + c] - m);
      for (let c = 0; c < 6; c++) expected[r * 6 + c] = Math.exp(t.data[r * 6 + c] - m) / s;
    }
    assertClose(softmaxRows(x).toTypedArray(), expected, 'softmaxRows', 1e-5, 1e-7);
    const a = hostRand(rng, [3, 4], -40, 40);
    const b = hostRand(rng, [4]);
    const got = siluMul(upload(a, be), upload(b, be));
    const B = bcast(b, [3, 4]);
    assertClose(got.toTypedArray(), a.data.map((v, i) => (v / (1 + Math.exp(-v))) * B[i]), 'siluMul', 1e-5, 1e-6);
    assert.throws(() => softmaxRows(NDArray.fromData(Int32Array.from([1]), [1], undefined, be)), /softmaxRows: needs a float array/);
  });
}

// ---------------------------------------------------------------- random strided views (property tests)

/**
 * Each op run directly on the backend (`be.run`) on random strided views (permuted, broadcast,
 * stepped, offset; generated as plain data by test/support/arbitraries.ts, so failures shrink), against the op's scalar definition read through the
 * stride formula. The cpu backend gets many cases in float32 and float64 at float64-tight
 * tolerances; a gpu.js backend gets a few float32 cases (each new shape compiles kernels) at
 * float32 tolerances.
 */
function stridedSuite(be: Backend): void {
  const cpu = be === cpuBackend();
  const FC = { seed: 42, numRuns: cpu ? 80 : 8 };
  const dtypes: DType[] = cpu ? ['float32', 'float64'] : ['float32'];
  const tol = (dtype: DType): number => (!cpu ? 1e-5 : dtype === 'float32' ? 2e-6 : 2e-13);
  const shapes = shapeArb(4, 5);
  // Small integers make the comparisons hit equality.
  const smallInts = fc.array(fc.integer({ min: -2, max: 2 }), { minLength: 1, maxLength: 16 });

  test('unary ops on random strided views', () => {
    fc.assert(
      fc.property(shapes, layoutArb(), fc.constantFrom(...UNARY_OPS), fc.constantFrom(...dtypes), (shape, layout, op, dtype) => {
        const [lo, hi] = UNARY[op].gradcheck; // a range where the op is defined
        const l = viewOf(be, shape, layout, dtype, (u) => lo + (hi - lo) * u);
        const out = be.run(op, [l.view], {});
        assert.equal(out.dtype, dtype);
        close(readBuf(be, out, shape), logical(l).map(UNARY_REF[op]), tol(dtype), cpu ? 1e-300 : 2e-6, `${op} ${dtype}`);
      }),
      FC,
    );
  });

  test('binary ops on two independently strided (and broadcast) views', () => {
    fc.assert(
      fc.property(shapes, layoutArb(), layoutArb(), layoutArb(smallInts), layoutArb(smallInts), fc.constantFrom(...ARITH_OPS, ...COMPARE_OPS), fc.constantFrom(...dtypes), (shape, la, lb, ia, ib, op, dtype) => {
        // Comparisons get small integers; pow gets a positive base.
        const compare = COMPARE_OPS.includes(op);
        const a = compare ? viewOf(be, shape, ia, dtype) : viewOf(be, shape, la, dtype, (u) => (op === 'pow' ? 0.1 + 2 * u : 6 * u - 3));
        const b = compare ? viewOf(be, shape, ib, dtype) : viewOf(be, shape, lb, dtype, (u) => 6 * u - 3);
        const out = be.run(op, [a.view, b.view], {});
        assert.equal(out.dtype, dtype);
        const xb = logical(b);
        close(readBuf(be, out, shape), logical(a).map((v, i) => BINARY_REF[op](v, xb[i])), tol(dtype), cpu ? 1e-300 : 2e-6, `${op} ${dtype}`);
      }),
      FC,
    );
  });

  test('sum/max/min over random axis sets of strided views (keepdims)', () => {
    fc.assert(
      fc.property(
        shapes.filter((sh) => sh.length > 0), layoutArb(), fc.constantFrom<'sum' | 'max' | 'min'>('sum', 'max', 'min'),
        fc.constantFrom<DType>(...dtypes, 'int32'), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
        (shape, layout, op, dtype, pick) => {
          let axes = shape.map((_, i) => i).filter((i) => pick[i]);
          if (axes.length === 0) axes = [shape.length - 1];
          const reduced = axes.reduce((n, a) => n * shape[a], 1);
          if (op !== 'sum' && reduced === 0) return; // refused by the front end
          const l = viewOf(be, shape, layout, dtype, (u) => (dtype === 'int32' ? Math.round(200 * u) - 100 : 6 * u - 3));
          const out = be.run('reduce', [l.view], { op, axes });
          assert.equal(out.dtype, dtype);
          const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
          // cpu: one rounding of a float64 accumulation; gpu.js: float32 accumulation.
          const t = dtype === 'int32' ? 0 : (cpu ? tol(dtype) / 2 : 1e-6) * Math.max(1, reduced);
          close(readBuf(be, out, outShape), reduceRef(op, logical(l), shape, axes), t, t, `${op} ${dtype} axes ${axes}`);
        },
      ),
      FC,
    );
  });
}

// ---------------------------------------------------------------- gradients

/** The reference list, built on the cpu backend. */
const cases = withBackend(cpuBackend(), allCases);
const references = new Map<number, Vjp>();

function reference(i: number): Vjp {
  let r = references.get(i);
  if (r === undefined) {
    r = runVjp(cases[i], roundedInputs(cases[i]), 'float64', cpuBackend(), 1000 + i);
    references.set(i, r);
  }
  return r;
}

/** float32 agreement, scaled by each array's magnitude (errors accumulate through the chain). */
function assertAgree(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assertClose(got, want, what, 2e-4, 2e-5 * Math.max(1, maxAbs(want)));
}

function gradSuite(be: Backend): void {
  // The same cases built on `be`: their module parameters and constants are arrays of `be`.
  const local = be === cpuBackend() ? cases : withBackend(be, allCases);
  test('the case list built on this backend matches the cpu list', () => {
    assert.deepEqual(local.map((c) => `${c.op}: ${c.label}`), cases.map((c) => `${c.op}: ${c.label}`));
    local.forEach((c, i) => {
      assert.ok(c.inputs.every((x) => x.backend === be), `${c.op}: ${c.label}: inputs not on ${be.name}`);
      roundedInputs(c).forEach((x, k) => assert.deepEqual(x, roundedInputs(cases[i])[k], `${c.op}: ${c.label}: input ${k}`));
    });
  });
  local.forEach((c, i) => {
    test(`grad ${c.op}: ${c.label}`, (t) => {
      const inputs = roundedInputs(c);
      let r: Vjp;
      try {
        r = runVjp(c, inputs, 'float32', be, 1000 + i);
      } catch (err) {
        if (!/dtypes differ/.test((err as Error).message)) throw err;
        // The case mixes in float64 constants or parameters: run it in float64, which the gpu.js
        // backends store as float32 on the device (so this is still their float32 arithmetic).
        t.diagnostic(`float64 constants in the case: run with float64 inputs on ${be.name}`);
        r = runVjp(c, inputs, 'float64', be, 1000 + i);
      }
      const ref = reference(i);
      assertAgree(r.out, ref.out, 'forward');
      ref.grads.forEach((g, k) => {
        const mine = r.grads[k];
        if (g === null) {
          if (mine !== null) assertAgree(mine, new Float64Array(mine.length), `grad of input ${k} (reference: none)`);
          return;
        }
        assert.ok(mine !== null, `grad of input ${k}: none on ${be.name}, expected ${g.length} values`);
        assertAgree(mine, g, `grad of input ${k}`);
      });
    });
  });
}

// ---------------------------------------------------------------- memory

/** A 2-layer MLP's loss and parameter gradients: tanh(x W1 + b1) W2 + b2, mean squared error. */
function mlpStep(params: Tensor[], x: Tensor, target: Tensor): { loss: number; grads: NDArray[] } {
  const [w1, b1, w2, b2] = params;
  const h = x.matmul(w1).add(b1).tanh();
  const y = h.matmul(w2).add(b2);
  const loss = y.sub(target).pow(2).mean();
  loss.backward();
  return { loss: loss.item(), grads: params.map((p) => (p.grad as Tensor).data) };
}

const MLP_SHAPES: Shape[] = [[6, 16], [16], [16, 3], [3]];

function mlpRun(be: Backend, dtype: 'float32' | 'float64'): { loss: number; grads: Float64Array[]; live: number[] } {
  const rng = new Rng(99);
  const hosts = MLP_SHAPES.map((s) => hostRand(rng, s, -0.8, 0.8));
  const xh = hostRand(rng, [8, 6]);
  const th = hostRand(rng, [8, 3]);
  const start = be.liveBuffers();
  const params = hosts.map((h) => new Tensor(upload(h, be, dtype), true));
  const x = new Tensor(upload(xh, be, dtype));
  const target = new Tensor(upload(th, be, dtype));
  const afterInputs = be.liveBuffers();
  const step = memoryScope(() => withBackend(be, () => mlpStep(params, x, target)));
  const afterScope = be.liveBuffers();
  const grads = step.grads.map((g) => Float64Array.from(g.toTypedArray()));
  for (const g of step.grads) g.dispose();
  for (const t of [...params, x, target]) t.data.dispose();
  return { loss: step.loss, grads, live: [start, afterInputs, afterScope, be.liveBuffers()] };
}

function memorySuite(be: Backend): void {
  test('a 2-layer MLP forward + backward in memoryScope leaves liveBuffers() at its start', () => {
    const deviceStart = 'deviceStats' in be ? (be as { deviceStats(): { deviceBuffers: number } }).deviceStats().deviceBuffers : null;
    const r = mlpRun(be, 'float32');
    const [start, afterInputs, afterScope, end] = r.live;
    assert.equal(afterInputs, start + 6, 'params, x and target');
    assert.equal(afterScope, afterInputs + 4, 'only the four returned gradients survive the scope');
    assert.equal(end, start, 'liveBuffers back to its start');
    if (deviceStart !== null) {
      assert.equal((be as unknown as { deviceStats(): { deviceBuffers: number } }).deviceStats().deviceBuffers, deviceStart, 'worker-side buffers');
    }
    const ref = mlpRun(cpuBackend(), 'float64');
    assertAgree([r.loss], [ref.loss], 'loss');
    r.grads.forEach((g, k) => assertAgree(g, ref.grads[k], `grad ${k}`));
  });
}

// ---------------------------------------------------------------- the suite

const backends = await openTestBackends();

describe('memoryScope (cpu backend)', () => {
  const be = cpuBackend();
  test('disposes temporaries, keeps returned and kept arrays, hands survivors to the enclosing scope', () => {
    const start = be.liveBuffers();
    const base = NDArray.fromData([1, 2, 3, 4], [2, 2], 'float32', be);
    let kept: NDArray | null = null;
    let inner: NDArray | null = null;
    const out = memoryScope(() => {
      const view = base.transpose(); // a view of an outside array: disposing it must not free base
      const tmp = view.mul(2).exp();
      kept = keep(tmp.add(1));
      inner = memoryScope(() => tmp.sum().add(base.sum()));
      assert.equal(scopeDepth(), 1);
      return { result: inner.mul(3), note: 'x' };
    });
    assert.equal(scopeDepth(), 0);
    assert.equal(base.isDisposed, false);
    assert.deepEqual(Array.from(base.toTypedArray()), [1, 2, 3, 4]);
    assert.equal((inner as unknown as NDArray).isDisposed, true, 'inner survivor is disposed by the outer scope');
    assert.equal((kept as unknown as NDArray).isDisposed, false);
    const e = [1, 3, 2, 4].reduce((s, v) => s + Math.exp(2 * v), 0);
    assertClose([out.result.item()], [3 * (e + 10)], 'value', 1e-6, 0);
    assert.equal(be.liveBuffers(), start + 3, 'base, kept, result');
    for (const a of [base, kept as unknown as NDArray, out.result]) a.dispose();
    assert.equal(be.liveBuffers(), start);
  });

  test('an error disposes everything created and propagates; a Promise is refused', () => {
    const start = be.liveBuffers();
    assert.throws(
      () =>
        memoryScope(() => {
          NDArray.ones([3], 'float32', be).add(1);
          throw new Error('boom');
        }),
      /boom/,
    );
    assert.equal(be.liveBuffers(), start);
    assert.throws(() => memoryScope(() => Promise.resolve(NDArray.ones([1], 'float32', be))), /memoryScope: fn returned a Promise/);
    assert.equal(be.liveBuffers(), start);
    assert.equal(scopeDepth(), 0);
  });
});

for (const entry of backends) {
  if (entry.skip !== null) {
    test(entry.name, { skip: entry.skip }, () => {});
    continue;
  }
  const be = entry.backend;
  describe(`${entry.name}: ops`, () => opSuite(be));
  describe(`${entry.name}: ops on random strided views`, () => stridedSuite(be));
  describe(`${entry.name}: gradients vs cpu float64`, () => gradSuite(be));
  if (entry.name !== 'cpu') describe(`${entry.name}: memory`, () => memorySuite(be));
}
