/**
 * The Box-Muller transform of Rng.normalArray (random.ts) in WebAssembly, bit for bit the JS:
 * r = sqrt(-2·log u), r·cos(2π·v), r·sin(2π·v). V8 11's Math.log, Math.sin and Math.cos are its
 * ports of fdlibm (__ieee754_log; __ieee754_rem_pio2 with __kernel_sin/__kernel_cos), so the code
 * below writes the same algorithms (same constants, same operations in the same order: the same
 * bits; test/random-wasm.test.ts compares them with Math.* on millions of inputs). `boxMuller2`
 * runs two pairs per f64x2 step, the common cases picked by masks, and hands the rare ones to the
 * scalar `boxMuller`.
 *
 * Range: log takes any double; sin/cos take |x| < 2^19·π/2 (fdlibm's medium reduction; larger
 * finite x gives NaN here, never reached: the transform only sees 2π·v, v in [0, 1)).
 *
 * The uniforms are drawn in JS (the stream's order stays in one place); the pairs are split over
 * the worker pool (pool.ts) in fixed ranges, so the result does not depend on the thread count.
 */
import { envSetting } from '../env.js';
import { Code, OP, T, reserveBytes, WASM_PAGE, wasmApi, wasmModule, type WasmFunction } from './wasm-emit.js';
import { threadCount, WasmPool } from './pool.js';
import { agreesWithMath, probeInputs } from './math-check.js';

/** Opcodes beyond wasm-emit's OP. */
const F = {
  i32Load: 0x28, f64Load: 0x2b, f64Store: 0x39, i64Const: 0x42, f64Const: 0x44,
  i32Eq: 0x46, i32Ne: 0x47, i32LtS: 0x48, i32GtS: 0x4a, i32LeS: 0x4c, i32GeS: 0x4e, f64Eq: 0x61,
  i32Or: 0x72, i32Xor: 0x73, i32ShrS: 0x75, i64And: 0x83, i64Or: 0x84, i64Shl: 0x86, i64ShrU: 0x88,
  f64Abs: 0x99, f64Neg: 0x9a, f64Sqrt: 0x9f, f64Add: 0xa0, f64Sub: 0xa1, f64Mul: 0xa2, f64Div: 0xa3,
  i32WrapI64: 0xa7, i32TruncF64S: 0xaa, i64ExtendI32U: 0xad, f64ConvertI32S: 0xb7,
  i64ReinterpretF64: 0xbd, f64ReinterpretI64: 0xbf,
} as const;

// ---------------------------------------------------------------- a small expression builder

/** An expression: appends code that leaves one value on the stack. */
type E = (c: Code) => void;
const get = (local: number): E => (c) => { c.get(local); };
const f64 = (value: number): E => (c) => { c.op(F.f64Const, ...Array.from(new Uint8Array(Float64Array.of(value).buffer))); };
const i32 = (value: number): E => (c) => { c.i32(value | 0); };
const bin = (op: number) => (a: E, b: E): E => (c) => { a(c); b(c); c.op(op); };
const un = (...ops: number[]) => (a: E): E => (c) => { a(c); c.op(...ops); };
const add = bin(F.f64Add), sub = bin(F.f64Sub), mul = bin(F.f64Mul), div = bin(F.f64Div);
const iadd = bin(OP.i32Add), isub = bin(OP.i32Sub), iand = bin(OP.i32And), ior = bin(F.i32Or), ixor = bin(F.i32Xor), ishr = bin(F.i32ShrS);
const ilt = bin(F.i32LtS), igt = bin(F.i32GtS), ile = bin(F.i32LeS), ige = bin(F.i32GeS), ieq = bin(F.i32Eq), ine = bin(F.i32Ne), feq = bin(F.f64Eq);
const neg = un(F.f64Neg), abs = un(F.f64Abs), sqrt = un(F.f64Sqrt), toF64 = un(F.f64ConvertI32S), truncI32 = un(F.i32TruncF64S);
/** The high 32 bits of a double (fdlibm's __HI), as a signed i32. */
const hiWord = (x: E): E => (c) => { x(c); c.op(F.i64ReinterpretF64, F.i64Const, 32, F.i64ShrU, F.i32WrapI64); };
/** The low 32 bits (__LO). */
const loWord = (x: E): E => (c) => { x(c); c.op(F.i64ReinterpretF64, F.i32WrapI64); };
/** x with its high word replaced (SET_HIGH_WORD). */
const withHigh = (x: E, high: E): E => (c) => {
  x(c); c.op(F.i64ReinterpretF64, F.i64Const, ...[0xff, 0xff, 0xff, 0xff, 0x0f], F.i64And); // & 0xffffffff
  high(c); c.op(F.i64ExtendI32U, F.i64Const, 32, F.i64Shl, F.i64Or, F.f64ReinterpretI64);
};
/** The double with words (high, 0) (INSERT_WORDS(x, high, 0)). */
const fromHigh = (high: E): E => (c) => { high(c); c.op(F.i64ExtendI32U, F.i64Const, 32, F.i64Shl, F.f64ReinterpretI64); };

const set = (c: Code, local: number, e: E): void => { e(c); c.set(local); };
/** if (cond) then() else otherwise(). */
function when(c: Code, cond: E, then: () => void, otherwise?: () => void): void {
  cond(c);
  c.op(OP.if, T.void);
  then();
  if (otherwise !== undefined) { c.op(OP.else); otherwise(); }
  c.op(OP.end);
}

