/**
 * Unary elementwise primitives. Each entry holds, side by side:
 * - `math`: the scalar definition in float64 (what the tests compare every backend against);
 * - `row`: the reference CPU loop over one row of a strided view (the output is contiguous;
 *   arithmetic in JS doubles, rounded once when stored);
 * - `kernel`: the gpu.js kernel over a contiguous input (one output cell per thread);
 * - `int`: whether int32 input is accepted (otherwise the front end asks for a float array);
 * - `gradcheck`: the input range [lo, hi] and the gap kept away from zero for the gradient check
 *   (`scripts/gradcheck-cases.ts` makes one set of cases per entry).
 * The backward rules are in `src/autograd/tensor.ts`, one method per op.
 */
import type { TypedArray } from '../dtype.js';
import { elementwise } from './elementwise.js';
import type { KernelFn, KernelThis, NoAttrs, OpEntry } from './types.js';

/** One row of the reference loop: out[o..end) from x[p], x[p + s], ... */
type UnaryRow = (x: TypedArray, p: number, s: number, out: TypedArray, o: number, end: number) => void;

interface UnarySpec {
  readonly math: (x: number) => number;
  readonly row: UnaryRow;
  readonly kernel: KernelFn;
  readonly int?: boolean;
  readonly gradcheck: readonly [lo: number, hi: number, gap: number];
}

export interface UnaryEntry extends UnarySpec, OpEntry<NoAttrs> {}

/** Builds the table entry (the runners are in elementwise.ts). */
function unary(spec: UnarySpec): UnaryEntry {
  // Integer in, integer out for the ops that take int32; the others are truncated like an Int32Array store.
  return elementwise({ ...spec, truncatesInt: spec.int !== true }, ([x], pos, step, out, o, end) =>
    spec.row(x.data, pos[0], step[0], out, o, end),
  );
}

