/**
 * All cores for the CPU kernels: a pool of worker threads that each hold an instance of one wasm
 * module over a single shared linear memory (a `SharedArrayBuffer` under `WebAssembly.Memory`), so
 * the operands are written once, by the calling thread, and every thread computes its part of the
 * result in place. Used by the matmul kernel (wasm-matmul.ts), whose threads claim row blocks of a
 * product from a shared counter as they go.
 *
 * Jobs are posted through a shared Int32Array: one slot block per worker (a state word, the
 * function's index and its i32 arguments), woken with Atomics.notify; the calling thread runs the
 * first job itself, then takes back any job whose worker has not started it (compare-and-swap on
 * the state word) and waits for the ones that are running. A job never depends on how many
 * threads there are, nor on which thread computes what: results are the same for any pool size.
 *
 * Size: `os.availableParallelism()`, or `CALM_THREADS` (1 = everything on the calling thread).
 */
import { envSetting } from '../env.js';
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { wasmApi, type WasmMemory } from './wasm-emit.js';

/** Reads CALM_THREADS (a positive integer); unset means os.availableParallelism(). */
export function threadCount(setting: string | undefined = envSetting('CALM_THREADS')): number {
  if (setting === undefined || setting === '') return Math.max(1, os.availableParallelism());
  const n = Number(setting);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`CALM_THREADS: expected a positive integer, got '${setting}'`);
  return n;
}

/** Int32 slots per worker in the control block: state, function index, up to 14 arguments (rest padding). */
export const SLOTS = 16;
/** Slot states: idle, a job posted, failed, running on the worker, taken back by the caller. */
export const IDLE = 0;
export const POSTED = 1;
export const FAILED = 2;
export const RUNNING = 3;
export const TAKEN = 4;

type Fn = (...args: number[]) => void;

/** Workers running the functions of one wasm module over one shared memory. */
export class WasmPool {
  readonly memory: WasmMemory;
  readonly threads: number;
  private readonly fns: Fn[];
  private readonly names: readonly string[];
  private readonly control: Int32Array;
  private readonly workers: Worker[] = [];
  private readonly bytes: Uint8Array;

  /**
   * `bytes` must import its memory as env.memory with this maximum (wasmModule's sharedMaxPages). The
   * pool runs over `memory` when given (a shared memory of that maximum, which another pool's module
   * may use too), else over a new one.
   */
  constructor(bytes: Uint8Array, names: readonly string[], threads: number, maxPages: number, memory?: WasmMemory) {
    const api = wasmApi();
    if (api === undefined) throw new Error('WasmPool: WebAssembly is not available');
    this.bytes = bytes;
    this.names = names;
    this.threads = threads;
    this.memory = memory ?? new api.Memory({ initial: 1, maximum: maxPages, shared: true });
    const instance = new api.Instance(new api.Module(bytes), { env: { memory: this.memory } });
    this.fns = names.map((name) => instance.exports[name] as Fn);
    this.control = new Int32Array(new SharedArrayBuffer(4 * SLOTS * Math.max(1, threads - 1)));
  }

  /**
   * Runs `names[fn](...jobs[i])` for every job, job 0 on this thread and job i on worker i - 1
   * (so at most `threads` jobs); returns when all have finished.
   */
  run(fn: number, jobs: readonly (readonly number[])[]): void {
    if (jobs.length > this.threads) throw new RangeError(`WasmPool.run: ${jobs.length} jobs for ${this.threads} threads`);
    this.startWorkers(jobs.length - 1);
    const ctl = this.control;
    for (let w = 1; w < jobs.length; w++) {
      const base = (w - 1) * SLOTS;
      ctl[base + 1] = fn;
      for (let i = 0; i < jobs[w].length; i++) ctl[base + 2 + i] = jobs[w][i];
      Atomics.store(ctl, base, POSTED);
      Atomics.notify(ctl, base);
    }
    let error: unknown = null;
    const runHere = (job: readonly number[]): void => {
      try {
        this.fns[fn](...job);
      } catch (e) {
        error ??= e;
      }
    };
    if (jobs.length > 0) runHere(jobs[0]);
    for (let w = 1; w < jobs.length; w++) {
      const base = (w - 1) * SLOTS;
      // A job its worker has not started yet (a busy machine may not have scheduled it) is taken
      // back and run here: the same job, so the same result, without waiting for a free core.
      if (Atomics.compareExchange(ctl, base, POSTED, TAKEN) === POSTED) {
        runHere(jobs[w]);
        Atomics.store(ctl, base, IDLE);
        Atomics.notify(ctl, base);
        continue;
      }
      while (Atomics.load(ctl, base) === RUNNING) Atomics.wait(ctl, base, RUNNING);
      if (Atomics.load(ctl, base) === FAILED) {
        Atomics.store(ctl, base, IDLE);
        Atomics.notify(ctl, base);
        error ??= new Error(`WasmPool: ${this.names[fn]} failed in worker ${w}`);
      }
    }
    if (error !== null) throw error;
  }

  /** Workers start on first use; they are unref'd, so they never keep the process alive. */
  private startWorkers(count: number): void {
    while (this.workers.length < count) {
      const index = this.workers.length;
      const worker = new Worker(new URL('./pool-worker.js', import.meta.url), {
        workerData: { bytes: this.bytes, names: this.names, memory: this.memory, control: this.control.buffer, base: index * SLOTS },
      });
      worker.unref();
      this.workers.push(worker);
    }
  }
}
