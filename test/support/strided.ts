/**
 * Strided views built by hand on any backend (permuted, broadcast with stride 0, stepped, offset), and
 * their elements read back by the explicit stride formula: the inputs of the property tests in
 * backends.test.ts and cpu-backend.test.ts.
 */
import type { Backend, BackendBuffer, View } from '../../src/tensor/backend.js';
import { allocTyped, type DType, type TypedArray } from '../../src/tensor/dtype.js';
import { contiguousStrides, sizeOf, type Shape } from '../../src/tensor/shape.js';
import { permutation, type LayoutChoice } from './arbitraries.js';
import { ravel, unravel } from './reference.js';

export interface Layout {
  view: View;
  /** The raw host data the view's buffer was uploaded from. */
  host: TypedArray;
}

/**
 * The view of `shape` on `be` that `layout` describes (test/support/arbitraries.ts): strides from the axes'
 * storage order, broadcast flags and steps, storage filled with the layout's values (cycled) through `map`.
 */
export function viewOf(be: Backend, shape: Shape, layout: LayoutChoice, dtype: DType, map: (v: number) => number = (v) => v): Layout {
  const rank = shape.length;
  const strides = new Array<number>(rank).fill(0);
  let s = layout.base;
  for (const ax of permutation(layout.order, rank).reverse()) {
    const step = layout.steps[ax];
    strides[ax] = layout.broadcast[ax] ? 0 : s * step;
    if (!layout.broadcast[ax]) s *= Math.max(1, shape[ax]) * step;
  }
  let span = 1;
  for (let ax = 0; ax < rank; ax++) span += Math.max(0, shape[ax] - 1) * strides[ax];
  const host = allocTyped(dtype, layout.offset + span + layout.padding);
  for (let i = 0; i < host.length; i++) host[i] = map(layout.values[i % layout.values.length]);
  return { view: { buffer: be.upload(host), shape, strides, offset: layout.offset }, host };
}

/** The view's elements in row-major order, read by the explicit stride formula. */
export function logical(l: Layout): number[] {
  const { shape, strides, offset } = l.view;
  const out: number[] = [];
  for (let i = 0; i < sizeOf(shape); i++) {
    const idx = unravel(i, shape);
    let p = offset;
    for (let a = 0; a < shape.length; a++) p += idx[a] * strides[a];
    out.push(l.host[p]);
  }
  return out;
}

/** Reads a contiguous result buffer of `shape` back to the host. */
export function readBuf(be: Backend, buffer: BackendBuffer, shape: Shape): TypedArray {
  return be.read({ buffer, shape, strides: contiguousStrides(shape), offset: 0 });
}

/** Reference keepdims reduction over `axes`, by explicit index arithmetic in float64. */
export function reduceRef(op: 'sum' | 'max' | 'min', values: number[], shape: Shape, axes: number[]): number[] {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Array<number>(sizeOf(outShape)).fill(op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity);
  for (let i = 0; i < values.length; i++) {
    const idx = unravel(i, shape).map((v, a) => (axes.includes(a) ? 0 : v));
    const o = ravel(idx, outShape);
    out[o] = op === 'sum' ? out[o] + values[i] : op === 'max' ? Math.max(out[o], values[i]) : Math.min(out[o], values[i]);
  }
  return out;
}
