/**
 * `NDArray`: an n-dimensional array over a backend buffer, with shape, strides and offset.
 *
 * This is the non-differentiable layer. It owns three jobs:
 * 1. views (reshape, permute, expand, slice) that share storage and cost nothing;
 * 2. validation of every op's shapes, axes and dtypes, with errors that name the op;
 * 3. NumPy broadcasting, applied as stride-0 views before a backend sees the inputs.
 * The arithmetic itself happens in the backend (`src/tensor/backend.ts`).
 */
import type { Backend, BackendBuffer, BinaryOp, ReduceOp, UnaryOp, View } from './backend.js';
import { COMPARE_OPS } from './backend.js';
import { UNARY } from './ops/index.js';
import { getBackend } from './device.js';
import { allocTyped, assertDType, dtypeOfTyped, isFloat, type DType, type TypedArray } from './dtype.js';
import {
  broadcastShapes,
  checkShape,
  contiguousStrides,
  fmtShape,
  isContiguous,
  normAxes,
  normAxis,
  shapesEqual,
  sizeOf,
  type Shape,
} from './shape.js';

/**
 * A reference-counted buffer shared by an array and all its views. The buffer is released when the
 * last array referring to it is disposed (or garbage-collected: see the registry below).
 */
class Storage {
  refs = 0;
  constructor(
    readonly backend: Backend,
    readonly buffer: BackendBuffer,
  ) {}

  retain(): void {
    this.refs++;
  }

  release(): void {
    this.refs--;
    if (this.refs === 0) this.backend.dispose(this.buffer);
  }
}

/**
 * Backstop for arrays that are dropped without `dispose()`: when the garbage collector reclaims an
 * NDArray, its reference to the storage is released. CPU memory would be reclaimed anyway; for
 * device buffers this is what keeps a forgotten `dispose()` from leaking forever.
 */
const finalizer = new FinalizationRegistry<Storage>((storage) => storage.release());

/** Called with every NDArray as it is created; installed by memory scopes (`memory.ts`). */
let creationHook: ((array: NDArray) => void) | null = null;

/** Installs the NDArray creation hook (null removes it); returns the previous hook. */
export function setCreationHook(hook: ((array: NDArray) => void) | null): ((array: NDArray) => void) | null {
  const previous = creationHook;
  creationHook = hook;
  return previous;
}

export type ArrayData = TypedArray | readonly number[];

/** A nested JavaScript array of numbers, as accepted by {@link NDArray.from}. */
export type NestedNumbers = number | readonly NestedNumbers[];

/** One axis of a slice: [start, stop, step] with Python semantics (negative = from the end). */
export interface SliceSpec {
  start?: number;
  stop?: number;
  step?: number;
}

export class NDArray {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  private readonly storage: Storage;
  private disposed = false;

