/**
 * The gpu.js backend: every Backend primitive as gpu.js kernels, in gpu.js's `webgpu`, `webasm` or
 * `cpu` mode (backend names `gpujs-webgpu`, `gpujs-webasm`, `gpujs-cpu`).
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
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { Backend, BackendBuffer, BinaryOp, ReduceOp, UnaryOp, View } from '../backend.js';
import type { DType, TypedArray } from '../dtype.js';
import { dtypeOfTyped } from '../dtype.js';
import { fmtShape, sizeOf, type Shape } from '../shape.js';
import { MAX_EXACT_ELEMENTS } from './kernels.js';
import type { EngineStats, Reply, Request, WireView } from './protocol.js';
import type { GpujsMode } from './setup.js';

/** How long a request may take before the worker is presumed dead. */
const REQUEST_TIMEOUT_MS = 600_000;

/** Unary ops whose result is not an integer for integer input (truncated for int32). */
const FRACTIONAL_UNARY: ReadonlySet<UnaryOp> = new Set<UnaryOp>([
  'exp', 'log', 'sqrt', 'reciprocal', 'sin', 'cos', 'tanh', 'sigmoid',
]);

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

  private request(req: Request): Reply & { ok: true } {
    if (this.closed) throw new Error(`${this.name}: backend is closed (request ${req.kind})`);
    Atomics.store(this.signal, 0, 0);
    this.port.postMessage(req);
    const waited = Atomics.wait(this.signal, 0, 0, REQUEST_TIMEOUT_MS);
    const got = receiveMessageOnPort(this.port);
    if (got === undefined) {
      throw new Error(`${this.name}: worker gave no answer to '${req.kind}' (${waited}); it may have crashed`);
    }
    const reply = got.message as Reply;
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
    return { id: b.id, size: b.size, shape: v.shape, strides: v.strides, offset: v.offset };
  }

  /** Sends an op that writes a new buffer; the buffer is only counted once the op succeeded. */
  private produce(size: number, dtype: DType, build: (out: number) => Request): GpujsBuffer {
    const id = this.nextId++;
    this.request(build(id));
    this.live++;
    return new GpujsBuffer(this.name, size, dtype, id);
  }

  allocate(size: number, dtype: DType): BackendBuffer {
    return this.fill(size, 0, dtype);
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

  copy(x: View): BackendBuffer {
    return this.produce(sizeOf(x.shape), x.buffer.dtype, (out) => ({ kind: 'copy', out, x: this.wire('copy', x) }));
  }

  fill(size: number, value: number, dtype: DType): BackendBuffer {
    if (size > MAX_EXACT_ELEMENTS) {
      throw new RangeError(`${this.name} fill: ${size} elements is more than 2^24 (float32 indexing would not be exact)`);
    }
    const v = dtype === 'int32' ? Math.trunc(value) : value;
    return this.produce(size, dtype, (out) => ({ kind: 'fill', out, size, value: v }));
  }

  cast(x: View, dtype: DType): BackendBuffer {
    const from = x.buffer.dtype;
    return this.produce(sizeOf(x.shape), dtype, (out) => ({ kind: 'cast', out, x: this.wire('cast', x), from, to: dtype }));
  }

  unary(op: UnaryOp, x: View): BackendBuffer {
    const dtype = x.buffer.dtype;
    const r = this.produce(sizeOf(x.shape), dtype, (out) => ({ kind: 'unary', out, op, x: this.wire(op, x) }));
    if (dtype !== 'int32' || !FRACTIONAL_UNARY.has(op)) return r;
    // int32 results are stored truncated, as an Int32Array would hold them.
    const t = this.cast(this.contiguousView(r, x.shape), 'int32');
    this.dispose(r);
    return t;
  }

  private contiguousView(buffer: BackendBuffer, shape: Shape): View {
    const strides = new Array<number>(shape.length);
    let s = 1;
    for (let i = shape.length - 1; i >= 0; i--) {
      strides[i] = s;
      s *= shape[i];
    }
    return { buffer, shape, strides, offset: 0 };
  }

  binary(op: BinaryOp, a: View, b: View): BackendBuffer {
    const dtype = a.buffer.dtype;
    const truncate = dtype === 'int32' && (op === 'div' || op === 'pow');
    return this.produce(sizeOf(a.shape), dtype, (out) => ({
      kind: 'binary',
      out,
      op,
      a: this.wire(op, a),
      b: this.wire(op, b),
      truncate,
    }));
  }

  where(cond: View, a: View, b: View): BackendBuffer {
    return this.produce(sizeOf(a.shape), a.buffer.dtype, (out) => ({
      kind: 'where',
      out,
      c: this.wire('where', cond),
      a: this.wire('where', a),
      b: this.wire('where', b),
    }));
  }

  reduce(op: ReduceOp, x: View, axes: readonly number[]): BackendBuffer {
    const dtype: DType = op === 'argmax' || op === 'argmin' ? 'int32' : x.buffer.dtype;
    let size = 1;
    for (let i = 0; i < x.shape.length; i++) if (!axes.includes(i)) size *= x.shape[i];
    return this.produce(size, dtype, (out) => ({ kind: 'reduce', out, op, x: this.wire(op, x), axes }));
  }

  matmul(a: View, b: View): BackendBuffer {
    const r = a.shape.length;
    if (r < 2 || b.shape.length !== r) {
      throw new RangeError(`${this.name} matmul: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} are not batched matrices of equal rank`);
    }
    const outSize = sizeOf([...a.shape.slice(0, r - 1), b.shape[r - 1]]);
    return this.produce(outSize, a.buffer.dtype, (out) => ({
      kind: 'matmul',
      out,
      a: this.wire('matmul', a),
      b: this.wire('matmul', b),
    }));
  }

  gather(x: View, indices: View, axis: number): BackendBuffer {
    const size = sizeOf([...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)]);
    return this.produce(size, x.buffer.dtype, (out) => ({
      kind: 'gather',
      out,
      x: this.wire('gather', x),
      indices: this.wire('gather', indices),
      axis,
    }));
  }

  scatterAdd(src: View, indices: View, axis: number, axisSize: number): BackendBuffer {
    const ir = indices.shape.length;
    const size = sizeOf([...src.shape.slice(0, axis), axisSize, ...src.shape.slice(axis + ir)]);
    return this.produce(size, src.buffer.dtype, (out) => ({
      kind: 'scatterAdd',
      out,
      src: this.wire('scatterAdd', src),
      indices: this.wire('scatterAdd', indices),
      axis,
      axisSize,
    }));
  }

  concat(xs: readonly View[], axis: number): BackendBuffer {
    if (xs.length === 0) throw new RangeError(`${this.name} concat: no views to join`);
    let size = 0;
    for (const x of xs) size += sizeOf(x.shape);
    return this.produce(size, xs[0].buffer.dtype, (out) => ({
      kind: 'concat',
      out,
      xs: xs.map((x) => this.wire('concat', x)),
      axis,
    }));
  }

  // ---- fused ops (optional in the Backend interface; see src/tensor/fused.ts) ----

  softmaxRows(x: View): BackendBuffer {
    return this.produce(sizeOf(x.shape), x.buffer.dtype, (out) => ({ kind: 'softmaxRows', out, x: this.wire('softmaxRows', x) }));
  }

  siluMul(a: View, b: View): BackendBuffer {
    return this.produce(sizeOf(a.shape), a.buffer.dtype, (out) => ({
      kind: 'siluMul',
      out,
      a: this.wire('siluMul', a),
      b: this.wire('siluMul', b),
    }));
  }

  unslice(x: View, outShape: Shape, starts: readonly number[], steps: readonly number[]): BackendBuffer {
    return this.produce(sizeOf(outShape), x.buffer.dtype, (out) => ({
      kind: 'unslice',
      out,
      x: this.wire('unslice', x),
      outShape,
      starts,
      steps,
    }));
  }
}
