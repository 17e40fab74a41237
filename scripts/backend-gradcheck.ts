/**
 * The op suite's gradient checks as a function of a backend, free of Node imports so that the browser
 * playground's worker can run them (`?gradcheck=1`; test/play-browser.test.ts on WebGL2). Same method as
 * test/backends.test.ts's gradient suite: every case of the gradcheck list (scripts/gradcheck-cases.ts),
 * built on the backend under test, runs forward and one vector-Jacobian product there; the reference is
 * the CPU backend in float64 on the same float32-rounded inputs; agreement is float32-level, scaled by
 * each array's magnitude (errors accumulate through the chain).
 */
import { grad, Tensor } from '../src/autograd/index.js';
import type { Backend } from '../src/tensor/backend.js';
import { cpuBackend, withBackend } from '../src/tensor/device.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';
import { allCases, type GradcheckCase } from './gradcheck-cases.js';

export interface GradCheckResult {
  readonly op: string;
  readonly label: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** A case's output and one vector-Jacobian product, as float64 host arrays. */
export interface Vjp {
  out: Float64Array;
  grads: (Float64Array | null)[];
}

/** The case's inputs rounded to float32, as float64 host arrays. */
export function roundedInputs(c: GradcheckCase): Float64Array[] {
  return c.inputs.map((x) => Float64Array.from(x.toTypedArray(), Math.fround));
}

/** A fixed float32-representable cotangent for an output of n elements. */
function cotangent(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  return Float64Array.from({ length: n }, () => Math.fround(rng.normal()));
}

function upload(data: Float64Array, shape: readonly number[], be: Backend, dtype: 'float32' | 'float64'): NDArray {
  return NDArray.fromData(dtype === 'float32' ? Float32Array.from(data) : Float64Array.from(data), shape, dtype, be);
}

/** Runs the case on `be` in `dtype`: the output and one vector-Jacobian product (no memoryScope: some nn cases cache arrays on their modules on first use). */
export function runVjp(c: GradcheckCase, inputs: Float64Array[], dtype: 'float32' | 'float64', be: Backend, seed: number): Vjp {
  return withBackend(be, () => {
    const xs = inputs.map((d, i) => new Tensor(upload(d, c.inputs[i].shape, be, dtype), true));
    const out = c.fn(...xs);
    const result: Vjp = { out: Float64Array.from(out.toTypedArray()), grads: xs.map(() => null) };
    if (out.requiresGrad && out.size > 0) {
      const w = new Tensor(upload(cotangent(out.size, seed), out.shape, be, out.dtype === 'float64' ? 'float64' : 'float32'));
      result.grads = grad(out, xs, { gradOutputs: [w] }).map((g) => (g === null ? null : Float64Array.from(g.toTypedArray())));
    }
    return result;
  });
}

/** First disagreement of `got` with `want` (rtol 2e-4, atol 2e-5 · max(1, max|want|)), or null. */
function disagreement(got: ArrayLike<number>, want: ArrayLike<number>, what: string): string | null {
  if (got.length !== want.length) return `${what}: ${got.length} values, expected ${want.length}`;
  let scale = 1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) {
    const ok = Math.abs(got[i] - want[i]) <= 2e-5 * scale + 2e-4 * Math.abs(want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i]));
    if (!ok) return `${what}[${i}]: got ${got[i]}, want ${want[i]}`;
  }
  return null;
}

/** Runs every gradcheck case on `be` against the CPU float64 reference. */
export function checkGradientsAgainstCpu(be: Backend): GradCheckResult[] {
  const reference = withBackend(cpuBackend(), allCases);
  const local = withBackend(be, allCases); // module parameters and constants live on `be` too
  return local.map((c, i) => {
    try {
      const inputs = roundedInputs(reference[i]);
      let r: Vjp;
      try {
        r = runVjp(c, inputs, 'float32', be, 1000 + i);
      } catch (err) {
        if (!/dtypes differ/.test((err as Error).message)) throw err;
        r = runVjp(c, inputs, 'float64', be, 1000 + i); // float64 constants in the case; gpu.js stores float32 anyway
      }
      const ref = runVjp(reference[i], inputs, 'float64', cpuBackend(), 1000 + i);
      const problems = [disagreement(r.out, ref.out, 'forward')];
      ref.grads.forEach((g, k) => {
        const mine = r.grads[k];
        if (g === null) problems.push(mine === null ? null : disagreement(mine, new Float64Array(mine.length), `grad ${k} (reference: none)`));
        else problems.push(mine === null ? `grad ${k}: none` : disagreement(mine, g, `grad ${k}`));
      });
      const first = problems.find((p) => p !== null) ?? null;
      return { op: c.op, label: c.label, ok: first === null, detail: first ?? 'agrees' };
    } catch (err) {
      return { op: c.op, label: c.label, ok: false, detail: `threw: ${err instanceof Error ? err.message : String(err)}` };
    }
  });
}
