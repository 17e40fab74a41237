/**
 * Property tests of the NDArray front end on the CPU backend: view algebra, broadcasting, keepdims
 * and shapes, the algebra of gather/scatterAdd and concat/split, and error messages. The ops
 * themselves are tested on every backend by the parameterised suite in backends.test.ts. Shapes,
 * permutations, indices and values are generated as plain data (support/arbitraries.ts), so a failing
 * case shrinks to a minimal one.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { NDArray } from '../src/tensor/ndarray.js';
import { contiguousStrides, sizeOf, type Shape } from '../src/tensor/shape.js';
import { cycled, permutation, permutationKeysArb, shapeArb, unitValuesArb } from './support/arbitraries.js';
import { unravel, ravel, close } from './support/reference.js';

const FC = { seed: 7, numRuns: 60 };

// ---------- helpers written independently of the code under test


/** Multi-index of flat position i in a row-major shape. */
describe('elementwise ops: broadcasting', () => {
  test('binary ops broadcast exactly like an explicit index computation', () => {
    const ops: [string, (a: number, b: number) => number][] = [
      ['add', (a, b) => a + b],
      ['sub', (a, b) => a - b],
      ['mul', (a, b) => a * b],
      ['div', (a, b) => a / b],
      ['pow', (a, b) => Math.pow(Math.abs(a), b)],
      ['maximum', Math.max],
      ['minimum', Math.min],
      ['lt', (a, b) => (a < b ? 1 : 0)],
      ['eq', (a, b) => (a === b ? 1 : 0)],
    ];
    fc.assert(
      fc.property(shapeArb(4, 3), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 2 }), unitValuesArb, unitValuesArb, (shape, ones, drop, av, bv) => {
        // b's shape: drop leading axes, set some axes to 1.
        const bShape = shape.slice(Math.min(drop, shape.length)).map((d, i) => (ones[i] ? 1 : d));
        const aVals = cycled(av, sizeOf(shape));
        const bVals = cycled(bv, sizeOf(bShape), 0.5, 2);
        for (const [op, f] of ops) {
          const a = NDArray.fromData(op === 'pow' ? aVals.map(Math.abs) : aVals, shape, 'float64');
          const b = NDArray.fromData(bVals, bShape, 'float64');
          const out = a.binary(op as 'add', b);
          assert.deepEqual(out.shape, shape);
          const expected = new Float64Array(sizeOf(shape));
          for (let i = 0; i < expected.length; i++) {
            const idx = unravel(i, shape);
            const bIdx = idx.slice(shape.length - bShape.length).map((v, k) => (bShape[k] === 1 ? 0 : v));
            expected[i] = f(op === 'pow' ? Math.abs(aVals[i]) : aVals[i], bVals[ravel(bIdx, bShape)]);
          }
          close(out.toTypedArray(), expected, 1e-14, 1e-14, op);
          // Broadcasting equals an explicit expand.
          const explicit = a.binary(op as 'add', b.broadcastTo(shape).contiguous());
          close(explicit.toTypedArray(), out.toTypedArray(), 0, 0, `${op} explicit`);
        }
      }),
      FC,
    );
  });

  test('where picks by a broadcast condition', () => {
    const c = NDArray.fromData([1, 0, 1], [3], 'float32');
    const out = NDArray.where(c, NDArray.fromData([1, 2, 3, 4, 5, 6], [2, 3]), -1);
    assert.deepEqual(Array.from(out.toTypedArray()), [1, -1, 3, 4, -1, 6]);
  });
});