// ---------------------------------------------------------------- fdlibm log (e_log.c)

const LN2_HI = 6.93147180369123816490e-01, LN2_LO = 1.90821492927058770002e-10, TWO54 = 1.80143985094819840000e+16;
const LG1 = 6.666666666666735130e-01, LG2 = 3.999999999940941908e-01, LG3 = 2.857142874366239149e-01;
const LG4 = 2.222219843214978396e-01, LG5 = 1.818357216161805012e-01, LG6 = 1.531383769920937332e-01, LG7 = 1.479819860511658591e-01;

/** Locals of the emitters: i32 then f64, from these bases. */
interface Scratch { readonly i: number; readonly f: number }
export const SCRATCH_I32 = 6;
export const SCRATCH_F64 = 12;

/** Appends `out = log(x)` (x is overwritten). */
function emitLog(c: Code, X: number, OUT: number, s: Scratch): void {
  const [HX, K, I, J] = [s.i, s.i + 1, s.i + 2, s.i + 3];
  const [FF, S, Z, W, R, DK, HFSQ] = [s.f, s.f + 1, s.f + 2, s.f + 3, s.f + 4, s.f + 5, s.f + 6];
  const x = get(X), hx = get(HX), k = get(K), f = get(FF), s_ = get(S), z = get(Z), w = get(W), r = get(R), dk = get(DK), hfsq = get(HFSQ);
  const done = (e: E, depth: number): void => { set(c, OUT, e); c.op(OP.br, depth); };
  c.op(OP.block, T.void); // $done
  set(c, HX, hiWord(x));
  set(c, K, i32(0));
  when(c, ilt(hx, i32(0x00100000)), () => {
    when(c, ieq(ior(iand(hx, i32(0x7fffffff)), loWord(x)), i32(0)), () => done(f64(-Infinity), 2));
    when(c, ilt(hx, i32(0)), () => done(f64(NaN), 2));
    set(c, K, i32(-54));
    set(c, X, mul(x, f64(TWO54)));
    set(c, HX, hiWord(x));
  });
  when(c, ige(hx, i32(0x7ff00000)), () => done(add(x, x), 1));
  set(c, K, iadd(k, isub(ishr(hx, i32(20)), i32(1023))));
  set(c, HX, iand(hx, i32(0x000fffff)));
  set(c, I, iand(iadd(hx, i32(0x95f64)), i32(0x100000)));
  set(c, X, withHigh(x, ior(hx, ixor(get(I), i32(0x3ff00000)))));
  set(c, K, iadd(k, ishr(get(I), i32(20))));
  set(c, FF, sub(x, f64(1)));
  set(c, DK, toF64(k));
  when(c, ilt(iand(i32(0x000fffff), iadd(i32(2), hx)), i32(3)), () => {
    when(c, feq(f, f64(0)), () => {
      when(c, ieq(k, i32(0)), () => done(f64(0), 3));
      done(add(mul(dk, f64(LN2_HI)), mul(dk, f64(LN2_LO))), 2);
    });
    set(c, R, mul(mul(f, f), sub(f64(0.5), mul(f64(0.33333333333333333), f))));
    when(c, ieq(k, i32(0)), () => done(sub(f, r), 2));
    done(sub(mul(dk, f64(LN2_HI)), sub(sub(r, mul(dk, f64(LN2_LO))), f)), 1);
  });
  set(c, S, div(f, add(f64(2), f)));
  set(c, Z, mul(s_, s_));
  set(c, I, isub(hx, i32(0x6147a)));
  set(c, W, mul(z, z));
  set(c, J, isub(i32(0x6b851), hx));
  // R = t2 + t1
  set(c, R, add(mul(z, add(f64(LG1), mul(w, add(f64(LG3), mul(w, add(f64(LG5), mul(w, f64(LG7)))))))),
    mul(w, add(f64(LG2), mul(w, add(f64(LG4), mul(w, f64(LG6))))))));
  when(c, igt(ior(get(I), get(J)), i32(0)), () => {
    set(c, HFSQ, mul(mul(f64(0.5), f), f));
    when(c, ieq(k, i32(0)), () => done(sub(f, sub(hfsq, mul(s_, add(hfsq, r)))), 2));
    done(sub(mul(dk, f64(LN2_HI)), sub(sub(hfsq, add(mul(s_, add(hfsq, r)), mul(dk, f64(LN2_LO)))), f)), 1);
  }, () => {
    when(c, ieq(k, i32(0)), () => done(sub(f, mul(s_, sub(f, r))), 2));
    done(sub(mul(dk, f64(LN2_HI)), sub(sub(mul(s_, sub(f, r)), mul(dk, f64(LN2_LO))), f)), 1);
  });
  c.op(OP.end);
}

// ---------------------------------------------------------------- fdlibm sin/cos (k_sin.c, k_cos.c, e_rem_pio2.c)

