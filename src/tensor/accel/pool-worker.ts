/**
 * A worker of {@link WasmPool} (pool.ts): instantiates the pool's module over the shared memory,
 * then forever waits for a posted job in its slot block, claims it (unless the caller took it
 * back first), runs it, and marks the slot idle again (or failed) and wakes the caller.
 */
import { workerData } from 'node:worker_threads';
import { wasmApi, type WasmMemory } from './wasm-emit.js';
import { FAILED, IDLE, POSTED, RUNNING } from './pool.js';

const { bytes, names, memory, control, base } = workerData as {
  bytes: Uint8Array; names: string[]; memory: WasmMemory; control: SharedArrayBuffer; base: number;
};
const api = wasmApi()!;
const instance = new api.Instance(new api.Module(bytes), { env: { memory } });
const fns = names.map((name) => instance.exports[name] as (...args: number[]) => void);
const ctl = new Int32Array(control);

for (;;) {
  const state = Atomics.load(ctl, base);
  if (state !== POSTED) {
    Atomics.wait(ctl, base, state); // idle, failed, or taken back by the caller: sleep until it changes
    continue;
  }
  if (Atomics.compareExchange(ctl, base, POSTED, RUNNING) !== POSTED) continue; // the caller took it
  let done = IDLE;
  try {
    const fn = fns[ctl[base + 1]];
    fn(...Array.from(ctl.subarray(base + 2, base + 2 + fn.length)));
  } catch {
    done = FAILED;
  }
  Atomics.store(ctl, base, done);
  Atomics.notify(ctl, base);
}
