/**
 * The gpu.js side of the browser backend, run as a module Web Worker (`browser-backend.ts` starts it).
 * It owns the same {@link Engine} as the Node worker, in gpu.js's browser build: `webgpu` on the
 * browser's own navigator.gpu, or `webgl2` on an OffscreenCanvas. Requests arrive as messages; replies
 * are written into the shared buffers of `browser-channel.ts`, then the sequence number is stored and
 * notified, so the blocked caller wakes.
 */
import { Engine, type GpuConstructor } from './engine.js';
import { DATA_LENGTH, GROW, OK, SEQ, TEXT_LENGTH, writeText, type ChannelBuffers } from './browser-channel.js';
import type { Envelope } from './protocol.js';

/** What this file needs of a worker's global scope (the project compiles without the DOM library). */
interface WorkerScope {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  GPU?: GpuConstructor;
  OffscreenCanvas?: new (w: number, h: number) => { getContext(kind: string): WebGl | null };
  navigator: { gpu?: { requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string; description?: string } } | null> } };
}
interface WebGl {
  getExtension(name: string): { UNMASKED_RENDERER_WEBGL: number } | null;
  getParameter(p: number): unknown;
  RENDERER: number;
}

/** First message: the mode, the shared buffers and where gpu.js's browser build is served. */
export interface SetupMessage {
  readonly kind: 'setup';
  readonly mode: 'webgpu' | 'webgl2';
  readonly gpuScript: string;
  readonly buffers: ChannelBuffers;
}

const scope = globalThis as unknown as WorkerScope;
let engine: Engine | null = null;
let ctrl: Int32Array;
let text: SharedArrayBuffer;
let data: Float32Array;
let pending: Float32Array | null = null; // a reply that did not fit, kept until a `grow` brings room

/** What the page shows as the device: the WebGL renderer string (SwiftShader, ANGLE ...) or the WebGPU adapter. */
async function describeDevice(mode: 'webgpu' | 'webgl2'): Promise<string> {
  try {
    if (mode === 'webgpu') {
      const info = (await scope.navigator.gpu?.requestAdapter())?.info;
      return `WebGPU ${[info?.vendor, info?.architecture, info?.description].filter((s) => s).join(' ') || 'adapter'}`;
    }
    const gl = scope.OffscreenCanvas === undefined ? null : new scope.OffscreenCanvas(1, 1).getContext('webgl2');
    if (gl === null) return 'WebGL2';
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    return `WebGL2 ${String(gl.getParameter(ext === null ? gl.RENDERER : ext.UNMASKED_RENDERER_WEBGL))}`;
  } catch {
    return mode;
  }
}

function reply(seq: number, ok: boolean, payload: { data?: Float32Array; json?: unknown }): void {
  ctrl[OK] = ok ? 1 : 0;
  ctrl[TEXT_LENGTH] = payload.json === undefined ? 0 : writeText(text, payload.json);
  ctrl[GROW] = 0;
  ctrl[DATA_LENGTH] = -1;
  if (payload.data !== undefined) {
    if (payload.data.length > data.length) {
      pending = payload.data; // the caller sends a bigger buffer, then waits for its next sequence number
      ctrl[GROW] = payload.data.length;
    } else {
      data.set(payload.data);
      ctrl[DATA_LENGTH] = payload.data.length;
    }
  }
  Atomics.store(ctrl, SEQ, seq);
  Atomics.notify(ctrl, SEQ);
}

scope.addEventListener('message', (event) => {
  const msg = event.data as SetupMessage | Envelope | { kind: 'grow'; seq: number; data: SharedArrayBuffer };
  void (async () => {
    if ('kind' in msg && msg.kind === 'setup') {
      // Setup answers with postMessage: the caller awaits it asynchronously, before it ever blocks.
      try {
        ctrl = new Int32Array(msg.buffers.ctrl);
        text = msg.buffers.text;
        data = new Float32Array(msg.buffers.data);
        await import(msg.gpuScript); // gpu.js's browser build sets globalThis.GPU
        if (scope.GPU === undefined) throw new Error(`${msg.gpuScript} did not define GPU`);
        engine = await Engine.create(msg.mode, { GPU: scope.GPU, adapter: await describeDevice(msg.mode) });
        scope.postMessage({ kind: 'ready', stats: engine.stats() });
      } catch (err) {
        scope.postMessage({ kind: 'failed', message: err instanceof Error ? err.message : String(err) });
      }
      return;
    }
    if ('kind' in msg && msg.kind === 'grow') {
      data = new Float32Array(msg.data);
      const d = pending;
      pending = null;
      reply(msg.seq, true, { data: d ?? new Float32Array(0) });
      return;
    }
    const { seq, req } = msg as Envelope;
    try {
      if (engine === null) throw new Error('gpujs browser worker: request before setup');
      const out = await engine.handle(req);
      reply(seq, true, req.kind === 'stats' ? { json: engine.stats() } : { data: out });
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      reply(seq, false, { json: { name: e.name, message: e.message } });
    }
  })();
});