const S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03, S3 = -1.98412698298579493134e-04;
const S4 = 2.75573137070700676789e-06, S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
const C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03, C3 = 2.48015872894767294178e-05;
const C4 = -2.75573143513906633035e-07, C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
/** fdlibm's npio2_hw: the high words of n·π/2, n = 1..32 (stored at byte 0 of the memory). */
export const NPIO2_HW = [
  0x3ff921fb, 0x400921fb, 0x4012d97c, 0x401921fb, 0x401f6a7a, 0x4022d97c, 0x4025fdbb, 0x402921fb,
  0x402c463a, 0x402f6a7a, 0x4031475c, 0x4032d97c, 0x40346b9c, 0x4035fdbb, 0x40378fdb, 0x403921fb,
  0x403ab41b, 0x403c463a, 0x403dd85a, 0x403f6a7a, 0x40407e4c, 0x4041475c, 0x4042106c, 0x4042d97c,
  0x4043a28c, 0x40446b9c, 0x404534ac, 0x4045fdbb, 0x4046c6cb, 0x40478fdb, 0x404858eb, 0x404921fb,
];
const INVPIO2 = 6.36619772367581382433e-01, PIO2_1 = 1.57079632673412561417e+00, PIO2_1T = 6.07710050650619224932e-11;
const PIO2_2 = 6.07710050630396597660e-11, PIO2_2T = 2.02226624879595063154e-21;
const PIO2_3 = 2.02226624871116645580e-21, PIO2_3T = 8.47842766036889956997e-32;

/**
 * __kernel_sin(x, y, iy) (|x| ≤ π/4): with a tail y, the reduced-argument form (iy = 1); with y null,
 * the form for an argument already small (iy = 0).
 */
function kernelSin(x: E, y: E | null, ix: E, z: number, v: number, c: Code, OUT: number): void {
  c.op(OP.block, T.void);
  when(c, ilt(ix, i32(0x3e400000)), () => { set(c, OUT, x); c.op(OP.br, 1); });
  set(c, z, mul(x, x));
  set(c, v, mul(get(z), x));
  const zz = get(z);
  const r = add(f64(S2), mul(zz, add(f64(S3), mul(zz, add(f64(S4), mul(zz, add(f64(S5), mul(zz, f64(S6)))))))));
  if (y === null) set(c, OUT, add(x, mul(get(v), add(f64(S1), mul(zz, r)))));
  else set(c, OUT, sub(x, sub(sub(mul(zz, sub(mul(f64(0.5), y), mul(get(v), r))), y), mul(get(v), f64(S1)))));
  c.op(OP.end);
}

/** __kernel_cos(x, y); `rr`, `qx`: f64 scratch. */
function kernelCos(x: E, y: E, ix: E, z: number, rr: number, qx: number, c: Code, OUT: number): void {
  c.op(OP.block, T.void);
  when(c, ilt(ix, i32(0x3e400000)), () => { set(c, OUT, f64(1)); c.op(OP.br, 1); });
  set(c, z, mul(x, x));
  const zz = get(z);
  set(c, rr, mul(zz, add(f64(C1), mul(zz, add(f64(C2), mul(zz, add(f64(C3), mul(zz, add(f64(C4), mul(zz, add(f64(C5), mul(zz, f64(C6)))))))))))));
  const r = get(rr);
  when(c, ilt(ix, i32(0x3fd33333)), () => {
    set(c, OUT, sub(f64(1), sub(mul(f64(0.5), zz), sub(mul(zz, r), mul(x, y)))));
  }, () => {
    // qx = 0.28125 above 0.78125, else x/4 (high word − 2^21, low word 0); hz = 0.5z − qx; a = 1 − qx
    when(c, igt(ix, i32(0x3fe90000)), () => set(c, qx, f64(0.28125)), () => set(c, qx, fromHigh(isub(ix, i32(0x00200000)))));
    set(c, OUT, sub(sub(f64(1), get(qx)), sub(sub(mul(f64(0.5), zz), get(qx)), sub(mul(zz, r), mul(x, y)))));
  });
  c.op(OP.end);
}

/**
 * Appends `sin = sin(x)`, `cos = cos(x)` (x is kept). Locals from `s`: i32 hx, ix, n, j, i;
 * f64 y0, y1, t, r, w, fn, and scratch.
 */
