/**
 * The baseline discrete Transformer language model (CALM.md §3): token embedding, a Llama-style
 * DecoderStack (RoPE, causal attention, SwiGLU, final RMSNorm) and an untied output projection, trained
 * with next-token cross-entropy; sampling with temperature and top-k through the KV cache.
 */
import { noGrad } from '../autograd/grad-mode.js';
import { Tensor } from '../autograd/tensor.js';
import { NDArray } from '../tensor/ndarray.js';
import type { Rng } from '../tensor/random.js';
import type { KVCache } from './attention.js';
import { crossEntropy } from './functional.js';
import type { FloatDType } from './init.js';
import { Embedding, Linear } from './linear.js';
import { Module } from './module.js';
import { DecoderStack, type DecoderConfig } from './transformer.js';

/** Sizes of a {@link TransformerLM}. */
export interface TransformerLMConfig extends DecoderConfig {
  vocabSize: number;
}

export class TransformerLM extends Module {
  readonly embed: Embedding;
  readonly decoder: DecoderStack;
  readonly head: Linear;

  constructor(
    readonly config: TransformerLMConfig,
    options: { rng: Rng; dtype?: FloatDType },
  ) {
    super();
    if (!Number.isInteger(config.vocabSize) || config.vocabSize < 2) throw new RangeError(`TransformerLM: vocabSize must be an integer >= 2, got ${config.vocabSize}`);
    this.embed = new Embedding(config.vocabSize, config.dim, options);
    this.decoder = new DecoderStack(config, options);
    this.head = new Linear(config.dim, config.vocabSize, { ...options, bias: false }); // untied (CALM.md §3.2)
  }

  /** int32 ids [B, T] -> logits [B, T, V]; with `caches` the rows continue the cached sequence. */
  forward(ids: Tensor, options: { caches?: KVCache[]; startPos?: number } = {}): Tensor {
    const h = this.decoder.forward(this.embed.forward(ids), options); // [B, T, d]
    return this.head.forward(h); // [B, T, V]
  }

  /**
   * Mean next-token cross-entropy (nats) of `blocks`: `batch` rows of T+1 ids in row-major order; positions
   * 0..T-1 are inputs and 1..T their targets.
   */
  loss(blocks: Int32Array, batch: number): Tensor {
    const len = blocks.length / batch;
    if (!Number.isInteger(len) || len < 2) throw new RangeError(`TransformerLM.loss: ${blocks.length} ids do not split into ${batch} rows of at least 2`);
    const t = len - 1;
    const inputs = new Int32Array(batch * t);
    const targets = new Int32Array(batch * t);
    for (let b = 0; b < batch; b++) {
      inputs.set(blocks.subarray(b * len, b * len + t), b * t);
      targets.set(blocks.subarray(b * len + 1, (b + 1) * len), b * t);
    }
    const logits = this.forward(new Tensor(NDArray.fromData(inputs, [batch, t], 'int32'))); // [B, T, V]
    return crossEntropy(logits.reshape([batch * t, this.config.vocabSize]), new Tensor(NDArray.fromData(targets, [batch * t], 'int32'))); // []
  }
}

/** Options of {@link sampleNext} and {@link generate}. */
export interface SamplingOptions {
  /** Softmax temperature; 0 means greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined: all). */
  topK?: number;
  /** Ids that are never sampled (e.g. PAD, MASK). */
  banned?: readonly number[];
}

/**
 * Draws one id from `logits` (length V): greedy when temperature is 0 or topK is 1 (ties: lowest id),
 * otherwise from softmax(logits / T) restricted to the top k.
 */
