/**
 * Gradient checking against central finite differences, in float64 (PyTorch's `gradcheck`).
 *
 * For small problems the whole Jacobian is compared: one backward pass per output element against
 * one pair of perturbed forward passes per input element. For large ones, random directions v are
 * checked: the analytic directional derivative <J^T w, v> against (f(x + eps v) - f(x - eps v)) / 2eps
 * projected on a random w.
 */
import { NDArray } from '../tensor/ndarray.js';
import { Rng } from '../tensor/random.js';
import { fmtShape } from '../tensor/shape.js';
import { grad } from './engine.js';
import { noGrad } from './grad-mode.js';
import { Tensor } from './tensor.js';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Absolute tolerance (default 1e-5). */
  atol?: number;
  /** Relative tolerance (default 1e-3). */
  rtol?: number;
  /** Use the full Jacobian when inputs x outputs is at most this (default 4096). */
  maxJacobian?: number;
  /** Random directions for large problems (default 8). */
  directions?: number;
  /** Seed for the random projections (default 0). */
  seed?: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** Largest |analytic - numeric|. */
  maxAbsError: number;
  /** Largest |analytic - numeric| / max(|numeric|, tiny), over entries that failed atol. */
  maxRelError: number;
  /** 'jacobian' or 'directions'. */
  mode: 'jacobian' | 'directions';
  /** A description of the worst entry when the check fails. */
  message: string;
}

/**
 * Checks the gradients of `fn` at `inputs`. Inputs are converted to float64 leaves that require
 * gradients; `fn` must be deterministic and return a float64 tensor (build it from its inputs).
 */
export function gradcheck(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: readonly (Tensor | NDArray)[],
  options: GradcheckOptions = {},
): GradcheckResult {
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-5;
  const rtol = options.rtol ?? 1e-3;
  const rng = new Rng(options.seed ?? 0);
  const xs = inputs.map((x) => {
    const data = x instanceof Tensor ? x.data : x;
    if (data.dtype !== 'float64') throw new TypeError(`gradcheck: inputs must be float64, got ${data.dtype} ${fmtShape(data.shape)}`);
    return new Tensor(data.contiguous(), true);
  });
  const values = xs.map((x) => Float64Array.from(x.toTypedArray()));
  const evaluate = (vals: Float64Array[]): Float64Array =>
    noGrad(() => {
      const out = fn(...vals.map((v, i) => new Tensor(NDArray.fromData(v, xs[i].shape))));
      if (out.dtype !== 'float64') throw new TypeError(`gradcheck: fn must return float64, got ${out.dtype}`);
      return out.toTypedArray() as Float64Array;
    });

  const out = fn(...xs);
  const nIn = values.reduce((n, v) => n + v.length, 0);
  const nOut = out.size;
  const useJacobian = nIn * nOut <= (options.maxJacobian ?? 4096);

  let maxAbs = 0;
  let maxRel = 0;
  let worst = '';
  let ok = true;
  const compare = (analytic: number, numeric: number, where: string): void => {
    const err = Math.abs(analytic - numeric);
    const bad = !(err <= atol + rtol * Math.abs(numeric)); // also catches NaN
    if (err > maxAbs || Number.isNaN(err)) maxAbs = Number.isNaN(err) ? NaN : err;
    if (bad) {
      ok = false;
      const rel = err / Math.max(Math.abs(numeric), 1e-300);
      if (!(rel <= maxRel)) {
        maxRel = rel;
        worst = `${where}: analytic ${analytic}, numeric ${numeric}`;
      }
    }
  };

  if (nOut === 0 || nIn === 0) {
    return { ok: true, maxAbsError: 0, maxRelError: 0, mode: useJacobian ? 'jacobian' : 'directions', message: '' };
  }

  if (!out.requiresGrad) {
    // Output does not depend on the inputs: every numeric derivative must be zero.
    const base = evaluate(values);
    values.forEach((v, i) => {
      for (let j = 0; j < v.length; j++) {
        const num = numericColumn(evaluate, values, i, j, eps);
        for (let o = 0; o < base.length; o++) compare(0, num[o], `input ${i}[${j}] -> output[${o}]`);
      }
    });
    return { ok, maxAbsError: maxAbs, maxRelError: maxRel, mode: 'jacobian', message: worst };
  }

  if (useJacobian) {
    // analytic[o][input i][j]
    const analytic: Float64Array[][] = [];
    for (let o = 0; o < nOut; o++) {
      const seed = new Float64Array(nOut);
      seed[o] = 1;
      const gs = grad(out, xs, { gradOutputs: [new Tensor(NDArray.fromData(seed, out.shape))] });
      analytic.push(gs.map((g, i) => (g === null ? new Float64Array(values[i].length) : Float64Array.from(g.toTypedArray()))));
    }
    values.forEach((v, i) => {
      for (let j = 0; j < v.length; j++) {
        const num = numericColumn(evaluate, values, i, j, eps);
        for (let o = 0; o < nOut; o++) compare(analytic[o][i][j], num[o], `d out[${o}] / d input${i}[${j}]`);
      }
    });
    return { ok, maxAbsError: maxAbs, maxRelError: maxRel, mode: 'jacobian', message: worst };
  }

  const w = new Float64Array(nOut);
  for (let o = 0; o < nOut; o++) w[o] = rng.normal();
  const gs = grad(out, xs, { gradOutputs: [new Tensor(NDArray.fromData(w, out.shape))] });
  const gArrays = gs.map((g, i) => (g === null ? new Float64Array(values[i].length) : Float64Array.from(g.toTypedArray())));
  for (let d = 0; d < (options.directions ?? 8); d++) {
    const dirs = values.map((v) => Float64Array.from({ length: v.length }, () => rng.normal()));
    let analytic = 0;
    dirs.forEach((dir, i) => dir.forEach((dv, j) => (analytic += gArrays[i][j] * dv)));
    const plus = evaluate(values.map((v, i) => v.map((x, j) => x + eps * dirs[i][j])));
    const minus = evaluate(values.map((v, i) => v.map((x, j) => x - eps * dirs[i][j])));
    let numeric = 0;
    for (let o = 0; o < nOut; o++) numeric += (w[o] * (plus[o] - minus[o])) / (2 * eps);
    compare(analytic, numeric, `direction ${d}`);
  }
  return { ok, maxAbsError: maxAbs, maxRelError: maxRel, mode: 'directions', message: worst };
}

/** d f / d x_{i,j} for every output, by central differences. */
function numericColumn(
  evaluate: (vals: Float64Array[]) => Float64Array,
  values: Float64Array[],
  i: number,
  j: number,
  eps: number,
): Float64Array {
  const original = values[i][j];
  values[i][j] = original + eps;
  const plus = evaluate(values);
  values[i][j] = original - eps;
  const minus = evaluate(values);
  values[i][j] = original;
  const col = new Float64Array(plus.length);
  for (let o = 0; o < plus.length; o++) col[o] = (plus[o] - minus[o]) / (2 * eps);
  return col;
}
