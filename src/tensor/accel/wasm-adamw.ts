/**
 * AdamW's per-element update (nn/optim.ts, `adamwUpdate`) for float32 parameters in WebAssembly,
 * bit for bit the JavaScript loop. That loop computes in float64 and rounds at each store:
 *
 *   m ← fround(β1·m + (1−β1)·g);  v ← fround(β2·v + ((1−β2)·g)·g);
 *   p ← fround(p·shrink − (stepSize·m) / (√v / √(1−β2^t) + ε))   (m, v as stored)
 *
 * Here each 4-lane float32 vector is promoted to two f64x2 halves, every operation is the same IEEE
 * float64 operation in the same grouping (mul, add, sqrt and div are correctly rounded in both), and
 * the f32x4 demotion rounds to nearest like Math.fround, so every bit agrees (test/accel.test.ts).
 *
 * The moments live in this module's memory for the optimiser's lifetime: the memory is sized once, for
 * all parameters, and never grown, so the Float32Array views handed out stay valid. Each step copies a
 * parameter and its gradient in and the parameter out; m and v are updated where they are.
 */
import { Code, LOW_HALVES, OP, pushF64Half, SIMD, T, WASM_PAGE, wasmApi, wasmModule, type WasmFunction, type WasmMemory } from './wasm-emit.js';
import { wasmSimdAvailable } from './wasm-matmul.js';

