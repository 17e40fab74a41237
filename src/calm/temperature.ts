/**
 * Temperature sampling from a black-box sampler, without logits (CALM.md §7): the target is
 * P_T(x) ∝ P(x)^{1/T}. In CALM one sampler call is one head sample decoded to a K-token chunk, so the
 * temperature acts on whole chunks. Outcomes are compared through a string `key`.
 */
import type { Rng } from '../tensor/random.js';

/** Result of {@link exactTemperatureSample}. */
export interface ExactTemperatureResult<X> {
  readonly value: X;
  /** Number of sampler calls spent. */
  readonly calls: number;
}

/** Options of {@link exactTemperatureSample}. */
export interface ExactTemperatureOptions {
  /** Throw once this many sampler calls are spent (the expected cost explodes as T → 0). Default 1e6. */
  readonly maxCalls?: number;
}

/**
 * Splits 1/T into n = ⌊1/T⌋ and α = 1/T − n (CALM.md §7.1 step 1). 1/T is snapped to the nearest integer
 * when within 1e-9 of it, so that e.g. T = 1/49 (1/T = 49.00000000000001 in floating point) gives n = 49,
 * α = 0 and T = 1/93 (1/T = 92.99999999999999) gives n = 93 rather than n = 92, α ≈ 1.
 */
export function splitInverseTemperature(temperature: number, fn = 'splitInverseTemperature'): { n: number; alpha: number } {
  if (!(temperature > 0 && temperature <= 1)) throw new RangeError(`${fn}: temperature must be in (0, 1], got ${temperature}`);
  let inverse = 1 / temperature;
  const nearest = Math.round(inverse);
  if (Math.abs(inverse - nearest) < 1e-9) inverse = nearest;
  const n = Math.floor(inverse);
  return { n, alpha: inverse - n };
}

/**
 * Algorithm 1 of CALM.md §7.1: an exact draw from P^{1/T}/Z using only samples from P.
 *
 * 1. n = ⌊1/T⌋, α = 1/T − n.
 * 2. Draw n samples; unless all are identical, restart. (We stop drawing at the first mismatch: the
 *    remaining draws would be independent and discarded, so the output distribution is unchanged.)
 * 3. If α = 0 return the common value x.
 * 4. Bernoulli factory for probability P(x)^α: for i = 1, 2, …: draw x'; if x' = x accept; otherwise with
 *    probability α/i reject and restart at 2.
 * Rejection at round k has probability q^k |binom(α, k)| with q = 1 − P(x), which sums to 1 − P(x)^α, so
 * x is returned with probability ∝ P(x)^{n+α}.
 */
export function exactTemperatureSample<X>(
  sampler: () => X,
  temperature: number,
  rng: Rng,
  key: (x: X) => string,
  options: ExactTemperatureOptions = {},
): ExactTemperatureResult<X> {
  const { n, alpha } = splitInverseTemperature(temperature, 'exactTemperatureSample');
  const maxCalls = options.maxCalls ?? 1e6;
  if (!(maxCalls >= 1)) throw new RangeError(`exactTemperatureSample: maxCalls must be >= 1, got ${maxCalls}`);
  let calls = 0;
  const draw = (): X => {
    if (calls >= maxCalls) {
      throw new Error(`exactTemperatureSample: exceeded maxCalls = ${maxCalls} sampler calls at T = ${temperature} (n = ${n}, alpha = ${alpha})`);
    }
    calls++;
    return sampler();
  };
  for (;;) {
    // Step 2: integer part, n identical draws.
    const x = draw();
    const xKey = key(x);
    let identical = true;
    for (let i = 1; i < n && identical; i++) identical = key(draw()) === xKey;
    if (!identical) continue;
    if (alpha === 0) return { value: x, calls };
    // Step 4: fractional part, accept with probability P(x)^α.
    for (let i = 1; ; i++) {
      if (key(draw()) === xKey) return { value: x, calls };
      if (rng.uniform() < alpha / i) break; // reject: back to step 2
    }
  }
}

/** Result of {@link batchTemperatureSample}. */
export interface BatchTemperatureResult<X> {
  readonly value: X;
  /** The tuple size m that succeeded (n when some outcome repeats n times; smaller on fallback). */
  readonly usedM: number;
  /** Number of samples drawn. */
  readonly poolSize: number;
}

/** Options of {@link batchTemperatureSample}. */
export interface BatchTemperatureOptions {
  /** Pool size N_pool (reference default 200). */
  readonly poolSize?: number;
}

/**
 * Algorithm 2 of CALM.md §7.2 (the reference's `temperature_sampling`), for T = 1/n only.
 * T = 1: one draw. Otherwise draw a pool, count identical outcomes c_x, and for m = n, n−1, …, 1 pick among
 * {x : c_x ≥ m} with probability ∝ binom(c_x, m) (binom(c_x, n)/binom(N_pool, n) estimates P(x)^n without
 * bias). The fallback m < n keeps the sampler defined when nothing repeats n times; the effective
 * temperature is then higher than requested.
 */
export function batchTemperatureSample<X>(
  drawPool: (size: number) => X[],
  temperature: number,
  rng: Rng,
  key: (x: X) => string,
  options: BatchTemperatureOptions = {},
): BatchTemperatureResult<X> {
  const { n, alpha } = splitInverseTemperature(temperature, 'batchTemperatureSample');
  if (alpha !== 0) throw new RangeError(`batchTemperatureSample: 1/T must be an integer, got T = ${temperature} (1/T = ${1 / temperature})`);
  const poolSize = options.poolSize ?? 200;
  if (!Number.isInteger(poolSize) || poolSize < 1) throw new RangeError(`batchTemperatureSample: poolSize must be a positive integer, got ${poolSize}`);
  if (n === 1) {
    const single = checkedPool(drawPool(1), 1);
    return { value: single[0], usedM: 1, poolSize: 1 };
  }
  const pool = checkedPool(drawPool(poolSize), poolSize);
  const groups = new Map<string, { value: X; count: number }>();
  for (const x of pool) {
    const k = key(x);
    const g = groups.get(k);
    if (g) g.count++;
    else groups.set(k, { value: x, count: 1 });
  }
  const entries = [...groups.values()];
  for (let m = Math.min(n, poolSize); m >= 1; m--) {
    const candidates = entries.filter((g) => g.count >= m);
    if (candidates.length === 0) continue;
    // Weights binom(c, m), in log space relative to the largest (binom(2000, 1000) overflows a double).
    const logWeights = candidates.map((g) => logBinomial(g.count, m));
    const top = Math.max(...logWeights);
    const weights = logWeights.map((lw) => Math.exp(lw - top));
    return { value: candidates[rng.categorical(weights)].value, usedM: m, poolSize };
  }
  throw new Error('batchTemperatureSample: unreachable, m = 1 always has candidates');
}

/** log binom(c, m) for integers 0 ≤ m ≤ c. */
function logBinomial(c: number, m: number): number {
  let s = 0;
  for (let i = 0; i < m; i++) s += Math.log((c - i) / (m - i));
  return s;
}

function checkedPool<X>(pool: X[], size: number): X[] {
  if (!Array.isArray(pool) || pool.length !== size) {
    throw new RangeError(`batchTemperatureSample: drawPool(${size}) returned ${Array.isArray(pool) ? pool.length : typeof pool} samples`);
  }
  return pool;
}
