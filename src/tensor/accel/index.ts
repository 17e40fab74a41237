/**
 * Accelerations of op-table entries on the CPU backend. An acceleration takes the same views as the
 * entry's `cpu` function and either returns the result or `null` ("not my case"), in which case
 * the entry's reference loop runs. Every acceleration gives the reference's numbers (bit for bit,
 * except where noted: row sums in wasm add in another order); test/accel.test.ts checks each one
 * against its entry over random shapes and layouts.
 *
 * What is accelerated, all float32 only (float64 and int32 stay on the reference loops):
 * - add, sub, mul, div: WebAssembly SIMD (wasm-elementwise.ts) for same-shape, row-vector,
 *   column and scalar layouts from WASM_MIN elements; below that, or for other strided layouts, a
 *   monomorphic JS loop (V8 compiles a loop that only ever sees Float32Array much tighter than
 *   the reference's, which is shared by every dtype).
 * - neg, abs, sqrt: wasm SIMD on contiguous input (exact); sigmoid too (a polynomial exp: a few
 *   float32 ulps from the reference), strided input gathered into the result first so that every
 *   layout gets the same values; exp, log, tanh and other strided input: monomorphic JS loops.
 * - reduce sum/max over the last axis: wasm SIMD (float64 accumulation for sum); sum over a leading
 *   or middle axis of contiguous data: wasm, column vectors in the reference's order (bit-identical);
 *   other layouts: the reference's walk and order with float32-only loops.
 * - softmaxRows: wasm SIMD for rows of WASM_ROW_MIN or more (a polynomial exp, a reciprocal:
 *   a few float32 ulps from the reference, exact zeros for -Infinity); shorter rows: the reference's
 *   own loop over the strided rows, with float32 intermediates.
 * - siluBackward and siluMulBackward on contiguous operands (siluBackward's x may be strided:
 *   gathered first): wasm with float64 arithmetic (f64x2) in the
 *   reference's order, bit for bit; strided siluMulBackward and small sizes: the reference's steps in
 *   float32-only loops.
 * - rope with contiguous rows (any row order) and contiguous tables: wasm f32x4, bit for bit.
 * - normRows and normRowsBackward on contiguous operands: scalar float64 wasm in the reference's
 *   order (every sum j = 0, 1, ...; dw and db over rows in order), bit for bit; normRows's rows are
 *   shared out over the threads from NORM_PARALLEL_MIN elements.
 * - softmaxCrossEntropy on contiguous logits: wasm (wasm-cross-entropy.ts: fdlibm's exp, which is
 *   V8's Math.exp, in float64; rows split over the worker pool), bit for bit; the per-row log in JS.
 * - matmul: the entry's own kernels (the wasm GEMM), writing into a heap block (see below).
 * - where: a float32-only loop over the reference's walk (a selection: bit for bit).
 * - Rng.normalArray (random.ts, not an op): the Box-Muller transform in wasm (wasm-normal.ts: fdlibm's
 *   log, sin and cos, which are V8's Math.log/sin/cos; pairs split over the worker pool), bit for bit.
 *
 * Results of the wasm-backed accelerations (and large float32 uploads and allocations, cpu/backend.ts)
 * live in the elementwise kernels' heap (heap.ts) when it has room, so the next kernel reads them in
 * place instead of copying them in.
 *
 * `CALM_CPU_ACCEL=off` turns all of them off, the heap included (the matmul kernel has its own switch,
 * CALM_CPU_MATMUL).
 */
import { allocFloat32, type TypedArray } from '../dtype.js';
import { contiguousStrides, isContiguous, sizeOf } from '../shape.js';
import { coalesce, copyInto, forEachRow, reducedStrides, RowWalker } from '../cpu/strided.js';
import type { CpuView } from '../ops/types.js';
import { softmaxRowsLoop } from '../ops/fused.js';
import type { ReduceAttrs } from '../ops/reduce.js';
import { UNARY } from '../ops/unary.js';
import { matmulCpu } from '../ops/matmul.js';
import type { GridOperand, WasmBinaryOp, WasmUnaryOp } from './wasm-elementwise.js';
import { wasmSimdAvailable } from './wasm-matmul.js';
import { WasmCrossEntropy } from './wasm-cross-entropy.js';
import { agreesWithMath, probeInputs } from './math-check.js';
import { cpuHeap, heapStorage, wasmKernels } from './kernels.js';