/** SIMD opcodes this module needs beyond wasm-emit's. */
const V = { load64Splat: 0x0a, f64x2Sqrt: 0xef, f64x2Div: 0xf3 } as const;
/** The float64 scalars of one update, in the order they sit at `consts` (8 bytes each). */
export const ADAMW_CONSTANTS = ['beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'shrink', 'stepSize', 'sqrtBc2', 'eps'] as const;
/** Linear memory beyond this is refused (the optimiser then keeps the JavaScript loop). */
const MAX_BYTES = 1 << 30;

/**
 * adamw(p, g, m, v, n, consts): the update over ceil(n/4) whole vectors of float32 at byte addresses
 * p, g, m, v (16-byte aligned regions of whole vectors), with the constants as float64 at consts. n >= 1.
 */
function adamwFunction(): WasmFunction {
  const [P, G, M, VV, N, CONSTS] = [0, 1, 2, 3, 4, 5];
  const [B1, A1, B2, A2, SHRINK, STEP, BC2, EPS] = [6, 7, 8, 9, 10, 11, 12, 13];
  const [VP, VG, VM, VV2, MLO, VLO, PLO] = [14, 15, 16, 17, 18, 19, 20];
  const c = new Code();
  [B1, A1, B2, A2, SHRINK, STEP, BC2, EPS].forEach((local, i) => c.get(CONSTS).simd(V.load64Splat, 3, 8 * i).set(local));
  const half = (v: number, high: boolean): Code => pushF64Half(c, v, high);
  // The new m of one half, rounded to float32 (in lanes 0-1): β1·m + (1−β1)·g.
  const newM = (high: boolean): void => {
    c.get(B1); half(VM, high); c.simd(SIMD.f64x2Mul);
    c.get(A1); half(VG, high); c.simd(SIMD.f64x2Mul);
    c.simd(SIMD.f64x2Add).simd(SIMD.f32x4DemoteF64x2Zero);
  };
  // The new v of one half, rounded: β2·v + ((1−β2)·g)·g.
  const newV = (high: boolean): void => {
    c.get(B2); half(VV2, high); c.simd(SIMD.f64x2Mul);
    c.get(A2); half(VG, high); c.simd(SIMD.f64x2Mul);
    half(VG, high); c.simd(SIMD.f64x2Mul);
    c.simd(SIMD.f64x2Add).simd(SIMD.f32x4DemoteF64x2Zero);
  };
  // The new p of one half from the rounded m and v of that half (f32 lanes 0-1 of mr, vr): rounded.
  const newP = (high: boolean, mr: number, vr: number): void => {
    half(VP, high); c.get(SHRINK).simd(SIMD.f64x2Mul);
    c.get(STEP).get(mr).simd(SIMD.f64x2PromoteLowF32x4).simd(SIMD.f64x2Mul);
    c.get(vr).simd(SIMD.f64x2PromoteLowF32x4).simd(V.f64x2Sqrt).get(BC2).simd(V.f64x2Div).get(EPS).simd(SIMD.f64x2Add);
    c.simd(V.f64x2Div).simd(SIMD.f64x2Sub).simd(SIMD.f32x4DemoteF64x2Zero);
  };
  c.op(OP.loop, T.void);
  c.get(P).simd(SIMD.v128Load, 2, 0).set(VP);
  c.get(G).simd(SIMD.v128Load, 2, 0).set(VG);
  c.get(M).simd(SIMD.v128Load, 2, 0).set(VM);
  c.get(VV).simd(SIMD.v128Load, 2, 0).set(VV2);
  // Low halves first (kept in MLO, VLO, PLO), then the high halves, joined at the stores.
  newM(false); c.set(MLO);
  newV(false); c.set(VLO);
  newP(false, MLO, VLO); c.set(PLO);
  newM(true); c.set(VM); // VM, VV2 now hold the high halves' new m and v (their old values are used up)
  newV(true); c.set(VV2);
  c.get(P).get(PLO); newP(true, VM, VV2); c.simd(SIMD.i8x16Shuffle).op(...LOW_HALVES).simd(SIMD.v128Store, 2, 0);
  c.get(M).get(MLO).get(VM).simd(SIMD.i8x16Shuffle).op(...LOW_HALVES).simd(SIMD.v128Store, 2, 0);
  c.get(VV).get(VLO).get(VV2).simd(SIMD.i8x16Shuffle).op(...LOW_HALVES).simd(SIMD.v128Store, 2, 0);
  c.addTo(P, 16).addTo(G, 16).addTo(M, 16).addTo(VV, 16);
  c.get(N).i32(4).op(OP.i32Sub).tee(N).i32(0).op(OP.i32GtS).op(OP.brIf, 0);
  c.op(OP.end);
  return { name: 'adamw', params: 6, locals: [[15, T.v128]], code: c };
}

/** The module's bytes: `adamw` and its memory. */
export function emitAdamWModule(): Uint8Array {
  return wasmModule([adamwFunction()]);
}

/** The float64 scalars of one AdamW update of one parameter. */
export interface AdamWScalars {
  readonly beta1: number;
  readonly beta2: number;
  readonly shrink: number;
  readonly stepSize: number;
  readonly sqrtBc2: number;
  readonly eps: number;
}

/** Bytes of a region of n float32s: whole 4-lane vectors, since the kernel reads and writes whole vectors. */
const regionBytes = (n: number): number => 16 * Math.ceil(n / 4);

/**
 * The moments of a list of float32 parameters (by size) in one wasm memory, and the update over them.
 * `create` returns null when WebAssembly SIMD is missing or the memory would exceed 1 GiB.
 */
export class WasmAdamW {
  private readonly heap32: Float32Array;
  private readonly heap64: Float64Array;
  private readonly run: (p: number, g: number, m: number, v: number, n: number, consts: number) => void;
  /** Byte address of parameter i's m (its v follows at + regionBytes(size)). */
  private readonly at: number[];
  private readonly stageP: number;
  private readonly stageG: number;

  static create(sizes: readonly number[]): WasmAdamW | null {
    if (!wasmSimdAvailable()) return null;
    let bytes = 64; // the constants
    for (const n of sizes) bytes += 2 * regionBytes(n);
    const largest = Math.max(0, ...sizes);
    bytes += 2 * regionBytes(largest);
    return bytes > MAX_BYTES ? null : new WasmAdamW(sizes, bytes);
  }

  private constructor(private readonly sizes: readonly number[], bytes: number) {
    const api = wasmApi()!;
    const instance = new api.Instance(new api.Module(emitAdamWModule()), {});
    const memory = instance.exports.memory as WasmMemory;
    memory.grow(Math.ceil(bytes / WASM_PAGE)); // once: the views below must never be detached
    this.heap32 = new Float32Array(memory.buffer);
    this.heap64 = new Float64Array(memory.buffer);
    this.run = instance.exports.adamw as WasmAdamW['run'];
    this.at = [];
    let at = 64;
    for (const n of sizes) {
      this.at.push(at);
      at += 2 * regionBytes(n);
    }
    this.stageP = at;
    this.stageG = at + regionBytes(Math.max(0, ...sizes));
  }

  /** Parameter i's first (m) and second (v) moments: views of this module's memory, zero at first. */
  moments(i: number): { m: Float32Array; v: Float32Array } {
    const n = this.sizes[i];
    const m = this.at[i] / 4;
    const v = (this.at[i] + regionBytes(n)) / 4;
    return { m: this.heap32.subarray(m, m + n), v: this.heap32.subarray(v, v + n) };
  }

  /** One update of parameter i: p (updated in place) from gradient g, both of its size. */
  update(i: number, p: Float32Array, g: Float32Array, s: AdamWScalars): void {
    const n = this.sizes[i];
    if (p.length !== n || g.length !== n) throw new RangeError(`WasmAdamW.update: parameter ${i} has ${n} elements, got p ${p.length} and g ${g.length}`);
    if (n === 0) return;
    this.heap64.set([s.beta1, 1 - s.beta1, s.beta2, 1 - s.beta2, s.shrink, s.stepSize, s.sqrtBc2, s.eps], 0);
    this.heap32.set(p, this.stageP / 4);
    this.heap32.set(g, this.stageG / 4);
    const m = this.at[i];
    this.run(this.stageP, this.stageG, m, m + regionBytes(n), n, 0);
    p.set(this.heap32.subarray(this.stageP / 4, this.stageP / 4 + n));
  }
}
