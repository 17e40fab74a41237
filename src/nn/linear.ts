/** Linear and embedding layers. */
import type { Tensor } from '../autograd/tensor.js';
import { fmtShape } from '../tensor/shape.js';
import { constantParameter, linearInitStd, normalParameter, type LayerOptions } from './init.js';
import { Module, type Parameter } from './module.js';

/**
 * y = x W + b. The weight is stored [in, out] so the forward pass is one plain matmul on the
 * flattened input (no transposed view, no batch broadcast of W).
 */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LayerOptions & { bias?: boolean } = {},
  ) {
    super();
    this.weight = normalParameter([inFeatures, outFeatures], options.rng, options.dtype, linearInitStd(options.init, inFeatures), 'Linear'); // [in, out]
    this.bias = (options.bias ?? true) ? constantParameter([outFeatures], 0, options.dtype) : null; // [out]
  }

  /** x [..., in] -> [..., out]. */
  forward(x: Tensor): Tensor {
    const inF = x.shape[x.rank - 1];
    if (x.rank === 0 || inF !== this.inFeatures) {
      throw new RangeError(`Linear.forward: input ${fmtShape(x.shape)} does not end in ${this.inFeatures} features`);
    }
    const lead = x.shape.slice(0, -1);
    let y = x.reshape([-1, this.inFeatures]).matmul(this.weight); // [N, out]
    if (this.bias !== null) y = y.add(this.bias); // [N, out]
    return y.reshape([...lead, this.outFeatures]); // [..., out]
  }
}

/** A lookup table: row i of the [num, dim] weight is the vector of token i. */
export class Embedding extends Module {
  readonly weight: Parameter;

  constructor(
    readonly numEmbeddings: number,
    readonly dim: number,
    options: LayerOptions = {},
  ) {
    super();
    this.weight = normalParameter([numEmbeddings, dim], options.rng, options.dtype, undefined, 'Embedding'); // [num, dim]
  }

  /** int32 ids [...] -> [..., dim]. */
  forward(ids: Tensor): Tensor {
    if (ids.dtype !== 'int32') throw new TypeError(`Embedding.forward: ids must be int32, got ${ids.dtype} ${fmtShape(ids.shape)}`);
    return this.weight.gather(ids, 0); // [..., dim]
  }
}
