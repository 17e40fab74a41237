/**
 * Reference levels for a CALM's held-out numbers: what a model that knows no context (a chunk-unigram
 * table) and one that knows only the previous chunk (a chunk-bigram table) score on the same positions,
 * with the same estimators (CALM.md §4.2 energy loss, §6.2 BrierLM). They turn "energy loss 16.2" into
 * "closes 35 % of the way from ignoring the context to a bigram table".
 *
 * The tables are counts of K-aligned chunks of the training stream. BrierLM of a table is exact: for a
 * distribution P over chunks, Brier-n at a position is 2·P_n(y) − Σ_z P_n(z)², where P_n is P marginalised
 * to the first n tokens (§6.1, §6.2) — no sampling. The energy loss is estimated like the model's: N chunks
 * drawn from the table, each encoded by the frozen autoencoder into one posterior sample, against M
 * posterior samples of the true chunk.
 */
import { noGrad } from '../autograd/grad-mode.js';
import { Tensor } from '../autograd/tensor.js';
import { NDArray } from '../tensor/ndarray.js';
import type { Rng } from '../tensor/random.js';
import type { Autoencoder } from './autoencoder.js';
import { BRIER_ORDERS, BrierAccumulator } from './brier.js';
import { chunkTargets, posteriorSamples, type TargetKind } from './calm-model.js';
import { energyLossTerms } from './energy-loss.js';

/** Distributions with at most this many distinct chunks are scored by a plain pass (no sorted index). */
const SCAN_LIMIT = 256;

/** A categorical distribution over chunks: the distinct chunks seen and how often. */
export class ChunkDistribution {
  private cumulative: Float64Array | null = null;
  private squareSums: Float64Array | null = null;
  private sorted: { order: Int32Array; cumulative: Float64Array } | null = null;

  constructor(
    readonly K: number,
    /** Distinct chunks, [count, K] row-major. */
    readonly chunks: Int32Array,
    readonly counts: Float64Array,
    readonly total: number,
  ) {}

  get size(): number {
    return this.counts.length;
  }

