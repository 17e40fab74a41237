/**
 * A WebAssembly SIMD fast path for float32 matrix products.
 *
 * Node runs wasm with 128-bit SIMD natively, so instead of shipping a toolchain we emit the bytes of
 * a tiny module here: one function `gemm` whose MR x NR micro-kernel keeps MR*NR/4 `f32x4`
 * accumulators in locals over the k loop (V8 keeps them in xmm registers). A is packed into MR-row
 * panels and B into NR-column panels over the full k, by small wasm functions (copying or
 * transposing whole vectors) for contiguous operands and by JS for strided ones. Each tile runs over
 * the whole of k, so its partial sums stay in registers and in a 256-byte scratch (L1), and wasm
 * writes the float32 result into a padded row-major C.
 *
 * The module runs over the CPU heap's memory (heap.ts) when there is one: the packers then read
 * heap operands where they lie and the kernel writes a heap result directly; anything else is copied
 * into a staging block first (and C out of it).
 *
 * The pool's threads claim row blocks of a large product from a shared counter as they go; a batch
 * of small products (attention's per-head products) runs in one wasm call.
 *
 * Products are summed in float32 within a k block of KC and the blocks in float64 (see emitGemmModule);
 * float64 products stay on the exact JS kernel.
 * `CALM_CPU_MATMUL=js|wasm` picks the float32 kernel (default: wasm when SIMD validates).
 */
import { envSetting } from '../env.js';
import type { MatrixOperand } from '../cpu/matmul.js';
import type { TypedArray } from '../dtype.js';
import { ATOMIC, Code, OP, pushF64Half, SIMD, T, reserveBytes, WASM_PAGE, wasmApi, wasmModule, type WasmFunction, type WasmMemory } from './wasm-emit.js';
import { threadCount, WasmPool } from './pool.js';
import { MAX_HEAP_PAGES, type Float32Heap } from './heap.js';

/** Micro-kernel tile: rows per A panel, columns per B panel (a multiple of 4), and the accuracy k block. */
export interface GemmTile {
  readonly mr: number;
  readonly nr: number;
  readonly kc: number;
}
/**
 * The tile the fast path uses. MR x NR = 4 x 8: 8 accumulators + 2 B vectors + 1 A splat fit the
 * 16 xmm registers (6 x 8 spills and runs 3x slower). KC = 32 is an accuracy choice: float32
 * partial sums of 32 terms keep the error well inside the tests' float32 tolerances (KC = 256 is
 * ~15% faster but breaks the 1e-6 tolerance of cpu-backend.test's k = 300 product).
 */
export const WASM_GEMM_TILE: GemmTile = { mr: 4, nr: 8, kc: 32 };
/**
 * A batch of small products is run in parts of at most this many bytes of linear memory, so that what
 * JS writes in is still in cache when the threads read it (32 MiB parts measured up to 15% slower
 * than 1 MiB ones for the 64 attention products of bench:train on one core).
 */
const BATCH_BYTES = 1 << 20;
/** Operands of at least this many floats are packed by all the threads of a split product (see matmulBatch). */
const PACK_PARALLEL_MIN_FLOATS = 1 << 19;
/** Linear memory beyond this is refused (the caller falls back to the JS kernel). */
const MAX_BYTES = 1 << 30;
const MAX_PAGES = MAX_BYTES / WASM_PAGE;
/** Bytes of A a row block may span (mb = this / (MR·k·4) panels): it stays in L2 while B panels pass over it. */
const A_BLOCK_BYTES = 128 * 1024;

/** One product of a batch: its operands and where its result goes in the output array. */
export interface BatchItem {
  readonly a: MatrixOperand;
  readonly b: MatrixOperand;
  readonly outOffset: number;
}

/** The module's functions, in order (their indices). */
const FUNCTIONS = ['gemm', 'packA', 'packB', 'gemmItems', 'packBT', 'packAT'] as const;
const [GEMM, PACK_A, PACK_B, GEMM_ITEMS, PACK_BT, PACK_AT] = FUNCTIONS.map((_, i) => i);

/** The gemm function's i32 parameters, in order. */
const GEMM_PARAMS = ['a', 'b', 'c', 'nPanels', 'k', 'blocks', 'scratch', 'next'] as const;

/**
 * Emits the module: exports `memory` and `gemm(a, b, c, nPanels, k, blocks, scratch, next)` (byte
 * addresses), which writes C = A·B where
 * - A holds packed panels of mr rows over the full k: element (r, p) of panel i at
 *   a + (i·k + p)·mr·4 + 4r (so the tile's rows are read at constant offsets from one pointer: with a
 *   pointer per row, as a row-major A read in place needs, the kernel ran 7-8% slower, and whole
 *   products 4-8% slower with the packing paid);
 * - B holds nPanels packed panels of nr columns over the full k: element (p, c) of panel j at
 *   b + (j·k + p)·nr·4 + 4c;
 * - C is a row-major float32 (mPanels·mr) x (nPanels·nr) matrix at c;
 * - scratch is mr·nr·8 bytes of this call's own (float64 partial sums);
 * - next is the address of an i32 block counter, 0 before the first of the calls that share the
 *   product, followed by the i32 table of the row blocks' first A panels (blocks + 1 entries, the last
 *   being the panel count): each call claims blocks by an atomic increment of the counter until none
 *   is left, so concurrent calls (the pool's threads) split the blocks as they go, and a thread that
 *   runs slower (a busy core, a late wake-up) simply does fewer.
 * Requires k >= 1.
 *
 * Loops: row blocks (as claimed), B panels, the block's A panels, then the tile over all of k in
 * blocks of kc. Each k block is summed in float32 in registers and added to the tile's float64 sums
 * (rounding error grows like (kc + k/kc)·eps rather than k·eps: blocked summation); the float64
 * sums are rounded to float32 once, into C. A tile with k <= kc stores its registers directly.
 */
