/**
 * Helpers for walking strided views on the CPU without per-element allocation.
 *
 * Every elementwise op treats its operands as a grid of rows: the leading axes are walked by an
 * odometer ({@link RowWalker}) once per row, and the last axis is a plain inner loop with a fixed
 * step per operand. Before walking, {@link coalesce} drops size-1 axes and merges neighbouring axes
 * that are contiguous with each other in every operand, so a contiguous view becomes one row with
 * step 1 (the fast path) and a broadcast or transposed view keeps as few axes as possible.
 */
import type { Shape } from '../shape.js';

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
