/**
 * Messages between the gpu.js backend (main thread) and its worker: memory messages (init, upload,
 * read, dispose, stats) and one `run` message that runs any primitive of the op table
 * (`src/tensor/ops`). Every request carries a sequence number and gets exactly one reply with the
 * same number; the main thread blocks until the shared signal holds that number (see `backend.ts`).
 */
import type { DType } from '../dtype.js';
import type { OpName, WireView } from '../ops/index.js';

/** The gpu.js modes calm-ts runs: WebGPU (Dawn), WebAssembly, and gpu.js's JavaScript CPU mode. */
export type GpujsMode = 'webgpu' | 'webasm' | 'cpu';

export type { WireView };

export type Request =
  | { readonly kind: 'init'; readonly mode: GpujsMode }
  | { readonly kind: 'upload'; readonly out: number; readonly data: Float32Array }
  | { readonly kind: 'read'; readonly x: WireView }
  | { readonly kind: 'dispose'; readonly id: number }
  | { readonly kind: 'stats' }
  | {
      readonly kind: 'run';
      readonly op: OpName;
      /** The id of the result buffer. */
      readonly out: number;
      /** The result's dtype (the entry's dtype rule, applied on the main thread). */
      readonly dtype: DType;
      readonly inputs: readonly WireView[];
      readonly attrs: unknown;
    };

/** A request as posted: `seq` is echoed by the reply and stored in the signal once it is posted. */
export interface Envelope {
  readonly seq: number;
  readonly req: Request;
}

/** Worker-side counters, for tests and `calm info`. */
export interface EngineStats {
  readonly deviceBuffers: number;
  readonly kernels: number;
  readonly adapter: string;
}

export type Reply = { readonly seq: number } & (
  | { readonly ok: true; readonly data?: Float32Array; readonly stats?: EngineStats }
  | { readonly ok: false; readonly name: string; readonly message: string }
);

/** A request's name for error messages: the op for `run`, the kind otherwise. */
export function describeRequest(req: Request): string {
  return req.kind === 'run' ? req.op : req.kind;
}
