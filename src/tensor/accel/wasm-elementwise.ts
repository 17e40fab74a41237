/**
 * WebAssembly SIMD kernels for float32 elementwise arithmetic and row reductions, emitted from
 * TypeScript like the matmul kernel (wasm-emit.ts). They are accelerations of op-table entries
 * (see accel/index.ts, which decides when they apply); the entries' loops stay the reference.
 *
 * Memory: the module's linear memory is shared by a worker pool (pool.ts) and is also where large CPU
 * float32 storage lives (heap.ts), so an operand or result that is such storage is read and written
 * where it lies; any other operand is copied into a scratch block for the call, and such a result
 * copied out of one.
 *
 * Layout: every kernel works on a [rows, cols] grid. An operand is either a vector along the row (column step 1, loaded 4 lanes at a time) or
 * one value per row (column step 0, splatted), with any row step: that covers same-shape
 * contiguous arrays (one long row), a row vector over rows, a column and a scalar. The inner loop
 * always runs whole 4-lane vectors; the last vector of a row may spill into the next row (which is
 * written afterwards) or into padding, so there is no scalar tail.
 *
 * Arithmetic: f32x4 add/sub/mul/div and sqrt are correctly rounded, which is exactly what the
 * reference gets by computing in float64 and rounding once (double rounding is innocuous for these
 * ops), so results are bit-identical. Row sums accumulate in float64 (two f64x2 lanes), in a
 * different order than the reference, so they agree to float64 rounding before the final float32
 * rounding.
 */
import { Code, LOW_HALVES, OP, pushF64Half, SIMD, T, wasmModule, type WasmFunction } from './wasm-emit.js';
import { Float32Heap, heapBudgetSetting, MAX_HEAP_PAGES } from './heap.js';
import { threadCount, WasmPool } from './pool.js';

export type WasmBinaryOp = 'add' | 'sub' | 'mul' | 'div';
export type WasmUnaryOp = 'neg' | 'abs' | 'sqrt';
export const WASM_BINARY_OPS: readonly WasmBinaryOp[] = ['add', 'sub', 'mul', 'div'];
export const WASM_UNARY_OPS: readonly WasmUnaryOp[] = ['neg', 'abs', 'sqrt'];

const BINARY_CODE: Record<WasmBinaryOp, number> = { add: SIMD.f32x4Add, sub: SIMD.f32x4Sub, mul: SIMD.f32x4Mul, div: SIMD.f32x4Div };
const UNARY_CODE: Record<WasmUnaryOp, number> = { neg: SIMD.f32x4Neg, abs: SIMD.f32x4Abs, sqrt: SIMD.f32x4Sqrt };

/** An operand as the kernels see it: `splat` = one value per row (column step 0). */
type Kind = 'v' | 's';

/**
 * The loop over a row of `counter` floats: passes of four vectors while more than 12 floats are left
 * (the loop's own instructions are then a quarter as many per vector: 1.07-1.11x on a 1M add), then one
 * vector at a time. `pass(count)` emits one pass of `count` vectors and advances its pointers. The last
 * vector may run past the row: the counter ends at −3..0 (at 0 when it was a multiple of 4).
 */
function vectorPasses(c: Code, counter: number, pass: (count: number) => void): void {
  for (const count of [4, 1]) {
    c.op(OP.block, T.void).op(OP.loop, T.void);
    c.get(counter).i32(4 * count - 4).op(OP.i32GtS).op(OP.i32Eqz).op(OP.brIf, 1);
    pass(count);
    c.get(counter).i32(4 * count).op(OP.i32Sub).set(counter);
    c.op(OP.br, 0);
    c.op(OP.end).op(OP.end);
  }
}

/**
 * bin_<op>_<ka><kb>(a, aRowBytes, b, bRowBytes, out, rows, cols): out[r, j] = a[r, j] op b[r, j],
 * out contiguous. rows, cols >= 1.
 */
function binaryFunction(op: WasmBinaryOp, ka: Kind, kb: Kind): WasmFunction {
  const [A, AROW, B, BROW, OUT, ROWS, COLS] = [0, 1, 2, 3, 4, 5, 6];
  const [J, PA, PB, PO] = [7, 8, 9, 10];
  const [VA, VB] = [11, 12];
  const c = new Code();
  c.op(OP.loop, T.void); // rows
  if (ka === 's') c.get(A).simd(SIMD.load32Splat, 2, 0).set(VA);
  if (kb === 's') c.get(B).simd(SIMD.load32Splat, 2, 0).set(VB);
  c.get(A).set(PA).get(B).set(PB).get(COLS).set(J);
  vectorPasses(c, J, (count) => {
    for (let u = 0; u < count; u++) {
      c.get(OUT);
      if (ka === 's') c.get(VA);
      else c.get(PA).simd(SIMD.v128Load, 2, 16 * u);
      if (kb === 's') c.get(VB);
      else c.get(PB).simd(SIMD.v128Load, 2, 16 * u);
      c.simd(BINARY_CODE[op]).simd(SIMD.v128Store, 2, 16 * u);
    }
    c.addTo(OUT, 16 * count);
    if (ka === 'v') c.addTo(PA, 16 * count);
    if (kb === 'v') c.addTo(PB, 16 * count);
  });
  // The spilled lanes of the last vector belong to the next row: step OUT back to the row's end.
  c.get(OUT).get(J).i32(4).op(OP.i32Mul).op(OP.i32Add).set(OUT);
  c.get(A).get(AROW).op(OP.i32Add).set(A);
  c.get(B).get(BROW).op(OP.i32Add).set(B);
  c.get(ROWS).i32(1).op(OP.i32Sub).tee(ROWS).op(OP.brIf, 0);
  c.op(OP.end);
  return { name: `bin_${op}_${ka}${kb}`, params: 7, locals: [[4, T.i32], [2, T.v128]], code: c };
}

/** un_<op>(x, out, n): out[i] = op(x[i]) over ceil(n/4) vectors. n >= 1. */
function unaryFunction(op: WasmUnaryOp): WasmFunction {
  const [X, OUT, N] = [0, 1, 2];
  const c = new Code();
  vectorPasses(c, N, (count) => {
    for (let u = 0; u < count; u++) c.get(OUT).get(X).simd(SIMD.v128Load, 2, 16 * u).simd(UNARY_CODE[op]).simd(SIMD.v128Store, 2, 16 * u);
    c.addTo(X, 16 * count).addTo(OUT, 16 * count);
  });
  return { name: `un_${op}`, params: 3, locals: [], code: c };
}

/**
 * rowsum(x, out, rows, cols4): for each row of cols4 (a multiple of 4) float32s, stores two float64
 * partial sums at out (16 bytes per row); rows are cols4 apart. Padding lanes must be 0.
 */
function rowSumFunction(): WasmFunction {
  const [X, OUT, ROWS, COLS] = [0, 1, 2, 3];
  const J = 4;
  const [V, ACC0, ACC1] = [5, 6, 7];
  const c = new Code();
  c.op(OP.loop, T.void);
  c.zero().set(ACC0).zero().set(ACC1).get(COLS).set(J);
  c.op(OP.loop, T.void);
  c.get(X).simd(SIMD.v128Load, 2, 0).set(V);
  addWidenedHalves(c, V, ACC0, ACC1);
  c.addTo(X, 16);
  c.get(J).i32(4).op(OP.i32Sub).tee(J).i32(0).op(OP.i32GtS).op(OP.brIf, 0);
  c.op(OP.end);
  c.get(OUT).get(ACC0).get(ACC1).simd(SIMD.f64x2Add).simd(SIMD.v128Store, 3, 0);
  c.addTo(OUT, 16);
  c.get(ROWS).i32(1).op(OP.i32Sub).tee(ROWS).op(OP.brIf, 0);
  c.op(OP.end);
  return { name: 'rowsum', params: 4, locals: [[1, T.i32], [3, T.v128]], code: c };
}

