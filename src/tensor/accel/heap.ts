/**
 * The float32 heap: CPU storage that lives in the elementwise kernels' linear memory, so the kernels
 * read their operands and write their results in place instead of copying each operand in and each
 * result out. For an add of two 1M-element arrays the three 4 MB copies took 0.8 of the call's 1.0 ms
 * and the kernel itself 0.18 ms; softmax over 1024 x 1024 spent 1.1 of 2.9 ms copying.
 *
 * The memory is a shared `WebAssembly.Memory` (the worker pool's threads compute in it too; growing a
 * shared memory never detaches the arrays already viewing it). This file only hands out and takes
 * back blocks of it; which arrays may live here, and when a block is given back, is the CPU
 * backend's business (cpu/backend.ts):
 * - what is made while no memory scope is open may take only a sixteenth of the budget (see
 *   {@link Float32Heap.storage});
 * - a block belongs to exactly one buffer, and goes back when that buffer is released (dispose, a
 *   memory scope, or the collector's backstop for a forgotten array);
 * - arrays handed outside the engine (`read` results, `hostStorage`) are ordinary memory, never views
 *   of the heap, so no outside reference can see a block after it is reused.
 *
 * Blocks are 64-byte aligned with at least {@link HEAP_SLACK} bytes after the last element: the
 * kernels' last step may read or write past a row's end (up to 12 bytes for most, 60 for sigmoid's
 * four-vector step: wasm-elementwise.ts), and that spill has to land in the block's own slack, not in
 * a neighbour.
 *
 * Allocation: released blocks are kept in lists by exact size (a training step asks for the same sizes
 * every step), and a block that ends at the top of the used region lowers the top instead. Storage is
 * bounded by a budget (`CALM_CPU_HEAP_MB`, default 1024; 0 turns the heap off): past it, buffers are
 * ordinary arrays, which the kernels copy in and out as before. Blocks made outside a memory scope
 * count against a sixteenth of it as well: a scope releases what it made when it closes, but outside
 * one only the collector does, and its finalisers wait for the event loop, so a long synchronous loop
 * (an evaluation) would otherwise fill the whole budget with dead blocks (a 100-step `calm train-ae`
 * peaked at 1488 MiB resident with no such bound, 751 MiB without the heap). Scratch for a single kernel call may go
 * past the budget (it is given back when the call returns). The memory, once grown, is not returned
 * to the system.
 */
import { envSetting } from '../env.js';
import { WASM_PAGE, type WasmMemory } from './wasm-emit.js';

/** Bytes after each block's last element that belong to the block (the kernels' spilled lanes). */
export const HEAP_SLACK = 64;
/** Arrays below this many elements stay ordinary memory: copying them costs less than tracking a block. */
export const HEAP_MIN_ELEMENTS = 1024;

/** Reads CALM_CPU_HEAP_MB: the storage budget in MiB (a non-negative integer; 0 = no heap storage). */
export function heapBudgetSetting(setting: string | undefined = envSetting('CALM_CPU_HEAP_MB')): number {
  if (setting === undefined || setting === '') return 1024;
  const mb = Number(setting);
  if (!Number.isInteger(mb) || mb < 0 || mb > 3072) throw new Error(`CALM_CPU_HEAP_MB: expected an integer from 0 to 3072, got '${setting}'`);
  return mb;
}

/** What a block holds: a kernel call's scratch, or storage made inside or outside a memory scope (the latter counted against the unscoped share). */
type BlockKind = 'scratch' | 'scoped' | 'unscoped';

interface Block {
  readonly at: number;
  readonly bytes: number;
  kind: BlockKind;
}

export interface HeapUsage {
  readonly storageBytes: number;
  readonly unscopedBytes: number;
  readonly storageBlocksTaken: number;
  readonly topBytes: number;
  readonly peakTopBytes: number;
}

const roundUp64 = (bytes: number): number => (bytes + 63) & ~63;

/** Blocks of a shared wasm memory, by exact size, above a bump pointer. */
export class Float32Heap {
  readonly memory: WasmMemory;
  /** Storage bytes allowed (scratch excepted); 0 = no storage here. */
  budgetBytes: number;
  /** The first byte above every block ever handed out and not given back at the top. */
  private top = 0;
  private storageBytes = 0;
  private unscopedBytes = 0;
  private storageTaken = 0;
  private peakTop = 0;
  private readonly spare = new Map<number, Block[]>();
  /** Spare blocks by the byte after their end, so that a released top block can lower the top past them. */
  private readonly spareByEnd = new Map<number, Block>();
  private readonly blocks = new WeakMap<Float32Array, Block>();
  /** The memory's buffer object now, and every earlier one (a shared memory hands out a new object per size). */
  private buffer: ArrayBufferLike;
  private readonly buffers = new WeakSet<ArrayBufferLike>();

