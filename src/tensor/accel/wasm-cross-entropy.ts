/**
 * The float32 softmaxCrossEntropy forward (ops/fused.ts) in WebAssembly, bit for bit the reference:
 * each row's max, exp(x − max) and their sum in float64 in the reference's order, p = e / sum rounded
 * to float32. The reference's Math.exp is V8's port of fdlibm's __ieee754_exp; `emitExp` writes the
 * same algorithm (same constants, same operations in the same order, so the same bits: test/accel.test
 * compares it with Math.exp on millions of inputs). Rows run two lanes at a time (emitExpX2: every branch
 * computed and picked by masks), an odd last element through the scalar code. The per-row log (N
 * calls) stays in JS.
 *
 * Rows are independent, so large inputs are split over the worker pool (pool.ts) in fixed row ranges;
 * the result does not depend on the split.
 */
import { Code, OP, sleb, T, reserveBytes, WASM_PAGE, wasmModule, type WasmFunction } from './wasm-emit.js';
import { threadCount, WasmPool } from './pool.js';

/** Opcodes this module needs beyond wasm-emit's OP. */
const F = {
  ret: 0x0f, i32Load: 0x28, f64Load: 0x2b, i32Store: 0x36, f64Store: 0x39, f32Store: 0x38,
  i64Const: 0x42, f64Const: 0x44, i32Eq: 0x46, i32Ne: 0x47, i32LtS: 0x48, i32GeS: 0x4e,
  f64Eq: 0x61, f64Ne: 0x62, f64Lt: 0x63, f64Gt: 0x64, f64Ge: 0x66,
  f64Abs: 0x99, f64Add: 0xa0, f64Sub: 0xa1, f64Mul: 0xa2, f64Div: 0xa3, f64Max: 0xa5,
  i64Shl: 0x86, i32TruncF64S: 0xaa, i64ExtendI32S: 0xac, f32DemoteF64: 0xb6, f64ConvertI32S: 0xb7,
  f64PromoteF32: 0xbb, f64ReinterpretI64: 0xbf,
} as const;

function f64(c: Code, value: number): Code {
  return c.op(F.f64Const, ...Array.from(new Uint8Array(Float64Array.of(value).buffer)));
}

/** The double whose high word is `high` and low word 0 (fdlibm compares |x| with these). */
function fromHigh(high: number): number {
  const words = new Uint32Array([0, high]);
  return new Float64Array(words.buffer)[0];
}

// fdlibm e_exp.c's constants.
const T_OVER = fromHigh(0x40862e42), T_HALF = fromHigh(0x3fd62e43), T_ONEHALF = fromHigh(0x3ff0a2b2), T_TINY = fromHigh(0x3e300000);
const O_THRESHOLD = 7.09782712893383973096e+02, U_THRESHOLD = -7.45133219101941108420e+02;
const LN2_HI = 6.93147180369123816490e-01, LN2_LO = 1.90821492927058770002e-10, INV_LN2 = 1.44269504088896338700e+00;
const P1 = 1.66666666666666019037e-01, P2 = -2.77777777770155933842e-03, P3 = 6.61375632143793436117e-05;
const P4 = -1.65339022054652515390e-06, P5 = 4.13813679705723846039e-08;
const TWO_1023 = 8.988465674311579539e307, TWO_M1000 = 9.33263618503218878990e-302;

/** f64 locals emitExp uses (besides x and the result): ax, hi, lo, t, c, y. */
export const EXP_F64_TEMPS = 6;

/**
 * Appends `r = exp(x)` (f64 locals; x is overwritten) as fdlibm computes it. `f` is the first of
 * EXP_F64_TEMPS f64 locals, `k` an i32 local.
 */
