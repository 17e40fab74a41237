/** Parameter initialisation shared by the layers: N(0, 0.02^2) weights, zeros, ones. */
import { NDArray } from '../tensor/ndarray.js';
import type { Rng } from '../tensor/random.js';
import { sizeOf, type Shape } from '../tensor/shape.js';
import { Parameter } from './module.js';

/** Float dtypes a layer may be built in (float64 for gradient checks). */
export type FloatDType = 'float32' | 'float64';

/** Options every layer with weights accepts. */
export interface LayerOptions {
  /** Source of the initial weights (required for layers with random weights). */
  rng?: Rng;
  /** Parameter dtype (default float32). */
  dtype?: FloatDType;
}

/** Standard deviation of the initial weights (GPT-2 / Llama style). */
export const INIT_STD = 0.02;

/** A parameter with N(0, std^2) entries drawn from `rng`. */
export function normalParameter(shape: Shape, rng: Rng | undefined, dtype: FloatDType = 'float32', std = INIT_STD, owner = 'layer'): Parameter {
  if (rng === undefined) throw new Error(`${owner}: an rng is needed to initialise a weight of shape [${shape.join(', ')}]`);
  return new Parameter(NDArray.fromData(rng.normalArray(sizeOf(shape), 0, std, dtype), shape));
}

/** A parameter filled with `value`. */
export function constantParameter(shape: Shape, value: number, dtype: FloatDType = 'float32'): Parameter {
  return new Parameter(NDArray.full(shape, value, dtype));
}
