/**
 * The CPU reference backend: a generic runner over the op table (`src/tensor/ops`).
 *
 * `run(op, views, attrs)` hands the entry's `cpu` function the views' typed arrays; every entry
 * accepts arbitrary strided views, walking them row by row (see strided.ts), and computes in JS
 * doubles rounded once when stored into the output's typed array. This file only owns memory:
 * buffers are typed arrays with a disposed flag, and a released array goes back for reuse (recycle.ts)
 * when nothing else can see it.
 *
 * Large float32 buffers live in the wasm kernels' heap when it has room (accel/heap.ts; those made
 * outside a memory scope in a small share of it), so that the kernels read and write them in place. The
 * rules that keep that safe are kept here:
 * - each heap block belongs to one buffer; an op result that is already some buffer's block, or a
 *   window onto one, is copied to ordinary memory before it is wrapped (no op returns such a thing
 *   today);
 * - the block goes back to the heap when its buffer is released, or when the collector reclaims a
 *   buffer nobody disposed;
 * - nothing handed outside the engine is a view of the heap: `read` copies, and `hostStorage` first
 *   moves the buffer to ordinary memory (the caller may keep that window for as long as it likes).
 */
import type { Backend, BackendBuffer, View } from '../backend.js';
import { allocTyped, copyTyped, dtypeOfTyped, type DType, type TypedArray } from '../dtype.js';
import { opEntry, type CpuView, type OpAttrs, type OpName } from '../ops/index.js';
import { materialize } from './strided.js';
import { isContiguous, sizeOf } from '../shape.js';
import { CPU_ACCEL, cpuAccelEnabled, cpuHeap } from '../accel/index.js';
import type { Float32Heap } from '../accel/heap.js';
import { heapStorage } from '../accel/kernels.js';
import { profiling, recordOp } from '../profile.js';
import { offerRecycled } from '../recycle.js';
import { primeMallocReuse } from './malloc-prime.js';

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

  /** Swaps in a copy of the storage held elsewhere (the backend moving it out of the heap). */
  replaceStore(data: TypedArray): void {
    if (this.store === null || data.length !== this.size || dtypeOfTyped(data) !== this.dtype) throw new Error(`cpu: cannot replace the storage of a ${this.store === null ? 'disposed ' : ''}buffer (${this.dtype}, ${this.size} elements)`);
    this.store = data;
  }
}

/**
 * Gives a heap block back when the collector reclaims a buffer that was never released. Registered
 * without an unregister token (the token cost 5-7 % of a small op's time): a buffer released first
 * leaves a stale entry, and releasing its block array again does nothing (the heap hands out a new
 * array object each time it reuses a block, so the stale one is no longer a live block).
 */
const heapBackstop = new FinalizationRegistry<{ heap: Float32Heap; block: Float32Array }>(({ heap, block }) => heap.release(block));

/**
 * Which released arrays may be reused (recycle.ts): the backend counts the live buffers that wrap each
 * ArrayBuffer (no op returns a view of an input's storage today, but one that did would make two
 * buffers share one) and remembers the ones handed out by `hostStorage`, which code outside the engine
 * may still hold.
 */
const wrappers = new WeakMap<ArrayBufferLike, number>();
/** Heap blocks some buffer wraps (each may have one: see the file comment). */
const heapWrapped = new WeakSet<Float32Array>();
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
  /** Where large float32 storage lives when it can (null: ordinary memory only). */
  private readonly heap = this.accel ? cpuHeap() : null;

  constructor() {
    primeMallocReuse();
  }

  // ---------------------------------------------------------------- memory

  allocate(size: number, dtype: DType): BackendBuffer {
    return this.wrap(this.heapStorage(size, dtype)?.fill(0) ?? allocTyped(dtype, size));
  }

  upload(data: TypedArray): BackendBuffer {
    const block = this.heapStorage(data.length, dtypeOfTyped(data));
    if (block === null) return this.wrap(copyTyped(data));
    block.set(data);
    return this.wrap(block);
  }

  read(view: View): TypedArray {
    const data = this.data('read', view);
    const n = sizeOf(view.shape);
    // A contiguous view is one copy (copyTyped), where a zeroed array and a copy into it write the
    // memory twice. Always ordinary memory, even from a heap block.
    if (isContiguous(view.shape, view.strides)) return copyTyped(data, view.offset, view.offset + n);
    return materialize(data, view);
  }

  dispose(buffer: BackendBuffer): void {
    const released = this.asCpu('dispose', buffer).release();
    if (released === null) return;
    this.live--;
    if (this.heap === null || !(released instanceof Float32Array) || !this.heap.release(released)) dropWrapper(released);
  }

  liveBuffers(): number {
    return this.live;
  }

  hostStorage(buffer: BackendBuffer): TypedArray {
    const cpu = this.asCpu('hostStorage', buffer);
    let data = cpu.dataFor('hostStorage');
    if (this.heap !== null && data instanceof Float32Array && this.heap.owns(data)) {
      // The caller may keep this window after the buffer is gone, when the block would be reused: move
      // the storage to ordinary memory first.
      const block = data;
      data = copyTyped(block);
      cpu.replaceStore(data);
      this.heap.release(block);
      addWrapper(data);
    }
    handedOut.add(data.buffer); // never reused: the caller may keep a window onto it
    return data;
  }

  // ---------------------------------------------------------------- ops

  run<K extends OpName>(op: K, inputs: readonly View[], attrs: OpAttrs<K>): BackendBuffer {
    const entry = opEntry(op);
    // A literal of one shape (a spread of the callers' views, which come in several shapes, took a
    // quarter of a small op's time in V8's generic object-copy path).
    const views: CpuView[] = inputs.map((v) => ({ data: this.data(op, v), dtype: v.buffer.dtype, shape: v.shape, strides: v.strides, offset: v.offset }));
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
    if (this.heap !== null && data instanceof Float32Array && this.heap.views(data)) {
      if (this.heap.owns(data) && !heapWrapped.has(data)) {
        heapWrapped.add(data);
        const buffer = new CpuBuffer(data);
        heapBackstop.register(buffer, { heap: this.heap, block: data });
        return buffer;
      }
      data = copyTyped(data); // a second wrapper of a block, or a window onto one: see the file comment
    }
    addWrapper(data);
    return new CpuBuffer(data);
  }

  /** A heap block for `size` elements of `dtype` when they belong there (large float32) and the heap has room, else null. */
  private heapStorage(size: number, dtype: DType): Float32Array | null {
    return this.heap !== null && dtype === 'float32' ? heapStorage(size) : null;
  }

  private asCpu(op: string, buffer: BackendBuffer): CpuBuffer {
    if (!(buffer instanceof CpuBuffer)) throw new Error(`cpu.${op}: buffer belongs to backend '${buffer.backend}', not 'cpu'`);
    return buffer;
  }

  private data(op: string, view: View): TypedArray {
    return this.asCpu(op, view.buffer).dataFor(op);
  }
}
