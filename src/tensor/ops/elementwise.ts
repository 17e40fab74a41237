/**
 * The runners every elementwise entry shares (unary and binary ops, `where`, `siluMul`): the output
 * has the shape and dtype of the last input; on the CPU the inputs are walked together row by row
 * (`forEachRow`), on gpu.js the kernel runs once per cell over contiguous copies (`GpuRunner.map`).
 * An entry brings its loop over one row and its kernel.
 */
import { allocTyped, type TypedArray } from '../dtype.js';
import { sizeOf } from '../shape.js';
import { forEachRow } from '../cpu/strided.js';
import type { CpuView, KernelFn, NoAttrs, OpEntry } from './types.js';

/**
 * One row of an elementwise loop: out[o..end) from the inputs' rows, which start at pos[v] and
 * advance by step[v] in input v.
 */
export type ElementwiseRow = (
  inputs: readonly CpuView[], pos: readonly number[], step: readonly number[], out: TypedArray, o: number, end: number,
) => void;

/** An entry from its kernel and its row loop; the spec's other fields stay on the entry. */
export function elementwise<S extends { readonly kernel: KernelFn }>(spec: S, row: ElementwiseRow): S & OpEntry<NoAttrs> {
  return {
    ...spec,
    outShape: (shapes) => shapes[shapes.length - 1],
    outDType: (dtypes) => dtypes[dtypes.length - 1],
    cpu(inputs) {
      const last = inputs[inputs.length - 1];
      const out = allocTyped(last.dtype, sizeOf(last.shape));
      forEachRow(inputs, out.length, (pos, step, len, o) => row(inputs, pos, step, out, o, o + len));
      return out;
    },
    gpujs: (gpu, inputs) => gpu.map(spec.kernel, inputs),
  };
}