  private constructor(storage: Storage, shape: Shape, strides: readonly number[], offset: number) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze([...strides]);
    this.offset = offset;
    this.dtype = storage.buffer.dtype;
    storage.retain();
    if (storage.backend.hostMemory !== true) finalizer.register(this, storage, this);
    if (creationHook !== null) creationHook(this);
  }

  // ---------------------------------------------------------------- creation

  /** Wraps a fresh contiguous buffer (the result of a backend op) as an array of `shape`. */
  static fromBuffer(backend: Backend, buffer: BackendBuffer, shape: Shape): NDArray {
    if (buffer.size !== sizeOf(shape)) {
      throw new Error(`NDArray.fromBuffer: buffer of ${buffer.size} elements cannot have shape ${fmtShape(shape)}`);
    }
    return new NDArray(new Storage(backend, buffer), shape, contiguousStrides(shape), 0);
  }

  /**
   * An array from flat data and a shape (default: 1-D). A typed array keeps its dtype unless
   * `dtype` is given; a plain number array defaults to float32.
   */
  static fromData(data: ArrayData, shape?: Shape, dtype?: DType, backend: Backend = getBackend()): NDArray {
    const s = shape ?? [data.length];
    checkShape('NDArray.fromData', s);
    if (sizeOf(s) !== data.length) {
      throw new RangeError(`NDArray.fromData: ${data.length} values cannot fill shape ${fmtShape(s)} (${sizeOf(s)} elements)`);
    }
    const target: DType = dtype !== undefined ? assertDType('NDArray.fromData', dtype) : Array.isArray(data) ? 'float32' : dtypeOfTyped(data as TypedArray);
    let typed: TypedArray;
    if (!Array.isArray(data) && dtypeOfTyped(data as TypedArray) === target) typed = data as TypedArray;
    else {
      typed = allocTyped(target, data.length);
      for (let i = 0; i < data.length; i++) typed[i] = data[i];
    }
    return NDArray.fromBuffer(backend, backend.upload(typed), s);
  }

  /** An array from a nested JavaScript array; ragged input is refused. */
  static from(values: NestedNumbers, dtype: DType = 'float32', backend: Backend = getBackend()): NDArray {
    const shape: number[] = [];
    let probe: NestedNumbers = values;
    while (Array.isArray(probe)) {
      shape.push(probe.length);
      probe = (probe as readonly NestedNumbers[])[0] ?? 0;
    }
    const flat: number[] = [];
    const walk = (v: NestedNumbers, depth: number): void => {
      if (depth === shape.length) {
        if (typeof v !== 'number') throw new TypeError(`NDArray.from: ragged nested array (expected a number at depth ${depth})`);
        flat.push(v);
        return;
      }
      if (!Array.isArray(v) || v.length !== shape[depth]) {
        throw new TypeError(`NDArray.from: ragged nested array at depth ${depth} (expected length ${shape[depth]})`);
      }
      for (const item of v as readonly NestedNumbers[]) walk(item, depth + 1);
    };
    walk(values, 0);
    return NDArray.fromData(flat, shape, dtype, backend);
  }

  static full(shape: Shape, value: number, dtype: DType = 'float32', backend: Backend = getBackend()): NDArray {
    checkShape('NDArray.full', shape);
    assertDType('NDArray.full', dtype); // backends trust the dtype; JavaScript callers can pass any string
    return NDArray.fromBuffer(backend, backend.run('fill', [], { size: sizeOf(shape), value, dtype }), shape);
  }

  static zeros(shape: Shape, dtype: DType = 'float32', backend: Backend = getBackend()): NDArray {
    checkShape('NDArray.zeros', shape);
    assertDType('NDArray.zeros', dtype); // backends trust the dtype; JavaScript callers can pass any string
    return NDArray.fromBuffer(backend, backend.allocate(sizeOf(shape), dtype), shape);
  }

  static ones(shape: Shape, dtype: DType = 'float32', backend: Backend = getBackend()): NDArray {
    return NDArray.full(shape, 1, dtype, backend);
  }

  static scalar(value: number, dtype: DType = 'float32', backend: Backend = getBackend()): NDArray {
    return NDArray.full([], value, dtype, backend);
  }

  /** [0, 1, ..., n-1]. */
  static arange(n: number, dtype: DType = 'int32', backend: Backend = getBackend()): NDArray {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`NDArray.arange: n must be a non-negative integer, got ${n}`);
    const data = allocTyped(dtype, n);
    for (let i = 0; i < n; i++) data[i] = i;
    return NDArray.fromBuffer(backend, backend.upload(data), [n]);
  }

  // ---------------------------------------------------------------- basics

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get backend(): Backend {
    return this.storage.backend;
  }

  get isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /** The view that backends consume. */
  get view(): View {
    this.assertAlive('view');
    return { buffer: this.storage.buffer, shape: this.shape, strides: this.strides, offset: this.offset };
  }

  /** True when both arrays are windows onto the same storage. */
  sharesStorageWith(other: NDArray): boolean {
    return this.storage === other.storage;
  }

  /** Reads the values back to the host, contiguous, row-major. */
  toTypedArray(): TypedArray {
    this.assertAlive('toTypedArray');
    return this.backend.read(this.view);
  }

  /**
   * The array's elements in place, row-major, without a copy: a window onto its storage, or null where
   * there is none (a device backend, or a view that is not contiguous). Writes change this array and
   * every other view of its storage; the optimiser's in-place update is the one writer.
   */
  hostElements(): TypedArray | null {
    this.assertAlive('hostElements');
    if (this.backend.hostStorage === undefined || !this.isContiguous) return null;
    return this.backend.hostStorage(this.storage.buffer).subarray(this.offset, this.offset + this.size);
  }

  /** The values as a nested JavaScript array (for printing and tests). */
  toNested(): NestedNumbers {
    const flat = this.toTypedArray();
    const build = (axis: number, start: number): NestedNumbers => {
      if (axis === this.rank) return flat[start];
      const step = sizeOf(this.shape.slice(axis + 1));
      return Array.from({ length: this.shape[axis] }, (_, i) => build(axis + 1, start + i * step));
    };
    return build(0, 0);
  }

  /** The single value of a one-element array. */
  item(): number {
    if (this.size !== 1) throw new RangeError(`item: array of shape ${fmtShape(this.shape)} has ${this.size} elements, not 1`);
    return this.toTypedArray()[0];
  }

  /** Releases this array's hold on its storage (device memory is freed with the last view). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    finalizer.unregister(this);
    this.storage.release();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  toString(): string {
    return `NDArray(${this.dtype}, ${fmtShape(this.shape)})`;
  }

  private assertAlive(op: string): void {
    if (this.disposed) throw new Error(`${op}: array ${fmtShape(this.shape)} (${this.dtype}) was disposed`);
  }

  private derive(shape: Shape, strides: readonly number[], offset: number): NDArray {
    this.assertAlive('view');
    return new NDArray(this.storage, shape, strides, offset);
  }

  private result(buffer: BackendBuffer, shape: Shape): NDArray {
    return NDArray.fromBuffer(this.backend, buffer, shape);
  }

  // ---------------------------------------------------------------- views

  /**
   * A new shape with the same elements in row-major order. One axis may be -1. Returns a view when
   * the strides allow it (always for contiguous arrays) and copies only otherwise.
   */
  reshape(shape: Shape): NDArray {
    const target = resolveReshape(this.shape, shape);
    const strides = viewStridesForReshape(this.shape, this.strides, target);
    if (strides !== null) return this.derive(target, strides, this.offset);
    return this.contiguous().reshape(target);
  }

  /** Reorders axes: result axis i is input axis `axes[i]`. */
  permute(axes: readonly number[]): NDArray {
    if (axes.length !== this.rank) {
      throw new RangeError(`permute: ${axes.length} axes given for shape ${fmtShape(this.shape)}`);
    }
    const norm = axes.map((a) => normAxis('permute', a, this.rank, this.shape));
    if (new Set(norm).size !== norm.length) throw new RangeError(`permute: axes [${axes.join(', ')}] repeat an axis`);
    return this.derive(
      norm.map((a) => this.shape[a]),
      norm.map((a) => this.strides[a]),
      this.offset,
    );
  }

  /** Swaps two axes (default: the last two). */
  transpose(a = -2, b = -1): NDArray {
    if (this.rank < 2 && a === -2 && b === -1) return this;
    const i = normAxis('transpose', a, this.rank, this.shape);
    const j = normAxis('transpose', b, this.rank, this.shape);
    const axes = this.shape.map((_, k) => k);
    axes[i] = j;
    axes[j] = i;
    return this.permute(axes);
  }

  /** Expands size-1 axes to `shape` (same rank) without copying: stride 0 on expanded axes. */
  expand(shape: Shape): NDArray {
    if (shape.length !== this.rank) {
      throw new RangeError(`expand: cannot expand shape ${fmtShape(this.shape)} to ${fmtShape(shape)} (ranks differ; use broadcastTo)`);
    }
    const strides = this.strides.slice();
    for (let i = 0; i < shape.length; i++) {
      if (this.shape[i] === shape[i]) continue;
      if (this.shape[i] !== 1) throw new RangeError(`expand: cannot expand shape ${fmtShape(this.shape)} to ${fmtShape(shape)} (axis ${i})`);
      strides[i] = 0;
    }
    return this.derive(shape, strides, this.offset);
  }

  /** NumPy broadcasting to `shape`: prepend size-1 axes, then expand. */
  broadcastTo(shape: Shape): NDArray {
    if (shapesEqual(this.shape, shape)) return this;
    if (shape.length < this.rank) {
      throw new RangeError(`broadcastTo: cannot broadcast shape ${fmtShape(this.shape)} to ${fmtShape(shape)}`);
    }
    broadcastShapes('broadcastTo', this.shape, shape);
    const lead = shape.length - this.rank;
    const padded = lead === 0 ? this : this.reshape([...new Array<number>(lead).fill(1), ...this.shape]);
    return shapesEqual(padded.shape, shape) ? padded : padded.expand(shape);
  }

  /** Slices every axis at once; missing trailing specs take the whole axis. Steps must be positive. */
  slice(specs: readonly (SliceSpec | null | undefined)[]): NDArray {
    if (specs.length > this.rank) throw new RangeError(`slice: ${specs.length} slice specs for shape ${fmtShape(this.shape)}`);
    const shape: number[] = [];
    const strides: number[] = [];
    let offset = this.offset;
    for (let i = 0; i < this.rank; i++) {
      const { start, step, length } = resolveSlice('slice', specs[i] ?? {}, this.shape[i], i);
      offset += start * this.strides[i];
      shape.push(length);
      strides.push(this.strides[i] * step);
    }
    return this.derive(shape, strides, length0(shape) ? this.offset : offset);
  }

  /** Slices one axis: `x.sliceAxis(1, 2, 5)` is `x[:, 2:5]`. */
  sliceAxis(axis: number, start?: number, stop?: number, step?: number): NDArray {
    const a = normAxis('sliceAxis', axis, this.rank, this.shape);
    const specs: SliceSpec[] = this.shape.map(() => ({}));
    specs[a] = { start, stop, step };
    return this.slice(specs);
  }

  /** Removes size-1 axes (all of them, or those listed). */
  squeeze(axes?: number | readonly number[]): NDArray {
    const list = axes === undefined ? this.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : normAxes('squeeze', axes, this.shape);
    for (const a of list) {
      if (this.shape[a] !== 1) throw new RangeError(`squeeze: axis ${a} of shape ${fmtShape(this.shape)} has size ${this.shape[a]}, not 1`);
    }
    return this.reshape(this.shape.filter((_, i) => !list.includes(i)));
  }

  /** Inserts a size-1 axis at `axis` (negative counts from the end of the result). */
  unsqueeze(axis: number): NDArray {
    const a = normAxis('unsqueeze', axis, this.rank + 1);
    const shape = [...this.shape];
    shape.splice(a, 0, 1);
    return this.reshape(shape);
  }

  /** A contiguous array with the same values (this array itself if already contiguous). */
  contiguous(): NDArray {
    if (this.isContiguous && this.offset === 0 && this.storage.buffer.size === this.size) return this;
    return this.result(this.backend.run('copy', [this.view], {}), this.shape);
  }

  /** Always a fresh contiguous copy. */
  clone(): NDArray {
    return this.result(this.backend.run('copy', [this.view], {}), this.shape);
  }

  // ---------------------------------------------------------------- elementwise

  unary(op: UnaryOp): NDArray {
    if (!isFloat(this.dtype) && UNARY[op].int !== true) {
      throw new TypeError(`${op}: needs a float array, got ${this.dtype} ${fmtShape(this.shape)} (cast first)`);
    }
    return this.result(this.backend.run(op, [this.view], {}), this.shape);
  }

  /** A binary op with NumPy broadcasting. Numbers are taken as scalars of this array's dtype. */
  binary(op: BinaryOp, other: NDArray | number): NDArray {
    const b = typeof other === 'number' ? NDArray.scalar(other, this.dtype, this.backend) : other;
    checkSameBackend(op, this, b);
    if (this.dtype !== b.dtype) {
      throw new TypeError(`${op}: dtypes differ (${this.dtype} ${fmtShape(this.shape)} vs ${b.dtype} ${fmtShape(b.shape)}); cast one explicitly`);
    }
    const shape = broadcastShapes(op, this.shape, b.shape);
    const x = this.broadcastTo(shape);
    const y = b.broadcastTo(shape);
    return this.result(this.backend.run(op, [x.view, y.view], {}), shape);
  }

  add(o: NDArray | number): NDArray { return this.binary('add', o); }
  sub(o: NDArray | number): NDArray { return this.binary('sub', o); }
  mul(o: NDArray | number): NDArray { return this.binary('mul', o); }
  div(o: NDArray | number): NDArray { return this.binary('div', o); }
  pow(o: NDArray | number): NDArray { return this.binary('pow', o); }
  maximum(o: NDArray | number): NDArray { return this.binary('maximum', o); }
  minimum(o: NDArray | number): NDArray { return this.binary('minimum', o); }
  eq(o: NDArray | number): NDArray { return this.binary('eq', o); }
  ne(o: NDArray | number): NDArray { return this.binary('ne', o); }
  lt(o: NDArray | number): NDArray { return this.binary('lt', o); }
  le(o: NDArray | number): NDArray { return this.binary('le', o); }
  gt(o: NDArray | number): NDArray { return this.binary('gt', o); }
  ge(o: NDArray | number): NDArray { return this.binary('ge', o); }
  neg(): NDArray { return this.unary('neg'); }
  exp(): NDArray { return this.unary('exp'); }
  log(): NDArray { return this.unary('log'); }
  sqrt(): NDArray { return this.unary('sqrt'); }
  reciprocal(): NDArray { return this.unary('reciprocal'); }
  sin(): NDArray { return this.unary('sin'); }
  cos(): NDArray { return this.unary('cos'); }
  tanh(): NDArray { return this.unary('tanh'); }
  sigmoid(): NDArray { return this.unary('sigmoid'); }
  abs(): NDArray { return this.unary('abs'); }
  sign(): NDArray { return this.unary('sign'); }

  /** `cond != 0 ? a : b`, broadcasting all three. */
  static where(cond: NDArray, a: NDArray | number, b: NDArray | number): NDArray {
    const dtype = a instanceof NDArray ? a.dtype : b instanceof NDArray ? b.dtype : 'float32';
    const x = a instanceof NDArray ? a : NDArray.scalar(a, dtype, cond.backend);
    const y = b instanceof NDArray ? b : NDArray.scalar(b, dtype, cond.backend);
    checkSameBackend('where', cond, x);
    checkSameBackend('where', cond, y);
    if (x.dtype !== y.dtype) throw new TypeError(`where: branch dtypes differ (${x.dtype} vs ${y.dtype})`);
    const shape = broadcastShapes('where', cond.shape, x.shape, y.shape);
    const buf = cond.backend.run('where', [cond.broadcastTo(shape).view, x.broadcastTo(shape).view, y.broadcastTo(shape).view], {});
    return NDArray.fromBuffer(cond.backend, buf, shape);
  }

  cast(dtype: DType): NDArray {
    assertDType('cast', dtype);
    if (dtype === this.dtype) return this;
    return this.result(this.backend.run('cast', [this.view], { dtype }), this.shape);
  }

  // ---------------------------------------------------------------- reductions

  /** Reduces `axes` (default: all). `keepdims` keeps them as size 1. */
  reduce(op: ReduceOp, axes?: number | readonly number[], keepdims = false): NDArray {
    const list = normAxes(op, axes, this.shape);
    if ((op === 'argmax' || op === 'argmin') && list.length !== 1) {
      throw new RangeError(`${op}: needs exactly one axis, got [${list.join(', ')}] for shape ${fmtShape(this.shape)}`);
    }
    if (op !== 'sum' && list.some((a) => this.shape[a] === 0)) {
      throw new RangeError(`${op}: cannot reduce an empty axis of shape ${fmtShape(this.shape)}`);
    }
    const kept = this.shape.map((d, i) => (list.includes(i) ? 1 : d));
    let out: NDArray;
    if (list.length === 0) out = op === 'argmax' || op === 'argmin' ? this.cast('int32') : this.clone();
    else out = this.result(this.backend.run('reduce', [this.view], { op, axes: list }), kept);
    return keepdims ? out : out.reshape(this.shape.filter((_, i) => !list.includes(i)));
  }

  sum(axes?: number | readonly number[], keepdims = false): NDArray { return this.reduce('sum', axes, keepdims); }
  max(axes?: number | readonly number[], keepdims = false): NDArray { return this.reduce('max', axes, keepdims); }
  min(axes?: number | readonly number[], keepdims = false): NDArray { return this.reduce('min', axes, keepdims); }
  argmax(axis = -1, keepdims = false): NDArray { return this.reduce('argmax', axis, keepdims); }
  argmin(axis = -1, keepdims = false): NDArray { return this.reduce('argmin', axis, keepdims); }

  /** Mean over `axes` (default: all); float arrays only. */
  mean(axes?: number | readonly number[], keepdims = false): NDArray {
    if (!isFloat(this.dtype)) throw new TypeError(`mean: needs a float array, got ${this.dtype}`);
    const list = normAxes('mean', axes, this.shape);
    const count = list.reduce((n, a) => n * this.shape[a], 1);
    return this.sum(list, keepdims).mul(1 / count);
  }

  // ---------------------------------------------------------------- matmul

  /**
   * Matrix product with NumPy semantics: 1-D operands are promoted (and the added axis removed),
   * batch axes broadcast.
   */
  matmul(other: NDArray): NDArray {
    checkSameBackend('matmul', this, other);
    if (this.dtype !== other.dtype) throw new TypeError(`matmul: dtypes differ (${this.dtype} vs ${other.dtype})`);
    if (this.rank === 0 || other.rank === 0) {
      throw new RangeError(`matmul: operands must have at least one axis, got ${fmtShape(this.shape)} and ${fmtShape(other.shape)}`);
    }
    const a = this.rank === 1 ? this.reshape([1, this.shape[0]]) : this;
    const b = other.rank === 1 ? other.reshape([other.shape[0], 1]) : other;
    const [m, k] = a.shape.slice(-2);
    const [k2, n] = b.shape.slice(-2);
    if (k !== k2) {
      throw new RangeError(`matmul: inner dimensions differ: ${fmtShape(this.shape)} @ ${fmtShape(other.shape)} (${k} vs ${k2})`);
    }
    const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
    const av = a.broadcastTo([...batch, m, k]);
    const bv = b.broadcastTo([...batch, k, n]);
    let out = this.result(this.backend.run('matmul', [av.view, bv.view], {}), [...batch, m, n]);
    if (this.rank === 1) out = out.squeeze(-2);
    if (other.rank === 1) out = out.squeeze(-1);
    return out;
  }

  // ---------------------------------------------------------------- indexing

  /** Index select along `axis` (embedding lookup when axis = 0). `indices` must be int32. */
  gather(indices: NDArray, axis = 0): NDArray {
    checkSameBackend('gather', this, indices);
    const a = normAxis('gather', axis, this.rank, this.shape);
    if (indices.dtype !== 'int32') throw new TypeError(`gather: indices must be int32, got ${indices.dtype} ${fmtShape(indices.shape)}`);
    const shape = [...this.shape.slice(0, a), ...indices.shape, ...this.shape.slice(a + 1)];
    if (this.shape[a] === 0 && indices.size > 0) throw new RangeError(`gather: axis ${a} of shape ${fmtShape(this.shape)} is empty`);
    return this.result(this.backend.run('gather', [this.view, indices.view], { axis: a }), shape);
  }

  /**
   * The transpose of gather: a zero array with `axisSize` along `axis`, to which each slice of this
   * array is added at its index.
   */
  scatterAdd(indices: NDArray, axis: number, axisSize: number): NDArray {
    checkSameBackend('scatterAdd', this, indices);
    if (indices.dtype !== 'int32') throw new TypeError(`scatterAdd: indices must be int32, got ${indices.dtype}`);
    const a = normAxis('scatterAdd', axis, this.rank - indices.rank + 1);
    const idxShape = this.shape.slice(a, a + indices.rank);
    if (!shapesEqual(idxShape, indices.shape)) {
      throw new RangeError(`scatterAdd: source ${fmtShape(this.shape)} does not hold indices ${fmtShape(indices.shape)} at axis ${a}`);
    }
    if (!Number.isInteger(axisSize) || axisSize < 0) throw new RangeError(`scatterAdd: invalid axis size ${axisSize}`);
    const shape = [...this.shape.slice(0, a), axisSize, ...this.shape.slice(a + indices.rank)];
    return this.result(this.backend.run('scatterAdd', [this.view, indices.view], { axis: a, axisSize }), shape);
  }

  /** Joins arrays along `axis`; other axes must agree. */
  static concat(xs: readonly NDArray[], axis = 0): NDArray {
    if (xs.length === 0) throw new RangeError('concat: needs at least one array');
    const first = xs[0];
    if (first.rank === 0) throw new RangeError('concat: cannot concatenate scalars (use stack)');
    const a = normAxis('concat', axis, first.rank, first.shape);
    for (const x of xs) {
      checkSameBackend('concat', first, x);
      if (x.dtype !== first.dtype) throw new TypeError(`concat: dtypes differ (${first.dtype} vs ${x.dtype})`);
      const ok = x.rank === first.rank && x.shape.every((d, i) => i === a || d === first.shape[i]);
      if (!ok) throw new RangeError(`concat: shapes ${xs.map((y) => fmtShape(y.shape)).join(', ')} differ off axis ${a}`);
    }
    const shape = [...first.shape];
    shape[a] = xs.reduce((n, x) => n + x.shape[a], 0);
    return NDArray.fromBuffer(first.backend, first.backend.run('concat', xs.map((x) => x.view), { axis: a }), shape);
  }

  /** Stacks equal-shaped arrays along a new axis. */
  static stack(xs: readonly NDArray[], axis = 0): NDArray {
    if (xs.length === 0) throw new RangeError('stack: needs at least one array');
    const a = normAxis('stack', axis, xs[0].rank + 1);
    for (const x of xs) {
      if (!shapesEqual(x.shape, xs[0].shape)) throw new RangeError(`stack: shapes differ: ${xs.map((y) => fmtShape(y.shape)).join(', ')}`);
    }
    return NDArray.concat(xs.map((x) => x.unsqueeze(a)), a);
  }

  /** The transpose of a strided slice: zeros of `shape` with this array at start + j*step per axis. */
  unslice(shape: Shape, starts: readonly number[], steps: readonly number[]): NDArray {
    checkShape('unslice', shape);
    if (shape.length !== this.rank || starts.length !== this.rank || steps.length !== this.rank) {
      throw new RangeError(`unslice: rank mismatch between ${fmtShape(this.shape)} and target ${fmtShape(shape)}`);
    }
    for (let i = 0; i < this.rank; i++) {
      const last = starts[i] + (this.shape[i] - 1) * steps[i];
      if (steps[i] < 1 || starts[i] < 0 || (this.shape[i] > 0 && last >= shape[i])) {
        throw new RangeError(`unslice: ${fmtShape(this.shape)} does not fit in ${fmtShape(shape)} at axis ${i} (start ${starts[i]}, step ${steps[i]})`);
      }
    }
    return this.result(this.backend.run('unslice', [this.view], { outShape: shape, starts, steps }), shape);
  }

  /** Pads each axis with `[before, after]` zeros. */
  pad(widths: readonly (readonly [number, number])[]): NDArray {
    if (widths.length !== this.rank) throw new RangeError(`pad: ${widths.length} pad widths for shape ${fmtShape(this.shape)}`);
    for (const [b, e] of widths) {
      if (!Number.isInteger(b) || !Number.isInteger(e) || b < 0 || e < 0) throw new RangeError(`pad: widths must be non-negative integers`);
    }
    const shape = this.shape.map((d, i) => d + widths[i][0] + widths[i][1]);
    return this.unslice(shape, widths.map((w) => w[0]), widths.map(() => 1));
  }
}

