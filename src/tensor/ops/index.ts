/**
 * The op table: every primitive a backend runs, by name. Each entry holds the op's reference CPU
 * loop and its gpu.js kernel side by side, with its output shape and dtype rule (see
 * {@link OpEntry}); both backends are generic runners over this table
 * (`src/tensor/cpu/backend.ts`, `src/tensor/gpujs/engine.ts`). The front end (`NDArray`) validates
 * a call and then runs `backend.run(name, views, attrs)`; the backward rules live next to the
 * differentiable forward in `src/autograd/tensor.ts`.
 *
 * | file          | entries                                                   |
 * |---------------|-----------------------------------------------------------|
 * | unary.ts      | neg, exp, log, log1p, sqrt, reciprocal, sin, cos, tanh, sigmoid, abs, sign |
 * | binary.ts     | add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge |
 * | layout.ts     | copy, fill, cast, where, concat, unslice                  |
 * | reduce.ts     | reduce (sum, max, min, argmax, argmin)                    |
 * | matmul.ts     | matmul                                                    |
 * | indexing.ts   | gather, scatterAdd                                        |
 * | fused.ts      | softmaxRows, siluMul, siluBackward, siluMulBackward, normRows(Backward), softmaxCrossEntropy(Backward), rope |
 *
 * Adding a unary or binary primitive is one entry in its file plus its differentiable method and
 * backward rule in `src/autograd/tensor.ts`; the gradient check and the backend test suite pick the
 * entry up from the table.
 */
import { BINARY } from './binary.js';
import { normRows, normRowsBackward, rope, siluBackward, siluMul, siluMulBackward, softmaxCrossEntropy, softmaxCrossEntropyBackward, softmaxRows } from './fused.js';
import { gather, scatterAdd } from './indexing.js';
import { cast, concat, copy, fill, unslice, where } from './layout.js';
import { matmul } from './matmul.js';
import { reduce } from './reduce.js';
import type { OpEntry } from './types.js';
import { UNARY } from './unary.js';

export const OPS = {
  ...UNARY,
  ...BINARY,
  copy,
  fill,
  cast,
  where,
  concat,
  unslice,
  reduce,
  matmul,
  gather,
  scatterAdd,
  softmaxRows,
  siluMul,
  siluBackward,
  siluMulBackward,
  normRows,
  normRowsBackward,
  softmaxCrossEntropy,
  softmaxCrossEntropyBackward,
  rope,
};

export type OpName = keyof typeof OPS;
/** The attributes an op takes (`{}` for most). */
export type OpAttrs<K extends OpName> = (typeof OPS)[K] extends OpEntry<infer A> ? A : never;

/** The table entry for `op`, or a TypeError naming it (a name that came from outside TypeScript). */
export function opEntry(op: string): OpEntry<unknown> {
  const entry = (OPS as Record<string, OpEntry<unknown>>)[op];
  if (entry === undefined || !Object.hasOwn(OPS, op)) throw new TypeError(`unknown op '${op}' (not in src/tensor/ops)`);
  return entry;
}

export { UNARY, UNARY_OPS, type UnaryOp, type UnaryEntry } from './unary.js';
export { BINARY, BINARY_OPS, ARITH_OPS, COMPARE_OPS, type BinaryOp, type BinaryEntry } from './binary.js';
export type { ReduceOp, ReduceAttrs } from './reduce.js';
export type { FillAttrs, UnsliceAttrs } from './layout.js';
export type { NormAttrs, RopeAttrs } from './fused.js';
export type { ScatterAddAttrs } from './indexing.js';
export { MAX_EXACT_ELEMENTS, MAX_RANK } from './kernel-rules.js';
export type { CpuView, GpuRunner, Handle, KernelFn, KernelThis, LaunchOptions, OpEntry, WireView } from './types.js';
