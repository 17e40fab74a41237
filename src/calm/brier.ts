/**
 * BrierLM: the likelihood-free evaluation metric of CALM (CALM.md §6), as plain TypeScript over token
 * arrays and callbacks. Nothing here touches tensors: a model plugs in through the callbacks of
 * {@link arBrierAtPosition} and {@link calmBrierSmallK}.
 */
import type { Rng } from '../tensor/random.js';

/** Number of n-gram orders in BrierLM (Brier-1 … Brier-4), CALM.md §6.1. */
export const BRIER_ORDERS = 4;

/** True when the first `n` entries of `a` and `b` agree (all entries when `n` is omitted; then lengths must match). */
export function ngramEqual(a: ArrayLike<number>, b: ArrayLike<number>, n?: number): boolean {
  const len = n ?? a.length;
  if (n === undefined && a.length !== b.length) return false;
  if (a.length < len || b.length < len) {
    throw new RangeError(`ngramEqual: n = ${len} exceeds an n-gram length (${a.length}, ${b.length})`);
  }
  for (let k = 0; k < len; k++) if (a[k] !== b[k]) return false;
  return true;
}

/**
 * The unbiased two-sample Brier estimator `1[x1 = y] + 1[x2 = y] − 1[x1 = x2]` (CALM.md §6.1).
 * With x1, x2 independent draws from P its expectation is `2 P(y) − Σ_x P(x)²`; each value lies in [−1, 2].
 * `equal` defaults to `===`; pass {@link ngramEqual} for n-grams stored as arrays.
 */
export function brierTwoSample<X>(x1: X, x2: X, y: X, equal: (a: X, b: X) => boolean = strictEqual): number {
  return (equal(x1, y) ? 1 : 0) + (equal(x2, y) ? 1 : 0) - (equal(x1, x2) ? 1 : 0);
}

function strictEqual<X>(a: X, b: X): boolean {
  return a === b;
}

/**
 * Brier-1..4 contributions of one chunk position for CALM with K ≥ 4 (CALM.md §6.2): `sample1`, `sample2`
 * are two independent joint draws of the K-token chunk, `truth` the true chunk. Brier-n uses the first n
 * positions of the chunk only (chunk-aligned n-grams); for K > 4 positions 5..K are ignored.
 * Returns `[b1, b2, b3, b4]`.
 */
export function calmBrierChunkAligned(
  sample1: ArrayLike<number>,
  sample2: ArrayLike<number>,
  truth: ArrayLike<number>,
  K: number,
): Float64Array {
  if (!Number.isInteger(K) || K < BRIER_ORDERS) {
    throw new RangeError(`calmBrierChunkAligned: needs an integer K >= 4, got K = ${K}; use calmBrierSmallK for K < 4 (CALM.md §6.3)`);
  }
  if (sample1.length !== K || sample2.length !== K || truth.length !== K) {
    throw new RangeError(
      `calmBrierChunkAligned: sample1, sample2, truth must have length K = ${K}, got ${sample1.length}, ${sample2.length}, ${truth.length}`,
    );
  }
  const out = new Float64Array(BRIER_ORDERS);
  // Running products Π_{k<n} 1[·] of CALM.md §6.2, one per term.
  let hit1 = 1;
  let hit2 = 1;
  let collide = 1;
  for (let k = 0; k < BRIER_ORDERS; k++) {
    if (sample1[k] !== truth[k]) hit1 = 0;
    if (sample2[k] !== truth[k]) hit2 = 0;
    if (sample1[k] !== sample2[k]) collide = 0;
    out[k] = hit1 + hit2 - collide;
  }
  return out;
}

/** A confidence interval for BrierLM. */
export interface BrierLMInterval {
  readonly lower: number;
  readonly upper: number;
  /** The standard error of log(BrierLM) by the delta method. */
  readonly logStdError: number;
}

/**
 * Collects per-position Brier-n values (n = 1..4) and summarises them (CALM.md §6.1–6.2).
 * Means, variances and the 4×4 covariance are kept by Welford-style co-moment updates, so nothing grows
 * with the number of positions. The mean over all positions equals "mean over chunks, then over
 * sequences" when every sequence contributes the same number of positions (equal-length blocks).
 */
export class BrierAccumulator {
  private n = 0;
  /** Plain sums: exact (hence order-invariant) for the integer-valued CALM estimator. */
  private readonly sums = new Float64Array(BRIER_ORDERS);
  /** Running means for the co-moment update only. */
  private readonly means = new Float64Array(BRIER_ORDERS);
  /** Co-moments C[i][j] = Σ (x_i − mean_i)(x_j − mean_j), row-major 4×4. */
  private readonly comoments = new Float64Array(BRIER_ORDERS * BRIER_ORDERS);
  private readonly delta = new Float64Array(BRIER_ORDERS);

