/**
 * The CPU reference backend's own edge cases, against naive float64 references written here with
 * explicit index arithmetic: memory, int32 wrap-around, saturating casts, float64 accumulation,
 * NaN, the packed matmul's blocks and edge tiles, the embedding fast path. Every op on random
 * strided views, on every backend, is in backends.test.ts; views are built by hand (permuted,
 * broadcast with stride 0, stepped, offset) by test/support/strided.ts from layouts and values that
 * fast-check generates (test/support/arbitraries.ts), so a failing case shrinks to a small one.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CpuBackend } from '../src/tensor/cpu/backend.js';
import type { BackendBuffer, View } from '../src/tensor/backend.js';
import { copyTyped, type DType, type TypedArray } from '../src/tensor/dtype.js';
import { contiguousStrides, sizeOf, type Shape } from '../src/tensor/shape.js';
import { layoutArb, shapeArb as shapesOf, type LayoutChoice } from './support/arbitraries.js';
import { unravel, ravel, close } from './support/reference.js';
import { logical, readBuf as readBufOn, viewOf, type Layout } from './support/strided.js';

const FC = { seed: 42, numRuns: 80 };
const be = new CpuBackend();

// ---------------------------------------------------------------- independent helpers

const shapeArb = shapesOf(4, 5);
/** Layouts whose matrix operands keep every stride non-zero. */
const denseLayoutArb = layoutArb(undefined, { broadcast: false });

/** The view of `shape` that `layout` describes, its values (in [0, 1]) mapped by `map`. */
const makeView = (shape: Shape, dtype: DType, layout: LayoutChoice, map: (u: number) => number): Layout => viewOf(be, shape, layout, dtype, map);
/** Integers in [lo, hi] from values in [0, 1]. */
const ints = (lo: number, hi: number) => (u: number): number => lo + Math.round((hi - lo) * u);
/** Reals in [-3, 3] (both signs, fractional): the float inputs. */
const reals = (u: number): number => 6 * u - 3;
const readBuf = (buffer: BackendBuffer, shape: Shape): TypedArray => readBufOn(be, buffer, shape);
const numel = sizeOf;

const FLOAT_TOL: Record<DType, number> = { float32: 1e-6, float64: 1e-13, int32: 0 };

// ---------------------------------------------------------------- memory and copies