export function emitExp(c: Code, x: number, r: number, f: number, k: number): void {
  const [AX, HI, LO, TT, CC, Y] = [f, f + 1, f + 2, f + 3, f + 4, f + 5];
  c.op(OP.block, T.void); // $done: every exit sets r and branches here (br depth = nesting)
  c.get(x).op(F.f64Abs).set(AX);
  // Overflow, underflow, NaN and infinities.
  c.get(AX); f64(c, T_OVER); c.op(F.f64Lt, OP.i32Eqz, OP.if, T.void);
  {
    const special = (test: () => void, value: () => void): void => {
      test();
      c.op(OP.if, T.void);
      value();
      c.set(r).op(OP.br, 2);
      c.op(OP.end);
    };
    special(() => c.get(x).get(x).op(F.f64Ne), () => c.get(x).get(x).op(F.f64Add));
    special(() => { c.get(x); f64(c, Infinity); c.op(F.f64Eq); }, () => f64(c, Infinity));
    special(() => { c.get(x); f64(c, -Infinity); c.op(F.f64Eq); }, () => f64(c, 0));
    special(() => { c.get(x); f64(c, O_THRESHOLD); c.op(F.f64Gt); }, () => f64(c, Infinity));
    special(() => { c.get(x); f64(c, U_THRESHOLD); c.op(F.f64Lt); }, () => f64(c, 0));
  }
  c.op(OP.end);
  c.i32(0).set(k);
  f64(c, 0).set(HI);
  f64(c, 0).set(LO);
  // Argument reduction: x = hi − lo = x − k·ln2.
  c.get(AX); f64(c, T_HALF); c.op(F.f64Ge, OP.if, T.void);
  {
    c.get(AX); f64(c, T_ONEHALF); c.op(F.f64Lt, OP.if, T.void);
    {
      c.get(x); f64(c, 1); c.op(F.f64Eq, OP.if, T.void);
      f64(c, 2.718281828459045).set(r).op(OP.br, 3);
      c.op(OP.end);
      c.get(x); f64(c, 0); c.op(F.f64Ge, OP.if, T.void);
      c.get(x); f64(c, LN2_HI); c.op(F.f64Sub).set(HI);
      f64(c, LN2_LO).set(LO);
      c.i32(1).set(k);
      c.op(OP.else);
      c.get(x); f64(c, LN2_HI); c.op(F.f64Add).set(HI);
      f64(c, -LN2_LO).set(LO);
      c.i32(-1).set(k);
      c.op(OP.end);
    }
    c.op(OP.else);
    {
      // k = trunc(invln2·x ± 0.5)
      f64(c, INV_LN2).get(x).op(F.f64Mul);
      f64(c, -0.5); f64(c, 0.5); c.get(x); f64(c, 0); c.op(F.f64Lt, OP.select);
      c.op(F.f64Add, F.i32TruncF64S).set(k);
      c.get(x).get(k).op(F.f64ConvertI32S); f64(c, LN2_HI); c.op(F.f64Mul, F.f64Sub).set(HI);
      c.get(k).op(F.f64ConvertI32S); f64(c, LN2_LO); c.op(F.f64Mul).set(LO);
    }
    c.op(OP.end);
    c.get(HI).get(LO).op(F.f64Sub).set(x);
  }
  c.op(OP.else);
  {
    c.get(AX); f64(c, T_TINY); c.op(F.f64Lt, OP.if, T.void);
    f64(c, 1).get(x).op(F.f64Add).set(r).op(OP.br, 2);
    c.op(OP.end);
  }
  c.op(OP.end);
  // t = x², c = x − t·(P1 + t·(P2 + t·(P3 + t·(P4 + t·P5))))
  c.get(x).get(x).op(F.f64Mul).set(TT);
  c.get(x).get(TT);
  f64(c, P1).get(TT);
  f64(c, P2).get(TT);
  f64(c, P3).get(TT);
  f64(c, P4).get(TT);
  f64(c, P5);
  c.op(F.f64Mul, F.f64Add, F.f64Mul, F.f64Add, F.f64Mul, F.f64Add, F.f64Mul, F.f64Add, F.f64Mul, F.f64Sub).set(CC);
  // k = 0: 1 − ((x·c) / (c − 2) − x)
  c.get(k).op(OP.i32Eqz, OP.if, T.void);
  f64(c, 1).get(x).get(CC).op(F.f64Mul).get(CC); f64(c, 2); c.op(F.f64Sub, F.f64Div).get(x).op(F.f64Sub, F.f64Sub).set(r).op(OP.br, 1);
  c.op(OP.end);
  // y = 1 − ((lo − (x·c) / (2 − c)) − hi), scaled by 2^k
  f64(c, 1).get(LO).get(x).get(CC).op(F.f64Mul); f64(c, 2); c.get(CC).op(F.f64Sub, F.f64Div, F.f64Sub).get(HI).op(F.f64Sub, F.f64Sub).set(Y);
  const twoTo = (bias: number): void => {
    // 2^(k + bias − 1023) exactly: the exponent bits (k + bias) << 52
    c.get(k).i32(bias).op(OP.i32Add, F.i64ExtendI32S, F.i64Const, 52, F.i64Shl, F.f64ReinterpretI64);
  };
  c.get(k).i32(-1021).op(F.i32GeS, OP.if, T.void);
  {
    c.get(k).i32(1024).op(F.i32Eq, OP.if, T.void);
    c.get(Y); f64(c, 2); c.op(F.f64Mul); f64(c, TWO_1023); c.op(F.f64Mul).set(r).op(OP.br, 2);
    c.op(OP.end);
    c.get(Y); twoTo(1023); c.op(F.f64Mul).set(r);
  }
  c.op(OP.else);
  c.get(Y); twoTo(1023 + 1000); c.op(F.f64Mul); f64(c, TWO_M1000); c.op(F.f64Mul).set(r);
  c.op(OP.end);
  c.op(OP.end); // $done
}