  /** Adds one position's `[b1, b2, b3, b4]`. */
  add(values: ArrayLike<number>): void {
    if (values.length !== BRIER_ORDERS) {
      throw new RangeError(`BrierAccumulator.add: expected ${BRIER_ORDERS} values (Brier-1..4), got ${values.length}`);
    }
    for (let i = 0; i < BRIER_ORDERS; i++) {
      if (!Number.isFinite(values[i])) throw new RangeError(`BrierAccumulator.add: Brier-${i + 1} value is ${values[i]}`);
    }
    this.n++;
    const inv = 1 / this.n;
    for (let i = 0; i < BRIER_ORDERS; i++) {
      this.sums[i] += values[i];
      this.delta[i] = values[i] - this.means[i];
      this.means[i] += this.delta[i] * inv;
    }
    // C_ij += (x_i − oldMean_i)(x_j − newMean_j)
    for (let i = 0; i < BRIER_ORDERS; i++) {
      for (let j = 0; j < BRIER_ORDERS; j++) {
        this.comoments[i * BRIER_ORDERS + j] += this.delta[i] * (values[j] - this.means[j]);
      }
    }
  }

  /** Number of positions added. */
  get count(): number {
    return this.n;
  }

  /** Mean Brier-1..4 over the positions added. */
  mean(): Float64Array {
    this.requireCount(1, 'mean');
    return this.sums.map((s) => s / this.n);
  }

  /** Standard errors of the four means: sample standard deviation over positions / √count. */
  stdError(): Float64Array {
    this.requireCount(2, 'stdError');
    const out = new Float64Array(BRIER_ORDERS);
    for (let i = 0; i < BRIER_ORDERS; i++) out[i] = Math.sqrt(this.covarianceOfMeans(i, i));
    return out;
  }

  /** BrierLM = 100 · max(Π_n mean Brier-n, 0)^{1/4} (CALM.md §6.1; the reference code omits the ×100). */
  brierLM(): number {
    this.requireCount(1, 'brierLM');
    return brierLMFromMeans(this.mean());
  }

  /**
   * A normal-approximation confidence interval for BrierLM by the delta method on the log:
   * log BrierLM = log 100 + ¼ Σ_n log m_n, so Var ≈ (1/16) Σ_{i,j} Cov(m_i, m_j) / (m_i m_j), using the
   * full 4×4 covariance of the means (the Brier-n of one position are strongly correlated). The interval
   * is BrierLM · exp(±z · se). Returns null when some mean is ≤ 0 (the log is undefined there) — report
   * the per-order means and standard errors instead in that case.
   * @param z the normal quantile, 1.96 for a 95 % interval.
   */
  brierLMInterval(z = 1.96): BrierLMInterval | null {
    this.requireCount(2, 'brierLMInterval');
    const means = this.mean();
    for (let i = 0; i < BRIER_ORDERS; i++) if (!(means[i] > 0)) return null;
    let variance = 0;
    for (let i = 0; i < BRIER_ORDERS; i++) {
      for (let j = 0; j < BRIER_ORDERS; j++) variance += this.covarianceOfMeans(i, j) / (means[i] * means[j]);
    }
    const logStdError = Math.sqrt(Math.max(variance, 0)) / BRIER_ORDERS;
    const centre = this.brierLM();
    return { lower: centre * Math.exp(-z * logStdError), upper: centre * Math.exp(z * logStdError), logStdError };
  }

  private covarianceOfMeans(i: number, j: number): number {
    return this.comoments[i * BRIER_ORDERS + j] / (this.n - 1) / this.n;
  }

  private requireCount(min: number, method: string): void {
    if (this.n < min) throw new Error(`BrierAccumulator.${method}: needs at least ${min} position(s), has ${this.n}`);
  }
}

/**
 * BrierLM from four mean Brier-n values: 100 · (Π_n max(m_n, 0))^{1/4} (CALM.md §6.1).
 *
 * Deviation from the reference, which clips only the product (`max(product, 0)^0.25`): with an even
 * number of negative means that product is positive, so a model that is always wrong could score
 * near 100. A Brier-n mean at or below 0 means the model is no better than chance at that order,
 * and here it makes BrierLM 0. The two agree whenever every mean is positive.
 */
export function brierLMFromMeans(means: ArrayLike<number>): number {
  if (means.length !== BRIER_ORDERS) throw new RangeError(`brierLMFromMeans: expected 4 means, got ${means.length}`);
  let product = 1;
  for (let i = 0; i < BRIER_ORDERS; i++) product *= Math.max(means[i], 0);
  return 100 * Math.pow(product, 1 / BRIER_ORDERS);
}

