/**
 * The CPU accelerations (src/tensor/accel/index.ts: WebAssembly SIMD and monomorphic float32 loops)
 * against the reference loops of the op-table entries they accelerate, over random shapes
 * (including axes of size 0 and 1, and sizes past the wasm threshold) and the layouts each fast
 * path takes: contiguous, a row vector over rows, a column, a scalar, and other strided views
 * (which must fall back to the JS loop and still agree).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CPU_ACCEL, WASM_MIN, binaryGrid } from '../src/tensor/accel/index.js';
import { emitElementwiseModule } from '../src/tensor/accel/wasm-elementwise.js';
import { CE_PARALLEL_MIN, WasmCrossEntropy } from '../src/tensor/accel/wasm-cross-entropy.js';
import { wasmApi } from '../src/tensor/accel/wasm-emit.js';
import { OPS, type CpuView } from '../src/tensor/ops/index.js';
import { Rng } from '../src/tensor/random.js';
import { contiguousStrides, sizeOf } from '../src/tensor/shape.js';
import type { TypedArray } from '../src/tensor/dtype.js';

type Layout = 'contiguous' | 'row' | 'column' | 'scalar' | 'transposed' | 'stepped';
const LAYOUTS: Layout[] = ['contiguous', 'row', 'column', 'scalar', 'transposed', 'stepped'];

/** A float32 view of `shape` in the given layout; values from `gen`, NaN in every unused cell. */
function view(shape: number[], layout: Layout, seed: number, gen: (r: Rng) => number): CpuView {
  const r = new Rng(seed);
  const rank = shape.length;
  let strides = contiguousStrides(shape);
  let offset = 0;
  if (layout === 'row' && rank >= 1) strides = strides.map((s, i) => (i === rank - 1 ? 1 : 0)); // [..., n] broadcast over the leading axes
  if (layout === 'column' && rank >= 1) {
    const lead = contiguousStrides(shape.slice(0, -1));
    strides = [...lead, 0]; // one value per row
  }
  if (layout === 'scalar') strides = shape.map(() => 0);
  if (layout === 'transposed' && rank >= 2) {
    const t = [...shape];
    [t[rank - 2], t[rank - 1]] = [t[rank - 1], t[rank - 2]];
    const cs = contiguousStrides(t);
    strides = [...cs];
    [strides[rank - 2], strides[rank - 1]] = [cs[rank - 1], cs[rank - 2]];
  }
  if (layout === 'stepped') {
    strides = contiguousStrides(shape.map((d) => 2 * d)).map((s) => 2 * s);
    offset = 1 + r.int(3);
  }
  let span = 1;
  for (let a = 0; a < rank; a++) span += Math.max(0, shape[a] - 1) * strides[a];
  if (sizeOf(shape) === 0) span = 0;
  const data = new Float32Array(offset + span + 5).fill(Number.NaN);
  // Fill exactly the cells the view uses.
  const n = sizeOf(shape);
  for (let i = 0; i < n; i++) {
    let p = offset;
    let rest = i;
    for (let a = rank - 1; a >= 0; a--) {
      p += (rest % shape[a]) * strides[a];
      rest = Math.floor(rest / shape[a]);
    }
    data[p] = gen(r);
  }
  return { data, dtype: 'float32', shape, strides, offset };
}