/** SIMD opcodes (after 0xfd) for the two-lane exp. */
const V = {
  load: 0x00, load64Splat: 0x0a, store: 0x0b, f64x2Splat: 0x14, f64x2Extract: 0x21, bitselect: 0x52,
  f64x2Eq: 0x47, f64x2Ne: 0x48, f64x2Lt: 0x49, f64x2Gt: 0x4a, f64x2Ge: 0x4c,
  f64x2PromoteLowF32x4: 0x5f, f64x2Trunc: 0x7a, i64x2ExtendLowI32x4S: 0xc7, i64x2Shl: 0xcb, i64x2Add: 0xce,
  f64x2Abs: 0xec, f64x2Add: 0xf0, f64x2Sub: 0xf1, f64x2Mul: 0xf2, f64x2Div: 0xf3, i32x4TruncSatF64x2SZero: 0xfc,
} as const;

/** v128 locals emitExpX2 uses (besides x and the result). */
export const EXP_V128_TEMPS = 8;

/**
 * Appends `r = exp(x)` on both f64 lanes of v128 locals, without branches: every case of emitExp is
 * computed and picked by masks. With k = 0 for |x| < T_HALF and k = ±1 below T_ONEHALF, the general
 * reduction hi = x − k·ln2HI, lo = k·ln2LO gives exactly the values of fdlibm's special branches
 * (x − 0 = x, x − 1·ln2HI = x − ln2HI), so one reduction serves all three. `v` is the first of
 * EXP_V128_TEMPS v128 locals.
 */
