/**
 * Gradient checks for the nn layer's composites (functional ops and layers), in float64. They use
 * only engine primitives, so these cases check the compositions, not new backward rules.
 */
import { Tensor } from '../src/autograd/index.js';
import * as fused from '../src/autograd/fused.js';
import { CausalSelfAttention } from '../src/nn/attention.js';
import {
  applyRope,
  causalAttention,
  crossEntropy,
  dropout,
  gelu,
  layerNorm,
  logSoftmax,
  rmsNorm,
  ropeTables,
  silu,
  softmax,
} from '../src/nn/functional.js';
import { SwiGLU } from '../src/nn/mlp.js';
import type { Module } from '../src/nn/module.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';
import { sizeOf, type Shape } from '../src/tensor/shape.js';
import type { GradcheckCase } from './gradcheck-cases.js';

// Restarted by nnCompositeCases() so that every call gives the same values.
let rng = new Rng(20251128);

/** float64 values uniform in [lo, hi). */
function rand(shape: Shape, lo = -1, hi = 1): NDArray {
  const data = new Float64Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = rng.uniformIn(lo, hi);
  return NDArray.fromData(data, shape);
}

function ints(values: number[]): Tensor {
  return new Tensor(NDArray.fromData(Int32Array.from(values), [values.length]));
}

/** Gives every parameter of `m` uniform values in [-scale, scale) (init weights are too small to test well). */
function randomise<M extends Module>(m: M, scale: number): M {
  const dict: Record<string, Tensor> = {};
  for (const [name, p] of m.namedParameters()) dict[name] = new Tensor(rand(p.shape, -scale, scale));
  m.loadStateDict(dict);
  return m;
}

/** Splits [B, T, H*hd] into heads [B, H, T, hd]. */
function heads(y: Tensor, h: number): Tensor {
  const [b, t, d] = y.shape;
  return y.reshape([b, t, h, d / h]).permute([0, 2, 1, 3]);
}