describe('views', () => {
  test('permute then inverse permute is the identity and shares storage', () => {
    fc.assert(
      fc.property(shapeArb(4), permutationKeysArb, unitValuesArb, (shape, keys, values) => {
        const x = NDArray.fromData(cycled(values, sizeOf(shape)), shape, 'float64');
        const perm = permutation(keys, shape.length);
        const inv = new Array<number>(perm.length);
        perm.forEach((p, i) => (inv[p] = i));
        const y = x.permute(perm);
        assert.ok(y.sharesStorageWith(x));
        assert.deepEqual(y.shape, perm.map((p) => shape[p]));
        const back = y.permute(inv);
        assert.deepEqual(Array.from(back.toTypedArray()), Array.from(x.toTypedArray()));
      }),
      FC,
    );
  });

  test('expand then sum multiplies by the count', () => {
    fc.assert(
      fc.property(shapeArb(3, 3), fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 3, maxLength: 3 }), unitValuesArb, (shape, reps, values) => {
        const x = NDArray.fromData(cycled(values, sizeOf(shape)), shape, 'float64');
        const ones = x.reshape([...shape.map(() => 1), ...shape]);
        const target = [...shape.map((_, i) => reps[i % 3]), ...shape];
        const e = ones.expand(target);
        assert.ok(e.sharesStorageWith(x));
        const count = shape.reduce((p, _, i) => p * reps[i % 3], 1);
        const summed = e.sum(shape.map((_, i) => i));
        close(summed.toTypedArray(), Array.from(x.toTypedArray(), (v) => v * count), 1e-12, 1e-12, 'expand-sum');
      }),
      FC,
    );
  });

  test('slice then contiguous equals copying element by element', () => {
    const specArb = fc.record({ start: fc.integer({ min: -5, max: 5 }), stop: fc.integer({ min: -5, max: 6 }), step: fc.integer({ min: 1, max: 3 }) });
    fc.assert(
      fc.property(shapeArb(3, 5), fc.array(specArb, { minLength: 3, maxLength: 3 }), unitValuesArb, (shape, specs, values) => {
        const vals = cycled(values, sizeOf(shape));
        const x = NDArray.fromData(vals, shape, 'float64');
        const s = specs.slice(0, shape.length);
        const y = x.slice(s);
        assert.ok(y.sharesStorageWith(x));
        // Reference: Python-style index lists per axis.
        const lists = shape.map((d, a) => {
          const norm = (v: number): number => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
          const out: number[] = [];
          for (let i = norm(s[a].start); i < norm(s[a].stop); i += s[a].step) out.push(i);
          return out;
        });
        assert.deepEqual(y.shape, lists.map((l) => l.length));
        const expected: number[] = [];
        const n = sizeOf(y.shape);
        for (let i = 0; i < n; i++) expected.push(vals[ravel(unravel(i, y.shape).map((v, a) => lists[a][v]), shape)]);
        assert.deepEqual(Array.from(y.contiguous().toTypedArray()), expected);
      }),
      FC,
    );
  });

  test('reshape is a view for contiguous arrays and copies only when the strides forbid a view', () => {
    const x = NDArray.fromData(Float64Array.from({ length: 24 }, (_, i) => Math.sin(i + 1)), [2, 3, 4], 'float64');
    assert.ok(x.reshape([6, 4]).sharesStorageWith(x));
    assert.ok(x.reshape([2, 12]).reshape([4, -1]).sharesStorageWith(x));
    const t = x.transpose(); // [2, 4, 3]
    assert.ok(t.reshape([2, 4, 3, 1]).sharesStorageWith(x)); // adding a unit axis needs no copy
    assert.ok(x.permute([1, 0, 2]).reshape([3, 2, 2, 2]).sharesStorageWith(x)); // splitting the last axis
    const flat = t.reshape([-1]);
    assert.ok(!flat.sharesStorageWith(x));
    // Values follow row-major order of the (transposed) view.
    const ref: number[] = [];
    const xv = x.toTypedArray();
    for (let i = 0; i < 2; i++) for (let j = 0; j < 4; j++) for (let k = 0; k < 3; k++) ref.push(xv[i * 12 + k * 4 + j]);
    assert.deepEqual(Array.from(flat.toTypedArray()), ref);
  });

  test('reshape of arbitrary views preserves row-major order', () => {
    fc.assert(
      fc.property(shapeArb(3, 4), permutationKeysArb, unitValuesArb, (shape, keys, values) => {
        const x = NDArray.fromData(cycled(values, sizeOf(shape)), shape, 'float64');
        const perm = permutation(keys, shape.length);
        const v = x.permute(perm);
        const expected = Array.from(v.contiguous().toTypedArray());
        assert.deepEqual(Array.from(v.reshape([-1]).toTypedArray()), expected);
        if (expected.length > 0 && expected.length % 2 === 0) {
          assert.deepEqual(Array.from(v.reshape([2, -1]).toTypedArray()), expected);
        }
      }),
      FC,
    );
  });
});