export function emitExpX2(c: Code, x: number, r: number, v: number): void {
  const [AX, KF, HI, LO, XR, CC, Y, M] = Array.from({ length: 8 }, (_, i) => v + i);
  const splat = (value: number): void => { f64(c, value); c.simd(V.f64x2Splat); };
  const sel = (onTrue: () => void, onFalse: () => void, mask: () => void): void => { onTrue(); onFalse(); mask(); c.simd(V.bitselect); };
  c.get(x).simd(V.f64x2Abs).set(AX);
  // k: trunc(invln2·x ± 0.5), ±1 below T_ONEHALF, 0 below T_HALF (as doubles)
  sel(() => splat(-0.5), () => splat(0.5), () => { c.get(x); splat(0); c.simd(V.f64x2Lt); });
  splat(INV_LN2); c.get(x).simd(V.f64x2Mul);
  c.simd(V.f64x2Add).simd(V.f64x2Trunc).set(KF);
  sel(() => { sel(() => splat(-1), () => splat(1), () => { c.get(x); splat(0); c.simd(V.f64x2Lt); }); }, () => c.get(KF), () => { c.get(AX); splat(T_ONEHALF); c.simd(V.f64x2Lt); });
  c.set(KF);
  sel(() => splat(0), () => c.get(KF), () => { c.get(AX); splat(T_HALF); c.simd(V.f64x2Lt); });
  c.set(KF);
  c.get(x).get(KF); splat(LN2_HI); c.simd(V.f64x2Mul).simd(V.f64x2Sub).set(HI);
  c.get(KF); splat(LN2_LO); c.simd(V.f64x2Mul).set(LO);
  c.get(HI).get(LO).simd(V.f64x2Sub).set(XR);
  // t = xr² (in M), c = xr − t·(P1 + t·(P2 + t·(P3 + t·(P4 + t·P5))))
  c.get(XR).get(XR).simd(V.f64x2Mul).set(M);
  c.get(XR).get(M); splat(P1); c.get(M); splat(P2); c.get(M); splat(P3); c.get(M); splat(P4); c.get(M); splat(P5);
  for (let i = 0; i < 4; i++) c.simd(V.f64x2Mul).simd(V.f64x2Add);
  c.simd(V.f64x2Mul).simd(V.f64x2Sub).set(CC);
  // y = 1 − ((lo − (xr·c) / (2 − c)) − hi)
  splat(1); c.get(LO).get(XR).get(CC).simd(V.f64x2Mul); splat(2); c.get(CC).simd(V.f64x2Sub).simd(V.f64x2Div).simd(V.f64x2Sub).get(HI).simd(V.f64x2Sub).simd(V.f64x2Sub).set(Y);
  // 2^(k + bias − 1023): (k + bias) << 52 in each i64 lane
  const pow2 = (bias: number): void => {
    c.get(KF).simd(V.i32x4TruncSatF64x2SZero).simd(V.i64x2ExtendLowI32x4S);
    c.op(F.i64Const, ...sleb(bias)).simd(0x12 /* i64x2.splat */).simd(V.i64x2Add);
    c.i32(52).simd(V.i64x2Shl);
  };
  // k ≥ −1021: y·2^k (k = 1024: y·2·2^1023); below: y·2^(k+1000)·2^−1000; k = 0: 1 − ((xr·c)/(c − 2) − xr)
  sel(() => { c.get(Y); splat(2); c.simd(V.f64x2Mul); splat(TWO_1023); c.simd(V.f64x2Mul); },
    () => { c.get(Y); pow2(1023); c.simd(V.f64x2Mul); },
    () => { c.get(KF); splat(1024); c.simd(V.f64x2Eq); });
  c.set(M);
  sel(() => c.get(M), () => { c.get(Y); pow2(2023); c.simd(V.f64x2Mul); splat(TWO_M1000); c.simd(V.f64x2Mul); }, () => { c.get(KF); splat(-1021); c.simd(V.f64x2Ge); });
  c.set(M);
  sel(() => { splat(1); c.get(XR).get(CC).simd(V.f64x2Mul).get(CC); splat(2); c.simd(V.f64x2Sub).simd(V.f64x2Div).get(XR).simd(V.f64x2Sub).simd(V.f64x2Sub); },
    () => c.get(M), () => { c.get(KF); splat(0); c.simd(V.f64x2Eq); });
  c.set(M);
  // The early returns, last first: tiny, x = 1, under- and overflow, NaN.
  sel(() => { splat(1); c.get(x).simd(V.f64x2Add); }, () => c.get(M), () => { c.get(AX); splat(T_TINY); c.simd(V.f64x2Lt); });
  c.set(M);
  sel(() => splat(2.718281828459045), () => c.get(M), () => { c.get(x); splat(1); c.simd(V.f64x2Eq); });
  c.set(M);
  sel(() => splat(0), () => c.get(M), () => { c.get(x); splat(U_THRESHOLD); c.simd(V.f64x2Lt); });
  c.set(M);
  sel(() => splat(Infinity), () => c.get(M), () => { c.get(x); splat(O_THRESHOLD); c.simd(V.f64x2Gt); });
  c.set(M);
  sel(() => c.get(x).get(x).simd(V.f64x2Add), () => c.get(M), () => c.get(x).get(x).simd(V.f64x2Ne));
  c.set(r);
}

