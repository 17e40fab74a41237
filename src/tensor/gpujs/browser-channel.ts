/**
 * The shared-memory reply channel between a browser thread that runs calm-ts (a Web Worker; its Backend
 * calls are synchronous) and the Web Worker that runs gpu.js (`browser-worker.ts`; its kernels are
 * async). The Node backend takes replies with `receiveMessageOnPort` while blocked; browsers have no
 * such call, so replies are written into SharedArrayBuffers instead: requests go out with
 * postMessage, replies come back here, and the caller sleeps on `ctrl[SEQ]` with Atomics.wait (allowed
 * in workers, never on a page's main thread). SharedArrayBuffer needs a cross-origin-isolated page
 * (COOP same-origin + COEP require-corp), which `npm run play`'s server sends.
 */

/** Slots of the control array (Int32Array over a SharedArrayBuffer). */
export const SEQ = 0; // sequence number of the last reply written (the Atomics signal)
export const OK = 1; // 1: success, 0: error (JSON {name, message} in the text buffer)
export const DATA_LENGTH = 2; // float32 values in the data buffer, or -1 for none
export const TEXT_LENGTH = 3; // bytes of JSON in the text buffer (stats or error), or 0
export const GROW = 4; // > 0: the reply needs this many floats; send a bigger data buffer (a `grow` message)
export const CTRL_SLOTS = 8;

/** Initial sizes: 1 Mi floats of data (grown on demand) and 64 KiB of JSON text. */
export const INITIAL_DATA_FLOATS = 1 << 20;
export const TEXT_BYTES = 1 << 16;

/** The buffers, as passed to the gpu worker in its `setup` message. */
export interface ChannelBuffers {
  readonly ctrl: SharedArrayBuffer;
  readonly data: SharedArrayBuffer;
  readonly text: SharedArrayBuffer;
}

export function createChannelBuffers(): ChannelBuffers {
  return {
    ctrl: new SharedArrayBuffer(CTRL_SLOTS * 4),
    data: new SharedArrayBuffer(INITIAL_DATA_FLOATS * 4),
    text: new SharedArrayBuffer(TEXT_BYTES),
  };
}

/** Copies `length` bytes of JSON out of shared memory (TextDecoder refuses shared views) and parses them. */
export function readText(text: SharedArrayBuffer, length: number): unknown {
  const copy = new Uint8Array(length);
  copy.set(new Uint8Array(text, 0, length));
  return JSON.parse(new TextDecoder().decode(copy));
}

/** Writes `value` as JSON into shared memory; returns the byte count (truncated messages keep valid JSON). */
export function writeText(text: SharedArrayBuffer, value: unknown): number {
  let bytes = new TextEncoder().encode(JSON.stringify(value));
  if (bytes.length > text.byteLength) bytes = new TextEncoder().encode(JSON.stringify({ name: 'Error', message: 'reply too long for the channel' }));
  new Uint8Array(text).set(bytes);
  return bytes.length;
}