function sameBits(op: string, got: TypedArray | null, want: TypedArray): void {
  assert.ok(got !== null, `${op}: the acceleration declined a float32 case`);
  assert.equal(got.length, want.length, `${op}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) assert.fail(`${op}: element ${i}: ${got[i]} vs reference ${want[i]}`);
  }
}

const dimArb = fc.constantFrom(0, 1, 2, 3, 4, 5, 7, 8, 17, 64, 129);
const shapeArb = fc.array(dimArb, { minLength: 0, maxLength: 4 }).filter((s) => sizeOf(s) <= 40_000);
const seedArb = fc.integer({ min: 0, max: 1_000_000 });
const normal = (r: Rng): number => r.normal();
const positive = (r: Rng): number => 0.1 + 3 * r.uniform();

describe('cpu accelerations against their op-table entries', () => {
  test('the elementwise wasm module validates', () => {
    assert.ok(wasmApi()!.validate(emitElementwiseModule()));
  });

  test('the wasm grid covers the broadcast layouts the model uses', () => {
    const shape = [6, 64];
    const full = view(shape, 'contiguous', 1, normal);
    for (const layout of ['contiguous', 'row', 'column', 'scalar'] as const) {
      assert.ok(binaryGrid(full, view(shape, layout, 2, normal)) !== null, layout);
      assert.ok(binaryGrid(view(shape, layout, 2, normal), full) !== null, `${layout} first`);
    }
    assert.equal(binaryGrid(full, view(shape, 'transposed', 2, normal)), null);
    // [P, M, l] + [P, 1, l] broadcast over the middle axis: a loop of grids.
    const big = view([5, 6, 64], 'contiguous', 3, normal);
    const mid: CpuView = { ...view([5, 1, 64], 'contiguous', 4, normal), shape: [5, 6, 64], strides: [64, 0, 1] };
    assert.deepEqual(binaryGrid(big, mid)?.outer, [5]);
    sameBits('add over a middle broadcast', CPU_ACCEL.add([big, mid], {} as never), OPS.add.cpu([big, mid], {}));
    sameBits('mul over a middle broadcast', CPU_ACCEL.mul([mid, big], {} as never), OPS.mul.cpu([mid, big], {}));
    // The energy loss's pairwise differences: [P, N, 1, l] − [P, 1, N, l] over [P, N, N, l], a loop of P·N grids.
    const [p, n, l] = [3, 4, 32];
    const xs = view([p, n, l], 'contiguous', 5, normal);
    const left: CpuView = { ...xs, shape: [p, n, n, l], strides: [n * l, l, 0, 1] };
    const right: CpuView = { ...xs, shape: [p, n, n, l], strides: [n * l, 0, l, 1] };
    assert.deepEqual(binaryGrid(left, right)?.outer, [p, n]);
    sameBits('sub of pairwise broadcasts', CPU_ACCEL.sub([left, right], {} as never), OPS.sub.cpu([left, right], {}));
    assert.ok(6 * 64 >= WASM_MIN);
  });

  for (const op of ['add', 'sub', 'mul', 'div'] as const) {
    test(`${op}: bit-identical over layouts and shapes`, () => {
      fc.assert(
        fc.property(shapeArb, seedArb, fc.constantFrom(...LAYOUTS), fc.constantFrom(...LAYOUTS), (shape, seed, la, lb) => {
          const a = view(shape, la, seed, normal);
          const b = view(shape, lb, seed + 1, op === 'div' ? positive : normal);
          sameBits(op, CPU_ACCEL[op]([a, b], {} as never), OPS[op].cpu([a, b], {}));
        }),
        { numRuns: 150 },
      );
    });
  }

  test('binary: zeros, infinities and NaN go through unchanged', () => {
    const specials = [0, -0, 1, -1, Infinity, -Infinity, Number.NaN, 1e-45, 3.4e38];
    const gen = (r: Rng): number => specials[r.int(specials.length)];
    for (const op of ['add', 'sub', 'mul', 'div'] as const) {
      const a = view([9, 37], 'contiguous', 3, gen);
      const b = view([9, 37], 'contiguous', 4, gen);
      sameBits(op, CPU_ACCEL[op]([a, b], {} as never), OPS[op].cpu([a, b], {}));
    }
  });

  for (const op of ['neg', 'abs', 'sqrt', 'exp', 'log', 'sigmoid', 'tanh'] as const) {
    test(`${op}: bit-identical over layouts and shapes`, () => {
      fc.assert(
        fc.property(shapeArb, seedArb, fc.constantFrom(...LAYOUTS), (shape, seed, layout) => {
          const x = view(shape, layout, seed, op === 'sqrt' || op === 'log' ? positive : op === 'sigmoid' ? (r) => 30 * r.normal() : normal);
          const got = CPU_ACCEL[op]([x], {} as never);
          const want = OPS[op].cpu([x], {});
          if (op !== 'sigmoid') return sameBits(op, got, want);
          // The wasm sigmoid (polynomial exp): a few float32 ulps, or below 1e-37 where it flushes to 0.
          for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got![i] - want[i]) <= 8 * 2 ** -24 * want[i] + 1e-37, `sigmoid ${i}: ${got![i]} vs ${want[i]}`);
        }),
        { numRuns: 100 },
      );
    });
  }

  test('reduce max (any axes) is bit-identical; sum is within float64 reordering of the reference', () => {
    fc.assert(
      fc.property(shapeArb.filter((s) => s.length >= 1), seedArb, fc.constantFrom(...LAYOUTS), fc.boolean(), (shape, seed, layout, lastOnly) => {
        const x = view(shape, layout, seed, normal);
        const rank = shape.length;
        const axes = lastOnly ? [rank - 1] : rank >= 2 ? [0] : [0];
        for (const op of ['sum', 'max'] as const) {
          if (op === 'max' && axes.some((a) => shape[a] === 0)) continue; // refused by the front end
          const want = OPS.reduce.cpu([x], { op, axes });
          const got = CPU_ACCEL.reduce([x], { op, axes } as never);
          if (got === null) continue; // not covered: the reference runs
          if (op === 'max') {
            sameBits('max', got, want);
          } else {
            assert.equal(got.length, want.length);
            // Both are float64 sums rounded once to float32: they differ by at most one float32 step.
            for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 2 ** -23 * Math.max(1, Math.abs(want[i])) * 2, `sum ${i}: ${got[i]} vs ${want[i]}`);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  test('reduce sum over a middle or leading axis (wasm column sums): bit-identical', () => {
    for (const [shape, axes] of [[[256, 4, 4, 128], [2]], [[256, 4, 4, 128], [1]], [[1024, 64], [0]], [[3, 300, 8], [1]], [[7, 1, 12], [0]], [[5, 9, 4], [0, 1]]] as [number[], number[]][]) {
      const x = view(shape, 'contiguous', 11, normal);
      sameBits(`sum ${shape} axes ${axes}`, CPU_ACCEL.reduce([x], { op: 'sum', axes } as never), OPS.reduce.cpu([x], { op: 'sum', axes }));
    }
  });

  test('reduce: the covered layouts are taken (last axis, leading axis)', () => {
    const x = view([40, 33], 'contiguous', 5, normal);
    assert.ok(CPU_ACCEL.reduce([x], { op: 'sum', axes: [1] } as never) !== null);
    assert.ok(CPU_ACCEL.reduce([x], { op: 'max', axes: [1] } as never) !== null);
    sameBits('column sum', CPU_ACCEL.reduce([x], { op: 'sum', axes: [0] } as never), OPS.reduce.cpu([x], { op: 'sum', axes: [0] }));
  });

  test('softmaxRows: bit-identical on short rows, within a few float32 ulps on the wasm path', () => {
    fc.assert(
      fc.property(shapeArb.filter((s) => s.length >= 1 && sizeOf(s) > 0), seedArb, fc.constantFrom(...LAYOUTS), fc.constantFrom(1, 5, 40), (shape, seed, layout, scale) => {
        // Some -Infinity (masked scores) in most rows: they must come out exactly 0.
        const x = view(shape, layout, seed, (r) => (r.uniform() < 0.1 ? -Infinity : scale * r.normal()));
        const got = CPU_ACCEL.softmaxRows([x], {} as never);
        if (got === null) return; // a strided layout: the reference runs
        const want = OPS.softmaxRows.cpu([x], {});
        const len = shape[shape.length - 1];
        if (len < 16 || sizeOf(shape) < WASM_MIN) return sameBits('softmaxRows', got, want);
        for (let i = 0; i < want.length; i++) {
          if (Number.isNaN(want[i])) assert.ok(Number.isNaN(got[i]), `softmax ${i}: NaN expected`); // a row of -Infinity only
          else if (want[i] === 0) assert.equal(got[i], 0, `softmax ${i}: exact 0 expected`);
          else assert.ok(Math.abs(got[i] - want[i]) <= 8 * 2 ** -24 * want[i] + 1e-37, `softmax ${i}: ${got[i]} vs ${want[i]}`);
        }
      }),
      { numRuns: 150 },
    );
  });

  test('softmaxRows wasm: extreme rows (all equal, one huge, NaN, +Infinity)', () => {
    const rows = [
      new Array(32).fill(3),
      [...new Array(31).fill(-1e30), 1e30],
      [...new Array(31).fill(0), Number.NaN],
      [...new Array(31).fill(0), Infinity],
      Array.from({ length: 32 }, (_, j) => -90 - j), // far below -87 after the shift
    ];
    const data = Float32Array.from(rows.flat());
    const x: CpuView = { data, dtype: 'float32', shape: [rows.length * 2, 32], strides: [32, 1], offset: 0 };
    const doubled: CpuView = { ...x, data: Float32Array.from([...data, ...data]) };
    const got = CPU_ACCEL.softmaxRows([doubled], {} as never)!;
    const want = OPS.softmaxRows.cpu([doubled], {});
    for (let i = 0; i < want.length; i++) {
      if (Number.isNaN(want[i])) assert.ok(Number.isNaN(got[i]), `${i}`);
      else assert.ok(Math.abs(got[i] - want[i]) <= 8 * 2 ** -24 * Math.abs(want[i]) + 1e-37, `${i}: ${got[i]} vs ${want[i]}`);
    }
  });

  test('reduce sum/max over any axes (strided layouts): bit-identical where the JS walk runs', () => {
    fc.assert(
      fc.property(fc.array(dimArb, { minLength: 2, maxLength: 4 }).filter((s) => sizeOf(s) <= 40_000 && sizeOf(s) > 0), seedArb, fc.constantFrom(...LAYOUTS), fc.integer({ min: 0, max: 3 }), (shape, seed, layout, pick) => {
        const x = view(shape, layout, seed, normal);
        const axes = [pick % shape.length];
        for (const op of ['sum', 'max'] as const) {
          const got = CPU_ACCEL.reduce([x], { op, axes } as never);
          const want = OPS.reduce.cpu([x], { op, axes });
          assert.ok(got !== null);
          const lastRun = axes[0] === shape.length - 1 && shape[axes[0]] >= 16; // the wasm path: float64 reordering
          if (op === 'max' || !lastRun) sameBits(`${op} axes ${axes}`, got, want);
        }
      }),
      { numRuns: 150 },
    );
  });

  test('sigmoid: a strided view gives the bits of its contiguous copy', () => {
    // Strided input is gathered and then runs the same wasm kernel, so the layout never changes a value.
    fc.assert(
      fc.property(shapeArb.filter((s) => s.length >= 2 && sizeOf(s) >= WASM_MIN), seedArb, fc.constantFrom<Layout>('transposed', 'stepped'), (shape, seed, layout) => {
        const x = view(shape, layout, seed, (r) => 30 * r.normal());
        const dense = OPS.copy.cpu([x], {}) as Float32Array;
        const copy: CpuView = { data: dense, dtype: 'float32', shape, strides: contiguousStrides(shape), offset: 0 };
        sameBits('sigmoid', CPU_ACCEL.sigmoid([x], {} as never), CPU_ACCEL.sigmoid([copy], {} as never)!);
      }),
      { numRuns: 40 },
    );
  });

  test('siluBackward and siluMulBackward: bit-identical', () => {
    fc.assert(
      fc.property(shapeArb, seedArb, fc.constantFrom(...LAYOUTS), fc.constantFrom(...LAYOUTS), (shape, seed, la, lb) => {
        const [a, b, s, g] = [view(shape, la, seed, normal), view(shape, lb, seed + 1, normal), view(shape, 'contiguous', seed + 2, (r) => r.uniform()), view(shape, lb, seed + 3, normal)];
        sameBits('siluBackward', CPU_ACCEL.siluBackward([a, s, g], {} as never), OPS.siluBackward.cpu([a, s, g], {}));
        sameBits('siluMulBackward', CPU_ACCEL.siluMulBackward([a, b, s, g], {} as never), OPS.siluMulBackward.cpu([a, b, s, g], {}));
      }),
      { numRuns: 100 },
    );
  });

  test('where (float32): bit-identical over layouts, shapes and masks with zeros, -0 and NaN', () => {
    const mask = (r: Rng): number => [0, -0, 1, -2, Number.NaN, 0.5][r.int(6)];
    fc.assert(
      fc.property(shapeArb, seedArb, fc.constantFrom(...LAYOUTS), fc.constantFrom(...LAYOUTS), fc.constantFrom(...LAYOUTS), (shape, seed, lc, la, lb) => {
        const views = [view(shape, lc, seed, mask), view(shape, la, seed + 1, normal), view(shape, lb, seed + 2, normal)];
        sameBits('where', CPU_ACCEL.where(views, {} as never), OPS.where.cpu(views, {}));
      }),
      { numRuns: 100 },
    );
  });

  test('siluMulBackward on contiguous operands (the wasm float64 path): bit-identical around the size threshold, offsets and special values', () => {
    const specials = [0, -0, 1, -1, 1e30, -1e30, 3.4e38, -3.4e38, 1e-40, -1e-40, Infinity, -Infinity, Number.NaN, 0.5, 2 ** -24];
    for (const n of [1, 3, WASM_MIN - 1, WASM_MIN, WASM_MIN + 1, 1003, 4099]) {
      const r = new Rng(n);
      const operand = (pick: (i: number) => number, offset: number): CpuView => {
        const data = new Float32Array(offset + n + 5).fill(Number.NaN); // neighbours that must not be read
        for (let i = 0; i < n; i++) data[offset + i] = pick(i);
        return { data, dtype: 'float32', shape: [n], strides: [1], offset };
      };
      const wild = (i: number): number => (i % 7 === 3 ? specials[(i * 5) % specials.length] : 4 * r.normal());
      const a = operand(wild, 3);
      const b = operand(wild, 0);
      const s = operand((i) => (i % 11 === 5 ? [0, 1, 0.5][i % 3] : r.uniform()), 1);
      const g = operand(wild, 7);
      sameBits(`siluMulBackward n ${n}`, CPU_ACCEL.siluMulBackward([a, b, s, g], {} as never), OPS.siluMulBackward.cpu([a, b, s, g], {}));
    }
  });

  test('copy (the wasm row gather for views made of contiguous runs): the reference\'s bits, over permutations, offsets and run lengths', () => {
    const bits = (x: TypedArray): Uint32Array => new Uint32Array(x.buffer, x.byteOffset, x.length);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 2, maxLength: 3 }), fc.constantFrom(1, 3, 4, 5, 8, 32), fc.integer({ min: 0, max: 5 }), seedArb,
        (lead, run, offset, seed) => {
          const r = new Rng(seed);
          const stored = [...lead, run]; // storage layout
          const n = sizeOf(stored);
          const data = new Float32Array(offset + n + 3).fill(Number.NaN);
          // Values with NaN payloads, −0 and subnormals among them: a copy must move every bit.
          const raw = new Uint32Array(data.buffer);
          for (let i = 0; i < n; i++) raw[offset + i] = i % 9 === 4 ? [0x7fc00001, 0xffa00000, 0x80000000, 0x00000003][i % 4] : new Uint32Array(Float32Array.of(3 * r.normal()).buffer)[0];
          // Swap the two leading axes (attention's heads ⇄ positions), keeping the runs contiguous.
          const strides = contiguousStrides(stored);
          const shape = [stored[1], stored[0], ...stored.slice(2)];
          const viewStrides = [strides[1], strides[0], ...strides.slice(2)];
          const x: CpuView = { data, dtype: 'float32', shape, strides: viewStrides, offset };
          const got = CPU_ACCEL.copy([x], {} as never);
          const want = OPS.copy.cpu([x], {});
          const runLength = stored[0] === 1 || stored[1] === 1 ? n : sizeOf(stored.slice(2)); // merged runs when an axis is 1
          if (n < WASM_MIN || runLength < 4 || runLength === n) assert.equal(got, null, `declines [${shape}] runs of ${runLength}`);
          else {
            assert.ok(got !== null, `takes [${shape}] runs of ${runLength}`);
            assert.deepEqual(bits(got), bits(want), `copy [${shape}] (storage [${stored}], offset ${offset})`);
          }
        }),
      { numRuns: 200 },
    );
    // Rows scattered far apart (every 100th row of 8 floats) are left to the reference, which reads only them.
    const sparse = new Float32Array(100 * 8 * 300);
    assert.equal(CPU_ACCEL.copy([{ data: sparse, dtype: 'float32', shape: [300, 8], strides: [800, 1], offset: 0 }], {} as never), null);
    // The case it is for: bench:train's heads, [16, 64, 4, 32] stored, read as [16, 4, 64, 32].
    const data = Float32Array.from({ length: 16 * 64 * 4 * 32 }, (_, i) => i);
    const x: CpuView = { data, dtype: 'float32', shape: [16, 4, 64, 32], strides: [8192, 32, 128, 1], offset: 0 };
    const got = CPU_ACCEL.copy([x], {} as never);
    assert.ok(got !== null);
    assert.deepEqual(bits(got), bits(OPS.copy.cpu([x], {})));
  });

  test('rope (the wasm path for contiguous rows in any order): bit-identical, forward and inverse, special values included', () => {
    const specials = [0, -0, Infinity, -Infinity, Number.NaN, 1e-40, -3.4e38];
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 20 }), fc.constantFrom(4, 6, 8, 16, 32), fc.boolean(), fc.boolean(), seedArb,
        (b, h, t, hd, permuted, inverse, seed) => {
          const r = new Rng(seed);
          const n = b * h * t * hd;
          const data = new Float32Array(n + 3);
          for (let i = 0; i < data.length; i++) data[i] = i % 13 === 4 ? specials[i % specials.length] : 3 * r.normal();
          // Some all-zero stretches, so both halves of a pair are ±0 and the sign of a zero result shows.
          for (let i = 3; i < data.length; i += 5 * hd) for (let j = i; j < Math.min(i + 2 * hd, data.length); j++) data[j] = (j * 7) % 3 === 0 ? -0 : 0;
          // Permuted: [B, H, T, hd] read from storage laid out [B, T, H, hd], as attention's heads are.
          const x: CpuView = permuted
            ? { data, dtype: 'float32', shape: [b, h, t, hd], strides: [t * h * hd, hd, h * hd, 1], offset: 3 }
            : { data, dtype: 'float32', shape: [b, h, t, hd], strides: contiguousStrides([b, h, t, hd]), offset: 3 };
          const table = (): CpuView => {
            const d = Float32Array.from({ length: (t + 2) * (hd / 2) }, () => r.uniform() * 2 - 1);
            return { data: d, dtype: 'float32', shape: [t, hd / 2], strides: [hd / 2, 1], offset: 2 * (hd / 2) };
          };
          const [cos, sin] = [table(), table()];
          const got = CPU_ACCEL.rope([x, cos, sin], { inverse } as never);
          const want = OPS.rope.cpu([x, cos, sin], { inverse });
          if ((hd / 2) % 4 !== 0 || n < WASM_MIN) assert.equal(got, null);
          else sameBits(`rope ${inverse ? 'inverse' : 'forward'} [${b}, ${h}, ${t}, ${hd}]${permuted ? ' permuted' : ''}`, got, want);
        }),
      { numRuns: 150 },
    );
  });

  test('normRows and normRowsBackward (the wasm float64 path for contiguous operands): bit-identical, RMSNorm and LayerNorm', () => {
    const specials = [0, -0, 1e-40, -3e38, 1e30, 7];
    fc.assert(
      // Up to 600 rows, so that normRows is also split over the threads (from NORM_PARALLEL_MIN elements).
      fc.property(fc.oneof(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 200, max: 600 })), fc.constantFrom(1, 3, 8, 64, 128, 200), fc.boolean(), fc.integer({ min: 0, max: 5 }), seedArb, (rows, d, center, at, seed) => {
        const r = new Rng(seed);
        const n = rows * d;
        const fill = (len: number, scale: number): Float32Array => {
          const data = new Float32Array(at + len);
          for (let i = 0; i < data.length; i++) data[i] = i % 17 === 2 ? specials[i % specials.length] : scale * r.normal();
          return data;
        };
        const view = (data: Float32Array, shape: number[]): CpuView => ({ data, dtype: 'float32', shape, strides: contiguousStrides(shape), offset: at });
        const x = view(fill(n, 3), [rows, d]);
        const w = view(fill(d, 1), [d]);
        const b = view(fill(d, 1), [d]);
        const g = view(fill(n, 1), [rows, d]);
        const attrs = { eps: 1e-5, center };
        const got = CPU_ACCEL.normRows([x, w, b], attrs as never);
        const want = OPS.normRows.cpu([x, w, b], attrs);
        const stats: CpuView = { data: want, dtype: 'float32', shape: [2 * rows], strides: [1], offset: n };
        const gotBack = CPU_ACCEL.normRowsBackward([x, w, stats, g], attrs as never);
        const wantBack = OPS.normRowsBackward.cpu([x, w, stats, g], attrs);
        if (n < WASM_MIN) {
          assert.equal(got, null);
          assert.equal(gotBack, null);
        } else {
          sameBits(`normRows [${rows}, ${d}] center ${center}`, got, want);
          sameBits(`normRowsBackward [${rows}, ${d}] center ${center}`, gotBack, wantBack);
        }
      }),
      { numRuns: 120 },
    );
  });

  /** Targets [n] (int32, `stride` apart) in [0, v), about a fifth of them negative (ignored rows). */
  function targets(n: number, v: number, seed: number, stride = 1): CpuView {
    const r = new Rng(seed);
    const data = new Int32Array(Math.max(1, n * stride)).fill(-7);
    for (let i = 0; i < n; i++) data[i * stride] = r.uniform() < 0.2 ? -1 - r.int(3) : r.int(v);
    return { data, dtype: 'int32', shape: [n], strides: [stride], offset: 0 };
  }

  test('softmaxCrossEntropy (wasm): bit-identical, with ignored rows, equal rows and extreme logits', () => {
    const extremes = [0, -0, 1e30, -1e30, 88, -104, Infinity, -Infinity, Number.NaN, 3.4e38];
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 3, 17, 300), fc.constantFrom(1, 2, 5, 64, 256, 300), seedArb, fc.constantFrom('normal', 'wide', 'extreme'), (n, v, seed, kind) => {
        const r = new Rng(seed + 1);
        const x = view([n, v], 'contiguous', seed, kind === 'normal' ? normal : kind === 'wide' ? (q) => 40 * q.normal() : (q) => q.uniform() < 0.3 ? extremes[q.int(extremes.length)] : 5 * q.normal());
        const data = x.data as Float32Array;
        // A row of equal values, a row of −∞ and one of a single +∞ among finite values.
        if (n >= 3) {
          data.fill(r.normal(), 0, v);
          data.fill(-Infinity, v, 2 * v);
          data[2 * v + r.int(v)] = Infinity;
        }
        const t = targets(n, v, seed + 2, 1 + (seed % 2));
        sameBits('softmaxCrossEntropy', CPU_ACCEL.softmaxCrossEntropy([x, t], {} as never), OPS.softmaxCrossEntropy.cpu([x, t], {}));
      }),
      { numRuns: 120 },
    );
    // Beyond the thread split's threshold (rows over the pool's threads).
    const [n, v] = [1024, 256];
    assert.ok(n * v >= CE_PARALLEL_MIN);
    const x = view([n, v], 'contiguous', 5, (q) => 4 * q.normal());
    const t = targets(n, v, 6);
    sameBits('softmaxCrossEntropy 1024 x 256', CPU_ACCEL.softmaxCrossEntropy([x, t], {} as never), OPS.softmaxCrossEntropy.cpu([x, t], {}));
    // Not covered: strided logits, a target past the row.
    assert.equal(CPU_ACCEL.softmaxCrossEntropy([view([4, 8], 'stepped', 1, normal), targets(4, 8, 2)], {} as never), null);
    const past: CpuView = { data: Int32Array.of(0, 8), dtype: 'int32', shape: [2], strides: [1], offset: 0 };
    assert.equal(CPU_ACCEL.softmaxCrossEntropy([view([2, 8], 'contiguous', 1, normal), past], {} as never), null);
  });

  test('the wasm exp (scalar and two-lane) is Math.exp bit for bit (2 million inputs)', () => {
    const kernel = new WasmCrossEntropy(1);
    const r = new Rng(11);
    const ranges: [number, number][] = [[-60, 0], [-750, 750], [-2, 2], [-1e-6, 1e-6], [-0.7, 0.7], [-745.2, -707]];
    const each = 330_000;
    const src = new Float64Array(ranges.length * each);
    ranges.forEach(([lo, hi], k) => {
      for (let i = 0; i < each; i++) src[k * each + i] = lo + (hi - lo) * r.uniform();
    });
    // Differences of float32 values (the kernel's x − max) and fdlibm's branch edges.
    for (let i = 0; i < 100_000; i++) src[i] = Math.fround(8 * r.normal()) - Math.fround(8 * r.normal() + 10);
    const edges = [Number.NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, -0.5, 709.78, 709.79, -745.13, -745.14, 1e-300, -1e-300, 5e-324,
      0.34657359027997264, 1.0397207708399179, -0.34657359027997264, -1.0397207708399179, 7.09782712893383973096e+02, -7.45133219101941108420e+02, 2 ** -28, -(2 ** -28), -708.3964185322641, -708.4];
    src.set(edges, 100_000);
    const want = src.map(Math.exp);
    // The scalar code (an odd row's last element) and the two-lane code (the rest).
    for (const [name, got] of [['scalar', kernel.exp(src)], ['two-lane', kernel.exp2(src)]] as const) {
      for (let i = 0; i < src.length; i++) {
        if (!Object.is(got[i], want[i])) assert.fail(`${name} exp(${src[i]}): ${got[i]} vs Math.exp ${want[i]}`);
      }
    }
  });

  /** Element `i` (row-major) of a strided view. */
  function at(v: CpuView, i: number): number {
    let p = v.offset;
    for (let a = v.shape.length - 1; a >= 0; a--) {
      p += (i % v.shape[a]) * v.strides[a];
      i = Math.floor(i / v.shape[a]);
    }
    return v.data[p];
  }

  // The two entries below run their rows through small row functions (ops/fused.ts, ops/indexing.ts);
  // each is checked here against a direct model written from its definition.
  test('softmaxCrossEntropyBackward: the entry equals g (p − onehot(t)) per row, bit for bit (ignored rows, broadcast and strided g)', () => {
    fc.assert(
      fc.property(fc.constantFrom(0, 1, 3, 17, 64), fc.constantFrom(1, 2, 5, 256), seedArb, fc.boolean(), (n, v, seed, scalarG) => {
        const p = view([n, v], 'contiguous', seed, (q) => q.uniform());
        const t = targets(n, v, seed + 1, 1 + (seed % 2));
        const g = scalarG ? view([n], 'scalar', seed + 2, normal) : view([n], 'stepped', seed + 2, normal);
        const want = new Float32Array(n * v);
        for (let r = 0; r < n; r++) {
          const target = at(t, r);
          if (target < 0) continue;
          for (let j = 0; j < v; j++) want[r * v + j] = at(g, r) * (at(p, r * v + j) - (j === target ? 1 : 0));
        }
        sameBits('softmaxCrossEntropyBackward', OPS.softmaxCrossEntropyBackward.cpu([p, t, g], {}), want);
      }),
      { numRuns: 100 },
    );
  });

  test('scatterAdd (float32): the entry equals float64 sums rounded once, over shapes, axes, repeated indices and layouts', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(0, 1, 2, 3, 5, 8), { minLength: 1, maxLength: 3 }), fc.constantFrom(0, 1, 4, 9), seedArb, fc.constantFrom(...LAYOUTS), (rest, count, seed, layout) => {
        const r = new Rng(seed);
        const axis = r.int(rest.length + 1);
        const axisSize = 1 + r.int(6);
        const idx = Int32Array.from({ length: count }, () => r.int(axisSize));
        const indices: CpuView = { data: idx, dtype: 'int32', shape: [count], strides: [1], offset: 0 };
        const shape = [...rest.slice(0, axis), count, ...rest.slice(axis)];
        const src = view(shape, layout, seed + 1, normal);
        const outer = sizeOf(rest.slice(0, axis)), inner = sizeOf(rest.slice(axis));
        const sums = new Float64Array(outer * axisSize * inner);
        for (let o = 0; o < outer; o++) {
          for (let i = 0; i < count; i++) for (let j = 0; j < inner; j++) sums[(o * axisSize + idx[i]) * inner + j] += at(src, (o * count + i) * inner + j);
        }
        sameBits('scatterAdd', OPS.scatterAdd.cpu([src, indices], { axis, axisSize }), Float32Array.from(sums));
      }),
      { numRuns: 200 },
    );
    // An index out of range: the entry's error names it.
    const src = view([2, 3], 'contiguous', 1, normal);
    assert.throws(() => OPS.scatterAdd.cpu([src, { data: Int32Array.of(0, 4), dtype: 'int32', shape: [2], strides: [1], offset: 0 }], { axis: 0, axisSize: 4 }), /index 4 at position 1 is out of range for axis 0 of size 4/);
  });

  test('float64 and int32 are left to the reference', () => {
    const x: CpuView = { data: new Float64Array(300), dtype: 'float64', shape: [300], strides: [1], offset: 0 };
    assert.equal(CPU_ACCEL.add([x, x], {} as never), null);
    assert.equal(CPU_ACCEL.exp([x], {} as never), null);
    const i: CpuView = { data: new Int32Array(300), dtype: 'int32', shape: [300], strides: [1], offset: 0 };
    assert.equal(CPU_ACCEL.mul([i, i], {} as never), null);
  });
});
