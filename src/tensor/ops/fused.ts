/**
 * Fused ops: one table entry doing what several primitives would, for fewer gpu.js launches and
 * no broadcast copies (see `src/tensor/fused.ts`, which calls them, and bench/gpu.ts). They are
 * forward-only; a differentiable wrapper writes its backward with Tensor ops.
 */
import { allocTyped } from '../dtype.js';
import { sizeOf } from '../shape.js';
import { materialize } from '../cpu/strided.js';
import { elementwise } from './elementwise.js';
import { floorDiv, flatIndex } from './kernel-rules.js';
import { rowMaxKernel } from './reduce.js';
import { UNARY } from './unary.js';
import type { Handle, KernelThis, NoAttrs, OpEntry } from './types.js';

/** sum_j exp(x[r, j] - mx[r]) over each row of a contiguous [outer, len] input. */
const sumExpKernel = function (this: KernelThis, x: Float32Array, mx: Float32Array): number {
  const base = this.thread.x * this.constants.len;
  const m = mx[this.thread.x];
  let acc = 0;
  for (let j = 0; j < this.constants.len; j++) {
    acc = acc + Math.exp(x[base + j] - m);
  }
  return acc;
};

/** exp(x[r, j] - mx[r]) / sum[r] for a contiguous [outer, len] input: the softmax of each row. */
const softmaxNormKernel = function (this: KernelThis, x: Float32Array, mx: Float32Array, sum: Float32Array): number {
  const row = floorDiv(flatIndex(), this.constants.len);
  return Math.exp(x[this.thread.x] - mx[row]) / sum[row];
};

/** Softmax over the last axis of a float view (max-subtracted, so large inputs do not overflow). */
export const softmaxRows: OpEntry<NoAttrs> = {
  outShape: ([shape]) => shape,
  outDType: ([dtype]) => dtype,

  // The steps of the composed version (max, subtract, exp, sum, divide), each result rounded to the
  // dtype as a stored intermediate would be, so both give the same numbers.
  cpu([x]) {
    const n = sizeOf(x.shape);
    const len = x.shape[x.shape.length - 1];
    const src = materialize(x.data, x);
    const out = allocTyped(x.dtype, n);
    const e = allocTyped(x.dtype, len + 1); // one row of exp, then the row sum in the last cell
    for (let base = 0; base < n; base += len) {
      let mx = -Infinity;
      for (let j = 0; j < len; j++) mx = Math.max(mx, src[base + j]);
      for (let j = 0; j < len; j++) e[j] = src[base + j] - mx;
      let sum = 0;
      for (let j = 0; j < len; j++) {
        e[j] = Math.exp(e[j]);
        sum += e[j];
      }
      e[len] = sum;
      for (let j = 0; j < len; j++) out[base + j] = e[j] / e[len];
    }
    return out;
  },

  // Three launches: row max, row sum of exp, then one normalising pass.
  async gpujs(gpu, [v]) {
    gpu.checkExact('softmaxRows', v.shape);
    const n = sizeOf(v.shape);
    if (n === 0) return new Float32Array(0);
    const len = v.shape[v.shape.length - 1];
    const outer = n / len;
    const temps: Handle[] = [await gpu.contiguous('softmaxRows', v)];
    try {
      temps.push(await gpu.launch(rowMaxKernel, outer, [temps[0]], { constants: { len, sign: 1 }, longestLoop: len }));
      temps.push(await gpu.launch(sumExpKernel, outer, [temps[0], temps[1]], { constants: { len }, longestLoop: len }));
      return await gpu.launch(softmaxNormKernel, n, temps, { constants: { len } });
    } finally {
      for (const t of temps) gpu.release(t);
    }
  },
};

/**
 * `silu(a) * b = a * sigmoid(a) * b` elementwise; `a` and `b` have equal shapes and one float dtype.
 * The CPU loop takes the steps of the composed version (sigmoid, times a, times b), each rounded on
 * store as the composed version's intermediate arrays are, so both give the same numbers.
 */
export const siluMul = elementwise(
  {
    // a * b / (1 + exp(-a)), branch-free: for a below about -88, exp(-a) overflows to Infinity and
    // the quotient is the right limit, 0.
    kernel: function (this: KernelThis, a: Float32Array, b: Float32Array): number {
      const v = a[this.thread.x];
      return (v * b[this.thread.x]) / (1 + Math.exp(-v));
    },
  },
  ([a, b], pos, step, out, o, end) => {
    UNARY.sigmoid.row(a.data, pos[0], step[0], out, o, end);
    let pa = pos[0], pb = pos[1];
    for (let j = o; j < end; j++, pa += step[0], pb += step[1]) {
      out[j] = a.data[pa] * out[j];
      out[j] = out[j] * b.data[pb];
    }
  },
);