describe('cpu backend: memory', () => {
  test('read and copy of random strided views match the stride formula', () => {
    fc.assert(
      fc.property(shapeArb, layoutArb(), fc.constantFrom<DType>('float32', 'float64', 'int32'), (shape, layout, dtype) => {
        const l = makeView(shape, dtype, layout, ints(-500, 500));
        const expected = logical(l);
        const got = be.read(l.view);
        assert.equal(got.constructor, l.host.constructor);
        assert.deepEqual(Array.from(got), expected);
        const c = be.run('copy', [l.view], {});
        assert.equal(c.dtype, dtype);
        assert.deepEqual(Array.from(readBuf(c, shape)), expected);
        be.dispose(c);
        be.dispose(l.view.buffer);
      }),
      FC,
    );
  });

  test('upload copies, read returns a fresh array, allocate zeros, fill', () => {
    const host = new Float32Array([1, 2, 3]);
    const b = be.upload(host);
    host[0] = 99;
    const v: View = { buffer: b, shape: [3], strides: [1], offset: 0 };
    const r1 = be.read(v);
    r1[1] = 42;
    assert.deepEqual(Array.from(be.read(v)), [1, 2, 3]);
    assert.deepEqual(Array.from(readBuf(be.allocate(4, 'int32'), [4])), [0, 0, 0, 0]);
    const f = be.run('fill', [], { size: 3, value: 2.5, dtype: 'float64' });
    assert.deepEqual(Array.from(readBuf(f, [3])), [2.5, 2.5, 2.5]);
    assert.deepEqual(Array.from(readBuf(be.run('fill', [], { size: 2, value: -3.7, dtype: 'int32' }), [2])), [-3, -3]);
    assert.equal(be.run('fill', [], { size: 2, value: 1, dtype: 'float32' }).dtype, 'float32');
  });

  test('copyTyped: a fresh array of the same type holding the window, from ordinary and shared memory', () => {
    const makers: Record<DType, (buffer: ArrayBufferLike, n: number) => TypedArray> = {
      float32: (buffer, n) => new Float32Array(buffer, 0, n),
      float64: (buffer, n) => new Float64Array(buffer, 0, n),
      int32: (buffer, n) => new Int32Array(buffer, 0, n),
    };
    fc.assert(
      fc.property(fc.constantFrom<DType>('float32', 'float64', 'int32'), fc.boolean(), fc.integer({ min: 0, max: 40 }), fc.nat(), fc.nat(), (dtype, shared, n, s, e) => {
        const bytes = 8 * Math.max(1, n);
        const src = makers[dtype](shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes), n);
        for (let i = 0; i < n; i++) src[i] = dtype === 'int32' ? i * 7 - 50 : (i - 10) / 3;
        const start = s % (n + 1);
        const end = start + (e % (n - start + 1));
        const copy = copyTyped(src, start, end);
        assert.equal(copy.constructor, src.constructor);
        assert.ok(!(copy.buffer instanceof SharedArrayBuffer), 'the copy lives in ordinary memory');
        assert.deepEqual(Array.from(copy), Array.from(src).slice(start, end));
        if (end > start) {
          src[start] = 123;
          assert.notEqual(copy[0], 123, 'the copy does not share the source');
        }
        assert.deepEqual(Array.from(copyTyped(src)), Array.from(src));
      }),
      FC,
    );
  });

  test('liveBuffers counts, dispose twice is a no-op, a disposed buffer is refused naming the op', () => {
    const local = new CpuBackend();
    const a = local.allocate(3, 'float32');
    const b = local.upload(new Float64Array([1]));
    assert.equal(local.liveBuffers(), 2);
    local.dispose(a);
    local.dispose(a);
    assert.equal(local.liveBuffers(), 1);
    const v: View = { buffer: a, shape: [3], strides: [1], offset: 0 };
    assert.throws(() => local.run('exp', [v], {}), /exp.*disposed/);
    assert.throws(() => local.read(v), /read.*disposed/);
    local.dispose(b);
    assert.equal(local.liveBuffers(), 0);
  });
});

// ---------------------------------------------------------------- elementwise

