/**
 * The gpu.js backend, in gpu.js's `webgpu`, `webasm` or `cpu` mode (backend names `gpujs-webgpu`,
 * `gpujs-webasm`, `gpujs-cpu`): a generic runner over the op table (`src/tensor/ops`), whose
 * entries' gpu.js sides run in a worker (`engine.ts`).
 *
 * gpu.js's webgpu kernels return Promises (WebGPU has no synchronous readback) while the Backend
 * interface is synchronous, so gpu.js runs in a worker thread (`worker.ts`) and each call here
 * posts one request and blocks on an Atomics signal until the worker has run it. Tensors stay on
 * the device between ops (pipeline, immutable kernel results); only `read` copies data back.
 *
 * Storage is float32 on the device for every dtype: int32 is exact up to 2^24 (larger values are
 * refused on upload), float64 is rounded to float32 (use the cpu backend for float64 reference
 * work). Tensors past 2^24 elements are refused with an error naming the op and shape, because
 * the kernels' float32 index arithmetic is exact only below that.
 */
import { profiling, recordOp } from '../profile.js';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { Backend, BackendBuffer, View } from '../backend.js';
import type { DType, TypedArray } from '../dtype.js';
import { dtypeOfTyped } from '../dtype.js';
import { MAX_EXACT_ELEMENTS, opEntry, type OpAttrs, type OpName } from '../ops/index.js';
import { sizeOf } from '../shape.js';
import type { EngineStats, Envelope, GpujsMode, Reply, Request, WireView } from './protocol.js';

/** How long a request may take before the worker is presumed dead. */
const REQUEST_TIMEOUT_MS = 600_000;

class GpujsBuffer implements BackendBuffer {
  disposed = false;
  constructor(
    readonly backend: string,
    readonly size: number,
    readonly dtype: DType,
    readonly id: number,
  ) {}
}

/** A Backend running gpu.js kernels in one of its modes. Create it with `createGpujsBackend`. */
export class GpujsBackend implements Backend {
  readonly name: string;
  /** The adapter (webgpu) or mode description, for `calm info`. */
  readonly adapter: string;
  private nextId = 1;
  private live = 0;
  /** The sequence number of the last request posted. */
  private seq = 0;
  private closed = false;

  private constructor(
    readonly mode: GpujsMode,
    private readonly worker: Worker,
    private readonly port: MessagePort,
    private readonly signal: Int32Array,
  ) {
    this.name = `gpujs-${mode}`;
    this.adapter = this.request({ kind: 'init', mode }).stats?.adapter ?? mode;
  }

