/**
 * The CALM autoencoder (CALM.md §2): a per-chunk variational MLP autoencoder mapping K tokens to a
 * Gaussian posterior N(μ, σ²) over a latent z ∈ R^l and back. No attention, no positional embedding:
 * every chunk is processed on its own, token order is carried only by the flatten order (§2.3).
 */
import { Tensor } from '../autograd/tensor.js';
import { NDArray } from '../tensor/ndarray.js';
import type { Rng } from '../tensor/random.js';
import { fmtShape } from '../tensor/shape.js';
import { crossEntropy, dropout } from '../nn/functional.js';
import type { FloatDType } from '../nn/init.js';
import { Embedding, Linear } from '../nn/linear.js';
import { SwiGLU } from '../nn/mlp.js';
import { Module } from '../nn/module.js';
import { RMSNorm } from '../nn/norm.js';
/** The autoencoder of CALM.md §2. */
export interface AutoencoderConfig {
  readonly vocabSize: number;
  /** Tokens per chunk. */
  readonly K: number;
  /** d_ae. */
  readonly hidden: number;
  /** SwiGLU width f. */
  readonly intermediate: number;
  /** Latent size l. */
  readonly latent: number;
  /** AELayers in the encoder, split evenly before/after the compress step (must be even). */
  readonly encoderLayers: number;
  /** AELayers in the decoder, split evenly before/after the expand step (must be even). */
  readonly decoderLayers: number;
}

/** The fields a CALM model must share with the autoencoder it is trained against and decodes with. */
export type AutoencoderInterface = Pick<AutoencoderConfig, 'vocabSize' | 'K' | 'latent'>;

/**
 * The one compatibility check between a CALM model (or its config) and an autoencoder: the same vocabulary,
 * chunk size K and latent size l. Returns null when they match, otherwise what differs.
 */
export function autoencoderMismatch(model: AutoencoderInterface, autoencoder: AutoencoderInterface): string | null {
  const a = autoencoder;
  if (a.K === model.K && a.latent === model.latent && a.vocabSize === model.vocabSize) return null;
  return `autoencoder (K ${a.K}, latent ${a.latent}, V ${a.vocabSize}) does not match the model (K ${model.K}, latent ${model.latent}, V ${model.vocabSize})`;
}

/** Throws a RangeError prefixed with `fn` when {@link autoencoderMismatch} finds a difference. */
export function checkAutoencoderMatch(fn: string, model: AutoencoderInterface, autoencoder: AutoencoderInterface): void {
  const mismatch = autoencoderMismatch(model, autoencoder);
  if (mismatch !== null) throw new RangeError(`${fn}: ${mismatch}`);
}

/** Training-time regularisation of the AE (CALM.md §2.6, §2.7); reference values are the defaults. */
export interface AutoencoderRegularisation {
  /** KL weight β (default 1e-3). */
  readonly beta: number;
  /** KL floor λ per dimension (default 0.5). */
  readonly klFloor: number;
  /** Token dropout probability on the inputs (default 0.15). */
  readonly tokenDropout: number;
  /** Inverted dropout probability on the sampled z (default 0.15). */
  readonly latentDropout: number;
  /**
   * Id that dropped input tokens become. Deviation from the reference (CALM.md §2.6, §11.4), which uses
   * id 0, an ordinary token: with the byte tokenizer id 0 is the NUL byte, so we use the tokenizer's
   * dedicated MASK id instead.
   */
  readonly maskId: number;
}

/** The reference regularisation (CALM.md §2.7) with the given MASK id. */
export function defaultRegularisation(maskId: number): AutoencoderRegularisation {
  return { beta: 1e-3, klFloor: 0.5, tokenDropout: 0.15, latentDropout: 0.15, maskId };
}

/** Pre-norm residual SwiGLU layer without attention: x ← x + FFN(RMSNorm(x)) (CALM.md §2.1). */
export class AELayer extends Module {
  readonly norm: RMSNorm;
  readonly ffn: SwiGLU;

  constructor(hidden: number, intermediate: number, options: { rng: Rng; dtype?: FloatDType }) {
    super();
    this.norm = new RMSNorm(hidden, { dtype: options.dtype });
    this.ffn = new SwiGLU(hidden, intermediate, options);
  }

  /** x [..., d] -> [..., d]. */
  forward(x: Tensor): Tensor {
    return x.add(this.ffn.forward(this.norm.forward(x))); // [..., d]
  }
}