/** `exp2(src, dst, n)`: emitExpX2 over n (even) float64. */
function emitExpArrayX2(): WasmFunction {
  const [SRC, DST, N, X, R, VT] = [0, 1, 2, 3, 4, 5];
  const c = new Code();
  c.get(N).op(OP.i32Eqz, OP.if, T.void, F.ret, OP.end);
  c.op(OP.loop, T.void);
  c.get(SRC).simd(V.load, 4, 0).set(X);
  emitExpX2(c, X, R, VT);
  c.get(DST).get(R).simd(V.store, 4, 0);
  c.addTo(SRC, 16).addTo(DST, 16);
  c.get(N).i32(2).op(OP.i32Sub).tee(N).op(OP.brIf, 0);
  c.op(OP.end);
  return { name: 'exp2', params: 3, locals: [[2 + EXP_V128_TEMPS, T.v128]], code: c };
}

/** `exp(src, dst, n)`: dst[i] = exp(src[i]) over n float64 (for the test against Math.exp). */
function emitExpArray(): WasmFunction {
  const [SRC, DST, N, X, R, FT, K] = [0, 1, 2, 3, 4, 5, 5 + EXP_F64_TEMPS];
  const c = new Code();
  c.get(N).op(OP.i32Eqz, OP.if, T.void, F.ret, OP.end);
  c.op(OP.loop, T.void);
  c.get(SRC).op(F.f64Load, 3, 0).set(X);
  emitExp(c, X, R, FT, K);
  c.get(DST).get(R).op(F.f64Store, 3, 0);
  c.addTo(SRC, 8).addTo(DST, 8);
  c.get(N).i32(1).op(OP.i32Sub).tee(N).op(OP.brIf, 0);
  c.op(OP.end);
  return { name: 'exp', params: 3, locals: [[2 + EXP_F64_TEMPS, T.f64], [1, T.i32]], code: c };
}

/**
 * `rows(x, t, stats, scratch, r0, r1, v)`: for rows r0 ≤ r < r1 of the contiguous float32 logits at x
 * ([rows, v], overwritten in place by p) and int32 targets at t: an ignored row (t < 0) becomes zeros;
 * any other row gets p = e / sum with e = exp(x − max) (float64, kept at scratch: v doubles) and
 * stats[2r], stats[2r + 1] = max, sum (float64). Requires v ≥ 1.
 */
