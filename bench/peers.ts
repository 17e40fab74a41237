/**
 * TensorFlow.js peers for the benchmarks: `tfjs-backend-cpu` (plain JavaScript) and
 * `tfjs-backend-wasm` (XNNPACK compiled to WebAssembly with SIMD), loaded in this process.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
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