export const UNARY = {
  neg: unary({
    math: (x) => -x,
    row(x, p, s, out, o, end) {
      if (out instanceof Int32Array) for (; o < end; o++, p += s) out[o] = -x[p] | 0;
      else for (; o < end; o++, p += s) out[o] = -x[p];
    },
    kernel: function (this: KernelThis, x: Float32Array): number {
      return -x[this.thread.x];
    },
    int: true,
    gradcheck: [-2, 2, 0],
  }),

  exp: unary({
    math: Math.exp,
    row: (x, p, s, out, o, end) => { for (; o < end; o++, p += s) out[o] = Math.exp(x[p]); },
    kernel: function (this: KernelThis, x: Float32Array): number { return Math.exp(x[this.thread.x]); },
    gradcheck: [-2, 2, 0],
  }),

  log: unary({
    math: Math.log,
    row: (x, p, s, out, o, end) => { for (; o < end; o++, p += s) out[o] = Math.log(x[p]); },
    kernel: function (this: KernelThis, x: Float32Array): number { return Math.log(x[this.thread.x]); },
    gradcheck: [0.2, 3, 0],
  }),

  /** log(1 + x), exact to the last digits for small x, where 1 + x would round them away. */
  log1p: unary({
    math: Math.log1p,
    row: (x, p, s, out, o, end) => { for (; o < end; o++, p += s) out[o] = Math.log1p(x[p]); },
    // Shaders have no log1p, and their compilers reassociate float arithmetic, so the usual
    // cancellation tricks on 1 + v are folded away. Instead: log1p(v) = 2 atanh(z), z = v / (2 + v),
    // whose series has no cancellation; for |v| < 0.25, |z| < 0.15 and six terms reach float32
    // precision. Beyond that, 1 + v rounds by less than 3e-7 of the result, so log(1 + v) is fine.
    kernel: function (this: KernelThis, x: Float32Array): number {
      const v = x[this.thread.x];
      if (Math.abs(v) >= 0.25) {
        return Math.log(1 + v);
      }
      const z = v / (2 + v);
      const z2 = z * z;
      return 2 * z * (1 + z2 * (1 / 3 + z2 * (1 / 5 + z2 * (1 / 7 + z2 * (1 / 9 + z2 / 11)))));
    },
    gradcheck: [-0.5, 2, 0],
  }),

  sqrt: unary({
    math: Math.sqrt,
    row: (x, p, s, out, o, end) => { for (; o < end; o++, p += s) out[o] = Math.sqrt(x[p]); },
    kernel: function (this: KernelThis, x: Float32Array): number { return Math.sqrt(x[this.thread.x]); },
    gradcheck: [0.2, 3, 0],
  }),

  reciprocal: unary({
    math: (x) => 1 / x,
    row: (x, p, s, out, o, end) => { for (; o < end; o++, p += s) out[o] = 1 / x[p]; },
    kernel: function (this: KernelThis, x: Float32Array): number { return 1 / x[this.thread.x]; },
    gradcheck: [0.3, 2, 0],
  }),

  sin: unary({
    math: Math.sin,
    row: (x, p, s, out, o, end) => { for (; o < end; o++, p += s) out[o] = Math.sin(x[p]); },
    kernel: function (this: KernelThis, x: Float32Array): number { return Math.sin(x[this.thread.x]); },
    gradcheck: [-3, 3, 0],
  }),

  cos: unary({
    math: Math.cos,
    row: (x, p, s, out, o, end) => { for (; o < end; o++, p += s) out[o] = Math.cos(x[p]); },
    kernel: function (this: KernelThis, x: Float32Array): number { return Math.cos(x[this.thread.x]); },
    gradcheck: [-3, 3, 0],
  }),

  tanh: unary({
    math: Math.tanh,
    row(x, p, s, out, o, end) {
      for (; o < end; o++, p += s) out[o] = Math.tanh(x[p]);
    },
    // Through exp of a non-positive argument, so large |v| cannot overflow.
    kernel: function (this: KernelThis, x: Float32Array): number {
      const v = x[this.thread.x];
      const e = Math.exp(-2 * Math.abs(v));
      const t = (1 - e) / (1 + e);
      if (v < 0) {
        return -t;
      }
      return t;
    },
    gradcheck: [-2, 2, 0],
  }),

  sigmoid: unary({
    math: (x) => 1 / (1 + Math.exp(-x)),
    // Stable on both sides: exp only ever sees a non-positive argument (same split in the kernel).
    row(x, p, s, out, o, end) {
      for (; o < end; o++, p += s) {
        const v = x[p];
        if (v >= 0) {
          out[o] = 1 / (1 + Math.exp(-v));
        } else {
          const e = Math.exp(v);
          out[o] = e / (1 + e);
        }
      }
    },
    kernel: function (this: KernelThis, x: Float32Array): number {
      const v = x[this.thread.x];
      if (v >= 0) {
        return 1 / (1 + Math.exp(-v));
      }
      const e = Math.exp(v);
      return e / (1 + e);
    },
    gradcheck: [-3, 3, 0],
  }),

  abs: unary({
    math: Math.abs,
    row(x, p, s, out, o, end) {
      if (out instanceof Int32Array) for (; o < end; o++, p += s) out[o] = Math.abs(x[p]) | 0;
      else for (; o < end; o++, p += s) out[o] = Math.abs(x[p]);
    },
    kernel: function (this: KernelThis, x: Float32Array): number {
      return Math.abs(x[this.thread.x]);
    },
    int: true,
    gradcheck: [-2, 2, 0.1],
  }),

  sign: unary({
    math: (x) => (x > 0 ? 1 : x < 0 ? -1 : x), // keeps NaN and -0
    row(x, p, s, out, o, end) {
      for (; o < end; o++, p += s) out[o] = Math.sign(x[p]);
    },
    kernel: function (this: KernelThis, x: Float32Array): number {
      const v = x[this.thread.x];
      if (v > 0) {
        return 1;
      }
      if (v < 0) {
        return -1;
      }
      return v;
    },
    int: true,
    gradcheck: [-2, 2, 0.1],
  }),
};

export type UnaryOp = keyof typeof UNARY;
export const UNARY_OPS = Object.keys(UNARY) as UnaryOp[];
