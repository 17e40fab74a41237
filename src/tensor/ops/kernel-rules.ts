/**
 * The rules every gpu.js kernel in the op table follows, and the two helper functions they share.
 *
 * gpu.js transpiles a kernel's source text (to WGSL, to WebAssembly, or to plain JavaScript), so:
 * - a kernel is a plain `function` expression (no arrow functions, methods, default parameters or
 *   nested functions) and uses no closure variables: sizes arrive as `this.constants`, layouts as
 *   arrays;
 * - every output is 1-D over the flat row-major output index;
 * - index arithmetic runs in float32 on the GPU, so every index stays below 2^24 (the backend refuses
 *   larger tensors), and a quotient of two indices goes through {@link floorDiv}, which fixes a
 *   quotient that float division rounded the wrong way;
 * - loops have constant bounds and the launch raises `loopMaxIterations` above the longest loop
 *   (gpu.js silently stops loops at 1000 iterations otherwise).
 *
 * A kernel may call the helpers below by name: the engine hands gpu.js the ones whose name appears
 * in the kernel's source, or in a helper's that it calls (gpu.js compiles them into the same shader).
 */
import type { KernelThis } from './types.js';

/** The highest rank the strided kernels handle (layouts are padded with unit axes to this). */
export const MAX_RANK = 6;

/** Largest element count (and index) that float32 index arithmetic represents exactly. */
export const MAX_EXACT_ELEMENTS = 2 ** 24;

/**
 * The flat output index as a float. gpu.js types `this.thread.x` as an integer; multiplied by the
 * float constant `one` (which every launch defines as 1) it becomes a float, so the index arithmetic
 * that follows is float arithmetic in every mode instead of integer arithmetic in some shaders.
 */
function flatIndex(this: KernelThis): number {
  return this.thread.x * this.constants.one;
}
// Kernels call it as `flatIndex()`: gpu.js compiles it into the kernel, where `this` is the kernel's.
const flatIndexInKernel = flatIndex as unknown as () => number;
export { flatIndexInKernel as flatIndex };

/**
 * floor(a / b) for integer-valued floats 0 <= a < 2^24, 0 < b: the float quotient may be rounded
 * to the next integer up or down, so the remainder is checked and the quotient moved by one.
 */
export function floorDiv(a: number, b: number): number {
  let q = Math.floor(a / b);
  const r = a - q * b;
  if (r < 0) {
    q = q - 1;
  }
  if (r >= b) {
    q = q + 1;
  }
  return q;
}

/** a mod b for integer-valued floats 0 <= a < 2^24, 0 < b, exact (through {@link floorDiv}). */
export function floorMod(a: number, b: number): number {
  return a - floorDiv(a, b) * b;
}

/** The helpers a kernel may call (see the module comment). */
export const KERNEL_HELPERS: readonly ((...args: never[]) => number)[] = [flatIndexInKernel, floorDiv, floorMod];