describe('reductions', () => {
  test('sum, max, min over any axes match a float64 loop; float32 sums stay within a length-derived bound', () => {
    fc.assert(
      fc.property(shapeArb(4, 4), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), unitValuesArb, (shape, pick, values) => {
        const axes = shape.flatMap((_, i) => (pick[i] ? [i] : []));
        const vals = cycled(values, sizeOf(shape));
        const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
        const n = sizeOf(outShape);
        const sum = new Float64Array(n);
        const absSum = new Float64Array(n);
        const max = new Float64Array(n).fill(-Infinity);
        const min = new Float64Array(n).fill(Infinity);
        for (let i = 0; i < vals.length; i++) {
          const o = ravel(unravel(i, shape).map((v, a) => (axes.includes(a) ? 0 : v)), outShape);
          sum[o] += vals[i];
          absSum[o] += Math.abs(vals[i]);
          max[o] = Math.max(max[o], vals[i]);
          min[o] = Math.min(min[o], vals[i]);
        }
        const x64 = NDArray.fromData(vals, shape, 'float64');
        close(x64.sum(axes, true).toTypedArray(), sum, 1e-12, 1e-12, 'sum f64');
        const len = axes.reduce((p, a) => p * shape[a], 1);
        const x32 = NDArray.fromData(vals, shape, 'float32');
        const s32 = x32.sum(axes, true).toTypedArray();
        const x32vals = x32.toTypedArray();
        const sum32ref = new Float64Array(n);
        for (let i = 0; i < vals.length; i++) sum32ref[ravel(unravel(i, shape).map((v, a) => (axes.includes(a) ? 0 : v)), outShape)] += x32vals[i];
        // Error bound for a float32 result of a sum of `len` terms: len * eps32 * sum|x| (pairwise or double accumulation does better).
        for (let o = 0; o < n; o++) assert.ok(Math.abs(s32[o] - sum32ref[o]) <= (len + 1) * 1.2e-7 * absSum[o] + 1e-30, `sum f32 ${s32[o]} vs ${sum32ref[o]}`);
        if (shape.every((d, i) => !axes.includes(i) || d > 0)) {
          close(x64.max(axes, true).toTypedArray(), n === 0 ? [] : max, 0, 0, 'max');
          close(x64.min(axes, true).toTypedArray(), n === 0 ? [] : min, 0, 0, 'min');
        }
        assert.deepEqual(x64.sum(axes).shape, shape.filter((_, i) => !axes.includes(i)));
      }),
      FC,
    );
  });

  test('mean divides by the count', () => {
    assert.deepEqual(NDArray.from([[1, 2], [3, 6]]).mean(0).toNested(), [2, 4]);
  });
});

describe('matmul', () => {
  test('1-D operands follow NumPy', () => {
    const v = NDArray.fromData([1, 2, 3], [3], 'float64');
    const m = NDArray.fromData([1, 0, 0, 1, 1, 1], [3, 2], 'float64');
    assert.deepEqual(v.matmul(m).toNested(), [4, 5]);
    assert.equal(v.matmul(v).item(), 14);
  });
});