/** With `sharedMaxPages` the module imports a shared memory of that maximum (for the thread pool). */
export function emitGemmModule(tile: GemmTile = WASM_GEMM_TILE, sharedMaxPages?: number): Uint8Array {
  const { mr, nr, kc } = tile;
  if (mr < 1 || nr < 4 || nr % 4 !== 0 || kc < 1) {
    throw new Error(`emitGemmModule: bad tile mr=${mr} nr=${nr} kc=${kc}`);
  }
  const nv = nr / 4;
  const [A, B, C, N_PANELS, K, BLOCKS, SCRATCH, NEXT] = GEMM_PARAMS.map((_, i) => i);
  let next = GEMM_PARAMS.length;
  const local = (): number => next++;
  const [JP, IP, IB, IEND, AP, BP, CP, CR, P, KLEFT, KCUR, FIRST, LDC, A_PANEL, B_PANEL, B_TILE] = Array.from({ length: 16 }, local);
  const I32_LOCALS = next - GEMM_PARAMS.length;
  const ACC0 = next;
  const acc = (r: number, v: number): number => ACC0 + r * nv + v;
  const BV0 = ACC0 + mr * nv;
  const AV = BV0 + nv;
  const V128_LOCALS = mr * nv + nv + 1;
  /** Byte offset of the float64 pair (r, v, half) in the scratch. */
  const scratchAt = (r: number, v: number, half: number): number => 32 * (r * nv + v) + 16 * half;

  const c = new Code();
  const loopWhileLess = (counter: number, limit: number): void => {
    c.get(counter).i32(1).op(OP.i32Add).tee(counter).get(limit).op(OP.i32LtU).op(OP.brIf, 0);
  };
  c.get(N_PANELS).i32(nr * 4).op(OP.i32Mul).set(LDC);
  c.get(K).i32(nr * 4).op(OP.i32Mul).set(B_PANEL);
  c.get(K).i32(mr * 4).op(OP.i32Mul).set(A_PANEL);
  c.op(OP.block, T.void); // $exit
  c.op(OP.loop, T.void); // row blocks, claimed one at a time
  {
    // block = the counter before an atomic increment; out when block >= blocks; else its panels
    // are [ib, iEnd) = [table[block], table[block + 1]) with the table of i32s right after the counter.
    c.get(NEXT).i32(1).op(OP.atomic, ATOMIC.i32RmwAdd, 2, 0).tee(IB).get(BLOCKS).op(OP.i32GeU).op(OP.brIf, 1);
    c.get(NEXT).get(IB).i32(4).op(OP.i32Mul).op(OP.i32Add).tee(IB).op(OP.i32Load, 2, 8).set(IEND);
    c.get(IB).op(OP.i32Load, 2, 4).set(IB);
    c.i32(0).set(JP);
    c.op(OP.loop, T.void); // B panels
    {
      c.get(B).get(JP).get(B_PANEL).op(OP.i32Mul).op(OP.i32Add).set(B_TILE);
      c.get(IB).set(IP);
      c.op(OP.loop, T.void); // A panels of this block: one mr x nr tile of C each
      {
        c.get(A).get(IP).get(A_PANEL).op(OP.i32Mul).op(OP.i32Add).set(AP);
        c.get(B_TILE).set(BP);
        // cp = c + ip*mr*ldc + jp*nr*4
        c.get(C).get(IP).i32(mr).op(OP.i32Mul).get(LDC).op(OP.i32Mul).op(OP.i32Add)
          .get(JP).i32(nr * 4).op(OP.i32Mul).op(OP.i32Add).set(CP);
        c.get(K).set(KLEFT);
        c.i32(1).set(FIRST);
        c.op(OP.block, T.void); // $done
        c.op(OP.loop, T.void); // k blocks of kc
        {
          // kcur = min(kc, kLeft)
          c.i32(kc).get(KLEFT).get(KLEFT).i32(kc).op(OP.i32GtU).op(OP.select).tee(KCUR).set(P);
          for (let i = 0; i < mr * nv; i++) c.zero().set(ACC0 + i);
          c.op(OP.loop, T.void); // the micro-kernel: one rank-1 update per k step
          {
            for (let v = 0; v < nv; v++) c.get(BP).simd(SIMD.v128Load, 4, 16 * v).set(BV0 + v);
            for (let r = 0; r < mr; r++) {
              c.get(AP).simd(SIMD.load32Splat, 2, 4 * r).set(AV);
              for (let v = 0; v < nv; v++) {
                c.get(acc(r, v)).get(AV).get(BV0 + v).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).set(acc(r, v));
              }
            }
            c.addTo(AP, mr * 4);
            c.addTo(BP, nr * 4);
            c.get(P).i32(1).op(OP.i32Sub).tee(P).op(OP.brIf, 0);
          }
          c.op(OP.end);
          c.get(KLEFT).get(KCUR).op(OP.i32Sub).set(KLEFT);
          // The only block (k <= kc): its float32 sums are the result.
          c.get(FIRST).get(KLEFT).op(OP.i32Eqz).op(OP.i32And).op(OP.if, T.void);
          {
            c.get(CP).set(CR);
            for (let r = 0; r < mr; r++) {
              for (let v = 0; v < nv; v++) c.get(CR).get(acc(r, v)).simd(SIMD.v128Store, 4, 16 * v);
              if (r + 1 < mr) c.get(CR).get(LDC).op(OP.i32Add).set(CR);
            }
            c.op(OP.br, 2); // out of $done
          }
          c.op(OP.end);
          // scratch (float64) = or += this block's float32 sums, each f32x4 widened to two f64x2.
          const widened = (r: number, v: number, half: number): void => void pushF64Half(c, acc(r, v), half === 1);
          c.get(FIRST).op(OP.if, T.void);
          for (let r = 0; r < mr; r++) for (let v = 0; v < nv; v++) for (const half of [0, 1]) {
            c.get(SCRATCH);
            widened(r, v, half);
            c.simd(SIMD.v128Store, 4, scratchAt(r, v, half));
          }
          c.op(OP.else);
          for (let r = 0; r < mr; r++) for (let v = 0; v < nv; v++) for (const half of [0, 1]) {
            c.get(SCRATCH).get(SCRATCH).simd(SIMD.v128Load, 4, scratchAt(r, v, half));
            widened(r, v, half);
            c.simd(SIMD.f64x2Add).simd(SIMD.v128Store, 4, scratchAt(r, v, half));
          }
          c.op(OP.end);
          c.i32(0).set(FIRST);
          c.get(KLEFT).op(OP.brIf, 0);
        }
        c.op(OP.end); // k blocks
        // C = the float64 sums rounded to float32 (two demoted halves joined by a shuffle).
        c.get(CP).set(CR);
        for (let r = 0; r < mr; r++) {
          for (let v = 0; v < nv; v++) {
            c.get(CR);
            c.get(SCRATCH).simd(SIMD.v128Load, 4, scratchAt(r, v, 0)).simd(SIMD.f32x4DemoteF64x2Zero);
            c.get(SCRATCH).simd(SIMD.v128Load, 4, scratchAt(r, v, 1)).simd(SIMD.f32x4DemoteF64x2Zero);
            c.simd(SIMD.i8x16Shuffle).op(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
            c.simd(SIMD.v128Store, 4, 16 * v);
          }
          if (r + 1 < mr) c.get(CR).get(LDC).op(OP.i32Add).set(CR);
        }
        c.op(OP.end); // $done
        loopWhileLess(IP, IEND);
      }
      c.op(OP.end);
      loopWhileLess(JP, N_PANELS);
    }
    c.op(OP.end);
    c.op(OP.br, 0);
  }
  c.op(OP.end);
  c.op(OP.end); // $exit

  const gemm = { name: 'gemm', params: GEMM_PARAMS.length, locals: [[I32_LOCALS, T.i32], [V128_LOCALS, T.v128]] as [number, number][], code: c };
  // packAT packs a row-major A; a tile of mr rows that is not a whole number of vectors packs it in JS
  // (the function is emitted 4 wide so the module keeps its shape).
  const functions = [gemm, emitPanelCopy('packA', mr), emitPanelCopy('packB', nr), emitGemmItems(), emitTransposedPanelCopy('packBT', nr), emitTransposedPanelCopy('packAT', mr % 4 === 0 ? mr : 4)];
  return wasmModule(functions, sharedMaxPages);
}