export { cpuAccelEnabled, cpuHeap, setCpuHeapBudget } from './kernels.js';

/** One acceleration: the result, or null to let the reference run. */
export type CpuAccel = (inputs: readonly CpuView[], attrs: never) => TypedArray | null;

/** Below this many elements the wasm call's copies cost more than they save (measured: bench/accel-crossover). */
export const WASM_MIN = 256;

/**
 * An acceleration's result array of n float32s, which it must write in full: a heap block when the heap
 * has room (the next kernel then reads it in place; outside a memory scope only within a small share of
 * the budget, see heap.ts), else ordinary zeroed memory.
 */
function outputF32(n: number): Float32Array {
  return heapStorage(n) ?? allocFloat32(n);
}

/** Limits the threads one elementwise kernel call uses (undefined: the pool's all); for benchmarks of 1 and 2 threads. */
export function setElementwiseThreads(threads: number | undefined): void {
  const kernels = wasmKernels();
  if (kernels !== null) kernels.threadLimit = threads;
}

const isF32 = (v: CpuView): v is CpuView & { data: Float32Array } => v.data instanceof Float32Array;

// ------------------------------------------------------------------ binary

type F32Row = (a: Float32Array, pa: number, sa: number, b: Float32Array, pb: number, sb: number, out: Float32Array, o: number, end: number) => void;

// One function per op, each only ever called with Float32Arrays (see the file comment).
const F32_BINARY: Record<WasmBinaryOp, F32Row> = {
  add(a, pa, sa, b, pb, sb, out, o, end) { for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] + b[pb]; },
  sub(a, pa, sa, b, pb, sb, out, o, end) { for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] - b[pb]; },
  mul(a, pa, sa, b, pb, sb, out, o, end) { for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] * b[pb]; },
  div(a, pa, sa, b, pb, sb, out, o, end) { for (; o < end; o++, pa += sa, pb += sb) out[o] = a[pa] / b[pb]; },
};

/**
 * The [rows, cols] grid of two equally shaped views, when each is a vector along the last axis
 * (column step 1) or one value per row (column step 0) and not both are the latter.
 */
export function binaryGrid(a: CpuView, b: CpuView): BinaryGrid | null {
  const { shape, strides } = coalesce(a.shape, [a.strides, b.strides]);
  const [sa, sb] = strides;
  const rank = shape.length;
  const ca = sa[rank - 1], cb = sb[rank - 1];
  if ((ca !== 0 && ca !== 1) || (cb !== 0 && cb !== 1) || (ca === 0 && cb === 0)) return null;
  const at = (s: readonly number[], axis: number): number => (axis >= 0 ? s[axis] : 0);
  const lead = Math.max(0, rank - 2);
  return {
    // Axes before the last two (e.g. [P, M, l] + [P, 1, l], or the energy loss's [P, N, 1, l] − [P, 1, N, l])
    // are a loop of grids.
    outer: shape.slice(0, lead), outerA: sa.slice(0, lead), outerB: sb.slice(0, lead),
    rows: rank >= 2 ? shape[rank - 2] : 1, cols: shape[rank - 1],
    a: { data: a.data as Float32Array, offset: a.offset, rowStride: at(sa, rank - 2), colStride: ca },
    b: { data: b.data as Float32Array, offset: b.offset, rowStride: at(sb, rank - 2), colStride: cb },
  };
}

/**
 * Grids of rows x cols, one per index of the `outer` axes (row-major); an operand's grid at index
 * (i, j, ...) starts i·outerA[0] + j·outerA[1] + ... after its offset.
 */
export interface BinaryGrid {
  readonly outer: readonly number[];
  readonly outerA: readonly number[];
  readonly outerB: readonly number[];
  readonly rows: number;
  readonly cols: number;
  readonly a: GridOperand;
  readonly b: GridOperand;
}

