/**
 * The backend interface: the only thing a device must implement.
 *
 * Like jax-js's `Backend`, it is deliberately small: memory management (allocate, upload, read,
 * dispose) plus one method, `run`, that runs a primitive of the op table (`src/tensor/ops`). Each
 * table entry holds the op's CPU loop and its gpu.js kernel, so a backend is a generic runner:
 * `CpuBackend` calls the entry's `cpu`, the gpu.js backend sends one "run op" message to its worker,
 * which calls the entry's `gpujs`. Every other op in calm-ts is composed from these in the layers
 * above.
 *
 * Conventions every backend follows:
 * - Inputs arrive as {@link View}s: a buffer plus shape, strides and offset, so transposed, sliced
 *   and broadcast (stride 0) inputs need no copy.
 * - Every op returns a fresh, contiguous, row-major buffer that the caller owns.
 * - The front end (`NDArray`) has already validated shapes, axes and dtypes and applied
 *   broadcasting, so backends do not re-check them; they only check what the front end cannot see
 *   without reading data (index ranges).
 */
import type { DType, TypedArray } from './dtype.js';
import type { BinaryOp, OpAttrs, OpName } from './ops/index.js';
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

export {
  ARITH_OPS,
  COMPARE_OPS,
  UNARY_OPS,
  BINARY_OPS,
  type UnaryOp,
  type BinaryOp,
  type ReduceOp,
  type OpName,
  type OpAttrs,
} from './ops/index.js';

/** `ArithOp` and `CompareOp` split the binary ops (comparisons return 1 or 0 in their inputs' dtype). */
export type ArithOp = Exclude<BinaryOp, CompareOp>;
export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

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
  /**
   * The buffer's own host storage, to read without a copy or update in place (AdamW). Only backends
   * whose buffers are host typed arrays have it; every view of the buffer sees a write.
   */
  hostStorage?(buffer: BackendBuffer): TypedArray;

  // ---- ops ----
  /**
   * Runs the primitive `op` of the op table on `inputs` and returns its result, a new contiguous
   * buffer of the entry's output shape and dtype. Errors name the backend and the op.
   */
  run<K extends OpName>(op: K, inputs: readonly View[], attrs: OpAttrs<K>): BackendBuffer;
}