/**
 * `gemmItems(b, c, nPanels, k, blocks, scratch, next, items, itemBytes, counter, origin)`: claims items (products of one shape laid out itemBytes apart from address
 * origin) by an atomic increment of the i32 at counter until none is left, and runs gemm on each: A
 * at the item's start, b, c and next relative to it.
 */
function emitGemmItems(): { name: string; params: number; locals: [number, number][]; code: Code } {
  const PARAMS = ['b', 'c', 'nPanels', 'k', 'blocks', 'scratch', 'next', 'items', 'itemBytes', 'counter', 'origin'] as const;
  const [B, C, N_PANELS, K, BLOCKS, SCRATCH, NEXT, ITEMS, ITEM_BYTES, COUNTER, ORIGIN] = PARAMS.map((_, i) => i);
  const [ITEM, BASE] = [PARAMS.length, PARAMS.length + 1];
  const c = new Code();
  c.op(OP.block, T.void);
  c.op(OP.loop, T.void);
  {
    c.get(COUNTER).i32(1).op(OP.atomic, ATOMIC.i32RmwAdd, 2, 0).tee(ITEM).get(ITEMS).op(OP.i32GeU).op(OP.brIf, 1);
    c.get(ITEM).get(ITEM_BYTES).op(OP.i32Mul).get(ORIGIN).op(OP.i32Add).tee(BASE);
    c.get(BASE).get(B).op(OP.i32Add).get(BASE).get(C).op(OP.i32Add);
    c.get(N_PANELS).get(K).get(BLOCKS).get(SCRATCH).get(BASE).get(NEXT).op(OP.i32Add);
    c.op(OP.call, GEMM);
    c.op(OP.br, 0);
  }
  c.op(OP.end);
  c.op(OP.end);
  return { name: 'gemmItems', params: PARAMS.length, locals: [[2, T.i32]], code: c };
}

