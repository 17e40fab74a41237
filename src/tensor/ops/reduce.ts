/**
 * `reduce`: sum, max, min over sorted, distinct, non-empty `axes`, and argmax/argmin over exactly
 * one axis (int32 result, the first extremum on ties). The output keeps the reduced axes as size 1
 * (the front end squeezes them when asked). Sum of an empty axis is 0; max/min of one is refused.
 *
 * - CPU: the input is walked in its own order, accumulating in float64 into the output position
 *   (the output's strides are 0 on reduced axes), rounded once at the end.
 * - gpu.js: the reduced axes are permuted last and copied contiguous, so the input is [outer, len];
 *   one thread per output cell loops over its row (float32 accumulation).
 *
 * Backward rules: `Tensor.sum` and `Tensor.max`/`min` in `src/autograd/tensor.ts`.
 */
import { allocTyped, type TypedArray } from '../dtype.js';
import { fmtShape, sizeOf } from '../shape.js';
import { coalesce, reducedStrides, RowWalker } from '../cpu/strided.js';
import type { CpuView, KernelThis, OpEntry, WireView } from './types.js';

export type ReduceOp = 'sum' | 'max' | 'min' | 'argmax' | 'argmin';

export interface ReduceAttrs {
  readonly op: ReduceOp;
  readonly axes: readonly number[];
}

/** Folds one input row into the float64 accumulator (`so` = 0 folds the whole row into acc[o]). */
function reduceRow(op: ReduceOp, x: TypedArray, p: number, s: number, acc: Float64Array, o: number, so: number, len: number): void {
  if (so === 0) {
    let v = acc[o];
    if (op === 'sum') for (let j = 0; j < len; j++, p += s) v += x[p];
    else if (op === 'max') for (let j = 0; j < len; j++, p += s) v = Math.max(v, x[p]);
    else for (let j = 0; j < len; j++, p += s) v = Math.min(v, x[p]);
    acc[o] = v;
    return;
  }
  if (op === 'sum') for (let j = 0; j < len; j++, p += s, o += so) acc[o] += x[p];
  else if (op === 'max') for (let j = 0; j < len; j++, p += s, o += so) acc[o] = Math.max(acc[o], x[p]);
  else for (let j = 0; j < len; j++, p += s, o += so) acc[o] = Math.min(acc[o], x[p]);
}

/** argmax/argmin over one axis; first extremum on ties, and the first NaN wins if there is one. */
function argReduce(op: 'argmax' | 'argmin', x: CpuView, axis: number, outSize: number): Int32Array {
  const out = new Int32Array(outSize);
  const n = x.shape[axis];
  if (outSize === 0) return out;
  if (n === 0) throw new RangeError(`cpu reduce: ${op} of an empty axis ${axis} (shape ${fmtShape(x.shape)})`);
  // Walk the kept axes (axis moved last with length 1), then scan the axis from each start.
  const keptShape = x.shape.map((d, i) => (i === axis ? 1 : d));
  const { shape, strides } = coalesce(keptShape, [x.strides]);
  const w = new RowWalker(shape, strides, [x.offset]);
  const stride = x.strides[axis];
  const src = x.data;
  const max = op === 'argmax';
  let o = 0;
  for (let r = 0; r < w.rows; r++, w.next()) {
    let p = w.pos[0];
    for (let j = 0; j < w.len; j++, p += w.step[0]) {
      let best = src[p];
      let bestIndex = 0;
      let q = p + stride;
      for (let i = 1; i < n && best === best; i++, q += stride) {
        const v = src[q];
        if (v !== v || (max ? v > best : v < best)) {
          best = v;
          bestIndex = i;
        }
      }
      out[o++] = bestIndex;
    }
  }
  return out;
}

// gpu.js kernels over the rows of a contiguous [outer, len] input (len = this.constants.len).

const sumKernel = function (this: KernelThis, x: Float32Array): number {
  const base = this.thread.x * this.constants.len;
  let acc = 0;
  for (let j = 0; j < this.constants.len; j++) {
    acc = acc + x[base + j];
  }
  return acc;
};

