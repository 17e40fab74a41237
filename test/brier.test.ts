import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Rng } from '../src/tensor/random.js';
import {
  brierTwoSample,
  ngramEqual,
  calmBrierChunkAligned,
  BrierAccumulator,
  brierLMFromMeans,
  arBrierAtPosition,
  calmBrierSmallK,
} from '../src/calm/brier.js';
import { shuffledArb } from './support/arbitraries.js';

/** Naive mean and standard error of the mean (two-pass, independent of BrierAccumulator). */
function meanAndStdError(xs: number[]): { mean: number; se: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, se: Math.sqrt(variance / xs.length) };
}

function normalised(rng: Rng, size: number, power = 1): number[] {
  const w = Array.from({ length: size }, () => rng.uniform() ** power + 1e-3);
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / s);
}

/**
 * A toy bigram chain over a 3-token vocabulary. The context before the evaluated position ends in token
 * `start`; n-gram probabilities are products of transition probabilities, enumerated exactly.
 */
class Bigram {
  readonly vocab = 3;
  readonly rows: Float64Array[];
  constructor(rng: Rng, readonly start: number) {
    // power 3 makes the rows peaked, so accuracy and collision terms are both sizeable.
    this.rows = Array.from({ length: this.vocab }, () => Float64Array.from(normalised(rng, this.vocab, 3)));
  }
  /** Next-token distribution after `prefix` (which follows the context). */
  probsAfter(prefix: readonly number[]): Float64Array {
    return this.rows[prefix.length === 0 ? this.start : prefix[prefix.length - 1]];
  }
  /** `length` tokens drawn from the chain after `prefix`. */
  sample(rng: Rng, prefix: readonly number[], length: number): number[] {
    const path = [...prefix];
    for (let i = 0; i < length; i++) path.push(rng.categorical(this.probsAfter(path)));
    return path.slice(prefix.length);
  }
  probOf(ngram: readonly number[]): number {
    let p = 1;
    for (let j = 0; j < ngram.length; j++) p *= this.probsAfter(ngram.slice(0, j))[ngram[j]];
    return p;
  }
  /** Σ_g P(g)² over all n-grams g, by enumeration. */
  sumSquares(n: number): number {
    let total = 0;
    const count = this.vocab ** n;
    for (let code = 0; code < count; code++) {
      const g: number[] = [];
      for (let j = 0, c = code; j < n; j++, c = Math.floor(c / this.vocab)) g.push(c % this.vocab);
      total += this.probOf(g) ** 2;
    }
    return total;
  }
  /** Exact Brier-n = 2 P(y_{1:n}) − Σ_g P(g)² (CALM.md §6.1). */
  exactBrier(truth: readonly number[], n: number): number {
    return 2 * this.probOf(truth.slice(0, n)) - this.sumSquares(n);
  }
}

/** Asserts each Brier-n sample mean is within 5 standard errors of the exact value. */
function assertUnbiased(draws: Float64Array[], model: Bigram, truth: number[], label: string): void {
  for (let n = 1; n <= 4; n++) {
    const { mean, se } = meanAndStdError(draws.map((d) => d[n - 1]));
    const exact = model.exactBrier(truth, n);
    assert.ok(Math.abs(mean - exact) <= 5 * se + 1e-12, `${label} Brier-${n}: mean ${mean} vs exact ${exact} (se ${se})`);
  }
}

describe('two-sample Brier estimator (CALM.md §6.1)', () => {
  test('hand cases and n-gram equality', () => {
    assert.equal(brierTwoSample(1, 1, 1), 1);
    assert.equal(brierTwoSample(1, 2, 1), 1);
    assert.equal(brierTwoSample(2, 2, 1), -1);
    assert.equal(brierTwoSample(2, 3, 1), 0);
    assert.equal(brierTwoSample([1, 2], [1, 2], [1, 2], ngramEqual), 1);
    assert.equal(ngramEqual([1, 2, 3], [1, 2, 4], 2), true);
    assert.equal(ngramEqual([1, 2, 3], [1, 2, 4]), false);
  });

  test('unbiased for 2 Σ P Q − Σ P² with y ~ Q', () => {
    const rng = new Rng(7);
    const P = normalised(rng, 5);
    const Q = normalised(rng, 5);
    const exact = 2 * P.reduce((s, p, i) => s + p * Q[i], 0) - P.reduce((s, p) => s + p * p, 0);
    const values: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      values.push(brierTwoSample(rng.categorical(P), rng.categorical(P), rng.categorical(Q)));
    }
    const { mean, se } = meanAndStdError(values);
    assert.ok(Math.abs(mean - exact) <= 5 * se, `mean ${mean} vs ${exact} (se ${se})`);
  });
});