/**
 * `name(src, srcStep, dst, panels, k)`: copies `panels` panels of `width` consecutive floats per k
 * step (panel i, step p at src + 4·width·i + p·srcStep) into the packed layout the gemm reads (panel
 * i, step p at dst + 4·width·(i·k + p)): A's panels from a transposed A, B's from a row-major B.
 * `width` a multiple of 4 (or 4 for A's mr = 4 rows); whole vectors are copied, so a last panel
 * past the matrix's edge copies whatever follows it (the caller leaves zeros there).
 */
function emitPanelCopy(name: string, width: number): { name: string; params: number; locals: [number, number][]; code: Code } {
  const [SRC, SRC_STEP, DST, PANELS, K] = [0, 1, 2, 3, 4];
  const [I, S, P] = [5, 6, 7];
  const vectors = Math.ceil(width / 4);
  const c = new Code();
  c.i32(0).set(I);
  c.op(OP.loop, T.void);
  {
    c.get(SRC).get(I).i32(4 * width).op(OP.i32Mul).op(OP.i32Add).set(S);
    c.get(K).set(P);
    c.op(OP.loop, T.void);
    {
      for (let v = 0; v < vectors; v++) c.get(DST).get(S).simd(SIMD.v128Load, 0, 16 * v).simd(SIMD.v128Store, 0, 16 * v);
      c.get(S).get(SRC_STEP).op(OP.i32Add).set(S);
      c.addTo(DST, 4 * width);
      c.get(P).i32(1).op(OP.i32Sub).tee(P).op(OP.brIf, 0);
    }
    c.op(OP.end);
    c.get(I).i32(1).op(OP.i32Add).tee(I).get(PANELS).op(OP.i32LtU).op(OP.brIf, 0);
  }
  c.op(OP.end);
  return { name, params: 5, locals: [[3, T.i32]], code: c };
}

/** i8x16.shuffle lanes picking f32 lanes (0-3 of the first operand, 4-7 of the second). */
const f32Lanes = (...lanes: number[]): number[] => lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);

/**
 * `name(src, srcRow, dst, panels, k)`: the packed panel layout (panel i, step p at
 * dst + 4·width·(i·k + p), `width` floats) from a row-major matrix whose rows are the panels' lanes
 * (row c, byte stride srcRow from src, is lane c): a row-major A's row panels (packAT), or B = Mᵀ with
 * M row-major (packBT: the transposed weights of a linear layer's input gradient, g·Wᵀ). Panel i
 * reads rows width·i … width·i + width − 1 four floats at a time and transposes each 4 x 4 block with
 * shuffles (an odd last 1-3 steps go a float at a time), where the JS packer gathered one float per
 * load. Rows past the matrix's end must be zeros the caller provides. `width` a multiple of 4.
 */
