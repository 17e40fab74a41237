/**
 * The CALM language model (CALM.md §3): input compression of K discrete tokens per step, a Llama-style
 * backbone over chunk positions, and the energy head predicting the next chunk's latent vector. The
 * autoencoder is not part of this module: it is frozen and only supplies training targets (§3.3) and
 * decodes latents at generation time (§5).
 */
import { Tensor } from '../autograd/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import type { Rng } from '../tensor/random.js';
import { fmtShape } from '../tensor/shape.js';
import { silu } from '../nn/functional.js';
import { INIT_STD, REFERENCE_WIDTH, type FloatDType, type InitRule } from '../nn/init.js';
import { Embedding, Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { LayerNorm } from '../nn/norm.js';
import type { KVCache } from '../nn/attention.js';
import { DecoderStack, type DecoderConfig } from '../nn/transformer.js';
import type { TransformerLMConfig } from '../nn/transformer-lm.js';
import type { Autoencoder } from './autoencoder.js';
import { EnergyHead } from './energy-head.js';
import { energyLossTerms } from './energy-loss.js';
/** A Llama-style backbone (CALM.md §3.2); on its own, the discrete Transformer baseline. */
export interface BackboneConfig {
  readonly vocabSize: number;
  /** Model width d. */
  readonly d: number;
  /** SwiGLU width. */
  readonly ffn: number;
  readonly layers: number;
  readonly heads: number;
}

/** The CALM language model (CALM.md §3): backbone + input compression + energy head. */
export interface CalmConfig extends BackboneConfig {
  readonly K: number;
  /** Latent size l predicted by the head. */
  readonly latent: number;
  /** Residual blocks B of the energy head. */
  readonly headBlocks: number;
  /** Uniform noise dimension of the energy head. */
  readonly noiseDim: number;
  /** Head samples N per position in training. */
  readonly nSamples: number;
  /** Width of the energy head (default d; the hidden state is projected from d to it by W_h). */
  readonly headDim?: number;
  /**
   * Initialisation of the model's Linear weights (not counted in FLOPs; see `calmInit` in
   * calm-model.ts). Absent: fan-in, N(0, 1/fan_in).
   */
  readonly init?: number | 'fan-in';
  /**
   * Exponent α of the energy score the model is trained with (CALM.md §4.1; absent: the reference's 1).
   * Evaluation always scores α = 1, so held-out losses stay comparable with the reference levels.
   */
  readonly energyExponent?: number;
}

/** The backbone in the nn layer's vocabulary (`DecoderConfig`): the one place the two namings meet. */
export function decoderConfigOf(b: BackboneConfig): DecoderConfig {
  return { dim: b.d, nLayers: b.layers, nHeads: b.heads, ffnHidden: b.ffn };
}

/** A Transformer LM's config (`dim`, `nLayers`, ... as written to its config.json) as a {@link BackboneConfig}. */
export function backboneOf(lm: TransformerLMConfig): BackboneConfig {
  return { vocabSize: lm.vocabSize, d: lm.dim, ffn: lm.ffnHidden, layers: lm.nLayers, heads: lm.nHeads };
}

/**
 * σ = 0.02 · √(1024 / d): the reference's 0.02 at the reference's width d = 1024, scaled as 1/√d for other
 * widths (`calm train --model calm --init width`).
 */
export function widthAwareInitStd(d: number): number {
  return INIT_STD * Math.sqrt(REFERENCE_WIDTH / d);
}

/**
 * The initialisation of a CALM's Linear weights: its config's `init`, by default 'fan-in', N(0, 1/fan_in)
 * (the head's output layer stays exactly zero, CALM.md §3.4).
 *
 * Why not the reference's fixed N(0, 0.02²) (a deviation, measured; README "Deliberate deviations"): at
 * d = 64 every Linear of the head's conditioning path (W_h, Lin1, Lin2, Lin3, W_o) then has a gain near
 * 0.2, so the hidden state's influence on the head's output is about 1e-6 at the start. The gradient that
 * reaches the backbone is below AdamW's ε, the backbone never learns, and the head fits only the
 * unconditional latent distribution. Fan-in scaling gives every layer unit gain at any width;
 * scripts/init-gradients.ts prints the gradient norms per group under each rule.
 */
export function calmInit(config: CalmConfig): InitRule {
  return config.init ?? 'fan-in';
}

/**
 * The model. Parameter names: `tokenEmbedding.weight` (E_lm, separate from the AE's table),
 * `compressIn`, `compressOut`, `compressNorm` (§3.1), `backbone.*` (§3.2), `head.*` (§3.4).
 */
export class CalmModel extends Module {
  readonly tokenEmbedding: Embedding;
  readonly compressIn: Linear;
  readonly compressOut: Linear;
  readonly compressNorm: LayerNorm;
  readonly backbone: DecoderStack;
  readonly head: EnergyHead;

  constructor(
    readonly config: CalmConfig,
    options: { rng: Rng; dtype?: FloatDType },
  ) {
    super();
    const { vocabSize, d, K, latent, headBlocks, noiseDim } = config;
    const layer = { ...options, init: calmInit(config) };
    this.tokenEmbedding = new Embedding(vocabSize, d, layer); // E_lm [V, d]
    this.compressIn = new Linear(K * d, 2 * d, layer); // W1: K·d → 2d
    this.compressOut = new Linear(2 * d, d, layer); // W2: 2d → d
    this.compressNorm = new LayerNorm(d, { dtype: options.dtype }); // ε = 1e-6
    this.backbone = new DecoderStack(decoderConfigOf(config), layer);
    this.head = new EnergyHead({ dim: config.headDim ?? d, inputDim: d, latent, noiseDim, blocks: headBlocks }, layer); // its output layer stays zero
  }

  /**
   * Input compression (CALM.md §3.1): ids [B, T·K] -> v [B, T, d] with
   * v_t = LayerNorm(W2 · SiLU(W1 · [E[x_tK]; …; E[x_tK+K−1]] + b1) + b2).
   */
  embedChunks(ids: Tensor): Tensor {
    const { K, d } = this.config;
    if (ids.dtype !== 'int32' || ids.rank !== 2 || ids.shape[1] % K !== 0 || ids.shape[1] === 0) {
      throw new TypeError(`CalmModel.embedChunks: ids must be int32 [B, T·${K}] with T >= 1, got ${ids.dtype} ${fmtShape(ids.shape)}`);
    }
    const [b, n] = ids.shape;
    const t = n / K;
    const u = this.tokenEmbedding.forward(ids).reshape([b, t, K * d]); // [B, T, K·d]   concatenated token embeddings
    return this.compressNorm.forward(this.compressOut.forward(silu(this.compressIn.forward(u)))); // [B, T, d]
  }

  /** Final-normed hidden states h [B, T, d] for ids [B, T·K] (CALM.md §3.2); caches continue a sequence. */
  hidden(ids: Tensor, options: { caches?: KVCache[]; startPos?: number } = {}): Tensor {
    return this.backbone.forward(this.embedChunks(ids), options); // [B, T, d]
  }

  /**
   * Training loss on a block of T chunks (CALM.md §3.3, §4.2): h_t predicts chunk t+1, so T−1 positions
   * per sequence; targets are M samples from the frozen AE posterior of the true next chunk. Also
   * returns the loss's attraction and repulsion terms and its value at each position, for diagnostics.
   */
  loss(
    ids: Tensor,
    autoencoder: Autoencoder,
    rng: Rng,
    targetSamples: number,
    targets: TargetKind = 'posterior',
    alpha: number = this.config.energyExponent ?? 1,
  ): { loss: Tensor; positions: number; attraction: Tensor; repulsion: Tensor; perPosition: Tensor } {
    const { K, latent, nSamples } = this.config;
    const [b, n] = ids.shape;
    const t = n / K;
    if (!Number.isInteger(t) || t < 2) throw new RangeError(`CalmModel.loss: ids must be [B, T·${K}] with T >= 2 chunks, got ${fmtShape(ids.shape)}`);
    const positions = b * (t - 1);
    const h = this.hidden(ids); // [B, T, d]
    const context = h.sliceAxis(1, 0, t - 1).reshape([positions, this.config.d]); // [P, d]   h_0 … h_{T−2}
    const samples = this.head.sample(context, nSamples, rng); // [P, N, l]   N head samples per position
    const { mu, logSigma } = nextChunkPosterior(autoencoder, ids); // [P, l] each   posterior of c_1 … c_{T−1}
    const y = chunkTargets(mu, logSigma, targets, targetSamples, rng); // [P, M, l], or [P, 1, l] for μ targets
    if (y.shape[2] !== latent) throw new RangeError(`CalmModel.loss: the autoencoder's latent size ${y.shape[2]} differs from the model's ${latent}`);
    return { ...energyLossTerms(samples, y, alpha), positions };
  }
}

/**
 * Posterior (μ, s = log σ) [B·(T−1), l] of chunks 1 … T−1 of ids [B, T·K] under the frozen autoencoder
 * (CALM.md §3.3): computed without recording a graph, so no gradient can reach the AE.
 */
export function nextChunkPosterior(autoencoder: Autoencoder, ids: Tensor): { mu: Tensor; logSigma: Tensor } {
  const K = autoencoder.config.K;
  const [b, n] = ids.shape;
  const t = n / K;
  return noGrad(() => {
    const next = ids.reshape([b, t, K]).sliceAxis(1, 1, t).contiguous().reshape([b * (t - 1), K]); // [P, K]   c_1 … c_{T−1}
    const { mu, logSigma } = autoencoder.encode(next); // [P, l] each
    return { mu: mu.detach(), logSigma: logSigma.detach() };
  });
}

/**
 * What the head is trained to match: 'posterior', M samples of the AE posterior of the true next chunk
 * (the reference, CALM.md §3.3, §4.2), or 'mean', the posterior mean μ alone (one target per position).
 * μ targets drop the posterior noise (σ ≈ 0.35 in each of l dimensions) from the attraction term, whose
 * gradient direction it otherwise dominates; the AE decodes μ and nearby points to the same chunk
 * (CALM.md §2.9), so generation is unchanged in kind.
 */
export type TargetKind = 'posterior' | 'mean';

/** Targets [P, M, l] (posterior) or [P, 1, l] (mean) from the posterior (μ, log σ) [P, l]. */
export function chunkTargets(mu: Tensor, logSigma: Tensor, kind: TargetKind, count: number, rng: Rng): Tensor {
  if (kind === 'mean') return mu.reshape([mu.shape[0], 1, mu.shape[1]]); // [P, 1, l]
  return posteriorSamples(mu, logSigma, count, rng); // [P, M, l]
}

/** M samples y_m = μ + σ ⊙ ε_m with σ = exp(s), ε_m ~ N(0, I) (CALM.md §4.2): [P, l] -> [P, M, l]. */
export function posteriorSamples(mu: Tensor, logSigma: Tensor, count: number, rng: Rng): Tensor {
  const [p, l] = mu.shape;
  const eps = Tensor.randn([p, count, l], rng, { dtype: mu.dtype === 'float64' ? 'float64' : 'float32' }); // [P, M, l]
  return noGrad(() => mu.reshape([p, 1, l]).add(logSigma.exp().reshape([p, 1, l]).mul(eps))); // [P, M, l]
}