  /** One chunk drawn with probability count / total. */
  sample(rng: Rng): Int32Array {
    if (this.cumulative === null) {
      this.cumulative = new Float64Array(this.size);
      let run = 0;
      for (let i = 0; i < this.size; i++) this.cumulative[i] = run += this.counts[i];
    }
    const r = rng.uniform() * this.total;
    let lo = 0;
    let hi = this.size - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulative[mid] > r) hi = mid;
      else lo = mid + 1;
    }
    return this.chunks.subarray(lo * this.K, (lo + 1) * this.K);
  }

  /** Exact Brier-1..4 of this distribution at a position whose true chunk starts with `truth` (CALM.md §6.2). */
  exactBrier(truth: ArrayLike<number>): Float64Array {
    if (this.K < BRIER_ORDERS) throw new RangeError(`ChunkDistribution.exactBrier: chunk-aligned Brier-1..${BRIER_ORDERS} needs K >= ${BRIER_ORDERS}, got K = ${this.K}`);
    const squares = this.squares();
    const hits = this.prefixCounts(truth); // P_n(y) · total
    const out = new Float64Array(BRIER_ORDERS);
    for (let n = 0; n < BRIER_ORDERS; n++) out[n] = (2 * hits[n]) / this.total - squares[n];
    return out;
  }

  /** P_1(y) … P_K(y): the probability that a draw's first n tokens equal those of `truth` (K ids), n = 1 … K. */
  prefixProbabilities(truth: ArrayLike<number>): Float64Array {
    return this.prefixCounts(truth).map((hits) => hits / this.total);
  }

  /** hits[k]: total count of the chunks whose first k + 1 tokens equal truth's, k = 0 … K − 1. */
  private prefixCounts(truth: ArrayLike<number>): Float64Array {
    return this.size > SCAN_LIMIT ? this.prefixCountsSorted(truth) : this.prefixCountsScan(truth);
  }

  /** {@link prefixCounts} by one pass over all chunks. */
  private prefixCountsScan(truth: ArrayLike<number>): Float64Array {
    const hits = new Float64Array(this.K);
    for (let i = 0; i < this.size; i++) {
      for (let k = 0; k < this.K; k++) {
        if (this.chunks[i * this.K + k] !== truth[k]) break;
        hits[k] += this.counts[i];
      }
    }
    return hits;
  }

  /**
   * The same counts by binary search over the chunks sorted by their tokens: a BPE vocabulary has
   * hundreds of thousands of distinct chunks, where a pass per position would dominate `calm eval`. Counts
   * are integers, so both ways give identical sums.
   */
  private prefixCountsSorted(truth: ArrayLike<number>): Float64Array {
    const { order, cumulative } = this.sortedIndex();
    const K = this.K;
    const token = (rank: number, k: number): number => this.chunks[order[rank] * K + k];
    const hits = new Float64Array(K);
    let lo = 0;
    let hi = this.size;
    for (let k = 0; k < K && lo < hi; k++) {
      // Inside [lo, hi) the first k tokens equal truth's, so token k is sorted: narrow to truth[k].
      const y = truth[k];
      let a = lo;
      let b = hi;
      while (a < b) {
        const mid = (a + b) >> 1;
        if (token(mid, k) < y) a = mid + 1;
        else b = mid;
      }
      let c = a;
      b = hi;
      while (c < b) {
        const mid = (c + b) >> 1;
        if (token(mid, k) <= y) c = mid + 1;
        else b = mid;
      }
      lo = a;
      hi = c;
      hits[k] = cumulative[hi] - cumulative[lo];
    }
    return hits;
  }

  /** Chunk indices in lexicographic order of their tokens, and the running sum of their counts. */
  private sortedIndex(): { order: Int32Array; cumulative: Float64Array } {
    if (this.sorted !== null) return this.sorted;
    const K = this.K;
    const order = Int32Array.from({ length: this.size }, (_, i) => i);
    order.sort((a, b) => {
      for (let k = 0; k < K; k++) {
        const d = this.chunks[a * K + k] - this.chunks[b * K + k];
        if (d !== 0) return d;
      }
      return 0;
    });
    const cumulative = new Float64Array(this.size + 1);
    for (let r = 0; r < this.size; r++) cumulative[r + 1] = cumulative[r] + this.counts[order[r]];
    return (this.sorted = { order, cumulative });
  }

  /** Σ_z P_n(z)² for n = 1..4: the collision probability of two draws' first n tokens. */
  private squares(): Float64Array {
    if (this.squareSums !== null) return this.squareSums;
    const sums = new Float64Array(BRIER_ORDERS);
    for (let n = 1; n <= BRIER_ORDERS; n++) {
      const byPrefix = new Map<string, number>();
      for (let i = 0; i < this.size; i++) {
        const key = chunkKey(this.chunks.subarray(i * this.K, i * this.K + n));
        byPrefix.set(key, (byPrefix.get(key) ?? 0) + this.counts[i]);
      }
      let s = 0;
      for (const c of byPrefix.values()) s += (c / this.total) ** 2;
      sums[n - 1] = s;
    }
    return (this.squareSums = sums);
  }
}

function chunkKey(ids: ArrayLike<number>): string {
  return Array.prototype.join.call(ids, ',');
}

function toDistribution(K: number, counts: Map<string, number>): ChunkDistribution {
  const chunks = new Int32Array(counts.size * K);
  const values = new Float64Array(counts.size);
  let i = 0;
  let total = 0;
  for (const [key, count] of counts) {
    key.split(',').forEach((v, k) => (chunks[i * K + k] = Number(v)));
    values[i++] = count;
    total += count;
  }
  return new ChunkDistribution(K, chunks, values, total);
}

/**
 * Chunk-unigram and chunk-bigram count tables over the K-aligned chunks of a token stream. The bigram
 * backs off to the unigram after a chunk that never occurred in training.
 */
export class ChunkTables {
  readonly unigram: ChunkDistribution;
  private readonly following: Map<string, Map<string, number>>;
  private readonly unigramCounts: Map<string, number>;
  private readonly cache = new Map<string, ChunkDistribution>();

  private constructor(
    readonly K: number,
    unigram: Map<string, number>,
    following: Map<string, Map<string, number>>,
  ) {
    this.unigram = toDistribution(K, unigram);
    this.unigramCounts = unigram;
    this.following = following;
  }

  /** Whether `chunk` (K ids) occurs among the counted chunks. */
  isKnown(chunk: ArrayLike<number>): boolean {
    return this.unigramCounts.has(chunkKey(chunk));
  }

