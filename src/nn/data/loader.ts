/**
 * Token streams for training: turning documents into one flat id array, and a resumable, seeded loader of
 * fixed-size blocks from it.
 */
import { Rng, type RngState } from '../../tensor/random.js';
import type { Tokenizer } from './tokenizer.js';

/** Options of {@link encodeDocuments}. */
export interface EncodeDocumentsOptions {
  /** Prefix each document with BOS. */
  readonly bos: boolean;
  /** End each document with EOS. */
  readonly eos: boolean;
  /** Right-pad each document with PAD to a multiple of this (the chunk size K), so no chunk straddles documents. */
  readonly padToMultipleOf?: number;
}

/**
 * Tokenizes and concatenates documents.
 * - Autoencoder data (CALM.md §2.8): `{ bos: true, eos: true, padToMultipleOf: K }`: BOS + text + EOS, then PAD
 *   up to a multiple of K per document.
 * - LM data (CALM.md §3.3): `{ bos: true, eos: false }`: BOS-prefixed documents concatenated with no EOS and no
 *   padding, so chunks may straddle documents.
 */
export function encodeDocuments(
  docs: readonly (string | { readonly text: string })[],
  tokenizer: Tokenizer,
  options: EncodeDocumentsOptions,
): Int32Array {
  const multiple = options.padToMultipleOf ?? 1;
  if (!Number.isInteger(multiple) || multiple < 1) {
    throw new RangeError(`encodeDocuments: padToMultipleOf must be a positive integer, got ${options.padToMultipleOf}`);
  }
  const pieces: number[][] = [];
  let total = 0;
  for (const doc of docs) {
    const ids = tokenizer.encode(typeof doc === 'string' ? doc : doc.text);
    if (options.bos) ids.unshift(tokenizer.bos);
    if (options.eos) ids.push(tokenizer.eos);
    const padded = Math.ceil(ids.length / multiple) * multiple;
    while (ids.length < padded) ids.push(tokenizer.pad);
    pieces.push(ids);
    total += ids.length;
  }
  const out = new Int32Array(total);
  let offset = 0;
  for (const ids of pieces) {
    out.set(ids, offset);
    offset += ids.length;
  }
  return out;
}

/** Options of {@link BlockLoader}. */
export interface BlockLoaderOptions {
  /** Blocks per batch. */
  readonly batchSize: number;
  /** Tokens per block; block starts are multiples of this, so blocks never overlap. */
  readonly blockSize: number;
  /** Add one more token to every block (the next-token target of its last position). Default false. */
  readonly withTarget?: boolean;
  /** Seed of the shuffle stream. */
  readonly seed: number;
}

/** Where a {@link BlockLoader} stands; JSON-able, for checkpoints. */
export interface BlockLoaderState {
  /** Epochs started so far, minus one (0 during the first epoch). */
  readonly epoch: number;
  /** Next position in this epoch's permutation of blocks. */
  readonly index: number;
  /** Generator state just before this epoch's shuffle (replaying it rebuilds the permutation). */
  readonly epochRng: RngState;
  /** Shape checks on restore. */
  readonly numTokens: number;
  readonly batchSize: number;
  readonly blockSize: number;
  readonly withTarget: boolean;
}

/**
 * Yields batches of `batchSize` blocks, each `blockSize` tokens (+1 with `withTarget`), as one Int32Array of
 * `batchSize * blockLength` ids in row-major [batch, position] order. Each epoch visits the non-overlapping
 * blocks starting at 0, blockSize, 2·blockSize, ... in a fresh seeded shuffle; the last incomplete batch of an
 * epoch is dropped. Resuming from {@link BlockLoader.state} continues the exact same sequence.
 */
export class BlockLoader {
  /** Ids per block, target included. */
  readonly blockLength: number;
  /** Number of blocks per epoch. */
  readonly numBlocks: number;
  private readonly tokens: Int32Array;
  private readonly options: Required<BlockLoaderOptions>;
  private readonly rng: Rng;
  private readonly permutation: Int32Array;
  private epochRng: RngState;
  private epochIndex = 0;
  private index = 0;

