/** Feed-forward pieces: the SwiGLU MLP and dropout. */
import type { Tensor } from '../autograd/tensor.js';
import type { Rng } from '../tensor/random.js';
import { dropout, siluMul } from './functional.js';
import type { LayerOptions } from './init.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

/** Llama MLP without biases: W_down(SiLU(W_gate x) * W_up x) (CALM.md §2.1). */
export class SwiGLU extends Module {
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;

  constructor(dim: number, hidden: number, options: LayerOptions = {}) {
    super();
    this.gate = new Linear(dim, hidden, { ...options, bias: false });
    this.up = new Linear(dim, hidden, { ...options, bias: false });
    this.down = new Linear(hidden, dim, { ...options, bias: false });
  }

  /** x [..., d] -> [..., d]. */
  forward(x: Tensor): Tensor {
    const h = siluMul(this.gate.forward(x), this.up.forward(x)); // [..., hidden]   silu(gate) · up, one fused op
    return this.down.forward(h); // [..., d]
  }
}

/** Inverted dropout with probability `p`; the identity in eval mode. */
export class Dropout extends Module {
  constructor(
    readonly p: number,
    private readonly rng: Rng,
  ) {
    super();
    if (!(p >= 0 && p <= 1)) throw new RangeError(`Dropout: p must be in [0, 1], got ${p}`);
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.rng, this.training); // [...]
  }
}