function emitSinCos(c: Code, X: number, SIN: number, COS: number, s: Scratch): void {
  const [HX, IX, N, J, I, IY] = [s.i, s.i + 1, s.i + 2, s.i + 3, s.i + 4, s.i + 5];
  const [Y0, Y1, TT, RR, WW, FN, Z, V, R2, A, B, QX] = Array.from({ length: 12 }, (_, q) => s.f + q);
  const x = get(X), hx = get(HX), ix = get(IX), y0 = get(Y0), y1 = get(Y1), t = get(TT), r = get(RR), w = get(WW), fn = get(FN);
  c.op(OP.block, T.void); // $done
  set(c, HX, hiWord(x));
  set(c, IX, iand(hx, i32(0x7fffffff)));
  when(c, ile(ix, i32(0x3fe921fb)), () => {
    kernelSin(x, null, ix, Z, V, c, SIN);
    kernelCos(x, f64(0), ix, Z, R2, QX, c, COS);
    c.op(OP.br, 1);
  });
  when(c, ige(ix, i32(0x413921fb + 1)), () => {
    // NaN, infinities (x − x) and the large arguments this kernel leaves out (NaN)
    set(c, SIN, sub(x, x));
    when(c, ilt(ix, i32(0x7ff00000)), () => set(c, SIN, f64(NaN)));
    set(c, COS, get(SIN));
    c.op(OP.br, 1);
  });
  // __ieee754_rem_pio2 → n, y0, y1
  when(c, ilt(ix, i32(0x4002d97c)), () => {
    const nearPio2 = ieq(ix, i32(0x3ff921fb));
    // fdlibm's two mirrored branches: x > 0 subtracts the pieces of π/2 (n = 1), x < 0 adds them (n = −1).
    const towardZero = (step: typeof sub, n: number) => (): void => {
      set(c, TT, step(x, f64(PIO2_1)));
      when(c, nearPio2, () => {
        set(c, TT, step(t, f64(PIO2_2)));
        set(c, Y0, step(t, f64(PIO2_2T)));
        set(c, Y1, step(sub(t, y0), f64(PIO2_2T)));
      }, () => {
        set(c, Y0, step(t, f64(PIO2_1T)));
        set(c, Y1, step(sub(t, y0), f64(PIO2_1T)));
      });
      set(c, N, i32(n));
    };
    when(c, igt(hx, i32(0)), towardZero(sub, 1), towardZero(add, -1));
  }, () => {
    set(c, TT, abs(x));
    set(c, N, truncI32(add(mul(t, f64(INVPIO2)), f64(0.5))));
    set(c, FN, toF64(get(N)));
    set(c, RR, sub(t, mul(fn, f64(PIO2_1))));
    set(c, WW, mul(fn, f64(PIO2_1T)));
    set(c, Y0, sub(r, w));
    // n < 32 && ix != npio2_hw[n − 1]: the quick result stands; else check for cancellation
    set(c, IY, i32(1));
    when(c, ilt(get(N), i32(32)), () => {
      set(c, IY, ine(ix, (cc) => { cc.get(N).i32(1).op(OP.i32Sub).i32(2).op(OP.i32Shl, F.i32Load, 2, 0); }));
    }, () => set(c, IY, i32(0)));
    when(c, ieq(get(IY), i32(0)), () => {
      set(c, J, ishr(ix, i32(20)));
      const exponentDrop = isub(get(J), iand(ishr(hiWord(y0), i32(20)), i32(0x7ff)));
      when(c, igt(exponentDrop, i32(16)), () => {
        set(c, TT, r);
        set(c, WW, mul(fn, f64(PIO2_2)));
        set(c, RR, sub(t, w));
        set(c, WW, sub(mul(fn, f64(PIO2_2T)), sub(sub(t, r), w)));
        set(c, Y0, sub(r, w));
        when(c, igt(exponentDrop, i32(49)), () => {
          set(c, TT, r);
          set(c, WW, mul(fn, f64(PIO2_3)));
          set(c, RR, sub(t, w));
          set(c, WW, sub(mul(fn, f64(PIO2_3T)), sub(sub(t, r), w)));
          set(c, Y0, sub(r, w));
        });
      });
    });
    set(c, Y1, sub(sub(r, y0), w));
    when(c, ilt(hx, i32(0)), () => {
      set(c, Y0, neg(y0));
      set(c, Y1, neg(y1));
      set(c, N, isub(i32(0), get(N)));
    });
  });
  set(c, IX, iand(hiWord(y0), i32(0x7fffffff)));
  kernelSin(y0, y1, ix, Z, V, c, A);
  kernelCos(y0, y1, ix, Z, R2, QX, c, B);
  // n & 3: 0 → (sin, cos) = (s, c); 1 → (c, −s); 2 → (−s, −c); 3 → (−c, s)
  set(c, N, iand(get(N), i32(3)));
  when(c, ieq(iand(get(N), i32(1)), i32(0)), () => {
    set(c, SIN, get(A));
    set(c, COS, get(B));
  }, () => {
    set(c, SIN, get(B));
    set(c, COS, neg(get(A)));
  });
  when(c, igt(get(N), i32(1)), () => {
    set(c, SIN, neg(get(SIN)));
    set(c, COS, neg(get(COS)));
  });
  c.op(OP.end);
}

// ---------------------------------------------------------------- the module

const TWO_PI = 2 * Math.PI;

/**
 * boxMuller(at, pairs): the f64 pairs (u, v) at byte `at` become (r·cos 2πv, r·sin 2πv),
 * r = sqrt(−2·log u), in place, in the JS expression's order.
 */
function emitBoxMuller(): WasmFunction {
  const c = new Code();
  const [AT, PAIRS] = [0, 1];
  const base = 2 + SCRATCH_I32; // f64 locals after the i32 scratch
  const [u, v, rad, sin, cos] = [base, base + 1, base + 2, base + 3, base + 4];
  const scratch: Scratch = { i: 2, f: base + 5 };
  eachItem(c, AT, PAIRS, 16, () => {
    c.get(AT).op(F.f64Load, 3, 0).set(u);
    c.get(AT).op(F.f64Load, 3, 8).set(v);
    emitLog(c, u, rad, scratch);
    set(c, rad, sqrt(mul(f64(-2), get(rad))));
    set(c, v, mul(f64(TWO_PI), get(v)));
    emitSinCos(c, v, sin, cos, scratch);
    c.get(AT); mul(get(rad), get(cos))(c); c.op(F.f64Store, 3, 0);
    c.get(AT); mul(get(rad), get(sin))(c); c.op(F.f64Store, 3, 8);
  });
  return { name: 'boxMuller', params: 2, locals: [[SCRATCH_I32, T.i32], [5 + SCRATCH_F64, T.f64]], code: c };
}

/**
 * The loop of the array functions: returns at once when the count local is 0, else runs `body` once per
 * item, advancing the address local `at` by `stride` bytes after each.
 */
function eachItem(c: Code, at: number, count: number, stride: number, body: () => void): void {
  c.get(count).op(OP.i32Eqz, OP.if, T.void).op(0x0f).op(OP.end); // return
  c.op(OP.loop, T.void);
  body();
  c.addTo(at, stride);
  c.get(count).i32(1).op(OP.i32Sub).tee(count).op(OP.brIf, 0);
  c.op(OP.end);
}