  constructor(tokens: Int32Array, options: BlockLoaderOptions) {
    const { batchSize, blockSize, seed } = options;
    const withTarget = options.withTarget ?? false;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`BlockLoader: batchSize must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError(`BlockLoader: blockSize must be a positive integer, got ${blockSize}`);
    this.tokens = tokens;
    this.options = { batchSize, blockSize, seed, withTarget };
    this.blockLength = blockSize + (withTarget ? 1 : 0);
    this.numBlocks = tokens.length < this.blockLength ? 0 : Math.floor((tokens.length - this.blockLength) / blockSize) + 1;
    if (this.numBlocks < batchSize) {
      throw new RangeError(
        `BlockLoader: ${tokens.length} tokens give ${this.numBlocks} blocks of ${this.blockLength}, fewer than batchSize ${batchSize}`,
      );
    }
    this.rng = new Rng(seed);
    this.permutation = new Int32Array(this.numBlocks);
    this.epochRng = this.rng.getState();
    this.shuffle();
  }

  /** A loader that continues from `state` (taken from a loader over the same tokens and options). */
  static restore(tokens: Int32Array, options: BlockLoaderOptions, state: BlockLoaderState): BlockLoader {
    const loader = new BlockLoader(tokens, options);
    loader.setState(state);
    return loader;
  }

  /** Batches per epoch. */
  get batchesPerEpoch(): number {
    return Math.floor(this.numBlocks / this.options.batchSize);
  }

  /** The current epoch (0-based). */
  get epoch(): number {
    return this.epochIndex;
  }

  /** The next batch: Int32Array of batchSize * blockLength ids. */
  next(): Int32Array {
    const { batchSize, blockSize } = this.options;
    if (this.index + batchSize > this.numBlocks) {
      this.epochIndex++;
      this.index = 0;
      this.epochRng = this.rng.getState();
      this.shuffle();
    }
    const len = this.blockLength;
    const out = new Int32Array(batchSize * len);
    for (let b = 0; b < batchSize; b++) {
      const start = this.permutation[this.index + b] * blockSize;
      out.set(this.tokens.subarray(start, start + len), b * len);
    }
    this.index += batchSize;
    return out;
  }

  /** The position, for checkpoints. */
  state(): BlockLoaderState {
    const { batchSize, blockSize, withTarget } = this.options;
    return { epoch: this.epochIndex, index: this.index, epochRng: this.epochRng, numTokens: this.tokens.length, batchSize, blockSize, withTarget };
  }

  /** Moves to `state`; throws when it was taken over different tokens or options. */
  setState(state: BlockLoaderState): void {
    const { batchSize, blockSize, withTarget } = this.options;
    const mismatch = (name: string, got: unknown, want: unknown): never => {
      throw new Error(`BlockLoader.setState: state.${name} is ${JSON.stringify(got)} but this loader has ${JSON.stringify(want)}`);
    };
    if (state.numTokens !== this.tokens.length) mismatch('numTokens', state.numTokens, this.tokens.length);
    if (state.batchSize !== batchSize) mismatch('batchSize', state.batchSize, batchSize);
    if (state.blockSize !== blockSize) mismatch('blockSize', state.blockSize, blockSize);
    if (state.withTarget !== withTarget) mismatch('withTarget', state.withTarget, withTarget);
    if (!Number.isInteger(state.epoch) || state.epoch < 0) throw new RangeError(`BlockLoader.setState: epoch must be a non-negative integer, got ${state.epoch}`);
    if (!Number.isInteger(state.index) || state.index < 0 || state.index > this.numBlocks) {
      throw new RangeError(`BlockLoader.setState: index must be an integer in [0, ${this.numBlocks}], got ${state.index}`);
    }
    this.rng.setState(state.epochRng);
    this.epochRng = this.rng.getState();
    this.shuffle();
    this.epochIndex = state.epoch;
    this.index = state.index;
  }

  private shuffle(): void {
    const perm = this.permutation;
    for (let i = 0; i < perm.length; i++) perm[i] = i;
    // Fisher-Yates with the seeded stream (CALM training order must be reproducible).
    for (let i = perm.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      const t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
  }
}
