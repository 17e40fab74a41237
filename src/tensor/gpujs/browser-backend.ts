/**
 * The gpu.js backend in a browser (`gpujs-webgl2`, `gpujs-webgpu`): the same op table and the same
 * worker-side {@link Engine} as the Node backend (`backend.ts`), with a browser transport. calm-ts runs
 * in a Web Worker and calls this Backend synchronously; each call posts a request to a nested gpu.js
 * worker (`browser-worker.ts`) and sleeps with Atomics.wait until the reply is in shared memory
 * (`browser-channel.ts`). So the page never freezes and the gpu.js kernels may be async (WebGPU).
 *
 * The buffer bookkeeping below mirrors `backend.ts` (whose transport is Node's worker_threads);
 * the two should share one class once the transports are behind a common interface there.
 */
import type { Backend, BackendBuffer, View } from '../backend.js';
import type { DType, TypedArray } from '../dtype.js';
import { dtypeOfTyped } from '../dtype.js';
import { MAX_EXACT_ELEMENTS, opEntry, type OpAttrs, type OpName } from '../ops/index.js';
import { sizeOf } from '../shape.js';
import { createChannelBuffers, DATA_LENGTH, GROW, OK, readText, SEQ, TEXT_LENGTH, type ChannelBuffers } from './browser-channel.js';
import type { SetupMessage } from './browser-worker.js';
import type { EngineStats, Envelope, Request, WireView } from './protocol.js';

/** How long a request may take before the gpu worker is presumed dead. */
const REQUEST_TIMEOUT_MS = 600_000;

/** A Web Worker as this file uses it (the project compiles without the DOM library). */
export interface WebWorkerLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message' | 'error', listener: (event: { data?: unknown; message?: string }) => void): void;
  terminate(): void;
}

class BrowserBuffer implements BackendBuffer {
  disposed = false;
  constructor(
    readonly backend: string,
    readonly size: number,
    readonly dtype: DType,
    readonly id: number,
  ) {}
}

export class BrowserGpujsBackend implements Backend {
  readonly name: string;
  private nextId = 1;
  private live = 0;
  private seq = 0;
  private closed = false;
  private readonly ctrl: Int32Array;
  private data: Float32Array;

  private constructor(
    readonly mode: 'webgpu' | 'webgl2',
    /** The device as the gpu worker describes it (WebGL renderer string or WebGPU adapter). */
    readonly adapter: string,
    private readonly worker: WebWorkerLike,
    private readonly buffers: ChannelBuffers,
  ) {
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
  private request(req: Request): { data?: Float32Array; json?: unknown } {
    const what = req.kind === 'run' ? req.op : req.kind;
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

  // ---- memory (as in backend.ts) ----

  private wire(op: string, v: View): WireView {
    const b = v.buffer;
    if (!(b instanceof BrowserBuffer) || b.backend !== this.name) throw new TypeError(`${this.name} ${op}: buffer belongs to backend '${b.backend}'`);
    if (b.disposed) throw new Error(`${this.name} ${op}: buffer ${b.id} was disposed`);
    return { id: b.id, size: b.size, dtype: b.dtype, shape: v.shape, strides: v.strides, offset: v.offset };
  }

  private produce(size: number, dtype: DType, build: (out: number) => Request): BrowserBuffer {
    const id = this.nextId++;
    this.request(build(id));
    this.live++;
    return new BrowserBuffer(this.name, size, dtype, id);
  }

  allocate(size: number, dtype: DType): BackendBuffer {
    return this.run('fill', [], { size, value: 0, dtype });
  }

  upload(data: TypedArray): BackendBuffer {
    const dtype = dtypeOfTyped(data);
    if (data.length > MAX_EXACT_ELEMENTS) throw new RangeError(`${this.name} upload: ${data.length} elements is more than 2^24 (float32 indexing would not be exact)`);
    if (dtype === 'int32') {
      for (let i = 0; i < data.length; i++) {
        if (Math.abs(data[i]) > MAX_EXACT_ELEMENTS) throw new RangeError(`${this.name} upload: int32 value ${data[i]} at ${i} is not exact in float32 device storage (|v| > 2^24)`);
      }
    }
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
    return this.produce(data.length, dtype, (out) => ({ kind: 'upload', out, data: f32 }));
  }

  read(view: View): TypedArray {
    const data = this.request({ kind: 'read', x: this.wire('read', view) }).data ?? new Float32Array(0);
    const dtype = view.buffer.dtype;
    if (dtype === 'float32') return data;
    return dtype === 'int32' ? Int32Array.from(data) : Float64Array.from(data);
  }

  dispose(buffer: BackendBuffer): void {
    if (!(buffer instanceof BrowserBuffer) || buffer.disposed) return;
    buffer.disposed = true;
    this.live--;
    if (this.closed) return;
    this.request({ kind: 'dispose', id: buffer.id });
  }

  liveBuffers(): number {
    return this.live;
  }

  run<K extends OpName>(op: K, inputs: readonly View[], attrs: OpAttrs<K>): BackendBuffer {
    const entry = opEntry(op);
    const shape = entry.outShape(inputs.map((v) => v.shape), attrs);
    const dtype = entry.outDType(inputs.map((v) => v.buffer.dtype), attrs);
    const wire = inputs.map((v) => this.wire(op, v));
    return this.produce(sizeOf(shape), dtype, (out) => ({ kind: 'run', op, out, dtype, inputs: wire, attrs }));
  }
}