function binaryAccel(op: WasmBinaryOp): CpuAccel {
  return ([a, b]) => {
    if (!isF32(a) || !isF32(b)) return null;
    const n = sizeOf(a.shape);
    const out = outputF32(n);
    if (n === 0) return out;
    const found = n >= WASM_MIN ? binaryGrid(a, b) : null;
    // Many small grids cost a wasm call each: below WASM_MIN elements per grid the JS loop is faster.
    const grid = found !== null && (found.outer.length === 0 || found.rows * found.cols >= WASM_MIN) ? found : null;
    const kernels = grid === null ? null : wasmKernels();
    if (grid !== null && kernels !== null) {
      // An odometer over the outer axes (none: one grid); the grids' results follow each other in `out`.
      const { outer, rows, cols } = grid;
      const w = new RowWalker([...outer, 1], [[...grid.outerA, 0], [...grid.outerB, 0]], [grid.a.offset, grid.b.offset]);
      for (let i = 0; i < w.rows; i++, w.next()) {
        const a = { ...grid.a, offset: w.pos[0] };
        const b = { ...grid.b, offset: w.pos[1] };
        kernels.binary(op, a, b, rows, cols, out.subarray(i * rows * cols, (i + 1) * rows * cols));
      }
      return out;
    }
    const row = F32_BINARY[op];
    forEachRow([a, b], n, (pos, step, len, o) => row(a.data, pos[0], step[0], b.data, pos[1], step[1], out, o, o + len));
    return out;
  };
}

// ------------------------------------------------------------------ where

/**
 * where(cond, a, b) with all three float32: the reference's walk with a loop that only ever sees
 * Float32Arrays (the reference loop, shared by every dtype, took about 20 ns an element on the energy
 * loss's masks). A selection copies bits, so the result is the reference's exactly.
 */
const whereAccel = ternaryF32(whereRowF32);

/** A row of a three-operand float32 op: out[o, end) from x, y, z, each from its position by its step. */
type F32Row3 = (x: Float32Array, px: number, sx: number, y: Float32Array, py: number, sy: number, z: Float32Array, pz: number, sz: number, out: Float32Array, o: number, end: number) => void;

/** An acceleration running `row` over three float32 operands in the reference's walk (strided.ts's forEachRow). */
function ternaryF32(row: F32Row3): CpuAccel {
  return (inputs) => {
    if (!inputs.every(isF32)) return null;
    const [x, y, z] = inputs as (CpuView & { data: Float32Array })[];
    const n = sizeOf(x.shape);
    const out = outputF32(n);
    forEachRow(inputs, n, (pos, step, len, o) => row(x.data, pos[0], step[0], y.data, pos[1], step[1], z.data, pos[2], step[2], out, o, o + len));
    return out;
  };
}

function whereRowF32(c: Float32Array, pc: number, sc: number, a: Float32Array, pa: number, sa: number, b: Float32Array, pb: number, sb: number, out: Float32Array, o: number, end: number): void {
  for (; o < end; o++, pc += sc, pa += sa, pb += sb) out[o] = c[pc] !== 0 ? a[pa] : b[pb];
}

// ------------------------------------------------------------------ unary

type F32Unary = (x: Float32Array, p: number, s: number, out: Float32Array, o: number, end: number) => void;

const F32_UNARY: Record<'exp' | 'log' | 'sigmoid' | 'tanh' | WasmUnaryOp, F32Unary> = {
  neg(x, p, s, out, o, end) { for (; o < end; o++, p += s) out[o] = -x[p]; },
  abs(x, p, s, out, o, end) { for (; o < end; o++, p += s) out[o] = Math.abs(x[p]); },
  sqrt(x, p, s, out, o, end) { for (; o < end; o++, p += s) out[o] = Math.sqrt(x[p]); },
  exp(x, p, s, out, o, end) { for (; o < end; o++, p += s) out[o] = Math.exp(x[p]); },
  log(x, p, s, out, o, end) { for (; o < end; o++, p += s) out[o] = Math.log(x[p]); },
  tanh(x, p, s, out, o, end) { for (; o < end; o++, p += s) out[o] = Math.tanh(x[p]); },
  // The reference row itself: exp dominates it, so a float32-only copy measured only ~5% faster.
  sigmoid: UNARY.sigmoid.row,
};

