/**
 * Binary elementwise primitives: arithmetic, and comparisons that return 1 or 0 in the dtype of
 * their inputs. Both inputs arrive with the output's shape and one dtype (the front end broadcasts
 * them as stride-0 views). Each entry holds the scalar definition (`math`, for tests), the
 * reference CPU loop over one row (`row`; `int` is true for int32 arrays, where results wrap like
 * int32) and the gpu.js kernel over contiguous inputs (`kernel`). Backward rules:
 * `src/autograd/tensor.ts`.
 */
import type { TypedArray } from '../dtype.js';
import { elementwise } from './elementwise.js';
import type { KernelFn, KernelThis, NoAttrs, OpEntry } from './types.js';

/** One row of the reference loop: out[o..end) from a[pa], a[pa + sa], ... and b[pb], b[pb + sb], ... */
type BinaryRow = (
  int: boolean, a: TypedArray, pa: number, sa: number, b: TypedArray, pb: number, sb: number, out: TypedArray, o: number, end: number,
) => void;

interface BinarySpec {
  readonly math: (a: number, b: number) => number;
  readonly row: BinaryRow;
  readonly kernel: KernelFn;
  /** On int32 data the float result is truncated toward zero (div, pow). */
  readonly truncatesInt?: boolean;
  /** Comparisons: not differentiable, result 0 or 1. */
  readonly compare?: boolean;
}

export interface BinaryEntry extends BinarySpec, OpEntry<NoAttrs> {}

/** Builds the table entry (the runners are in elementwise.ts). */
function binary(spec: BinarySpec): BinaryEntry {
  return elementwise(spec, ([a, b], pos, step, out, o, end) =>
    spec.row(out instanceof Int32Array, a.data, pos[0], step[0], b.data, pos[1], step[1], out, o, end),
  );
}

