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
 * the kernels' float32 index arithmetic is exact only below that. The buffer bookkeeping, those checks and
 * the `run` message are `worker-backend.ts`, shared with the browser backend; this file is the transport.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { describeRequest, type EngineStats, type Envelope, type GpujsMode, type Reply, type Request } from './protocol.js';
import { WorkerBackend } from './worker-backend.js';

/** How long a request may take before the worker is presumed dead. */
const REQUEST_TIMEOUT_MS = 600_000;

/** A Backend running gpu.js kernels in one of its modes. Create it with `createGpujsBackend`. */
export class GpujsBackend extends WorkerBackend {
  readonly name: string;
  /** The adapter (webgpu) or mode description, for `calm info`. */
  readonly adapter: string;
  /** The sequence number of the last request posted. */
  private seq = 0;

  private constructor(
    readonly mode: GpujsMode,
    private readonly worker: Worker,
    private readonly port: MessagePort,
    private readonly signal: Int32Array,
  ) {
    super();
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
  protected override request(req: Request): Reply & { ok: true } {
    if (this.closed) throw new Error(`${this.name}: backend is closed (request ${describeRequest(req)})`);
    // Never 0, the signal's initial value; wraps within int32.
    this.seq = this.seq >= 0x3fffffff ? 1 : this.seq + 1;
    const seq = this.seq;
    const envelope: Envelope = { seq, req };
    this.port.postMessage(envelope);
    const deadline = Date.now() + REQUEST_TIMEOUT_MS;
    for (let seen = Atomics.load(this.signal, 0); seen !== seq; seen = Atomics.load(this.signal, 0)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: worker gave no answer to '${describeRequest(req)}' in ${REQUEST_TIMEOUT_MS} ms; it may have crashed`);
      // Sleeps while the signal still holds `seen`; a stale notify just goes round the loop again.
      Atomics.wait(this.signal, 0, seen, left);
    }
    const got = receiveMessageOnPort(this.port);
    const reply = got?.message as Reply | undefined;
    if (reply === undefined || reply.seq !== seq) {
      throw new Error(`${this.name}: the reply to '${describeRequest(req)}' (request ${seq}) is missing from the channel (got ${reply?.seq ?? 'none'})`);
    }
    if (!reply.ok) {
      const Ctor = reply.name === 'RangeError' ? RangeError : reply.name === 'TypeError' ? TypeError : Error;
      throw new Ctor(reply.message);
    }
    return reply;
  }
}
