/** Parameter initialisation shared by the layers: normal weights (fixed or fan-in scaled), zeros, ones. */
import { NDArray } from '../tensor/ndarray.js';
import type { Rng } from '../tensor/random.js';
import { sizeOf, type Shape } from '../tensor/shape.js';
import { Parameter } from './module.js';

/** Float dtypes a layer may be built in (float64 for gradient checks). */
export type FloatDType = 'float32' | 'float64';

/**
 * How a Linear layer's weight is drawn: a number is a fixed standard deviation (the reference's 0.02
 * by default), `'fan-in'` draws N(0, 1/fan_in), so every layer starts with unit gain whatever its width.
 */
export type InitRule = number | 'fan-in';

/** Options every layer with weights accepts. */
export interface LayerOptions {
  /** Source of the initial weights (required for layers with random weights). */
  rng?: Rng;
  /** Parameter dtype (default float32). */
  dtype?: FloatDType;
  /** Initialisation of Linear weights (default {@link INIT_STD}); embeddings always use INIT_STD. */
  init?: InitRule;
}

/** Standard deviation of the initial weights (GPT-2 / Llama style, chosen for width 1024). */
export const INIT_STD = 0.02;

/** The width the reference's {@link INIT_STD} was chosen for (CALM.md §2.5, §3.2: d = 1024). */
export const REFERENCE_WIDTH = 1024;

/** Standard deviation of a Linear weight with `fanIn` inputs under `rule`. */
export function linearInitStd(rule: InitRule | undefined, fanIn: number): number {
  if (rule === undefined) return INIT_STD;
  if (rule === 'fan-in') return 1 / Math.sqrt(Math.max(1, fanIn));
  if (!(rule >= 0) || !Number.isFinite(rule)) throw new RangeError(`linearInitStd: init std must be a finite number >= 0, got ${rule}`);
  return rule;
}

/** A parameter with N(0, std^2) entries drawn from `rng`. */
export function normalParameter(shape: Shape, rng: Rng | undefined, dtype: FloatDType = 'float32', std = INIT_STD, owner = 'layer'): Parameter {
  if (rng === undefined) throw new Error(`${owner}: an rng is needed to initialise a weight of shape [${shape.join(', ')}]`);
  return new Parameter(NDArray.fromData(rng.normalArray(sizeOf(shape), 0, std, dtype), shape));
}

/** A parameter filled with `value`. */
export function constantParameter(shape: Shape, value: number, dtype: FloatDType = 'float32'): Parameter {
  return new Parameter(NDArray.full(shape, value, dtype));
}