/** rowmax(x, out, rows, cols4): the 4-lane running max of each row at out (16 bytes per row); padding lanes must be -Infinity. */
function rowMaxFunction(): WasmFunction {
  const [X, OUT, ROWS, COLS] = [0, 1, 2, 3];
  const J = 4;
  const ACC = 5;
  const c = new Code();
  c.op(OP.loop, T.void);
  c.get(X).simd(SIMD.v128Load, 2, 0).set(ACC).addTo(X, 16).get(COLS).i32(4).op(OP.i32Sub).set(J);
  c.op(OP.block, T.void);
  c.get(J).op(OP.i32Eqz).op(OP.brIf, 0);
  c.op(OP.loop, T.void);
  c.get(ACC).get(X).simd(SIMD.v128Load, 2, 0).simd(SIMD.f32x4Max).set(ACC);
  c.addTo(X, 16);
  c.get(J).i32(4).op(OP.i32Sub).tee(J).i32(0).op(OP.i32GtS).op(OP.brIf, 0);
  c.op(OP.end);
  c.op(OP.end);
  c.get(OUT).get(ACC).simd(SIMD.v128Store, 2, 0);
  c.addTo(OUT, 16);
  c.get(ROWS).i32(1).op(OP.i32Sub).tee(ROWS).op(OP.brIf, 0);
  c.op(OP.end);
  return { name: 'rowmax', params: 4, locals: [[1, T.i32], [1, T.v128]], code: c };
}

/** i8x16.shuffle lanes swapping the two 64-bit halves, and the two f32 of each half. */
const SWAP_HALVES = [8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7];
const SWAP_PAIRS = [4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11];

/** acc0 += the float64 lanes 0-1 of the float32 vector in local v, acc1 += lanes 2-3 (float64 sums of float32 data). */
function addWidenedHalves(c: Code, v: number, acc0: number, acc1: number): void {
  c.get(acc0); pushF64Half(c, v, false).simd(SIMD.f64x2Add).set(acc0);
  c.get(acc1); pushF64Half(c, v, true).simd(SIMD.f64x2Add).set(acc1);
}

/** Leaves the horizontal `combine` (f32x4 max or add) of local `v` in all four lanes of `v`. */
function horizontal(c: Code, v: number, combine: number): void {
  for (const lanes of [SWAP_HALVES, SWAP_PAIRS]) c.get(v).get(v).get(v).simd(SIMD.i8x16Shuffle).op(...lanes).simd(combine).set(v);
}

/** The constants of {@link expNonPositive}, in the locals {@link setExpConstants} fills. */
const EXP_CONSTANTS = [
  Math.LOG2E,
  // 1.5·2^23: adding it rounds to an integer n (ties to even, as f32x4.nearest: it is even) and leaves
  // n in the float's low bits, so (bits + 127) << 23 are 2^n's bits.
  12582912,
  0.693359375, -2.12194440e-4, // ln 2 in two parts (Cody-Waite)
  1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1, // Cephes' expf polynomial
  1, -126,
] as const;
const [K_LOG2E, K_ROUND, K_LN2_HI, K_LN2_LO, K_P0] = [0, 1, 2, 3, 4];
const [K_ONE, K_MIN_EXP, K_EXP_BIAS] = [10, 11, 12];
/** v128 locals {@link expNonPositive} reads its constants from (the float32 ones, then i32x4 127, the exponent bias). */
const EXP_CONSTANT_LOCALS = EXP_CONSTANTS.length + 1;

/**
 * Sets the EXP_CONSTANT_LOCALS v128 locals from `first` to the splatted constants, once per call:
 * V8 would otherwise rebuild every v128.const inside the loop (a few instructions each).
 */
function setExpConstants(c: Code, first: number): void {
  EXP_CONSTANTS.forEach((value, i) => c.f32x4(value).set(first + i));
  c.i32x4(127).set(first + K_EXP_BIAS);
}

/**
 * Vectors that go through the exp side by side in softmax and sigmoid. Its chain of ~25 dependent
 * operations is latency-bound: per 1M floats on one core softmax took 3.0 ms with one vector, 1.8-2.0
 * with two and 1.55-1.7 with four (six and eight measured no better); the results are the same bits
 * (each vector's sum is still added in column order).
 */
const EXP_LANES = 4;

/** The v128 locals of one {@link expNonPositive} lane: its argument and result t, and temporaries n, f, p. */
interface ExpLane { readonly t: number; readonly n: number; readonly f: number; readonly p: number }

/**
 * exp of the f32x4 in each lane's local t, for arguments <= 0 (softmax's x − max), left in t: 2^n · p(r)
 * with n = round(t / ln 2), r = t − n ln 2 in two parts (Cody-Waite), p Cephes' degree-7 expf polynomial
 * (about 1 ulp); arguments below −87 (where 2^n would leave the normal range) give exactly 0, so a
 * −Infinity (a masked score) stays a zero weight. NaN stays NaN. Constants from the locals at k
 * (setExpConstants).
 *
 * Each step is written for every lane before the next step: the steps of one lane form a chain of
 * ~25 dependent operations, so independent lanes side by side (EXP_LANES) keep the vector units busy
 * where one lane waits on latencies.
 */
function expNonPositive(c: Code, lanes: readonly ExpLane[], k: number): void {
  const K = (i: number): Code => c.get(k + i);
  const each = (step: (lane: ExpLane) => void): void => lanes.forEach(step);
  // f = t·log2e + 1.5·2^23 (rounded to an integer), n = f − 1.5·2^23, exact
  each(({ t, n, f }) => { c.get(t); K(K_LOG2E).simd(SIMD.f32x4Mul); K(K_ROUND).simd(SIMD.f32x4Add).tee(f); K(K_ROUND).simd(SIMD.f32x4Sub).set(n); });
  // r = t − n·ln2_hi − n·ln2_lo, into t
  each(({ t, n }) => { c.get(t).get(n); K(K_LN2_HI).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Sub).get(n); K(K_LN2_LO).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Sub).set(t); });
  // p = ((((c5 r + c4) r + c3) r + c2) r + c1) r + c0, then p r² + r + 1
  each(({ t, p }) => { K(K_P0).get(t).simd(SIMD.f32x4Mul); K(K_P0 + 1).simd(SIMD.f32x4Add).set(p); });
  for (let i = 2; i <= 5; i++) each(({ t, p }) => { c.get(p).get(t).simd(SIMD.f32x4Mul); K(K_P0 + i).simd(SIMD.f32x4Add).set(p); });
  each(({ t, p }) => { c.get(p).get(t).simd(SIMD.f32x4Mul).get(t).simd(SIMD.f32x4Mul).get(t).simd(SIMD.f32x4Add); K(K_ONE).simd(SIMD.f32x4Add).set(p); });
  // times 2^n: (f's bits + 127) << 23 = (n + 127) << 23, the bits of 2^n (the 1.5·2^23 shifts out);
  // zero where n < −126 (t < −87.3): n is compared, so NaN (n NaN, comparison false) stays NaN
  each(({ t, n, f, p }) => {
    c.get(p).get(f); K(K_EXP_BIAS).simd(SIMD.i32x4Add).i32(23).simd(SIMD.i32x4Shl).simd(SIMD.f32x4Mul);
    c.get(n); K(K_MIN_EXP).simd(SIMD.f32x4Lt).simd(SIMD.v128AndNot).set(t);
  });
}

/**
 * softmax(x, out, rows, cols4): softmax over each row of cols4 (a multiple of 4) float32s, rows
 * contiguous; padding lanes must be −Infinity (they get weight 0). Row max, then exp(x − max) into
 * out with a float64 sum, then out times 1 / sum.
 */