describe('indexing and joining', () => {
  test('gather and scatterAdd are transposes: <gather(x), y> = <x, scatterAdd(y)>', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 4 }), fc.array(fc.nat(5), { maxLength: 7 }), unitValuesArb, unitValuesArb, (rows, cols, picks, xv0, yv0) => {
        const nIdx = picks.length;
        const idx = Int32Array.from(picks, (p) => p % rows);
        const x = NDArray.fromData(cycled(xv0, rows * cols), [rows, cols], 'float64');
        const y = NDArray.fromData(cycled(yv0, nIdx * cols), [nIdx, cols], 'float64');
        const i = NDArray.fromData(idx, [nIdx]);
        const g = x.gather(i, 0);
        assert.deepEqual(g.shape, [nIdx, cols]);
        const lhs = g.mul(y).sum().item();
        const rhs = x.mul(y.scatterAdd(i, 0, rows)).sum().item();
        assert.ok(Math.abs(lhs - rhs) < 1e-12);
        const xv = x.toTypedArray();
        const gv = g.toTypedArray();
        for (let p = 0; p < nIdx; p++) for (let c = 0; c < cols; c++) assert.equal(gv[p * cols + c], xv[idx[p] * cols + c]);
      }),
      FC,
    );
  });

  test('concat, stack, split round trip', () => {
    const a = NDArray.from([[1, 2], [3, 4]]);
    const b = NDArray.from([[5, 6]]);
    assert.deepEqual(NDArray.concat([a, b], 0).toNested(), [[1, 2], [3, 4], [5, 6]]);
    assert.deepEqual(NDArray.stack([a, a], 2).shape, [2, 2, 2]);
    assert.deepEqual(NDArray.concat([a, NDArray.zeros([2, 0])], 1).toNested(), [[1, 2], [3, 4]]);
  });

  test('pad and unslice place values at strided positions', () => {
    const x = NDArray.from([[1, 2], [3, 4]]);
    assert.deepEqual(x.pad([[1, 0], [0, 1]]).toNested(), [[0, 0, 0], [1, 2, 0], [3, 4, 0]]);
    assert.deepEqual(x.unslice([3, 4], [0, 1], [2, 2]).toNested(), [[0, 1, 0, 2], [0, 0, 0, 0], [0, 3, 0, 4]]);
  });

  test('cast truncates toward zero', () => {
    assert.deepEqual(Array.from(NDArray.from([-1.7, 1.7, 2]).cast('int32').toTypedArray()), [-1, 1, 2]);
  });
});

describe('bad input names the op and the shapes', () => {
  const x = NDArray.zeros([2, 3]);
  const cases: [string, () => unknown, RegExp][] = [
    ['broadcast mismatch', () => x.add(NDArray.zeros([4])), /add: shapes \[2, 3\] and \[4\] cannot be broadcast/],
    ['matmul inner', () => x.matmul(NDArray.zeros([2, 3])), /matmul: inner dimensions differ: \[2, 3\] @ \[2, 3\]/],
    ['axis out of range', () => x.sum(2), /sum: axis 2 is out of range for shape \[2, 3\]/],
    ['reshape size', () => x.reshape([4, 2]), /reshape: cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\]/],
    ['index dtype', () => x.gather(NDArray.zeros([2]), 0), /gather: indices must be int32, got float32/],
    ['index range', () => x.gather(NDArray.fromData(Int32Array.from([5]), [1]), 0), /gather.*5/],
    ['dtype mismatch', () => x.add(NDArray.zeros([2, 3], 'float64')), /add: dtypes differ \(float32 \[2, 3\] vs float64 \[2, 3\]\)/],
    ['int exp', () => NDArray.zeros([2], 'int32').exp(), /exp: needs a float array, got int32/],
    ['permute', () => x.permute([0, 0]), /permute: axes \[0, 0\] repeat an axis/],
    ['expand', () => x.expand([4, 3]), /expand: cannot expand shape \[2, 3\] to \[4, 3\]/],
    ['fromData', () => NDArray.fromData([1, 2, 3], [2, 2]), /fromData: 3 values cannot fill shape \[2, 2\]/],
    ['max of empty', () => NDArray.zeros([0, 2]).max(0), /max: cannot reduce an empty axis of shape \[0, 2\]/],
    ['concat', () => NDArray.concat([x, NDArray.zeros([2, 2])], 0), /concat: shapes \[2, 3\], \[2, 2\] differ off axis 0/],
  ];
  for (const [name, fn, re] of cases) test(name, () => assert.throws(fn, re));

  test('contiguous strides helper agrees with the definition', () => {
    assert.deepEqual(contiguousStrides([2, 3, 4]), [12, 4, 1]);
  });
});
