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

/**
 * Continues `prompt` (ids, typically starting with BOS) by up to `maxTokens` ids, feeding the prompt once and
 * then one id at a time through the KV cache. Stops early at `stopId` (not included). Returns the new ids.
 */
export function generate(
  model: TransformerLM,
  prompt: readonly number[],
  options: SamplingOptions & { maxTokens: number; rng: Rng; stopId?: number },
): number[] {
  const { maxTokens, rng } = options;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new RangeError(`generate: maxTokens must be a non-negative integer, got ${maxTokens}`);
  if (prompt.length === 0) throw new RangeError('generate: the prompt must hold at least one id (e.g. BOS)');
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => {
      const caches = model.decoder.newCache();
      const out: number[] = [];
      let input = Int32Array.from(prompt);
      while (out.length < maxTokens) {
        const logits = model.forward(new Tensor(NDArray.fromData(input, [1, input.length], 'int32')), { caches }); // [1, T, V]
        const v = model.config.vocabSize;
        const last = logits.sliceAxis(1, input.length - 1, input.length).toTypedArray(); // [V]
        if (last.length !== v) throw new Error(`generate: expected ${v} logits, got ${last.length}`);
        const next = sampleNext(last, rng, options);
        if (next === options.stopId) break;
        out.push(next);
        input = Int32Array.of(next);
      }
      return out;
    });
  } finally {
    model.train(wasTraining);
  }
}
