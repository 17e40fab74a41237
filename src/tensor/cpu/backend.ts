/**
 * The CPU reference backend: a generic runner over the op table (`src/tensor/ops`).
 *
 * `run(op, views, attrs)` hands the entry's `cpu` function the views' typed arrays; every entry
 * accepts arbitrary strided views, walking them row by row (see strided.ts), and computes in JS
 * doubles rounded once when stored into the output's typed array. This file only owns memory:
 * buffers are typed arrays with a disposed flag, and a released array goes back for reuse (recycle.ts)
 * when nothing else can see it.
 */
import type { Backend, BackendBuffer, View } from '../backend.js';
import { allocTyped, dtypeOfTyped, type DType, type TypedArray } from '../dtype.js';
import { opEntry, type CpuView, type OpAttrs, type OpName } from '../ops/index.js';
import { materialize } from './strided.js';
import { CPU_ACCEL, cpuAccelEnabled } from '../accel/index.js';
import { profiling, recordOp } from '../profile.js';
import { offerRecycled } from '../recycle.js';

/** A CPU buffer: a typed array plus a disposed flag. */
export class CpuBuffer implements BackendBuffer {
  readonly backend = 'cpu';
  readonly dtype: DType;
  readonly size: number;
  private store: TypedArray | null;

  constructor(data: TypedArray) {
    this.store = data;
    this.dtype = dtypeOfTyped(data);
    this.size = data.length;
  }

  get disposed(): boolean {
    return this.store === null;
  }

  /** The storage; throws naming `op` if the buffer was disposed. */
  dataFor(op: string): TypedArray {
    if (this.store === null) throw new Error(`cpu.${op}: buffer (${this.dtype}, ${this.size} elements) was already disposed`);
    return this.store;
  }

  /** Releases the storage; returns the released array, or null if it was already released. */
  release(): TypedArray | null {
    const store = this.store;
    this.store = null;
    return store;
  }
}

/**
 * Which released arrays may be reused (recycle.ts): the backend counts the live buffers that wrap each
 * ArrayBuffer (no op returns a view of an input's storage today, but one that did would make two
 * buffers share one) and remembers the ones handed out by `hostStorage`, which code outside the engine
 * may still hold.
 */
const wrappers = new WeakMap<ArrayBufferLike, number>();
const handedOut = new WeakSet<ArrayBufferLike>();

function addWrapper(data: TypedArray): void {
  wrappers.set(data.buffer, (wrappers.get(data.buffer) ?? 0) + 1);
}

/** Drops one wrapper of `data`'s buffer; offers the array for reuse when it was the last and nothing else can see it. */
function dropWrapper(data: TypedArray): void {
  const left = (wrappers.get(data.buffer) ?? 1) - 1;
  wrappers.set(data.buffer, left);
  const ownsItsBuffer = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer;
  if (left === 0 && ownsItsBuffer && !handedOut.has(data.buffer)) offerRecycled(dtypeOfTyped(data), data);
}

/**
 * The reference backend (name `cpu`).
 *
 * `liveBuffers()` counts buffers created and not yet disposed. A buffer that is garbage-collected
 * without `dispose` still counts: the CPU backend does not track GC (memory is reclaimed anyway).
 */
export class CpuBackend implements Backend {
  readonly name = 'cpu';
  readonly hostMemory = true;
  private live = 0;
  /** Whether accelerations run (CALM_CPU_ACCEL, read once). */
  private readonly accel = cpuAccelEnabled();

  // ---------------------------------------------------------------- memory

  allocate(size: number, dtype: DType): BackendBuffer {
    return this.wrap(allocTyped(dtype, size));
  }

  upload(data: TypedArray): BackendBuffer {
    return this.wrap(data.slice());
  }

  read(view: View): TypedArray {
    return materialize(this.data('read', view), view);
  }

  dispose(buffer: BackendBuffer): void {
    const released = this.asCpu('dispose', buffer).release();
    if (released === null) return;
    this.live--;
    dropWrapper(released);
  }

  liveBuffers(): number {
    return this.live;
  }

  hostStorage(buffer: BackendBuffer): TypedArray {
    const data = this.asCpu('hostStorage', buffer).dataFor('hostStorage');
    handedOut.add(data.buffer); // never reused: the caller may keep a window onto it
    return data;
  }

  // ---------------------------------------------------------------- ops

  run<K extends OpName>(op: K, inputs: readonly View[], attrs: OpAttrs<K>): BackendBuffer {
    const entry = opEntry(op);
    const views: CpuView[] = inputs.map((v) => ({ ...v, data: this.data(op, v), dtype: v.buffer.dtype }));
    const t0 = profiling() ? performance.now() : 0;
    // An acceleration (src/tensor/accel) answers first when it covers the case; else the reference.
    const fast = this.accel ? CPU_ACCEL[op] : undefined;
    const result = (fast === undefined ? null : fast(views, attrs as never)) ?? entry.cpu(views, attrs);
    if (t0 !== 0) recordOp(op, attrs, performance.now() - t0, result.length, dtypeOfTyped(result));
    return this.wrap(result);
  }

  // ---------------------------------------------------------------- helpers

  private wrap(data: TypedArray): CpuBuffer {
    this.live++;
    addWrapper(data);
    return new CpuBuffer(data);
  }

  private asCpu(op: string, buffer: BackendBuffer): CpuBuffer {
    if (!(buffer instanceof CpuBuffer)) throw new Error(`cpu.${op}: buffer belongs to backend '${buffer.backend}', not 'cpu'`);
    return buffer;
  }

  private data(op: string, view: View): TypedArray {
    return this.asCpu(op, view.buffer).dataFor(op);
  }
}