describe('cpu backend: elementwise', () => {
  test('sigmoid is stable far out, int32 neg/abs/sign', () => {
    const x = be.upload(new Float64Array([-800, -30, 0, 30, 800]));
    const got = readBuf(be.run('sigmoid', [{ buffer: x, shape: [5], strides: [1], offset: 0 }], {}), [5]);
    assert.equal(got[0], 0);
    close(got, [0, Math.exp(-30) / (1 + Math.exp(-30)), 0.5, 1 / (1 + Math.exp(-30)), 1], 1e-15, 0, 'sigmoid');
    const i = be.upload(new Int32Array([-5, 0, 7, -2147483648]));
    const iv: View = { buffer: i, shape: [4], strides: [1], offset: 0 };
    assert.deepEqual(Array.from(readBuf(be.run('neg', [iv], {}), [4])), [5, 0, -7, -2147483648]);
    assert.deepEqual(Array.from(readBuf(be.run('abs', [iv], {}), [4])), [5, 0, 7, -2147483648]);
    assert.deepEqual(Array.from(readBuf(be.run('sign', [iv], {}), [4])), [-1, 0, 1, -1]);
    assert.equal(be.run('sign', [iv], {}).dtype, 'int32');
  });

  test('int32 arithmetic wraps like int32 and divides toward zero', () => {
    const a = be.upload(new Int32Array([2147483647, -2147483648, 65536, -7, 7, 9]));
    const b = be.upload(new Int32Array([1, -1, 65536, 2, -2, 3]));
    const va: View = { buffer: a, shape: [6], strides: [1], offset: 0 };
    const vb: View = { buffer: b, shape: [6], strides: [1], offset: 0 };
    assert.deepEqual(Array.from(readBuf(be.run('add', [va, vb], {}), [6])), [-2147483648, 2147483647, 131072, -5, 5, 12]);
    assert.deepEqual(Array.from(readBuf(be.run('sub', [va, vb], {}), [6])), [2147483646, -2147483647, 0, -9, 9, 6]);
    assert.deepEqual(Array.from(readBuf(be.run('mul', [va, vb], {}), [6])), [2147483647, -2147483648, 0, -14, -14, 27]);
    assert.deepEqual(Array.from(readBuf(be.run('div', [va, vb], {}), [6])), [2147483647, -2147483648, 1, -3, -3, 3]);
    // Products beyond 2^53 must wrap exactly (Math.imul), not be rounded as doubles first.
    const big = be.upload(new Int32Array([2147483647, 123456789]));
    const vbig: View = { buffer: big, shape: [2], strides: [1], offset: 0 };
    assert.deepEqual(Array.from(readBuf(be.run('mul', [vbig, vbig], {}), [2])), [1, -1757895751]);
    const lt = be.run('lt', [va, vb], {});
    assert.equal(lt.dtype, 'int32');
    assert.deepEqual(Array.from(readBuf(lt, [6])), [0, 1, 0, 1, 0, 0]);
  });

  test('maximum/minimum propagate NaN', () => {
    const a = be.upload(new Float32Array([NaN, 1, 2]));
    const b = be.upload(new Float32Array([0, NaN, 3]));
    const va: View = { buffer: a, shape: [3], strides: [1], offset: 0 };
    const vb: View = { buffer: b, shape: [3], strides: [1], offset: 0 };
    const mx = readBuf(be.run('maximum', [va, vb], {}), [3]);
    const mn = readBuf(be.run('minimum', [va, vb], {}), [3]);
    assert.ok(Number.isNaN(mx[0]) && Number.isNaN(mx[1]) && mx[2] === 3);
    assert.ok(Number.isNaN(mn[0]) && Number.isNaN(mn[1]) && mn[2] === 2);
  });

  test('where picks a where cond is nonzero; cast truncates toward zero and saturates', () => {
    fc.assert(
      fc.property(shapeArb, layoutArb(), layoutArb(), layoutArb(), (shape, lc, la, lb) => {
        const c = makeView(shape, 'float32', lc, ints(-1, 1));
        const a = makeView(shape, 'float64', la, reals);
        const b = makeView(shape, 'float64', lb, reals);
        const xc = logical(c);
        const xa = logical(a);
        const xb = logical(b);
        const out = be.run('where', [c.view, a.view, b.view], {});
        assert.equal(out.dtype, 'float64');
        assert.deepEqual(Array.from(readBuf(out, shape)), xc.map((v, i) => (v !== 0 ? xa[i] : xb[i])));
        const ci = be.run('cast', [a.view], { dtype: 'int32' });
        assert.equal(ci.dtype, 'int32');
        assert.deepEqual(Array.from(readBuf(ci, shape)), xa.map((v) => (v < 0 ? Math.ceil(v) : Math.floor(v)) + 0));
        assert.deepEqual(Array.from(readBuf(be.run('cast', [a.view], { dtype: 'float32' }), shape)), xa.map((v) => Math.fround(v)));
      }),
      { ...FC, numRuns: 40 },
    );
    const x = be.upload(new Float64Array([-2.7, 2.7, 1e10, -1e10, NaN]));
    assert.deepEqual(Array.from(readBuf(be.run('cast', [{ buffer: x, shape: [5], strides: [1], offset: 0 }], { dtype: 'int32' }), [5])), [-2, 2, 2147483647, -2147483648, 0]);
  });
});

// ---------------------------------------------------------------- reductions

