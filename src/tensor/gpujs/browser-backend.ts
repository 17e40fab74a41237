/**
 * The gpu.js backend in a browser (`gpujs-webgl2`, `gpujs-webgpu`): the same op table and the same
 * worker-side {@link Engine} as the Node backend (`backend.ts`), with a browser transport. calm-ts runs
 * in a Web Worker and calls this Backend synchronously; each call posts a request to a nested gpu.js
 * worker (`browser-worker.ts`) and sleeps with Atomics.wait until the reply is in shared memory
 * (`browser-channel.ts`). So the page never freezes and the gpu.js kernels may be async (WebGPU).
 *
 * The buffer bookkeeping, upload/read/dispose and the `run` message are `worker-backend.ts`, shared with
 * `backend.ts` (whose transport is Node's worker_threads); this file is the browser transport.
 */
import { createChannelBuffers, DATA_LENGTH, GROW, OK, readText, SEQ, TEXT_LENGTH, type ChannelBuffers } from './browser-channel.js';
import type { SetupMessage } from './browser-worker.js';
import { describeRequest, type EngineStats, type Envelope, type Request } from './protocol.js';
import { WorkerBackend } from './worker-backend.js';

/** How long a request may take before the gpu worker is presumed dead. */
const REQUEST_TIMEOUT_MS = 600_000;

/** A Web Worker as this file uses it (the project compiles without the DOM library). */
export interface WebWorkerLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message' | 'error', listener: (event: { data?: unknown; message?: string }) => void): void;
  terminate(): void;
}

export class BrowserGpujsBackend extends WorkerBackend {
  readonly name: string;
  private seq = 0;
  private readonly ctrl: Int32Array;
  private data: Float32Array;

  private constructor(
    readonly mode: 'webgpu' | 'webgl2',
    /** The device as the gpu worker describes it (WebGL renderer string or WebGPU adapter). */
    readonly adapter: string,
    private readonly worker: WebWorkerLike,
    private readonly buffers: ChannelBuffers,
  ) {
    super();
    this.name = `gpujs-${mode}`;
    this.ctrl = new Int32Array(buffers.ctrl);
    this.data = new Float32Array(buffers.data);
  }

  /**
   * Starts the gpu worker (`makeWorker()` creates it from browser-worker.js, as a module worker), loads
   * gpu.js from `gpuScript` there and builds a probe kernel; rejects naming the mode and the reason
   * when the mode does not work in this browser.
   */
  static async start(mode: 'webgpu' | 'webgl2', makeWorker: () => WebWorkerLike, gpuScript: string): Promise<BrowserGpujsBackend> {
    const worker = makeWorker();
    const buffers = createChannelBuffers();
    const stats = await new Promise<EngineStats>((resolve, reject) => {
      worker.addEventListener('message', (e) => {
        const m = e.data as { kind: string; stats?: EngineStats; message?: string };
        if (m.kind === 'ready' && m.stats !== undefined) resolve(m.stats);
        else if (m.kind === 'failed') reject(new Error(`gpujs-${mode} is unavailable: ${m.message}`));
      });
      worker.addEventListener('error', (e) => reject(new Error(`gpujs-${mode} worker failed to start: ${e.message ?? 'error'}`)));
      const setup: SetupMessage = { kind: 'setup', mode, gpuScript, buffers };
      worker.postMessage(setup);
    }).catch((err: unknown) => {
      worker.terminate();
      throw err;
    });
    return new BrowserGpujsBackend(mode, stats.adapter, worker, buffers);
  }

  close(): void {
    this.closed = true;
    this.worker.terminate();
  }

  deviceStats(): EngineStats {
    return this.request({ kind: 'stats' }).json as EngineStats;
  }

  private nextSeq(): number {
    this.seq = this.seq >= 0x3fffffff ? 1 : this.seq + 1; // never 0, the signal's initial value
    return this.seq;
  }

  /** Sleeps until the gpu worker has written the reply numbered `seq`. */
  private await(seq: number, what: string): void {
    const deadline = Date.now() + REQUEST_TIMEOUT_MS;
    for (let seen = Atomics.load(this.ctrl, SEQ); seen !== seq; seen = Atomics.load(this.ctrl, SEQ)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: the gpu worker gave no answer to '${what}' in ${REQUEST_TIMEOUT_MS} ms`);
      Atomics.wait(this.ctrl, SEQ, seen, left);
    }
  }

  /** Posts one request and blocks until its reply; data replies larger than the buffer grow it once. */
  protected override request(req: Request): { data?: Float32Array; json?: unknown } {
    const what = describeRequest(req);
    if (this.closed) throw new Error(`${this.name}: backend is closed (request ${what})`);
    const seq = this.nextSeq();
    const envelope: Envelope = { seq, req };
    this.worker.postMessage(envelope);
    this.await(seq, what);
    const json = this.ctrl[TEXT_LENGTH] > 0 ? readText(this.buffers.text, this.ctrl[TEXT_LENGTH]) : undefined;
    if (this.ctrl[OK] !== 1) {
      const e = json as { name?: string; message?: string } | undefined;
      const Ctor = e?.name === 'RangeError' ? RangeError : e?.name === 'TypeError' ? TypeError : Error;
      throw new Ctor(e?.message ?? `${this.name}: '${what}' failed`);
    }
    const needed = this.ctrl[GROW];
    if (needed > 0) {
      const bigger = new SharedArrayBuffer(Math.ceil(needed * 1.5) * 4);
      const growSeq = this.nextSeq();
      this.worker.postMessage({ kind: 'grow', seq: growSeq, data: bigger });
      this.await(growSeq, `${what} (growing the reply buffer to ${needed} floats)`);
      this.data = new Float32Array(bigger);
    }
    const n = this.ctrl[DATA_LENGTH];
    return { json, data: n >= 0 ? this.data.slice(0, n) : undefined };
  }
}