  /** Counts over chunks tokens[iK … iK+K−1] of `tokens` (a trailing partial chunk is dropped). */
  static fromTokens(tokens: Int32Array, K: number): ChunkTables {
    if (!Number.isInteger(K) || K < 1) throw new RangeError(`ChunkTables.fromTokens: K must be a positive integer, got ${K}`);
    const chunks = Math.floor(tokens.length / K);
    if (chunks < 2) throw new RangeError(`ChunkTables.fromTokens: ${tokens.length} tokens hold fewer than 2 chunks of K = ${K}`);
    const unigram = new Map<string, number>();
    const following = new Map<string, Map<string, number>>();
    let prev = '';
    for (let c = 0; c < chunks; c++) {
      const key = chunkKey(tokens.subarray(c * K, (c + 1) * K));
      unigram.set(key, (unigram.get(key) ?? 0) + 1);
      if (c > 0) {
        let next = following.get(prev);
        if (next === undefined) following.set(prev, (next = new Map()));
        next.set(key, (next.get(key) ?? 0) + 1);
      }
      prev = key;
    }
    return new ChunkTables(K, unigram, following);
  }

  /** The distribution of the chunk after `prev` (the unigram when `prev` was never seen followed). */
  bigram(prev: ArrayLike<number>): ChunkDistribution {
    const key = chunkKey(prev);
    const counts = this.following.get(key);
    if (counts === undefined) return this.unigram;
    let dist = this.cache.get(key);
    if (dist === undefined) this.cache.set(key, (dist = toDistribution(this.K, counts)));
    return dist;
  }
}

/** One reference model's scores on the evaluation positions. */
export interface LevelScore {
  /** Mean energy loss (CALM.md §4.2) and its standard error over positions. */
  readonly energyLoss: number;
  readonly energyLossStdError: number;
  /** Exact mean Brier-1..4 over the positions (K ≥ 4), with standard errors over positions. */
  readonly brier: number[];
  readonly brierStdError: number[];
  /** 100 · geomean of the four means (each clipped at 0), CALM.md §6.1. */
  readonly brierLM: number;
  readonly brierLMInterval: { lower: number; upper: number } | null;
}

/** Both reference levels and where they were measured. */
export interface ReferenceLevels {
  readonly unigram: LevelScore;
  readonly bigram: LevelScore;
  /** Positions scored (chunks 1 … T−1 of every block). */
  readonly positions: number;
  readonly blockSize: number;
  readonly blocks: number;
  readonly note: string;
}

/** Options of {@link referenceLevels}. */
export interface ReferenceLevelOptions {
  /** Table draws N per position for the energy loss (use the model's). */
  readonly nSamples: number;
  /** Posterior target samples M per position (use the model's). */
  readonly targetSamples: number;
  readonly rng: Rng;
  /** Target kind of the model these levels are compared with (default 'posterior'). */
  readonly targets?: TargetKind;
  /** Blocks encoded per batch (bounds memory; default 64). */
  readonly batchBlocks?: number;
}

/** Running mean and standard error of per-position values. */
export class MeanAccumulator {
  private n = 0;
  private mean = 0;
  private m2 = 0;

  add(x: number): void {
    this.n++;
    const d = x - this.mean;
    this.mean += d / this.n;
    this.m2 += d * (x - this.mean);
  }

  get count(): number {
    return this.n;
  }

  get value(): number {
    return this.n === 0 ? NaN : this.mean;
  }

  get stdError(): number {
    return this.n < 2 ? NaN : Math.sqrt(this.m2 / (this.n - 1) / this.n);
  }
}

/**
 * Energy loss per position of chunk draws `drawn` [P·N, K] against the true chunks `truth` [P, K], both
 * through the frozen autoencoder's posterior (CALM.md §3.3, §4.2). Returns P values.
 */
function tableEnergyPerPosition(autoencoder: Autoencoder, drawn: Int32Array, truth: Int32Array, n: number, m: number, kind: TargetKind, rng: Rng): Float64Array {
  const K = autoencoder.config.K;
  const p = truth.length / K;
  return noGrad(() => {
    const ids = (a: Int32Array): Tensor => new Tensor(NDArray.fromData(a, [a.length / K, K], 'int32'));
    const x = autoencoder.encode(ids(drawn)); // [P·N, l] each
    const l = x.mu.shape[1];
    // One posterior sample per draw, or its μ when the targets are μ (the table then predicts like a model would).
    const samples = (kind === 'mean' ? x.mu : posteriorSamples(x.mu, x.logSigma, 1, rng)).reshape([p, n, l]); // [P, N, l]
    const y = autoencoder.encode(ids(truth)); // [P, l] each
    const targets = chunkTargets(y.mu, y.logSigma, kind, m, rng); // [P, M, l] or [P, 1, l]
    return Float64Array.from(energyLossTerms(samples, targets).perPosition.toTypedArray());
  });
}