function length0(shape: Shape): boolean {
  return shape.some((d) => d === 0);
}

function checkSameBackend(op: string, a: NDArray, b: NDArray): void {
  if (a.backend !== b.backend) {
    throw new Error(`${op}: arrays live on different backends (${a.backend.name} and ${b.backend.name}); move one first`);
  }
}

/** Resolves a -1 in a target shape and checks the element count. */
function resolveReshape(from: Shape, to: Shape): number[] {
  const unknown = to.filter((d) => d === -1).length;
  if (unknown > 1) throw new RangeError(`reshape: more than one -1 in ${fmtShape(to)}`);
  for (const d of to) {
    if (d !== -1 && (!Number.isInteger(d) || d < 0)) throw new RangeError(`reshape: invalid target shape ${fmtShape(to)}`);
  }
  const n = sizeOf(from);
  const known = to.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const out = to.map((d) => (d === -1 ? (known === 0 ? 0 : n / known) : d));
  if (sizeOf(out) !== n || out.some((d) => !Number.isInteger(d))) {
    throw new RangeError(`reshape: cannot reshape ${fmtShape(from)} (${n} elements) to ${fmtShape(to)}`);
  }
  return out;
}

/**
 * Strides that let `to` view the same memory as (shape, strides), or null when a copy is needed.
 * Groups of input axes that are contiguous among themselves can be split or merged freely
 * (NumPy's no-copy reshape rule).
 */