function softmaxFunction(): WasmFunction {
  const [X, OUT, ROWS, COLS] = [0, 1, 2, 3];
  const [J, P, Q] = [4, 5, 6];
  const [M, S, S1, K0] = [7, 8, 9, 10];
  const LANES = Array.from({ length: EXP_LANES }, (_, i): ExpLane => { const at = K0 + EXP_CONSTANT_LOCALS + 4 * i; return { t: at, n: at + 1, f: at + 2, p: at + 3 }; });
  const c = new Code();
  setExpConstants(c, K0);
  c.op(OP.loop, T.void);
  // max, in column order
  c.get(X).simd(SIMD.v128Load, 2, 0).set(M).get(X).i32(16).op(OP.i32Add).set(P).get(COLS).i32(4).op(OP.i32Sub).set(J);
  vectorPasses(c, J, (count) => {
    for (let u = 0; u < count; u++) c.get(M).get(P).simd(SIMD.v128Load, 2, 16 * u).simd(SIMD.f32x4Pmax).set(M);
    c.addTo(P, 16 * count);
  });
  horizontal(c, M, SIMD.f32x4Pmax);
  // exp, and its sum in float64 (two f64x2 accumulators, S and S1)
  // EXP_LANES vectors at a time while that many are left, then one at a time; each added to the sums in column order.
  c.zero().set(S).zero().set(S1).get(X).set(P).get(OUT).set(Q).get(COLS).set(J);
  const expVectors = (lanes: readonly ExpLane[]): void => {
    lanes.forEach(({ t }, v) => c.get(P).simd(SIMD.v128Load, 2, 16 * v).get(M).simd(SIMD.f32x4Sub).set(t));
    expNonPositive(c, lanes, K0);
    lanes.forEach(({ t }, v) => c.get(Q).get(t).simd(SIMD.v128Store, 2, 16 * v));
    for (const { t } of lanes) addWidenedHalves(c, t, S, S1);
    c.addTo(P, 16 * lanes.length).addTo(Q, 16 * lanes.length);
    c.get(J).i32(4 * lanes.length).op(OP.i32Sub).set(J);
  };
  c.op(OP.block, T.void).op(OP.loop, T.void);
  c.get(J).i32(4 * EXP_LANES).op(OP.i32LtU).op(OP.brIf, 1);
  expVectors(LANES);
  c.op(OP.br, 0);
  c.op(OP.end).op(OP.end);
  c.op(OP.block, T.void).op(OP.loop, T.void);
  c.get(J).op(OP.i32Eqz).op(OP.brIf, 1);
  expVectors(LANES.slice(0, 1));
  c.op(OP.br, 0);
  c.op(OP.end).op(OP.end);
  // S = splat(1 / float32(sum of the four float64 lanes))
  c.get(S).get(S1).simd(SIMD.f64x2Add).tee(S).simd(SIMD.f64x2ExtractLane).op(0).get(S).simd(SIMD.f64x2ExtractLane).op(1).op(OP.f64Add).op(OP.f32DemoteF64);
  c.simd(SIMD.f32x4Splat).set(S);
  c.get(K0 + K_ONE).get(S).simd(SIMD.f32x4Div).set(S);
  // normalise
  c.get(OUT).set(Q).get(COLS).set(J);
  vectorPasses(c, J, (count) => {
    for (let u = 0; u < count; u++) c.get(Q).get(Q).simd(SIMD.v128Load, 2, 16 * u).get(S).simd(SIMD.f32x4Mul).simd(SIMD.v128Store, 2, 16 * u);
    c.addTo(Q, 16 * count);
  });
  // next row
  c.get(X).get(COLS).i32(4).op(OP.i32Mul).op(OP.i32Add).set(X);
  c.get(OUT).get(COLS).i32(4).op(OP.i32Mul).op(OP.i32Add).set(OUT);
  c.get(ROWS).i32(1).op(OP.i32Sub).tee(ROWS).op(OP.brIf, 0);
  c.op(OP.end);
  return { name: 'softmax', params: 4, locals: [[3, T.i32], [3 + EXP_CONSTANT_LOCALS + 4 * EXP_LANES, T.v128]], code: c };
}

/**
 * sigmoid(x, out, n): 1 / (1 + e) for x >= 0 and e / (1 + e) below, e = exp(−|x|) (the reference's
 * stable split, with the polynomial exp of {@link expNonPositive}); a few float32 ulps from the
 * reference. n >= 1, in steps of EXP_LANES vectors (up to 4·EXP_LANES − 1 = 15 floats past n are read
 * and written: inside a heap block's 64-byte slack).
 */
function sigmoidFunction(): WasmFunction {
  const [X, OUT, N] = [0, 1, 2];
  const K0 = 3;
  const LANES = Array.from({ length: EXP_LANES }, (_, i) => { const at = K0 + EXP_CONSTANT_LOCALS + 6 * i; return { x: at, r: at + 1, exp: { t: at + 2, n: at + 3, f: at + 4, p: at + 5 } }; });
  const c = new Code();
  setExpConstants(c, K0);
  // EXP_LANES vectors per pass (independent chains, see expNonPositive).
  c.op(OP.loop, T.void);
  LANES.forEach(({ x, exp }, v) => c.get(X).simd(SIMD.v128Load, 2, 16 * v).tee(x).simd(SIMD.f32x4Abs).simd(SIMD.f32x4Neg).set(exp.t));
  expNonPositive(c, LANES.map((l) => l.exp), K0);
  for (const { r, exp } of LANES) c.get(K0 + K_ONE).get(K0 + K_ONE).get(exp.t).simd(SIMD.f32x4Add).simd(SIMD.f32x4Div).set(r); // 1 / (1 + e)
  // out = x >= 0 ? r : e · r
  LANES.forEach(({ x, r, exp }, v) => {
    c.get(OUT).get(r).get(exp.t).get(r).simd(SIMD.f32x4Mul).get(x).zero().simd(SIMD.f32x4Ge).simd(SIMD.v128Bitselect).simd(SIMD.v128Store, 2, 16 * v);
  });
  c.addTo(X, 16 * EXP_LANES).addTo(OUT, 16 * EXP_LANES);
  c.get(N).i32(4 * EXP_LANES).op(OP.i32Sub).tee(N).i32(0).op(OP.i32GtS).op(OP.brIf, 0);
  c.op(OP.end);
  return { name: 'sigmoid', params: 3, locals: [[EXP_CONSTANT_LOCALS + 6 * EXP_LANES, T.v128]], code: c };
}

/**
 * colsum(x, out, outer, rows, cols): for each of `outer` blocks of `rows` x `cols` float32s (cols a
 * multiple of 4, rows >= 1), the float64 sums over the rows of each column, stored as float64 at out
 * (cols per block). Each column is added in row order in float64, as the reference does, so the sums
 * are the reference's exactly.
 */
function colSumFunction(): WasmFunction {
  const [X, OUT, OUTER, ROWS, COLS] = [0, 1, 2, 3, 4];
  const [CV, R, P, BLOCK, STEP] = [5, 6, 7, 8, 9];
  const [V, ACC0, ACC1] = [10, 11, 12];
  const c = new Code();
  c.get(COLS).i32(4).op(OP.i32Mul).set(STEP); // bytes from one row to the next
  c.op(OP.loop, T.void); // blocks
  c.get(X).set(BLOCK).i32(0).set(CV);
  c.op(OP.loop, T.void); // 4 columns at a time
  c.zero().set(ACC0).zero().set(ACC1).get(BLOCK).get(CV).i32(16).op(OP.i32Mul).op(OP.i32Add).set(P).get(ROWS).set(R);
  c.op(OP.loop, T.void); // rows
  c.get(P).simd(SIMD.v128Load, 2, 0).set(V);
  addWidenedHalves(c, V, ACC0, ACC1);
  c.get(P).get(STEP).op(OP.i32Add).set(P);
  c.get(R).i32(1).op(OP.i32Sub).tee(R).op(OP.brIf, 0);
  c.op(OP.end);
  c.get(OUT).get(ACC0).simd(SIMD.v128Store, 3, 0).get(OUT).get(ACC1).simd(SIMD.v128Store, 3, 16).addTo(OUT, 32);
  c.get(CV).i32(1).op(OP.i32Add).tee(CV).i32(4).op(OP.i32Mul).get(COLS).op(OP.i32LtU).op(OP.brIf, 0);
  c.op(OP.end);
  c.get(X).get(ROWS).get(STEP).op(OP.i32Mul).op(OP.i32Add).set(X);
  c.get(OUTER).i32(1).op(OP.i32Sub).tee(OUTER).op(OP.brIf, 0);
  c.op(OP.end);
  return { name: 'colsum', params: 5, locals: [[5, T.i32], [3, T.v128]], code: c };
}