  constructor(memory: WasmMemory, budgetBytes: number) {
    this.memory = memory;
    this.budgetBytes = budgetBytes;
    this.buffer = memory.buffer;
    this.buffers.add(this.buffer);
  }

  /**
   * A storage block of n float32s (n >= 1), contents unspecified, or null when the budget is spent.
   * `scoped` says whether a memory scope is open (which will release it); blocks made outside one may
   * take only budget / UNSCOPED_SHARE in all (see the file comment). The caller releases the block with
   * {@link release}.
   */
  storage(n: number, scoped = true): Float32Array | null {
    const bytes = roundUp64(4 * n + HEAP_SLACK);
    if (this.storageBytes + bytes > this.budgetBytes) return null;
    if (!scoped && this.unscopedBytes + bytes > this.budgetBytes / UNSCOPED_SHARE) return null;
    const array = this.take(n, bytes, scoped ? 'scoped' : 'unscoped');
    this.storageBytes += bytes;
    if (!scoped) this.unscopedBytes += bytes;
    this.storageTaken++;
    return array;
  }

  /** A scratch block of n float32s for one kernel call (beyond the budget if need be); release it after the call. */
  scratch(n: number): Float32Array {
    return this.take(n, roundUp64(4 * Math.max(n, 1) + HEAP_SLACK), 'scratch');
  }

  /** Whether `array` is a block handed out by this heap and not yet released. */
  owns(array: Float32Array): boolean {
    return this.blocks.has(array);
  }

  /** Whether `array` views this heap's memory at all (a block or any window onto one). */
  views(array: Float32Array): boolean {
    return this.buffers.has(array.buffer);
  }

  /** Gives a block back; returns false (doing nothing) for an array that is not a live block of this heap. */
  release(array: Float32Array): boolean {
    const block = this.blocks.get(array);
    if (block === undefined) return false;
    this.blocks.delete(array);
    if (block.kind !== 'scratch') this.storageBytes -= block.bytes;
    if (block.kind === 'unscoped') this.unscopedBytes -= block.bytes;
    if (block.at + block.bytes === this.top) {
      this.top = block.at;
      // Spare blocks now at the top go back under it too.
      for (let below = this.spareByEnd.get(this.top); below !== undefined; below = this.spareByEnd.get(this.top)) {
        this.spareByEnd.delete(this.top);
        const list = this.spare.get(below.bytes)!;
        list.splice(list.indexOf(below), 1);
        this.top = below.at;
      }
    } else {
      const list = this.spare.get(block.bytes);
      if (list === undefined) this.spare.set(block.bytes, [block]);
      else list.push(block);
      this.spareByEnd.set(block.at + block.bytes, block);
    }
    return true;
  }

  /** For tests and diagnostics: storage bytes held by live blocks (those made outside a scope apart), storage blocks handed out so far, and the top of the used region, now and at most. */
  usage(): HeapUsage {
    return { storageBytes: this.storageBytes, unscopedBytes: this.unscopedBytes, storageBlocksTaken: this.storageTaken, topBytes: this.top, peakTopBytes: this.peakTop };
  }

  private take(n: number, bytes: number, kind: BlockKind): Float32Array {
    let block = this.spare.get(bytes)?.pop();
    if (block !== undefined) {
      this.spareByEnd.delete(block.at + block.bytes);
      block.kind = kind;
    } else {
      block = { at: this.top, bytes, kind };
      this.grow(this.top + bytes);
      this.top += bytes;
      this.peakTop = Math.max(this.peakTop, this.top);
    }
    const array = new Float32Array(this.buffer, block.at, n);
    this.blocks.set(array, block);
    return array;
  }

  /** Grows the memory to hold `bytes` (by at least half again, so that growth is rare). */
  private grow(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) {
      const pages = Math.ceil(Math.max(bytes - have, have / 2) / WASM_PAGE);
      const most = MAX_HEAP_PAGES - have / WASM_PAGE;
      if (Math.ceil((bytes - have) / WASM_PAGE) > most) throw new RangeError(`Float32Heap: ${bytes} bytes exceed the 4 GiB a wasm memory can address`);
      this.memory.grow(Math.min(pages, most));
    }
    if (this.buffer.byteLength !== this.memory.buffer.byteLength) {
      this.buffer = this.memory.buffer;
      this.buffers.add(this.buffer);
    }
  }
}

/** Blocks made outside a memory scope may take this fraction (1 / UNSCOPED_SHARE) of the budget. */
export const UNSCOPED_SHARE = 16;

/** A wasm32 memory's most pages (4 GiB). */
export const MAX_HEAP_PAGES = 65536;