/** Per-chunk loss terms of one AE forward pass (CALM.md §2.7). */
export interface AutoencoderLoss {
  /** K · mean token CE + β · mean over chunks of Σ_i max(KL_i, λ). */
  readonly loss: Tensor;
  /** Mean token cross-entropy (nats). */
  readonly ce: number;
  /** Mean over chunks of the clipped KL sum. */
  readonly klClipped: number;
  /** Mean over chunks of the unclipped KL sum. */
  readonly kl: number;
}

/**
 * The autoencoder. Parameter names: `embedding.weight` (the one tied table E, CALM.md §2.5),
 * `encoderPre.*`, `compress`, `encoderPost.*`, `encoderNorm`, `latentHead`, `fromLatent`,
 * `decoderPre.*`, `expand`, `decoderPost.*`, `decoderNorm`.
 */
export class Autoencoder extends Module {
  readonly embedding: Embedding;
  readonly encoderPre: AELayer[];
  readonly compress: Linear;
  readonly encoderPost: AELayer[];
  readonly encoderNorm: RMSNorm;
  readonly latentHead: Linear;
  readonly fromLatent: Linear;
  readonly decoderPre: AELayer[];
  readonly expand: Linear;
  readonly decoderPost: AELayer[];
  readonly decoderNorm: RMSNorm;

  constructor(
    readonly config: AutoencoderConfig,
    options: { rng: Rng; dtype?: FloatDType },
  ) {
    super();
    const { vocabSize, K, hidden, intermediate, latent, encoderLayers, decoderLayers } = config;
    if (encoderLayers % 2 !== 0 || decoderLayers % 2 !== 0 || encoderLayers < 2 || decoderLayers < 2) {
      // The reference splits n // 2 per stage and would silently drop a layer (CALM.md §2.2).
      throw new RangeError(`Autoencoder: encoderLayers and decoderLayers must be even and >= 2, got ${encoderLayers}, ${decoderLayers}`);
    }
    const layers = (n: number): AELayer[] => Array.from({ length: n }, () => new AELayer(hidden, intermediate, options));
    this.embedding = new Embedding(vocabSize, hidden, options); // E [V, d_ae], CALM.md §2.5
    this.encoderPre = layers(encoderLayers / 2);
    this.compress = new Linear(K * hidden, hidden, options);
    this.encoderPost = layers(encoderLayers / 2);
    this.encoderNorm = new RMSNorm(hidden, { dtype: options.dtype });
    this.latentHead = new Linear(hidden, 2 * latent, options);
    this.fromLatent = new Linear(latent, hidden, options);
    this.decoderPre = layers(decoderLayers / 2);
    this.expand = new Linear(hidden, K * hidden, options);
    this.decoderPost = layers(decoderLayers / 2);
    this.decoderNorm = new RMSNorm(hidden, { dtype: options.dtype });
  }

  /** Checks ids [C, K] (int32, in the vocabulary). */
  private checkChunks(op: string, ids: Tensor): void {
    const { K } = this.config;
    if (ids.dtype !== 'int32' || ids.rank !== 2 || ids.shape[1] !== K) {
      throw new TypeError(`${op}: ids must be int32 [C, ${K}], got ${ids.dtype} ${fmtShape(ids.shape)}`);
    }
  }

  /**
   * Encoder (CALM.md §2.3): ids [C, K] -> μ [C, l] and s = log σ [C, l]. Chunks never interact.
   */
  encode(ids: Tensor): { mu: Tensor; logSigma: Tensor } {
    this.checkChunks('Autoencoder.encode', ids);
    const { K, hidden, latent } = this.config;
    const c = ids.shape[0];
    let x = this.embedding.forward(ids); // [C, K, d]            §2.3 step 1
    for (const layer of this.encoderPre) x = layer.forward(x); // [C, K, d]   step 2, shared over positions
    let v = this.compress.forward(x.reshape([c, K * hidden])); // [C, d]   steps 3-4: flatten in order, compress
    for (const layer of this.encoderPost) v = layer.forward(v); // [C, d]   step 5
    const stats = this.latentHead.forward(this.encoderNorm.forward(v)); // [C, 2l]   steps 6-7
    const [mu, logSigma] = stats.split([latent, latent], 1); // [C, l] each; σ = exp(s), §2.3 step 7
    return { mu, logSigma };
  }