/**
 * Scores the chunk-unigram and chunk-bigram tables on held-out blocks `ids` (whole blocks of `blockSize`
 * tokens, a multiple of K ≥ 4), at the positions a CALM is scored on: chunk t + 1 given chunks 0 … t.
 */
export function referenceLevels(tables: ChunkTables, autoencoder: Autoencoder, ids: Int32Array, blockSize: number, o: ReferenceLevelOptions): ReferenceLevels {
  const K = tables.K;
  if (autoencoder.config.K !== K) throw new RangeError(`referenceLevels: the tables have K = ${K}, the autoencoder K = ${autoencoder.config.K}`);
  if (K < BRIER_ORDERS) throw new RangeError(`referenceLevels: exact chunk-aligned BrierLM needs K >= ${BRIER_ORDERS}, got K = ${K}`);
  if (blockSize % K !== 0 || blockSize < 2 * K || ids.length === 0 || ids.length % blockSize !== 0) {
    throw new RangeError(`referenceLevels: ${ids.length} ids do not split into blocks of ${blockSize} tokens with at least 2 chunks of K = ${K}`);
  }
  const blocks = ids.length / blockSize;
  const t = blockSize / K;
  const batchBlocks = o.batchBlocks ?? 64;
  const { nSamples: n, targetSamples: m, rng } = o;
  const models = { unigram: { brier: new BrierAccumulator(), energy: new MeanAccumulator() }, bigram: { brier: new BrierAccumulator(), energy: new MeanAccumulator() } };
  for (let b0 = 0; b0 < blocks; b0 += batchBlocks) {
    const count = Math.min(batchBlocks, blocks - b0);
    const p = count * (t - 1);
    const truth = new Int32Array(p * K);
    const drawn = { unigram: new Int32Array(p * n * K), bigram: new Int32Array(p * n * K) };
    let pos = 0;
    for (let b = b0; b < b0 + count; b++) {
      const block = ids.subarray(b * blockSize, (b + 1) * blockSize);
      for (let s = 1; s < t; s++, pos++) {
        const chunk = block.subarray(s * K, (s + 1) * K);
        truth.set(chunk, pos * K);
        const dists = { unigram: tables.unigram, bigram: tables.bigram(block.subarray((s - 1) * K, s * K)) };
        for (const name of ['unigram', 'bigram'] as const) {
          models[name].brier.add(dists[name].exactBrier(chunk));
          for (let j = 0; j < n; j++) drawn[name].set(dists[name].sample(rng), (pos * n + j) * K);
        }
      }
    }
    for (const name of ['unigram', 'bigram'] as const) {
      for (const e of tableEnergyPerPosition(autoencoder, drawn[name], truth, n, m, o.targets ?? 'posterior', rng)) models[name].energy.add(e);
    }
  }
  const score = (r: { brier: BrierAccumulator; energy: MeanAccumulator }): LevelScore => {
    const interval = r.brier.count >= 2 ? r.brier.brierLMInterval(1.96) : null;
    return {
      energyLoss: r.energy.value,
      energyLossStdError: r.energy.stdError,
      brier: Array.from(r.brier.mean()),
      brierStdError: Array.from(r.brier.stdError()),
      brierLM: r.brier.brierLM(),
      brierLMInterval: interval === null ? null : { lower: interval.lower, upper: interval.upper },
    };
  };
  return {
    unigram: score(models.unigram),
    bigram: score(models.bigram),
    positions: blocks * (t - 1),
    blockSize,
    blocks,
    note: `count tables of the ${K}-aligned training chunks; BrierLM exact (2·P_n(y) − Σ P_n²), energy loss with N = ${n} table draws and ${o.targets === 'mean' ? 'the posterior mean μ as target' : `M = ${m} posterior targets`} per position`,
  };
}

/**
 * (unigram − model) / (unigram − bigram) on the energy loss: 0 at the unigram level, 1 at the bigram's. NaN
 * when the bigram table does not beat the unigram table: then there is no gap, and the ratio's sign would
 * flip (a model worse than the unigram would read as progress). That happens with BPE chunks, whose bigram
 * counts are mostly single observations: the table then predicts one seen successor with certainty.
 */
export function gapClosed(modelEnergy: number, levels: Pick<ReferenceLevels, 'unigram' | 'bigram'>): number {
  const gap = levels.unigram.energyLoss - levels.bigram.energyLoss;
  if (!(gap > 0)) return NaN;
  return (levels.unigram.energyLoss - modelEnergy) / gap;
}
