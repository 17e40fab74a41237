/**
 * The CPU reference backend: plain TypeScript loops over typed arrays.
 *
 * Every op accepts arbitrary strided views. Operands are first coalesced (size-1 axes dropped,
 * mutually contiguous axes merged, see strided.ts), so a contiguous view becomes a single row
 * walked with step 1 (the fast path) and anything else is a grid of rows walked by an odometer
 * once per row. Each op switches on its name once per row, never per element. Arithmetic is done
 * in JS doubles and rounded once when stored into the output's typed array.
 */
import type { Backend, BackendBuffer, BinaryOp, ReduceOp, UnaryOp, View } from '../backend.js';
import { allocTyped, dtypeOfTyped, type DType, type TypedArray } from '../dtype.js';
import { contiguousStrides, fmtShape, sizeOf, type Shape } from '../shape.js';
import { MatmulWorkspace, matmulFloat, matmulInt32, type MatrixOperand } from './matmul.js';
import { coalesce, reducedStrides, RowWalker } from './strided.js';

/** A CPU buffer: a typed array plus a disposed flag. */
export class CpuBuffer implements BackendBuffer {
  readonly backend = 'cpu';
  readonly dtype: DType;
  readonly size: number;
  private store: TypedArray | null;

  constructor(data: TypedArray) {
    this.store = data;
    this.dtype = dtypeOfTyped(data);
    this.size = data.length;
  }

  get disposed(): boolean {
    return this.store === null;
  }

  /** The storage; throws naming `op` if the buffer was disposed. */
  dataFor(op: string): TypedArray {
    if (this.store === null) throw new Error(`cpu.${op}: buffer (${this.dtype}, ${this.size} elements) was already disposed`);
    return this.store;
  }

  /** Releases the storage; returns false if it was already released. */
  release(): boolean {
    if (this.store === null) return false;
    this.store = null;
    return true;
  }
}

const INT32_MAX = 2147483647;
const INT32_MIN = -2147483648;

/**
 * The reference backend (name `cpu`).
 *
 * `liveBuffers()` counts buffers created and not yet disposed. A buffer that is garbage-collected
 * without `dispose` still counts: the CPU backend does not track GC (memory is reclaimed anyway).
 */
export class CpuBackend implements Backend {
  readonly name = 'cpu';
  readonly hostMemory = true;
  private live = 0;
  private readonly matmulWorkspace = new MatmulWorkspace();

  // ---------------------------------------------------------------- memory

  allocate(size: number, dtype: DType): BackendBuffer {
    return this.wrap(allocTyped(dtype, size));
  }

  upload(data: TypedArray): BackendBuffer {
    return this.wrap(data.slice());
  }

  read(view: View): TypedArray {
    return this.materialize('read', view);
  }

  dispose(buffer: BackendBuffer): void {
    if (this.asCpu('dispose', buffer).release()) this.live--;
  }

  liveBuffers(): number {
    return this.live;
  }

  // ---------------------------------------------------------------- elementwise

  copy(x: View): BackendBuffer {
    return this.wrap(this.materialize('copy', x));
  }

  fill(size: number, value: number, dtype: DType): BackendBuffer {
    const out = allocTyped(dtype, size);
    out.fill(dtype === 'int32' ? clampInt32(value) : value);
    return this.wrap(out);
  }

  cast(x: View, dtype: DType): BackendBuffer {
    const src = this.data('cast', x);
    const out = allocTyped(dtype, sizeOf(x.shape));
    const toInt = dtype === 'int32';
    this.forEachRow([x], out, (pos, step, len, o) => {
      let p = pos[0];
      const s = step[0];
      if (toInt) {
        // Int32Array stores truncate toward zero (NaN -> 0); clamp first so large values saturate.
        for (let j = 0; j < len; j++, p += s) {
          const v = src[p];
          out[o + j] = v >= INT32_MAX ? INT32_MAX : v <= INT32_MIN ? INT32_MIN : v;
        }
      } else {
        for (let j = 0; j < len; j++, p += s) out[o + j] = src[p];
      }
    });
    return this.wrap(out);
  }

  unary(op: UnaryOp, x: View): BackendBuffer {
    const src = this.data(op, x);
    const out = allocTyped(x.buffer.dtype, sizeOf(x.shape));
    this.forEachRow([x], out, (pos, step, len, o) => unaryRow(op, src, pos[0], step[0], out, o, len));
    return this.wrap(out);
  }

  binary(op: BinaryOp, a: View, b: View): BackendBuffer {
    const da = this.data(op, a);
    const db = this.data(op, b);
    const out = allocTyped(a.buffer.dtype, sizeOf(a.shape));
    const int = out instanceof Int32Array;
    this.forEachRow([a, b], out, (pos, step, len, o) =>
      binaryRow(op, int, da, pos[0], step[0], db, pos[1], step[1], out, o, len),
    );
    return this.wrap(out);
  }