/** logs(at, count): f64 x at byte `at` → log(x) in place. */
function emitLogs(): WasmFunction {
  const c = new Code();
  const [AT, COUNT] = [0, 1];
  const base = 2 + SCRATCH_I32;
  const [x, out] = [base, base + 1];
  eachItem(c, AT, COUNT, 8, () => {
    c.get(AT).op(F.f64Load, 3, 0).set(x);
    emitLog(c, x, out, { i: 2, f: base + 2 });
    c.get(AT).get(out).op(F.f64Store, 3, 0);
  });
  return { name: 'logs', params: 2, locals: [[SCRATCH_I32, T.i32], [2 + SCRATCH_F64, T.f64]], code: c };
}

/** sinCos(at, count): f64 x at byte at + 16i → (sin x, cos x) at at + 16i, at + 16i + 8. */
function emitSinCosArray(): WasmFunction {
  const c = new Code();
  const [AT, COUNT] = [0, 1];
  const base = 2 + SCRATCH_I32;
  const [x, sin, cos] = [base, base + 1, base + 2];
  eachItem(c, AT, COUNT, 16, () => {
    c.get(AT).op(F.f64Load, 3, 0).set(x);
    emitSinCos(c, x, sin, cos, { i: 2, f: base + 3 });
    c.get(AT).get(sin).op(F.f64Store, 3, 0);
    c.get(AT).get(cos).op(F.f64Store, 3, 8);
  });
  return { name: 'sinCos', params: 2, locals: [[SCRATCH_I32, T.i32], [3 + SCRATCH_F64, T.f64]], code: c };
}

// ---------------------------------------------------------------- two pairs at a time (f64x2)

/** SIMD opcodes (after 0xfd). */
const V = {
  load: 0x00, store: 0x0b, shuffle: 0x0d, anyTrue: 0x53, and: 0x4e, or: 0x50, xor: 0x51, bitselect: 0x52,
  f64x2Eq: 0x47, f64x2Trunc: 0x7a, i64x2Shl: 0xcb, i64x2ShrS: 0xcc, i64x2Add: 0xce, i64x2Sub: 0xd1,
  i64x2Eq: 0xd6, i64x2LtS: 0xd8, i64x2GtS: 0xd9, i64x2LeS: 0xda, i64x2GeS: 0xdb,
  f64x2Neg: 0xed, f64x2Sqrt: 0xef, f64x2Add: 0xf0, f64x2Sub: 0xf1, f64x2Mul: 0xf2, f64x2Div: 0xf3, f64x2ConvertLowI32x4S: 0xfe,
} as const;

const vconst = (bytes: Uint8Array): E => (c) => { c.simd(0x0c).op(...Array.from(bytes)); };
/** Both f64 lanes = value. */
const d2 = (value: number): E => vconst(new Uint8Array(Float64Array.of(value, value).buffer));
/** Both i64 lanes = value. */
const l2 = (value: number): E => vconst(new Uint8Array(BigInt64Array.of(BigInt(value), BigInt(value)).buffer));
const vbin = (code: number) => (a: E, b: E): E => (c) => { a(c); b(c); c.simd(code); };
const vadd = vbin(V.f64x2Add), vsub = vbin(V.f64x2Sub), vmul = vbin(V.f64x2Mul), vdiv = vbin(V.f64x2Div), veq = vbin(V.f64x2Eq);
const vand = vbin(V.and), vor = vbin(V.or), vxor = vbin(V.xor);
const ladd = vbin(V.i64x2Add), lsub = vbin(V.i64x2Sub), leq = vbin(V.i64x2Eq), llt = vbin(V.i64x2LtS), lgt = vbin(V.i64x2GtS), lle = vbin(V.i64x2LeS), lge = vbin(V.i64x2GeS);
const vneg = (a: E): E => (c) => { a(c); c.simd(V.f64x2Neg); };
const lshift = (code: number) => (a: E, bits: number): E => (c) => { a(c); c.i32(bits).simd(code); };
const lshl = lshift(V.i64x2Shl), lsar = lshift(V.i64x2ShrS);
/** a where mask is set, else b. */
const sel = (mask: E, a: E, b: E): E => (c) => { a(c); b(c); mask(c); c.simd(V.bitselect); };
/** i8x16.shuffle of a and b. */
const shuffle = (a: E, b: E, lanes: readonly number[]): E => (c) => { a(c); b(c); c.simd(V.shuffle).op(...lanes); };
const LOW_LANES = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
const HIGH_LANES = [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31];
/** The low 32 bits of each i64 lane into i32 lanes 0 and 1. */
const LOW_WORDS = [0, 1, 2, 3, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11];

/**
 * boxMuller2(at, pairs): boxMuller two pairs at a time. Every branch of the common cases is computed
 * and picked by masks; a lane in a rare case (log: input not normal, or |f| < 2^-20; sin/cos: |x| <
 * 2^-27, x < 0 or beyond 2π's high word, x next to π/2 or to n·π/2 where fdlibm reduces carefully,
 * a reduced argument below 2^-27) sends both pairs to the scalar boxMuller (function 0).
 */
