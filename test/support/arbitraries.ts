/**
 * fast-check arbitraries that generate the inputs of the property suites as plain data (shapes, axis
 * orders, strides, offsets and values), not as a seed into the project's Rng: a failing case then shrinks
 * to a minimal one (fewer and shorter axes, row-major storage, no broadcast or steps, zero offset, constant
 * values) that the report prints in full.
 */
import fc from 'fast-check';

/** Shapes of up to `maxRank` axes of 0..`maxDim` elements. */
export const shapeArb = (maxRank = 4, maxDim = 4): fc.Arbitrary<number[]> => fc.array(fc.integer({ min: 0, max: maxDim }), { minLength: 0, maxLength: maxRank });

/** Values in [0, 1], cycled over an array of any length by {@link cycled}; they shrink towards [0]. */
export const unitValuesArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 16 });

/** `n` values in [lo, hi]: `values` (in [0, 1]) repeated and scaled. */
export function cycled(values: readonly number[], n: number, lo = -2, hi = 2): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => lo + (hi - lo) * values[i % values.length]);
}

/** Sort keys of up to four axes; equal keys (the shrunk case) keep the axes in order. */
export const permutationKeysArb = fc.array(fc.nat(7), { minLength: 4, maxLength: 4 });

/** The axes 0..rank-1 ordered by `keys` (ties by axis): a permutation, the identity when the keys are equal. */
export function permutation(keys: readonly number[], rank: number): number[] {
  return [...Array(rank).keys()].sort((a, b) => keys[a] - keys[b] || a - b);
}

/**
 * How a strided view of any shape (of rank 4 or less) lays out its storage: the axes' storage order
 * (outermost first, from sort keys), which axes are broadcast (stride 0), each axis's step (1 or 2), the
 * innermost stride's base (1 or 2), the offset and trailing padding of the buffer, and the values that fill
 * it (cycled). See `viewOf` in strided.ts.
 */
export interface LayoutChoice {
  order: number[];
  broadcast: boolean[];
  steps: number[];
  base: number;
  offset: number;
  padding: number;
  values: number[];
}

/** Layouts of {@link LayoutChoice}; `broadcast: false` keeps every stride non-zero. */
export function layoutArb(values: fc.Arbitrary<number[]> = unitValuesArb, opts: { broadcast?: boolean } = {}): fc.Arbitrary<LayoutChoice> {
  const four = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T[]> => fc.array(a, { minLength: 4, maxLength: 4 });
  return fc.record({
    order: permutationKeysArb,
    broadcast: opts.broadcast === false ? fc.constant([false, false, false, false]) : four(fc.boolean()),
    steps: four(fc.integer({ min: 1, max: 2 })),
    base: fc.integer({ min: 1, max: 2 }),
    offset: fc.nat(3),
    padding: fc.nat(2),
    values,
  });
}

/**
 * Arrays of `item` with a reordering of the same items: each item carries a sort key, and equal keys keep
 * their order, so a failing case shrinks towards the identity and towards fewer items.
 */
export function shuffledArb<T>(item: fc.Arbitrary<T>, constraints: fc.ArrayConstraints = {}): fc.Arbitrary<{ items: T[]; shuffled: T[] }> {
  return fc.array(fc.tuple(item, fc.nat(1000)), constraints).map((pairs) => ({
    items: pairs.map(([x]) => x),
    shuffled: pairs
      .map(([x, key], i) => ({ x, key, i }))
      .sort((a, b) => a.key - b.key || a.i - b.i)
      .map((p) => p.x),
  }));
}
