/**
 * Helpers for walking strided views on the CPU without per-element allocation.
 *
 * Every elementwise op treats its operands as a grid of rows: the leading axes are walked by an
 * odometer ({@link RowWalker}) once per row, and the last axis is a plain inner loop with a fixed
 * step per operand. Before walking, {@link coalesce} drops size-1 axes and merges neighbouring axes
 * that are contiguous with each other in every operand, so a contiguous view becomes one row with
 * step 1 (the fast path) and a broadcast or transposed view keeps as few axes as possible.
 */
import { allocTyped, dtypeOfTyped, type TypedArray } from '../dtype.js';
import { contiguousStrides, sizeOf, type Shape } from '../shape.js';

/** Shape and per-operand strides after {@link coalesce}. */
export interface Coalesced {
  readonly shape: number[];
  /** strides[v][axis] for operand v. */
  readonly strides: number[][];
}

/**
 * Drops size-1 axes and merges axis i into axis i+1 whenever, for every operand,
 * stride[i] === stride[i+1] * shape[i+1]. The element order (row-major over `shape`) is unchanged.
 * A shape with a 0 axis is returned as [0]. The result always has at least one axis.
 */
export function coalesce(shape: Shape, stridesList: readonly (readonly number[])[]): Coalesced {
  const nv = stridesList.length;
  for (const d of shape) {
    if (d === 0) return { shape: [0], strides: stridesList.map(() => [1]) };
  }
  const outShape: number[] = [];
  const outStrides: number[][] = stridesList.map(() => []);
  for (let ax = 0; ax < shape.length; ax++) {
    const d = shape[ax];
    if (d === 1) continue;
    const last = outShape.length - 1;
    let merge = last >= 0;
    for (let v = 0; v < nv && merge; v++) {
      if (outStrides[v][last] !== stridesList[v][ax] * d) merge = false;
    }
    if (merge) {
      outShape[last] *= d;
      for (let v = 0; v < nv; v++) outStrides[v][last] = stridesList[v][ax];
    } else {
      outShape.push(d);
      for (let v = 0; v < nv; v++) outStrides[v].push(stridesList[v][ax]);
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: stridesList.map(() => [1]) };
  return { shape: outShape, strides: outStrides };
}

/**
 * An odometer over all axes but the last of a (coalesced) shape, tracking the start offset of the
 * current row in each operand. Usage:
 *
 *     const w = new RowWalker(shape, strides, offsets);
 *     for (let r = 0; r < w.rows; r++, w.next()) { ... w.pos[v] ... w.len ... w.step[v] ... }
 */
export class RowWalker {
  /** Number of rows (product of the leading axes; 0 when the shape is empty). */
  readonly rows: number;
  /** Length of each row (the last axis). */
  readonly len: number;
  /** Stride along the last axis, per operand. */
  readonly step: number[];
  /** Offset of the current row's first element, per operand. */
  readonly pos: number[];
  private readonly shape: readonly number[];
  private readonly strides: readonly (readonly number[])[];
  private readonly counter: Int32Array;

  constructor(shape: readonly number[], strides: readonly (readonly number[])[], offsets: readonly number[]) {
    const rank = shape.length;
    this.shape = shape;
    this.strides = strides;
    this.len = rank === 0 ? 1 : shape[rank - 1];
    this.step = strides.map((s) => (rank === 0 ? 0 : s[rank - 1]));
    this.pos = offsets.slice();
    this.counter = new Int32Array(Math.max(0, rank - 1));
    let rows = 1;
    for (let ax = 0; ax < rank - 1; ax++) rows *= shape[ax];
    this.rows = this.len === 0 ? 0 : rows;
  }

  /** Advances to the next row (wraps to the start after the last one). */
  next(): void {
    const { shape, strides, counter, pos } = this;
    const nv = pos.length;
    for (let ax = shape.length - 2; ax >= 0; ax--) {
      counter[ax]++;
      if (counter[ax] < shape[ax]) {
        for (let v = 0; v < nv; v++) pos[v] += strides[v][ax];
        return;
      }
      counter[ax] = 0;
      for (let v = 0; v < nv; v++) pos[v] -= strides[v][ax] * (shape[ax] - 1);
    }
  }
}

/** Row-major strides with 0 on the given axes (the "write" strides of a keepdims reduction). */
export function reducedStrides(shape: Shape, axes: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (axes.includes(i)) {
      strides[i] = 0;
    } else {
      strides[i] = s;
      s *= shape[i];
    }
  }
  return strides;
}

/** The part of a view the walkers need (a `CpuView` of the op table, or a `View`). */
export interface StridedLayout {
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
}

/**
 * Walks views of a common shape in row-major order, handing each row to `row` with the row's
 * start offset and step per operand and the output offset (the output is contiguous, `size`
 * elements). Called once per row, so the closure costs nothing per element.
 */
export function forEachRow(
  views: readonly StridedLayout[], size: number,
  row: (pos: readonly number[], step: readonly number[], len: number, outOffset: number) => void,
): void {
  if (size === 0) return;
  const { shape, strides } = coalesce(views[0].shape, views.map((v) => v.strides));
  const w = new RowWalker(shape, strides, views.map((v) => v.offset));
  let o = 0;
  for (let r = 0; r < w.rows; r++, w.next()) {
    row(w.pos, w.step, w.len, o);
    o += w.len;
  }
}

/** Copies the strided view `x` of `src` into `out` at `outOffset` with the given output strides. */
export function copyInto(src: TypedArray, x: StridedLayout, out: TypedArray, outStrides: readonly number[], outOffset: number): void {
  if (sizeOf(x.shape) === 0) return;
  const { shape, strides } = coalesce(x.shape, [x.strides, outStrides]);
  const w = new RowWalker(shape, strides, [x.offset, outOffset]);
  for (let r = 0; r < w.rows; r++, w.next()) {
    let p = w.pos[0];
    let q = w.pos[1];
    const s = w.step[0];
    const t = w.step[1];
    const len = w.len;
    if (s === 1 && t === 1) {
      out.set(src.subarray(p, p + len), q);
    } else {
      for (let j = 0; j < len; j++, p += s, q += t) out[q] = src[p];
    }
  }
}

/** A fresh contiguous typed array (of `src`'s type) holding the view's elements in row-major order. */
export function materialize(src: TypedArray, x: StridedLayout): TypedArray {
  const out = allocTyped(dtypeOfTyped(src), sizeOf(x.shape));
  copyInto(src, x, out, contiguousStrides(x.shape), 0);
  return out;
}

/** The view's elements in row-major order: the storage itself when the view is contiguous, else a copy. */
export function contiguousData(src: TypedArray, x: StridedLayout): TypedArray {
  const n = sizeOf(x.shape);
  const plain = contiguousStrides(x.shape);
  const contiguous = x.shape.every((d, i) => d === 1 || x.strides[i] === plain[i]);
  return contiguous ? src.subarray(x.offset, x.offset + n) : materialize(src, x);
}
