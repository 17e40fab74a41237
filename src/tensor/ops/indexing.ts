/**
 * `gather` (index select along an axis) and its transpose `scatterAdd`, with their reference CPU
 * loops and gpu.js kernels. Indices are int32; an index outside the axis throws a RangeError naming
 * the op, the index and the axis size (the one check the front end cannot make without reading
 * data). Backward rules: `Tensor.gather` and `Tensor.scatterAdd` in `src/autograd/tensor.ts`, each
 * the other's.
 */
import { allocTyped, type TypedArray } from '../dtype.js';
import { sizeOf } from '../shape.js';
import { coalesce, contiguousData, materialize, RowWalker } from '../cpu/strided.js';
import { floorDiv, floorMod, flatIndex } from './kernel-rules.js';
import type { GpuRunner, Handle, KernelThis, OpEntry, WireView } from './types.js';

function checkIndices(where: string, idx: ArrayLike<number>, axisSize: number, axis: number): void {
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i];
    if (!(v >= 0 && v < axisSize) || !Number.isInteger(v)) {
      throw new RangeError(`${where}: index ${v} at position ${i} is out of range for axis ${axis} of size ${axisSize}`);
    }
  }
}

/** The gpu.js side reads the indices back once to check them; returns them as a contiguous handle. */
async function checkedIndices(gpu: GpuRunner, op: string, indices: WireView, axisSize: number, axis: number): Promise<Handle> {
  const h = await gpu.contiguous(op, indices);
  try {
    checkIndices(gpu.where(op), await gpu.readBack(h), axisSize, axis);
  } catch (err) {
    gpu.release(h);
    throw err;
  }
  return h;
}

// ------------------------------------------------------------------ gather

/** out[o, i, r] = x[o, idx[i], r] for contiguous x = [outer, axisSize, inner] and `count` flat indices. */
const gatherKernel = function (this: KernelThis, x: Float32Array, idx: Float32Array): number {
  const inner = this.constants.inner;
  const flat = flatIndex(); // (o * count + i) * inner + r
  const o = floorDiv(flat, this.constants.count * inner);
  const i = floorMod(floorDiv(flat, inner), this.constants.count);
  return x[(o * this.constants.axisSize + idx[i]) * inner + floorMod(flat, inner)];
};

/** out = x.shape[:axis] ++ indices.shape ++ x.shape[axis+1:], out[..., i..., ...] = x[..., indices[i...], ...]. */
export const gather: OpEntry<{ readonly axis: number }> = {
  outShape: ([x, indices], { axis }) => [...x.slice(0, axis), ...indices, ...x.slice(axis + 1)],
  outDType: ([dtype]) => dtype,

  cpu([x, indices], { axis }) {
    const src = x.data;
    const idx = materialize(indices.data, indices);
    const axisSize = x.shape[axis];
    checkIndices('cpu gather', idx, axisSize, axis);
    const outer = sizeOf(x.shape.slice(0, axis));
    const inner = sizeOf(x.shape.slice(axis + 1));
    const nIdx = idx.length;
    const out = allocTyped(x.dtype, outer * nIdx * inner);
    if (out.length === 0) return out;
    const xs = x.strides;
    // The slice x[o, i, ...] (the axes after `axis`) as a view, walked row by row.
    const slice = coalesce(x.shape.slice(axis + 1), [xs.slice(axis + 1)]);
    const fastRow = slice.shape.length === 1 && (slice.strides[0][0] === 1 || inner === 1);
    const outerWalk = new RowWalker([...x.shape.slice(0, axis), 1], [[...xs.slice(0, axis), 0]], [x.offset]);
    // After a full cycle the odometer is back at its start, so one walker serves every slice.
    const sliceWalk = new RowWalker(slice.shape, slice.strides, [0]);
    const axisStride = xs[axis];
    let o = 0;
    for (let r = 0; r < outer; r++, outerWalk.next()) {
      const base = outerWalk.pos[0];
      for (let t = 0; t < nIdx; t++) {
        const start = base + idx[t] * axisStride;
        if (fastRow) {
          // Embedding lookup and friends: the slice is one contiguous run.
          out.set(src.subarray(start, start + inner), o);
          o += inner;
        } else {
          const w = sliceWalk;
          w.pos[0] = start;
          for (let q = 0; q < w.rows; q++, w.next()) {
            let p = w.pos[0];
            for (let j = 0; j < w.len; j++, p += w.step[0]) out[o++] = src[p];
          }
        }
      }
    }
    return out;
  },

  async gpujs(gpu, [x, indices], { axis }) {
    const outShape = gather.outShape([x.shape, indices.shape], { axis });
    gpu.checkExact('gather', x.shape);
    gpu.checkExact('gather', outShape);
    const axisSize = x.shape[axis];
    const constants = { inner: sizeOf(x.shape.slice(axis + 1)), count: sizeOf(indices.shape), axisSize };
    const idx = await checkedIndices(gpu, 'gather', indices, axisSize, axis);
    try {
      if (sizeOf(outShape) === 0) return new Float32Array(0);
      const cx = await gpu.contiguous('gather', x);
      try {
        return await gpu.launch(gatherKernel, sizeOf(outShape), [cx, idx], { constants, key: `${sizeOf(x.shape.slice(0, axis))}` });
      } finally {
        gpu.release(cx);
      }
    } finally {
      gpu.release(idx);
    }
  },
};

