/**
 * The CPU matrix-product kernel.
 *
 * A GotoBLAS-style blocked product: B is packed into panels of NR columns (contiguous in k), A into
 * panels of MR rows, and a MR x NR micro-kernel keeps its MR*NR accumulators in local variables over
 * the k loop. Packing reads straight from strided views, so transposed inputs cost nothing extra,
 * and pads edge panels with zeros so the micro-kernel never branches on the edge; only the store
 * of an edge tile is clipped. Everything is accumulated in float64 (JS numbers, packed into
 * Float64Arrays so the inner loop does no conversions) and rounded once on store.
 *
 * This is the reference kernel of the `matmul` entry (`src/tensor/ops/matmul.ts`). Float32 products
 * normally take the optional WebAssembly SIMD acceleration (`src/tensor/accel/wasm-matmul.ts`,
 * float32 accumulation, ~10x faster) instead, unless CALM_CPU_MATMUL=js; float64 products always
 * use this exact kernel.
 */
import type { TypedArray } from '../dtype.js';

/** Rows per A panel and columns per B panel of the micro-kernel. */
const MR = 4;
const NR = 4;
/** k block: an A and a B micro-panel (MR*KC + NR*KC doubles = 16 KB) stay in L1. */
const KC = 256;
/** Row block of packed A (MC*KC doubles = 256 KB, for L2). */
const MC = 128;
/** Column block of packed B (KC*NC doubles = 2 MB), bounding the packing memory. */
const NC = 1024;

/** One matrix operand: element (i, j) is data[offset + i * rowStride + j * colStride]. */
export interface MatrixOperand {
  readonly data: TypedArray;
  readonly offset: number;
  readonly rowStride: number;
  readonly colStride: number;
}

/** Reusable packing buffers, so a batch of products allocates them once. */
export class MatmulWorkspace {
  packedA = new Float64Array(0);
  packedB = new Float64Array(0);
  accum = new Float64Array(0);

  ensure(aSize: number, bSize: number, accSize: number): void {
    if (this.packedA.length < aSize) this.packedA = new Float64Array(aSize);
    if (this.packedB.length < bSize) this.packedB = new Float64Array(bSize);
    if (this.accum.length < accSize) this.accum = new Float64Array(accSize);
  }
}

// packA and packB are unrolled for their panel width and Float64Array, not shared with
// accel/wasm-matmul.ts's packers (or each other): see the note there.
/** Packs rows [i0, i0+mc) and k range [p0, p0+kc) of A into MR-row panels: dst[(panel*kc + p)*MR + r]. */
function packA(a: MatrixOperand, i0: number, mc: number, p0: number, kc: number, dst: Float64Array): void {
  const { data, offset, rowStride, colStride } = a;
  let d = 0;
  for (let ip = 0; ip < mc; ip += MR) {
    const rows = Math.min(MR, mc - ip);
    const base = offset + (i0 + ip) * rowStride + p0 * colStride;
    if (rows === MR) {
      let s0 = base;
      let s1 = base + rowStride;
      let s2 = base + 2 * rowStride;
      let s3 = base + 3 * rowStride;
      for (let p = 0; p < kc; p++) {
        dst[d] = data[s0];
        dst[d + 1] = data[s1];
        dst[d + 2] = data[s2];
        dst[d + 3] = data[s3];
        d += MR;
        s0 += colStride;
        s1 += colStride;
        s2 += colStride;
        s3 += colStride;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        for (let r = 0; r < MR; r++) dst[d + r] = r < rows ? data[base + r * rowStride + p * colStride] : 0;
        d += MR;
      }
    }
  }
}

/** Packs k range [p0, p0+kc) and columns [j0, j0+nc) of B into NR-column panels: dst[(panel*kc + p)*NR + c]. */
function packB(b: MatrixOperand, p0: number, kc: number, j0: number, nc: number, dst: Float64Array): void {
  const { data, offset, rowStride, colStride } = b;
  let d = 0;
  for (let jp = 0; jp < nc; jp += NR) {
    const cols = Math.min(NR, nc - jp);
    let s = offset + p0 * rowStride + (j0 + jp) * colStride;
    if (cols === NR) {
      const c1 = colStride;
      const c2 = 2 * colStride;
      const c3 = 3 * colStride;
      for (let p = 0; p < kc; p++) {
        dst[d] = data[s];
        dst[d + 1] = data[s + c1];
        dst[d + 2] = data[s + c2];
        dst[d + 3] = data[s + c3];
        d += NR;
        s += rowStride;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        for (let c = 0; c < NR; c++) dst[d + c] = c < cols ? data[s + c * colStride] : 0;
        d += NR;
        s += rowStride;
      }
    }
  }
}

/**
 * C[0:rows, 0:cols] (+)= Apanel * Bpanel over kc steps; C row-major with leading dimension ldc.
 * `accumulate` adds to C instead of overwriting it.
 */