/** The cases, built on the current backend (modules included); the same values on every call. */
export function nnCompositeCases(): GradcheckCase[] {
  rng = new Rng(20251128);
  const cases: GradcheckCase[] = [];
  cases.push({ op: 'softmax', label: '[3, 4] axis -1', inputs: [rand([3, 4], -2, 2)], fn: (x) => softmax(x) });
  cases.push({ op: 'softmax', label: '[2, 3, 2] axis 1, transposed view', inputs: [rand([2, 2, 3], -2, 2)], fn: (x) => softmax(x.transpose(), 1) });
  cases.push({ op: 'logSoftmax', label: '[3, 5] axis -1', inputs: [rand([3, 5], -3, 3)], fn: (x) => logSoftmax(x) });
  cases.push({ op: 'logSoftmax', label: '[4, 2] axis 0', inputs: [rand([4, 2], -3, 3)], fn: (x) => logSoftmax(x, 0) });
  cases.push({ op: 'crossEntropy', label: '[4, 5] targets [1, 0, 4, 4]', inputs: [rand([4, 5], -2, 2)], fn: (x) => crossEntropy(x, ints([1, 0, 4, 4])) });
  cases.push({
    op: 'crossEntropy',
    label: '[4, 3] ignoreIndex -100 on rows 1, 3',
    inputs: [rand([4, 3], -2, 2)],
    fn: (x) => crossEntropy(x, ints([2, -100, 0, -100]), { ignoreIndex: -100 }),
  });
  cases.push({ op: 'silu', label: '[3, 4]', inputs: [rand([3, 4], -3, 3)], fn: (x) => silu(x) });
  cases.push({ op: 'gelu', label: '[3, 4] (tanh approximation)', inputs: [rand([3, 4], -3, 3)], fn: (x) => gelu(x) });
  cases.push({ op: 'rmsNorm', label: 'x [2, 5], w [5]', inputs: [rand([2, 5]), rand([5])], fn: (x, w) => rmsNorm(x, w) });
  cases.push({ op: 'layerNorm', label: 'x [2, 5], w [5], b [5]', inputs: [rand([2, 5]), rand([5]), rand([5])], fn: (x, w, b) => layerNorm(x, w, b) });
  cases.push({
    op: 'rope',
    label: 'x [1, 2, 3, 4] at positions 2..4',
    inputs: [rand([1, 2, 3, 4])],
    fn: (x) => {
      const { cos, sin } = ropeTables(2, 3, 4, { dtype: 'float64' });
      return applyRope(x, cos, sin);
    },
  });
  cases.push({
    op: 'attention',
    label: 'functional: x [1, 3, 4], H 2, wq wk wv wo [4, 4]',
    inputs: [rand([1, 3, 4]), rand([4, 4]), rand([4, 4]), rand([4, 4]), rand([4, 4])],
    fn: (x, wq, wk, wv, wo) => {
      const { cos, sin } = ropeTables(0, 3, 2, { dtype: 'float64' });
      const q = applyRope(heads(x.matmul(wq), 2), cos, sin); // [1, 2, 3, 2]
      const k = applyRope(heads(x.matmul(wk), 2), cos, sin); // [1, 2, 3, 2]
      const out = causalAttention(q, k, heads(x.matmul(wv), 2)); // [1, 2, 3, 2]
      return out.permute([0, 2, 1, 3]).reshape([1, 3, 4]).matmul(wo); // [1, 3, 4]
    },
  });
  const attn = randomise(new CausalSelfAttention(4, 2, { rng: new Rng(3), dtype: 'float64' }), 0.8);
  cases.push({ op: 'attention', label: 'CausalSelfAttention module, x [1, 3, 4], H 2', inputs: [rand([1, 3, 4])], fn: (x) => attn.forward(x) });
  cases.push({
    op: 'swiglu',
    label: 'functional: x [2, 3], gate/up [3, 4], down [4, 3]',
    inputs: [rand([2, 3]), rand([3, 4]), rand([3, 4]), rand([4, 3])],
    fn: (x, wg, wu, wd) => silu(x.matmul(wg)).mul(x.matmul(wu)).matmul(wd),
  });
  const mlp = randomise(new SwiGLU(3, 4, { rng: new Rng(4), dtype: 'float64' }), 1);
  cases.push({ op: 'swiglu', label: 'SwiGLU module, x [2, 2, 3]', inputs: [rand([2, 2, 3])], fn: (x) => mlp.forward(x) });
  cases.push({ op: 'dropout', label: '[3, 4] p 0.3, fixed rng', inputs: [rand([3, 4])], fn: (x) => dropout(x, 0.3, new Rng(7), true) });

  // The fused ops of src/autograd/fused.ts, by their DIFFERENTIABLE_OPS names (the cases above reach
  // them through the functional ops; these add strided views, size-1 rows and null gains).
  cases.push({ op: 'silu', label: 'fused, transposed [4, 3]', inputs: [rand([3, 4], -4, 4)], fn: (x) => fused.silu(x.transpose()) });
  cases.push({ op: 'siluMul', label: 'fused, [2, 3, 4]', inputs: [rand([2, 3, 4], -4, 4), rand([2, 3, 4])], fn: (a, b) => fused.siluMul(a, b) });
  cases.push({ op: 'siluMul', label: 'fused, column slices of one [3, 8]', inputs: [rand([3, 8], -3, 3)], fn: (x) => { const [a, b] = x.split(2, -1); return fused.siluMul(a, b); } });
  cases.push({ op: 'softmaxRows', label: 'fused, [3, 5] and transposed [5, 3]', inputs: [rand([3, 5], -2, 2)], fn: (x) => fused.softmaxLast(x).add(fused.softmaxLast(x.transpose()).sum()) });
  cases.push({ op: 'rmsNorm', label: 'fused, x [2, 3, 4], w [4]', inputs: [rand([2, 3, 4]), rand([4])], fn: (x, w) => fused.rmsNorm(x, w) });
  cases.push({ op: 'rmsNorm', label: 'fused, transposed x [4, 3], no gain, eps 0.1', inputs: [rand([3, 4])], fn: (x) => fused.rmsNorm(x.transpose(), null, 0.1) });
  cases.push({ op: 'layerNorm', label: 'fused, x [3, 5], w [5], b [5]', inputs: [rand([3, 5]), rand([5]), rand([5])], fn: (x, w, b) => fused.layerNorm(x, w, b) });
  cases.push({ op: 'layerNorm', label: 'fused, x [2, 1, 4] view, no gain or bias', inputs: [rand([2, 4, 1])], fn: (x) => fused.layerNorm(x.permute([0, 2, 1]), null, null) });
  const tables = ropeTables(0, 5, 4, { dtype: 'float64' });
  const [cos3, sin3] = [tables.cos.sliceAxis(0, 2, 5), tables.sin.sliceAxis(0, 2, 5)]; // positions 2..4
  cases.push({ op: 'rope', label: 'fused, x a permuted [2, 3, 4] view, tables of positions 2-4', inputs: [rand([3, 2, 4])], fn: (x) => fused.rope(x.permute([1, 0, 2]), cos3, sin3) });
  cases.push({ op: 'causalAttention', label: 'fused, q [2, 3, 4] (a permuted view), k and v [2, 5, 4] (2 cached keys)', inputs: [rand([3, 2, 4]), rand([2, 5, 4]), rand([2, 5, 4])], fn: (q, k, v) => fused.causalAttention(q.permute([1, 0, 2]), k, v) });
  cases.push({ op: 'softmaxCrossEntropy', label: 'fused, [4, 5] targets [1, -1, 4, 0] (row 1 ignored)', inputs: [rand([4, 5], -2, 2)], fn: (x) => fused.softmaxCrossEntropy(x, ints([1, -1, 4, 0])) });
  return cases;
}