  where(cond: View, a: View, b: View): BackendBuffer {
    const dc = this.data('where', cond);
    const da = this.data('where', a);
    const db = this.data('where', b);
    const out = allocTyped(a.buffer.dtype, sizeOf(a.shape));
    this.forEachRow([cond, a, b], out, (pos, step, len, o) => {
      let pc = pos[0], pa = pos[1], pb = pos[2];
      const sc = step[0], sa = step[1], sb = step[2];
      for (let j = 0; j < len; j++, pc += sc, pa += sa, pb += sb) out[o + j] = dc[pc] !== 0 ? da[pa] : db[pb];
    });
    return this.wrap(out);
  }

  // ---------------------------------------------------------------- reductions

  reduce(op: ReduceOp, x: View, axes: readonly number[]): BackendBuffer {
    const src = this.data(op, x);
    const outShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const outSize = sizeOf(outShape);
    if (op === 'argmax' || op === 'argmin') return this.wrap(argReduce(op, src, x, axes[0], outSize));
    const out = allocTyped(x.buffer.dtype, outSize);
    const reducedLength = axes.reduce((n, a) => n * x.shape[a], 1);
    if (reducedLength === 0) {
      if (op !== 'sum') throw new RangeError(`cpu.reduce: ${op} of an empty axis (shape ${fmtShape(x.shape)}, axes [${axes.join(', ')}])`);
      return this.wrap(out); // sum of nothing is 0
    }
    // Walk the input in its own order, accumulating in float64 into the output position; the
    // output's strides are 0 on reduced axes. A row whose output step is 0 (reducing the last
    // axis) folds into a local variable.
    const acc = new Float64Array(outSize).fill(op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity);
    const { shape, strides } = coalesce(x.shape, [x.strides, reducedStrides(x.shape, axes)]);
    const w = new RowWalker(shape, strides, [x.offset, 0]);
    for (let r = 0; r < w.rows; r++, w.next()) reduceRow(op, src, w.pos[0], w.step[0], acc, w.pos[1], w.step[1], w.len);
    for (let i = 0; i < outSize; i++) out[i] = acc[i];
    return this.wrap(out);
  }

  // ---------------------------------------------------------------- matmul

  matmul(a: View, b: View): BackendBuffer {
    const da = this.data('matmul', a);
    const db = this.data('matmul', b);
    const rank = a.shape.length;
    const m = a.shape[rank - 2];
    const k = a.shape[rank - 1];
    const n = b.shape[rank - 1];
    const batchShape = a.shape.slice(0, rank - 2);
    const batch = sizeOf(batchShape);
    const out = allocTyped(a.buffer.dtype, batch * m * n);
    if (batch === 0 || m === 0 || n === 0) return this.wrap(out);
    const walker = new RowWalker(
      [...batchShape, 1],
      [[...a.strides.slice(0, rank - 2), 0], [...b.strides.slice(0, rank - 2), 0]],
      [a.offset, b.offset],
    );
    for (let i = 0; i < batch; i++, walker.next()) {
      const am: MatrixOperand = { data: da, offset: walker.pos[0], rowStride: a.strides[rank - 2], colStride: a.strides[rank - 1] };
      const bm: MatrixOperand = { data: db, offset: walker.pos[1], rowStride: b.strides[rank - 2], colStride: b.strides[rank - 1] };
      if (out instanceof Int32Array) matmulInt32(am, bm, m, n, k, out, i * m * n);
      else matmulFloat(am, bm, m, n, k, out, i * m * n, this.matmulWorkspace);
    }
    return this.wrap(out);
  }

  // ---------------------------------------------------------------- indexing

  gather(x: View, indices: View, axis: number): BackendBuffer {
    const src = this.data('gather', x);
    const idx = this.materialize('gather', indices);
    const axisSize = x.shape[axis];
    checkIndices('gather', idx, axisSize, axis);
    const outer = sizeOf(x.shape.slice(0, axis));
    const inner = sizeOf(x.shape.slice(axis + 1));
    const nIdx = idx.length;
    const out = allocTyped(x.buffer.dtype, outer * nIdx * inner);
    if (out.length === 0) return this.wrap(out);
    const xs = x.strides;
    // The slice x[o, i, ...] (the axes after `axis`) as a view, walked row by row.
    const sliceShape = x.shape.slice(axis + 1);
    const sliceStrides = xs.slice(axis + 1);
    const sliceContiguous = coalesce(sliceShape, [sliceStrides]);
    const fastRow = sliceContiguous.shape.length === 1 && (sliceContiguous.strides[0][0] === 1 || inner === 1);
    const outerWalk = new RowWalker([...x.shape.slice(0, axis), 1], [[...xs.slice(0, axis), 0]], [x.offset]);
    // After a full cycle the odometer is back at its start, so one walker serves every slice.
    const sliceWalk = new RowWalker(sliceContiguous.shape, sliceContiguous.strides, [0]);
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
    return this.wrap(out);
  }