function unaryAccel(op: keyof typeof F32_UNARY): CpuAccel {
  const simd: WasmUnaryOp | 'sigmoid' | null = op === 'neg' || op === 'abs' || op === 'sqrt' || op === 'sigmoid' ? op : null;
  return ([x]) => {
    if (!isF32(x)) return null;
    const n = sizeOf(x.shape);
    const out = outputF32(n);
    if (n === 0) return out;
    const kernels = simd !== null && n >= WASM_MIN ? wasmKernels() : null;
    if (simd !== null && kernels !== null) {
      const { shape, strides } = coalesce(x.shape, [x.strides]);
      if (shape.length === 1 && strides[0][0] === 1) {
        kernels.unary(simd, x.data, x.offset, n, out);
        return out;
      }
      if (simd === 'sigmoid') {
        // A strided view (half of a split, as the energy head's gate): gathered into the result's own
        // block, then the kernel runs there in place. The exp is the cost, so the copy is cheap, and
        // every layout gets the same values.
        copyInto(x.data, x, out, contiguousStrides(x.shape), 0);
        kernels.unary(simd, out, 0, n, out);
        return out;
      }
    }
    const row = F32_UNARY[op];
    forEachRow([x], n, (pos, step, len, o) => row(x.data, pos[0], step[0], out, o, o + len));
    return out;
  };
}

// ------------------------------------------------------------------ reductions

/** Rows of at least this many elements go to the wasm row reduction. */
const WASM_ROW_MIN = 16;

const reduceAccel: CpuAccel = ([x], attrs: ReduceAttrs) => {
  const { op, axes } = attrs;
  if ((op !== 'sum' && op !== 'max') || !isF32(x)) return null;
  const n = sizeOf(x.shape);
  if (n === 0) return null;
  const outSize = sizeOf(x.shape.map((d, i) => (axes.includes(i) ? 1 : d)));
  const { shape, strides } = coalesce(x.shape, [x.strides, reducedStrides(x.shape, axes)]);
  const [sx, so] = strides;
  const last = shape.length - 1;
  // Over the last axis: rows of contiguous elements, one output each.
  if (shape.length <= 2 && sx[last] === 1 && so[last] === 0 && (shape.length === 1 || so[0] === 1)) {
    const rows = shape.length === 2 ? shape[0] : 1;
    const cols = shape[last];
    const kernels = cols >= WASM_ROW_MIN ? wasmKernels() : null;
    if (kernels !== null) {
      const out = outputF32(outSize);
      kernels.rowReduce(op, x.data, x.offset, shape.length === 2 ? sx[0] : cols, rows, cols, out);
      return out;
    }
  }
  // Sums over a middle or leading axis of a contiguous [outer, rows, cols] (the gradient of a
  // broadcast, e.g. a bias): wasm adds whole column vectors in the reference's order.
  if (op === 'sum' && so[last] === 1 && sx[last] === 1 && shape[last] % 4 === 0 && n >= WASM_MIN) {
    const cols = shape[last];
    const mid = shape.length - 2;
    const outer = shape.length === 3 ? shape[0] : 1;
    const contiguous = mid >= 0 && so[mid] === 0 && sx[mid] === cols && (shape.length === 2 || (sx[0] === shape[1] * cols && so[0] === cols));
    const kernels = contiguous ? wasmKernels() : null;
    if (kernels !== null) {
      const out = outputF32(outSize);
      kernels.colSums(x.data, x.offset, outer, shape[mid], cols, out);
      return out;
    }
  }
  // Any other layout: the reference's walk and order (ops/reduce.ts), with float32-only loops.
  const acc = new Float64Array(outSize).fill(op === 'sum' ? 0 : -Infinity);
  const w = new RowWalker(shape, strides, [x.offset, 0]);
  const fold = op === 'sum' ? sumRowF32 : maxRowF32;
  for (let r = 0; r < w.rows; r++, w.next()) fold(x.data, w.pos[0], w.step[0], acc, w.pos[1], w.step[1], w.len);
  return Float32Array.from(acc);
};

function sumRowF32(x: Float32Array, p: number, s: number, acc: Float64Array, o: number, so: number, len: number): void {
  if (so === 0) {
    let v = acc[o];
    for (let j = 0; j < len; j++, p += s) v += x[p];
    acc[o] = v;
  } else {
    for (let j = 0; j < len; j++, p += s, o += so) acc[o] += x[p];
  }
}

function maxRowF32(x: Float32Array, p: number, s: number, acc: Float64Array, o: number, so: number, len: number): void {
  if (so === 0) {
    let v = acc[o];
    for (let j = 0; j < len; j++, p += s) v = Math.max(v, x[p]);
    acc[o] = v;
  } else {
    for (let j = 0; j < len; j++, p += s, o += so) acc[o] = Math.max(acc[o], x[p]);
  }
}

// ------------------------------------------------------------------ fused backward passes

