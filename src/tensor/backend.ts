/**
 * The backend interface: the only thing a device must implement.
 *
 * Like jax-js's `Backend`, it is deliberately small: memory management (allocate, upload, read,
 * dispose) plus one method per primitive op. Every other op in calm-ts is composed from these in the
 * layers above, so a new device (gpu.js, a faster CPU backend) implements this file and nothing else.
 *
 * Conventions every backend follows:
 * - Inputs arrive as {@link View}s: a buffer plus shape, strides and offset, so transposed, sliced
 *   and broadcast (stride 0) inputs need no copy. A backend that needs contiguous data calls its own
 *   `copy` first.
 * - Every op returns a fresh, contiguous, row-major buffer that the caller owns.
 * - The front end (`NDArray`) has already validated shapes, axes and dtypes and applied
 *   broadcasting, so backends do not re-check them; they only check what the front end cannot see
 *   without reading data (index ranges).
 */
import type { DType, TypedArray } from './dtype.js';
import type { Shape } from './shape.js';

/** A block of device memory holding `size` elements of `dtype`. Opaque outside its backend. */
export interface BackendBuffer {
  readonly backend: string;
  readonly size: number;
  readonly dtype: DType;
}

/** A strided window onto a buffer. `strides` and `offset` are in elements. */
export interface View {
  readonly buffer: BackendBuffer;
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
}

export type UnaryOp =
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'reciprocal'
  | 'sin'
  | 'cos'
  | 'tanh'
  | 'sigmoid'
  | 'abs'
  | 'sign';

export const UNARY_OPS: readonly UnaryOp[] = [
  'neg', 'exp', 'log', 'sqrt', 'reciprocal', 'sin', 'cos', 'tanh', 'sigmoid', 'abs', 'sign',
];

export type ArithOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum';
/** Comparisons return 1 or 0 in the dtype of their inputs. */
export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
export type BinaryOp = ArithOp | CompareOp;

export const ARITH_OPS: readonly ArithOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'];
export const COMPARE_OPS: readonly CompareOp[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'];

/** `argmax`/`argmin` reduce exactly one axis, return int32, and pick the first extremum on ties. */
export type ReduceOp = 'sum' | 'max' | 'min' | 'argmax' | 'argmin';

export interface Backend {
  /** A short name: `cpu`, `gpujs-webgpu`, ... */
  readonly name: string;
  /**
   * True when buffers are ordinary host memory that the garbage collector reclaims by itself. Arrays
   * on such a backend skip the FinalizationRegistry backstop: its held values stay strongly
   * reachable until the event loop runs the cleanup, so a long synchronous loop would keep every
   * temporary alive.
   */
  readonly hostMemory?: boolean;

  // ---- memory ----
  /** A zero-filled buffer. */
  allocate(size: number, dtype: DType): BackendBuffer;
  /** Copies host data into a new buffer of the array's dtype. */
  upload(data: TypedArray): BackendBuffer;
  /** Reads a view back to the host as a fresh contiguous typed array (the caller may mutate it). */
  read(view: View): TypedArray;
  /** Releases a buffer. Using it afterwards is an error. Disposing twice is a no-op. */
  dispose(buffer: BackendBuffer): void;
  /** Buffers allocated and not yet disposed (for leak tests). */
  liveBuffers(): number;

  // ---- primitive ops: each returns a new contiguous buffer of the output shape ----
  /** Materialises a view as a contiguous buffer (the strided copy behind `contiguous()`). */
  copy(x: View): BackendBuffer;
  /** A buffer of `size` elements all equal to `value`. */
  fill(size: number, value: number, dtype: DType): BackendBuffer;
  /** Elementwise conversion; float to int32 truncates toward zero. */
  cast(x: View, dtype: DType): BackendBuffer;
  unary(op: UnaryOp, x: View): BackendBuffer;
  /** `a` and `b` have equal shapes and dtypes (broadcasting already applied as stride-0 views). */
  binary(op: BinaryOp, a: View, b: View): BackendBuffer;
  /** Elementwise `cond != 0 ? a : b`; all three have the output shape; `cond` may have any dtype. */
  where(cond: View, a: View, b: View): BackendBuffer;
  /**
   * Reduces `axes` (sorted, distinct, non-empty). The output has the input's shape with those axes
   * set to 1 (keepdims); the front end squeezes them when asked. Sum of an empty axis is 0; max/min
   * of an empty axis is refused by the front end.
   */
  reduce(op: ReduceOp, x: View, axes: readonly number[]): BackendBuffer;
  /**
   * Batched matrix product: `a` is [...batch, m, k], `b` is [...batch, k, n] with identical batch
   * shapes (batch broadcasting already applied); the result is [...batch, m, n].
   */
  matmul(a: View, b: View): BackendBuffer;
  /**
   * Index select along `axis`: out = x.shape[:axis] ++ indices.shape ++ x.shape[axis+1:], with
   * out[..., i..., ...] = x[..., indices[i...], ...]. `indices` is int32; an index outside
   * [0, x.shape[axis]) throws a RangeError naming the op, the index and the axis size.
   */
  gather(x: View, indices: View, axis: number): BackendBuffer;
  /**
   * The transpose of `gather`: a zero buffer of shape src.shape[:axis] ++ [axisSize] ++
   * src.shape[axis + indices.rank:], into which each slice of `src` is added at its index.
   * Repeated indices accumulate.
   */
  scatterAdd(src: View, indices: View, axis: number, axisSize: number): BackendBuffer;
  /** Joins views along `axis`; all shapes agree except on `axis`. */
  concat(xs: readonly View[], axis: number): BackendBuffer;
  /**
   * The transpose of a strided slice: a zero buffer of `outShape` with `x` written at positions
   * starts[i] + j * steps[i] along each axis i. (Padding is the case steps = 1.)
   */
  unslice(x: View, outShape: Shape, starts: readonly number[], steps: readonly number[]): BackendBuffer;

  // ---- optional fused ops: `src/tensor/fused.ts` calls them when present, composes primitives otherwise ----
  /** Softmax over the last axis of a float view; the result has the view's shape. */
  softmaxRows?(x: View): BackendBuffer;
  /** `silu(a) * b = a * sigmoid(a) * b` elementwise; `a` and `b` have equal shapes and float dtypes. */
  siluMul?(a: View, b: View): BackendBuffer;
}
