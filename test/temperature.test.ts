import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/tensor/random.js';
import { exactTemperatureSample, batchTemperatureSample, splitInverseTemperature } from '../src/calm/temperature.js';

const P = [0.5, 0.3, 0.15, 0.05];
const key = (x: number): string => String(x);

/** P^{1/T} / Z (CALM.md §7). */
function tempered(p: number[], temperature: number): number[] {
  const w = p.map((x) => x ** (1 / temperature));
  const z = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / z);
}

/** Standard normal quantile, Acklam's rational approximation (relative error < 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const tail = (q: number): number =>
    (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** Chi-square quantile by the Wilson–Hilferty approximation (a cross-check; ~2 % high at df = 3). */
function wilsonHilferty(df: number, p: number): number {
  const h = 2 / (9 * df);
  return df * (1 - h + normalQuantile(p) * Math.sqrt(h)) ** 3;
}

/** Chi-square CDF = regularised lower gamma P(df/2, x/2), by its power series x^s e^-x Σ x^k / Γ(s+k+1). */
function chiSquareCdf(df: number, x: number): number {
  const s = df / 2;
  const y = x / 2;
  // Γ(s + 1) by the recurrence from Γ(1) = 1 or Γ(1/2) = √π (df is an integer).
  let gamma = df % 2 === 0 ? 1 : Math.sqrt(Math.PI);
  for (let a = df % 2 === 0 ? 1 : 0.5; a < s + 1; a++) gamma *= a;
  let term = 1 / gamma;
  let sum = term;
  for (let k = 1; k < 500; k++) {
    term *= y / (s + k);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return Math.pow(y, s) * Math.exp(-y) * sum;
}

/** Chi-square quantile by bisection on the exact CDF. */
function chiSquareQuantile(df: number, p: number): number {
  let lo = 0;
  let hi = 10 * df + 100;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (chiSquareCdf(df, mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

describe('exact temperature sampler, Algorithm 1 (CALM.md §7.1)', () => {
  test('quantile helpers agree with tables and with Wilson–Hilferty', () => {
    assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-5);
    assert.ok(Math.abs(chiSquareQuantile(3, 0.999) - 16.266) < 1e-3); // table value
    assert.ok(Math.abs(chiSquareQuantile(3, 0.95) - 7.815) < 1e-3);
    assert.ok(Math.abs(chiSquareQuantile(2, 0.99) - -2 * Math.log(0.01)) < 1e-9); // df 2: closed form
    assert.ok(Math.abs(wilsonHilferty(3, 0.999) / chiSquareQuantile(3, 0.999) - 1) < 0.03);
  });

  const critical = chiSquareQuantile(P.length - 1, 0.999); // significance 0.001, df = 3
  for (const temperature of [1, 0.7, 0.5, 0.4]) {
    test(`frequencies match P^(1/T)/Z at T = ${temperature} (chi-square, df 3, alpha 0.001)`, () => {
      const rng = new Rng(1000 + temperature * 10);
      const sampler = (): number => rng.categorical(P);
      const draws = 20_000;
      const counts = [0, 0, 0, 0];
      for (let i = 0; i < draws; i++) counts[exactTemperatureSample(sampler, temperature, rng, key).value]++;
      const expected = tempered(P, temperature).map((q) => q * draws);
      const chi2 = counts.reduce((s, o, i) => s + (o - expected[i]) ** 2 / expected[i], 0);
      assert.ok(chi2 < critical, `T = ${temperature}: chi2 ${chi2.toFixed(2)} >= ${critical.toFixed(2)}; counts ${counts}`);
    });
  }

  test('1/T is snapped to an integer: T = 1/49 gives n = 49, alpha = 0; T = 1/93 gives n = 93', () => {
    // In floating point 1/(1/49) = 49.00000000000001 and 1/(1/93) = 92.99999999999999.
    assert.deepEqual(splitInverseTemperature(1 / 49), { n: 49, alpha: 0 });
    assert.deepEqual(splitInverseTemperature(1 / 93), { n: 93, alpha: 0 });
    assert.deepEqual(splitInverseTemperature(0.5), { n: 2, alpha: 0 });
    const { n, alpha } = splitInverseTemperature(0.4);
    assert.equal(n, 2);
    assert.ok(Math.abs(alpha - 0.5) < 1e-12);
    // A constant sampler is accepted after exactly n calls when alpha = 0 (no fractional draw).
    const rng = new Rng(5);
    assert.equal(exactTemperatureSample(() => 7, 1 / 49, rng, key).calls, 49);
  });

  test('validates T and stops at maxCalls with a clear error', () => {
    const rng = new Rng(6);
    assert.throws(() => exactTemperatureSample(() => 1, 0, rng, key), /\(0, 1\]/);
    assert.throws(() => exactTemperatureSample(() => 1, 1.5, rng, key), /\(0, 1\]/);
    assert.throws(() => exactTemperatureSample(() => 1, Number.NaN, rng, key), /\(0, 1\]/);
    let counter = 0;
    // All outcomes distinct: the integer part never succeeds for n >= 2.
    assert.throws(() => exactTemperatureSample(() => counter++, 0.5, rng, key, { maxCalls: 1000 }), /maxCalls = 1000/);
    assert.equal(counter, 1000);
  });
});

describe('batch temperature sampler, Algorithm 2 (CALM.md §7.2)', () => {
  for (const n of [2, 3]) {
    test(`large pools approach P^n/Z (n = ${n}, pool 2000)`, () => {
      const rng = new Rng(300 + n);
      const drawPool = (size: number): number[] => {
        const out = new Array<number>(size);
        for (let i = 0; i < size; i++) out[i] = rng.categorical(P);
        return out;
      };
      const selections = 3000;
      const poolSize = 2000;
      const counts = [0, 0, 0, 0];
      for (let s = 0; s < selections; s++) {
        const r = batchTemperatureSample(drawPool, 1 / n, rng, key, { poolSize });
        assert.equal(r.usedM, n);
        counts[r.value]++;
      }
      const target = tempered(P, 1 / n);
      // Tolerance = 5 binomial standard errors + the ratio estimator's bias, which is O(1/poolSize):
      // a pilot run (60k selections at pools 50 and 200) measured |bias| · poolSize <= 0.53 (n = 2) and
      // <= 1.4 (n = 3), so n / poolSize bounds it.
      for (let i = 0; i < P.length; i++) {
        const freq = counts[i] / selections;
        const tol = 5 * Math.sqrt((target[i] * (1 - target[i])) / selections) + n / poolSize;
        assert.ok(Math.abs(freq - target[i]) <= tol, `outcome ${i}: ${freq} vs ${target[i]} (tol ${tol})`);
      }
    });
  }

  test('selection is proportional to binom(c, m) (deterministic pool)', () => {
    // Pool a×3, b×4 at n = 3: weights binom(3,3) = 1 and binom(4,3) = 4, so P(b) = 0.8.
    const rng = new Rng(8);
    const pool = ['a', 'a', 'a', 'b', 'b', 'b', 'b'];
    let b = 0;
    const trials = 20_000;
    for (let i = 0; i < trials; i++) {
      const r = batchTemperatureSample(() => pool.slice(), 1 / 3, rng, (x) => x, { poolSize: pool.length });
      assert.equal(r.usedM, 3);
      if (r.value === 'b') b++;
    }
    const se = Math.sqrt((0.8 * 0.2) / trials);
    assert.ok(Math.abs(b / trials - 0.8) <= 5 * se, `P(b) = ${b / trials}`);
  });

  test('falls back to m < n when nothing repeats n times', () => {
    const rng = new Rng(9);
    let counter = 0;
    const distinct = (size: number): number[] => Array.from({ length: size }, () => counter++);
    const r = batchTemperatureSample(distinct, 0.5, rng, key, { poolSize: 10 });
    assert.equal(r.usedM, 1);
    assert.ok(r.value >= 0 && r.value < 10);
    // One pair only, n = 3: m = 2 picks the pair.
    const pair = batchTemperatureSample(() => ['x', 'y', 'x', 'z'], 1 / 3, rng, (x) => x, { poolSize: 4 });
    assert.deepEqual([pair.usedM, pair.value], [2, 'x']);
  });

  test('T = 1 draws one sample; non-integer 1/T and short pools throw', () => {
    const rng = new Rng(10);
    const r = batchTemperatureSample((size) => Array.from({ length: size }, () => 4), 1, rng, key);
    assert.deepEqual([r.value, r.usedM, r.poolSize], [4, 1, 1]);
    assert.throws(() => batchTemperatureSample(() => [1], 0.4, rng, key), /1\/T must be an integer/);
    assert.throws(() => batchTemperatureSample(() => [1, 2], 0.5, rng, key, { poolSize: 5 }), /returned 2 samples/);
  });
});