function emitBoxMuller2(): WasmFunction {
  const c = new Code();
  const [AT, PAIRS, COUNT] = [0, 1, 2];
  let next = 3;
  const v = (): number => next++;
  const [U, VV, FB, HX, K, HXM, I, X, FV, DK, S, Z, W, R, HFSQ, K0, POS, LOGV] = Array.from({ length: 18 }, v);
  const [T_, IX, CA, CB, FNC, RC, WC, Y0, Y1, FN, IXY, ZZ, VS, RS, RCOS, KS, KC, SN, CS, RAD] = Array.from({ length: 20 }, v);
  const g = get;
  const setv = (local: number, e: E): void => set(c, local, e);
  const flag = (e: E): void => setv(FB, vor(g(FB), e));
  c.get(PAIRS).i32(1).op(F.i32ShrS).set(COUNT);
  c.op(OP.block, T.void);
  c.get(COUNT).op(OP.i32Eqz, OP.brIf, 0);
  c.op(OP.loop, T.void);
  {
    const pairA: E = (cc) => { cc.get(AT).simd(V.load, 4, 0); };
    const pairB: E = (cc) => { cc.get(AT).simd(V.load, 4, 16); };
    setv(U, shuffle(pairA, pairB, LOW_LANES));
    setv(VV, shuffle(pairA, pairB, HIGH_LANES));
    // log(U)
    setv(HX, lsar(g(U), 32));
    setv(FB, vor(llt(g(HX), l2(0x00100000)), lge(g(HX), l2(0x7ff00000))));
    setv(K, lsub(lsar(g(HX), 20), l2(1023)));
    setv(HXM, vand(g(HX), l2(0x000fffff)));
    setv(I, vand(ladd(g(HXM), l2(0x95f64)), l2(0x100000)));
    setv(X, vor(vand(g(U), l2(0xffffffff)), lshl(vor(g(HXM), vxor(g(I), l2(0x3ff00000))), 32)));
    setv(K, ladd(g(K), lsar(g(I), 20)));
    setv(FV, vsub(g(X), d2(1)));
    flag(llt(vand(ladd(l2(2), g(HXM)), l2(0x000fffff)), l2(3)));
    setv(DK, (cc) => { shuffle(g(K), g(K), LOW_WORDS)(cc); cc.simd(V.f64x2ConvertLowI32x4S); });
    setv(S, vdiv(g(FV), vadd(d2(2), g(FV))));
    setv(Z, vmul(g(S), g(S)));
    setv(POS, lgt(vor(lsub(g(HXM), l2(0x6147a)), lsub(l2(0x6b851), g(HXM))), l2(0)));
    setv(W, vmul(g(Z), g(Z)));
    setv(R, vadd(vmul(g(Z), vadd(d2(LG1), vmul(g(W), vadd(d2(LG3), vmul(g(W), vadd(d2(LG5), vmul(g(W), d2(LG7)))))))),
      vmul(g(W), vadd(d2(LG2), vmul(g(W), vadd(d2(LG4), vmul(g(W), d2(LG6))))))));
    setv(HFSQ, vmul(vmul(d2(0.5), g(FV)), g(FV)));
    setv(K0, leq(g(K), l2(0)));
    const f = g(FV), s_ = g(S), r = g(R), hfsq = g(HFSQ), dk = g(DK);
    const a0 = vsub(f, vsub(hfsq, vmul(s_, vadd(hfsq, r))));
    const a1 = vsub(vmul(dk, d2(LN2_HI)), vsub(vsub(hfsq, vadd(vmul(s_, vadd(hfsq, r)), vmul(dk, d2(LN2_LO)))), f));
    const b0 = vsub(f, vmul(s_, vsub(f, r)));
    const b1 = vsub(vmul(dk, d2(LN2_HI)), vsub(vsub(vmul(s_, vsub(f, r)), vmul(dk, d2(LN2_LO))), f));
    setv(LOGV, sel(g(POS), sel(g(K0), a0, a1), sel(g(K0), b0, b1)));
    // sin and cos of T = 2π·V
    setv(T_, vmul(d2(TWO_PI), g(VV)));
    setv(IX, lsar(g(T_), 32));
    flag(vor(llt(g(IX), l2(0x3e400000)), lgt(g(IX), l2(0x401921fb))));
    flag(leq(g(IX), l2(0x3ff921fb)));
    setv(CA, lle(g(IX), l2(0x3fe921fb)));
    setv(CB, llt(g(IX), l2(0x4002d97c)));
    const t = g(T_);
    // |x| < 3π/4: n = 1
    const zb = vsub(t, d2(PIO2_1));
    const y0b = vsub(zb, d2(PIO2_1T));
    // medium: n = trunc(x·2/π + 1/2) ∈ {2, 3, 4}
    setv(FNC, (cc) => { vadd(vmul(t, d2(INVPIO2)), d2(0.5))(cc); cc.simd(V.f64x2Trunc); });
    setv(RC, vsub(t, vmul(g(FNC), d2(PIO2_1))));
    setv(WC, vmul(g(FNC), d2(PIO2_1T)));
    const hw = sel(veq(g(FNC), d2(2)), l2(NPIO2_HW[1]), sel(veq(g(FNC), d2(3)), l2(NPIO2_HW[2]), l2(NPIO2_HW[3])));
    flag(leq(g(IX), hw));
    setv(Y0, sel(g(CA), t, sel(g(CB), y0b, vsub(g(RC), g(WC)))));
    setv(Y1, sel(g(CA), d2(0), sel(g(CB), vsub(vsub(zb, g(Y0)), d2(PIO2_1T)), vsub(vsub(g(RC), g(Y0)), g(WC)))));
    setv(FN, sel(g(CA), d2(0), sel(g(CB), d2(1), g(FNC))));
    // the kernels on (y0, y1)
    setv(IXY, vand(lsar(g(Y0), 32), l2(0x7fffffff)));
    flag(llt(g(IXY), l2(0x3e400000)));
    const y0 = g(Y0), y1 = g(Y1), zz = g(ZZ), vs = g(VS), rs = g(RS), rcos = g(RCOS);
    setv(ZZ, vmul(y0, y0));
    setv(VS, vmul(zz, y0));
    setv(RS, vadd(d2(S2), vmul(zz, vadd(d2(S3), vmul(zz, vadd(d2(S4), vmul(zz, vadd(d2(S5), vmul(zz, d2(S6))))))))));
    setv(KS, sel(g(CA), vadd(y0, vmul(vs, vadd(d2(S1), vmul(zz, rs)))), vsub(y0, vsub(vsub(vmul(zz, vsub(vmul(d2(0.5), y1), vmul(vs, rs))), y1), vmul(vs, d2(S1))))));
    setv(RCOS, vmul(zz, vadd(d2(C1), vmul(zz, vadd(d2(C2), vmul(zz, vadd(d2(C3), vmul(zz, vadd(d2(C4), vmul(zz, vadd(d2(C5), vmul(zz, d2(C6)))))))))))));
    const qx = sel(lgt(g(IXY), l2(0x3fe90000)), d2(0.28125), lshl(lsub(g(IXY), l2(0x00200000)), 32));
    setv(W, qx); // W is free again: qx
    const cosSmall = vsub(d2(1), vsub(vmul(d2(0.5), zz), vsub(vmul(zz, rcos), vmul(y0, y1))));
    const cosBig = vsub(vsub(d2(1), g(W)), vsub(vsub(vmul(d2(0.5), zz), g(W)), vsub(vmul(zz, rcos), vmul(y0, y1))));
    setv(KC, sel(llt(g(IXY), l2(0x3fd33333)), cosSmall, cosBig));
    // n & 3: 0 → (s, c); 1 → (c, −s); 2 → (−s, −c); 3 → (−c, s)
    const odd = vor(veq(g(FN), d2(1)), veq(g(FN), d2(3)));
    const two = vor(veq(g(FN), d2(2)), veq(g(FN), d2(3)));
    setv(SN, sel(odd, g(KC), g(KS)));
    setv(CS, sel(odd, vneg(g(KS)), g(KC)));
    setv(S, two); // S is free again: the n & 2 mask
    setv(SN, sel(g(S), vneg(g(SN)), g(SN)));
    setv(CS, sel(g(S), vneg(g(CS)), g(CS)));
    // r = sqrt(−2·log u); (r·cos, r·sin) per pair
    setv(RAD, (cc) => { vmul(d2(-2), g(LOGV))(cc); cc.simd(V.f64x2Sqrt); });
    setv(CS, vmul(g(RAD), g(CS)));
    setv(SN, vmul(g(RAD), g(SN)));
    c.get(FB).simd(V.anyTrue);
    c.op(OP.if, T.void);
    c.get(AT).i32(2).op(0x10, 0); // call boxMuller(at, 2)
    c.op(OP.else);
    c.get(AT); shuffle(g(CS), g(SN), LOW_LANES)(c); c.simd(V.store, 4, 0);
    c.get(AT); shuffle(g(CS), g(SN), HIGH_LANES)(c); c.simd(V.store, 4, 16);
    c.op(OP.end);
    c.addTo(AT, 32);
    c.get(COUNT).i32(1).op(OP.i32Sub).tee(COUNT).op(OP.brIf, 0);
  }
  c.op(OP.end);
  c.op(OP.end);
  c.get(PAIRS).i32(1).op(OP.i32And).op(OP.if, T.void);
  c.get(AT).i32(1).op(0x10, 0);
  c.op(OP.end);
  return { name: 'boxMuller2', params: 2, locals: [[1, T.i32], [next - 3, T.v128]], code: c };
}