// ------------------------------------------------------------------ scatterAdd

/**
 * out[o, a, r] = sum over i with idx[i] == a of src[o, i, r], for contiguous src = [outer, count,
 * inner]: one loop over the indices per output cell, so no atomics are needed.
 */
const scatterAddKernel = function (this: KernelThis, src: Float32Array, idx: Float32Array): number {
  const inner = this.constants.inner;
  const flat = flatIndex(); // (o * axisSize + a) * inner + r
  const o = floorDiv(flat, this.constants.axisSize * inner);
  const a = floorMod(floorDiv(flat, inner), this.constants.axisSize);
  const r = floorMod(flat, inner);
  let acc = 0;
  for (let i = 0; i < this.constants.count; i++) {
    if (idx[i] == a) {
      acc = acc + src[(o * this.constants.count + i) * inner + r];
    }
  }
  return acc;
};

/** acc[o ..] += data[s ..] over `len` values, in float64. */
function addRowFloat(acc: Float64Array | Int32Array, o: number, data: TypedArray, s: number, len: number): void {
  for (let j = 0; j < len; j++) acc[o + j] += data[s + j];
}

/** acc[o ..] += data[s ..] over `len` values, wrapping like int32. */
function addRowInt32(acc: Float64Array | Int32Array, o: number, data: TypedArray, s: number, len: number): void {
  for (let j = 0; j < len; j++) acc[o + j] = (acc[o + j] + data[s + j]) | 0;
}

export interface ScatterAddAttrs {
  readonly axis: number;
  readonly axisSize: number;
}

/**
 * The transpose of `gather`: a zero buffer of shape src.shape[:axis] ++ [axisSize] ++
 * src.shape[axis + indices.rank:], into which each slice of `src` is added at its index. Repeated
 * indices accumulate.
 */
export const scatterAdd: OpEntry<ScatterAddAttrs> = {
  outShape: ([src, indices], { axis, axisSize }) => [...src.slice(0, axis), axisSize, ...src.slice(axis + indices.length)],
  outDType: ([dtype]) => dtype,

  cpu([src, indices], { axis, axisSize }) {
    const data = contiguousData(src.data, src);
    const idx = contiguousData(indices.data, indices);
    checkIndices('cpu scatterAdd', idx, axisSize, axis);
    const outer = sizeOf(src.shape.slice(0, axis));
    const inner = sizeOf(src.shape.slice(axis + indices.shape.length));
    const nIdx = idx.length;
    const size = outer * axisSize * inner;
    const int = src.dtype === 'int32';
    // Accumulate floats in float64 and round once; ints wrap like int32.
    const acc: Float64Array | Int32Array = int ? new Int32Array(size) : new Float64Array(size);
    // One call per slice to a small row function: V8 optimises it within the first call, where a long
    // loop inside `cpu` (shared by every dtype) ran mostly unoptimised in a training step.
    const addRow = int ? addRowInt32 : addRowFloat;
    for (let r = 0, s = 0; r < outer; r++) {
      for (let t = 0; t < nIdx; t++, s += inner) addRow(acc, (r * axisSize + idx[t]) * inner, data, s, inner);
    }
    if (int) return acc;
    const out: TypedArray = allocTyped(src.dtype, size);
    out.set(acc);
    return out;
  },

  async gpujs(gpu, [src, indices], attrs) {
    const { axis, axisSize } = attrs;
    const outShape = scatterAdd.outShape([src.shape, indices.shape], attrs);
    gpu.checkExact('scatterAdd', src.shape);
    gpu.checkExact('scatterAdd', outShape);
    const n = sizeOf(outShape);
    const count = sizeOf(indices.shape);
    const constants = { inner: sizeOf(src.shape.slice(axis + indices.shape.length)), count, axisSize };
    const idx = await checkedIndices(gpu, 'scatterAdd', indices, axisSize, axis);
    try {
      if (n === 0) return new Float32Array(0);
      if (count === 0) return await gpu.fill(n, 0);
      const cs = await gpu.contiguous('scatterAdd', src);
      try {
        return await gpu.launch(scatterAddKernel, n, [cs, idx], { constants, longestLoop: count });
      } finally {
        gpu.release(cs);
      }
    } finally {
      gpu.release(idx);
    }
  },
};