describe('chunk-aligned CALM Brier (CALM.md §6.2)', () => {
  test('hand case: running products per n-gram order, K > 4 ignores positions 5..K', () => {
    const truth = [1, 2, 3, 4, 5];
    // sample1 matches the first 3 tokens, sample2 the first 1, they agree on the first 1: n=1: 1+1−1, n=2,3: 1+0−0, n=4: 0.
    assert.deepEqual([...calmBrierChunkAligned([1, 2, 3, 9, 9], [1, 7, 3, 4, 5], truth, 5)], [1, 1, 1, 0]);
    assert.deepEqual([...calmBrierChunkAligned([1, 2, 3, 4, 0], [1, 2, 3, 4, 5], truth, 5)], [1, 1, 1, 1]);
    assert.deepEqual([...calmBrierChunkAligned([1, 2, 3, 4], [1, 2, 3, 4], [0, 2, 3, 4], 4)], [-1, -1, -1, -1]);
  });

  test('rejects K < 4 and wrong lengths', () => {
    assert.throws(() => calmBrierChunkAligned([1, 2], [1, 2], [1, 2], 2), /K >= 4/);
    assert.throws(() => calmBrierChunkAligned([1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4], 4), /length K = 4/);
  });

  for (const truthKind of ['likely', 'drawn'] as const) {
    test(`joint K = 4 chunk draws from a bigram chain are unbiased for Brier-1..4 (${truthKind} truth)`, () => {
      const rng = new Rng(11);
      const model = new Bigram(rng, 0);
      const truth = truthKind === 'likely' ? [0, 0, 0, 0].map((_, j, a) => argmax(model.probsAfter(a.slice(0, j)))) : model.sample(rng, [], 4);
      const draws: Float64Array[] = [];
      for (let i = 0; i < 40_000; i++) draws.push(calmBrierChunkAligned(model.sample(rng, [], 4), model.sample(rng, [], 4), truth, 4));
      assertUnbiased(draws, model, truth, 'CALM K=4');
    });
  }
});

function argmax(p: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i] > p[best]) best = i;
  return best;
}

describe('AR baseline estimator (CALM.md §6.4)', () => {
  test('agrees with the exact n-gram Brier on a bigram chain, n = 1..4', () => {
    const rng = new Rng(12);
    const model = new Bigram(rng, 1);
    for (const truth of [model.sample(rng, [], 4), [0, 1, 2, 0]]) {
      const draws: Float64Array[] = [];
      for (let i = 0; i < 20_000; i++) draws.push(arBrierAtPosition({ truth, probsAt: (prefix) => model.probsAfter(prefix), rng }));
      assertUnbiased(draws, model, truth, `AR truth ${truth}`);
      // Brier-1 has no Monte Carlo part: it is exact on every draw.
      assert.ok(Math.abs(draws[0][0] - model.exactBrier(truth, 1)) < 1e-12);
    }
  });

  test('asks only for prefixes of the truth or of sample 1, and rejects non-distributions', () => {
    const rng = new Rng(13);
    const model = new Bigram(rng, 2);
    const seen: string[] = [];
    arBrierAtPosition({ truth: [0, 0, 0, 0], probsAt: (p) => (seen.push(p.join(',')), model.probsAfter(p)), rng });
    assert.deepEqual(seen.slice(0, 4), ['', '0', '0,0', '0,0,0']);
    assert.ok(seen.length <= 7);
    assert.throws(() => arBrierAtPosition({ truth: [0, 0, 0, 0], probsAt: () => Float64Array.of(0.5, 0.2), rng }), /sums to 0.7/);
  });
});

describe('CALM with K < 4 (CALM.md §6.3)', () => {
  for (const K of [1, 2, 3]) {
    test(`callback scheme is unbiased on a bigram chain, K = ${K}`, () => {
      const rng = new Rng(20 + K);
      const model = new Bigram(rng, 0);
      const truth = [0, 1, 0, 0].map((_, j, a) => (j === 1 ? 1 : argmax(model.probsAfter(a.slice(0, j)))));
      let rolled = 0;
      const draws: Float64Array[] = [];
      for (let i = 0; i < 30_000; i++) {
        draws.push(
          calmBrierSmallK({
            truth,
            K,
            // Teacher forcing: chunk at `offset` follows the true tokens before it.
            sampleChunkTeacherForced: (offset) => model.sample(rng, truth.slice(0, offset * K), K),
            sampleChunkAfter: (prefix) => (rolled++, model.sample(rng, prefix, K)),
          }),
        );
      }
      assertUnbiased(draws, model, truth, `K=${K}`);
      if (K < 4) assert.ok(rolled > 0, 'the collision term must roll forward off the true path');
    });
  }
});

