/**
 * The main-thread half of a gpu.js backend that does not depend on its transport: buffer ids and the live
 * count, the checks on views before they are sent, upload / read / dispose, and one `run` message per
 * primitive of the op table. Node (`backend.ts`, worker_threads) and the browser (`browser-backend.ts`, a
 * Web Worker over shared memory) each supply `request`, which posts one request and blocks until its reply.
 *
 * Storage is float32 on the device for every dtype, so int32 values past 2^24 and tensors past 2^24
 * elements are refused on upload (float32 index arithmetic is exact only below that).
 */
import type { Backend, BackendBuffer, View } from '../backend.js';
import type { DType, TypedArray } from '../dtype.js';
import { dtypeOfTyped } from '../dtype.js';
import { MAX_EXACT_ELEMENTS, opEntry, type OpAttrs, type OpName } from '../ops/index.js';
import { profiling, recordOp } from '../profile.js';
import { sizeOf } from '../shape.js';
import type { Request, WireView } from './protocol.js';

/** A buffer held by the worker, named on this side by its id. */
class DeviceBuffer implements BackendBuffer {
  disposed = false;
  constructor(
    readonly backend: string,
    readonly size: number,
    readonly dtype: DType,
    readonly id: number,
  ) {}
}

export abstract class WorkerBackend implements Backend {
  abstract readonly name: string;
  private nextId = 1;
  private live = 0;
  /** Set by `close`: requests are refused, late disposes are no-ops. */
  protected closed = false;

  /** Posts one request to the worker and blocks until its reply; throws the worker's error. */
  protected abstract request(req: Request): { readonly data?: Float32Array };

  private wire(op: string, v: View): WireView {
    const b = v.buffer;
    if (!(b instanceof DeviceBuffer) || b.backend !== this.name) throw new TypeError(`${this.name} ${op}: buffer belongs to backend '${b.backend}'`);
    if (b.disposed) throw new Error(`${this.name} ${op}: buffer ${b.id} was disposed`);
    return { id: b.id, size: b.size, dtype: b.dtype, shape: v.shape, strides: v.strides, offset: v.offset };
  }

  /** Sends an op that writes a new buffer; the buffer is only counted once the op succeeded. */
  private produce(size: number, dtype: DType, build: (out: number) => Request): DeviceBuffer {
    const id = this.nextId++;
    this.request(build(id));
    this.live++;
    return new DeviceBuffer(this.name, size, dtype, id);
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
    if (!(buffer instanceof DeviceBuffer) || buffer.disposed) return;
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