  scatterAdd(src: View, indices: View, axis: number, axisSize: number): BackendBuffer {
    const data = this.materialize('scatterAdd', src);
    const idx = this.materialize('scatterAdd', indices);
    checkIndices('scatterAdd', idx, axisSize, axis);
    const outer = sizeOf(src.shape.slice(0, axis));
    const inner = sizeOf(src.shape.slice(axis + indices.shape.length));
    const nIdx = idx.length;
    const size = outer * axisSize * inner;
    const int = src.buffer.dtype === 'int32';
    // Accumulate floats in float64 and round once; ints wrap like int32.
    const acc: Float64Array | Int32Array = int ? new Int32Array(size) : new Float64Array(size);
    let s = 0;
    for (let r = 0; r < outer; r++) {
      for (let t = 0; t < nIdx; t++) {
        const o = (r * axisSize + idx[t]) * inner;
        if (int) for (let j = 0; j < inner; j++) acc[o + j] = (acc[o + j] + data[s + j]) | 0;
        else for (let j = 0; j < inner; j++) acc[o + j] += data[s + j];
        s += inner;
      }
    }
    if (int) return this.wrap(acc);
    const out = allocTyped(src.buffer.dtype, size);
    out.set(acc);
    return this.wrap(out);
  }

  concat(xs: readonly View[], axis: number): BackendBuffer {
    const first = xs[0];
    const total = xs.reduce((n, v) => n + v.shape[axis], 0);
    const outShape = first.shape.map((d, i) => (i === axis ? total : d));
    const out = allocTyped(first.buffer.dtype, sizeOf(outShape));
    const outStrides = contiguousStrides(outShape);
    let start = 0;
    for (const x of xs) {
      const src = this.data('concat', x);
      copyInto(src, x, out, outStrides, start * (outStrides[axis] ?? 0));
      start += x.shape[axis];
    }
    return this.wrap(out);
  }

  unslice(x: View, outShape: Shape, starts: readonly number[], steps: readonly number[]): BackendBuffer {
    const src = this.data('unslice', x);
    const out = allocTyped(x.buffer.dtype, sizeOf(outShape));
    const base = contiguousStrides(outShape);
    let offset = 0;
    for (let i = 0; i < outShape.length; i++) offset += starts[i] * base[i];
    copyInto(src, x, out, base.map((s, i) => s * steps[i]), offset);
    return this.wrap(out);
  }

  // ---------------------------------------------------------------- helpers

  private wrap(data: TypedArray): CpuBuffer {
    this.live++;
    return new CpuBuffer(data);
  }

  private asCpu(op: string, buffer: BackendBuffer): CpuBuffer {
    if (!(buffer instanceof CpuBuffer)) throw new Error(`cpu.${op}: buffer belongs to backend '${buffer.backend}', not 'cpu'`);
    return buffer;
  }

  private data(op: string, view: View): TypedArray {
    return this.asCpu(op, view.buffer).dataFor(op);
  }

  /** A fresh contiguous typed array holding the view's elements in row-major order. */
  private materialize(op: string, view: View): TypedArray {
    const src = this.data(op, view);
    const n = sizeOf(view.shape);
    const out = allocTyped(view.buffer.dtype, n);
    copyInto(src, view, out, contiguousStrides(view.shape), 0);
    return out;
  }

  /**
   * Walks views of a common shape in row-major order, handing each row to `row` with the row's
   * start offset and step per operand and the output offset (the output is contiguous). Called
   * once per row, so the closure costs nothing per element.
   */
  private forEachRow(
    views: readonly View[], out: TypedArray,
    row: (pos: readonly number[], step: readonly number[], len: number, outOffset: number) => void,
  ): void {
    if (out.length === 0) return;
    const { shape, strides } = coalesce(views[0].shape, views.map((v) => v.strides));
    const w = new RowWalker(shape, strides, views.map((v) => v.offset));
    let o = 0;
    for (let r = 0; r < w.rows; r++, w.next()) {
      row(w.pos, w.step, w.len, o);
      o += w.len;
    }
  }
}

// ------------------------------------------------------------------ row kernels

