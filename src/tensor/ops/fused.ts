/**
 * Fused ops: one table entry doing what several primitives would, for fewer passes over memory,
 * fewer gpu.js launches and no broadcast copies (see `src/tensor/fused.ts`, which calls them, and
 * bench/gpu.ts). Forward entries (softmaxRows, siluMul, normRows) have backward partners
 * (siluBackward, siluMulBackward, normRowsBackward) that the differentiable fused ops of
 * `src/autograd/fused.ts` call.
 */
import { allocTyped, type TypedArray } from '../dtype.js';
import { contiguousStrides, sizeOf } from '../shape.js';
import { contiguousData, forEachRow, materialize, RowWalker } from '../cpu/strided.js';
import { elementwise } from './elementwise.js';
import { floorDiv, flatIndex } from './kernel-rules.js';
import { rowMaxKernel } from './reduce.js';
import { UNARY } from './unary.js';
import type { CpuView, Handle, KernelThis, NoAttrs, OpEntry } from './types.js';

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
/**
 * The reference softmax over rows of `len` (row r of `src` starts at offset + r * rowStride; `out` is
 * contiguous, n = rows * len). `e` (len + 1 cells, of the output's dtype) holds one row of exp and then the
 * row sum, so each intermediate is rounded to the dtype as a stored one would be. The float32
 * acceleration (accel/index.ts) runs this same loop on strided rows.
 */
export function softmaxRowsLoop(src: TypedArray, offset: number, rowStride: number, n: number, len: number, out: TypedArray, e: TypedArray): TypedArray {
  for (let base = 0, s = offset; base < n; base += len, s += rowStride) {
    let mx = -Infinity;
    for (let j = 0; j < len; j++) mx = Math.max(mx, src[s + j]);
    for (let j = 0; j < len; j++) e[j] = src[s + j] - mx;
    let sum = 0;
    for (let j = 0; j < len; j++) {
      e[j] = Math.exp(e[j]);
      sum += e[j];
    }
    e[len] = sum;
    for (let j = 0; j < len; j++) out[base + j] = e[j] / e[len];
  }
  return out;
}

