/**
 * Layout primitives: `copy` (materialise a strided view), `fill`, `cast`, `where`, `concat` and
 * `unslice` (the transpose of a strided slice), each with its reference CPU loop and its gpu.js
 * kernel. Also the one encoder that packs a strided layout for the gpu.js kernels.
 */
import { allocTyped, type DType } from '../dtype.js';
import { contiguousStrides, fmtShape, sizeOf, type Shape } from '../shape.js';
import { copyInto, forEachRow, materialize } from '../cpu/strided.js';
import { elementwise } from './elementwise.js';
import { floorDiv, floorMod, flatIndex, MAX_RANK } from './kernel-rules.js';
import type { GpuRunner, Handle, KernelThis, NoAttrs, OpEntry, WireView } from './types.js';

const INT32_MAX = 2147483647;
const INT32_MIN = -2147483648;

/** Saturates to the int32 range (as a float-to-int cast does); NaN becomes 0. */
function clampInt32(v: number): number {
  return v >= INT32_MAX ? INT32_MAX : v <= INT32_MIN ? INT32_MIN : Math.trunc(v) || 0;
}

// ------------------------------------------------------------------ the layout encoder

/**
 * Packs per-axis vectors of a strided layout into the one Float32Array that a strided gpu.js
 * kernel reads (kernels take arrays, not objects). Each vector gets a block of MAX_RANK slots and
 * is right-aligned in it, padded in front with its `pad` value (a unit axis: size 1, stride 0,
 * step 1), so axis d of vector f is slot `f * MAX_RANK + d`; the scalars follow the blocks.
 * `copy` packs [shape, strides] then the offset (slots 0-5, 6-11, 12); `unslice` packs
 * [outShape, starts, steps, xShape] (slots 0-5, 6-11, 12-17, 18-23).
 */
export function encodeLayout(vectors: readonly (readonly number[])[], pads: readonly number[], scalars: readonly number[] = []): Float32Array {
  const slots = new Float32Array(vectors.length * MAX_RANK + scalars.length);
  vectors.forEach((v, f) => {
    const start = f * MAX_RANK + MAX_RANK - v.length;
    slots.fill(pads[f], f * MAX_RANK, start);
    slots.set(v, start);
  });
  slots.set(scalars, vectors.length * MAX_RANK);
  return slots;
}

/** Merges axes that are adjacent in memory and drops unit axes, so more views fit MAX_RANK. */
function collapse(shape: readonly number[], strides: readonly number[]): { shape: number[]; strides: number[] } {
  const outShape: number[] = [];
  const outStrides: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && outStrides[last] === strides[i] * shape[i]) {
      outShape[last] *= shape[i];
      outStrides[last] = strides[i];
    } else {
      outShape.push(shape[i]);
      outStrides.push(strides[i]);
    }
  }
  return { shape: outShape, strides: outStrides };
}

// ------------------------------------------------------------------ copy

/**
 * Strided gather over a layout from {@link encodeLayout} ([shape, strides], offset): walks the flat
 * output index from the last axis to the first, peeling off one coordinate per axis.
 */
export const copyKernel = function (this: KernelThis, x: Float32Array, layout: Float32Array): number {
  let rem = flatIndex();
  let pos = layout[12];
  for (let j = 0; j < 6; j++) {
    const d = 5 - j;
    const size = layout[d];
    const q = floorDiv(rem, size);
    pos = pos + (rem - q * size) * layout[6 + d];
    rem = q;
  }
  return x[pos];
};

/** The layout of a whole contiguous buffer of n elements (a 1-D view with stride 1). */
export function contiguousLayout(n: number): Float32Array {
  return encodeLayout([[n], [1]], [1, 0], [0]);
}

/** The gpu.js side of `copy`: a contiguous device copy of a view (what every other op reads). */
export async function copyToContiguous(gpu: GpuRunner, op: string, v: WireView, whole: Handle): Promise<Handle> {
  const c = collapse(v.shape, v.strides);
  if (c.shape.length > MAX_RANK) {
    throw new RangeError(
      `${gpu.where(op)}: view of shape ${fmtShape(v.shape)} with strides [${v.strides.join(', ')}] needs ` +
        `${c.shape.length} strided axes; at most ${MAX_RANK} are supported`,
    );
  }
  const layout = encodeLayout([c.shape, c.strides], [1, 0], [v.offset]);
  return gpu.launch(copyKernel, sizeOf(v.shape), [whole, layout], { key: `${v.size}` });
}

