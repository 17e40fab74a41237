/** The Llama-style decoder: pre-norm blocks and the stack with a final RMSNorm (CALM.md §3.2). */
import type { Tensor } from '../autograd/tensor.js';
import type { Rng } from '../tensor/random.js';
import { fmtShape } from '../tensor/shape.js';
import { CausalSelfAttention, KVCache } from './attention.js';
import type { LayerOptions } from './init.js';
import { SwiGLU } from './mlp.js';
import { Module } from './module.js';
import { RMSNorm } from './norm.js';

/** Sizes of a decoder stack. */
export interface DecoderConfig {
  /** Model width d. */
  dim: number;
  nLayers: number;
  nHeads: number;
  /** SwiGLU hidden width f. */
  ffnHidden: number;
  /** RoPE base (default 10,000). */
  ropeTheta?: number;
  /** RMSNorm epsilon (default 1e-6). */
  normEps?: number;
}

/** x <- x + Attn(RMSNorm(x)); x <- x + SwiGLU(RMSNorm(x)). */
export class DecoderBlock extends Module {
  readonly attnNorm: RMSNorm;
  readonly attn: CausalSelfAttention;
  readonly mlpNorm: RMSNorm;
  readonly mlp: SwiGLU;

  constructor(config: DecoderConfig, options: LayerOptions & { rng: Rng }) {
    super();
    const norm = { eps: config.normEps, dtype: options.dtype };
    this.attnNorm = new RMSNorm(config.dim, norm);
    this.attn = new CausalSelfAttention(config.dim, config.nHeads, { ...options, ropeTheta: config.ropeTheta });
    this.mlpNorm = new RMSNorm(config.dim, norm);
    this.mlp = new SwiGLU(config.dim, config.ffnHidden, options);
  }

  /** x [B, T, d] -> [B, T, d]. */
  forward(x: Tensor, options: { cache?: KVCache; startPos?: number } = {}): Tensor {
    const h = x.add(this.attn.forward(this.attnNorm.forward(x), options)); // [B, T, d]
    return h.add(this.mlp.forward(this.mlpNorm.forward(h))); // [B, T, d]
  }
}

/** L decoder blocks and a final RMSNorm; the output is the final-normed hidden state (CALM.md §3.2). */
export class DecoderStack extends Module {
  readonly layers: DecoderBlock[];
  readonly norm: RMSNorm;

  constructor(
    readonly config: DecoderConfig,
    options: LayerOptions & { rng: Rng },
  ) {
    super();
    this.layers = Array.from({ length: config.nLayers }, () => new DecoderBlock(config, options));
    this.norm = new RMSNorm(config.dim, { eps: config.normEps, dtype: options.dtype });
  }

  /** One empty cache per layer, for generation. */
  newCache(): KVCache[] {
    return this.layers.map(() => new KVCache());
  }

  /**
   * x [B, T, d] -> [B, T, d]. With `caches` (from {@link newCache}), the T rows continue the cached
   * sequence; run generation under `noGrad` so the caches hold no graph.
   */
  forward(x: Tensor, options: { caches?: KVCache[]; startPos?: number } = {}): Tensor {
    const { caches, startPos } = options;
    if (caches !== undefined && caches.length !== this.layers.length) {
      throw new RangeError(`DecoderStack.forward: ${caches.length} caches for ${this.layers.length} layers`);
    }
    if (x.rank !== 3 || x.shape[2] !== this.config.dim) throw new RangeError(`DecoderStack.forward: x must be [B, T, ${this.config.dim}], got ${fmtShape(x.shape)}`);
    let h = x; // [B, T, d]
    this.layers.forEach((layer, i) => {
      h = layer.forward(h, { cache: caches?.[i], startPos }); // [B, T, d]
    });
    return this.norm.forward(h); // [B, T, d]
  }
}
