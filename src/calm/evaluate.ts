/**
 * BrierLM evaluation of a trained model on blocks of held-out tokens (CALM.md §6): CALM with K ≥ 4
 * (chunk-aligned n-grams, §6.2), CALM with K < 4 (§6.3) and the discrete Transformer baseline (§6.4).
 * Every number comes with the protocol that produced it (block size, positions, samples), because the
 * block size alone moves BrierLM by ~30 % (§6.5).
 *
 * The estimators in ./brier.ts see a model only through two small sampler interfaces defined here,
 * {@link CalmSampler} and {@link ArSampler}; {@link calmSampler} and {@link transformerSampler} implement
 * them for the real models (teacher-forced pass once per block, KV cache for roll-forwards).
 */
import { noGrad } from '../autograd/grad-mode.js';
import { Tensor } from '../autograd/tensor.js';
import { KVCache } from '../nn/attention.js';
import type { TransformerLM } from '../nn/transformer-lm.js';
import { memoryScope } from '../tensor/memory.js';
import { NDArray } from '../tensor/ndarray.js';
import type { Rng } from '../tensor/random.js';
import { checkAutoencoderMatch, type Autoencoder } from './autoencoder.js';
import { arBrierAtPosition, BRIER_ORDERS, BrierAccumulator, calmBrierChunkAligned, calmBrierSmallK } from './brier.js';
import type { CalmModel, TargetKind } from './calm-model.js';
import { drawQuality, formatDrawQuality, type DrawQuality } from './draw-quality.js';
import { ChunkTables, gapClosed, MeanAccumulator, referenceLevels, type ReferenceLevels } from './reference-levels.js';

// ------------------------------------------------------------------ results

/** How a BrierLM number was obtained: report it with every number (CALM.md §6.5). */
export interface BrierProtocol {
  /** 'calm' or 'transformer'. */
  readonly family: 'calm' | 'transformer';
  /** Which estimator of CALM.md §6 was used. */
  readonly estimator: 'chunk-aligned §6.2' | 'small-K §6.3' | 'autoregressive §6.4';
  /** Tokens per chunk (1 for the Transformer). */
  readonly K: number;
  /** Tokens per evaluation block (the context the model sees is at most this). */
  readonly blockSize: number;
  readonly blocks: number;
  /** What a position is: a chunk start (CALM) or a token (Transformer). */
  readonly positionUnit: 'chunk' | 'token';
  readonly positionsPerBlock: number;
  /** Total positions scored = blocks × positionsPerBlock. */
  readonly positions: number;
  /**
   * Model samples per position: CALM, decoded head samples per predicted chunk (2 per draw site; §6.3 draws
   * 2 per teacher-forced offset plus roll-forwards); Transformer, 2 sampled tokens per step of the collision
   * path (the accuracy term is exact).
   */
  readonly samplesPerPosition: number;
  readonly samplingNote: string;
  /** Always 1: raw samples (CALM.md §6.5). */
  readonly temperature: 1;
  readonly split: string;
  readonly seed: number;
}

/** The result of one BrierLM evaluation. */
export interface BrierEvaluation {
  /** Mean Brier-1..4 over the positions. */
  readonly brier: number[];
  /** Standard errors of the four means (spread over positions / √positions). */
  readonly stdError: number[];
  /** 100 · geomean(Brier-1..4) (CALM.md §6.1); 0 when any mean Brier-n is ≤ 0. */
  readonly brierLM: number;
  /** 95 % interval by the delta method over the per-position spread; null when some mean is ≤ 0. */
  readonly interval: { readonly lower: number; readonly upper: number; readonly z: number } | null;
  readonly protocol: BrierProtocol;
  /** Extra model calls spent on roll-forwards (§6.3 / §6.4 collision terms). */
  readonly rollForwardCalls: number;
  readonly seconds: number;
}

