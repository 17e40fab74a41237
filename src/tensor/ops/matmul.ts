/**
 * `matmul`: batched matrix product. `a` is [...batch, m, k], `b` is [...batch, k, n] with identical
 * batch shapes (the front end has broadcast them as stride-0 views); the result is [...batch, m, n].
 *
 * - CPU: each batch is one product of the packed, register-tiled reference kernel
 *   (`src/tensor/cpu/matmul.ts`, float64 accumulation) reading straight from the strided views;
 *   float32 products take the WebAssembly SIMD acceleration (`src/tensor/accel/wasm-matmul.ts`)
 *   unless CALM_CPU_MATMUL=js, a batch of them in one call.
 * - gpu.js: one thread per output cell, a dot product of length k over contiguous copies.
 *
 * Backward rule: `Tensor.matmul` in `src/autograd/tensor.ts` (dA = g Bᵀ, dB = Aᵀ g).
 */
import { cpuMatmulKernel, WasmMatmul } from '../accel/wasm-matmul.js';
import { cpuHeap } from '../accel/kernels.js';
import { allocTyped, type TypedArray } from '../dtype.js';
import { sizeOf } from '../shape.js';
import { MatmulWorkspace, matmulFloat, matmulInt32, type MatrixOperand } from '../cpu/matmul.js';
import { RowWalker } from '../cpu/strided.js';
import { floorDiv, floorMod, flatIndex } from './kernel-rules.js';
import type { CpuView, KernelThis, NoAttrs, OpEntry } from './types.js';

/** Packing buffers of the reference kernel, reused across products. */
const workspace = new MatmulWorkspace();
/** The float32 acceleration: undefined until the first float32 product, null when CALM_CPU_MATMUL=js. */
let accel: WasmMatmul | null | undefined;

function float32Accel(): WasmMatmul | null {
  // Over the CPU heap's memory when there is one, so that operands and results stored there are used in place.
  if (accel === undefined) accel = cpuMatmulKernel() === 'wasm' ? new WasmMatmul({ threads: matmulThreads, heap: cpuHeap() ?? undefined }) : null;
  return accel;
}

/** Thread count of the next acceleration instance (undefined: CALM_THREADS or the core count). */
let matmulThreads: number | undefined;

/**
 * Sets the number of threads float32 products use from now on (benchmarks compare 1 and 2 in one
 * process, switching back and forth; everything else reads CALM_THREADS once).
 */
export function setMatmulThreads(threads: number | undefined): void {
  if (accel !== undefined) byThreads.set(matmulThreads, accel);
  matmulThreads = threads;
  accel = byThreads.get(threads);
}

/** Instances made for other thread counts, kept so that switching back reuses their pools. */
const byThreads = new Map<number | undefined, WasmMatmul | null>();

/** Batch `i`'s matrix of a [...batch, rows, cols] view, starting at `offset`. */
function operand(x: CpuView, offset: number): MatrixOperand {
  const r = x.shape.length;
  return { data: x.data, offset, rowStride: x.strides[r - 2], colStride: x.strides[r - 1] };
}

/** out[batch, i, j] = sum_p a[batch, i, p] * b[batch, p, j] over a contiguous [B, M, K] and [B, K, N]. */
const matmulKernel = function (this: KernelThis, a: Float32Array, b: Float32Array): number {
  const m = this.constants.m;
  const n = this.constants.n;
  const k = this.constants.k;
  const flat = flatIndex(); // (batch * m + i) * n + col
  const row = floorDiv(flat, n);
  const col = floorMod(flat, n);
  const batch = floorDiv(row, m);
  const i = floorMod(row, m);
  const aBase = (batch * m + i) * k;
  const bBase = batch * k * n + col;
  let acc = 0;
  for (let p = 0; p < this.constants.k; p++) {
    acc = acc + a[aBase + p] * b[bBase + p * n];
  }
  return acc;
};

/**
 * The CPU matmul of the entry: every output element written (the result may come uninitialised from
 * `alloc`: the CPU accelerations pass one that returns a heap block, see accel/index.ts).
 */
export function matmulCpu([a, b]: readonly CpuView[], alloc: (dtype: CpuView['dtype'], size: number) => TypedArray): TypedArray {
  const rank = a.shape.length;
  const m = a.shape[rank - 2];
  const k = a.shape[rank - 1];
  const n = b.shape[rank - 1];
  const batchShape = a.shape.slice(0, rank - 2);
  const batch = sizeOf(batchShape);
  const out = alloc(a.dtype, batch * m * n);
  if (batch === 0 || m === 0 || n === 0) return out;
  // One odometer over the batch axes gives each batch's start offset in a and in b.
  const walker = new RowWalker(
    [...batchShape, 1],
    [[...a.strides.slice(0, rank - 2), 0], [...b.strides.slice(0, rank - 2), 0]],
    [a.offset, b.offset],
  );
  const items = Array.from({ length: batch }, (_, i) => {
    const item = { a: operand(a, walker.pos[0]), b: operand(b, walker.pos[1]), outOffset: i * m * n };
    walker.next();
    return item;
  });
  const fast = out instanceof Float32Array ? float32Accel() : null;
  // All products in one call of the acceleration, unless together they are too big for its
  // memory: then one at a time, each declined one by the reference kernel.
  if (fast !== null && batch > 1 && fast.matmulBatch(items, m, n, k, out as Float32Array)) return out;
  for (const { a: am, b: bm, outOffset } of items) {
    if (out instanceof Int32Array) matmulInt32(am, bm, m, n, k, out, outOffset);
    else if (fast === null || !fast.matmul(am, bm, m, n, k, out as Float32Array, outOffset)) {
      matmulFloat(am, bm, m, n, k, out, outOffset, workspace);
    }
  }
  return out;
}

export const matmul: OpEntry<NoAttrs> & { readonly kernel: typeof matmulKernel } = {
  outShape: ([a, b]) => [...a.slice(0, -1), b[b.length - 1]],
  outDType: ([dtype]) => dtype,
  kernel: matmulKernel,

  cpu(inputs) {
    return matmulCpu(inputs, allocTyped);
  },

  async gpujs(gpu, [a, b]) {
    const r = a.shape.length;
    const m = a.shape[r - 2];
    const k = a.shape[r - 1];
    const n = b.shape[r - 1];
    const batch = sizeOf(a.shape.slice(0, r - 2));
    gpu.checkExact('matmul', a.shape);
    gpu.checkExact('matmul', b.shape);
    gpu.checkExact('matmul', [batch, m, n]);
    if (batch * m * n === 0) return new Float32Array(0);
    if (k === 0) return gpu.fill(batch * m * n, 0);
    const ca = await gpu.contiguous('matmul', a);
    try {
      const cb = await gpu.contiguous('matmul', b);
      try {
        return await gpu.launch(matmulKernel, batch * m * n, [ca, cb], { constants: { m, n, k }, longestLoop: k, key: `${batch}` });
      } finally {
        gpu.release(cb);
      }
    } finally {
      gpu.release(ca);
    }
  },
};