/**
 * scaleF32 / scaleF64 (src, count, params, dst): the f64 x at byte src + 8i → mean + std·x at dst
 * (rounded to float32 for scaleF32), mean and std the f64s at params and params + 8: Rng.normals's
 * `out[i] = mean + std * x` (the same double operations in the same order, then the same rounding
 * as a Float32Array store).
 */
function emitScale(f32: boolean): WasmFunction {
  const c = new Code();
  const [SRC, COUNT, PARAMS, DST] = [0, 1, 2, 3];
  const [MEAN, STD] = [4, 5];
  c.get(PARAMS).op(F.f64Load, 3, 0).set(MEAN);
  c.get(PARAMS).op(F.f64Load, 3, 8).set(STD);
  eachItem(c, SRC, COUNT, 8, () => {
    c.get(DST).get(MEAN).get(STD).get(SRC).op(F.f64Load, 3, 0).op(F.f64Mul).op(F.f64Add);
    if (f32) c.op(0xb6 /* f32.demote_f64 */, 0x38 /* f32.store */, 2, 0);
    else c.op(F.f64Store, 3, 0);
    c.addTo(DST, f32 ? 4 : 8);
  });
  return { name: f32 ? 'scaleF32' : 'scaleF64', params: 4, locals: [[2, T.f64]], code: c };
}

export function emitNormalModule(sharedMaxPages?: number): Uint8Array {
  return wasmModule([emitBoxMuller(), emitLogs(), emitSinCosArray(), emitBoxMuller2(), emitScale(true), emitScale(false)], sharedMaxPages);
}

