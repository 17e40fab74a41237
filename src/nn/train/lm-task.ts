/**
 * The baseline language-modelling task on token streams (CALM.md §3.3): BOS-prefixed documents
 * concatenated, shuffled blocks of seq+1 ids for training, and a fixed, deterministic set of held-out
 * blocks for validation.
 */
import type { JsonValue } from '../checkpoint.js';
import { BlockLoader, encodeDocuments, type BlockLoaderState } from '../data/loader.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { TransformerLM } from '../transformer-lm.js';
import type { TrainTask } from './trainer.js';

/** Train and validation id streams for LM training: BOS per document, no EOS, no padding (CALM.md §3.3). */
export function encodeLmSplits(
  split: { readonly train: readonly { readonly text: string }[]; readonly valid: readonly { readonly text: string }[] },
  tokenizer: Tokenizer,
): { train: Int32Array; valid: Int32Array } {
  const opts = { bos: true, eos: false } as const;
  return { train: encodeDocuments(split.train, tokenizer, opts), valid: encodeDocuments(split.valid, tokenizer, opts) };
}

/**
 * Cross-entropy (nats per token) of the `valid` ids under the unigram distribution of the `train` ids, with
 * add-one smoothing so ids unseen in training keep a finite cost: the baseline an LM must beat.
 */
export function unigramCrossEntropy(train: Int32Array, valid: Int32Array, vocabSize: number): number {
  const counts = new Float64Array(vocabSize).fill(1);
  for (let i = 0; i < train.length; i++) counts[train[i]]++;
  const total = train.length + vocabSize;
  let nll = 0;
  for (let i = 0; i < valid.length; i++) nll -= Math.log(counts[valid[i]] / total);
  return nll / valid.length;
}

/** Evenly spaced, non-overlapping blocks of `length` ids from `tokens` (at most `count`), concatenated. */
export function fixedBlocks(tokens: Int32Array, length: number, count: number): { blocks: Int32Array; count: number } {
  const available = tokens.length < length ? 0 : Math.floor((tokens.length - length) / (length - 1)) + 1;
  const n = Math.min(count, available);
  if (n === 0) throw new RangeError(`fixedBlocks: ${tokens.length} held-out ids are fewer than one block of ${length}`);
  const blocks = new Int32Array(n * length);
  for (let i = 0; i < n; i++) {
    const start = Math.floor((i * available) / n) * (length - 1);
    blocks.set(tokens.subarray(start, start + length), i * length);
  }
  return { blocks, count: n };
}

/** Options of {@link createLmTask}. */
export interface LmTaskOptions {
  model: TransformerLM;
  trainTokens: Int32Array;
  validTokens: Int32Array;
  /** Positions per training sequence (blocks hold seqLen + 1 ids). */
  seqLen: number;
  batchSize: number;
  /** Seed of the training-block shuffle. */
  seed: number;
  /** Number of fixed validation blocks (default 64). */
  validBlocks?: number;
}

/** A {@link TrainTask} for next-token prediction with a {@link TransformerLM}. */
export function createLmTask(options: LmTaskOptions): TrainTask {
  const { model, seqLen, batchSize } = options;
  const loaderOptions = { batchSize, blockSize: seqLen, withTarget: true, seed: options.seed };
  let loader = new BlockLoader(options.trainTokens, loaderOptions);
  const valid = fixedBlocks(options.validTokens, seqLen + 1, options.validBlocks ?? 64);

  return {
    name: 'transformer',
    model,
    trainStep() {
      return { loss: model.loss(loader.next(), batchSize), tokens: batchSize * seqLen };
    },
    evaluate() {
      // Mean over every held-out target position; batches of equal length, so a weighted mean of batch means.
      const len = seqLen + 1;
      let sum = 0;
      for (let first = 0; first < valid.count; first += batchSize) {
        const rows = Math.min(batchSize, valid.count - first);
        sum += model.loss(valid.blocks.subarray(first * len, (first + rows) * len), rows).item() * rows;
      }
      const validLoss = sum / valid.count;
      return { validLoss, validPerplexity: Math.exp(validLoss), validBitsPerToken: validLoss / Math.LN2 };
    },
    state(): JsonValue {
      return { loader: loader.state() as unknown as JsonValue };
    },
    loadState(state: JsonValue) {
      const s = state as { loader?: BlockLoaderState } | null;
      if (s === null || typeof s !== 'object' || s.loader === undefined) throw new Error(`lm task loadState: expected { loader }, got ${JSON.stringify(state)}`);
      loader = BlockLoader.restore(options.trainTokens, loaderOptions, s.loader);
    },
  };
}
