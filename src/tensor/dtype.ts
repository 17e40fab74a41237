/**
 * Element types. `float32` is the default; `float64` exists for reference computations and
 * gradient checks; `int32` holds indices.
 */
import { takeRecycled } from './recycle.js';

export type DType = 'float32' | 'float64' | 'int32';

export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];

/** The typed array that stores each dtype on the CPU. */
export type TypedArray = Float32Array | Float64Array | Int32Array;

export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : Int32Array;

/**
 * Allocates a zero-filled typed array of `size` elements of `dtype`: a released CPU array of that
 * size when one is kept (recycle.ts), else a new one.
 */
export function allocTyped(dtype: DType, size: number): TypedArray {
  const reused = takeRecycled(dtype, size);
  if (reused !== undefined) return reused;
  switch (dtype) {
    case 'float32':
      return new Float32Array(size);
    case 'float64':
      return new Float64Array(size);
    case 'int32':
      return new Int32Array(size);
    default:
      // Reachable from JavaScript callers, whose strings the type system never saw.
      throw new TypeError(`unknown dtype '${String(dtype)}' (expected one of ${DTYPES.join(', ')})`);
  }
}

/** {@link allocTyped} for float32, typed as such (the accelerations' outputs). */
export function allocFloat32(size: number): Float32Array {
  return allocTyped('float32', size) as Float32Array;
}

/**
 * A fresh array holding `data[start, end)`. Written as the typed-array constructor over a window rather
 * than `slice`: V8 copied a 4 MB float32 array that way in 0.20-0.28 ms against 0.36-0.47 ms for `slice`,
 * from a SharedArrayBuffer (the CPU heap) and from ordinary memory alike (1.1-1.3x at 64 KB-512 KB too).
 */
export function copyTyped(data: TypedArray, start = 0, end = data.length): TypedArray {
  const window = data.subarray(start, end);
  if (window instanceof Float32Array) return new Float32Array(window);
  if (window instanceof Float64Array) return new Float64Array(window);
  return new Int32Array(window);
}

/** The dtype of a typed array, or an error naming what was passed. */
export function dtypeOfTyped(data: TypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  throw new TypeError(`dtypeOfTyped: unsupported array type ${(data as object).constructor.name}`);
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

/** Bytes per element, as written in safetensors and on GPUs. */
export function bytesPerElement(dtype: DType): number {
  return dtype === 'float64' ? 8 : 4;
}

export function assertDType(op: string, value: string): DType {
  if (value === 'float32' || value === 'float64' || value === 'int32') return value;
  throw new TypeError(`${op}: unknown dtype '${value}' (expected one of ${DTYPES.join(', ')})`);
}
