/**
 * A WebAssembly SIMD fast path for float32 matrix products.
 *
 * Node runs wasm with 128-bit SIMD natively, so instead of shipping a toolchain we emit the bytes of
 * a tiny module here: one function `gemm` whose MR x NR micro-kernel keeps MR*NR/4 `f32x4`
 * accumulators in locals over the k loop (V8 keeps them in xmm registers). JS packs A into MR-row
 * panels and B into NR-column panels (full k, zero-padded edges) in the module's linear memory,
 * straight from strided views; wasm multiplies panel by panel, k-blocked by KC so a B micro-panel
 * stays in L1, accumulating into a zeroed, padded row-major C that JS copies out clipped.
 *
 * Products are summed in float32 within a k block and the blocks in float64 (see emitGemmModule);
 * float64 products stay on the exact JS kernel.
 * `CALM_CPU_MATMUL=js|wasm` picks the float32 kernel (default: wasm when SIMD validates).
 */
import { envSetting } from '../env.js';
import type { MatrixOperand } from '../cpu/matmul.js';
import { Code, HIGH_HALF, OP, SIMD, T, WASM_PAGE as PAGE, wasmApi, wasmModule, type WasmMemory } from './wasm-emit.js';
import { threadCount, WasmPool } from './pool.js';

/** Micro-kernel tile: rows per A panel, columns per B panel (a multiple of 4), and the k block. */
export interface GemmTile {
  readonly mr: number;
  readonly nr: number;
  readonly kc: number;
  /** A panels per row block: the block's kc x (mb*mr) slice of A stays in L1/L2 across B panels. */
  readonly mb: number;
}
/**
 * The tile the fast path uses. MR x NR = 4 x 8: 8 accumulators + 2 B vectors + 1 A splat fit the
 * 16 xmm registers (6 x 8 spills and runs 3x slower). KC = 32 is an accuracy choice: float32
 * partial sums of 32 terms keep the error well inside the tests' float32 tolerances (KC = 256 is
 * ~15% faster but breaks the 1e-6 tolerance of cpu-backend.test's k = 300 product).
 */
export const WASM_GEMM_TILE: GemmTile = { mr: 4, nr: 8, kc: 32, mb: 16 };
const MR = WASM_GEMM_TILE.mr;
const NR = WASM_GEMM_TILE.nr;
/** Linear memory beyond this is refused (the caller falls back to the JS kernel). */
const MAX_BYTES = 1 << 30;
const MAX_PAGES = MAX_BYTES / 65536;

/**
 * Emits the module: exports `memory` and `gemm(a, b, c, mPanels, nPanels, k)`, which adds A·B
 * into C, where A holds mPanels float32 panels of mr rows, B nPanels float32 panels of nr columns,
 * both in k blocks of kc (see packA/packB: each block's panels are contiguous, so a block of A
 * panels is one contiguous run of memory), and C is a row-major float64 (mPanels*mr) x (nPanels*nr)
 * matrix, at the given byte addresses. Requires k >= 1.
 *
 * Loops: k blocks of kc, B panels, A panels, then the micro-kernel over the block's k steps. The
 * tile is summed in float32 within a k block and added to C in float64, so rounding error grows like
 * (kc + k/kc)·eps rather than k·eps (blocked summation) for ~3% of the time.
 */