/**
 * gather_rows(src, table, out, rows, len): out's rows, each `len` float32s, are copied from src + table[r]
 * (byte offsets), r < rows, in whole 4-lane vectors: a row's last vector spills into the next row's
 * start (written next) or, after the last row, into padding. A copy moves bits, so the result is the
 * reference's exactly. rows, len >= 1.
 */
function gatherRowsFunction(): WasmFunction {
  const [SRC, TABLE, OUT, ROWS, LEN] = [0, 1, 2, 3, 4];
  const [J, PS] = [5, 6];
  const c = new Code();
  c.op(OP.loop, T.void); // rows
  c.get(SRC).get(TABLE).op(OP.i32Load, 2, 0).op(OP.i32Add).set(PS);
  c.get(LEN).set(J);
  c.op(OP.loop, T.void); // 4 floats at a time
  c.get(OUT).get(PS).simd(SIMD.v128Load, 2, 0).simd(SIMD.v128Store, 2, 0);
  c.addTo(OUT, 16).addTo(PS, 16);
  c.get(J).i32(4).op(OP.i32Sub).tee(J).i32(0).op(OP.i32GtS).op(OP.brIf, 0);
  c.op(OP.end);
  c.get(OUT).get(J).i32(4).op(OP.i32Mul).op(OP.i32Add).set(OUT); // back to the row's end
  c.addTo(TABLE, 4);
  c.get(ROWS).i32(1).op(OP.i32Sub).tee(ROWS).op(OP.brIf, 0);
  c.op(OP.end);
  return { name: 'gather_rows', params: 5, locals: [[2, T.i32]], code: c };
}

/**
 * silumulback(a, b, s, g, da, db, n): da = g·b·s·(1 + a·(1 − s)) and db = g·a·s over ceil(n/4) vectors
 * of contiguous float32 operands (siluMulBackward). The arithmetic is float64 (f64x2, each half of a
 * vector promoted), in the reference loop's order: ((g·b)·s)·(1 + a·(1 − s)) and (g·a)·s, rounded once
 * to float32 at the store, which is what the JavaScript loop does, so every bit agrees.
 */
function siluMulBackFunction(): WasmFunction {
  const [A, B, S, G, DA, DB, N] = [0, 1, 2, 3, 4, 5, 6];
  const [VA, VB, VS, VG, LO] = [7, 8, 9, 10, 11];
  const c = new Code();
  const half = (v: number, high: boolean): Code => pushF64Half(c, v, high);
  // da for one half: ((g·b)·s)·(1 + a·(1 − s)).
  const da = (high: boolean): void => {
    half(VG, high); half(VB, high); c.simd(SIMD.f64x2Mul);
    half(VS, high); c.simd(SIMD.f64x2Mul);
    c.f64x2(1);
    half(VA, high);
    c.f64x2(1); half(VS, high); c.simd(SIMD.f64x2Sub);
    c.simd(SIMD.f64x2Mul).simd(SIMD.f64x2Add);
    c.simd(SIMD.f64x2Mul).simd(SIMD.f32x4DemoteF64x2Zero);
  };
  // db for one half: (g·a)·s.
  const db = (high: boolean): void => {
    half(VG, high); half(VA, high); c.simd(SIMD.f64x2Mul);
    half(VS, high); c.simd(SIMD.f64x2Mul).simd(SIMD.f32x4DemoteF64x2Zero);
  };
  c.op(OP.loop, T.void);
  c.get(A).simd(SIMD.v128Load, 2, 0).set(VA);
  c.get(B).simd(SIMD.v128Load, 2, 0).set(VB);
  c.get(S).simd(SIMD.v128Load, 2, 0).set(VS);
  c.get(G).simd(SIMD.v128Load, 2, 0).set(VG);
  da(false); c.set(LO);
  c.get(DA).get(LO); da(true); c.simd(SIMD.i8x16Shuffle).op(...LOW_HALVES).simd(SIMD.v128Store, 2, 0);
  db(false); c.set(LO);
  c.get(DB).get(LO); db(true); c.simd(SIMD.i8x16Shuffle).op(...LOW_HALVES).simd(SIMD.v128Store, 2, 0);
  c.addTo(A, 16).addTo(B, 16).addTo(S, 16).addTo(G, 16).addTo(DA, 16).addTo(DB, 16);
  c.get(N).i32(4).op(OP.i32Sub).tee(N).i32(0).op(OP.i32GtS).op(OP.brIf, 0);
  c.op(OP.end);
  return { name: 'silumulback', params: 7, locals: [[5, T.v128]], code: c };
}

/**
 * siluback(x, s, g, dx, n): dx = g·s·(1 + x·(1 − s)) over ceil(n/4) vectors of contiguous float32
 * operands (siluBackward), in float64 and the reference loop's order, (g·s)·(1 + x·(1 − s)), rounded
 * once at the store: the same bits, as in silumulback.
 */
function siluBackFunction(): WasmFunction {
  const [X, S, G, DX, N] = [0, 1, 2, 3, 4];
  const [VX, VS, VG, LO] = [5, 6, 7, 8];
  const c = new Code();
  const half = (v: number, high: boolean): Code => pushF64Half(c, v, high);
  const dx = (high: boolean): void => {
    half(VG, high); half(VS, high); c.simd(SIMD.f64x2Mul);
    c.f64x2(1);
    half(VX, high);
    c.f64x2(1); half(VS, high); c.simd(SIMD.f64x2Sub);
    c.simd(SIMD.f64x2Mul).simd(SIMD.f64x2Add);
    c.simd(SIMD.f64x2Mul).simd(SIMD.f32x4DemoteF64x2Zero);
  };
  c.op(OP.loop, T.void);
  c.get(X).simd(SIMD.v128Load, 2, 0).set(VX);
  c.get(S).simd(SIMD.v128Load, 2, 0).set(VS);
  c.get(G).simd(SIMD.v128Load, 2, 0).set(VG);
  dx(false); c.set(LO);
  c.get(DX).get(LO); dx(true); c.simd(SIMD.i8x16Shuffle).op(...LOW_HALVES).simd(SIMD.v128Store, 2, 0);
  c.addTo(X, 16).addTo(S, 16).addTo(G, 16).addTo(DX, 16);
  c.get(N).i32(4).op(OP.i32Sub).tee(N).i32(0).op(OP.i32GtS).op(OP.brIf, 0);
  c.op(OP.end);
  return { name: 'siluback', params: 5, locals: [[4, T.v128]], code: c };
}

/**
 * rope_fwd / rope_inv(x, rowTable, cos, sin, out, groups, t, half): rotary embedding of groups·t rows of
 * 2·half float32s. Row r (position r mod t) starts at x + rowTable[r] (byte offsets, so x may be any
 * permuted view whose rows are contiguous); cos and sin are [t, half] contiguous, sin already negated for
 * the inverse; out is contiguous. out = [x1·c − x2·s, x2·c + x1·s], then + 0 for the inverse: float32
 * products and sums, each correctly rounded, which is what the reference's Math.fround steps are, so
 * the bits agree (the reference's `zero`: −0 + v = v, +0 turns −0 into +0). half must be a multiple of 4.
 */