/** Inputs of {@link arBrierAtPosition}. */
export interface ArBrierInput {
  /** The next 4 true tokens y_i … y_{i+3} after the evaluated position. */
  readonly truth: ArrayLike<number>;
  /**
   * The exact next-token distribution given the teacher-forced context (the true tokens before position i)
   * extended by `prefix` (0..3 tokens). Must be non-negative and sum to 1.
   */
  readonly probsAt: (prefix: readonly number[]) => Float64Array;
  readonly rng: Rng;
}

/**
 * Brier-1..4 at one token position for a discrete autoregressive model (CALM.md §6.4), returned as
 * `[b1, b2, b3, b4]`.
 *
 * - Accuracy term, exact: 2 · Π_{j<n} p(y_{i+j} | y_{<i+j}).
 * - Collision term: two tokens a_j, b_j are drawn per step from p(· | a_{<j}) (sample 1's path); for the
 *   n-gram it is 1[a_{<n−1} = b_{<n−1}] · Σ_v p(v | a_{<n−1})². Since b_j is drawn from the same conditional
 *   as a_j whenever the paths still agree, E[...] = Σ_{prefix} P(prefix)² Σ_v p(v|prefix)² = Σ_g P(g)²,
 *   so each Brier-n is unbiased for 2 P(y_{1:n}) − Σ_g P(g)² over n-grams g. Rolling stops once a ≠ b.
 *
 * While sample 1's path equals the true prefix the distribution already computed for the accuracy term is
 * reused, so a well-predicted position costs at most 4 `probsAt` calls.
 */
export function arBrierAtPosition(input: ArBrierInput): Float64Array {
  const { truth, probsAt, rng } = input;
  if (truth.length < BRIER_ORDERS) throw new RangeError(`arBrierAtPosition: truth needs ${BRIER_ORDERS} tokens, got ${truth.length}`);
  const out = new Float64Array(BRIER_ORDERS);
  // Exact accuracy terms along the true path.
  const truthProbs: Float64Array[] = [];
  const truePrefix: number[] = [];
  let pathProb = 1;
  for (let j = 0; j < BRIER_ORDERS; j++) {
    const probs = checkedProbs(probsAt(truePrefix.slice()), truePrefix, 'arBrierAtPosition');
    truthProbs.push(probs);
    const y = truth[j];
    if (!Number.isInteger(y) || y < 0 || y >= probs.length) {
      throw new RangeError(`arBrierAtPosition: truth[${j}] = ${y} is not a token id in [0, ${probs.length})`);
    }
    pathProb *= probs[y];
    out[j] = 2 * pathProb;
    truePrefix.push(y);
  }
  // Collision terms along sample 1's path.
  const path: number[] = [];
  let onTruthPath = true;
  for (let j = 0; j < BRIER_ORDERS; j++) {
    const probs = onTruthPath ? truthProbs[j] : checkedProbs(probsAt(path.slice()), path, 'arBrierAtPosition');
    out[j] -= sumOfSquares(probs);
    if (j === BRIER_ORDERS - 1) break;
    const a = rng.categorical(probs);
    const b = rng.categorical(probs);
    if (a !== b) break; // diverged: the collision indicator is 0 for every longer n-gram
    path.push(a);
    if (a !== truth[j]) onTruthPath = false;
  }
  return out;
}

function sumOfSquares(p: Float64Array): number {
  let s = 0;
  for (let v = 0; v < p.length; v++) s += p[v] * p[v];
  return s;
}

/** Rejects distributions that are not one (loose tolerance: float32 softmax over a large vocabulary). */
function checkedProbs(p: Float64Array, prefix: readonly number[], fn: string): Float64Array {
  let total = 0;
  for (let v = 0; v < p.length; v++) {
    if (!(p[v] >= 0)) throw new RangeError(`${fn}: probsAt([${prefix.join(', ')}])[${v}] = ${p[v]} is not a probability`);
    total += p[v];
  }
  if (Math.abs(total - 1) > 1e-4) throw new RangeError(`${fn}: probsAt([${prefix.join(', ')}]) sums to ${total}, expected 1`);
  return p;
}

/**
 * Callbacks through which a CALM model with small chunks (K < 4) is evaluated by {@link calmBrierSmallK}.
 * Position t is the chunk being evaluated; offsets count chunks from t. Every call must return a fresh,
 * independent joint draw of K tokens (for CALM: one head sample decoded by argmax, CALM.md §5.4).
 */