export const softmaxRows: OpEntry<NoAttrs> = {
  outShape: ([shape]) => shape,
  outDType: ([dtype]) => dtype,

  // The steps of the composed version (max, subtract, exp, sum, divide), each result rounded to the
  // dtype as a stored intermediate would be, so both give the same numbers.
  cpu([x]) {
    const n = sizeOf(x.shape);
    const len = x.shape[x.shape.length - 1];
    return softmaxRowsLoop(materialize(x.data, x), 0, len, n, len, allocTyped(x.dtype, n), allocTyped(x.dtype, len + 1));
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

/**
 * The backward of SiLU, `silu(x) = x · s` with s = sigmoid(x) kept from the forward pass: inputs x,
 * s, g of one shape, dx = g · s (1 + x (1 − s)). One pass and no exp, where the composed rule takes
 * about seven elementwise passes.
 */
export const siluBackward = elementwise(
  {
    kernel: function (this: KernelThis, x: Float32Array, s: Float32Array, g: Float32Array): number {
      const v = x[this.thread.x];
      const t = s[this.thread.x];
      return g[this.thread.x] * t * (1 + v * (1 - t));
    },
  },
  ([x, s, g], pos, step, out, o, end) => {
    for (let j = o, p = pos[0], q = pos[1], r = pos[2]; j < end; j++, p += step[0], q += step[1], r += step[2]) {
      const v = x.data[p];
      const t = s.data[q];
      out[j] = g.data[r] * t * (1 + v * (1 - t));
    }
  },
);

/** [da; db] of `silu(a) · b` for output gradient g, s = sigmoid(a) (see siluMulBackward). */
const siluMulBackwardKernel = function (this: KernelThis, a: Float32Array, b: Float32Array, s: Float32Array, g: Float32Array): number {
  const n = this.constants.n;
  const i = flatIndex();
  if (i < n) {
    const v = a[this.thread.x];
    const t = s[this.thread.x];
    return g[this.thread.x] * b[this.thread.x] * t * (1 + v * (1 - t));
  }
  return g[this.thread.x - n] * a[this.thread.x - n] * s[this.thread.x - n];
};

/**
 * The backward of `silu(a) · b` (the SwiGLU gate) in one pass: inputs a, b, s = sigmoid(a) and g of
 * one shape; output [2, ...shape] holding da = g · b · s (1 + a (1 − s)) and db = g · a · s.
 */
export const siluMulBackward: OpEntry<NoAttrs> & { readonly kernel: typeof siluMulBackwardKernel } = {
  outShape: ([shape]) => [2, ...shape],
  outDType: ([dtype]) => dtype,
  kernel: siluMulBackwardKernel,
  cpu(inputs) {
    const [a, b, s, g] = inputs;
    const n = sizeOf(a.shape);
    const out = allocTyped(a.dtype, 2 * n);
    forEachRow(inputs, n, (pos, step, len, o) => {
      let pa = pos[0], pb = pos[1], ps = pos[2], pg = pos[3];
      for (let j = o; j < o + len; j++, pa += step[0], pb += step[1], ps += step[2], pg += step[3]) {
        const v = a.data[pa];
        const t = s.data[ps];
        const gj = g.data[pg];
        out[j] = gj * b.data[pb] * t * (1 + v * (1 - t));
        out[n + j] = gj * v * t;
      }
    });
    return out;
  },
  async gpujs(gpu, inputs) {
    const n = sizeOf(inputs[0].shape);
    gpu.checkExact('siluMulBackward', [2 * n]);
    if (n === 0) return new Float32Array(0);
    const handles: Handle[] = [];
    try {
      for (const v of inputs) handles.push(await gpu.contiguous('siluMulBackward', v));
      return await gpu.launch(siluMulBackwardKernel, 2 * n, handles, { constants: { n } });
    } finally {
      for (const h of handles) gpu.release(h);
    }
  },
};

/** Attributes of the row norms: `center` subtracts the row mean first (LayerNorm) or not (RMSNorm). */
export interface NormAttrs {
  readonly eps: number;
  readonly center: boolean;
}

/** A view's data as a contiguous array (its storage when it already is one: rows are read in place). */
const dense = (v: CpuView): TypedArray => contiguousData(v.data, v);

/**
 * gpu.js side of an entry that has no kernel yet: the inputs are read back, the reference CPU loop
 * runs in the worker, and its result becomes the output (correct, not fast).
 */
function onHost<A>(op: string, entry: OpEntry<A>): OpEntry<A>['gpujs'] {
  return async (gpu, inputs, attrs) => {
    const views: CpuView[] = [];
    for (const v of inputs) {
      const h = await gpu.contiguous(op, v);
      try {
        views.push({ data: await gpu.readBack(h), dtype: 'float32', shape: v.shape, strides: contiguousStrides(v.shape), offset: 0 });
      } finally {
        gpu.release(h);
      }
    }
    const result = Float32Array.from(entry.cpu(views, attrs));
    // Uploaded through a kernel, so the output is a device buffer like any other op's.
    return result.length === 0 ? result : gpu.launch(uploadKernel, result.length, [result]);
  };
}

const uploadKernel = function (this: KernelThis, x: Float32Array): number {
  return x[this.thread.x];
};

/**
 * LayerNorm (`center`) or RMSNorm over the last axis of x [..., d], with gain w [d] and bias b [d]:
 * y = (x − μ) · r · w + b with r = 1 / sqrt(var + eps) (RMSNorm: μ = 0, var = mean(x²)). Row
 * statistics in float64. Output: y (n values), then μ and r per row (2 · rows values), which the
 * backward entry takes back instead of recomputing them.
 */
export const normRows: OpEntry<NormAttrs> = {
  outShape: ([x]) => [sizeOf(x) + 2 * (sizeOf(x) / Math.max(1, x[x.length - 1]))],
  outDType: ([dtype]) => dtype,
  cpu([xv, wv, bv], { eps, center }) {
    const d = xv.shape[xv.shape.length - 1];
    const n = sizeOf(xv.shape);
    const rows = d === 0 ? 0 : n / d;
    const x = dense(xv), w = dense(wv), b = dense(bv);
    const out = allocTyped(xv.dtype, n + 2 * rows);
    for (let r = 0; r < rows; r++) normRow(x, r * d, w, b, d, eps, center, out, n + r, n + rows + r);
    return out;
  },
  gpujs: (gpu, inputs, attrs) => onHost('normRows', normRows)(gpu, inputs, attrs),
};

/**
 * The backward of {@link normRows}: inputs x [..., d], w [d], stats (μ then r per row, as normRows
 * left them) and g [..., d]; output dx (n values), then dw and db (d values each):
 * with x̂ = (x − μ) r and gx̂ = g · w, dx = r (gx̂ − mean(gx̂) − x̂ · mean(gx̂ · x̂)) (no mean(gx̂) term
 * for RMSNorm), dw = Σ_rows g · x̂, db = Σ_rows g.
 */
export const normRowsBackward: OpEntry<NormAttrs> = {
  outShape: ([x]) => [sizeOf(x) + 2 * x[x.length - 1]],
  outDType: ([dtype]) => dtype,
  cpu([xv, wv, sv, gv], { center }) {
    const d = xv.shape[xv.shape.length - 1];
    const n = sizeOf(xv.shape);
    const rows = d === 0 ? 0 : n / d;
    const x = dense(xv), w = dense(wv), stats = dense(sv), g = dense(gv);
    const out = allocTyped(xv.dtype, n + 2 * d);
    const dw = new Float64Array(d);
    const db = new Float64Array(d);
    for (let r = 0; r < rows; r++) normBackRow(x, g, r * d, w, stats[r], stats[rows + r], d, center, dw, db, out);
    for (let j = 0; j < d; j++) {
      out[n + j] = dw[j];
      out[n + d + j] = db[j];
    }
    return out;
  },
  gpujs: (gpu, inputs, attrs) => onHost('normRowsBackward', normRowsBackward)(gpu, inputs, attrs),
};

/*
 * One row of normRows and of its backward, each a small function of its own: an entry's `cpu` runs
 * once per training step over hundreds of thousands of values, and V8 optimises a short function
 * called once per row within the first call, where a long loop inside `cpu` mostly ran unoptimised.
 */

/** y = (x − μ)·r·w + b over the row at x[at ..]; μ (0 unless `center`) and r = 1/σ go to out[meanAt], out[invAt]. */
function normRow(x: TypedArray, at: number, w: TypedArray, b: TypedArray, d: number, eps: number, center: boolean, out: TypedArray, meanAt: number, invAt: number): void {
  let mean = 0;
  if (center) {
    for (let j = 0; j < d; j++) mean += x[at + j];
    mean /= d;
  }
  let ss = 0;
  for (let j = 0; j < d; j++) {
    const c = x[at + j] - mean;
    ss += c * c;
  }
  const inv = 1 / Math.sqrt(ss / d + eps);
  for (let j = 0; j < d; j++) out[at + j] = (x[at + j] - mean) * inv * w[j] + b[j];
  out[meanAt] = mean;
  out[invAt] = inv;
}

/** dx of the row at `at` into out (see normRowsBackward), adding the row's dw and db terms. */
function normBackRow(x: TypedArray, g: TypedArray, at: number, w: TypedArray, mean: number, inv: number, d: number, center: boolean, dw: Float64Array, db: Float64Array, out: TypedArray): void {
  let sumG = 0;
  let sumGX = 0;
  for (let j = 0; j < d; j++) {
    const xh = (x[at + j] - mean) * inv;
    const gj = g[at + j];
    const gx = gj * w[j];
    sumG += gx;
    sumGX += gx * xh;
    dw[j] += gj * xh;
    db[j] += gj;
  }
  const meanG = center ? sumG / d : 0;
  const meanGX = sumGX / d;
  for (let j = 0; j < d; j++) {
    const xh = (x[at + j] - mean) * inv;
    out[at + j] = inv * (g[at + j] * w[j] - meanG - xh * meanGX);
  }
}

/**
 * Softmax cross-entropy over the rows of logits [N, V] against int32 targets [N] (a negative target
 * marks an ignored row). Output: the softmax p (N·V values), then each row's loss
 * logsumexp(x) − x[t] (N values; 0 for an ignored row, whose p row is also 0, so its gradient is 0).
 * Row statistics in float64.
 */
export const softmaxCrossEntropy: OpEntry<NoAttrs> = {
  outShape: ([x]) => [sizeOf(x) + x[0]],
  outDType: ([dtype]) => dtype,
  cpu([xv, tv]) {
    const [n, v] = xv.shape;
    const x = dense(xv), t = dense(tv);
    const out = allocTyped(xv.dtype, n * v + n);
    const e = new Float64Array(v); // one row of exp(x - max), unrounded
    for (let r = 0, base = 0; r < n; r++, base += v) {
      const target = t[r];
      if (target < 0) continue;
      let mx = -Infinity;
      for (let j = 0; j < v; j++) mx = Math.max(mx, x[base + j]);
      let sum = 0;
      for (let j = 0; j < v; j++) {
        e[j] = Math.exp(x[base + j] - mx);
        sum += e[j];
      }
      for (let j = 0; j < v; j++) out[base + j] = e[j] / sum;
      out[n * v + r] = mx + Math.log(sum) - x[base + target];
    }
    return out;
  },
  gpujs: (gpu, inputs, attrs) => onHost('softmaxCrossEntropy', softmaxCrossEntropy)(gpu, inputs, attrs),
};

/** The backward of {@link softmaxCrossEntropy}: inputs p [N, V], targets [N], g [N]; dx = g_i (p_ij − [j = t_i]). */
export const softmaxCrossEntropyBackward: OpEntry<NoAttrs> = {
  outShape: ([p]) => p,
  outDType: ([dtype]) => dtype,
  cpu([pv, tv, gv]) {
    const [n, v] = pv.shape;
    const p = dense(pv), t = dense(tv), g = dense(gv);
    const out = allocTyped(pv.dtype, n * v);
    for (let r = 0; r < n; r++) if (t[r] >= 0) crossEntropyBackRow(p, r * v, g[r], t[r], v, out); // ignored rows stay 0
    return out;
  },
  gpujs: (gpu, inputs, attrs) => onHost('softmaxCrossEntropyBackward', softmaxCrossEntropyBackward)(gpu, inputs, attrs),
};

/** One row of softmaxCrossEntropyBackward at `at`: g (p − onehot(target)); a row function of its own (see normRow). */
function crossEntropyBackRow(p: TypedArray, at: number, gr: number, target: number, v: number, out: TypedArray): void {
  for (let j = 0; j < v; j++) out[at + j] = gr * p[at + j];
  out[at + target] = gr * (p[at + target] - 1);
}

/** Attributes of {@link rope}: `inverse` rotates by −angle (the backward, which is the transpose). */
export interface RopeAttrs {
  readonly inverse: boolean;
}

/**
 * Rotary position embedding in one pass (rotate-half convention, CALM.md §3.2): inputs x [..., T, hd]
 * (any strides), cos and sin [T, hd/2]; with x = [x1, x2] split in halves,
 * forward  y = [x1·cos − x2·sin, x2·cos + x1·sin],
 * inverse  y = [x1·cos + x2·sin, x2·cos − x1·sin]  (the backward: the rotation's transpose).
 * In float32 every product and sum is rounded as the composed version's stored intermediates are,
 * so the forward equals `applyRope`'s chain of mul/sub/add/concat bit for bit, and the inverse equals
 * the gradient that chain's backward rules accumulate (its `+ 0` is theirs too: adding the two
 * halves' zero-padded gradients turns −0 into +0).
 */
export const rope: OpEntry<RopeAttrs> = {
  outShape: ([x]) => x,
  outDType: ([dtype]) => dtype,
  cpu([x, cos, sin], { inverse }) {
    const n = sizeOf(x.shape);
    const out = allocTyped(x.dtype, n);
    if (n === 0) return out;
    const hd = x.shape[x.shape.length - 1];
    const t = x.shape[x.shape.length - 2];
    const rows = new RowWalker(x.shape, [x.strides], [x.offset]); // one row per position: hd values
    const sign = inverse ? -1 : 1;
    const zero = inverse ? 0 : -0; // −0 + v = v for every v, so the forward adds nothing
    const rotate = x.dtype === 'float32' ? ropeRowF32 : ropeRowF64;
    for (let row = 0, o = 0; row < rows.rows; row++, rows.next(), o += hd) {
      const p = row % t;
      rotate(x.data, rows.pos[0], rows.step[0], hd / 2, cos.data, cos.offset + p * cos.strides[0], cos.strides[1],
        sin.data, sin.offset + p * sin.strides[0], sin.strides[1], sign, zero, out, o);
    }
    return out;
  },
  gpujs: (gpu, inputs, attrs) => onHost('rope', rope)(gpu, inputs, attrs),
};

/**
 * One position of {@link rope}: the hd/2 pairs (x_i, x_{i + hd/2}) starting at x[p1] (step `step`),
 * with the table rows at cos[c] and sin[s]. Float32: every product and sum rounded as a stored
 * intermediate is. Two functions rather than one with a rounding parameter, so each stays
 * monomorphic (one array type, Math.fround inlined): the shared version ran about 10x slower.
 */
function ropeRowF32(x: TypedArray, p1: number, step: number, half: number, cos: TypedArray, c: number, cs: number,
  sin: TypedArray, s: number, ss: number, sign: number, zero: number, out: TypedArray, o: number): void {
  for (let i = 0, p = p1, q = p1 + half * step; i < half; i++, p += step, q += step, c += cs, s += ss) {
    const a = x[p], b = x[q], cv = cos[c], sv = sign * sin[s];
    out[o + i] = Math.fround(Math.fround(a * cv) - Math.fround(b * sv)) + zero;
    out[o + half + i] = Math.fround(Math.fround(b * cv) + Math.fround(a * sv)) + zero;
  }
}

/** {@link ropeRowF32} without rounding (float64). */
function ropeRowF64(x: TypedArray, p1: number, step: number, half: number, cos: TypedArray, c: number, cs: number,
  sin: TypedArray, s: number, ss: number, sign: number, zero: number, out: TypedArray, o: number): void {
  for (let i = 0, p = p1, q = p1 + half * step; i < half; i++, p += step, q += step, c += cs, s += ss) {
    const a = x[p], b = x[q], cv = cos[c], sv = sign * sin[s];
    out[o + i] = a * cv - b * sv + zero;
    out[o + half + i] = b * cv + a * sv + zero;
  }
}