const MAX_BYTES = 1 << 30;
const MAX_PAGES = MAX_BYTES / WASM_PAGE;
/** The pairs start here (npio2_hw before). */
const DATA_AT = 128;
/** From this many pairs the transform is split over the pool's threads (fixed ranges). */
export const NORMAL_PARALLEL_PAIRS = 1 << 14;

export class WasmNormal {
  private readonly pool: WasmPool;
  /** The shared memory as f64, from byte 0 (pairs from DATA_AT / 8). */
  heap = new Float64Array(0);

  constructor(threads: number = threadCount()) {
    this.pool = new WasmPool(emitNormalModule(MAX_PAGES), ['boxMuller', 'logs', 'sinCos', 'boxMuller2', 'scaleF32', 'scaleF64'], threads, MAX_PAGES);
    this.remap();
    new Int32Array(this.pool.memory.buffer).set(NPIO2_HW, 0);
  }

  /** Room for `pairs` pairs; returns the f64 index of the first (heap may be a new view). Null when too large. */
  reserve(pairs: number): number | null {
    const end = DATA_AT + 16 * pairs;
    if (end > MAX_BYTES) return null;
    if (reserveBytes(this.pool.memory, end)) this.remap();
    return DATA_AT / 8;
  }

  /**
   * The Box-Muller transform of the `pairs` (u, v) pairs written after reserve(), in place: two
   * pairs at a time (boxMuller2), or with `twoLanes` false only the scalar code (tests compare them).
   */
  boxMuller(pairs: number, twoLanes = true): void {
    const parts = pairs >= NORMAL_PARALLEL_PAIRS ? this.pool.threads : 1;
    const jobs: number[][] = [];
    for (let p = 0; p < parts; p++) {
      const from = Math.floor((p * pairs) / parts), to = Math.floor(((p + 1) * pairs) / parts);
      jobs.push([DATA_AT + 16 * from, to - from]);
    }
    this.pool.run(twoLanes ? 3 : 0, jobs);
  }

  /**
   * mean + std·x for the first `count` values of the pairs (after boxMuller), as float32 or float64
   * (see emitScale): a view of this memory, valid until the next call.
   */
  scaled(count: number, mean: number, std: number, dtype: 'float32' | 'float64'): Float32Array | Float64Array {
    const params = DATA_AT + 8 * count + 8 * (count % 2); // after the pairs, 16-byte aligned
    const dst = params + 16;
    const bytes = dtype === 'float32' ? 4 : 8;
    if (reserveBytes(this.pool.memory, dst + bytes * count)) this.remap();
    this.heap[params / 8] = mean;
    this.heap[params / 8 + 1] = std;
    this.pool.run(dtype === 'float32' ? 4 : 5, [[DATA_AT, count, params, dst]]);
    return dtype === 'float32' ? new Float32Array(this.pool.memory.buffer, dst, count) : new Float64Array(this.pool.memory.buffer, dst, count);
  }

  /** log(x) for each x (one thread; for tests). */
  logs(xs: Float64Array): Float64Array {
    if (this.reserve(xs.length) === null) throw new RangeError('WasmNormal.logs: too many inputs');
    this.heap.set(xs, DATA_AT / 8);
    this.pool.run(1, [[DATA_AT, xs.length]]);
    return this.heap.slice(DATA_AT / 8, DATA_AT / 8 + xs.length);
  }

  /** [sin x, cos x] interleaved for each x (|x| < 2^19·π/2; one thread; for tests). */
  sinCos(xs: Float64Array): Float64Array {
    if (this.reserve(xs.length) === null) throw new RangeError('WasmNormal.sinCos: too many inputs');
    const at = DATA_AT / 8;
    for (let i = 0; i < xs.length; i++) this.heap[at + 2 * i] = xs[i];
    this.pool.run(2, [[DATA_AT, xs.length]]);
    return this.heap.slice(at, at + 2 * xs.length);
  }

  private remap(): void {
    this.heap = new Float64Array(this.pool.memory.buffer);
  }
}

/** The ports against Math.log, Math.sin and Math.cos on fixed probes (math-check.ts), incl. the branch edges near π/4 multiples. */
function portsMatchMath(k: WasmNormal): boolean {
  const logIn = new Float64Array([...probeInputs(2048, 0, 1), 1, 0.5, 2 ** -1022, 0.9999999999999999, 1e-300]);
  const angles = new Float64Array([...probeInputs(2048, 0, 2 * Math.PI), Math.PI / 4, Math.PI / 2, Math.PI, 1.5 * Math.PI, 2 * Math.PI - 1e-12]);
  const sc = k.sinCos(angles);
  return agreesWithMath(logIn, k.logs(logIn), Math.log) && agreesWithMath(angles, sc, Math.sin, 2, 0) && agreesWithMath(angles, sc, Math.cos, 2, 1);
}

let kernel: WasmNormal | null | undefined;
/**
 * The shared instance, or null when WebAssembly (with threads' shared memory) is missing or
 * CALM_CPU_ACCEL=off (then normalArray keeps its JS loop).
 */
export function normalKernel(): WasmNormal | null {
  if (kernel === undefined) {
    kernel = null;
    if (envSetting('CALM_CPU_ACCEL') !== 'off' && wasmApi() !== undefined && typeof SharedArrayBuffer === 'function') {
      try {
        const candidate = new WasmNormal();
        kernel = portsMatchMath(candidate) ? candidate : null;
      } catch {
        kernel = null;
      }
    }
  }
  return kernel;
}