function emitTransposedPanelCopy(name: string, width: number): WasmFunction {
  if (width % 4 !== 0) throw new Error(`emitTransposedPanelCopy: width ${width} is not a multiple of 4`);
  const [SRC, SRC_ROW, DST, PANELS, K] = [0, 1, 2, 3, 4];
  const [I, P, D] = [5, 6, 7];
  const ROW = Array.from({ length: width }, (_, r) => 8 + r); // the panel's row pointers
  const V = Array.from({ length: width }, (_, r) => 8 + width + r); // 4 floats of each row
  const [T0, T1, T2, T3] = [8 + 2 * width, 9 + 2 * width, 10 + 2 * width, 11 + 2 * width];
  const step = 4 * width; // bytes of one k step of a panel
  const c = new Code();
  c.i32(0).set(I);
  c.op(OP.loop, T.void); // panels
  {
    c.get(SRC).get(I).get(SRC_ROW).op(OP.i32Mul).i32(width).op(OP.i32Mul).op(OP.i32Add).set(ROW[0]);
    for (let r = 1; r < width; r++) c.get(ROW[r - 1]).get(SRC_ROW).op(OP.i32Add).set(ROW[r]);
    c.get(DST).get(I).get(K).op(OP.i32Mul).i32(step).op(OP.i32Mul).op(OP.i32Add).set(D);
    c.get(K).set(P);
    c.op(OP.block, T.void); // four steps at a time while at least four are left
    c.op(OP.loop, T.void);
    {
      c.get(P).i32(4).op(OP.i32LtU).op(OP.brIf, 1);
      for (let r = 0; r < width; r++) c.get(ROW[r]).simd(SIMD.v128Load, 2, 0).set(V[r]).addTo(ROW[r], 16);
      for (let group = 0; group < width / 4; group++) {
        const [a, b, cc, d] = V.slice(4 * group, 4 * group + 4);
        c.get(a).get(b).simd(SIMD.i8x16Shuffle).op(...f32Lanes(0, 4, 1, 5)).set(T0);
        c.get(cc).get(d).simd(SIMD.i8x16Shuffle).op(...f32Lanes(0, 4, 1, 5)).set(T1);
        c.get(a).get(b).simd(SIMD.i8x16Shuffle).op(...f32Lanes(2, 6, 3, 7)).set(T2);
        c.get(cc).get(d).simd(SIMD.i8x16Shuffle).op(...f32Lanes(2, 6, 3, 7)).set(T3);
        // Step j's floats of rows a, b, cc, d, at lane offset 16·group of the step's bytes.
        const store = (j: number, x: number, y: number, lanes: number[]): void => {
          c.get(D).get(x).get(y).simd(SIMD.i8x16Shuffle).op(...f32Lanes(...lanes)).simd(SIMD.v128Store, 2, step * j + 16 * group);
        };
        store(0, T0, T1, [0, 1, 4, 5]);
        store(1, T0, T1, [2, 3, 6, 7]);
        store(2, T2, T3, [0, 1, 4, 5]);
        store(3, T2, T3, [2, 3, 6, 7]);
      }
      c.addTo(D, 4 * step);
      c.get(P).i32(4).op(OP.i32Sub).set(P);
      c.op(OP.br, 0);
    }
    c.op(OP.end);
    c.op(OP.end);
    c.op(OP.block, T.void); // the last 0-3 steps, a float at a time
    c.op(OP.loop, T.void);
    {
      c.get(P).op(OP.i32Eqz).op(OP.brIf, 1);
      for (let r = 0; r < width; r++) c.get(D).get(ROW[r]).op(OP.f32Load, 2, 0).op(OP.f32Store, 2, 4 * r).addTo(ROW[r], 4);
      c.addTo(D, step);
      c.get(P).i32(1).op(OP.i32Sub).set(P);
      c.op(OP.br, 0);
    }
    c.op(OP.end);
    c.op(OP.end);
    c.get(I).i32(1).op(OP.i32Add).tee(I).get(PANELS).op(OP.i32LtU).op(OP.brIf, 0);
  }
  c.op(OP.end);
  return { name, params: 5, locals: [[3 + width, T.i32], [width + 4, T.v128]], code: c };
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
 * The gemm module over one shared linear memory, run by a {@link WasmPool}: a large product is split
 * into row blocks that the threads claim as they go. The memory is the CPU heap's (heap.ts) when one
 * is given: each call then stages what it needs in a scratch block, and reads operands that live in
 * the heap, and writes a result that does, where they lie. Without one it is the module's own (grown
 * on demand, never shrunk) and everything is copied in and out.
 */
export class WasmMatmul {
  private readonly memory: WasmMemory;
  private readonly heap: Float32Heap | undefined;
  private readonly pool: WasmPool;
  private heap32 = new Float32Array(0);
  private heapI32 = new Int32Array(0);
  private readonly tile: GemmTile;
  private readonly mb: number | undefined;

  /**
   * `kc`, `mr` override the accuracy k block and the tile's rows, `mb` the A panels of the largest row block
   * (default: what fits A_BLOCK_BYTES) (for tests and tuning); `threads` the pool size (default:
   * CALM_THREADS or the machine's cores); `heap` the CPU heap to run over.
   */
  constructor(options: { readonly kc?: number; readonly mb?: number; readonly mr?: number; readonly threads?: number; readonly heap?: Float32Heap } = {}) {
    if (!wasmSimdAvailable()) throw new Error('WasmMatmul: WebAssembly SIMD is not available');
    this.tile = { ...WASM_GEMM_TILE, ...(options.kc === undefined ? {} : { kc: options.kc }), ...(options.mr === undefined ? {} : { mr: options.mr }) };
    this.mb = options.mb;
    this.heap = options.heap;
    const maxPages = this.heap === undefined ? MAX_PAGES : MAX_HEAP_PAGES;
    this.pool = new WasmPool(emitGemmModule(this.tile, maxPages), FUNCTIONS, options.threads ?? threadCount(), maxPages, this.heap?.memory);
    this.memory = this.pool.memory;
    this.remap();
  }

  /** The pool's thread count. */
  get threads(): number {
    return this.pool.threads;
  }

  /**
   * out[outOffset + i*n + j] = sum_p A[i, p] * B[p, j] for an m x k by k x n float32 product into a
   * contiguous row-major block. Returns false (doing nothing) if the operands would need more than
   * 1 GiB of linear memory; the caller then uses the JS kernel.
   */
  matmul(a: MatrixOperand, b: MatrixOperand, m: number, n: number, k: number, out: Float32Array, outOffset: number): boolean {
    return this.matmulBatch([{ a, b, outOffset }], m, n, k, out);
  }

