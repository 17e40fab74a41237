/**
 * What a CALM's decoded draws look like next to the training data (CALM.md §6.7): of many head samples
 * per position, each decoded to a chunk by the frozen autoencoder, how many are chunks that occur in the
 * training split at all, how many distinct chunks they make, and how often they hit the true chunk (and its
 * first token), beside the chunk-bigram table's probabilities of the same. A small model whose head spreads
 * its samples between the modes of the next-chunk distribution shows it here as draws that decode to chunks
 * never seen in training; its BrierLM is low even when its energy loss has closed much of the gap.
 */
import type { ChunkTables } from './reference-levels.js';

/** The part of a CALM sampler (evaluate.ts) this needs: batched teacher-forced decoded draws. */
export interface BatchedDraws {
  readonly K: number;
  /** int32 [blocks, T, count, K]: `count` decoded draws of chunk t + 1 given the true chunks 0 … t. */
  teacherForcedBatch?(blocks: Int32Array, blockSize: number, count: number): Int32Array;
}

/** The statistics of {@link drawQuality}, each a mean over the scored positions. */
export interface DrawQuality {
  readonly positions: number;
  /** Decoded draws per position. */
  readonly draws: number;
  /** Fraction of decoded draws that occur as a K-aligned chunk of the training split. */
  readonly knownFraction: number;
  /** Distinct chunks among a position's draws (at most `draws`). */
  readonly distinctPerPosition: number;
  /** Fraction of draws equal to the true next chunk: the model's probability of it, estimated. */
  readonly modelTrueChunk: number;
  /** Fraction of draws whose first token is the true next chunk's first token. */
  readonly modelTrueFirstToken: number;
  /** The chunk-bigram table's probability of the true next chunk. */
  readonly bigramTrueChunk: number;
  /** The chunk-bigram table's probability of the true next chunk's first token. */
  readonly bigramTrueFirstToken: number;
}

/** Blocks and draws per position that the reports use (`calm eval`, the demo, the experiment). */
export const DRAW_QUALITY_DEFAULTS = { blocks: 50, draws: 32 } as const;

/**
 * Scores `draws` teacher-forced draws per chunk position t = 1 … T−1 of the first `blocks` of the whole
 * blocks `ids` of `blockSize` tokens (K ≥ 1; the sampler must offer the batched teacher-forced form).
 */
export function drawQuality(
  sampler: BatchedDraws,
  tables: ChunkTables,
  ids: Int32Array,
  blockSize: number,
  { blocks: maxBlocks, draws }: { blocks: number; draws: number } = DRAW_QUALITY_DEFAULTS,
): DrawQuality {
  const K = sampler.K;
  const T = blockSize / K;
  const blocks = Math.min(maxBlocks, Math.floor(ids.length / blockSize));
  if (sampler.teacherForcedBatch === undefined) throw new TypeError('drawQuality: the sampler has no batched teacher-forced draws');
  if (tables.K !== K) throw new RangeError(`drawQuality: the tables count chunks of K = ${tables.K}, the model's K is ${K}`);
  if (!Number.isInteger(T) || T < 2 || ids.length % blockSize !== 0 || blocks < 1) throw new RangeError(`drawQuality: ${ids.length} ids are not whole blocks of ${blockSize} tokens with at least 2 chunks of K = ${K}`);
  if (!Number.isInteger(draws) || draws < 1) throw new RangeError(`drawQuality: draws must be a positive integer, got ${draws}`);
  let positions = 0;
  const sums = { known: 0, distinct: 0, trueChunk: 0, trueFirst: 0, bigramChunk: 0, bigramFirst: 0 };
  const batchBlocks = 16; // bounded memory: [16, T, draws, K] ids per pass
  for (let b0 = 0; b0 < blocks; b0 += batchBlocks) {
    const count = Math.min(batchBlocks, blocks - b0);
    const batch = ids.subarray(b0 * blockSize, (b0 + count) * blockSize);
    const out = sampler.teacherForcedBatch(batch, blockSize, draws); // [count, T, draws, K]
    for (let b = 0; b < count; b++) {
      for (let t = 0; t + 1 < T; t++) {
        const start = b * blockSize;
        const prev = batch.subarray(start + t * K, start + (t + 1) * K);
        const truth = batch.subarray(start + (t + 1) * K, start + (t + 2) * K);
        const seen = new Set<string>();
        for (let s = 0; s < draws; s++) {
          const at = ((b * T + t) * draws + s) * K;
          const chunk = out.subarray(at, at + K);
          seen.add(chunk.join(','));
          if (tables.isKnown(chunk)) sums.known++;
          let k = 0;
          while (k < K && chunk[k] === truth[k]) k++;
          if (k === K) sums.trueChunk++;
          if (k >= 1) sums.trueFirst++;
        }
        sums.distinct += seen.size;
        const bigram = tables.bigram(prev).prefixProbabilities(truth); // P_1 … P_K of the true chunk
        sums.bigramChunk += bigram[K - 1];
        sums.bigramFirst += bigram[0];
        positions++;
      }
    }
  }
  const perDraw = positions * draws;
  return {
    positions,
    draws,
    knownFraction: sums.known / perDraw,
    distinctPerPosition: sums.distinct / positions,
    modelTrueChunk: sums.trueChunk / perDraw,
    modelTrueFirstToken: sums.trueFirst / perDraw,
    bigramTrueChunk: sums.bigramChunk / positions,
    bigramTrueFirstToken: sums.bigramFirst / positions,
  };
}

/** One line for reports. */
export function formatDrawQuality(q: DrawQuality): string {
  const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
  return (
    `decoded draws (${q.draws} per position, ${q.positions} positions): ${pct(q.knownFraction)} are chunks seen in training, ` +
    `${q.distinctPerPosition.toFixed(1)} distinct per position; true chunk ${pct(q.modelTrueChunk)} (bigram table ${pct(q.bigramTrueChunk)}), ` +
    `true first token ${pct(q.modelTrueFirstToken)} (bigram table ${pct(q.bigramTrueFirstToken)})`
  );
}
