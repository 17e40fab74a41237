/**
 * The fused differentiable ops (src/autograd/fused.ts) against the unfused compositions of
 * primitives they replace: forward values and first derivatives in float32 (silu and siluMul
 * forward bit for bit, the rest within float32 rounding), and second derivatives (the createGraph
 * path) in float64.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { grad, Tensor } from '../src/autograd/index.js';
import * as fused from '../src/autograd/fused.js';
import { Rng } from '../src/tensor/random.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { crossEntropy } from '../src/nn/functional.js';
import type { Shape } from '../src/tensor/shape.js';

const composed = {
  silu: (x: Tensor): Tensor => x.mul(x.sigmoid()),
  siluMul: (a: Tensor, b: Tensor): Tensor => a.mul(a.sigmoid()).mul(b),
  softmax: (x: Tensor): Tensor => {
    const e = x.sub(x.detach().max(-1, true)).exp();
    return e.div(e.sum(-1, true));
  },
  rmsNorm: (x: Tensor, w: Tensor): Tensor => x.mul(x.mul(x).mean(-1, true).add(1e-6).sqrt().reciprocal()).mul(w),
  layerNorm: (x: Tensor, w: Tensor, b: Tensor): Tensor => {
    const c = x.sub(x.mean(-1, true));
    return c.mul(c.mul(c).mean(-1, true).add(1e-6).sqrt().reciprocal()).mul(w).add(b);
  },
};

type Case = { name: string; shapes: Shape[]; fusedFn: (...xs: Tensor[]) => Tensor; composedFn: (...xs: Tensor[]) => Tensor; exactForward: boolean };
const CASES: Case[] = [
  { name: 'silu', shapes: [[7, 33]], fusedFn: fused.silu, composedFn: composed.silu, exactForward: true },
  { name: 'siluMul', shapes: [[4, 5, 40], [4, 5, 40]], fusedFn: fused.siluMul, composedFn: composed.siluMul, exactForward: true },
  { name: 'softmaxRows', shapes: [[6, 50]], fusedFn: fused.softmaxLast, composedFn: composed.softmax, exactForward: false },
  { name: 'rmsNorm', shapes: [[3, 9, 64], [64]], fusedFn: (x, w) => fused.rmsNorm(x, w), composedFn: composed.rmsNorm, exactForward: false },
  { name: 'layerNorm', shapes: [[9, 64], [64], [64]], fusedFn: (x, w, b) => fused.layerNorm(x, w, b), composedFn: composed.layerNorm, exactForward: false },
];

function inputs(shapes: Shape[], dtype: 'float32' | 'float64', seed: number): Tensor[] {
  const rng = new Rng(seed);
  return shapes.map((s) => Tensor.randn(s, rng, { std: 2, dtype }).requireGrad());
}

function close(got: Float32Array | Float64Array, want: Float32Array | Float64Array, tol: number, what: string): void {
  assert.equal(got.length, want.length, what);
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) <= tol * Math.max(1, scale), `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

describe('fused ops against their compositions', () => {
  for (const c of CASES) {
    test(`${c.name}: float32 forward and gradients`, () => {
      const xs = inputs(c.shapes, 'float32', 1);
      const seed = Tensor.randn(c.fusedFn(...xs).shape, new Rng(2));
      const yf = c.fusedFn(...xs);
      const yc = c.composedFn(...xs);
      if (c.exactForward) assert.deepEqual(yf.toTypedArray(), yc.toTypedArray());
      else close(yf.toTypedArray() as Float32Array, yc.toTypedArray() as Float32Array, 2e-6, `${c.name} forward`);
      const gf = grad(yf, xs, { gradOutputs: [seed] });
      const gc = grad(yc, xs, { gradOutputs: [seed] });
      gf.forEach((g, i) => close(g!.toTypedArray() as Float32Array, gc[i]!.toTypedArray() as Float32Array, 1e-5, `${c.name} grad ${i}`));
    });

    test(`${c.name}: second derivatives (createGraph) equal the composition's, float64`, () => {
      const xs = inputs(c.shapes, 'float64', 3);
      const seed = Tensor.randn(c.fusedFn(...xs).shape, new Rng(4), { dtype: 'float64' });
      const second = (fn: (...t: Tensor[]) => Tensor): (Tensor | null)[] => {
        const g = grad(fn(...xs), xs, { gradOutputs: [seed], createGraph: true });
        const s = g.reduce((acc: Tensor, gi) => acc.add(gi!.mul(gi!).sum()), Tensor.scalar(0, 'float64'));
        return grad(s, xs);
      };
      const hf = second(c.fusedFn);
      const hc = second(c.composedFn);
      hf.forEach((h, i) => {
        if (h === null || hc[i] === null) assert.equal(h, hc[i], `${c.name} second ${i}: only one is null`); // e.g. a bias: its gradient is g
        else close(h.toTypedArray() as Float64Array, hc[i]!.toTypedArray() as Float64Array, 1e-9, `${c.name} second ${i}`);
      });
    });
  }

  test('softmaxCrossEntropy (and crossEntropy with ignored rows): against the composition, float32', () => {
    const n = 37, v = 300;
    const [x] = inputs([[n, v]], 'float32', 6);
    const rng = new Rng(7);
    const t = Int32Array.from({ length: n }, (_, i) => (i % 5 === 2 ? -1 : rng.int(v)));
    const targets = new Tensor(NDArray.fromData(t, [n], 'int32'));
    // The composition: logsumexp of max-shifted rows minus the picked logit, masked on ignored rows.
    const z = x.sub(x.detach().max(1, true));
    const picked = z.reshape([n * v]).gather(new Tensor(NDArray.fromData(Int32Array.from(t, (ti, i) => i * v + Math.max(0, ti)), [n], 'int32')));
    const keep = new Tensor(NDArray.fromData(Float32Array.from(t, (ti) => (ti >= 0 ? 1 : 0)), [n]));
    const composedRows = z.exp().sum(1).log().sub(picked).mul(keep);
    const fusedRows = fused.softmaxCrossEntropy(x, targets);
    close(fusedRows.toTypedArray() as Float32Array, composedRows.toTypedArray() as Float32Array, 2e-6, 'row losses');
    const seed = Tensor.randn([n], new Rng(8));
    const [gf] = grad(fusedRows, [x], { gradOutputs: [seed] });
    const [gc] = grad(composedRows, [x], { gradOutputs: [seed] });
    close(gf!.toTypedArray() as Float32Array, gc!.toTypedArray() as Float32Array, 1e-6, 'gradient');
    // nn's crossEntropy calls it: the mean over the kept rows, ignoreIndex marking the others.
    const withIgnore = Int32Array.from(t, (ti) => (ti < 0 ? 257 : ti));
    const ce = crossEntropy(x, new Tensor(NDArray.fromData(withIgnore, [n], 'int32')), { ignoreIndex: 257 });
    const kept = t.filter((ti) => ti >= 0).length;
    assert.ok(Math.abs(ce.item() - composedRows.sum().item() / kept) < 1e-5);
  });

  test('siluMul of different shapes takes the composed path', () => {
    const [a, b] = inputs([[3, 4], [4]], 'float32', 5);
    assert.deepEqual(fused.siluMul(a, b).toTypedArray(), composed.siluMul(a, b).toTypedArray());
  });
});
