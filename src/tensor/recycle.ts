/**
 * Reuse of released CPU storage. When the CPU backend releases a buffer (its last array disposed by
 * `dispose`, a memory scope or the garbage-collection backstop), the typed array is kept here by
 * dtype and length, and the next `allocTyped` of that size takes it back, zeroed, instead of
 * allocating a new one.
 *
 * Why: a training step allocates the same sizes every step, and the trainer's memory scope releases
 * them all when the step ends. A fresh typed array costs the allocator's zeroing (or first-touch page
 * faults for large ones), and the external memory it adds makes V8 run its mark-compact collector
 * about once a step. Reusing the previous step's arrays measured one CALM training step at the demo's
 * configuration (bench/calm-step.ts) 13-15 % faster.
 *
 * What may come back is the CPU backend's decision (cpu/backend.ts): only an array that owns its whole
 * ArrayBuffer, that no live buffer still wraps, and that was never handed out by `hostStorage`
 * (`NDArray.hostElements`), so nothing outside the engine can still see it. Small arrays are left to
 * V8, and the pool is bounded. `CALM_CPU_RECYCLE=off` turns it off.
 */
import { envSetting } from './env.js';

/**
 * dtype.ts's TypedArray and DType, spelled out here because dtype.ts's allocTyped imports this file
 * (an import back would be a cycle).
 */
type TypedArray = Float32Array | Float64Array | Int32Array;
type DType = 'float32' | 'float64' | 'int32';

/** Arrays below this many elements are not kept: V8 allocates them cheaply. */
export const RECYCLE_MIN_ELEMENTS = 4096;
/** At most this many arrays of one dtype and length are kept. */
const MAX_PER_SIZE = 256;
/** At most this many bytes are kept in all; an offer beyond it is dropped (left to the collector). */
export const RECYCLE_MAX_BYTES = 256 * 2 ** 20;

const kept = new Map<string, TypedArray[]>();
let keptBytes = 0;
let enabled = recyclingSetting();

/** Reads CALM_CPU_RECYCLE: on (default) or off. */
export function recyclingSetting(setting: string | undefined = envSetting('CALM_CPU_RECYCLE')): boolean {
  if (setting === undefined || setting === '' || setting === 'on') return true;
  if (setting === 'off') return false;
  throw new Error(`CALM_CPU_RECYCLE: expected 'on' or 'off', got '${setting}'`);
}

/** Turns reuse on or off (tests compare both); off also empties the pool. Returns the previous state. */
export function setRecycling(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  if (!on) clearRecycled();
  return previous;
}

/** Drops every kept array. */
export function clearRecycled(): void {
  kept.clear();
  keptBytes = 0;
}

/** Bytes kept right now (for tests and diagnostics). */
export function recycledBytes(): number {
  return keptBytes;
}

const keyOf = (dtype: DType, length: number): string => `${dtype}:${length}`;

/** A kept array of this dtype and length, zero-filled, or undefined. */
export function takeRecycled(dtype: DType, length: number): TypedArray | undefined {
  if (!enabled || length < RECYCLE_MIN_ELEMENTS) return undefined;
  const array = kept.get(keyOf(dtype, length))?.pop();
  if (array === undefined) return undefined;
  keptBytes -= array.byteLength;
  return array.fill(0);
}

/**
 * Keeps `array` (of `dtype`) for a later {@link takeRecycled}. The caller guarantees that nothing else
 * refers to it (the CPU backend's checks); returns whether it was kept.
 */
export function offerRecycled(dtype: DType, array: TypedArray): boolean {
  if (!enabled || array.length < RECYCLE_MIN_ELEMENTS || keptBytes + array.byteLength > RECYCLE_MAX_BYTES) return false;
  const key = keyOf(dtype, array.length);
  let list = kept.get(key);
  if (list === undefined) kept.set(key, (list = []));
  if (list.length >= MAX_PER_SIZE) return false;
  list.push(array);
  keptBytes += array.byteLength;
  return true;
}
