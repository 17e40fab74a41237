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
import { rope as ropeKernel } from '../src/tensor/fused.js';
import fc from 'fast-check';
import { crossEntropy, ropeTables } from '../src/nn/functional.js';
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

/** The composition the fused rope replaces (what nn's applyRope ran before): split, mul, sub/add, concat. */
function composedRope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const [x1, x2] = x.split(2, -1);
  return Tensor.concat([x1.mul(cos).sub(x2.mul(sin)), x2.mul(cos).add(x1.mul(sin))], -1);
}

/** Equal element by element, including the sign of zero (Object.is), so "bit for bit" means it. */
function sameBits(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) assert.ok(Object.is(got[i], want[i]), `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

describe('fused rope against the composed rotation', () => {
  // x is made as [B, T, H, hd] and permuted to [B, H, T, hd], as attention does, so the input is a strided view;
  // the tables are a slice at an offset (startPos > 0), as a KV-cached step takes them.
  const cases = fc.record({
    b: fc.integer({ min: 0, max: 2 }), h: fc.integer({ min: 1, max: 3 }), t: fc.integer({ min: 1, max: 5 }),
    half: fc.integer({ min: 1, max: 6 }), start: fc.integer({ min: 0, max: 4 }), seed: fc.integer({ min: 1, max: 1e6 }),
    dtype: fc.constantFrom('float32' as const, 'float64' as const), zeros: fc.boolean(),
  });
  test('forward and gradient equal the composition bit for bit (float32 and float64, views, sizes 0 and 1)', () => {
    fc.assert(
      fc.property(cases, ({ b, h, t, half, start, seed, dtype, zeros }) => {
        const rng = new Rng(seed);
        const hd = 2 * half;
        const tables = ropeTables(0, start + t, hd, { dtype });
        const cos = tables.cos.sliceAxis(0, start, start + t), sin = tables.sin.sliceAxis(0, start, start + t);
        const x = Tensor.randn([b, t, h, hd], rng, { dtype }).requireGrad();
        const g = Tensor.randn([b, h, t, hd], rng, { dtype });
        // Zero gradients (and so products of either sign of zero) where `zeros`: the sign rules must agree too.
        const gv = zeros ? g.mul(Tensor.rand([b, h, t, hd], rng, { dtype }).gt(0.5).cast(dtype)) : g;
        const yf = fused.rope(x.permute([0, 2, 1, 3]), cos, sin);
        const yc = composedRope(x.permute([0, 2, 1, 3]), cos, sin);
        sameBits(yf.toTypedArray(), yc.toTypedArray(), 'forward');
        const [gf] = grad(yf, [x], { gradOutputs: [gv] });
        const [gc] = grad(yc, [x], { gradOutputs: [gv] });
        sameBits(gf!.toTypedArray(), gc!.toTypedArray(), 'gradient');
      }),
      { seed: 11, numRuns: 60 },
    );
  });

  test('second derivatives (createGraph) and table gradients take the composed path', () => {
    const rng = new Rng(12);
    const { cos, sin } = ropeTables(0, 3, 4, { dtype: 'float64' });
    const x = Tensor.randn([2, 3, 4], rng, { dtype: 'float64' }).requireGrad();
    const seed = Tensor.randn([2, 3, 4], rng, { dtype: 'float64' });
    const [gx] = grad(fused.rope(x, cos, sin), [x], { gradOutputs: [seed], createGraph: true });
    const [gxc] = grad(composedRope(x, cos, sin), [x], { gradOutputs: [seed], createGraph: true });
    close(gx!.toTypedArray() as Float64Array, gxc!.toTypedArray() as Float64Array, 1e-15, 'createGraph gradient');
    const c = cos.detach().requireGrad();
    const [gcos] = grad(fused.rope(x, c, sin).mul(seed).sum(), [c]);
    const [gcosc] = grad(composedRope(x, c, sin).mul(seed).sum(), [c]);
    close(gcos!.toTypedArray() as Float64Array, gcosc!.toTypedArray() as Float64Array, 1e-15, 'table gradient');
  });

  test('bad input names the op, the shapes and the dtypes', () => {
    const { cos, sin } = ropeTables(0, 3, 4);
    assert.throws(() => fused.rope(Tensor.zeros([2, 3, 6]), cos, sin), /rope: x float32 \[2, 3, 6\], cos float32 \[3, 2\].*expected x \[\.\.\., T, hd\]/);
    assert.throws(() => fused.rope(Tensor.zeros([2, 3, 4], 'float64'), cos, sin), /rope: x float64 \[2, 3, 4\], cos float32 \[3, 2\], sin float32 \[3, 2\]: dtypes differ/);
    assert.throws(() => ropeKernel(NDArray.zeros([2, 3, 4], 'int32'), cos.data, sin.data), /rope: x int32 .*needs float arrays/);
  });
});

describe('fused causal attention against the composed chain', () => {
  /** What nn's causalAttention ran before: scale, scores, additive mask, softmax, values. */
  function composedAttention(q: Tensor, k: Tensor, v: Tensor): Tensor {
    const [t, hd] = q.shape.slice(-2);
    const s = k.shape[k.rank - 2];
    let scores = q.mul(1 / Math.sqrt(hd)).matmul(k.transpose());
    if (t > 1) scores = scores.add(new Tensor(fused.causalBias(t, s, q.data)));
    return fused.softmaxLast(scores).matmul(v);
  }
  const cases = fc.record({
    b: fc.integer({ min: 0, max: 2 }), h: fc.integer({ min: 1, max: 3 }), t: fc.integer({ min: 1, max: 6 }),
    past: fc.integer({ min: 0, max: 3 }), hd: fc.integer({ min: 1, max: 9 }), seed: fc.integer({ min: 1, max: 1e6 }),
    dtype: fc.constantFrom('float32' as const, 'float64' as const), frozen: fc.constantFrom(-1, 0, 1, 2),
  });
  test('forward and gradients equal the composition bit for bit (float32 and float64, cached keys, sizes 0 and 1)', () => {
    fc.assert(
      fc.property(cases, ({ b, h, t, past, hd, seed, dtype, frozen }) => {
        const rng = new Rng(seed);
        const s = t + past;
        // q arrives as a permuted view, as attention makes it; `frozen` leaves one input without gradient.
        const inputs = [Tensor.randn([b, t, h, hd], rng, { dtype }).permute([0, 2, 1, 3]), Tensor.randn([b, h, s, hd], rng, { dtype }), Tensor.randn([b, h, s, hd], rng, { dtype })];
        const leaves = inputs.map((x, i) => (i === frozen ? x : x.detach().requireGrad()));
        const g = Tensor.randn([b, h, t, hd], rng, { dtype });
        const yf = fused.causalAttention(leaves[0], leaves[1], leaves[2]);
        const yc = composedAttention(leaves[0], leaves[1], leaves[2]);
        sameBits(yf.toTypedArray(), yc.toTypedArray(), 'forward');
        const wanted = leaves.filter((x) => x.requiresGrad);
        const gf = grad(yf, wanted, { gradOutputs: [g] });
        const gc = grad(yc, wanted, { gradOutputs: [g] });
        gf.forEach((gi, i) => sameBits(gi!.toTypedArray(), gc[i]!.toTypedArray(), `gradient ${i}`));
      }),
      { seed: 17, numRuns: 60 },
    );
  });

  test('second derivatives (createGraph) equal the composition, float64', () => {
    const rng = new Rng(18);
    const [q, k, v] = [[2, 3, 4], [2, 5, 4], [2, 5, 3]].map((shape) => Tensor.randn(shape, rng, { dtype: 'float64' }).requireGrad());
    const seed = Tensor.randn([2, 3, 3], rng, { dtype: 'float64' });
    const second = (fn: (a: Tensor, b: Tensor, c: Tensor) => Tensor): (Tensor | null)[] => {
      const gs = grad(fn(q, k, v), [q, k, v], { gradOutputs: [seed], createGraph: true });
      return grad(gs.reduce((acc: Tensor, gi) => acc.add(gi!.mul(gi!).sum()), Tensor.scalar(0, 'float64')), [q, k, v]);
    };
    const hf = second(fused.causalAttention);
    const hc = second(composedAttention);
    hf.forEach((hi, i) => close(hi!.toTypedArray() as Float64Array, hc[i]!.toTypedArray() as Float64Array, 1e-12, `second ${i}`));
  });
});