function ropeFunction(inverse: boolean): WasmFunction {
  const [X, ROWS, COS, SIN, OUT, GROUPS, POSITIONS, HALF] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [P, I, XA, XB, OA, OB, CP, SP, HB] = [8, 9, 10, 11, 12, 13, 14, 15, 16];
  const [VA, VB, VC, VS] = [17, 18, 19, 20];
  const c = new Code();
  const plusZero = (): void => {
    if (inverse) c.zero().simd(SIMD.f32x4Add);
  };
  c.get(HALF).i32(4).op(OP.i32Mul).set(HB);
  c.get(OUT).set(OA);
  c.op(OP.loop, T.void); // groups of t rows
  c.get(COS).set(CP).get(SIN).set(SP).get(POSITIONS).set(P);
  c.op(OP.loop, T.void); // positions
  c.get(X).get(ROWS).op(OP.i32Load, 2, 0).op(OP.i32Add).set(XA);
  c.addTo(ROWS, 4);
  c.get(XA).get(HB).op(OP.i32Add).set(XB);
  c.get(OA).get(HB).op(OP.i32Add).set(OB);
  c.get(HALF).set(I);
  c.op(OP.loop, T.void); // 4 pairs at a time
  c.get(XA).simd(SIMD.v128Load, 2, 0).set(VA);
  c.get(XB).simd(SIMD.v128Load, 2, 0).set(VB);
  c.get(CP).simd(SIMD.v128Load, 2, 0).set(VC);
  c.get(SP).simd(SIMD.v128Load, 2, 0).set(VS);
  c.get(OA).get(VA).get(VC).simd(SIMD.f32x4Mul).get(VB).get(VS).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Sub);
  plusZero();
  c.simd(SIMD.v128Store, 2, 0);
  c.get(OB).get(VB).get(VC).simd(SIMD.f32x4Mul).get(VA).get(VS).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add);
  plusZero();
  c.simd(SIMD.v128Store, 2, 0);
  c.addTo(XA, 16).addTo(XB, 16).addTo(OA, 16).addTo(OB, 16).addTo(CP, 16).addTo(SP, 16);
  c.get(I).i32(4).op(OP.i32Sub).tee(I).i32(0).op(OP.i32GtS).op(OP.brIf, 0);
  c.op(OP.end);
  c.get(OB).set(OA); // the next output row
  c.get(P).i32(1).op(OP.i32Sub).tee(P).op(OP.brIf, 0);
  c.op(OP.end);
  c.get(GROUPS).i32(1).op(OP.i32Sub).tee(GROUPS).op(OP.brIf, 0);
  c.op(OP.end);
  return { name: inverse ? 'rope_inv' : 'rope_fwd', params: 8, locals: [[9, T.i32], [4, T.v128]], code: c };
}

/*
 * The row norms (normRows and its backward) as scalar float64 loops: each float32 load promoted
 * exactly, every sum accumulated in the reference's order (j = 0, 1, ...; rows in order for dw and db)
 * and every expression evaluated as the reference writes it, rounded to float32 only at the stores.
 * IEEE float64 arithmetic (sqrt included) is the same in wasm as in JavaScript, so the bits agree.
 */

/** Pushes the float32 at byte address `ptr + 4·j`, promoted to float64. */
function loadF32AsF64(c: Code, ptr: number, j: number): Code {
  return c.get(ptr).get(j).i32(4).op(OP.i32Mul).op(OP.i32Add).op(OP.f32Load, 2, 0).op(OP.f64PromoteF32);
}

/** for (j = 0; j < limit; j++) body(), with j and limit i32 locals; limit >= 1. */
function countedLoop(c: Code, j: number, limit: number, body: () => void): void {
  c.i32(0).set(j);
  c.op(OP.loop, T.void);
  body();
  c.get(j).i32(1).op(OP.i32Add).tee(j).get(limit).op(OP.i32LtU).op(OP.brIf, 0);
  c.op(OP.end);
}

/**
 * The end of a norm's row loop: each pointer local moves on by d float32s (`scratch`, an i32 local,
 * holds the row's byte length), the stats pointer by one float32, and the loop repeats while --rows.
 */
function endRow(c: Code, d: number, scratch: number, pointers: readonly number[], stats: number, rows: number): void {
  c.get(d).i32(4).op(OP.i32Mul).set(scratch);
  for (const p of pointers) c.get(p).get(scratch).op(OP.i32Add).set(p);
  c.addTo(stats, 4);
  c.get(rows).i32(1).op(OP.i32Sub).tee(rows).op(OP.brIf, 0);
  c.op(OP.end);
}

/**
 * normfwd(x, w, b, out, stats, rows, d, center, epsAt, invBytes): per row, μ (0 unless center),
 * r = 1/sqrt(Σ(x−μ)²/d + eps), out = ((x − μ)·r)·w + b; μ to the float32 at stats and r invBytes after it,
 * each pointer moving on by a row. eps is the float64 at byte epsAt. rows, d >= 1. Rows are independent,
 * so threads take a span of rows each.
 */
function normForwardFunction(): WasmFunction {
  const [X, W, B, OUT, STATS, ROWS, D, CENTER, EPS_AT, INV_BYTES] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [R, J, PS] = [10, 11, 12];
  const [MEAN, SS, INV, C, DF, EPS] = [13, 14, 15, 16, 17, 18];
  const c = new Code();
  const loopJ = (body: () => void): void => countedLoop(c, J, D, body);
  c.get(D).op(OP.f64ConvertI32U).set(DF);
  c.get(EPS_AT).op(OP.f64Load, 3, 0).set(EPS);
  c.get(STATS).set(PS);
  c.get(ROWS).set(R);
  c.op(OP.loop, T.void);
  c.f64(0).set(MEAN);
  c.get(CENTER).op(OP.if, T.void);
  loopJ(() => { c.get(MEAN); loadF32AsF64(c, X, J).op(OP.f64Add).set(MEAN); });
  c.get(MEAN).get(DF).op(OP.f64Div).set(MEAN);
  c.op(OP.end);
  c.f64(0).set(SS);
  loopJ(() => { loadF32AsF64(c, X, J).get(MEAN).op(OP.f64Sub).set(C); c.get(SS).get(C).get(C).op(OP.f64Mul).op(OP.f64Add).set(SS); });
  c.f64(1).get(SS).get(DF).op(OP.f64Div).get(EPS).op(OP.f64Add).op(OP.f64Sqrt).op(OP.f64Div).set(INV);
  loopJ(() => {
    c.get(OUT).get(J).i32(4).op(OP.i32Mul).op(OP.i32Add); // the store's address
    loadF32AsF64(c, X, J).get(MEAN).op(OP.f64Sub).get(INV).op(OP.f64Mul);
    loadF32AsF64(c, W, J).op(OP.f64Mul);
    loadF32AsF64(c, B, J).op(OP.f64Add);
    c.op(OP.f32DemoteF64).op(OP.f32Store, 2, 0);
  });
  c.get(PS).get(MEAN).op(OP.f32DemoteF64).op(OP.f32Store, 2, 0);
  c.get(PS).get(INV_BYTES).op(OP.i32Add).get(INV).op(OP.f32DemoteF64).op(OP.f32Store, 2, 0);
  endRow(c, D, J, [X, OUT], PS, R); // J as scratch
  return { name: 'normfwd', params: 10, locals: [[3, T.i32], [6, T.f64]], code: c };
}