function emitRows(): WasmFunction {
  const [XA, TA, STATS, SCRATCH, R0, R1, V_] = [0, 1, 2, 3, 4, 5, 6];
  const [MXV, XV, EV, VT] = [16 + EXP_F64_TEMPS, 17 + EXP_F64_TEMPS, 18 + EXP_F64_TEMPS, 19 + EXP_F64_TEMPS];
  const [ROW, J, P, S, K] = [7, 8, 9, 10, 11];
  const [MX, SUM, X, E, FT] = [12, 13, 14, 15, 16];
  const c = new Code();
  c.get(R0).get(R1).op(F.i32GeS, OP.if, T.void, F.ret, OP.end);
  c.get(XA).get(R0).get(V_).op(OP.i32Mul).i32(4).op(OP.i32Mul, OP.i32Add).set(ROW);
  c.op(OP.loop, T.void); // rows
  {
    c.op(OP.block, T.void); // $next row
    // Ignored row: zeros.
    c.get(TA).get(R0).i32(4).op(OP.i32Mul, OP.i32Add).op(F.i32Load, 2, 0).i32(0).op(F.i32LtS, OP.if, T.void);
    {
      c.get(ROW).set(P).get(V_).set(J);
      c.op(OP.loop, T.void);
      c.get(P).i32(0).op(F.i32Store, 2, 0); // +0's bits
      c.addTo(P, 4).get(J).i32(1).op(OP.i32Sub).tee(J).op(OP.brIf, 0);
      c.op(OP.end);
      c.op(OP.br, 1);
    }
    c.op(OP.end);
    // mx = max over the row (NaN-propagating, +0 over −0, like Math.max)
    f64(c, -Infinity).set(MX);
    c.get(ROW).set(P).get(V_).set(J);
    c.op(OP.loop, T.void);
    c.get(MX).get(P).op(OP.f32Load, 2, 0, F.f64PromoteF32, F.f64Max).set(MX);
    c.addTo(P, 4).get(J).i32(1).op(OP.i32Sub).tee(J).op(OP.brIf, 0);
    c.op(OP.end);
    // e = exp(x − mx) to the scratch, summed in order: two lanes at a time, then an odd last one
    f64(c, 0).set(SUM);
    c.get(MX).simd(V.f64x2Splat).set(MXV);
    c.get(ROW).set(P).get(SCRATCH).set(S).get(V_).set(J);
    c.op(OP.block, T.void);
    c.op(OP.loop, T.void);
    c.get(J).i32(2).op(F.i32LtS, OP.brIf, 1);
    c.get(P).simd(V.load64Splat, 3, 0).simd(V.f64x2PromoteLowF32x4).get(MXV).simd(V.f64x2Sub).set(XV);
    emitExpX2(c, XV, EV, VT);
    c.get(S).get(EV).simd(V.store, 3, 0);
    c.get(SUM).get(EV).simd(V.f64x2Extract, 0).op(F.f64Add).get(EV).simd(V.f64x2Extract, 1).op(F.f64Add).set(SUM);
    c.addTo(P, 8).addTo(S, 16).get(J).i32(2).op(OP.i32Sub).set(J);
    c.op(OP.br, 0);
    c.op(OP.end);
    c.op(OP.end);
    c.get(J).op(OP.if, T.void);
    c.get(P).op(OP.f32Load, 2, 0, F.f64PromoteF32).get(MX).op(F.f64Sub).set(X);
    emitExp(c, X, E, FT, K);
    c.get(S).get(E).op(F.f64Store, 3, 0);
    c.get(SUM).get(E).op(F.f64Add).set(SUM);
    c.op(OP.end);
    // p = e / sum, rounded to float32, over the logits
    c.get(ROW).set(P).get(SCRATCH).set(S).get(V_).set(J);
    c.op(OP.loop, T.void);
    c.get(P).get(S).op(F.f64Load, 3, 0).get(SUM).op(F.f64Div, F.f32DemoteF64, F.f32Store, 2, 0);
    c.addTo(P, 4).addTo(S, 8).get(J).i32(1).op(OP.i32Sub).tee(J).op(OP.brIf, 0);
    c.op(OP.end);
    c.get(STATS).get(R0).i32(16).op(OP.i32Mul, OP.i32Add).tee(P).get(MX).op(F.f64Store, 3, 0);
    c.get(P).get(SUM).op(F.f64Store, 3, 8);
    c.op(OP.end); // $next
    c.get(ROW).get(V_).i32(4).op(OP.i32Mul, OP.i32Add).set(ROW);
    c.get(R0).i32(1).op(OP.i32Add).tee(R0).get(R1).op(F.i32LtS, OP.brIf, 0);
  }
  c.op(OP.end);
  return { name: 'rows', params: 7, locals: [[5, T.i32], [4 + EXP_F64_TEMPS, T.f64], [3 + EXP_V128_TEMPS, T.v128]], code: c };
}

