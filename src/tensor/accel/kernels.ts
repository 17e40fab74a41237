/**
 * The process's one instance of the elementwise kernels (wasm-elementwise.ts) and the float32 heap
 * that is their memory (heap.ts), made on first use. The CPU backend keeps large float32 storage in
 * the heap, the accelerations (index.ts) run the kernels on it, and the float32 matmul kernel
 * (ops/matmul.ts, wasm-matmul.ts) runs over the same memory, so that all of them read operands
 * where they lie.
 */
import { envSetting } from '../env.js';
import { openScopes } from '../scope-depth.js';
import { HEAP_MIN_ELEMENTS, type Float32Heap } from './heap.js';
import { WasmElementwise } from './wasm-elementwise.js';
import { wasmSimdAvailable } from './wasm-matmul.js';

let wasm: WasmElementwise | null | undefined;

/** The elementwise kernels, or null without WebAssembly SIMD or SharedArrayBuffer. */
export function wasmKernels(): WasmElementwise | null {
  // The module's memory is shared (its thread pool and the heap), which needs SharedArrayBuffer (in a
  // browser: a cross-origin isolated page); without it the reference loops run.
  if (wasm === undefined) wasm = wasmSimdAvailable() && typeof SharedArrayBuffer === 'function' ? new WasmElementwise() : null;
  return wasm;
}

/**
 * The float32 heap (heap.ts) that CPU storage may live in, so the wasm kernels use it in place; null
 * without WebAssembly SIMD or with CALM_CPU_ACCEL=off (then every buffer is ordinary memory).
 */
export function cpuHeap(): Float32Heap | null {
  if (heapChoice === undefined) heapChoice = cpuAccelEnabled() ? (wasmKernels()?.heap ?? null) : null;
  return heapChoice;
}
let heapChoice: Float32Heap | null | undefined;

/**
 * A heap block for n float32s when they belong there (n >= HEAP_MIN_ELEMENTS) and the heap has room
 * (outside a memory scope only within its small share of the budget, see heap.ts), else null. The
 * caller owns the block: the CPU backend wraps it as one buffer, which releases it.
 */
export function heapStorage(n: number): Float32Array | null {
  return n >= HEAP_MIN_ELEMENTS ? (cpuHeap()?.storage(n, openScopes() > 0) ?? null) : null;
}

/**
 * Sets the heap's storage budget in bytes (0: new buffers are ordinary memory; buffers already in the
 * heap stay there until released); returns the previous budget (0 without a heap). For tests and
 * comparisons; CALM_CPU_HEAP_MB sets it at start.
 */
export function setCpuHeapBudget(bytes: number): number {
  const heap = cpuHeap();
  if (heap === null) return 0;
  const previous = heap.budgetBytes;
  heap.budgetBytes = bytes;
  return previous;
}

/** Reads CALM_CPU_ACCEL: on (default) or off. */
export function cpuAccelEnabled(setting: string | undefined = envSetting('CALM_CPU_ACCEL')): boolean {
  if (setting === undefined || setting === '' || setting === 'on') return true;
  if (setting === 'off') return false;
  throw new Error(`CALM_CPU_ACCEL: expected 'on' or 'off', got '${setting}'`);
}
