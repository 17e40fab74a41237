/**
 * The shape of one entry of the op table (`src/tensor/ops/index.ts`), and the two small
 * interfaces its two implementations run against: a {@link CpuView} (the CPU backend hands the
 * reference loop its typed arrays) and a {@link GpuRunner} (the gpu.js worker hands the gpu.js side
 * a way to copy, launch kernels and release results).
 */
import type { DType, TypedArray } from '../dtype.js';
import type { Shape } from '../shape.js';

/** A strided view as the CPU reference loops see it: the storage itself plus the layout. */
export interface CpuView {
  readonly data: TypedArray;
  readonly dtype: DType;
  readonly shape: Shape;
  /** In elements; 0 on a broadcast axis. */
  readonly strides: readonly number[];
  readonly offset: number;
}

/** A view as the gpu.js worker sees it: the device buffer by id, plus the layout. */
export interface WireView {
  readonly id: number;
  /** Elements in the whole buffer (not the view). */
  readonly size: number;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** A gpu.js pipeline result that lives on the GPU (webgpu mode). */
export interface GpuHandle {
  toArray(): Promise<Float32Array> | Float32Array;
  delete(): void;
  clone(): GpuHandle;
}

/** A device buffer in the worker: a GPU handle (webgpu) or a plain typed array (webasm, cpu). */
export type Handle = GpuHandle | Float32Array;

/** The `this` that gpu.js gives a kernel. */
export interface KernelThis {
  readonly thread: { readonly x: number };
  readonly constants: Readonly<Record<string, number>>;
}

/** A gpu.js kernel source: a plain `function` over float32 arrays (see `kernel-rules.ts`). */
export type KernelFn = (this: KernelThis, ...args: never[]) => number;

/** How an op's gpu.js side launches a kernel. */
export interface LaunchOptions {
  /** Compile-cache key: everything besides the output size that the compiled kernel depends on (input sizes). */
  readonly key?: string;
  /** `this.constants` of the kernel (sizes); part of the cache key. */
  readonly constants?: Readonly<Record<string, number>>;
  /** The longest loop in the kernel: gpu.js stops loops at 1000 iterations unless told. */
  readonly longestLoop?: number;
}

/** What the gpu.js worker offers an op's gpu.js side (implemented by `gpujs/engine.ts`). */
export interface GpuRunner {
  /** `op: …` prefix for error messages, e.g. `gpujs-webgpu gather`. */
  where(op: string): string;
  /** Throws a RangeError naming the op when float32 index arithmetic would not be exact. */
  checkExact(op: string, shape: readonly number[]): void;
  /** A contiguous device copy of a view (or a shared reference when it already is one). */
  contiguous(op: string, v: WireView): Promise<Handle>;
  /** Compiles `kernel` (once per key) and runs it over a 1-D output of `n` cells. */
  launch(kernel: KernelFn, n: number, args: readonly unknown[], options?: LaunchOptions): Promise<Handle>;
  /** Runs `kernel` on contiguous copies of equally shaped inputs (the elementwise pattern; errors name the running op). */
  map(kernel: KernelFn, inputs: readonly WireView[]): Promise<Handle>;
  /** `n` cells equal to `value`. */
  fill(n: number, value: number): Promise<Handle>;
  /** Reads a handle back to the worker's memory. */
  readBack(h: Handle): Promise<Float32Array>;
  /** Frees a temporary handle. */
  release(h: Handle): void;
}

/**
 * One primitive of the op table. `A` is the op's attributes (axes, sizes, ...), the part of a call
 * that is not an array. The front end (`NDArray`) has validated shapes, dtypes and attributes
 * before either implementation runs.
 */
export interface OpEntry<A> {
  /** The output shape, from the input shapes and the attributes. */
  outShape(shapes: readonly Shape[], attrs: A): Shape;
  /** The output dtype (the dtype rule). */
  outDType(dtypes: readonly DType[], attrs: A): DType;
  /**
   * True when, on int32 data, the op's float result must be truncated toward zero (what an
   * Int32Array store does on the CPU); the gpu.js backend applies it, because it stores every dtype
   * as float32.
   */
  readonly truncatesInt?: boolean;
  /** The reference CPU implementation: strided views in, a fresh contiguous typed array out. */
  cpu(inputs: readonly CpuView[], attrs: A): TypedArray;
  /** The gpu.js implementation, run in the worker thread: kernels launched through `gpu`. */
  gpujs(gpu: GpuRunner, inputs: readonly WireView[], attrs: A): Promise<Handle>;
}

/** Attributes of an op that has none. */
export type NoAttrs = Readonly<Record<string, never>>;
