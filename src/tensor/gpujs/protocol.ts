/**
 * Messages between the gpu.js backend (main thread) and its worker. Every request gets exactly one
 * reply; the main thread blocks on it (see `backend.ts`).
 */
import type { BinaryOp, ReduceOp, UnaryOp } from '../backend.js';
import type { DType } from '../dtype.js';
import type { GpujsMode } from './setup.js';

/** A view as sent to the worker: the buffer by id. */
export interface WireView {
  readonly id: number;
  readonly size: number;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

export type Request =
  | { readonly kind: 'init'; readonly mode: GpujsMode }
  | { readonly kind: 'upload'; readonly out: number; readonly data: Float32Array }
  | { readonly kind: 'read'; readonly x: WireView }
  | { readonly kind: 'dispose'; readonly id: number }
  | { readonly kind: 'stats' }
  | { readonly kind: 'copy'; readonly out: number; readonly x: WireView }
  | { readonly kind: 'fill'; readonly out: number; readonly size: number; readonly value: number }
  | { readonly kind: 'cast'; readonly out: number; readonly x: WireView; readonly from: DType; readonly to: DType }
  | { readonly kind: 'unary'; readonly out: number; readonly op: UnaryOp; readonly x: WireView }
  | {
      readonly kind: 'binary';
      readonly out: number;
      readonly op: BinaryOp;
      readonly a: WireView;
      readonly b: WireView;
      readonly truncate: boolean;
    }
  | { readonly kind: 'where'; readonly out: number; readonly c: WireView; readonly a: WireView; readonly b: WireView }
  | { readonly kind: 'reduce'; readonly out: number; readonly op: ReduceOp; readonly x: WireView; readonly axes: readonly number[] }
  | { readonly kind: 'matmul'; readonly out: number; readonly a: WireView; readonly b: WireView }
  | { readonly kind: 'gather'; readonly out: number; readonly x: WireView; readonly indices: WireView; readonly axis: number }
  | {
      readonly kind: 'scatterAdd';
      readonly out: number;
      readonly src: WireView;
      readonly indices: WireView;
      readonly axis: number;
      readonly axisSize: number;
    }
  | { readonly kind: 'concat'; readonly out: number; readonly xs: readonly WireView[]; readonly axis: number }
  | {
      readonly kind: 'unslice';
      readonly out: number;
      readonly x: WireView;
      readonly outShape: readonly number[];
      readonly starts: readonly number[];
      readonly steps: readonly number[];
    }
  | { readonly kind: 'softmaxRows'; readonly out: number; readonly x: WireView }
  | { readonly kind: 'siluMul'; readonly out: number; readonly a: WireView; readonly b: WireView };

/** Worker-side counters, for tests and `calm info`. */
export interface EngineStats {
  readonly deviceBuffers: number;
  readonly kernels: number;
  readonly adapter: string;
}

export type Reply =
  | { readonly ok: true; readonly data?: Float32Array; readonly stats?: EngineStats }
  | { readonly ok: false; readonly name: string; readonly message: string };