export const BINARY = {
  add: binary({
    math: (a, b) => a + b,
    row(int, a, pa, sa, b, pb, sb, out, o, end) {
      if (int) for (; o < end; o++, pa += sa, pb += sb) out[o] = (a[pa] + b[pb]) | 0;
      else for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] + b[pb];
    },
    kernel: function (this: KernelThis, a: Float32Array, b: Float32Array): number { return a[this.thread.x] + b[this.thread.x]; },
  }),
  sub: binary({
    math: (a, b) => a - b,
    row(int, a, pa, sa, b, pb, sb, out, o, end) {
      if (int) for (; o < end; o++, pa += sa, pb += sb) out[o] = (a[pa] - b[pb]) | 0;
      else for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] - b[pb];
    },
    kernel: function (this: KernelThis, a: Float32Array, b: Float32Array): number { return a[this.thread.x] - b[this.thread.x]; },
  }),
  mul: binary({
    math: (a, b) => a * b,
    row(int, a, pa, sa, b, pb, sb, out, o, end) {
      if (int) for (; o < end; o++, pa += sa, pb += sb) out[o] = Math.imul(a[pa], b[pb]);
      else for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] * b[pb];
    },
    kernel: function (this: KernelThis, a: Float32Array, b: Float32Array): number { return a[this.thread.x] * b[this.thread.x]; },
  }),
  div: binary({
    math: (a, b) => a / b,
    // int32: truncate toward zero; division by zero stores 0 (Int32Array turns ±Infinity/NaN into 0).
    row(int, a, pa, sa, b, pb, sb, out, o, end) {
      if (int) for (; o < end; o++, pa += sa, pb += sb) out[o] = Math.trunc(a[pa] / b[pb]);
      else for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] / b[pb];
    },
    kernel: function (this: KernelThis, a: Float32Array, b: Float32Array): number { return a[this.thread.x] / b[this.thread.x]; },
    truncatesInt: true,
  }),
  pow: binary({
    math: Math.pow,
    row: (_int, a, pa, sa, b, pb, sb, out, o, end) => { for (; o < end; o++, pa += sa, pb += sb) out[o] = Math.pow(a[pa], b[pb]); },
    /**
     * JS semantics for negative bases: an integer exponent gives the signed power, a fractional one
     * NaN (sqrt of the negative base). Dawn-GLES evaluates pow of a negative base as NaN even for
     * integer exponents, so the power is always taken of |base|.
     */
    kernel: function (this: KernelThis, a: Float32Array, b: Float32Array): number {
      const x = a[this.thread.x];
      const y = b[this.thread.x];
      if (y == 0) {
        return 1;
      }
      if (x >= 0) {
        return Math.pow(x, y);
      }
      const p = Math.pow(-x, y);
      if (Math.floor(y) != y) {
        return Math.sqrt(x);
      }
      const half = y / 2;
      if (Math.floor(half) != half) {
        return -p;
      }
      return p;
    },
    truncatesInt: true,
  }),
  // maximum/minimum propagate NaN (Math.max does; so do the shader's max/min as gpu.js emits them).
  maximum: binary({
    math: Math.max,
    row: (_int, a, pa, sa, b, pb, sb, out, o, end) => { for (; o < end; o++, pa += sa, pb += sb) out[o] = Math.max(a[pa], b[pb]); },
    kernel: function (this: KernelThis, a: Float32Array, b: Float32Array): number { return Math.max(a[this.thread.x], b[this.thread.x]); },
  }),
  minimum: binary({
    math: Math.min,
    row: (_int, a, pa, sa, b, pb, sb, out, o, end) => { for (; o < end; o++, pa += sa, pb += sb) out[o] = Math.min(a[pa], b[pb]); },
    kernel: function (this: KernelThis, a: Float32Array, b: Float32Array): number { return Math.min(a[this.thread.x], b[this.thread.x]); },
  }),

  // Comparisons.
  eq: binary({
    math: (a, b) => Number(a === b),
    row: (_int, a, pa, sa, b, pb, sb, out, o, end) => { for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] === b[pb] ? 1 : 0; },
    kernel: function (this: KernelThis, a: Float32Array, b: Float32Array): number { if (a[this.thread.x] == b[this.thread.x]) { return 1; } return 0; },
    compare: true,
  }),
  ne: binary({
    math: (a, b) => Number(a !== b),
    row: (_int, a, pa, sa, b, pb, sb, out, o, end) => { for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] !== b[pb] ? 1 : 0; },
    kernel: function (this: KernelThis, a: Float32Array, b: Float32Array): number { if (a[this.thread.x] != b[this.thread.x]) { return 1; } return 0; },
    compare: true,
  }),
  lt: binary({
    math: (a, b) => Number(a < b),
    row: (_int, a, pa, sa, b, pb, sb, out, o, end) => { for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] < b[pb] ? 1 : 0; },
    kernel: function (this: KernelThis, a: Float32Array, b: Float32Array): number { if (a[this.thread.x] < b[this.thread.x]) { return 1; } return 0; },
    compare: true,
  }),
  le: binary({
    math: (a, b) => Number(a <= b),
    row: (_int, a, pa, sa, b, pb, sb, out, o, end) => { for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] <= b[pb] ? 1 : 0; },
    kernel: function (this: KernelThis, a: Float32Array, b: Float32Array): number { if (a[this.thread.x] <= b[this.thread.x]) { return 1; } return 0; },
    compare: true,
  }),
  gt: binary({
    math: (a, b) => Number(a > b),
    row: (_int, a, pa, sa, b, pb, sb, out, o, end) => { for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] > b[pb] ? 1 : 0; },
    kernel: function (this: KernelThis, a: Float32Array, b: Float32Array): number { if (a[this.thread.x] > b[this.thread.x]) { return 1; } return 0; },
    compare: true,
  }),
  ge: binary({
    math: (a, b) => Number(a >= b),
    row: (_int, a, pa, sa, b, pb, sb, out, o, end) => { for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] >= b[pb] ? 1 : 0; },
    kernel: function (this: KernelThis, a: Float32Array, b: Float32Array): number { if (a[this.thread.x] >= b[this.thread.x]) { return 1; } return 0; },
    compare: true,
  }),
};

export type BinaryOp = keyof typeof BINARY;
export const BINARY_OPS = Object.keys(BINARY) as BinaryOp[];
export const COMPARE_OPS = BINARY_OPS.filter((op) => BINARY[op].compare === true);
export const ARITH_OPS = BINARY_OPS.filter((op) => BINARY[op].compare !== true);