/** max (sign = 1) and min (sign = -1, as -max(-x)); negation is exact, so nothing is rounded. */
const extremumKernel = function (this: KernelThis, x: Float32Array): number {
  const base = this.thread.x * this.constants.len;
  const sign = this.constants.sign;
  let acc = sign * x[base];
  for (let j = 1; j < this.constants.len; j++) {
    acc = Math.max(acc, sign * x[base + j]);
  }
  return sign * acc;
};

/**
 * argmax (sign = 1) and argmin (sign = -1): the first index of the largest sign * x. Negation is
 * exact, so this is the same search as a separate argmin kernel.
 */
const argKernel = function (this: KernelThis, x: Float32Array): number {
  const base = this.thread.x * this.constants.len;
  const sign = this.constants.sign;
  let best = sign * x[base];
  let at = 0;
  for (let j = 1; j < this.constants.len; j++) {
    const v = sign * x[base + j];
    if (v > best) {
      best = v;
      at = j;
    }
  }
  return at;
};

/** The row max of a contiguous [outer, len] input (launch with constants len and sign = 1; the fused softmax reuses it). */
export const rowMaxKernel = extremumKernel;

/** The view with the reduced axes moved last, so its contiguous copy is [outer, len]. */
function reducedLast(v: WireView, axes: readonly number[]): { permuted: WireView; outer: number; len: number } {
  const kept = v.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const order = [...kept, ...axes];
  const permuted = { ...v, shape: order.map((i) => v.shape[i]), strides: order.map((i) => v.strides[i]) };
  return { permuted, outer: sizeOf(kept.map((i) => v.shape[i])), len: sizeOf(axes.map((i) => v.shape[i])) };
}

export const reduce: OpEntry<ReduceAttrs> = {
  outShape: ([shape], { axes }) => shape.map((d, i) => (axes.includes(i) ? 1 : d)),
  outDType: ([dtype], { op }) => (op === 'argmax' || op === 'argmin' ? 'int32' : dtype),

  cpu([x], { op, axes }) {
    const outSize = sizeOf(reduce.outShape([x.shape], { op, axes }));
    if (op === 'argmax' || op === 'argmin') return argReduce(op, x, axes[0], outSize);
    const out = allocTyped(x.dtype, outSize);
    const reducedLength = axes.reduce((n, a) => n * x.shape[a], 1);
    if (reducedLength === 0) {
      if (op !== 'sum') throw new RangeError(`cpu reduce: ${op} of an empty axis (shape ${fmtShape(x.shape)}, axes [${axes.join(', ')}])`);
      return out; // sum of nothing is 0
    }
    // A row whose output step is 0 (reducing the last axis) folds into a local variable.
    const acc = new Float64Array(outSize).fill(op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity);
    const { shape, strides } = coalesce(x.shape, [x.strides, reducedStrides(x.shape, axes)]);
    const w = new RowWalker(shape, strides, [x.offset, 0]);
    for (let r = 0; r < w.rows; r++, w.next()) reduceRow(op, x.data, w.pos[0], w.step[0], acc, w.pos[1], w.step[1], w.len);
    for (let i = 0; i < outSize; i++) out[i] = acc[i];
    return out;
  },

  async gpujs(gpu, [v], { op, axes }) {
    gpu.checkExact(op, v.shape);
    const { permuted, outer, len } = reducedLast(v, axes);
    if (outer === 0) return new Float32Array(0);
    if (len === 0) return gpu.fill(outer, 0);
    const x = await gpu.contiguous(op, permuted);
    try {
      const kernel = op === 'sum' ? sumKernel : op === 'max' || op === 'min' ? extremumKernel : argKernel;
      const sign = op === 'min' || op === 'argmin' ? -1 : 1;
      return await gpu.launch(kernel, outer, [x], { constants: { len, sign }, longestLoop: len });
    } finally {
      gpu.release(x);
    }
  },
};