/** With `sharedMaxPages` the module imports a shared memory of that maximum (for the thread pool). */
export function emitGemmModule(tile: GemmTile = WASM_GEMM_TILE, sharedMaxPages?: number): Uint8Array {
  const { mr, nr, kc, mb } = tile;
  if (mr < 1 || nr < 4 || nr % 4 !== 0 || kc < 1 || mb < 1) {
    throw new Error(`emitGemmModule: bad tile mr=${mr} nr=${nr} kc=${kc} mb=${mb}`);
  }
  const nv = nr / 4;
  // Locals: 6 i32 params, then i32 scratch, then v128 accumulators / B vectors / A splat.
  const [A, B, C, M_PANELS, N_PANELS, K] = [0, 1, 2, 3, 4, 5];
  const [PC, KCUR, JP, IP, AP, BP, CROW, P, LDC, A_BLOCK, B_BLOCK, IB, IEND] = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18];
  const I32_LOCALS = 13;
  const ACC0 = 6 + I32_LOCALS;
  const acc = (r: number, v: number): number => ACC0 + r * nv + v;
  const BV0 = ACC0 + mr * nv;
  const AV = BV0 + nv;
  const V128_LOCALS = mr * nv + nv + 1;

  const c = new Code();
  // ldc (bytes per C row), bytes per A panel, bytes per B panel.
  c.get(N_PANELS).i32(nr * 8).op(OP.i32Mul).set(LDC);
  c.i32(0).set(PC);
  c.op(OP.loop, T.void); // k blocks
  {
    // kc = min(kc, k - pc): select(kc, k - pc, k - pc > kc)
    c.i32(kc).get(K).get(PC).op(OP.i32Sub).tee(KCUR).get(KCUR).i32(kc).op(OP.i32GtU).op(OP.select).set(KCUR);
    // This k block's packed panels: aBlock = a + pc*mPanels*mr*4, bBlock = b + pc*nPanels*nr*4.
    c.get(A).get(PC).get(M_PANELS).op(OP.i32Mul).i32(mr * 4).op(OP.i32Mul).op(OP.i32Add).set(A_BLOCK);
    c.get(B).get(PC).get(N_PANELS).op(OP.i32Mul).i32(nr * 4).op(OP.i32Mul).op(OP.i32Add).set(B_BLOCK);
    c.i32(0).set(IB);
    c.op(OP.loop, T.void); // blocks of mb A panels
    {
    // iEnd = min(ib + mb, mPanels)
    c.get(M_PANELS).get(IB).i32(mb).op(OP.i32Add).tee(IEND).get(IEND).get(M_PANELS).op(OP.i32GtU).op(OP.select).set(IEND);
    c.i32(0).set(JP);
    c.op(OP.loop, T.void); // B panels
    {
      c.get(IB).set(IP);
      c.op(OP.loop, T.void); // A panels of this block
      {
        // ap = aBlock + ip*kc*mr*4;  bp = bBlock + jp*kc*nr*4;  cp = c + ip*mr*ldc + jp*nr*8
        c.get(A_BLOCK).get(IP).get(KCUR).op(OP.i32Mul).i32(mr * 4).op(OP.i32Mul).op(OP.i32Add).set(AP);
        c.get(B_BLOCK).get(JP).get(KCUR).op(OP.i32Mul).i32(nr * 4).op(OP.i32Mul).op(OP.i32Add).set(BP);
        c.get(C).get(IP).i32(mr).op(OP.i32Mul).get(LDC).op(OP.i32Mul).op(OP.i32Add)
          .get(JP).i32(nr * 8).op(OP.i32Mul).op(OP.i32Add).set(CROW);
        for (let i = 0; i < mr * nv; i++) c.zero().set(ACC0 + i);
        c.get(KCUR).set(P);
        c.op(OP.loop, T.void); // the micro-kernel: one rank-1 update per k step
        {
          for (let v = 0; v < nv; v++) c.get(BP).simd(SIMD.v128Load, 4, 16 * v).set(BV0 + v);
          for (let r = 0; r < mr; r++) {
            c.get(AP).simd(SIMD.load32Splat, 2, 4 * r).set(AV);
            for (let v = 0; v < nv; v++) {
              c.get(acc(r, v)).get(AV).get(BV0 + v).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).set(acc(r, v));
            }
          }
          c.addTo(AP, mr * 4).addTo(BP, nr * 4);
          c.get(P).i32(1).op(OP.i32Sub).tee(P).op(OP.brIf, 0);
        }
        c.op(OP.end);
        // C (float64) += this k block's float32 partial sums, each f32x4 widened to two f64x2.
        for (let r = 0; r < mr; r++) {
          for (let v = 0; v < nv; v++) {
            for (const half of [0, 1]) {
              const offset = 32 * v + 16 * half;
              c.get(CROW).get(CROW).simd(SIMD.v128Load, 4, offset).get(acc(r, v));
              if (half === 1) c.get(acc(r, v)).simd(SIMD.i8x16Shuffle).op(...HIGH_HALF);
              c.simd(SIMD.f64x2PromoteLowF32x4).simd(SIMD.f64x2Add).simd(SIMD.v128Store, 4, offset);
            }
          }
          if (r < mr - 1) c.get(CROW).get(LDC).op(OP.i32Add).set(CROW);
        }
        c.get(IP).i32(1).op(OP.i32Add).tee(IP).get(IEND).op(OP.i32LtU).op(OP.brIf, 0);
      }
      c.op(OP.end);
      c.get(JP).i32(1).op(OP.i32Add).tee(JP).get(N_PANELS).op(OP.i32LtU).op(OP.brIf, 0);
    }
    c.op(OP.end);
    c.get(IEND).tee(IB).get(M_PANELS).op(OP.i32LtU).op(OP.brIf, 0);
    }
    c.op(OP.end);
    c.get(PC).i32(kc).op(OP.i32Add).tee(PC).get(K).op(OP.i32LtU).op(OP.brIf, 0);
  }
  c.op(OP.end);

  return wasmModule([{ name: 'gemm', params: 6, locals: [[I32_LOCALS, T.i32], [V128_LOCALS, T.v128]], code: c }], sharedMaxPages);
}

// ---------------------------------------------------------------- running it