describe('BrierAccumulator and BrierLM (CALM.md §6.1)', () => {
  test('BrierLM = 100 · geometric mean, clipped at 0', () => {
    assert.ok(Math.abs(brierLMFromMeans([0.5, 0.4, 0.3, 0.2]) - 100 * Math.sqrt(Math.sqrt(0.012))) < 1e-12);
    assert.equal(brierLMFromMeans([0.5, -0.1, 0.3, 0.2]), 0);
    // The reference clips only the product, so two negative means would give a positive score;
    // calm-ts clips each mean (documented deviation), so any mean <= 0 gives 0.
    assert.equal(brierLMFromMeans([-0.5, -0.1, 0.3, 0.2]), 0);
    assert.equal(brierLMFromMeans([-0.5, -0.1, -0.3, -0.2]), 0);
  });

  /** Rows of Brier-1..4 values as single draws give them: -1, 0, 1 or 2. */
  const briersArb = fc.tuple(fc.integer({ min: -1, max: 2 }), fc.integer({ min: -1, max: 2 }), fc.integer({ min: -1, max: 2 }), fc.integer({ min: -1, max: 2 }));

  test('means and standard errors match a naive two-pass computation', () => {
    fc.assert(
      fc.property(fc.array(briersArb, { minLength: 2, maxLength: 500 }), (rows) => {
        const acc = new BrierAccumulator();
        for (const r of rows) acc.add(r);
        const mean = acc.mean();
        const se = acc.stdError();
        for (let n = 0; n < 4; n++) {
          const ref = meanAndStdError(rows.map((r) => r[n]));
          assert.ok(Math.abs(mean[n] - ref.mean) < 1e-12 && Math.abs(se[n] - ref.se) < 1e-12, `Brier-${n + 1}: mean ${mean[n]} vs ${ref.mean}, se ${se[n]} vs ${ref.se}`);
        }
        assert.ok(Math.abs(acc.brierLM() - brierLMFromMeans(Array.from(mean))) < 1e-12);
      }),
      { seed: 3, numRuns: 50 },
    );
  });

  test('order invariance (property test)', () => {
    fc.assert(
      fc.property(shuffledArb(briersArb, { minLength: 2, maxLength: 60 }), ({ items, shuffled }) => {
        const a = new BrierAccumulator();
        const b = new BrierAccumulator();
        items.forEach((r) => a.add(r));
        shuffled.forEach((r) => b.add(r));
        const close = (x: number, y: number): boolean => Math.abs(x - y) <= 1e-9 * (1 + Math.abs(x));
        return close(a.brierLM(), b.brierLM()) && a.stdError().every((s, i) => close(s, b.stdError()[i]));
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  test('the delta-method 95 % interval covers the true BrierLM at about the nominal rate, and is not too wide', () => {
    // Truth drawn from the model itself: E[Brier-n] = 2 Σ P² − Σ P² = Σ_g P(g)² > 0 for every n.
    const rng = new Rng(99);
    const model = new Bigram(rng, 0);
    const trueLM = 100 * Math.pow([1, 2, 3, 4].reduce((p, n) => p * model.sumSquares(n), 1), 0.25);
    const replicates = 200;
    let covered = 0;
    const estimates: number[] = [];
    const impliedSe: number[] = [];
    for (let r = 0; r < replicates; r++) {
      const acc = new BrierAccumulator();
      for (let i = 0; i < 1000; i++) {
        acc.add(calmBrierChunkAligned(model.sample(rng, [], 4), model.sample(rng, [], 4), model.sample(rng, [], 4), 4));
      }
      const ci = acc.brierLMInterval();
      assert.ok(ci !== null);
      const estimate = acc.brierLM();
      assert.ok(ci.lower <= estimate && estimate <= ci.upper, `the interval [${ci.lower}, ${ci.upper}] holds its estimate ${estimate}`);
      if (ci.lower <= trueLM && trueLM <= ci.upper) covered++;
      estimates.push(estimate);
      impliedSe.push((ci.upper - ci.lower) / (2 * 1.96));
    }
    // Covered ~ Binomial(200, 0.95): mean 190, sd 3.08; allow 5 sd below (the delta method is approximate).
    assert.ok(covered >= 190 - 5 * 3.08, `coverage ${covered}/${replicates}`);
    // Coverage alone cannot fail for an interval that is too wide (an infinite one covers 200 of 200), so the
    // width is checked too: the standard error it implies must match the spread of the estimates across
    // replicates. That spread is itself estimated from 200 values (relative sd about 5 %); allow ±25 %.
    const spread = meanAndStdError(estimates).se * Math.sqrt(replicates);
    const ratio = meanAndStdError(impliedSe).mean / spread;
    assert.ok(ratio > 0.75 && ratio < 1.25, `interval width implies se ${meanAndStdError(impliedSe).mean.toFixed(4)}, estimates spread ${spread.toFixed(4)} (ratio ${ratio.toFixed(3)})`);
  });

  test('the interval is null when some mean is ≤ 0; too few positions throw', () => {
    const acc = new BrierAccumulator();
    assert.throws(() => acc.brierLM(), /at least 1/);
    acc.add([1, 0, -1, 0]);
    acc.add([1, 0, 0, 0]);
    assert.equal(acc.brierLMInterval(), null);
    assert.equal(acc.brierLM(), 0);
    assert.throws(() => acc.add([1, 2, 3]), /expected 4/);
  });
});