  /** Decoder (CALM.md §2.4): z [C, l] -> logits [C, K, V] through the tied embedding. */
  decode(z: Tensor): Tensor {
    const { K, hidden, latent, vocabSize } = this.config;
    if (z.rank !== 2 || z.shape[1] !== latent) throw new RangeError(`Autoencoder.decode: z must be [C, ${latent}], got ${fmtShape(z.shape)}`);
    const c = z.shape[0];
    let v = this.fromLatent.forward(z); // [C, d]                 §2.4 step 1
    for (const layer of this.decoderPre) v = layer.forward(v); // [C, d]   step 2
    let x = this.expand.forward(v).reshape([c, K, hidden]); // [C, K, d]   step 3
    for (const layer of this.decoderPost) x = layer.forward(x); // [C, K, d]   step 4
    const h = this.decoderNorm.forward(x).reshape([c * K, hidden]); // [C·K, d]   step 5
    return h.matmul(this.embedding.weight.transpose()).reshape([c, K, vocabSize]); // [C, K, V]   step 6: h·Eᵀ, no bias
  }

  /** Argmax tokens of decoding z [C, l]: int32 [C, K] (CALM.md §5 step 4). */
  decodeTokens(z: Tensor): Tensor {
    return this.decode(z).argmax(-1); // [C, K]
  }

  /**
   * The training forward pass and loss (CALM.md §2.6, §2.7). In training mode: token dropout on the
   * inputs, reparameterised sample, latent dropout; in eval mode none of the dropouts (z is still
   * sampled, as in the reference). Targets are always the original ids.
   */
  loss(ids: Tensor, reg: AutoencoderRegularisation, rng: Rng): AutoencoderLoss {
    this.checkChunks('Autoencoder.loss', ids);
    const { K, vocabSize } = this.config;
    const c = ids.shape[0];
    const inputs = this.training ? tokenDropout(ids, reg.tokenDropout, reg.maskId, rng) : ids; // [C, K]   §2.6 step 1
    const { mu, logSigma } = this.encode(inputs); // [C, l] each   step 2
    let z = reparameterise(mu, logSigma, rng); // [C, l]   step 3
    z = dropout(z, reg.latentDropout, rng, this.training); // [C, l]   step 4: inverted dropout
    const logits = this.decode(z); // [C, K, V]   step 5
    const ce = crossEntropy(logits.reshape([c * K, vocabSize]), ids.reshape([c * K])); // []   mean token CE
    const klDims = gaussianKl(mu, logSigma); // [C, l]   §2.7
    const klClipped = klDims.maximum(reg.klFloor).sum(1).mean(); // []   mean_chunk Σ_i max(KL_i, λ)
    const loss = ce.mul(K).add(klClipped.mul(reg.beta)); // []   L_AE = K·CE + β·KL_clip
    return { loss, ce: ce.item(), klClipped: klClipped.item(), kl: klDims.sum(1).mean().item() };
  }
}

/**
 * Closed-form KL(N(μ, σ²) ‖ N(0, 1)) per dimension with s = log σ (CALM.md §2.7):
 * KL_i = ½ (μ_i² + σ_i² − 1 − 2 s_i). Shapes are kept.
 */
export function gaussianKl(mu: Tensor, logSigma: Tensor): Tensor {
  const sigmaSq = logSigma.mul(2).exp(); // [..., l]   σ² = exp(2s)
  return mu.mul(mu).add(sigmaSq).sub(1).sub(logSigma.mul(2)).mul(0.5); // [..., l]
}

/** z = μ + σ ⊙ ε with ε ~ N(0, I) from `rng` (CALM.md §2.6 step 3); gradients flow to μ and s. */
export function reparameterise(mu: Tensor, logSigma: Tensor, rng: Rng): Tensor {
  const eps = Tensor.randn(mu.shape, rng, { dtype: floatDType(mu) }); // [..., l]
  return mu.add(logSigma.exp().mul(eps)); // [..., l]
}

/**
 * Token dropout (CALM.md §2.6 step 1): each id is replaced by `maskId` with probability p. The
 * reference uses id 0; we use a dedicated MASK id (deviation, §11.4). Returns a new int32 tensor.
 */
export function tokenDropout(ids: Tensor, p: number, maskId: number, rng: Rng): Tensor {
  if (!(p >= 0 && p < 1)) throw new RangeError(`tokenDropout: p must be in [0, 1), got ${p}`);
  if (ids.dtype !== 'int32') throw new TypeError(`tokenDropout: ids must be int32, got ${ids.dtype} ${fmtShape(ids.shape)}`);
  if (p === 0) return ids; // like dropout: no draws at p = 0
  const out = Int32Array.from(ids.toTypedArray());
  for (let i = 0; i < out.length; i++) if (rng.uniform() < p) out[i] = maskId;
  return new Tensor(NDArray.fromData(out, ids.shape, 'int32'));
}

function floatDType(t: Tensor): 'float32' | 'float64' {
  return t.dtype === 'float64' ? 'float64' : 'float32';
}