/**
 * normback(x, w, g, out, stats, dwb, rows, d, center): per row (μ, r from stats as normfwd left them),
 * x̂ = (x − μ)·r, gx = g·w, sums of gx and gx·x̂ in order, dw[j] += g·x̂ and db[j] += g (float64 at dwb and
 * dwb + 8d, zeroed by the caller), then out = r·((g·w − mean(gx)) − x̂·mean(gx·x̂)), mean(gx) 0 unless center.
 */
function normBackwardFunction(): WasmFunction {
  const [X, W, G, OUT, STATS, DWB, ROWS, D, CENTER] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [R, J, PS, AT] = [9, 10, 11, 12];
  const [MEAN, INV, SG, SGX, XH, GJ, GX, MG, MGX, DF] = [13, 14, 15, 16, 17, 18, 19, 20, 21, 22];
  const c = new Code();
  const loopJ = (body: () => void): void => countedLoop(c, J, D, body);
  // dw[j] or db[j] (float64) address: dwb + 8·j (+ 8·d for db).
  const f64At = (db: boolean): void => {
    c.get(DWB).get(J).i32(8).op(OP.i32Mul).op(OP.i32Add);
    if (db) c.get(D).i32(8).op(OP.i32Mul).op(OP.i32Add);
    c.tee(AT);
  };
  c.get(D).op(OP.f64ConvertI32U).set(DF);
  c.get(STATS).set(PS);
  c.get(ROWS).set(R);
  c.op(OP.loop, T.void);
  c.get(PS).op(OP.f32Load, 2, 0).op(OP.f64PromoteF32).set(MEAN);
  c.get(PS).get(ROWS).i32(4).op(OP.i32Mul).op(OP.i32Add).op(OP.f32Load, 2, 0).op(OP.f64PromoteF32).set(INV);
  c.f64(0).set(SG).f64(0).set(SGX);
  loopJ(() => {
    loadF32AsF64(c, X, J).get(MEAN).op(OP.f64Sub).get(INV).op(OP.f64Mul).set(XH);
    loadF32AsF64(c, G, J).set(GJ);
    c.get(GJ); loadF32AsF64(c, W, J).op(OP.f64Mul).set(GX);
    c.get(SG).get(GX).op(OP.f64Add).set(SG);
    c.get(SGX).get(GX).get(XH).op(OP.f64Mul).op(OP.f64Add).set(SGX);
    f64At(false); c.get(AT).op(OP.f64Load, 3, 0).get(GJ).get(XH).op(OP.f64Mul).op(OP.f64Add).op(OP.f64Store, 3, 0);
    f64At(true); c.get(AT).op(OP.f64Load, 3, 0).get(GJ).op(OP.f64Add).op(OP.f64Store, 3, 0);
  });
  c.f64(0).set(MG);
  c.get(CENTER).op(OP.if, T.void).get(SG).get(DF).op(OP.f64Div).set(MG).op(OP.end);
  c.get(SGX).get(DF).op(OP.f64Div).set(MGX);
  loopJ(() => {
    c.get(OUT).get(J).i32(4).op(OP.i32Mul).op(OP.i32Add); // the store's address
    loadF32AsF64(c, X, J).get(MEAN).op(OP.f64Sub).get(INV).op(OP.f64Mul).set(XH);
    c.get(INV);
    loadF32AsF64(c, G, J); loadF32AsF64(c, W, J).op(OP.f64Mul).get(MG).op(OP.f64Sub);
    c.get(XH).get(MGX).op(OP.f64Mul).op(OP.f64Sub);
    c.op(OP.f64Mul).op(OP.f32DemoteF64).op(OP.f32Store, 2, 0);
  });
  endRow(c, D, AT, [X, G, OUT], PS, R);
  return { name: 'normback', params: 9, locals: [[4, T.i32], [10, T.f64]], code: c };
}

/** The module's functions, in export order. */
function elementwiseFunctions(): WasmFunction[] {
  const fns: WasmFunction[] = [];
  for (const op of WASM_BINARY_OPS) for (const [ka, kb] of [['v', 'v'], ['v', 's'], ['s', 'v']] as const) fns.push(binaryFunction(op, ka, kb));
  for (const op of WASM_UNARY_OPS) fns.push(unaryFunction(op));
  fns.push(rowSumFunction(), rowMaxFunction(), softmaxFunction(), sigmoidFunction(), colSumFunction(), siluBackFunction(), siluMulBackFunction(), ropeFunction(false), ropeFunction(true), normForwardFunction(), normBackwardFunction(), gatherRowsFunction());
  return fns;
}

/** The whole module's bytes (its memory imported, shared, as the pool and heap need). */
export function emitElementwiseModule(): Uint8Array {
  return wasmModule(elementwiseFunctions(), MAX_HEAP_PAGES);
}

/** One operand of {@link WasmElementwise.binary}: element (r, j) is data[offset + r*rowStride + j*colStride], colStride 0 or 1. */
export interface GridOperand {
  readonly data: Float32Array;
  readonly offset: number;
  readonly rowStride: number;
  readonly colStride: 0 | 1;
}

/** From this many elements sigmoid and softmax (bound by their exp) are split over the pool's threads. */
export const ELEMENTWISE_PARALLEL_MIN = 1 << 16;
/** From this many elements normRows (scalar float64 arithmetic, three passes a row) is split over the pool's threads. */
export const NORM_PARALLEL_MIN = 1 << 15;

/** Construction options (tests pin them; the engine uses the defaults). */
export interface WasmElementwiseOptions {
  /** Threads in the pool (default: CALM_THREADS, else the machine's). */
  readonly threads?: number;
  /** Heap storage budget in bytes (default: CALM_CPU_HEAP_MB). */
  readonly heapBudgetBytes?: number;
}

/**
 * The kernels, run by a {@link WasmPool} over one shared memory that is also the {@link Float32Heap}:
 * an operand or result that is a heap array is used where it lies; any other is copied into a scratch
 * block for the call (and a result copied out of one).
 */
export class WasmElementwise {
  /** Where CPU float32 storage may live so that these kernels use it in place (cpu/backend.ts decides). */
  readonly heap: Float32Heap;
  private readonly pool: WasmPool;
  private readonly index = new Map<string, number>();
  private heap32 = new Float32Array(0);
  private heap64 = new Float64Array(0);

  constructor(options: WasmElementwiseOptions = {}) {
    const fns = elementwiseFunctions();
    fns.forEach((f, i) => this.index.set(f.name, i));
    this.pool = new WasmPool(wasmModule(fns, MAX_HEAP_PAGES), fns.map((f) => f.name), options.threads ?? threadCount(), MAX_HEAP_PAGES);
    this.heap = new Float32Heap(this.pool.memory, options.heapBudgetBytes ?? heapBudgetSetting() * 2 ** 20);
  }

  get threads(): number {
    return this.pool.threads;
  }

  /** out (contiguous rows x cols) = a op b. Not both operands may have colStride 0. */
  binary(op: WasmBinaryOp, a: GridOperand, b: GridOperand, rows: number, cols: number, out: Float32Array): void {
    if (rows === 0 || cols === 0) return;
    const call = new HeapCall(this.heap);
    const pa = call.input(a.data, a.offset, extent(a, rows, cols));
    const pb = call.input(b.data, b.offset, extent(b, rows, cols));
    const po = call.output(out);
    const fn = this.fn(`bin_${op}_${a.colStride === 1 ? 'v' : 's'}${b.colStride === 1 ? 'v' : 's'}`);
    // One thread: the kernel is bound by memory traffic, and a second core's half of the result then has
    // to cross to the core that reads it next (measured: no faster, and the next read of it slower).
    this.pool.run(fn, [[pa, 4 * a.rowStride, pb, 4 * b.rowStride, po, rows, cols]]);
    call.finish();
  }