/**
 * siluBackward (ops/fused.ts): wasm with float64 arithmetic two lanes at a time (the same bits) from
 * WASM_MIN elements, a strided x (the gate half of a split) gathered first; else float32-only loops,
 * the same arithmetic.
 */
const siluBackwardLoop = ternaryF32(siluBackRow);
const siluBackwardAccel: CpuAccel = (inputs, attrs) => {
  const k = inputs.every(isF32) && sizeOf(inputs[0].shape) >= WASM_MIN ? wasmKernels() : null;
  if (k === null || !isContiguous(inputs[1].shape, inputs[1].strides) || !isContiguous(inputs[2].shape, inputs[2].strides)) return siluBackwardLoop(inputs, attrs);
  const [x, s, g] = inputs as (CpuView & { data: Float32Array })[];
  const n = sizeOf(x.shape);
  const out = outputF32(n);
  if (isContiguous(x.shape, x.strides)) {
    k.siluBackward(x.data, x.offset, s.data, s.offset, g.data, g.offset, n, out);
  } else {
    // Gathered into the result, which the kernel then overwrites in place (each element read before it is written).
    copyInto(x.data, x, out, contiguousStrides(x.shape), 0);
    k.siluBackward(out, 0, s.data, s.offset, g.data, g.offset, n, out);
  }
  return out;
};

function siluBackRow(x: Float32Array, px: number, sx: number, s: Float32Array, ps: number, ss: number, g: Float32Array, pg: number, sg: number, out: Float32Array, o: number, end: number): void {
  for (; o < end; o++, px += sx, ps += ss, pg += sg) {
    const v = x[px];
    const t = s[ps];
    out[o] = g[pg] * t * (1 + v * (1 - t));
  }
}

/** siluMulBackward (ops/fused.ts) with float32-only loops; the same arithmetic. */
const siluMulBackwardAccel: CpuAccel = (inputs) => {
  if (!inputs.every(isF32)) return null;
  const [a, b, s, g] = inputs as (CpuView & { data: Float32Array })[];
  const n = sizeOf(a.shape);
  const out = outputF32(2 * n);
  const k = n >= WASM_MIN && inputs.every((v) => isContiguous(v.shape, v.strides)) ? wasmKernels() : null;
  if (k !== null) {
    // Contiguous operands (SwiGLU's): wasm, float64 arithmetic two lanes at a time, the same bits.
    k.siluMulBackward(a.data, a.offset, b.data, b.offset, s.data, s.offset, g.data, g.offset, n, out);
    return out;
  }
  forEachRow(inputs, n, (pos, step, len, o) => siluMulBackRow(a.data, b.data, s.data, g.data, pos, step, out, n, o, o + len));
  return out;
};

function siluMulBackRow(a: Float32Array, b: Float32Array, s: Float32Array, g: Float32Array, pos: readonly number[], step: readonly number[], out: Float32Array, n: number, o: number, end: number): void {
  let pa = pos[0], pb = pos[1], ps = pos[2], pg = pos[3];
  const sa = step[0], sb = step[1], ss = step[2], sg = step[3];
  for (; o < end; o++, pa += sa, pb += sb, ps += ss, pg += sg) {
    const v = a[pa];
    const t = s[ps];
    const gj = g[pg];
    out[o] = gj * b[pb] * t * (1 + v * (1 - t));
    out[n + o] = gj * v * t;
  }
}

// ------------------------------------------------------------------ row norms

const denseF32 = (v: CpuView): boolean => isF32(v) && isContiguous(v.shape, v.strides);

/** normRows on contiguous float32 operands: scalar float64 wasm in the reference's order, bit for bit. */
const normRowsAccel: CpuAccel = (inputs, attrs) => {
  const [x, w, b] = inputs;
  const d = x.shape[x.shape.length - 1];
  const n = sizeOf(x.shape);
  if (n < WASM_MIN || d === 0 || !inputs.every(denseF32)) return null;
  const k = wasmKernels();
  if (k === null) return null;
  const { eps, center } = attrs as { eps: number; center: boolean };
  const rows = n / d;
  const out = outputF32(n + 2 * rows);
  k.normRows(x.data as Float32Array, x.offset, w.data as Float32Array, w.offset, b.data as Float32Array, b.offset, rows, d, eps, center, out);
  return out;
};

