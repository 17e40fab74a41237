/**
 * AdamW with decoupled weight decay (Loshchilov & Hutter; PyTorch's `torch.optim.AdamW`), and
 * global gradient-norm clipping. Updates run on host typed arrays, outside any graph: in place on a
 * host backend (the CPU's), through a copy and a new buffer on a device backend.
 */
import { Tensor } from '../autograd/tensor.js';
import { NDArray } from '../tensor/ndarray.js';
import type { TypedArray } from '../tensor/dtype.js';
import { fmtShape, shapesEqual } from '../tensor/shape.js';
import { cpuAccelEnabled } from '../tensor/accel/index.js';
import { WasmAdamW } from '../tensor/accel/wasm-adamw.js';
import type { NamedArray } from './io/safetensors.js';
import { assignData } from './module.js';

/** Decides whether a parameter (by dotted name) gets weight decay. */
export type DecayFilter = (name: string, param: Tensor) => boolean;

/**
 * Default: matrices only (rank >= 2) and not embedding tables, so biases, norm gains and embeddings do not
 * decay (our choice, CALM.md §8.1; nanoGPT, for one, decays its embedding table too).
 */
export const decayMatricesExceptEmbeddings: DecayFilter = (name, p) => p.rank >= 2 && !name.toLowerCase().includes('embed');

export interface AdamWOptions {
  lr: number;
  /** [β1, β2], default [0.9, 0.95] (CALM.md §8.1). */
  betas?: readonly [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay λ, default 0.1. */
  weightDecay?: number;
  /** Which parameters decay (default {@link decayMatricesExceptEmbeddings}). */
  decayFilter?: DecayFilter;
  /**
   * Which loop updates float32 parameters: 'auto' (default) the WebAssembly kernel when SIMD is
   * available and CALM_CPU_ACCEL is not off, else the JavaScript loop; 'js' always the loop. Both give
   * the same bits (float64 parameters always take the loop).
   */
  kernel?: 'auto' | 'js';
}

/** Everything needed to resume: step count and both moments per parameter name. */
export interface AdamWState {
  step: number;
  m: Record<string, NamedArray>;
  v: Record<string, NamedArray>;
}

interface Slot {
  name: string;
  param: Tensor;
  decay: boolean;
  m: Float32Array | Float64Array;
  v: Float32Array | Float64Array;
}

export class AdamW {
  /** Learning rate for the next step (a schedule sets it before each step). */
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Steps taken so far. */
  stepCount = 0;
  private readonly slots: Slot[];
  /** The wasm update and the moments' home, when every parameter is float32 (see AdamWOptions.kernel). */
  private readonly wasm: WasmAdamW | null;

  /** `params` are tensors (named `param.i`) or `[name, tensor]` pairs such as `module.namedParameters()`. */
  constructor(params: readonly Tensor[] | readonly (readonly [string, Tensor])[], options: AdamWOptions) {
    this.lr = options.lr;
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.95];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.1;
    const filter = options.decayFilter ?? decayMatricesExceptEmbeddings;
    const named = params.map((p, i): readonly [string, Tensor] => (p instanceof Tensor ? [`param.${i}`, p] : p));
    const seen = new Set<string>();
    for (const [name, param] of named) {
      if (seen.has(name)) throw new Error(`AdamW: parameter name '${name}' appears twice`);
      seen.add(name);
      if (param.dtype !== 'float32' && param.dtype !== 'float64') throw new TypeError(`AdamW: parameter '${name}' has dtype ${param.dtype}`);
    }
    // ~17 ns per element as a JavaScript loop (2.6% of a bench:train step); the kernel does it in ~1/4.
    const useWasm = (options.kernel ?? 'auto') === 'auto' && cpuAccelEnabled() && named.every(([, p]) => p.dtype === 'float32');
    this.wasm = useWasm ? WasmAdamW.create(named.map(([, p]) => p.size)) : null;
    this.slots = named.map(([name, param], i) => {
      const Arr = param.dtype === 'float64' ? Float64Array : Float32Array;
      const { m, v } = this.wasm?.moments(i) ?? { m: new Arr(param.size), v: new Arr(param.size) };
      return { name, param, decay: filter(name, param), m, v };
    });
  }