let simdSupport: boolean | undefined;

/** Whether this runtime validates the emitted SIMD module. */
export function wasmSimdAvailable(): boolean {
  if (simdSupport === undefined) {
    const api = wasmApi();
    try {
      simdSupport = api !== undefined && api.validate(emitGemmModule());
    } catch {
      simdSupport = false;
    }
  }
  return simdSupport;
}

/** Which kernel runs float32 products. */
export type CpuMatmulKernel = 'js' | 'wasm';

/**
 * Reads `CALM_CPU_MATMUL` (js | wasm); unset means wasm when SIMD is available, else js. In a browser
 * there is no `process` (the playground's worker): unset.
 */
export function cpuMatmulKernel(setting: string | undefined = envSetting('CALM_CPU_MATMUL')): CpuMatmulKernel {
  if (setting === undefined || setting === '') return wasmSimdAvailable() ? 'wasm' : 'js';
  if (setting === 'js') return 'js';
  if (setting === 'wasm') {
    if (!wasmSimdAvailable()) throw new Error('CALM_CPU_MATMUL=wasm: this runtime does not support WebAssembly SIMD');
    return 'wasm';
  }
  throw new Error(`CALM_CPU_MATMUL: expected 'js' or 'wasm', got '${setting}'`);
}

/**
 * Products of at least this many multiply-adds are split over the pool's threads. Measured on the
 * shared 2-core machine: a 272 x 64 x 64 product (1.1M) took 1.3 ms split against 0.5 ms on one
 * thread, because waking a worker on a busy machine can cost a scheduler tick; from about 4M the
 * split pays.
 */
export const PARALLEL_MIN_MACS = 1 << 22;

/**
 * The gemm module over one shared linear memory (grown on demand, never shrunk), run by a
 * {@link WasmPool}: a large product is split into fixed row-panel ranges, one per thread.
 */
export class WasmMatmul {
  private readonly memory: WasmMemory;
  private readonly pool: WasmPool;
  private heap32 = new Float32Array(0);
  private heap64 = new Float64Array(0);
  private readonly kc: number;

  /**
   * `kc`, `mb` override the k block and row block (for tests and tuning; mr x nr stay 4 x 8);
   * `threads` the pool size (default: CALM_THREADS or the machine's cores).
   */
  constructor(options: { readonly kc?: number; readonly mb?: number; readonly threads?: number } = {}) {
    if (!wasmSimdAvailable()) throw new Error('WasmMatmul: WebAssembly SIMD is not available');
    const tile = { ...WASM_GEMM_TILE, ...(options.kc === undefined ? {} : { kc: options.kc }), ...(options.mb === undefined ? {} : { mb: options.mb }) };
    this.kc = tile.kc;
    this.pool = new WasmPool(emitGemmModule(tile, MAX_PAGES), ['gemm'], options.threads ?? threadCount(), MAX_PAGES);
    this.memory = this.pool.memory;
    this.remap();
  }

  /** The pool's thread count. */
  get threads(): number {
    return this.pool.threads;
  }

  /**
   * out[outOffset + i*n + j] = sum_p A[i, p] * B[p, j] for an m x k by k x n float32 product into a
   * contiguous row-major block. Returns false (doing nothing) if the packed operands would need
   * more than 1 GiB of linear memory; the caller then uses the JS kernel.
   */
  matmul(a: MatrixOperand, b: MatrixOperand, m: number, n: number, k: number, out: Float32Array, outOffset: number): boolean {
    if (m === 0 || n === 0) return true;
    if (k === 0) {
      out.fill(0, outOffset, outOffset + m * n);
      return true;
    }
    const mPanels = Math.ceil(m / MR);
    const nPanels = Math.ceil(n / NR);
    const ldc = nPanels * NR;
    // Row-panel ranges, one per thread. Every C entry is computed the same way whichever range
    // holds it (the same k blocks, in the same order), so the split never changes the result.
    const parts = m * n * k < PARALLEL_MIN_MACS ? 1 : Math.min(this.pool.threads, mPanels);
    const ranges = Array.from({ length: parts }, (_, i) => [Math.floor((i * mPanels) / parts), Math.floor(((i + 1) * mPanels) / parts)]);
    // Byte layout: each range's packed A, packed B (float32), then each range's C (float64), on 64-byte boundaries.
    let at = 0;
    const aAt = ranges.map(([p0, p1]) => {
      const here = at;
      at = roundUp(at + 4 * (p1 - p0) * MR * k, 64);
      return here;
    });
    const bBytes = at;
    at = roundUp(at + 4 * nPanels * NR * k, 64);
    const cAt = ranges.map(([p0, p1]) => {
      const here = at;
      at += 8 * (p1 - p0) * MR * ldc;
      return here;
    });
    const endBytes = at;
    if (endBytes > MAX_BYTES) return false;
    this.reserve(endBytes);
    ranges.forEach(([p0, p1], i) => {
      const rows = Math.min(m, p1 * MR) - p0 * MR;
      packA({ ...a, offset: a.offset + p0 * MR * a.rowStride }, rows, k, this.kc, this.heap32, aAt[i] / 4);
    });
    packB(b, k, n, this.kc, this.heap32, bBytes / 4);
    const c = this.heap64;
    c.fill(0, cAt[0] / 8, endBytes / 8);
    this.pool.run(0, ranges.map(([p0, p1], i) => [aAt[i], bBytes, cAt[i], p1 - p0, nPanels, k]));
    ranges.forEach(([p0, p1], i) => {
      const c0 = cAt[i] / 8;
      const r0 = p0 * MR;
      const rows = Math.min(m, p1 * MR) - r0;
      const o = outOffset + r0 * n;
      if (ldc === n) out.set(c.subarray(c0, c0 + rows * n), o);
      else for (let r = 0; r < rows; r++) out.set(c.subarray(c0 + r * ldc, c0 + r * ldc + n), o + r * n);
    });
    return true;
  }

