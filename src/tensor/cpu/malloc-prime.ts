/**
 * Lets the C allocator reuse large freed blocks, so that a fresh typed array (a read-back, a result
 * outside the wasm heap) is not paid for in first-touch page faults every time.
 *
 * Why: V8 takes ArrayBuffer memory from malloc. glibc's malloc serves a request at or above its mmap
 * threshold (128 KiB to start with) with a fresh mapping and unmaps it when it is freed, so every new
 * 4 MB array faults its 1,024 pages in again: on this project's VM, reading a 1024 x 1024 result back
 * cost 2-3 ms of faults where the copy itself takes 0.3 ms. glibc does raise the threshold when a
 * mapped block is freed, but only to that block's size, which a later request of the same size still
 * meets, so a program that allocates one large size over and over keeps mapping it. Freeing one mapped
 * block of PRIME_BYTES raises the threshold above every smaller request for good: from the collector's
 * first pass on, such requests come from malloc's own heap and reuse freed memory (glibc then keeps up
 * to twice the threshold free instead of returning it to the system).
 *
 * The block is never touched, so it costs address space only; where the allocator is not glibc the
 * allocation and its release are all that happens. `CALM_CPU_RECYCLE=off` (recycle.ts) skips this too.
 */
import { recyclingSetting } from '../recycle.js';

/** Just under glibc's 32 MiB cap on the dynamic mmap threshold (a block over the cap leaves it alone). */
export const PRIME_BYTES = 30 * 2 ** 20;

let primed = false;

/** Allocates and drops one PRIME_BYTES block, once per process, on Linux (see the file comment). */
export function primeMallocReuse(): void {
  if (primed) return;
  primed = true;
  if (typeof process === 'undefined' || process.platform !== 'linux' || !recyclingSetting()) return;
  void new ArrayBuffer(PRIME_BYTES);
}