  /**
   * {@link matmul} for several products of one shape and operand layout (a batched matmul's): small
   * products, each below PARALLEL_MIN_MACS, staged together (in parts of BATCH_BYTES) and run by one
   * wasm call (gemmItems) on this thread; large ones one at a time, split by row blocks. Returns false
   * when they would need more than 1 GiB of linear memory (some may have been written).
   */
  matmulBatch(items: readonly BatchItem[], m: number, n: number, k: number, out: Float32Array): boolean {
    if (m === 0 || n === 0 || items.length === 0) return true;
    if (k === 0) {
      for (const { outOffset } of items) out.fill(0, outOffset, outOffset + m * n);
      return true;
    }
    const macs = m * n * k;
    if (items.length > 1 && macs >= PARALLEL_MIN_MACS) {
      // Large products: one at a time, each split by row blocks.
      return items.every((item) => this.matmulBatch([item], m, n, k, out));
    }
    const { a: a0, b: b0 } = items[0];
    const { mr: MR, nr: NR } = this.tile;
    const mPanels = Math.ceil(m / MR);
    const nPanels = Math.ceil(n / NR);
    const ldc = nPanels * NR;
    // A is packed into panels of MR rows: by wasm's transposing packer when A is row-major and
    // contiguous, by wasm's panel copy when A is a contiguous transposed matrix (xᵀ of a weight
    // gradient), both from where A lies in the heap or from a plain copy (see below); else by JS.
    // The items share their layout (the strides of a batched operand).
    const wide = MR % 4 === 0; // the wasm packers move whole vectors
    const layout = !wide ? 'strided' : a0.colStride === 1 && a0.rowStride === k ? 'rows' : a0.rowStride === 1 && a0.colStride === m ? 'columns' : 'strided';
    // B likewise into panels of NR columns: by wasm's panel copy when row-major and contiguous, by its
    // transposing packer for B = Mᵀ with M row-major and contiguous (g·Wᵀ), else by JS.
    const bRows = b0.colStride === 1 && b0.rowStride === n;
    const bCols = !bRows && b0.rowStride === 1 && b0.colStride === k;
    // Threads claim whole items, or row blocks of one product (see emitGemmModule), as they go.
    // Every C entry is computed the same way whichever thread claims it (the same k blocks, in the
    // same order), so neither the split nor the block sizes change the result.
    const byItems = items.length > 1;
    // Whole small products are not shared out between threads (parts 1 for a batch): on the 2-core
    // host, two threads ran bench:train's 64-product attention batches at 0.5-0.9x the speed of one
    // with no core free, and on idle cores the train step was still slower with them shared (0.52x and
    // 0.54x of tfjs-wasm's time against 0.505x and 0.506x). gemmItems takes any number of jobs.
    const parts = byItems || macs < PARALLEL_MIN_MACS ? 1 : Math.min(this.pool.threads, mPanels);
    const cacheBlock = this.mb ?? Math.max(1, Math.floor(A_BLOCK_BYTES / (4 * MR * k)));
    const blockStarts = this.rowBlocksOf(mPanels, cacheBlock, byItems ? 1 : parts);
    // Over the heap's memory the packers read A and B where they lie (every item of a batch too), and
    // a single product's kernel writes C straight into `out`, when they are heap arrays of whole tiles
    // (m a multiple of MR; n of NR, so the packers' and the kernel's last vectors stay inside the
    // matrices). Else they are staged as below.
    const heap = this.heap;
    const single = items.length === 1;
    const inHeap = (x: TypedArray): boolean => heap !== undefined && x instanceof Float32Array && heap.views(x);
    const aInPlace = layout !== 'strided' && m % MR === 0 && items.every((item) => inHeap(item.a.data));
    const bInPlace = (bRows || bCols) && n % NR === 0 && items.every((item) => inHeap(item.b.data));
    const cInPlace = single && ldc === n && m % MR === 0 && inHeap(out);
    // Byte layout of an item, on 64-byte boundaries: packed A, packed B, C (float32, padded to whole
    // tiles), the row-block counter and table, then the plain copies of A and B the wasm packers read
    // (of operands not in the heap), each followed by zeros where the packers read past the matrix's
    // edge (a panel's width of floats after a copy they read along rows; whole panels of rows after
    // one they transpose). After the items: the item counter and a float64 scratch tile per thread.
    const bAt = roundUp(4 * mPanels * MR * k, 64);
    const cAt = roundUp(bAt + 4 * nPanels * NR * k, 64);
    const nextAt = roundUp(cAt + (cInPlace ? 0 : 4 * mPanels * MR * ldc), 64);
    const aCopyAt = roundUp(nextAt + 4 + 4 * blockStarts.length, 64);
    const aCopyFloats = aInPlace ? 0 : layout === 'columns' ? m * k + MR : layout === 'rows' ? mPanels * MR * k : 0;
    const bCopyAt = roundUp(aCopyAt + 4 * aCopyFloats, 64);
    const bCopyFloats = bInPlace ? 0 : bRows ? k * n + NR : bCols ? nPanels * NR * k : 0;
    const itemBytes = roundUp(bCopyAt + 4 * bCopyFloats, 64);
    const scratchBytes = 8 * MR * NR;
    if (byItems && items.length * itemBytes > BATCH_BYTES) {
      // A batch that would need much memory (which stays the module's) goes in parts.
      const per = Math.max(1, Math.floor(BATCH_BYTES / itemBytes));
      for (let i = 0; i < items.length; i += per) {
        if (!this.matmulBatch(items.slice(i, i + per), m, n, k, out)) return false;
      }
      return true;
    }
    const itemCounterAt = items.length * itemBytes;
    const scratchAt = itemCounterAt + 64;
    const endBytes = scratchAt + parts * scratchBytes;
    if (endBytes > MAX_BYTES) return false;
    // The staging area: a heap scratch block (64-byte aligned), or the module's memory from address 0.
    const stage = heap?.scratch(endBytes / 4);
    try {
      const origin = stage?.byteOffset ?? 0;
      if (stage === undefined) this.reserve(endBytes);
      else if (this.heap32.buffer.byteLength !== this.memory.buffer.byteLength) this.remap();
      const mem = this.heap32;
      const memI32 = this.heapI32;
      /** The byte address of element `offset` of an array in this memory. */
      const address = (x: TypedArray, offset: number): number => x.byteOffset + 4 * offset;
      /**
       * Where a wasm packer reads a contiguous operand of `size` floats: where it lies in the heap, or a
       * plain copy at `copyAt` followed by zeros up to `copyFloats`.
       */
      const source = (x: MatrixOperand, inPlace: boolean, size: number, copyAt: number, copyFloats: number): number => {
        if (inPlace) return address(x.data, x.offset);
        mem.set(x.data.subarray(x.offset, x.offset + size), copyAt / 4);
        mem.fill(0, copyAt / 4 + size, copyAt / 4 + copyFloats);
        return copyAt;
      };
      // An operand is packed by the threads only when large: handing a 1 MB pack to a second thread cost
      // more in waking it (0.18-0.26 against 0.14-0.17 ms for 512 x 512) than it saved; at 4 MB the split pays.
      const packParts = (floats: number): number => (floats >= PACK_PARALLEL_MIN_FLOATS ? parts : 1);
      for (let i = 0; i < items.length; i++) {
        const { a, b } = items[i];
        const base = origin + i * itemBytes;
        if (layout === 'rows') {
          // Transposed by panels of MR rows; the copy's rows past m are zero (the last panel's missing rows).
          this.pool.run(PACK_AT, panelCopyJobs(source(a, aInPlace, m * k, base + aCopyAt, mPanels * MR * k), 4 * k, base, mPanels, k, MR, packParts(m * k), 4 * MR * k));
        } else if (layout === 'columns') {
          this.pool.run(PACK_A, panelCopyJobs(source(a, aInPlace, m * k, base + aCopyAt, m * k + MR), 4 * m, base, mPanels, k, MR, packParts(m * k)));
        } else packA(a, m, k, MR, mem, base / 4);
        if (bRows) {
          this.pool.run(PACK_B, panelCopyJobs(source(b, bInPlace, k * n, base + bCopyAt, k * n + NR), 4 * n, base + bAt, nPanels, k, NR, packParts(k * n)));
        } else if (bCols) {
          // M's n rows of k, then zero rows up to whole panels (the columns past B's edge).
          this.pool.run(PACK_BT, panelCopyJobs(source(b, bInPlace, k * n, base + bCopyAt, nPanels * NR * k), 4 * k, base + bAt, nPanels, k, NR, packParts(k * n), 4 * NR * k));
        } else packB(b, k, n, NR, mem, (base + bAt) / 4);
        memI32[(base + nextAt) / 4] = 0; // the row-block counter
        memI32.set(blockStarts, (base + nextAt) / 4 + 1);
      }
      // The pool posts the jobs after these stores.
      const blocks = blockStarts.length - 1;
      if (items.length > 1) {
        memI32[(origin + itemCounterAt) / 4] = 0;
        this.pool.run(GEMM_ITEMS, Array.from({ length: parts }, (_, t) => [bAt, cAt, nPanels, k, blocks, origin + scratchAt + t * scratchBytes, nextAt, items.length, itemBytes, origin + itemCounterAt, origin]));
      } else {
        const cAddress = cInPlace ? address(out, items[0].outOffset) : origin + cAt;
        this.pool.run(GEMM, Array.from({ length: parts }, (_, t) => [origin, origin + bAt, cAddress, nPanels, k, blocks, origin + scratchAt + t * scratchBytes, origin + nextAt]));
      }
      // C out of the staging area (a C written in place is already there).
      for (let i = 0; i < (cInPlace ? 0 : items.length); i++) {
        const outOffset = items[i].outOffset;
        const c0 = (origin + i * itemBytes + cAt) / 4;
        if (ldc === n) out.set(mem.subarray(c0, c0 + m * n), outOffset);
        else for (let r = 0; r < m; r++) out.set(mem.subarray(c0 + r * ldc, c0 + r * ldc + n), outOffset + r * n);
      }
    } finally {
      if (stage !== undefined) heap?.release(stage);
    }
    return true;
  }