export const copy: OpEntry<NoAttrs> = {
  outShape: ([shape]) => shape,
  outDType: ([dtype]) => dtype,
  cpu: ([x]) => materialize(x.data, x),
  gpujs: (gpu, [x]) => gpu.contiguous('copy', x),
};

// ------------------------------------------------------------------ fill

export interface FillAttrs {
  readonly size: number;
  readonly value: number;
  readonly dtype: DType;
}

export const fill: OpEntry<FillAttrs> = {
  outShape: (_shapes, { size }) => [size],
  outDType: (_dtypes, { dtype }) => dtype,
  cpu(_inputs, { size, value, dtype }) {
    const out = allocTyped(dtype, size);
    out.fill(dtype === 'int32' ? clampInt32(value) : value);
    return out;
  },
  gpujs: (gpu, _inputs, { size, value, dtype }) => gpu.fill(size, dtype === 'int32' ? Math.trunc(value) : value),
};

/** Every cell equal to the scalar argument. */
export const fillKernel = function (this: KernelThis, value: number): number {
  return value;
};

// ------------------------------------------------------------------ cast

/** Truncation toward zero: float to int32 casts, and every op whose entry says `truncatesInt`. */
export const truncKernel = function (this: KernelThis, x: Float32Array): number {
  const v = x[this.thread.x];
  if (v <= -1) {
    return -Math.floor(-v);
  }
  // (-1, 1) is +0 as an Int32Array holds it (-Math.floor(0.5) would be -0; shader compilers fold
  // the usual `+ 0` fix away).
  if (v < 1) {
    return 0;
  }
  return Math.floor(v);
};

/** Elementwise conversion; float to int32 truncates toward zero and saturates. */
export const cast: OpEntry<{ readonly dtype: DType }> = {
  outShape: ([shape]) => shape,
  outDType: (_dtypes, { dtype }) => dtype,
  truncatesInt: true,
  cpu([x], { dtype }) {
    const src = x.data;
    const out = allocTyped(dtype, sizeOf(x.shape));
    const toInt = dtype === 'int32';
    forEachRow([x], out.length, (pos, step, len, o) => {
      let p = pos[0];
      const s = step[0];
      // Int32Array stores truncate toward zero (NaN -> 0); clamp first so large values saturate.
      if (toInt) for (let j = 0; j < len; j++, p += s) out[o + j] = clampInt32(src[p]);
      else for (let j = 0; j < len; j++, p += s) out[o + j] = src[p];
    });
    return out;
  },
  // Storage is float32 for every dtype: a cast is a copy (the engine truncates when the result is int32).
  gpujs: (gpu, [x]) => gpu.contiguous('cast', x),
};

// ------------------------------------------------------------------ where

/** Elementwise `cond != 0 ? a : b`; all three have the output shape; `cond` may have any dtype. */
export const where = elementwise(
  {
    kernel: function (this: KernelThis, c: Float32Array, a: Float32Array, b: Float32Array): number {
      if (c[this.thread.x] != 0) {
        return a[this.thread.x];
      }
      return b[this.thread.x];
    },
  },
  ([cond, a, b], pos, step, out, o, end) => {
    let pc = pos[0], pa = pos[1], pb = pos[2];
    for (; o < end; o++, pc += step[0], pa += step[1], pb += step[2]) out[o] = cond.data[pc] !== 0 ? a.data[pa] : b.data[pb];
  },
);

// ------------------------------------------------------------------ concat

/** Joins contiguous [outer, ca, inner] and [outer, cb, inner] along the middle axis. */
const concat2Kernel = function (this: KernelThis, a: Float32Array, b: Float32Array): number {
  const inner = this.constants.inner;
  const ca = this.constants.ca;
  const cb = this.constants.cb;
  const flat = flatIndex(); // (o * (ca + cb) + k) * inner + r
  const o = floorDiv(flat, (ca + cb) * inner);
  const k = floorMod(floorDiv(flat, inner), ca + cb);
  const r = floorMod(flat, inner);
  if (k < ca) {
    return a[(o * ca + k) * inner + r];
  }
  return b[(o * cb + (k - ca)) * inner + r];
};