describe('cpu backend: reductions', () => {
  test('float32 sum accumulates in float64 and rounds once', () => {
    const n = 100_000;
    const x = be.upload(new Float32Array(n).fill(0.1));
    const got = readBuf(be.run('reduce', [{ buffer: x, shape: [n], strides: [1], offset: 0 }], { op: 'sum', axes: [0] }), [1]);
    assert.equal(got[0], Math.fround(n * Math.fround(0.1)));
  });

  test('argmax/argmin over one axis: int32, first index on ties', () => {
    fc.assert(
      fc.property(
        shapeArb.filter((s) => s.length > 0 && s.every((d) => d > 0)), layoutArb(), fc.nat(3), fc.constantFrom<'argmax' | 'argmin'>('argmax', 'argmin'),
        (shape, layout, axisPick, op) => {
          const axis = axisPick % shape.length;
          // Five values, so ties are common: the first index must win them.
          const l = makeView(shape, 'float32', layout, ints(-2, 2));
          const out = be.run('reduce', [l.view], { op: op, axes: [axis] });
          assert.equal(out.dtype, 'int32');
          const values = logical(l);
          const outShape = shape.map((d, i) => (i === axis ? 1 : d));
          const expected = new Array<number>(numel(outShape)).fill(0);
          for (let o = 0; o < expected.length; o++) {
            const idx = unravel(o, outShape);
            let best = 0;
            for (let j = 1; j < shape[axis]; j++) {
              idx[axis] = j;
              const v = values[ravel(idx, shape)];
              idx[axis] = best;
              const b = values[ravel(idx, shape)];
              if (op === 'argmax' ? v > b : v < b) best = j;
            }
            expected[o] = best;
          }
          assert.deepEqual(Array.from(readBuf(out, outShape)), expected);
        },
      ),
      FC,
    );
  });

  test('sum of an empty axis is 0; max of one is refused', () => {
    const x = be.allocate(0, 'float32');
    const v: View = { buffer: x, shape: [3, 0], strides: [0, 1], offset: 0 };
    assert.deepEqual(Array.from(readBuf(be.run('reduce', [v], { op: 'sum', axes: [1] }), [3, 1])), [0, 0, 0]);
    assert.throws(() => be.run('reduce', [v], { op: 'max', axes: [1] }), /max.*empty/);
  });
});

// ---------------------------------------------------------------- matmul

function matmulRef(a: number[], b: number[], batch: number, m: number, k: number, n: number): number[] {
  const out = new Array<number>(batch * m * n).fill(0);
  for (let t = 0; t < batch; t++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[(t * m + i) * k + p] * b[(t * k + p) * n + j];
        out[(t * m + i) * n + j] = s;
      }
  return out;
}

describe('cpu backend: matmul', () => {
  const sizes = [0, 1, 3, 17, 65];
  test('sizes 0, 1, 3, 17, 65 in every combination, strided operands, float32 and float64', () => {
    // Every combination on each run; fast-check picks the two layouts (and shrinks them on a failure).
    fc.assert(
      fc.property(denseLayoutArb, denseLayoutArb, (la, lb) => {
        for (const m of sizes)
          for (const k of sizes)
            for (const n of sizes) {
              if (m * k * n > 65 * 65 * 17) continue; // keep the run short: skip the largest cubes
              for (const dtype of ['float32', 'float64'] as DType[]) {
                const a = makeView([m, k], dtype, la, reals);
                const b = makeView([k, n], dtype, lb, reals);
                const out = be.run('matmul', [a.view, b.view], {});
                assert.equal(out.dtype, dtype);
                close(readBuf(out, [m, n]), matmulRef(logical(a), logical(b), 1, m, k, n), FLOAT_TOL[dtype] * 4, FLOAT_TOL[dtype] * Math.sqrt(k + 1) * 4, `matmul ${m}x${k}x${n} ${dtype}`);
              }
            }
      }),
      { ...FC, numRuns: 3 },
    );
  });

  test('large k (several k blocks) and a 65x65x65 float32 product', () => {
    fc.assert(
      fc.property(denseLayoutArb, denseLayoutArb, (la, lb) => {
        for (const [m, k, n] of [[65, 65, 65], [5, 600, 7], [130, 300, 1030]]) {
          const a = makeView([m, k], 'float32', la, reals);
          const b = makeView([k, n], 'float32', lb, reals);
          const out = be.run('matmul', [a.view, b.view], {});
          close(readBuf(out, [m, n]), matmulRef(logical(a), logical(b), 1, m, k, n), 1e-6, 1e-6 * Math.sqrt(k), `matmul ${m}x${k}x${n}`);
        }
      }),
      { ...FC, numRuns: 2 },
    );
  });

  test('batched with stride-0 batch dims and random layouts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 0, maxLength: 2 }), fc.integer({ min: 0, max: 9 }),
        fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 }), layoutArb(), layoutArb(),
        (batch, m, k, n, la, lb) => {
          // Any axis may be broadcast (stride 0), batch or matrix.
          const a = makeView([...batch, m, k], 'float64', la, reals);
          const b = makeView([...batch, k, n], 'float64', lb, reals);
          const out = be.run('matmul', [a.view, b.view], {});
          const nb = numel(batch);
          close(readBuf(out, [...batch, m, n]), matmulRef(logical(a), logical(b), nb, m, k, n), 1e-13, 1e-13, 'batched matmul');
        },
      ),
      { ...FC, numRuns: 60 },
    );
  });

  test('int32 matmul wraps like int32', () => {
    const a = be.upload(new Int32Array([65536, 2, 3, 4]));
    const b = be.upload(new Int32Array([65536, 1, 1, 1]));
    const out = be.run('matmul', [{ buffer: a, shape: [2, 2], strides: [2, 1], offset: 0 }, { buffer: b, shape: [2, 2], strides: [2, 1], offset: 0 }], {});
    assert.equal(out.dtype, 'int32');
    assert.deepEqual(Array.from(readBuf(out, [2, 2])), [(65536 * 65536 + 2) | 0, 65536 + 2, 3 * 65536 + 4, 7]);
  });
});