/** Copies a strided view into `out` at outOffset with the given output strides. */
function copyInto(src: TypedArray, x: View, out: TypedArray, outStrides: readonly number[], outOffset: number): void {
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

function unaryRow(op: UnaryOp, x: TypedArray, p: number, s: number, out: TypedArray, o: number, len: number): void {
  const end = o + len;
  switch (op) {
    case 'neg':
      if (out instanceof Int32Array) for (; o < end; o++, p += s) out[o] = -x[p] | 0;
      else for (; o < end; o++, p += s) out[o] = -x[p];
      return;
    case 'exp':
      for (; o < end; o++, p += s) out[o] = Math.exp(x[p]);
      return;
    case 'log':
      for (; o < end; o++, p += s) out[o] = Math.log(x[p]);
      return;
    case 'sqrt':
      for (; o < end; o++, p += s) out[o] = Math.sqrt(x[p]);
      return;
    case 'reciprocal':
      for (; o < end; o++, p += s) out[o] = 1 / x[p];
      return;
    case 'sin':
      for (; o < end; o++, p += s) out[o] = Math.sin(x[p]);
      return;
    case 'cos':
      for (; o < end; o++, p += s) out[o] = Math.cos(x[p]);
      return;
    case 'tanh':
      for (; o < end; o++, p += s) out[o] = Math.tanh(x[p]);
      return;
    case 'sigmoid':
      // Stable on both sides: exp only ever sees a non-positive argument.
      for (; o < end; o++, p += s) {
        const v = x[p];
        if (v >= 0) {
          out[o] = 1 / (1 + Math.exp(-v));
        } else {
          const e = Math.exp(v);
          out[o] = e / (1 + e);
        }
      }
      return;
    case 'abs':
      if (out instanceof Int32Array) for (; o < end; o++, p += s) out[o] = Math.abs(x[p]) | 0;
      else for (; o < end; o++, p += s) out[o] = Math.abs(x[p]);
      return;
    case 'sign':
      for (; o < end; o++, p += s) out[o] = Math.sign(x[p]);
      return;
  }
}

function binaryRow(
  op: BinaryOp, int: boolean,
  a: TypedArray, pa: number, sa: number, b: TypedArray, pb: number, sb: number,
  out: TypedArray, o: number, len: number,
): void {
  const end = o + len;
  switch (op) {
    case 'add':
      if (int) for (; o < end; o++, pa += sa, pb += sb) out[o] = (a[pa] + b[pb]) | 0;
      else for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] + b[pb];
      return;
    case 'sub':
      if (int) for (; o < end; o++, pa += sa, pb += sb) out[o] = (a[pa] - b[pb]) | 0;
      else for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] - b[pb];
      return;
    case 'mul':
      if (int) for (; o < end; o++, pa += sa, pb += sb) out[o] = Math.imul(a[pa], b[pb]);
      else for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] * b[pb];
      return;
    case 'div':
      // int32: truncate toward zero; division by zero stores 0 (Int32Array turns ±Infinity/NaN into 0).
      if (int) for (; o < end; o++, pa += sa, pb += sb) out[o] = Math.trunc(a[pa] / b[pb]);
      else for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] / b[pb];
      return;
    case 'pow':
      for (; o < end; o++, pa += sa, pb += sb) out[o] = Math.pow(a[pa], b[pb]);
      return;
    case 'maximum':
      for (; o < end; o++, pa += sa, pb += sb) out[o] = Math.max(a[pa], b[pb]);
      return;
    case 'minimum':
      for (; o < end; o++, pa += sa, pb += sb) out[o] = Math.min(a[pa], b[pb]);
      return;
    case 'eq':
      for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] === b[pb] ? 1 : 0;
      return;
    case 'ne':
      for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] !== b[pb] ? 1 : 0;
      return;
    case 'lt':
      for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] < b[pb] ? 1 : 0;
      return;
    case 'le':
      for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] <= b[pb] ? 1 : 0;
      return;
    case 'gt':
      for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] > b[pb] ? 1 : 0;
      return;
    case 'ge':
      for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] >= b[pb] ? 1 : 0;
      return;
  }
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
function argReduce(op: 'argmax' | 'argmin', src: TypedArray, x: View, axis: number, outSize: number): Int32Array {
  const out = new Int32Array(outSize);
  const n = x.shape[axis];
  if (outSize === 0) return out;
  if (n === 0) throw new RangeError(`cpu.reduce: ${op} of an empty axis ${axis} (shape ${fmtShape(x.shape)})`);
  // Walk the kept axes (axis moved last with length 1), then scan the axis from each start.
  const keptShape = x.shape.map((d, i) => (i === axis ? 1 : d));
  const { shape, strides } = coalesce(keptShape, [x.strides]);
  const w = new RowWalker(shape, strides, [x.offset]);
  const stride = x.strides[axis];
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

function checkIndices(op: string, idx: TypedArray, axisSize: number, axis: number): void {
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i];
    if (!(v >= 0 && v < axisSize) || !Number.isInteger(v)) {
      throw new RangeError(`cpu.${op}: index ${v} at position ${i} is out of range for axis ${axis} of size ${axisSize}`);
    }
  }
}

function clampInt32(v: number): number {
  return v >= INT32_MAX ? INT32_MAX : v <= INT32_MIN ? INT32_MIN : Math.trunc(v) || 0;
}