  /** out[i] = op(x[offset + i]) for i < n (sigmoid: a few float32 ulps from the reference; the others exact). */
  unary(op: WasmUnaryOp | 'sigmoid', x: Float32Array, offset: number, n: number, out: Float32Array): void {
    if (n === 0) return;
    const call = new HeapCall(this.heap);
    const px = call.input(x, offset, n);
    const po = call.output(out);
    // sigmoid (bound by its exp) is split over the threads, in whole steps of its loop (EXP_LANES vectors)
    // so that only the last part reads and writes past its end; the others are bound by memory traffic (see binary).
    const parts = op === 'sigmoid' ? this.parts(n) : 1;
    this.pool.run(this.fn(op === 'sigmoid' ? 'sigmoid' : `un_${op}`), spans(n, parts, 4 * EXP_LANES).map(([s, e]) => [px + 4 * s, po + 4 * s, e - s]));
    call.finish();
  }

  /** siluBackward over n contiguous elements of x, s = sigmoid(x) and g: out = dx, bit for bit the reference loop's (see siluBackFunction). */
  siluBackward(x: Float32Array, xAt: number, s: Float32Array, sAt: number, g: Float32Array, gAt: number, n: number, out: Float32Array): void {
    if (n === 0) return;
    const call = new HeapCall(this.heap);
    this.pool.run(this.fn('siluback'), [[call.input(x, xAt, n), call.input(s, sAt, n), call.input(g, gAt, n), call.output(out), n]]);
    call.finish();
  }

  /**
   * siluMulBackward over n contiguous elements of a, b, s = sigmoid(a) and g (each from its offset):
   * out[0..n) = da, out[n..2n) = db, bit for bit the reference loop's values (see siluMulBackFunction).
   */
  siluMulBackward(a: Float32Array, aAt: number, b: Float32Array, bAt: number, s: Float32Array, sAt: number, g: Float32Array, gAt: number, n: number, out: Float32Array): void {
    if (n === 0) return;
    const call = new HeapCall(this.heap);
    // da and db are written side by side, so each gets its own region (a spill of one must not reach the other).
    const [pda, pdb] = [call.scratch(n), call.scratch(n)];
    this.pool.run(this.fn('silumulback'), [[call.input(a, aAt, n), call.input(b, bAt, n), call.input(s, sAt, n), call.input(g, gAt, n), pda, pdb, n]]);
    const h = this.f32();
    out.set(h.subarray(pda / 4, pda / 4 + n), 0);
    out.set(h.subarray(pdb / 4, pdb / 4 + n), n);
    call.finish();
  }

  /**
   * The rope op-table entry for float32 (see ropeFunction): x's rows start at `rowStarts` (element
   * offsets into `x`, one per row, groups·t of them, each row 2·half contiguous elements), cos and sin
   * [t, half] contiguous from their offsets; out gets the groups·t·2·half results, row-major.
   */
  rope(x: Float32Array, rowStarts: Int32Array, cos: Float32Array, cosAt: number, sin: Float32Array, sinAt: number, groups: number, t: number, half: number, inverse: boolean, out: Float32Array): void {
    const rows = rowStarts.length;
    if (rows === 0) return;
    const call = new HeapCall(this.heap);
    const { src, table } = this.rowTable(call, x, rowStarts, 2 * half);
    const pc = call.input(cos, cosAt, t * half);
    let ps: number;
    if (inverse) {
      ps = call.scratch(t * half);
      const h = this.f32();
      for (let i = 0, q = ps / 4; i < t * half; i++) h[q + i] = -sin[sinAt + i];
    } else {
      ps = call.input(sin, sinAt, t * half);
    }
    const po = call.output(out);
    this.pool.run(this.fn(inverse ? 'rope_inv' : 'rope_fwd'), [[src, table, pc, ps, po, groups, t, half]]);
    call.finish();
  }

  /**
   * Copies rows of `len` float32s from `src` at `rowStarts` (element offsets, one per row) into `out`,
   * one after another (see gatherRowsFunction). The stretch of `src` the rows span is copied in whole
   * (unless it is in the heap already), so rows scattered over much more than they hold (a strided
   * slice of a large array) are declined: returns false, having done nothing.
   */
  gatherRows(src: Float32Array, rowStarts: Int32Array, len: number, out: Float32Array): boolean {
    const rows = rowStarts.length;
    if (rows === 0 || len === 0) return true;
    const { span } = rowSpan(rowStarts, len);
    if (!this.heap.views(src) && span > 8 * rows * len + 4096) return false;
    const call = new HeapCall(this.heap);
    const { src: ps, table } = this.rowTable(call, src, rowStarts, len);
    this.pool.run(this.fn('gather_rows'), [[ps, table, call.output(out), rows, len]]);
    call.finish();
    return true;
  }

  /**
   * normRows over `rows` contiguous rows of d float32s (see normForwardFunction): out gets y (rows·d),
   * then μ per row, then r per row, bit for bit the reference's.
   */
  normRows(x: Float32Array, xAt: number, w: Float32Array, wAt: number, b: Float32Array, bAt: number, rows: number, d: number, eps: number, center: boolean, out: Float32Array): void {
    const n = rows * d;
    const call = new HeapCall(this.heap);
    const [py, pstats, peps] = [call.scratch(n), call.scratch(2 * rows), call.scratch(2)];
    this.f64()[peps / 8] = eps;
    const [px, pw, pb] = [call.input(x, xAt, n), call.input(w, wAt, d), call.input(b, bAt, d)];
    // Rows are independent: large calls are split into spans of rows, one per thread (the same bits).
    this.pool.run(this.fn('normfwd'), spans(rows, this.parts(n, NORM_PARALLEL_MIN), 1).map(([s, e]) => [px + 4 * d * s, pw, pb, py + 4 * d * s, pstats + 4 * s, e - s, d, center ? 1 : 0, peps, 4 * rows]));
    const h = this.f32();
    out.set(h.subarray(py / 4, py / 4 + n), 0);
    out.set(h.subarray(pstats / 4, pstats / 4 + 2 * rows), n);
    call.finish();
  }

  /**
   * normRowsBackward over `rows` contiguous rows of d float32s: stats are μ per row then r per row (as
   * normRows left them); out gets dx (rows·d), then dw and db (d each), bit for bit the reference's.
   */
  normRowsBackward(x: Float32Array, xAt: number, w: Float32Array, wAt: number, stats: Float32Array, statsAt: number, g: Float32Array, gAt: number, rows: number, d: number, center: boolean, out: Float32Array): void {
    const n = rows * d;
    const call = new HeapCall(this.heap);
    const [pdx, pacc] = [call.scratch(n), call.scratch(4 * d)];
    this.f64().fill(0, pacc / 8, pacc / 8 + 2 * d);
    this.pool.run(this.fn('normback'), [[call.input(x, xAt, n), call.input(w, wAt, d), call.input(g, gAt, n), pdx, call.input(stats, statsAt, 2 * rows), pacc, rows, d, center ? 1 : 0]]);
    out.set(this.f32().subarray(pdx / 4, pdx / 4 + n), 0);
    const acc = this.f64();
    for (let j = 0; j < 2 * d; j++) out[n + j] = acc[pacc / 8 + j];
    call.finish();
  }

  /**
   * Sum or max over each of `rows` rows of `cols` contiguous elements (rows `rowStride` apart,
   * starting at `offset`) into out[0..rows). Max of an empty row is refused by the caller.
   */
  rowReduce(op: 'sum' | 'max', x: Float32Array, offset: number, rowStride: number, rows: number, cols: number, out: Float32Array): void {
    if (rows === 0) return;
    const cols4 = (cols + 3) & ~3;
    if (cols4 === 0) {
      out.fill(0, 0, rows);
      return;
    }
    const call = new HeapCall(this.heap);
    const px = this.rows(call, x, offset, rowStride, rows, cols, cols4, op === 'sum' ? 0 : -Infinity);
    const po = call.scratch(4 * rows);
    this.pool.run(this.fn(op === 'sum' ? 'rowsum' : 'rowmax'), [[px, po, rows, cols4]]);
    if (op === 'sum') {
      const d = this.f64();
      for (let r = 0, q = po / 8; r < rows; r++, q += 2) out[r] = d[q] + d[q + 1];
    } else {
      const h = this.f32();
      for (let r = 0, q = po / 4; r < rows; r++, q += 4) out[r] = Math.max(Math.max(h[q], h[q + 1]), Math.max(h[q + 2], h[q + 3]));
    }
    call.finish();
  }

