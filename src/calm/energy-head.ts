/**
 * The energy-based generative head of CALM ("MLPGenerator", CALM.md §3.4): one stochastic MLP step
 * mapping a hidden state h and uniform noise u to a predicted latent vector.
 */
import { Tensor } from '../autograd/tensor.js';
import { NDArray } from '../tensor/ndarray.js';
import type { Rng } from '../tensor/random.js';
import { fmtShape } from '../tensor/shape.js';
import { silu } from '../nn/functional.js';
import type { LayerOptions } from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { LayerNorm } from '../nn/norm.js';

/** Sizes of the energy head. */
export interface EnergyHeadConfig {
  /** Width of the head (the reference uses the backbone width d). */
  readonly dim: number;
  /** Width of the hidden states h it is conditioned on (default `dim`). */
  readonly inputDim?: number;
  /** Latent size l of the autoencoder. */
  readonly latent: number;
  /** Uniform noise dimension (reference 64). */
  readonly noiseDim: number;
  /** Residual blocks B (reference 4). */
  readonly blocks: number;
}

/** One residual block: a ← a + W_o(SiLU(gate) ⊙ up), [gate; up] = Lin3(SiLU(Lin2(SiLU(Lin1([LN(a); c]))))) (CALM.md §3.4 step 3). */
export class EnergyHeadBlock extends Module {
  readonly norm: LayerNorm;
  readonly lin1: Linear;
  readonly lin2: Linear;
  readonly lin3: Linear;
  readonly out: Linear;

  constructor(dim: number, options: LayerOptions & { rng: Rng }) {
    super();
    this.norm = new LayerNorm(dim, { dtype: options.dtype });
    this.lin1 = new Linear(2 * dim, dim, options);
    this.lin2 = new Linear(dim, dim, options);
    this.lin3 = new Linear(dim, 2 * dim, options);
    this.out = new Linear(dim, dim, options);
  }

  /** a [..., d] (noise path), c [..., d] (conditioning) -> new a [..., d]. */
  forward(a: Tensor, c: Tensor): Tensor {
    const dim = this.norm.dim;
    const joined = Tensor.concat([this.norm.forward(a), c], -1); // [..., 2d]   [LN_blk(a); c]
    const g = this.lin3.forward(silu(this.lin2.forward(silu(this.lin1.forward(joined))))); // [..., 2d]
    const [gate, up] = g.split([dim, dim], -1); // [..., d] each; the first half is the gate
    return a.add(this.out.forward(silu(gate).mul(up))); // [..., d]
  }
}

/**
 * The head. `forward(h, u)` is one sample per row; {@link EnergyHead.sample} draws N samples per
 * position as one batched forward over N × positions.
 */
export class EnergyHead extends Module {
  readonly noiseProj: Linear;
  readonly noiseNorm: LayerNorm;
  readonly hiddenProj: Linear;
  readonly hiddenNorm: LayerNorm;
  readonly blocks: EnergyHeadBlock[];
  readonly finalNorm: LayerNorm;
  readonly finalLinear: Linear;
  readonly outLinear: Linear;

  constructor(
    readonly config: EnergyHeadConfig,
    options: LayerOptions & { rng: Rng },
  ) {
    super();
    const { dim, latent, noiseDim, blocks } = config;
    const norm = { dtype: options.dtype };
    this.noiseProj = new Linear(noiseDim, dim, options); // W_n
    this.noiseNorm = new LayerNorm(dim, norm); // LN_noise
    this.hiddenProj = new Linear(config.inputDim ?? dim, dim, options); // W_h
    this.hiddenNorm = new LayerNorm(dim, norm); // LN_h
    this.blocks = Array.from({ length: blocks }, () => new EnergyHeadBlock(dim, options));
    this.finalNorm = new LayerNorm(dim, norm); // LN_f
    this.finalLinear = new Linear(dim, dim, options); // Lin_f
    this.outLinear = new Linear(dim, latent, options); // Lin_out
    // CALM.md §3.4: Lin_out weight and bias start at exactly zero, so every sample is 0 at step 0.
    this.outLinear.weight.assign(NDArray.zeros(this.outLinear.weight.shape, options.dtype ?? 'float32'));
  }

  /**
   * h [..., d] and noise u [..., S, noiseDim] (S samples per row of h) -> z_hat [..., S, l].
   * The conditioning c = LN_h(W_h h) is computed once per row of h and broadcast over the S samples
   * (identical to repeating h, CALM.md §3.4 step 2).
   */
  forward(h: Tensor, noise: Tensor): Tensor {
    const { dim, noiseDim } = this.config;
    const inputDim = this.config.inputDim ?? dim;
    if (h.rank < 1 || h.shape[h.rank - 1] !== inputDim || noise.rank !== h.rank + 1 || noise.shape[noise.rank - 1] !== noiseDim) {
      throw new RangeError(`EnergyHead.forward: h must be [..., ${inputDim}] and noise [..., S, ${noiseDim}], got ${fmtShape(h.shape)} and ${fmtShape(noise.shape)}`);
    }
    const s = noise.shape[noise.rank - 2];
    const lead = h.shape.slice(0, -1);
    let a = this.noiseNorm.forward(this.noiseProj.forward(noise)); // [..., S, d]   step 1: LN_noise(W_n u + b_n)
    const c = this.hiddenNorm.forward(this.hiddenProj.forward(h)).unsqueeze(-2).expand([...lead, s, dim]); // [..., S, d]   step 2
    for (const block of this.blocks) a = block.forward(a, c); // [..., S, d]   step 3
    return this.outLinear.forward(silu(this.finalLinear.forward(this.finalNorm.forward(a)))); // [..., S, l]   step 4
  }

  /** Noise u ~ U[−0.5, 0.5]^{noiseDim} for `count` samples per row of `lead` (CALM.md §3.4). */
  drawNoise(lead: readonly number[], count: number, rng: Rng): Tensor {
    const dtype = this.noiseProj.weight.dtype === 'float64' ? 'float64' : 'float32';
    return Tensor.rand([...lead, count, this.config.noiseDim], rng, { lo: -0.5, hi: 0.5, dtype }); // [..., S, noiseDim]
  }

  /** `count` independent samples per row of h [..., d]: [..., count, l]. */
  sample(h: Tensor, count: number, rng: Rng): Tensor {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`EnergyHead.sample: count must be a positive integer, got ${count}`);
    return this.forward(h, this.drawNoise(h.shape.slice(0, -1), count, rng)); // [..., count, l]
  }
}