  private reserve(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    this.memory.grow(Math.ceil((bytes - have) / PAGE));
    this.remap();
  }

  /** Growing the memory detaches the old buffer, so the views are rebuilt. */
  private remap(): void {
    this.heap32 = new Float32Array(this.memory.buffer);
    this.heap64 = new Float64Array(this.memory.buffer);
  }
}

// packA and packB here and in cpu/matmul.ts stay four loops, each unrolled for its panel width and array
// type: one width-generic packer measured ~2.8x slower (packing a 512 x 512 B: 0.25 vs 0.70 ms).
/**
 * Packs A (m x k) into MR-row panels, k block by k block: block b (k range [p0, p0 + kc)) starts
 * at p0 * mPanels * MR and holds its panels one after another, element (r, p) of panel i at
 * [(i*kc + p - p0)*MR + r]; rows past m are zero.
 */
function packA(a: MatrixOperand, m: number, k: number, kcMax: number, dst: Float32Array, base: number): void {
  const { data, offset, rowStride, colStride } = a;
  let d = base;
  for (let p0 = 0; p0 < k; p0 += kcMax) {
    const p1 = Math.min(k, p0 + kcMax);
    for (let i0 = 0; i0 < m; i0 += MR) {
      const rows = Math.min(MR, m - i0);
      let s = offset + i0 * rowStride + p0 * colStride;
      if (rows === MR) {
        const r1 = rowStride, r2 = 2 * rowStride, r3 = 3 * rowStride;
        for (let p = p0; p < p1; p++) {
          dst[d] = data[s];
          dst[d + 1] = data[s + r1];
          dst[d + 2] = data[s + r2];
          dst[d + 3] = data[s + r3];
          d += MR;
          s += colStride;
        }
      } else {
        for (let p = p0; p < p1; p++) {
          for (let r = 0; r < MR; r++) dst[d + r] = r < rows ? data[s + r * rowStride] : 0;
          d += MR;
          s += colStride;
        }
      }
    }
  }
}

/** Packs B (k x n) into NR-column panels in k blocks, laid out like packA's; columns past n are zero. */
function packB(b: MatrixOperand, k: number, n: number, kcMax: number, dst: Float32Array, base: number): void {
  const { data, offset, rowStride, colStride } = b;
  let d = base;
  for (let p0 = 0; p0 < k; p0 += kcMax) {
    const p1 = Math.min(k, p0 + kcMax);
    for (let j0 = 0; j0 < n; j0 += NR) {
      const cols = Math.min(NR, n - j0);
      let s = offset + p0 * rowStride + j0 * colStride;
      if (cols === NR) {
        const c1 = colStride, c2 = 2 * colStride, c3 = 3 * colStride, c4 = 4 * colStride;
        const c5 = 5 * colStride, c6 = 6 * colStride, c7 = 7 * colStride;
        for (let p = p0; p < p1; p++) {
          dst[d] = data[s];
          dst[d + 1] = data[s + c1];
          dst[d + 2] = data[s + c2];
          dst[d + 3] = data[s + c3];
          dst[d + 4] = data[s + c4];
          dst[d + 5] = data[s + c5];
          dst[d + 6] = data[s + c6];
          dst[d + 7] = data[s + c7];
          d += NR;
          s += rowStride;
        }
      } else {
        for (let p = p0; p < p1; p++) {
          for (let c = 0; c < NR; c++) dst[d + c] = c < cols ? data[s + c * colStride] : 0;
          d += NR;
          s += rowStride;
        }
      }
    }
  }
}

function roundUp(x: number, multiple: number): number {
  return Math.ceil(x / multiple) * multiple;
}