/** The module: `rows` and `exp` (see above), over memory imported shared with `sharedMaxPages`, else its own. */
export function emitCrossEntropyModule(sharedMaxPages?: number): Uint8Array {
  return wasmModule([emitRows(), emitExpArray(), emitExpArrayX2()], sharedMaxPages);
}

const MAX_BYTES = 1 << 30;
const MAX_PAGES = MAX_BYTES / WASM_PAGE;
/** From this many logits the rows are split over the pool's threads. */
export const CE_PARALLEL_MIN = 1 << 16;

/** The module run by a {@link WasmPool} over one shared memory (grown on demand). */
export class WasmCrossEntropy {
  private readonly pool: WasmPool;
  private heapF32 = new Float32Array(0);
  private heapI32 = new Int32Array(0);
  private heapF64 = new Float64Array(0);

  constructor(threads: number = threadCount()) {
    this.pool = new WasmPool(emitCrossEntropyModule(MAX_PAGES), ['rows', 'exp', 'exp2'], threads, MAX_PAGES);
    this.remap();
  }

  /**
   * softmaxCrossEntropy of contiguous float32 logits x (n rows of v ≥ 1 at `offset`) against int32
   * targets (t[r] < v; read at tOffset + r·tStride) into out (n·v probabilities, then n losses).
   * Returns false (doing nothing) when the operands would need more than 1 GiB.
   */
  forward(x: Float32Array, offset: number, n: number, v: number, t: Int32Array, tOffset: number, tStride: number, out: Float32Array): boolean {
    const tAt = 4 * n * v;
    const statsAt = roundUp(tAt + 4 * n, 16);
    const parts = n * v >= CE_PARALLEL_MIN ? Math.min(this.pool.threads, n) : 1;
    const scratchAt = statsAt + 16 * n;
    const end = scratchAt + 8 * v * parts;
    if (end > MAX_BYTES) return false;
    if (reserveBytes(this.pool.memory, end)) this.remap();
    this.heapF32.set(x.subarray(offset, offset + n * v), 0);
    const ti = tAt / 4;
    for (let r = 0; r < n; r++) this.heapI32[ti + r] = t[tOffset + r * tStride];
    const jobs = Array.from({ length: parts }, (_, i) => [0, tAt, statsAt, scratchAt + 8 * v * i, Math.floor((i * n) / parts), Math.floor(((i + 1) * n) / parts), v]);
    this.pool.run(0, jobs);
    out.set(this.heapF32.subarray(0, n * v), 0);
    const stats = this.heapF64, s0 = statsAt / 8;
    for (let r = 0; r < n; r++) {
      const target = this.heapI32[ti + r];
      if (target < 0) continue;
      out[n * v + r] = stats[s0 + 2 * r] + Math.log(stats[s0 + 2 * r + 1]) - x[offset + r * v + target];
    }
    return true;
  }

  /** exp(src[i]) for each i, by the module's scalar code (one thread; for the check against Math.exp and tests). */
  exp(src: Float64Array): Float64Array {
    return this.expBy(1, src);
  }

  /** exp by the two-lane code (src.length even). */
  exp2(src: Float64Array): Float64Array {
    return this.expBy(2, src);
  }

  /** Runs the module's function `fn` (exp or exp2) on src, written at byte 0, into the floats after it. */
  private expBy(fn: number, src: Float64Array): Float64Array {
    if (reserveBytes(this.pool.memory, 16 * src.length)) this.remap();
    this.heapF64.set(src, 0);
    this.pool.run(fn, [[0, 8 * src.length, src.length]]);
    return this.heapF64.slice(src.length, 2 * src.length);
  }

  private remap(): void {
    const buffer = this.pool.memory.buffer;
    this.heapF32 = new Float32Array(buffer);
    this.heapI32 = new Int32Array(buffer);
    this.heapF64 = new Float64Array(buffer);
  }
}

function roundUp(x: number, multiple: number): number {
  return Math.ceil(x / multiple) * multiple;
}
