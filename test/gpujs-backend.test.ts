/**
 * The gpu.js backends' own pitfalls, on each gpu.js backend that the shared opener
 * (test/support/backends.ts) can create here; CALM_REQUIRE_BACKENDS turns a missing one into a
 * failure. The ops themselves are tested on every backend by the parameterised suite in
 * backends.test.ts; this file covers what only the gpu.js path can get wrong: float32 storage of
 * every dtype, loops past loopMaxIterations, pow of negative bases on Dawn-GLES, the rounded
 * quotient of a negative step, tensors past 2^24 elements, kernels compiled from tsc output, buffer
 * leaks, and the worker channel under 100,000 requests.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BackendBuffer, View } from '../src/tensor/backend.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';
import { contiguousStrides, sizeOf, type Shape } from '../src/tensor/shape.js';
import type { GpujsBackend } from '../src/tensor/gpujs/backend.js';
import { OPS } from '../src/tensor/ops/index.js';
import { copyKernel } from '../src/tensor/ops/layout.js';
import { openTestBackends } from './support/backends.js';
import { close } from './support/reference.js';

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

const backends = (await openTestBackends()).filter((b) => b.name.startsWith('gpujs-'));

for (const entry of backends) {
  if (entry.skip !== null) {
    test(entry.name, { skip: entry.skip }, () => {});
    continue;
  }
  const be = entry.backend as GpujsBackend;
  const mode = entry.name.slice('gpujs-'.length);

  describe(entry.name, () => {
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

    test('pow of negative bases follows Math.pow (pitfall: NaN on Dawn-GLES)', () => {
      const bases = [-2, -2, -3, -0.5, -2, 0, 0, 2, -8];
      const exps = [3, 2, 0, -1, 0.5, 0, 2, 0.5, 1 / 3];
      const got = be.read(
        view(be.run('pow', [view(be.upload(new Float32Array(bases)), [9]), view(be.upload(new Float32Array(exps)), [9])], {}), [9]),
      );
      const expected = bases.map((x, k) => Math.pow(Math.fround(x), Math.fround(exps[k])));
      assertClose(got, expected, 'pow');
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

    // The worker channel race (issue 13 item 6): a late notify from one reply used to wake the
    // wait for the next, which then found no reply ("worker gave no answer"). One backend is
    // enough (the channel is the same in every mode); gpujs-cpu runs its kernels fastest.
    if (mode === 'cpu') test('100,000 small add + dispose pairs all get their own reply', () => {
      const start = be.liveBuffers();
      const a = NDArray.fromData([1, 2, 3], [3], 'float32', be);
      const b = NDArray.fromData([10, 20, 30], [3], 'float32', be);
      for (let i = 0; i < 100_000; i++) a.add(b).dispose(); // two requests each: run, dispose
      const c = a.add(b);
      assert.deepEqual(Array.from(c.toTypedArray()), [11, 22, 33]);
      for (const x of [a, b, c]) x.dispose();
      assert.equal(be.liveBuffers(), start);
    });
  });
}