export function sampleNext(logits: ArrayLike<number>, rng: Rng, options: SamplingOptions = {}): number {
  const temperature = options.temperature ?? 1;
  const v = logits.length;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new RangeError(`sampleNext: temperature must be a finite number >= 0, got ${temperature}`);
  const topK = options.topK ?? 0;
  if (!Number.isInteger(topK) || topK < 0) throw new RangeError(`sampleNext: topK must be a non-negative integer, got ${topK}`);
  const z = Float64Array.from(logits);
  for (const id of options.banned ?? []) if (id >= 0 && id < v) z[id] = -Infinity;
  if (temperature === 0 || topK === 1) {
    let best = 0;
    for (let i = 1; i < v; i++) if (z[i] > z[best]) best = i;
    return best;
  }
  if (topK > 0 && topK < v) {
    // The k-th largest value is the threshold; ties at the threshold keep the lowest ids first.
    const order = Array.from({ length: v }, (_, i) => i).sort((a, b) => z[b] - z[a] || a - b);
    const keep = new Uint8Array(v);
    for (let r = 0; r < topK; r++) keep[order[r]] = 1;
    for (let i = 0; i < v; i++) if (keep[i] === 0) z[i] = -Infinity;
  }
  let max = -Infinity;
  for (let i = 0; i < v; i++) if (z[i] > max) max = z[i];
  if (max === -Infinity) throw new Error('sampleNext: every id is banned');
  const weights = new Float64Array(v);
  for (let i = 0; i < v; i++) weights[i] = z[i] === -Infinity ? 0 : Math.exp((z[i] - max) / temperature);
  return rng.categorical(weights);
}

/** Context options of {@link generate}. */
export interface ContextOptions {
  /**
   * Most positions the model attends over (default: unbounded). Use the length the model was trained on:
   * a prompt longer than this keeps only its last `maxContext` ids, and when the context is full the cache
   * is rebuilt from the last half of it (positions restart at 0, as in training), so memory stays bounded.
   */
  maxContext?: number;
  /** Prompt ids fed per forward pass while filling the cache (default 64): bounds the attention scores to prefillChunk x context. */
  prefillChunk?: number;
}

/**
 * Continues `prompt` (ids, typically starting with BOS) by up to `maxTokens` ids, feeding the prompt through
 * the KV cache in chunks and then one id at a time, within `maxContext` positions (see {@link ContextOptions}).
 * Stops early at `stopId` (not included). Returns the new ids.
 */
export function generate(
  model: TransformerLM,
  prompt: readonly number[],
  options: SamplingOptions & ContextOptions & { maxTokens: number; rng: Rng; stopId?: number },
): number[] {
  const { maxTokens, rng } = options;
  const v = model.config.vocabSize;
  const maxContext = options.maxContext ?? Infinity;
  const prefillChunk = options.prefillChunk ?? 64;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new RangeError(`generate: maxTokens must be a non-negative integer, got ${maxTokens}`);
  if (prompt.length === 0) throw new RangeError('generate: the prompt must hold at least one id (e.g. BOS)');
  if (!(maxContext === Infinity || (Number.isInteger(maxContext) && maxContext >= 2))) throw new RangeError(`generate: maxContext must be an integer >= 2, got ${maxContext}`);
  if (!Number.isInteger(prefillChunk) || prefillChunk < 1) throw new RangeError(`generate: prefillChunk must be a positive integer, got ${prefillChunk}`);
  const bad = prompt.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= v);
  if (bad >= 0) throw new RangeError(`generate: prompt[${bad}] = ${prompt[bad]} is not a token id in [0, ${v})`);
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => {
      let caches = model.decoder.newCache();
      let cached = 0; // positions in the cache
      const context = prompt.slice(-Math.min(prompt.length, maxContext)); // the ids the cache describes, plus pending ones
      /** Feeds context[cached:] through the cache in chunks; returns the logits after the last id. */
      const feed = (): Float32Array | Float64Array | Int32Array => {
        let last: Float32Array | Float64Array | Int32Array | null = null;
        while (cached < context.length) {
          const piece = Int32Array.from(context.slice(cached, cached + prefillChunk));
          const logits = model.forward(new Tensor(NDArray.fromData(piece, [1, piece.length], 'int32')), { caches }); // [1, T, V]
          last = logits.sliceAxis(1, piece.length - 1, piece.length).toTypedArray(); // [V]
          cached += piece.length;
        }
        if (last === null || last.length !== v) throw new Error(`generate: expected ${v} logits, got ${last?.length ?? 0}`);
        return last;
      };
      const out: number[] = [];
      while (out.length < maxTokens) {
        if (context.length > maxContext) {
          // Full: start a new cache over the last half of the context (recomputed once per maxContext / 2 ids).
          for (const c of caches) c.clear();
          caches = model.decoder.newCache();
          context.splice(0, context.length - Math.ceil(maxContext / 2));
          cached = 0;
        }
        const next = sampleNext(feed(), rng, options);
        if (next === options.stopId) break;
        out.push(next);
        context.push(next);
      }
      return out;
    });
  } finally {
    model.train(wasTraining);
  }
}
