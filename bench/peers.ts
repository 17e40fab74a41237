/**
 * TensorFlow.js peers for the benchmarks: `tfjs-backend-cpu` (plain JavaScript) and
 * `tfjs-backend-wasm` (XNNPACK compiled to WebAssembly with SIMD), loaded in this process.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { memoryScope } from '../src/tensor/memory.js';
import type { NDArray } from '../src/tensor/ndarray.js';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

export { tf };

export type PeerName = 'tfjs-cpu' | 'tfjs-wasm';

const require = createRequire(import.meta.url);

/** Switches TensorFlow.js to the named backend. */
export async function usePeer(peer: PeerName): Promise<void> {
  if (peer === 'tfjs-wasm') {
    setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
  }
  const ok = await tf.setBackend(peer === 'tfjs-cpu' ? 'cpu' : 'wasm');
  if (!ok) throw new Error(`bench: TensorFlow.js backend ${peer} failed to initialise`);
  await tf.ready();
}

/**
 * Runs a TensorFlow.js computation, reads its result back (as the calm-ts cases do) and frees it.
 * `tf.tidy` keeps the tensor it returns, so a timed call that only reads it leaks one result per call:
 * tfjs-wasm's heap then grows without end, every later call pays for fresh memory, and a long run
 * aborts inside the wasm module (bench/cpu.ts did this until 1 Dec 2026, which made tfjs-wasm look
 * slower than it is).
 */
export function readBack(compute: () => tf.Tensor): void {
  const result = tf.tidy(compute);
  result.dataSync();
  result.dispose();
}

/** calm-ts's side of {@link readBack}: computes in a memory scope, reads the result back, and releases what the computation made. */
export function readBackCalm(compute: () => NDArray): void {
  memoryScope(() => void compute().toTypedArray());
}

/** Runs a TensorFlow.js computation and frees its result without reading it (tfjs-wasm and tfjs-cpu run kernels synchronously). */
export function computeOnly(compute: () => tf.Tensor): void {
  tf.tidy(compute).dispose();
}

/** calm-ts's side of {@link computeOnly}: computes in a memory scope, which releases the result unread. */
export function computeCalm(compute: () => NDArray): void {
  memoryScope(() => void compute());
}

/**
 * Runs `timed` (which times a TensorFlow.js peer) and throws if TensorFlow.js then holds more tensors
 * than before: a timed peer that leaks is a wrong measurement.
 */
export async function leakChecked<T>(label: string, timed: () => T | Promise<T>): Promise<T> {
  const before = tf.memory().numTensors;
  const result = await timed();
  const now = tf.memory().numTensors;
  if (now > before) throw new Error(`bench: ${label} left ${now - before} TensorFlow.js tensors undisposed`);
  return result;
}