export interface SmallKChunkSampler {
  /**
   * A draw of chunk t + `offset` conditioned on the TRUE tokens before it (teacher forcing), offset in
   * [0, ⌈4/K⌉). A model serves these from one teacher-forced pass over the block.
   */
  sampleChunkTeacherForced(offset: number): ArrayLike<number>;
  /**
   * A draw of the chunk that follows the true context before chunk t extended by `prefixTokens`
   * (whole generated chunks, length a positive multiple of K). Needs a genuine roll-forward of the model
   * (e.g. a KV-cached step from position t).
   */
  sampleChunkAfter(prefixTokens: readonly number[]): ArrayLike<number>;
}

/** Inputs of {@link calmBrierSmallK}. */
export interface SmallKBrierInput extends SmallKChunkSampler {
  /** The 4 true tokens starting at chunk t's first token (more are ignored). */
  readonly truth: ArrayLike<number>;
  /** Chunk size K ≥ 1. For K ≥ 4 this reduces to {@link calmBrierChunkAligned}. */
  readonly K: number;
}

/**
 * Brier-1..4 at one chunk start for CALM with K < 4 (CALM.md §6.3), returned as `[b1, b2, b3, b4]`.
 *
 * - Accuracy terms: sample 1 (and, independently, sample 2) is the concatenation of c = ⌈4/K⌉ teacher-forced
 *   chunk draws at offsets 0..c−1. Whenever its first tokens equal the truth, teacher forcing equals
 *   conditioning on the sample, so P(concat_{1:n} = y_{1:n}) = P(y_{1:n}) exactly.
 * - Collision term: A and B are rolled forward along A's path: step j draws both chunks after A's previous
 *   chunks; Π_{k<n} 1[A_k = B_k] then has expectation Σ_g P(g)². Steps stop once A and B differ; the last
 *   step only needs its first 4 − K(c−1) tokens. While A's path equals the true prefix, the teacher-forced
 *   draws at that offset are draws from the same conditional and are reused instead of rolling forward.
 */
export function calmBrierSmallK(input: SmallKBrierInput): Float64Array {
  const { truth, K } = input;
  if (!Number.isInteger(K) || K < 1) throw new RangeError(`calmBrierSmallK: K must be a positive integer, got ${K}`);
  if (truth.length < BRIER_ORDERS) throw new RangeError(`calmBrierSmallK: truth needs ${BRIER_ORDERS} tokens, got ${truth.length}`);
  const steps = Math.ceil(BRIER_ORDERS / K);
  const tf1: ArrayLike<number>[] = [];
  const tf2: ArrayLike<number>[] = [];
  for (let j = 0; j < steps; j++) {
    tf1.push(checkedChunk(input.sampleChunkTeacherForced(j), K, `sampleChunkTeacherForced(${j})`));
    tf2.push(checkedChunk(input.sampleChunkTeacherForced(j), K, `sampleChunkTeacherForced(${j})`));
  }
  const out = new Float64Array(BRIER_ORDERS);
  // Accuracy terms on the concatenated teacher-forced draws.
  let hit1 = 1;
  let hit2 = 1;
  for (let pos = 0; pos < BRIER_ORDERS; pos++) {
    const j = Math.floor(pos / K);
    const k = pos - j * K;
    if (tf1[j][k] !== truth[pos]) hit1 = 0;
    if (tf2[j][k] !== truth[pos]) hit2 = 0;
    out[pos] = hit1 + hit2;
  }
  // Collision term along A's rolled-forward path.
  const pathA: number[] = [];
  let onTruthPath = true;
  let pos = 0;
  for (let j = 0; j < steps && pos < BRIER_ORDERS; j++) {
    let a: ArrayLike<number>;
    let b: ArrayLike<number>;
    if (onTruthPath) {
      a = tf1[j];
      b = tf2[j];
    } else {
      a = checkedChunk(input.sampleChunkAfter(pathA.slice()), K, 'sampleChunkAfter');
      b = checkedChunk(input.sampleChunkAfter(pathA.slice()), K, 'sampleChunkAfter');
    }
    for (let k = 0; k < K && pos < BRIER_ORDERS; k++, pos++) {
      if (a[k] !== b[k]) return out; // diverged: collision indicator 0 from here on
      out[pos] -= 1;
      if (a[k] !== truth[pos]) onTruthPath = false;
      pathA.push(a[k]);
    }
  }
  return out;
}

function checkedChunk(chunk: ArrayLike<number>, K: number, what: string): ArrayLike<number> {
  if (chunk.length !== K) throw new RangeError(`calmBrierSmallK: ${what} returned ${chunk.length} tokens, expected K = ${K}`);
  return chunk;
}