  /** rowBlocks, remembered for the last arguments (a training step repeats its shapes). */
  private rowBlocksOf(panels: number, cacheBlock: number, parts: number): Int32Array {
    const key = `${panels},${cacheBlock},${parts}`;
    if (key !== this.lastBlocksKey) {
      this.lastBlocks = Int32Array.from(rowBlocks(panels, cacheBlock, parts));
      this.lastBlocksKey = key;
    }
    return this.lastBlocks;
  }
  private lastBlocksKey = '';
  private lastBlocks = new Int32Array(0);

  private reserve(bytes: number): void {
    if (reserveBytes(this.memory, bytes)) this.remap();
  }

  /** Growing the memory detaches the old buffer, so the view is rebuilt. */
  private remap(): void {
    this.heap32 = new Float32Array(this.memory.buffer);
    this.heapI32 = new Int32Array(this.memory.buffer);
  }
}

// packB here and in cpu/matmul.ts stay loops unrolled for their panel width and array type: one
// width-generic packer measured ~2.8x slower (packing a 512 x 512 B: 0.25 vs 0.70 ms).
/**
 * Packs A (m x k) into panels of mr rows over the full k (element (r, p) of panel i at
 * base + (i*k + p)*mr + r; rows past m zero): packB of Aᵀ. Only the fallback for A layouts the wasm
 * paths do not take (strided views).
 */