  /** Which loop updates the parameters (see {@link AdamWOptions.kernel}). */
  get kernel(): 'wasm' | 'js' {
    return this.wasm === null ? 'js' : 'wasm';
  }

  /** Names of the parameters that receive weight decay. */
  decayedNames(): string[] {
    return this.slots.filter((s) => s.decay).map((s) => s.name);
  }

  /**
   * One update of every parameter that has a gradient (PyTorch's AdamW):
   * p ← p (1 - lr λ); m ← β1 m + (1-β1) g; v ← β2 v + (1-β2) g²;
   * p ← p - lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps).
   */
  step(): void {
    this.stepCount++;
    const t = this.stepCount;
    const { beta1, beta2, eps, lr } = this;
    const stepSize = lr / (1 - Math.pow(beta1, t));
    const sqrtBc2 = Math.sqrt(1 - Math.pow(beta2, t));
    for (const [i, slot] of this.slots.entries()) {
      const { param, m, v } = slot;
      if (param.grad === null) continue;
      const g = hostValues(param.grad.data);
      // In place where the parameter's storage is host memory (no copy out, no new buffer, no garbage);
      // the arithmetic, and so every bit of the result, is the same either way.
      const inPlace = param.data.hostElements();
      const p = inPlace ?? param.toTypedArray();
      const shrink = slot.decay ? 1 - lr * this.weightDecay : 1;
      if (this.wasm !== null) this.wasm.update(i, p as Float32Array, g as Float32Array, { beta1, beta2, shrink, stepSize, sqrtBc2, eps });
      else adamwUpdate(p, g, m, v, beta1, beta2, shrink, stepSize, sqrtBc2, eps);
      if (inPlace !== null) continue;
      const replaced = param.data;
      assignData(param, NDArray.fromData(p, param.shape, param.dtype, param.data.backend));
      // Free the old values now, not when the garbage collector runs: on a gpu.js backend each is a
      // device buffer (one leaked per parameter per step otherwise). Safe for stateDict() tensors,
      // which are views holding their own reference on the storage.
      replaced.dispose();
    }
  }

  /** Drops the gradients of every parameter. */
  zeroGrad(): void {
    for (const s of this.slots) s.param.grad = null;
  }

  /** A copy of the optimiser state, keyed by parameter name. */
  state(): AdamWState {
    const m: Record<string, NamedArray> = {};
    const v: Record<string, NamedArray> = {};
    for (const s of this.slots) {
      m[s.name] = { dtype: s.param.dtype, shape: [...s.param.shape], data: s.m.slice() };
      v[s.name] = { dtype: s.param.dtype, shape: [...s.param.shape], data: s.v.slice() };
    }
    return { step: this.stepCount, m, v };
  }

  /** Restores a state from {@link state}; every parameter name must be present with its shape. */
  loadState(state: AdamWState): void {
    const problems: string[] = [];
    const names = new Set(this.slots.map((s) => s.name));
    const missing = this.slots.filter((s) => !Object.hasOwn(state.m, s.name) || !Object.hasOwn(state.v, s.name)).map((s) => s.name);
    const unexpected = [...new Set([...Object.keys(state.m), ...Object.keys(state.v)])].filter((k) => !names.has(k));
    if (missing.length > 0) problems.push(`missing moments for ${missing.join(', ')}`);
    if (unexpected.length > 0) problems.push(`unexpected names ${unexpected.join(', ')}`);
    for (const s of this.slots) {
      for (const [which, rec] of [['m', state.m], ['v', state.v]] as const) {
        const a = rec[s.name];
        if (a !== undefined && (!shapesEqual(a.shape, s.param.shape) || a.data.length !== s.param.size)) {
          problems.push(`${which} of ${s.name} has shape ${fmtShape(a.shape)}, expected ${fmtShape(s.param.shape)}`);
        }
      }
    }
    if (!Number.isInteger(state.step) || state.step < 0) problems.push(`step must be a non-negative integer, got ${state.step}`);
    // Moments that are NaN, infinite or (for v) negative make every later update NaN: refuse them.
    if (problems.length === 0) {
      for (const s of this.slots) {
        const m = state.m[s.name].data;
        const v = state.v[s.name].data;
        const badM = m.findIndex((x) => !Number.isFinite(x));
        const badV = v.findIndex((x) => !(Number.isFinite(x) && x >= 0));
        if (badM >= 0) problems.push(`m of ${s.name} holds ${m[badM]} at index ${badM} (must be finite)`);
        if (badV >= 0) problems.push(`v of ${s.name} holds ${v[badV]} at index ${badV} (must be finite and >= 0)`);
      }
    }
    if (problems.length > 0) throw new Error(`AdamW.loadState: ${problems.join('; ')}`);
    this.stepCount = state.step;
    for (const s of this.slots) {
      s.m.set(state.m[s.name].data);
      s.v.set(state.v[s.name].data);
    }
  }
}