/** Joins views along `axis`; all shapes agree except on `axis`. */
export const concat: OpEntry<{ readonly axis: number }> = {
  outShape: (shapes, { axis }) => shapes[0].map((d, i) => (i === axis ? shapes.reduce((n, s) => n + s[axis], 0) : d)),
  outDType: ([dtype]) => dtype,
  cpu(xs, attrs) {
    const outShape = concat.outShape(xs.map((x) => x.shape), attrs);
    const out = allocTyped(xs[0].dtype, sizeOf(outShape));
    const outStrides = contiguousStrides(outShape);
    let start = 0;
    for (const x of xs) {
      copyInto(x.data, x, out, outStrides, start * (outStrides[attrs.axis] ?? 0));
      start += x.shape[attrs.axis];
    }
    return out;
  },
  // Pairwise: the running result joined with the next part, one launch each.
  async gpujs(gpu, xs, attrs) {
    const { axis } = attrs;
    const outShape = concat.outShape(xs.map((x) => x.shape), attrs);
    gpu.checkExact('concat', outShape);
    const outer = sizeOf(outShape.slice(0, axis));
    const inner = sizeOf(outShape.slice(axis + 1));
    const parts = xs.filter((v) => sizeOf(v.shape) > 0);
    if (sizeOf(outShape) === 0) return new Float32Array(0);
    let acc = await gpu.contiguous('concat', parts[0]);
    let ca = parts[0].shape[axis];
    for (let i = 1; i < parts.length; i++) {
      const cb = parts[i].shape[axis];
      const next = await gpu.contiguous('concat', parts[i]);
      try {
        const joined = await gpu.launch(concat2Kernel, outer * (ca + cb) * inner, [acc, next], { constants: { inner, ca, cb } });
        gpu.release(acc);
        acc = joined;
      } finally {
        gpu.release(next);
      }
      ca += cb;
    }
    return acc;
  },
};

// ------------------------------------------------------------------ unslice

/**
 * Transposed strided slice over a layout from {@link encodeLayout} ([outShape, starts, steps,
 * xShape]); `x` is contiguous with shape xShape. Cells not hit by the slice are 0.
 */
const unsliceKernel = function (this: KernelThis, x: Float32Array, layout: Float32Array): number {
  let rem = flatIndex();
  let pos = 0;
  let stride = 1;
  let hit = 1;
  for (let j = 0; j < 6; j++) {
    const d = 5 - j;
    const size = layout[d];
    const q = floorDiv(rem, size);
    const t = rem - q * size - layout[6 + d];
    rem = q;
    const step = layout[12 + d];
    // Rounded quotient: hit only when t is an exact multiple of the (possibly negative) step.
    const k = Math.floor(t / step + 0.5);
    if (t - k * step != 0 || k < 0 || k >= layout[18 + d]) {
      hit = 0;
    }
    pos = pos + k * stride;
    stride = stride * layout[18 + d];
  }
  if (hit > 0) {
    return x[pos];
  }
  return 0;
};

export interface UnsliceAttrs {
  readonly outShape: Shape;
  readonly starts: readonly number[];
  readonly steps: readonly number[];
}

/** A zero buffer of `outShape` with `x` written at positions starts[i] + j * steps[i] along each axis i. */
export const unslice: OpEntry<UnsliceAttrs> = {
  outShape: (_shapes, { outShape }) => outShape,
  outDType: ([dtype]) => dtype,
  cpu([x], { outShape, starts, steps }) {
    const out = allocTyped(x.dtype, sizeOf(outShape));
    const base = contiguousStrides(outShape);
    let offset = 0;
    for (let i = 0; i < outShape.length; i++) offset += starts[i] * base[i];
    copyInto(x.data, x, out, base.map((s, i) => s * steps[i]), offset);
    return out;
  },
  async gpujs(gpu, [x], { outShape, starts, steps }) {
    gpu.checkExact('unslice', outShape);
    const n = sizeOf(outShape);
    if (n === 0) return new Float32Array(0);
    if (sizeOf(x.shape) === 0) return gpu.fill(n, 0);
    if (outShape.length > MAX_RANK) {
      throw new RangeError(`${gpu.where('unslice')}: output shape ${fmtShape(outShape)} has rank ${outShape.length}; at most ${MAX_RANK} is supported`);
    }
    const layout = encodeLayout([outShape, starts, steps, x.shape], [1, 0, 1, 1]);
    const cx = await gpu.contiguous('unslice', x);
    try {
      return await gpu.launch(unsliceKernel, n, [cx, layout], { key: `${sizeOf(x.shape)}` });
    } finally {
      gpu.release(cx);
    }
  },
};