function packA(a: MatrixOperand, m: number, k: number, mr: number, dst: Float32Array, base: number): void {
  packB({ ...a, rowStride: a.colStride, colStride: a.rowStride }, k, m, mr, dst, base);
}

/** Packs B (k x n) into panels of nr columns over the full k, laid out like packA's; columns past n are zero. */
function packB(b: MatrixOperand, k: number, n: number, nr: number, dst: Float32Array, base: number): void {
  const { data, offset, rowStride, colStride } = b;
  let d = base;
  for (let j0 = 0; j0 < n; j0 += nr) {
    const cols = Math.min(nr, n - j0);
    let s = offset + j0 * colStride;
    if (cols === 8 && nr === 8) {
      const c1 = colStride, c2 = 2 * colStride, c3 = 3 * colStride, c4 = 4 * colStride;
      const c5 = 5 * colStride, c6 = 6 * colStride, c7 = 7 * colStride;
      for (let p = 0; p < k; p++) {
        dst[d] = data[s];
        dst[d + 1] = data[s + c1];
        dst[d + 2] = data[s + c2];
        dst[d + 3] = data[s + c3];
        dst[d + 4] = data[s + c4];
        dst[d + 5] = data[s + c5];
        dst[d + 6] = data[s + c6];
        dst[d + 7] = data[s + c7];
        d += 8;
        s += rowStride;
      }
    } else {
      for (let p = 0; p < k; p++) {
        for (let c = 0; c < nr; c++) dst[d + c] = c < cols ? data[s + c * colStride] : 0;
        d += nr;
        s += rowStride;
      }
    }
  }
}

/**
 * The arguments of the wasm panel copies (packA, packB, packBT: `(src, srcStep, dst, panels, k)`) for
 * `panels` panels of `width` floats split into at most `parts` runs of consecutive panels, one per
 * thread: the panels are independent, so the packed bytes are the same however they are split. A panel
 * starts `srcPanelBytes` after the previous one in the source (width floats along a row for packA and
 * packB; width rows of M for packBT).
 */
export function panelCopyJobs(src: number, srcStep: number, dst: number, panels: number, k: number, width: number, parts: number, srcPanelBytes = 4 * width): number[][] {
  const jobs: number[][] = [];
  const per = Math.ceil(panels / Math.max(1, Math.min(parts, panels)));
  for (let first = 0; first < panels; first += per) {
    const count = Math.min(per, panels - first);
    jobs.push([src + srcPanelBytes * first, srcStep, dst + 4 * width * k * first, count, k]);
  }
  return jobs;
}

/**
 * The row blocks' first panels (and the panel count last). One thread: blocks of `cacheBlock`
 * panels. More: guided sizes, a share of what is left (1 / (2·parts)) capped at `cacheBlock` and
 * shrinking towards the end, so the threads finish within a small block of each other whatever their
 * speeds; at least cacheBlock / MIN_BLOCK_DIVISOR panels, since each block rereads all of B.
 */
export function rowBlocks(panels: number, cacheBlock: number, parts: number): number[] {
  const starts = [0];
  const least = Math.max(1, Math.ceil(cacheBlock / MIN_BLOCK_DIVISOR));
  for (let at = 0; at < panels; ) {
    const left = panels - at;
    const size = parts === 1 ? cacheBlock : Math.min(cacheBlock, Math.max(least, Math.ceil(left / (2 * parts))));
    at = Math.min(panels, at + size);
    starts.push(at);
  }
  return starts;
}
/** Row blocks are at least cacheBlock / this many panels (see rowBlocks). */
const MIN_BLOCK_DIVISOR = 8;

function roundUp(x: number, multiple: number): number {
  return Math.ceil(x / multiple) * multiple;
}
