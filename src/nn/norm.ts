/** Normalisation layers (CALM.md §2.1, §3.1). */
import type { Tensor } from '../autograd/tensor.js';
import { fmtShape } from '../tensor/shape.js';
import { layerNorm, rmsNorm } from './functional.js';
import { constantParameter, type FloatDType } from './init.js';
import { Module, type Parameter } from './module.js';

/** Norm options; a plain number is the epsilon. */
export interface NormOptions {
  /** Default 1e-6 (CALM.md §2.1). */
  eps?: number;
  dtype?: FloatDType;
}

function checkLastAxis(op: string, x: Tensor, dim: number): void {
  if (x.rank === 0 || x.shape[x.rank - 1] !== dim) throw new RangeError(`${op}: input ${fmtShape(x.shape)} does not end in ${dim}`);
}

/** RMSNorm over the last axis with a gain initialised to ones; eps 1e-6 (CALM.md §2.1). */
export class RMSNorm extends Module {
  readonly weight: Parameter;
  readonly eps: number;

  constructor(
    readonly dim: number,
    options: NormOptions | number = {},
  ) {
    super();
    const opts = typeof options === 'number' ? { eps: options } : options;
    this.eps = opts.eps ?? 1e-6;
    this.weight = constantParameter([dim], 1, opts.dtype); // [d]
  }

  /** x [..., d] -> [..., d]. */
  forward(x: Tensor): Tensor {
    checkLastAxis('RMSNorm.forward', x, this.dim);
    return rmsNorm(x, this.weight, this.eps); // [..., d]
  }
}

/** LayerNorm over the last axis with learnable gain (ones) and bias (zeros); eps 1e-6 (CALM.md §3.1). */
export class LayerNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly eps: number;

  constructor(
    readonly dim: number,
    options: NormOptions | number = {},
  ) {
    super();
    const opts = typeof options === 'number' ? { eps: options } : options;
    this.eps = opts.eps ?? 1e-6;
    this.weight = constantParameter([dim], 1, opts.dtype); // [d]
    this.bias = constantParameter([dim], 0, opts.dtype); // [d]
  }

  /** x [..., d] -> [..., d]. */
  forward(x: Tensor): Tensor {
    checkLastAxis('LayerNorm.forward', x, this.dim);
    return layerNorm(x, this.weight, this.bias, this.eps); // [..., d]
  }
}