  /**
   * Softmax over each of `rows` rows of `cols` contiguous elements (rows `rowStride` apart from
   * `offset`) into the contiguous `out`. exp is a polynomial (about 1 ulp) and the division a
   * multiplication by the reciprocal, so this agrees with the reference to a few float32 ulps, not
   * bit for bit. Large inputs are split into row ranges over the pool's threads.
   */
  softmaxRows(x: Float32Array, offset: number, rowStride: number, rows: number, cols: number, out: Float32Array): void {
    if (rows === 0 || cols === 0) return;
    const cols4 = (cols + 3) & ~3;
    const call = new HeapCall(this.heap);
    const px = this.rows(call, x, offset, rowStride, rows, cols, cols4, -Infinity);
    const po = cols4 === cols ? call.output(out) : call.scratch(rows * cols4);
    const bytes = 4 * cols4;
    this.pool.run(this.fn('softmax'), spans(rows, this.parts(rows * cols), 1).map(([s, e]) => [px + s * bytes, po + s * bytes, e - s, cols4]));
    if (cols4 !== cols) {
      const h = this.f32(), q = po / 4;
      for (let r = 0; r < rows; r++) out.set(h.subarray(q + r * cols4, q + r * cols4 + cols), r * cols);
    }
    call.finish();
  }

  /**
   * out[a, c] = sum over r of x[offset + (a·rows + r)·cols + c] for a contiguous [outer, rows, cols]
   * block (cols a multiple of 4, rows >= 1): the reference's float64 sums in its order, bit for bit.
   */
  colSums(x: Float32Array, offset: number, outer: number, rows: number, cols: number, out: Float32Array): void {
    if (outer === 0 || cols === 0) return;
    const call = new HeapCall(this.heap);
    const px = call.input(x, offset, outer * rows * cols);
    const po = call.scratch(2 * outer * cols);
    this.pool.run(this.fn('colsum'), [[px, po, outer, rows, cols]]);
    out.set(this.f64().subarray(po / 8, po / 8 + outer * cols));
    call.finish();
  }

  /** At most this many threads share one call (undefined: all of the pool's); benchmarks compare 1 and 2. */
  threadLimit: number | undefined = undefined;

  /** How many threads share `n` elements of work (all of them from `min` elements). */
  private parts(n: number, min = ELEMENTWISE_PARALLEL_MIN): number {
    return n >= min ? Math.min(this.pool.threads, this.threadLimit ?? Infinity) : 1;
  }

  private fn(name: string): number {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`WasmElementwise: no kernel '${name}'`);
    return i;
  }

  /**
   * The address of `rows` rows of `cols` floats, `cols4` apart, as the row kernels read them: the rows in
   * place when they are contiguous, whole vectors and in the heap; else a scratch copy, each row padded
   * to `cols4` with `fill` (neutral for the row op).
   */
  private rows(call: HeapCall, x: Float32Array, offset: number, rowStride: number, rows: number, cols: number, cols4: number, fill: number): number {
    if (cols4 === cols && (rowStride === cols || rows === 1)) return call.input(x, offset, rows * cols);
    const at = call.scratch(rows * cols4);
    const h = this.f32();
    for (let r = 0, q = at / 4; r < rows; r++, q += cols4) {
      const s = offset + r * rowStride;
      h.set(x.subarray(s, s + cols), q);
      h.fill(fill, q + cols, q + cols4);
    }
    return at;
  }

  /**
   * The rows' source and a table of each row's byte offset from it (the rope and gather kernels read rows
   * through it): rows of a heap array are read where they lie; else the stretch of `src` they span is
   * copied to a scratch block first.
   */
  private rowTable(call: HeapCall, src: Float32Array, rowStarts: Int32Array, len: number): { src: number; table: number } {
    const rows = rowStarts.length;
    const { lo, span } = rowSpan(rowStarts, len);
    const base = call.input(src, lo, span);
    const table = call.scratch(rows);
    const t = new Int32Array(this.f32().buffer, table, rows);
    for (let r = 0; r < rows; r++) t[r] = 4 * (rowStarts[r] - lo);
    return { src: base, table };
  }

  /** The heap as float32s / float64s (rebuilt after the memory grows). */
  private f32(): Float32Array {
    if (this.heap32.buffer.byteLength !== this.pool.memory.buffer.byteLength) this.remap();
    return this.heap32;
  }

  private f64(): Float64Array {
    if (this.heap64.buffer.byteLength !== this.pool.memory.buffer.byteLength) this.remap();
    return this.heap64;
  }

  private remap(): void {
    this.heap32 = new Float32Array(this.pool.memory.buffer);
    this.heap64 = new Float64Array(this.pool.memory.buffer);
  }
}

/**
 * One kernel call's use of the heap: operands that are heap arrays are used in place; others are
 * copied into scratch blocks, results that are not heap arrays are computed in scratch and copied out
 * by {@link finish}, which also gives every scratch block back.
 */
class HeapCall {
  private readonly blocks: Float32Array[] = [];
  private readonly copyOut: [Float32Array, Float32Array][] = [];

  constructor(private readonly heap: Float32Heap) {}

  /** The byte address of x[offset, offset + n): in place, or a scratch copy. */
  input(x: Float32Array, offset: number, n: number): number {
    if (this.heap.views(x)) return x.byteOffset + 4 * offset;
    const block = this.block(n);
    block.set(x.subarray(offset, offset + n));
    return block.byteOffset;
  }

  /** The byte address where the kernel writes `out` (all of it): in place, or a scratch block copied out at the end. */
  output(out: Float32Array): number {
    if (this.heap.views(out)) return out.byteOffset;
    const block = this.block(out.length);
    this.copyOut.push([block, out]);
    return block.byteOffset;
  }

  /** The byte address of a scratch block of n float32s (with the heap's slack after it). */
  scratch(n: number): number {
    return this.block(n).byteOffset;
  }

  finish(): void {
    for (const [block, out] of this.copyOut) out.set(block);
    for (const block of this.blocks) this.heap.release(block);
  }

  private block(n: number): Float32Array {
    const block = this.heap.scratch(n);
    this.blocks.push(block);
    return block;
  }
}

/** [start, end) of `parts` ranges covering [0, n), each start a multiple of `step` (fewer parts if n is small). */
function spans(n: number, parts: number, step: number): [number, number][] {
  const units = Math.ceil(n / step);
  const count = Math.max(1, Math.min(parts, units));
  const out: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    const s = Math.floor((i * units) / count) * step;
    const e = Math.min(n, Math.floor(((i + 1) * units) / count) * step);
    if (e > s) out.push([s, e]);
  }
  return out;
}

/** Elements from the operand's first to its last used element, inclusive. */
function extent(x: GridOperand, rows: number, cols: number): number {
  return (rows - 1) * x.rowStride + (cols - 1) * x.colStride + 1;
}

/** The first element of the rows starting at rowStarts (each len long), and how many elements they span. */
function rowSpan(rowStarts: Int32Array, len: number): { lo: number; span: number } {
  let lo = Infinity, hi = -Infinity;
  for (let r = 0; r < rowStarts.length; r++) {
    if (rowStarts[r] < lo) lo = rowStarts[r];
    if (rowStarts[r] > hi) hi = rowStarts[r];
  }
  return { lo, span: hi - lo + len };
}