// ---------------------------------------------------------------- indexing, concat, unslice

describe('cpu backend: gather, scatterAdd, concat, unslice', () => {
  const gatherCase = fc.record({
    shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
    idxShape: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 0, maxLength: 2 }),
    axisPick: fc.nat(2),
    x: layoutArb(),
    /** Indices before reduction modulo the axis size, cycled over the index tensor (repeats are common). */
    picks: fc.array(fc.nat(9), { minLength: 1, maxLength: 9 }),
    src: layoutArb(),
    dtype: fc.constantFrom<DType>('float32', 'float64', 'int32'),
  });

  test('gather matches out[.., i.., ..] = x[.., idx[i..], ..] (repeated indices, strided x)', () => {
    fc.assert(
      fc.property(gatherCase, ({ shape, idxShape, axisPick, x: lx, picks, src: ls, dtype }) => {
        const axis = axisPick % shape.length;
        const x = makeView(shape, dtype, lx, ints(0, 99));
        const idxHost = Int32Array.from({ length: numel(idxShape) }, (_, i) => picks[i % picks.length] % shape[axis]);
        const idx: View = { buffer: be.upload(idxHost), shape: idxShape, strides: contiguousStrides(idxShape), offset: 0 };
        const outShape = [...shape.slice(0, axis), ...idxShape, ...shape.slice(axis + 1)];
        const out = be.run('gather', [x.view, idx], { axis: axis });
        assert.equal(out.dtype, dtype);
        const xs = logical(x);
        const expected = Array.from({ length: numel(outShape) }, (_, o) => {
          const oi = unravel(o, outShape);
          const ii = oi.slice(axis, axis + idxShape.length);
          const xi = [...oi.slice(0, axis), idxHost[ravel(ii, idxShape)], ...oi.slice(axis + idxShape.length)];
          return xs[ravel(xi, shape)];
        });
        assert.deepEqual(Array.from(readBuf(out, outShape)), expected);

        // scatterAdd is the transpose: scatter a random src of the gather's output shape back.
        const src = makeView(outShape, dtype, ls, ints(-50, 50));
        const sv = logical(src);
        const sc = be.run('scatterAdd', [src.view, idx], { axis: axis, axisSize: shape[axis] });
        assert.equal(sc.dtype, dtype);
        const acc = new Array<number>(numel(shape)).fill(0);
        for (let o = 0; o < sv.length; o++) {
          const oi = unravel(o, outShape);
          const ii = oi.slice(axis, axis + idxShape.length);
          const xi = [...oi.slice(0, axis), idxHost[ravel(ii, idxShape)], ...oi.slice(axis + idxShape.length)];
          acc[ravel(xi, shape)] += sv[o];
        }
        assert.deepEqual(Array.from(readBuf(sc, shape)), acc);
      }),
      FC,
    );
  });

  test('embedding lookup fast path and repeated indices', () => {
    const table = be.upload(Float32Array.from({ length: 12 }, (_, i) => i));
    const idx = be.upload(new Int32Array([2, 0, 2]));
    const out = be.run('gather', [{ buffer: table, shape: [4, 3], strides: [3, 1], offset: 0 }, { buffer: idx, shape: [3], strides: [1], offset: 0 }], { axis: 0 });
    assert.deepEqual(Array.from(readBuf(out, [3, 3])), [6, 7, 8, 0, 1, 2, 6, 7, 8]);
    const ones = be.run('fill', [], { size: 9, value: 1, dtype: 'float32' });
    const sc = be.run('scatterAdd', [{ buffer: ones, shape: [3, 3], strides: [3, 1], offset: 0 }, { buffer: idx, shape: [3], strides: [1], offset: 0 }], { axis: 0, axisSize: 4 });
    assert.deepEqual(Array.from(readBuf(sc, [4, 3])), [1, 1, 1, 0, 0, 0, 2, 2, 2, 0, 0, 0]);
  });

  test('out-of-range indices throw a RangeError naming the op, index and axis size', () => {
    const x = be.run('fill', [], { size: 6, value: 1, dtype: 'float32' });
    const xv: View = { buffer: x, shape: [2, 3], strides: [3, 1], offset: 0 };
    for (const bad of [3, -1]) {
      const idx: View = { buffer: be.upload(new Int32Array([0, bad])), shape: [2], strides: [1], offset: 0 };
      assert.throws(() => be.run('gather', [xv, idx], { axis: 1 }), (e: unknown) => e instanceof RangeError && /gather/.test(e.message) && e.message.includes(`index ${bad}`) && /size 3/.test(e.message));
      assert.throws(() => be.run('scatterAdd', [xv, { ...idx, shape: [2], strides: [1] }], { axis: 0, axisSize: 1 }), (e: unknown) => e instanceof RangeError && /scatterAdd/.test(e.message) && /size 1/.test(e.message));
    }
  });

  test('concat of strided views along each axis', () => {
    fc.assert(
      fc.property(shapeArb.filter((s) => s.length > 0), fc.array(fc.record({ len: fc.integer({ min: 0, max: 3 }), layout: layoutArb() }), { minLength: 1, maxLength: 3 }), fc.nat(3), (shape, inputs, axisPick) => {
        const axis = axisPick % shape.length;
        const lens = inputs.map((p) => p.len);
        const parts = inputs.map(({ len, layout }) => makeView(shape.map((d, a) => (a === axis ? len : d)), 'float64', layout, reals));
        const total = lens.reduce((s, v) => s + v, 0);
        const outShape = shape.map((d, a) => (a === axis ? total : d));
        const out = be.run('concat', parts.map((p) => p.view), { axis: axis });
        const values = parts.map(logical);
        const expected = Array.from({ length: numel(outShape) }, (_, o) => {
          const idx = unravel(o, outShape);
          let part = 0;
          while (idx[axis] >= lens[part]) idx[axis] -= lens[part++];
          return values[part][ravel(idx, parts[part].view.shape)];
        });
        assert.deepEqual(Array.from(readBuf(out, outShape)), expected);
      }),
      FC,
    );
  });

  test('unslice writes x at starts + j * steps into zeros', () => {
    fc.assert(
      fc.property(shapeArb, fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 4, maxLength: 4 }), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 4, maxLength: 4 }), fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 4, maxLength: 4 }), layoutArb(), (shape, startsAll, stepsAll, extra, layout) => {
        const starts = shape.map((_, i) => startsAll[i]);
        const steps = shape.map((_, i) => stepsAll[i]);
        const outShape = shape.map((d, i) => starts[i] + Math.max(0, d - 1) * steps[i] + 1 + extra[i]);
        const x = makeView(shape, 'float32', layout, reals);
        const out = be.run('unslice', [x.view], { outShape: outShape, starts: starts, steps: steps });
        const expected = new Array<number>(numel(outShape)).fill(0);
        const xs = logical(x);
        for (let i = 0; i < xs.length; i++) {
          const idx = unravel(i, shape).map((v, a) => starts[a] + v * steps[a]);
          expected[ravel(idx, outShape)] = xs[i];
        }
        assert.deepEqual(Array.from(readBuf(out, outShape)), expected);
      }),
      FC,
    );
  });
});
