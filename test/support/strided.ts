/**
 * Random strided views built by hand on any backend (permuted, broadcast with stride 0, stepped,
 * offset), and their elements read back by the explicit stride formula: the inputs of the
 * property tests in backends.test.ts and cpu-backend.test.ts.
 */
import type { Backend, BackendBuffer, View } from '../../src/tensor/backend.js';
import { allocTyped, type DType, type TypedArray } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/tensor/random.js';
import { contiguousStrides, sizeOf, type Shape } from '../../src/tensor/shape.js';
import { ravel, unravel } from './reference.js';

export interface Layout {
  view: View;
  /** The raw host data the view's buffer was uploaded from. */
  host: TypedArray;
}

/**
 * A random view of `shape` on `be`: axes stored in a random order, some broadcast (stride 0) when
 * allowed, some stepped by 2, with a random offset; storage filled with values from `gen`.
 */
export function makeView(
  be: Backend, shape: Shape, dtype: DType, seed: number, gen: (r: Rng) => number,
  opts: { broadcast?: boolean; contiguous?: boolean } = {},
): Layout {
  const r = new Rng(seed);
  const rank = shape.length;
  const plain = opts.contiguous === true || r.uniform() < 0.25;
  const order = r.shuffle([...Array(rank).keys()]);
  const strides = new Array<number>(rank).fill(0);
  let s = plain ? 1 : 1 + r.int(2);
  const axes = plain ? [...Array(rank).keys()].reverse() : order;
  for (const ax of axes) {
    const bcast = !plain && opts.broadcast !== false && r.uniform() < 0.25;
    const step = plain ? 1 : 1 + r.int(2);
    strides[ax] = bcast ? 0 : s * step;
    if (!bcast) s *= Math.max(1, shape[ax]) * step;
  }
  const offset = plain ? 0 : r.int(4);
  let span = 1;
  for (let ax = 0; ax < rank; ax++) span += Math.max(0, shape[ax] - 1) * strides[ax];
  const host = allocTyped(dtype, offset + span + r.int(3));
  for (let i = 0; i < host.length; i++) host[i] = gen(r);
  return { view: { buffer: be.upload(host), shape, strides, offset }, host };
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

export const normal = (r: Rng): number => r.normal();
export const smallInt = (r: Rng): number => r.int(5) - 2;