  /**
   * Starts the worker and initialises gpu.js in `mode`; throws an Error naming the mode and the
   * reason when the mode is unavailable (no WebGPU adapter, ...).
   */
  static start(mode: GpujsMode): GpujsBackend {
    // Mesa's EGL (Dawn's OpenGL ES backend, no display) reads this with getenv: it must be set
    // on the main thread, because a worker's process.env is a private copy.
    if (mode === 'webgpu') process.env.EGL_PLATFORM ??= 'surfaceless';
    const { port1, port2 } = new MessageChannel();
    const signal = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: { port: port2, signal },
      transferList: [port2],
    });
    worker.unref();
    port1.unref();
    try {
      return new GpujsBackend(mode, worker, port1, signal);
    } catch (err) {
      void worker.terminate();
      throw new Error(`gpujs-${mode} is unavailable: ${(err as Error).message}`);
    }
  }

  /** Stops the worker; the backend is unusable afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    await this.worker.terminate();
  }

  /** Worker-side counts: device buffers held and kernels compiled. */
  deviceStats(): EngineStats {
    const stats = this.request({ kind: 'stats' }).stats;
    if (stats === undefined) throw new Error(`${this.name}: stats reply without stats`);
    return stats;
  }

  /**
   * Posts one request and blocks until the worker's reply is there. The signal holds the sequence
   * number of the last reply posted (see worker.ts for why a number and not a flag).
   */
  private request(req: Request): Reply & { ok: true } {
    if (this.closed) throw new Error(`${this.name}: backend is closed (request ${describe(req)})`);
    // Never 0, the signal's initial value; wraps within int32.
    this.seq = this.seq >= 0x3fffffff ? 1 : this.seq + 1;
    const seq = this.seq;
    const envelope: Envelope = { seq, req };
    this.port.postMessage(envelope);
    const deadline = Date.now() + REQUEST_TIMEOUT_MS;
    for (let seen = Atomics.load(this.signal, 0); seen !== seq; seen = Atomics.load(this.signal, 0)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: worker gave no answer to '${describe(req)}' in ${REQUEST_TIMEOUT_MS} ms; it may have crashed`);
      // Sleeps while the signal still holds `seen`; a stale notify just goes round the loop again.
      Atomics.wait(this.signal, 0, seen, left);
    }
    const got = receiveMessageOnPort(this.port);
    const reply = got?.message as Reply | undefined;
    if (reply === undefined || reply.seq !== seq) {
      throw new Error(`${this.name}: the reply to '${describe(req)}' (request ${seq}) is missing from the channel (got ${reply?.seq ?? 'none'})`);
    }
    if (!reply.ok) {
      const Ctor = reply.name === 'RangeError' ? RangeError : reply.name === 'TypeError' ? TypeError : Error;
      throw new Ctor(reply.message);
    }
    return reply;
  }

  // ---- memory ----

  private wire(op: string, v: View): WireView {
    const b = v.buffer;
    if (!(b instanceof GpujsBuffer) || b.backend !== this.name) {
      throw new TypeError(`${this.name} ${op}: buffer belongs to backend '${b.backend}'`);
    }
    if (b.disposed) throw new Error(`${this.name} ${op}: buffer ${b.id} was disposed`);
    return { id: b.id, size: b.size, dtype: b.dtype, shape: v.shape, strides: v.strides, offset: v.offset };
  }

  /** Sends an op that writes a new buffer; the buffer is only counted once the op succeeded. */
  private produce(size: number, dtype: DType, build: (out: number) => Request): GpujsBuffer {
    const id = this.nextId++;
    this.request(build(id));
    this.live++;
    return new GpujsBuffer(this.name, size, dtype, id);
  }

  allocate(size: number, dtype: DType): BackendBuffer {
    return this.run('fill', [], { size, value: 0, dtype });
  }

  upload(data: TypedArray): BackendBuffer {
    const dtype = dtypeOfTyped(data);
    if (data.length > MAX_EXACT_ELEMENTS) {
      throw new RangeError(`${this.name} upload: ${data.length} elements is more than 2^24 (float32 indexing would not be exact)`);
    }
    if (dtype === 'int32') {
      for (let i = 0; i < data.length; i++) {
        if (Math.abs(data[i]) > MAX_EXACT_ELEMENTS) {
          throw new RangeError(`${this.name} upload: int32 value ${data[i]} at ${i} is not exact in float32 device storage (|v| > 2^24)`);
        }
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
    if (!(buffer instanceof GpujsBuffer) || buffer.disposed) return;
    buffer.disposed = true;
    this.live--;
    // After close the worker and all its buffers are gone; a late dispose (the FinalizationRegistry
    // in ndarray.ts) has nothing left to free.
    if (this.closed) return;
    this.request({ kind: 'dispose', id: buffer.id });
  }

  liveBuffers(): number {
    return this.live;
  }

  // ---- ops ----

  /** Every primitive is one `run` message; the worker looks the op up in the table. */
  run<K extends OpName>(op: K, inputs: readonly View[], attrs: OpAttrs<K>): BackendBuffer {
    const entry = opEntry(op);
    const shape = entry.outShape(inputs.map((v) => v.shape), attrs);
    const dtype = entry.outDType(inputs.map((v) => v.buffer.dtype), attrs);
    const wire = inputs.map((v) => this.wire(op, v));
    const t0 = profiling() ? performance.now() : 0;
    const buffer = this.produce(sizeOf(shape), dtype, (out) => ({ kind: 'run', op, out, dtype, inputs: wire, attrs }));
    if (t0 !== 0) recordOp(op, attrs, performance.now() - t0, sizeOf(shape), dtype);
    return buffer;
  }
}

/** A request's name for error messages: the op for `run`, the kind otherwise. */
function describe(req: Request): string {
  return req.kind === 'run' ? req.op : req.kind;
}
