/** Rotary position embedding and causal multi-head self-attention with a key/value cache (CALM.md §3.2). */
import { Tensor } from '../autograd/tensor.js';
import { fmtShape } from '../tensor/shape.js';
import { applyRope, causalAttention, ropeTables } from './functional.js';
import type { FloatDType, LayerOptions } from './init.js';
import { Linear } from './linear.js';
import { Module } from './module.js';
import { keep } from '../tensor/memory.js';

/**
 * RoPE, rotate-half convention, θ = 10,000 by default (CALM.md §3.2). Keeps cos/sin tables for
 * positions [0, capacity) and grows them (doubling) when a later position is asked for. The
 * tables are constants, not parameters.
 */
export class RotaryEmbedding extends Module {
  readonly theta: number;
  readonly dtype: FloatDType;
  private cos: Tensor | null = null; // [capacity, hd/2]
  private sin: Tensor | null = null; // [capacity, hd/2]

  constructor(
    readonly headDim: number,
    options: { theta?: number; dtype?: FloatDType } = {},
  ) {
    super();
    if (headDim <= 0 || headDim % 2 !== 0) throw new RangeError(`RotaryEmbedding: headDim must be even and positive, got ${headDim}`);
    this.theta = options.theta ?? 10000;
    this.dtype = options.dtype ?? 'float32';
  }

  /** Rotates x [..., T, hd] whose T rows sit at positions startPos ... startPos + T - 1. */
  forward(x: Tensor, startPos = 0): Tensor {
    const t = x.shape[x.rank - 2];
    if (x.rank < 2 || x.shape[x.rank - 1] !== this.headDim) {
      throw new RangeError(`RotaryEmbedding.forward: input ${fmtShape(x.shape)} does not end in [T, ${this.headDim}]`);
    }
    if (!Number.isInteger(startPos) || startPos < 0) throw new RangeError(`RotaryEmbedding.forward: startPos must be a non-negative integer, got ${startPos}`);
    const need = startPos + t;
    if (this.cos === null || this.cos.shape[0] < need) {
      const capacity = Math.max(need, 2 * (this.cos?.shape[0] ?? 0), 16);
      ({ cos: this.cos, sin: this.sin } = ropeTables(0, capacity, this.headDim, { theta: this.theta, dtype: this.dtype }));
      // The tables outlive the step that built them: exempt them from any open memoryScope.
      keep(this.cos.data);
      keep(this.sin!.data);
    }
    const cos = this.cos.sliceAxis(0, startPos, need); // [T, hd/2]
    const sin = this.sin!.sliceAxis(0, startPos, need); // [T, hd/2]
    return applyRope(x, cos, sin); // [..., T, hd]
  }
}

/** Keys and values of the positions seen so far, for one attention layer. */
export class KVCache {
  /** [B, H, S, hd] or null before the first step. */
  k: Tensor | null = null;
  v: Tensor | null = null;

  /** Number of cached positions S. */
  get length(): number {
    return this.k === null ? 0 : this.k.shape[2];
  }

  /** Appends k, v [B, H, T, hd]; returns the full [B, H, S + T, hd] keys and values. */
  append(k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    this.k = this.k === null ? k : Tensor.concat([this.k, k], 2); // [B, H, S + T, hd]
    this.v = this.v === null ? v : Tensor.concat([this.v, v], 2); // [B, H, S + T, hd]
    return { k: this.k, v: this.v };
  }

  clear(): void {
    this.k = null;
    this.v = null;
  }
}

/** Options of a forward pass through attention (and the blocks above it). */
export interface AttentionForwardOptions {
  /** Cache to read past keys/values from and append this step's to (generation). */
  cache?: KVCache;
  /** Position of the first input row (default: the cache length, or 0). */
  startPos?: number;
}

/** Causal multi-head self-attention without biases, RoPE on q and k, scale 1/sqrt(head_dim) (CALM.md §3.2). */
export class CausalSelfAttention extends Module {
  readonly headDim: number;
  readonly wq: Linear;
  readonly wk: Linear;
  readonly wv: Linear;
  readonly wo: Linear;
  readonly rope: RotaryEmbedding;

  constructor(
    readonly dim: number,
    readonly nHeads: number,
    options: LayerOptions & { ropeTheta?: number } = {},
  ) {
    super();
    if (dim % nHeads !== 0) throw new RangeError(`CausalSelfAttention: dim ${dim} is not divisible by nHeads ${nHeads}`);
    this.headDim = dim / nHeads;
    const linear = { rng: options.rng, dtype: options.dtype, init: options.init, bias: false };
    this.wq = new Linear(dim, dim, linear);
    this.wk = new Linear(dim, dim, linear);
    this.wv = new Linear(dim, dim, linear);
    this.wo = new Linear(dim, dim, linear);
    this.rope = new RotaryEmbedding(this.headDim, { theta: options.ropeTheta, dtype: options.dtype });
  }

  /** x [B, T, d] -> [B, T, d]. */
  forward(x: Tensor, options: AttentionForwardOptions = {}): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.dim) throw new RangeError(`CausalSelfAttention.forward: x must be [B, T, ${this.dim}], got ${fmtShape(x.shape)}`);
    const [b, t] = x.shape;
    const cache = options.cache;
    const startPos = options.startPos ?? cache?.length ?? 0;
    if (cache !== undefined && cache.length !== startPos) {
      throw new RangeError(`CausalSelfAttention.forward: startPos ${startPos} differs from the cache length ${cache.length}`);
    }
    const heads = (y: Tensor): Tensor => y.reshape([b, t, this.nHeads, this.headDim]).permute([0, 2, 1, 3]); // [B, H, T, hd]
    const q = this.rope.forward(heads(this.wq.forward(x)), startPos); // [B, H, T, hd]
    let k = this.rope.forward(heads(this.wk.forward(x)), startPos); // [B, H, T, hd]
    let v = heads(this.wv.forward(x)); // [B, H, T, hd]
    if (cache !== undefined) ({ k, v } = cache.append(k, v)); // [B, H, S, hd]
    const out = causalAttention(q, k, v); // [B, H, T, hd]
    return this.wo.forward(out.permute([0, 2, 1, 3]).reshape([b, t, this.dim])); // [B, T, d]
  }
}