/**
 * One AdamW update of parameter values `p` from gradient `g` with moments `m`, `v` (all the same length):
 * m ← β1 m + (1-β1) g; v ← β2 v + (1-β2) g²; p ← p·shrink − stepSize · m / (√v / √(1-β2^t) + ε).
 * A function of its own so V8 optimises the loop once for all parameters.
 */
function adamwUpdate(
  p: TypedArray, g: TypedArray, m: Float32Array | Float64Array, v: Float32Array | Float64Array,
  beta1: number, beta2: number, shrink: number, stepSize: number, sqrtBc2: number, eps: number,
): void {
  for (let i = 0; i < p.length; i++) {
    const gi = g[i];
    m[i] = beta1 * m[i] + (1 - beta1) * gi;
    v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
    p[i] = p[i] * shrink - (stepSize * m[i]) / (Math.sqrt(v[i]) / sqrtBc2 + eps);
  }
}

/** An array's values for reading: its own storage where that is host memory, else a copy. */
function hostValues(a: NDArray): TypedArray {
  return a.hostElements() ?? a.toTypedArray();
}

/** Σ g² of each parameter's gradient (0 for a parameter without one), in float64: one pass over the gradients. */
export function gradSquareSums(params: readonly Tensor[]): Float64Array {
  const sums = new Float64Array(params.length);
  params.forEach((p, k) => {
    if (p.grad === null) return;
    const g = hostValues(p.grad.data);
    let s = 0;
    for (let i = 0; i < g.length; i++) s += g[i] * g[i];
    sums[k] = s;
  });
  return sums;
}

/**
 * Gradient L2 norms per group of named parameters (`groupOf` maps a parameter name to its group),
 * before any clipping: which part of a model the loss actually reaches. `squares` are the
 * parameters' {@link gradSquareSums}, when the caller has them already.
 */
export function gradNormsByGroup(
  named: readonly (readonly [string, Tensor])[],
  groupOf: (name: string) => string,
  squares: Float64Array = gradSquareSums(named.map(([, p]) => p)),
): Record<string, number> {
  const sums: Record<string, number> = {};
  named.forEach(([name, p], k) => {
    if (p.grad === null) return;
    const group = groupOf(name);
    sums[group] = (sums[group] ?? 0) + squares[k];
  });
  for (const group of Object.keys(sums)) sums[group] = Math.sqrt(sums[group]);
  return sums;
}

/**
 * Scales all gradients by maxNorm / (total + 1e-6) when their global L2 norm exceeds `maxNorm`
 * (PyTorch's `clip_grad_norm_`). Returns the norm before clipping; a non-finite norm is returned
 * without scaling, so the caller can skip the step. `squares` are the parameters'
 * {@link gradSquareSums}, when the caller has them already (the trainer also logs them by group).
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number, squares: Float64Array = gradSquareSums(params)): number {
  if (!(maxNorm > 0)) throw new RangeError(`clipGradNorm: maxNorm must be positive, got ${maxNorm}`);
  let sumSq = 0;
  for (const s of squares) sumSq += s;
  const total = Math.sqrt(sumSq);
  if (Number.isFinite(total) && total > maxNorm) {
    const scale = maxNorm / (total + 1e-6);
    for (const p of params) if (p.grad !== null) p.grad = new Tensor(p.grad.data.mul(scale));
  }
  return total;
}