/** Common options of the evaluations. */
export interface EvaluateOptions {
  readonly rng: Rng;
  /** Recorded in the protocol (default 'valid'). */
  readonly split?: string;
  /** Recorded in the protocol (default 0): the seed `rng` was created from. */
  readonly seed?: number;
}

function summarise(acc: BrierAccumulator, protocol: BrierProtocol, rollForwardCalls: number, started: number): BrierEvaluation {
  const z = 1.96;
  const interval = acc.count >= 2 ? acc.brierLMInterval(z) : null;
  const means = Array.from(acc.mean());
  return {
    brier: means,
    stdError: acc.count >= 2 ? Array.from(acc.stdError()) : [NaN, NaN, NaN, NaN],
    brierLM: acc.brierLM(), // each mean clipped at 0 (brier.ts)
    interval: interval === null ? null : { lower: interval.lower, upper: interval.upper, z },
    protocol,
    rollForwardCalls,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Blocks per batched model pass in {@link evaluateCalmBrier}. */
const BATCH_BLOCKS = 64;

/** Checks that `ids` holds `count` blocks of `blockSize` ids and returns the count. */
function blockCount(fn: string, ids: Int32Array, blockSize: number): number {
  if (!Number.isInteger(blockSize) || blockSize < 1 || ids.length === 0 || ids.length % blockSize !== 0) {
    throw new RangeError(`${fn}: ${ids.length} ids do not split into whole blocks of ${blockSize}`);
  }
  return ids.length / blockSize;
}

// ------------------------------------------------------------------ CALM

/** One evaluation block as seen by a CALM model. Chunk s of the block is tokens s·K … s·K + K − 1. */
export interface CalmBlockSampler {
  /**
   * Teacher-forced draws: for every chunk position s = 0 … T−1, `count` independent draws of chunk s + 1
   * given the true chunks 0 … s (one head sample decoded by argmax each, CALM.md §5). Int32 [T, count, K].
   */
  teacherForcedDraws(count: number): Int32Array;
  /**
   * One fresh draw of the chunk that follows the true chunks 0 … t−1 and then `prefixTokens` (whole chunks):
   * a genuine roll-forward of the model. Int32 [K].
   */
  drawAfter(t: number, prefixTokens: readonly number[]): ArrayLike<number>;
}

/** A CALM model as the evaluation sees it. */
export interface CalmSampler {
  readonly K: number;
  /** Starts one block of T·K true ids. */
  begin(block: Int32Array): CalmBlockSampler;
  /**
   * Optional batched form of {@link CalmBlockSampler.teacherForcedDraws} over several blocks at once
   * (`blocks` holds whole blocks of `blockSize` ids): int32 [blocks, T, count, K]. Used for K ≥ 4, where
   * teacher-forced draws are all the estimator needs; one batched pass is much cheaper than a pass per block.
   */
  teacherForcedBatch?(blocks: Int32Array, blockSize: number, count: number): Int32Array;
}

/** int32 [1, n] tensor. */
function row(ids: ArrayLike<number>): Tensor {
  return new Tensor(NDArray.fromData(Int32Array.from(ids), [1, ids.length], 'int32'));
}

/** Per-layer caches holding only the first `length` positions of `full` (views; appending copies). */
function truncatedCaches(full: readonly KVCache[], length: number): KVCache[] {
  return full.map((c) => {
    const out = new KVCache();
    if (length > 0 && c.k !== null && c.v !== null) {
      out.k = c.k.sliceAxis(2, 0, length); // [1, H, length, hd]
      out.v = c.v.sliceAxis(2, 0, length); // [1, H, length, hd]
    }
    return out;
  });
}

/**
 * The real CALM model as a {@link CalmSampler}: one teacher-forced pass per block fills a KV cache over
 * the chunk positions; roll-forwards reuse its first t positions and run only the generated prefix.
 */
export function calmSampler(model: CalmModel, autoencoder: Autoencoder, rng: Rng): CalmSampler {
  const { K, d, latent } = model.config;
  checkAutoencoderMatch('calmSampler', model.config, autoencoder.config);
  const decode = (h: Tensor, count: number): Int32Array => {
    const rows = h.shape[0];
    const z = model.head.sample(h, count, rng).reshape([rows * count, latent]); // [rows·count, l]
    return Int32Array.from(autoencoder.decodeTokens(z).toTypedArray()); // [rows·count, K]   argmax, CALM.md §5
  };
  return {
    K,
    teacherForcedBatch(blocks, blockSize, count) {
      const n = blocks.length / blockSize;
      const t = blockSize / K;
      if (!Number.isInteger(n) || !Number.isInteger(t) || n < 1 || t < 2) throw new RangeError(`calmSampler.teacherForcedBatch: ${blocks.length} ids are not whole blocks of ${blockSize} with at least 2 chunks of K = ${K}`);
      const ids = new Tensor(NDArray.fromData(blocks, [n, blockSize], 'int32'));
      return noGrad(() => decode(model.hidden(ids).reshape([n * t, d]), count)); // [n·T, count, K]
    },
    begin(block) {
      if (block.length % K !== 0 || block.length < 2 * K) throw new RangeError(`calmSampler.begin: a block needs at least 2 whole chunks of K = ${K}, got ${block.length} ids`);
      const t = block.length / K;
      const caches = model.backbone.newCache();
      const h = noGrad(() => model.hidden(row(block), { caches }).reshape([t, d])); // [T, d]   teacher forced
      // drawAfter is called twice with the same prefix (samples A and B): keep that hidden state.
      let memoKey = '';
      let memoH: Tensor | null = null;
      return {
        teacherForcedDraws: (count) => noGrad(() => decode(h, count)), // [T, count, K]
        drawAfter(at, prefixTokens) {
          if (!Number.isInteger(at) || at < 1 || at > t || prefixTokens.length === 0 || prefixTokens.length % K !== 0) {
            throw new RangeError(`calmSampler.drawAfter: needs 1 <= t <= ${t} and whole chunks of ${K}, got t = ${at}, ${prefixTokens.length} prefix tokens`);
          }
          const key = `${at}:${prefixTokens.join(',')}`;
          if (key !== memoKey || memoH === null) {
            const m = prefixTokens.length / K;
            memoH = noGrad(() => model.hidden(row(prefixTokens), { caches: truncatedCaches(caches, at), startPos: at }).sliceAxis(1, m - 1, m).reshape([1, d])); // [1, d]
            memoKey = key;
          }
          const hLast = memoH;
          return noGrad(() => decode(hLast, 1)); // [K]
        },
      };
    },
  };
}

/**
 * BrierLM of a CALM sampler on `ids` (whole blocks of `blockSize` tokens, a multiple of K), CALM.md §6.2/§6.3.
 * K ≥ 4: teacher forced, two decoded draws per chunk position t = 1 … T−1, chunk-aligned n-grams.
 * K < 4: every chunk start t ≥ 1 with 4 true tokens ahead; accuracy terms from ⌈4/K⌉ consecutive
 * teacher-forced draws, collision term by rolling the model forward along sample 1's path.
 */
export function evaluateCalmBrier(sampler: CalmSampler, ids: Int32Array, blockSize: number, options: EvaluateOptions): BrierEvaluation {
  const started = performance.now();
  const { K } = sampler;
  const blocks = blockCount('evaluateCalmBrier', ids, blockSize);
  if (blockSize % K !== 0) throw new RangeError(`evaluateCalmBrier: block size ${blockSize} is not a multiple of K = ${K}`);
  const t = blockSize / K;
  const chunkAligned = K >= BRIER_ORDERS;
  const steps = Math.ceil(BRIER_ORDERS / K); // teacher-forced offsets per position (1 when K ≥ 4)
  // Chunk t's 4 n-gram tokens must lie inside the block: t·K + 4 ≤ T·K.
  const lastPosition = chunkAligned ? t - 1 : Math.floor((blockSize - BRIER_ORDERS) / K);
  const positionsPerBlock = lastPosition;
  if (positionsPerBlock < 1) throw new RangeError(`evaluateCalmBrier: a block of ${blockSize} tokens (K = ${K}) has no position with ${BRIER_ORDERS} tokens ahead`);
  const acc = new BrierAccumulator();
  let rollForwardCalls = 0;
  const batched = chunkAligned ? sampler.teacherForcedBatch?.bind(sampler) : undefined;
  // K ≥ 4 with a batched sampler: the same estimator over 64 blocks per model pass.
  for (let b0 = 0; batched !== undefined && b0 < blocks; b0 += BATCH_BLOCKS) {
    const count = Math.min(BATCH_BLOCKS, blocks - b0);
    // A memory scope per batch (here and below): outside one, a long evaluation's dead intermediates
    // outgrow the CPU heap's share for unscoped arrays and the rest lands in fresh, page-faulting memory.
    const draws = memoryScope(() => batched(ids.subarray(b0 * blockSize, (b0 + count) * blockSize), blockSize, 2)); // [count, T, 2, K]
    for (let b = 0; b < count; b++) {
      const block = ids.subarray((b0 + b) * blockSize, (b0 + b + 1) * blockSize);
      const draw = (site: number, index: number): Int32Array => draws.subarray((((b * t + site) * 2) + index) * K, (((b * t + site) * 2) + index + 1) * K);
      for (let pos = 1; pos <= lastPosition; pos++) acc.add(calmBrierChunkAligned(draw(pos - 1, 0), draw(pos - 1, 1), block.subarray(pos * K, (pos + 1) * K), K)); // CALM.md §6.2
    }
  }
  for (let b = 0; batched === undefined && b < blocks; b++) {
    memoryScope(() => {
      const block = ids.subarray(b * blockSize, (b + 1) * blockSize);
      const s = sampler.begin(block);
      // Draw site s predicts chunk s + 1; position t at offset j uses site t + j − 1, draws 2j and 2j + 1,
      // so every draw is used by exactly one position (all independent).
      const per = 2 * steps;
      const draws = s.teacherForcedDraws(per); // [T, 2·steps, K]
      if (draws.length !== t * per * K) throw new RangeError(`evaluateCalmBrier: teacherForcedDraws(${per}) returned ${draws.length} ids, expected ${t * per * K}`);
      const draw = (site: number, index: number): Int32Array => draws.subarray((site * per + index) * K, (site * per + index + 1) * K);
      for (let pos = 1; pos <= lastPosition; pos++) {
        const truth = block.subarray(pos * K, pos * K + Math.max(K, BRIER_ORDERS));
        if (chunkAligned) {
          acc.add(calmBrierChunkAligned(draw(pos - 1, 0), draw(pos - 1, 1), truth.subarray(0, K), K)); // CALM.md §6.2
          continue;
        }
        const used = new Uint8Array(steps);
        acc.add(
          calmBrierSmallK({
            truth,
            K,
            // calmBrierSmallK asks twice per offset (samples 1 and 2).
            sampleChunkTeacherForced: (offset) => draw(pos + offset - 1, 2 * offset + used[offset]++),
            sampleChunkAfter: (prefix) => {
              rollForwardCalls++;
              return s.drawAfter(pos, prefix);
            },
          }),
        ); // CALM.md §6.3
      }
    });
  }
  const protocol: BrierProtocol = {
    family: 'calm',
    estimator: chunkAligned ? 'chunk-aligned §6.2' : 'small-K §6.3',
    K,
    blockSize,
    blocks,
    positionUnit: 'chunk',
    positionsPerBlock,
    positions: blocks * positionsPerBlock,
    samplesPerPosition: 2,
    samplingNote: chunkAligned
      ? 'teacher forced; 2 head samples per chunk position, each decoded by argmax (CALM.md §6.2)'
      : `teacher forced; 2 head samples at each of ${steps} consecutive chunk offsets (accuracy), collision term rolled forward along sample 1 with 2 fresh samples per step (CALM.md §6.3)`,
    temperature: 1,
    split: options.split ?? 'valid',
    seed: options.seed ?? 0,
  };
  return summarise(acc, protocol, rollForwardCalls, started);
}

/** The held-out energy loss of a CALM over many blocks, with its standard error over positions. */
export interface EnergyEvaluation {
  readonly energyLoss: number;
  readonly stdError: number;
  readonly positions: number;
  readonly targetSamples: number;
  readonly nSamples: number;
}

/**
 * Mean energy loss (CALM.md §4.2) of `model` on whole blocks `ids` of `blockSize` tokens, at every position
 * t = 0 … T−2 (predicting chunk t + 1), in batches of 64 blocks so memory stays bounded. Always the
 * reference's α = 1, whatever exponent the model was trained with.
 */
export function evaluateCalmEnergy(model: CalmModel, autoencoder: Autoencoder, ids: Int32Array, blockSize: number, o: { targetSamples: number; targets?: TargetKind; rng: Rng }): EnergyEvaluation {
  const blocks = blockCount('evaluateCalmEnergy', ids, blockSize);
  const acc = new MeanAccumulator();
  for (let b0 = 0; b0 < blocks; b0 += BATCH_BLOCKS) {
    const count = Math.min(BATCH_BLOCKS, blocks - b0);
    const perPosition = memoryScope(() => {
      const batch = new Tensor(NDArray.fromData(ids.slice(b0 * blockSize, (b0 + count) * blockSize), [count, blockSize], 'int32'));
      return noGrad(() => model.loss(batch, autoencoder, o.rng, o.targetSamples, o.targets, 1).perPosition.toTypedArray()); // [count·(T−1)]
    });
    for (const e of perPosition) acc.add(e);
  }
  return { energyLoss: acc.value, stdError: acc.stdError, positions: acc.count, targetSamples: o.targetSamples, nSamples: model.config.nSamples };
}

/** Everything `calm eval` reports for a CALM: BrierLM, energy loss, reference levels, gap closed. */
export interface CalmHeldOutReport {
  readonly brier: BrierEvaluation;
  readonly energy: EnergyEvaluation;
  /** K ≥ 4 only (exact chunk-aligned BrierLM of the tables). */
  readonly referenceLevels?: ReferenceLevels;
  readonly gapClosed?: number;
  /** K ≥ 4 only: decoded draws against the training chunks (draw-quality.ts), on the first blocks. */
  readonly drawQuality?: DrawQuality;
}

/**
 * Scores a CALM on held-out blocks `ids` of `blockSize` tokens: BrierLM (CALM.md §6.2/§6.3), the energy
 * loss (§4.2), and, for K ≥ 4, the chunk-unigram and chunk-bigram tables of `trainTokens` on the same
 * positions with the gap the model closes between them (`tables`: counts of `trainTokens` already built).
 */
export function calmHeldOutReport(
  model: CalmModel,
  autoencoder: Autoencoder,
  ids: Int32Array,
  blockSize: number,
  o: { trainTokens: Int32Array; targetSamples: number; targets?: TargetKind; rng: Rng; seed?: number; split?: string; tables?: ChunkTables },
): CalmHeldOutReport {
  const brier = evaluateCalmBrier(calmSampler(model, autoencoder, o.rng), ids, blockSize, { rng: o.rng, seed: o.seed, split: o.split });
  const energy = evaluateCalmEnergy(model, autoencoder, ids, blockSize, o);
  if (model.config.K < 4) return { brier, energy };
  const tables = o.tables ?? ChunkTables.fromTokens(o.trainTokens, model.config.K);
  const levels = referenceLevels(tables, autoencoder, ids, blockSize, { nSamples: model.config.nSamples, targetSamples: o.targetSamples, targets: o.targets, rng: o.rng });
  // Last, so that the numbers above do not depend on whether it runs.
  const quality = drawQuality(calmSampler(model, autoencoder, o.rng), tables, ids, blockSize);
  return { brier, energy, referenceLevels: levels, gapClosed: gapClosed(energy.energyLoss, levels), drawQuality: quality };
}

/** The energy loss, reference levels and gap closed of a {@link CalmHeldOutReport}, one line each. */
export function formatCalmReport(r: Omit<CalmHeldOutReport, 'brier'>): string[] {
  const lines = [`energy loss: ${r.energy.energyLoss.toFixed(4)} ± ${r.energy.stdError.toFixed(4)} (${r.energy.positions} positions, N ${r.energy.nSamples}, M ${r.energy.targetSamples})`];
  const ref = r.referenceLevels;
  if (ref !== undefined) {
    for (const [name, level] of [['chunk-unigram', ref.unigram], ['chunk-bigram', ref.bigram]] as const) {
      const ci = level.brierLMInterval === null ? '' : ` [${level.brierLMInterval.lower.toFixed(2)}, ${level.brierLMInterval.upper.toFixed(2)}]`;
      lines.push(`${name} table: energy loss ${level.energyLoss.toFixed(4)} ± ${level.energyLossStdError.toFixed(4)}, BrierLM ${level.brierLM.toFixed(2)}${ci} (exact)`);
    }
  }
  if (r.gapClosed !== undefined) {
    lines.push(
      Number.isFinite(r.gapClosed)
        ? `gap closed (chunk-unigram -> chunk-bigram, energy loss): ${(100 * r.gapClosed).toFixed(1)} %`
        : 'gap closed: n/a (the chunk-bigram table does not beat the chunk-unigram table on the energy loss here, so there is no gap to close)',
    );
  }
  if (r.drawQuality !== undefined) lines.push(formatDrawQuality(r.drawQuality));
  return lines;
}

// ------------------------------------------------------------------ Transformer

/** One evaluation block as seen by a discrete autoregressive model. */
export interface ArBlockSampler {
  /** The next-token distribution after the true tokens 0 … i and then `prefix` (sums to 1). */
  probsAt(i: number, prefix: readonly number[]): Float64Array;
}

/** A discrete autoregressive model as the evaluation sees it. */
export interface ArSampler {
  begin(block: Int32Array): ArBlockSampler;
}

/** Softmax of one row of logits in float64. */
function softmaxRow(logits: ArrayLike<number>, start: number, v: number): Float64Array {
  const p = new Float64Array(v);
  let max = -Infinity;
  for (let j = 0; j < v; j++) if (logits[start + j] > max) max = logits[start + j];
  let total = 0;
  for (let j = 0; j < v; j++) {
    p[j] = Math.exp(logits[start + j] - max);
    total += p[j];
  }
  for (let j = 0; j < v; j++) p[j] /= total;
  return p;
}

/**
 * The Transformer baseline as an {@link ArSampler}: one teacher-forced pass per block (logits at every
 * position, KV cache filled); a prefix that equals the true continuation reuses the teacher-forced row,
 * any other prefix runs only its ≤ 3 tokens on top of the first i + 1 cached positions.
 */
export function transformerSampler(model: TransformerLM): ArSampler {
  const v = model.config.vocabSize;
  return {
    begin(block) {
      const caches = model.decoder.newCache();
      const logits = noGrad(() => model.forward(row(block), { caches }).toTypedArray()); // [1, L, V]
      return {
        probsAt(i, prefix) {
          if (!Number.isInteger(i) || i < 0 || i >= block.length) {
            throw new RangeError(`transformerSampler.probsAt: position ${i} is outside the block of ${block.length}`);
          }
          let onTruth = i + prefix.length < block.length;
          for (let j = 0; onTruth && j < prefix.length; j++) if (prefix[j] !== block[i + 1 + j]) onTruth = false;
          if (onTruth) return softmaxRow(logits, (i + prefix.length) * v, v); // teacher forcing = conditioning on the truth
          const m = prefix.length;
          const out = noGrad(() => model.forward(row(prefix), { caches: truncatedCaches(caches, i + 1), startPos: i + 1 }).sliceAxis(1, m - 1, m).toTypedArray()); // [V]
          return softmaxRow(out, 0, v);
        },
      };
    },
  };
}

/**
 * BrierLM of a discrete autoregressive model on `ids` (whole blocks of `blockSize` tokens), CALM.md §6.4:
 * every token position i = 0 … L−5 (the n-gram y_{i+1} … y_{i+4} given y_0 … y_i), exact accuracy term,
 * collision term along one sampled path.
 */
export function evaluateArBrier(sampler: ArSampler, ids: Int32Array, blockSize: number, options: EvaluateOptions): BrierEvaluation {
  const started = performance.now();
  const blocks = blockCount('evaluateArBrier', ids, blockSize);
  const positionsPerBlock = blockSize - BRIER_ORDERS;
  if (positionsPerBlock < 1) throw new RangeError(`evaluateArBrier: a block of ${blockSize} tokens has no position with ${BRIER_ORDERS} tokens ahead`);
  const acc = new BrierAccumulator();
  let rollForwardCalls = 0;
  for (let b = 0; b < blocks; b++) {
    const block = ids.subarray(b * blockSize, (b + 1) * blockSize);
    const s = sampler.begin(block);
    for (let i = 0; i < positionsPerBlock; i++) {
      const truth = block.subarray(i + 1, i + 1 + BRIER_ORDERS);
      const probsAt = (prefix: readonly number[]): Float64Array => {
        if (prefix.length > 0 && !isTruePrefix(prefix, truth)) rollForwardCalls++;
        return s.probsAt(i, prefix);
      };
      acc.add(arBrierAtPosition({ truth, probsAt, rng: options.rng })); // CALM.md §6.4
    }
  }
  const protocol: BrierProtocol = {
    family: 'transformer',
    estimator: 'autoregressive §6.4',
    K: 1,
    blockSize,
    blocks,
    positionUnit: 'token',
    positionsPerBlock,
    positions: blocks * positionsPerBlock,
    samplesPerPosition: 2,
    samplingNote: 'teacher forced; exact accuracy term; collision term from 2 sampled tokens per step along sample 1\'s path with the exact last-step collision probability (CALM.md §6.4)',
    temperature: 1,
    split: options.split ?? 'valid',
    seed: options.seed ?? 0,
  };
  return summarise(acc, protocol, rollForwardCalls, started);
}

function isTruePrefix(prefix: readonly number[], truth: ArrayLike<number>): boolean {
  for (let j = 0; j < prefix.length; j++) if (prefix[j] !== truth[j]) return false;
  return true;
}

// ------------------------------------------------------------------ reporting

/** One line per order and the BrierLM with its interval, for terminals and RESULTS.md. */
export function formatEvaluation(e: BrierEvaluation): string[] {
  const p = e.protocol;
  const lines = e.brier.map((m, n) => `Brier-${n + 1}: ${m.toFixed(4)} ± ${e.stdError[n].toFixed(4)}`);
  const interval = e.interval === null ? 'interval n/a (a mean is <= 0)' : `95% CI [${e.interval.lower.toFixed(2)}, ${e.interval.upper.toFixed(2)}]`;
  lines.push(`BrierLM: ${e.brierLM.toFixed(2)}  ${interval}`);
  lines.push(
    `protocol: ${p.family} K=${p.K}, ${p.estimator}, ${p.blocks} blocks x ${p.blockSize} tokens (${p.split} split), ` +
      `${p.positions} ${p.positionUnit} positions, ${p.samplesPerPosition} samples/position, T=1, seed ${p.seed}; ${e.seconds.toFixed(1)} s`,
  );
  return lines;
}