function microKernel(
  ap: Float64Array, aBase: number, bp: Float64Array, bBase: number, kc: number,
  c: Float64Array, cOff: number, ldc: number, rows: number, cols: number, accumulate: boolean,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  let ai = aBase;
  let bi = bBase;
  for (let p = 0; p < kc; p++) {
    const a0 = ap[ai], a1 = ap[ai + 1], a2 = ap[ai + 2], a3 = ap[ai + 3];
    const b0 = bp[bi], b1 = bp[bi + 1], b2 = bp[bi + 2], b3 = bp[bi + 3];
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
    ai += MR;
    bi += NR;
  }
  if (rows === MR && cols === NR) {
    let o = cOff;
    if (accumulate) {
      c[o] += c00; c[o + 1] += c01; c[o + 2] += c02; c[o + 3] += c03; o += ldc;
      c[o] += c10; c[o + 1] += c11; c[o + 2] += c12; c[o + 3] += c13; o += ldc;
      c[o] += c20; c[o + 1] += c21; c[o + 2] += c22; c[o + 3] += c23; o += ldc;
      c[o] += c30; c[o + 1] += c31; c[o + 2] += c32; c[o + 3] += c33;
    } else {
      c[o] = c00; c[o + 1] = c01; c[o + 2] = c02; c[o + 3] = c03; o += ldc;
      c[o] = c10; c[o + 1] = c11; c[o + 2] = c12; c[o + 3] = c13; o += ldc;
      c[o] = c20; c[o + 1] = c21; c[o + 2] = c22; c[o + 3] = c23; o += ldc;
      c[o] = c30; c[o + 1] = c31; c[o + 2] = c32; c[o + 3] = c33;
    }
    return;
  }
  // Edge tile: clip the store (runs once per tile, so a small loop is fine).
  const tile = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
  for (let r = 0; r < rows; r++) {
    for (let q = 0; q < cols; q++) {
      const o = cOff + r * ldc + q;
      c[o] = accumulate ? c[o] + tile[r * NR + q] : tile[r * NR + q];
    }
  }
}

/**
 * out[outOffset + i*n + j] = sum_p A[i, p] * B[p, j] for an m x k by k x n float product;
 * `out` is a contiguous row-major m x n block of a Float32Array or Float64Array.
 */
export function matmulFloat(
  a: MatrixOperand, b: MatrixOperand, m: number, n: number, k: number,
  out: Float32Array | Float64Array, outOffset: number, ws: MatmulWorkspace,
): void {
  if (m === 0 || n === 0) return;
  if (k === 0) {
    out.fill(0, outOffset, outOffset + m * n);
    return;
  }
  const mcMax = Math.min(MC, roundUp(m, MR));
  const ncMax = Math.min(NC, roundUp(n, NR));
  const kcMax = Math.min(KC, k);
  // The micro-kernel always stores into a float64 block (monomorphic typed-array access keeps V8's
  // inner loop fast; a float32 result is also rounded only once), copied out at the end.
  const needScratch = !(out instanceof Float64Array);
  ws.ensure(mcMax * kcMax, ncMax * kcMax, needScratch ? m * n : 0);
  const c: Float64Array = needScratch ? ws.accum : (out as Float64Array);
  const cBase = needScratch ? 0 : outOffset;
  const ap = ws.packedA;
  const bp = ws.packedB;
  for (let j0 = 0; j0 < n; j0 += NC) {
    const nc = Math.min(NC, n - j0);
    for (let p0 = 0; p0 < k; p0 += KC) {
      const kc = Math.min(KC, k - p0);
      const accumulate = p0 > 0;
      packB(b, p0, kc, j0, nc, bp);
      for (let i0 = 0; i0 < m; i0 += MC) {
        const mc = Math.min(MC, m - i0);
        packA(a, i0, mc, p0, kc, ap);
        for (let jp = 0; jp < nc; jp += NR) {
          const cols = Math.min(NR, nc - jp);
          const bBase = jp * kc;
          for (let ip = 0; ip < mc; ip += MR) {
            const rows = Math.min(MR, mc - ip);
            microKernel(ap, ip * kc, bp, bBase, kc, c, cBase + (i0 + ip) * n + j0 + jp, n, rows, cols, accumulate);
          }
        }
      }
    }
  }
  if (needScratch) {
    for (let i = 0; i < m * n; i++) out[outOffset + i] = c[i];
  }
}

/** Integer product with int32 wrap-around (a simple i-p-j loop; int32 matmul is rare and small). */
export function matmulInt32(
  a: MatrixOperand, b: MatrixOperand, m: number, n: number, k: number, out: Int32Array, outOffset: number,
): void {
  out.fill(0, outOffset, outOffset + m * n);
  for (let i = 0; i < m; i++) {
    const o = outOffset + i * n;
    for (let p = 0; p < k; p++) {
      const aip = a.data[a.offset + i * a.rowStride + p * a.colStride] | 0;
      if (aip === 0) continue;
      let s = b.offset + p * b.rowStride;
      for (let j = 0; j < n; j++) {
        out[o + j] = (out[o + j] + Math.imul(aip, b.data[s] | 0)) | 0;
        s += b.colStride;
      }
    }
  }
}

function roundUp(x: number, multiple: number): number {
  return Math.ceil(x / multiple) * multiple;
}