/** normRowsBackward likewise (stats as normRows left them). */
const normRowsBackwardAccel: CpuAccel = (inputs, attrs) => {
  const [x, w, st, g] = inputs;
  const d = x.shape[x.shape.length - 1];
  const n = sizeOf(x.shape);
  if (n < WASM_MIN || d === 0 || !inputs.every(denseF32)) return null;
  const k = wasmKernels();
  if (k === null) return null;
  const { center } = attrs as { center: boolean };
  const out = outputF32(n + 2 * d);
  k.normRowsBackward(x.data as Float32Array, x.offset, w.data as Float32Array, w.offset, st.data as Float32Array, st.offset, g.data as Float32Array, g.offset, n / d, d, center, out);
  return out;
};

// ------------------------------------------------------------------ copy

/**
 * The first element of each row (last axis) of a view, in row-major order of the leading axes (an
 * odometer over them): one entry per row, sizeOf(shape) / shape[last] of them.
 */
function rowStarts(shape: readonly number[], strides: readonly number[], offset: number): Int32Array {
  const rank = shape.length;
  const rows = rank === 0 ? 1 : sizeOf(shape.slice(0, rank - 1));
  const starts = new Int32Array(rows);
  const index = new Array<number>(Math.max(0, rank - 1)).fill(0);
  for (let r = 0, at = offset; r < rows; r++) {
    starts[r] = at;
    for (let d = rank - 2; d >= 0; d--) {
      at += strides[d];
      if (++index[d] < shape[d]) break;
      at -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
  return starts;
}

/**
 * copy (materialising a view) of float32 whose rows (after merging axes that are contiguous with each
 * other) are contiguous runs of at least COPY_MIN_RUN floats: the wasm row gather. Attention's permuted
 * heads are the case it is for ([B, T, H, hd] ⇄ [B, H, T, hd], runs of hd): the reference walks them
 * a run at a time with a typed-array `set` per run, 0.9-1.3 ms per call in bench:train's step.
 */
const copyAccel: CpuAccel = (inputs) => {
  const [x] = inputs;
  const n = sizeOf(x.shape);
  if (!isF32(x) || n < WASM_MIN) return null;
  const { shape, strides } = coalesce(x.shape, [x.strides]);
  const rank = shape.length;
  const len = shape[rank - 1];
  if (strides[0][rank - 1] !== 1 || len < COPY_MIN_RUN || len === n) return null; // one run: the reference's single `set`
  const k = wasmKernels();
  if (k === null) return null;
  const out = outputF32(n);
  if (k.gatherRows(x.data, rowStarts(shape, strides[0], x.offset), len, out)) return out;
  cpuHeap()?.release(out); // declined: the block (if it is one) goes back unused
  return null;
};
/** Shorter runs than this stay with the reference (the row table would cost more than it saves). */
const COPY_MIN_RUN = 4;

// ------------------------------------------------------------------ rope

/**
 * rope on float32 with contiguous rows of a head dimension whose half is a multiple of 4, and
 * contiguous [T, hd/2] tables: wasm f32x4, each product and sum correctly rounded as the reference's
 * Math.fround steps are, so bit for bit. The rows may sit anywhere (attention's permuted heads): the
 * kernel reads each through a table of row starts.
 */
const ropeAccel: CpuAccel = (inputs, attrs) => {
  const [x, cos, sin] = inputs;
  const rank = x.shape.length;
  if (!isF32(x) || !isF32(cos) || !isF32(sin) || rank < 2) return null;
  const hd = x.shape[rank - 1];
  const t = x.shape[rank - 2];
  const half = hd / 2;
  const n = sizeOf(x.shape);
  if (n < WASM_MIN || half % 4 !== 0 || x.strides[rank - 1] !== 1) return null;
  if (!isContiguous(cos.shape, cos.strides) || !isContiguous(sin.shape, sin.strides)) return null;
  const k = wasmKernels();
  if (k === null) return null;
  const rows = n / hd;
  const starts = rowStarts(x.shape, x.strides, x.offset);
  const out = outputF32(n);
  k.rope(x.data, starts, cos.data, cos.offset, sin.data, sin.offset, rows / t, t, half, (attrs as { inverse: boolean }).inverse, out);
  return out;
};

// ------------------------------------------------------------------ cross-entropy forward

let crossEntropyKernel: WasmCrossEntropy | null | undefined;
function crossEntropyWasm(): WasmCrossEntropy | null {
  if (crossEntropyKernel === undefined) {
    const candidate = wasmSimdAvailable() ? new WasmCrossEntropy() : null;
    // The port of fdlibm's exp must agree with this V8's Math.exp (math-check.ts), else the reference runs.
    const probes = new Float64Array([...probeInputs(4096, -120, 20), 0, -0, 1, -1, 0.34657359027997264, -0.34657359027997264, 1.0397207708399179, -745.2, 709.8, 2]); // an even count: exp2 takes pairs
    crossEntropyKernel = candidate !== null && agreesWithMath(probes, candidate.exp(probes), Math.exp) && agreesWithMath(probes, candidate.exp2(probes), Math.exp) ? candidate : null;
  }
  return crossEntropyKernel;
}

/** softmaxCrossEntropy (ops/fused.ts) on contiguous float32 logits: wasm, bit for bit (wasm-cross-entropy.ts). */
const crossEntropyAccel: CpuAccel = ([x, t]) => {
  if (!isF32(x) || !(t.data instanceof Int32Array) || x.shape.length !== 2) return null;
  const [n, v] = x.shape;
  if (n === 0 || v === 0 || (n > 1 && x.strides[0] !== v) || (v > 1 && x.strides[1] !== 1)) return null;
  const tStride = t.strides[0];
  // A target past the row: the reference reads whatever lies there; leave that case to it.
  for (let r = 0; r < n; r++) if (t.data[t.offset + r * tStride] >= v) return null;
  const kernel = crossEntropyWasm();
  if (kernel === null) return null;
  const out = allocFloat32(n * v + n);
  return kernel.forward(x.data, x.offset, n, v, t.data, t.offset, tStride, out) ? out : null;
};

// ------------------------------------------------------------------ softmax

/** The reference's steps (ops/fused.ts), each intermediate rounded to float32 as it stores it. */
const softmaxAccel: CpuAccel = ([x]) => {
  if (!isF32(x)) return null;
  const n = sizeOf(x.shape);
  const len = x.shape[x.shape.length - 1];
  const { shape, strides } = coalesce(x.shape, [x.strides]);
  if (strides[0][shape.length - 1] !== 1 || shape.length > 2 || (shape.length === 2 && shape[1] !== len)) return null;
  const rowStride = shape.length === 2 ? strides[0][0] : len;
  const kernels = len >= WASM_ROW_MIN && n >= WASM_MIN ? wasmKernels() : null;
  if (kernels !== null) {
    const out = outputF32(n);
    kernels.softmaxRows(x.data, x.offset, rowStride, n / len, len, out);
    return out;
  }
  // The reference's loop itself on the strided rows (no copy of the data); exp dominates it, so a
  // float32-only copy of the loop measured only ~5% faster.
  return softmaxRowsLoop(x.data, x.offset, rowStride, n, len, allocFloat32(n), allocFloat32(len + 1));
};

// ------------------------------------------------------------------ matmul

/**
 * matmul of float32: the op-table entry's own kernels (ops/matmul.ts, the wasm GEMM), with the result
 * in a heap block when there is room, so the elementwise kernels that usually follow (a bias, an
 * activation, a residual add) read it in place. The GEMM writes every element.
 */
const matmulAccel: CpuAccel = (inputs) => (isF32(inputs[0]) && isF32(inputs[1]) ? (matmulCpu(inputs, (_dtype, n) => outputF32(n)) as Float32Array) : null);

/** The accelerations by op name. */
export const CPU_ACCEL: Readonly<Record<string, CpuAccel>> = {
  add: binaryAccel('add'),
  sub: binaryAccel('sub'),
  mul: binaryAccel('mul'),
  div: binaryAccel('div'),
  neg: unaryAccel('neg'),
  abs: unaryAccel('abs'),
  sqrt: unaryAccel('sqrt'),
  exp: unaryAccel('exp'),
  log: unaryAccel('log'),
  sigmoid: unaryAccel('sigmoid'),
  tanh: unaryAccel('tanh'),
  reduce: reduceAccel,
  softmaxRows: softmaxAccel,
  siluBackward: siluBackwardAccel,
  siluMulBackward: siluMulBackwardAccel,
  rope: ropeAccel,
  normRows: normRowsAccel,
  normRowsBackward: normRowsBackwardAccel,
  softmaxCrossEntropy: crossEntropyAccel,
  copy: copyAccel,
  matmul: matmulAccel,
  where: whereAccel,
};