function viewStridesForReshape(shape: Shape, strides: readonly number[], to: Shape): number[] | null {
  if (sizeOf(shape) === 0 || sizeOf(shape) === 1) return contiguousStrides(to);
  // Drop size-1 axes: they carry no layout information.
  const dims: number[] = [];
  const st: number[] = [];
  shape.forEach((d, i) => {
    if (d !== 1) {
      dims.push(d);
      st.push(strides[i]);
    }
  });
  const out = new Array<number>(to.length).fill(0);
  let i = 0; // input axis
  let j = 0; // output axis
  while (i < dims.length && j < to.length) {
    if (to[j] === 1) {
      out[j] = 0;
      j++;
      continue;
    }
    // Grow the smallest matching groups [i, i2) and [j, j2) with equal products.
    let i2 = i + 1;
    let j2 = j + 1;
    let pi = dims[i];
    let pj = to[j];
    while (pi !== pj) {
      if (pi < pj) pi *= dims[i2++];
      else pj *= to[j2++];
    }
    // The input group must be contiguous within itself.
    for (let k = i; k < i2 - 1; k++) if (st[k] !== st[k + 1] * dims[k + 1]) return null;
    // Lay out output strides within the group, innermost last.
    let s = st[i2 - 1];
    for (let k = j2 - 1; k >= j; k--) {
      out[k] = s;
      s *= to[k];
    }
    i = i2;
    j = j2;
  }
  for (; j < to.length; j++) out[j] = 0; // trailing size-1 axes
  return out;
}

/** Python slice semantics on one axis: clamps, negative indices from the end, positive steps only. */
export function resolveSlice(op: string, spec: SliceSpec, dim: number, axis: number): { start: number; step: number; length: number } {
  const step = spec.step ?? 1;
  if (!Number.isInteger(step) || step < 1) throw new RangeError(`${op}: step must be a positive integer on axis ${axis}, got ${step}`);
  const norm = (v: number | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    if (!Number.isInteger(v)) throw new RangeError(`${op}: slice bounds must be integers on axis ${axis}, got ${v}`);
    const x = v < 0 ? v + dim : v;
    return Math.min(Math.max(x, 0), dim);
  };
  const start = norm(spec.start, 0);
  const stop = norm(spec.stop, dim);
  const length = stop > start ? Math.ceil((stop - start) / step) : 0;
  return { start, step, length };
}

export { COMPARE_OPS };
