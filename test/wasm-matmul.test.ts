/**
 * The WebAssembly SIMD float32 matmul (src/tensor/accel/wasm-matmul.ts), an optional acceleration
 * of the `matmul` entry of the op table, against naive float64 loops and against the entry's
 * reference kernel (src/tensor/cpu/matmul.ts).
 *
 * Small-integer inputs make every float32 product and partial sum exact, so those checks demand
 * bit equality and catch any packing/indexing/edge-tile slip; normal inputs check the rounding
 * error against the closed-form bound of blocked summation.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { View } from '../src/tensor/backend.js';
import { CpuBackend } from '../src/tensor/cpu/backend.js';
import { matmulFloat, MatmulWorkspace, type MatrixOperand } from '../src/tensor/cpu/matmul.js';
import { cpuMatmulKernel, emitGemmModule, panelCopyJobs, rowBlocks, WASM_GEMM_TILE, WasmMatmul, wasmSimdAvailable } from '../src/tensor/accel/wasm-matmul.js';
import { Rng } from '../src/tensor/random.js';
import { WasmElementwise } from '../src/tensor/accel/wasm-elementwise.js';
import type { Float32Heap } from '../src/tensor/accel/heap.js';

const wasmApi = (globalThis as unknown as { WebAssembly: { validate(bytes: Uint8Array): boolean } }).WebAssembly;
const U = 2 ** -24; // float32 unit roundoff

/** A strided float32 operand of logical shape rows x cols, values from `gen`, with padding around it. */
function operand(rows: number, cols: number, rng: Rng, gen: (r: Rng) => number, layout: 'row' | 'col' | 'strided'): MatrixOperand {
  const offset = layout === 'strided' ? 3 : 0;
  const rowStride = layout === 'row' ? cols : layout === 'col' ? 1 : 2 * cols + 1;
  const colStride = layout === 'row' ? 1 : layout === 'col' ? rows : 2;
  const size = offset + Math.max(0, rows - 1) * rowStride + Math.max(0, cols - 1) * colStride + 1 + 5;
  const data = new Float32Array(size).fill(Number.NaN); // padding must never be read
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) data[offset + i * rowStride + j * colStride] = gen(rng);
  return { data, offset, rowStride, colStride };
}

const at = (x: MatrixOperand, i: number, j: number): number => x.data[x.offset + i * x.rowStride + j * x.colStride];

/** Naive float64 product plus sum |a||b| per entry (for the error bound). */
function naive(a: MatrixOperand, b: MatrixOperand, m: number, n: number, k: number): { c: Float64Array; abs: Float64Array } {
  const c = new Float64Array(m * n);
  const abs = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0, t = 0;
    for (let p = 0; p < k; p++) {
      const v = at(a, i, p) * at(b, p, j);
      s += v;
      t += Math.abs(v);
    }
    c[i * n + j] = s;
    abs[i * n + j] = t;
  }
  return { c, abs };
}

const smallInt = (r: Rng): number => r.int(7) - 3;
const normal = (r: Rng): number => r.normal();

describe('wasm matmul: module', () => {
  test('SIMD is available on Node 20 and the emitted modules validate', () => {
    assert.ok(wasmSimdAvailable());
    assert.ok(wasmApi.validate(emitGemmModule()));
    for (const tile of [{ mr: 1, nr: 4, kc: 1 }, { mr: 2, nr: 16, kc: 64 }, { mr: 6, nr: 8, kc: 300 }]) {
      assert.ok(wasmApi.validate(emitGemmModule(tile)), JSON.stringify(tile));
    }
    assert.throws(() => emitGemmModule({ mr: 4, nr: 6, kc: 32 }), /emitGemmModule: bad tile mr=4 nr=6/);
  });

  test('CALM_CPU_MATMUL parsing', () => {
    assert.equal(cpuMatmulKernel('js'), 'js');
    assert.equal(cpuMatmulKernel('wasm'), 'wasm');
    assert.equal(cpuMatmulKernel(''), 'wasm');
    assert.throws(() => cpuMatmulKernel('blas'), /CALM_CPU_MATMUL: expected 'js' or 'wasm', got 'blas'/);
  });
});

describe('wasm matmul: against naive float64 loops', () => {
  const sizes = [1, 3, 4, 5, 7, 8, 9, 17, 33, 65, 129];

  test('odd sizes, exact on small integers, row-major / transposed / strided operands', () => {
    const w = new WasmMatmul();
    const rng = new Rng(1);
    const layouts = ['row', 'col', 'strided'] as const;
    let t = 0;
    for (const m of sizes) for (const k of sizes) for (const n of sizes) {
      const a = operand(m, k, rng, smallInt, layouts[t % 3]);
      const b = operand(k, n, rng, smallInt, layouts[Math.floor(t / 3) % 3]);
      t++;
      const out = new Float32Array(m * n + 4).fill(Number.NaN);
      assert.ok(w.matmul(a, b, m, n, k, out, 2));
      const { c } = naive(a, b, m, n, k);
      for (let i = 0; i < m * n; i++) {
        if (out[2 + i] !== c[i]) assert.fail(`${m}x${k}x${n} [${i}]: ${out[2 + i]} vs ${c[i]}`);
      }
      assert.ok(Number.isNaN(out[0]) && Number.isNaN(out[1]) && Number.isNaN(out[m * n + 2]), 'wrote outside its block');
    }
  });

  test('normal inputs stay within the blocked-summation error bound', () => {
    // Within a k block of L <= kc terms float32 summation errs by <= L·u·sum|ab| (products rounded
    // once, first add exact); blocks are added in float64; the result is rounded once more (u|c|).
    for (const kc of [WASM_GEMM_TILE.kc, 1, 7]) {
      const w = new WasmMatmul({ kc, mb: 3 });
      const rng = new Rng(2 + kc);
      for (const [m, k, n] of [[5, 129, 9], [33, 300, 17], [65, 65, 65], [7, 1000, 8]]) {
        const a = operand(m, k, rng, normal, 'row');
        const b = operand(k, n, rng, normal, 'col');
        const out = new Float32Array(m * n);
        w.matmul(a, b, m, n, k, out, 0);
        const { c, abs } = naive(a, b, m, n, k);
        const terms = Math.min(k, kc);
        for (let i = 0; i < m * n; i++) {
          const bound = 1.001 * ((terms + 1) * U * abs[i] + U * Math.abs(c[i])) + 1e-30;
          const err = Math.abs(out[i] - c[i]);
          if (!(err <= bound)) assert.fail(`kc=${kc} ${m}x${k}x${n} [${i}]: ${out[i]} vs ${c[i]} (err ${err} > ${bound})`);
        }
      }
    }
  });

  test('k = 0 gives zeros; m = 0 or n = 0 writes nothing', () => {
    const w = new WasmMatmul();
    const rng = new Rng(3);
    const out = new Float32Array(12).fill(Number.NaN);
    assert.ok(w.matmul(operand(3, 0, rng, smallInt, 'row'), operand(0, 4, rng, smallInt, 'row'), 3, 4, 0, out, 0));
    assert.deepEqual(Array.from(out), new Array<number>(12).fill(0));
    const untouched = new Float32Array(3).fill(7);
    w.matmul(operand(0, 5, rng, smallInt, 'row'), operand(5, 3, rng, smallInt, 'row'), 0, 3, 5, untouched, 0);
    w.matmul(operand(3, 5, rng, smallInt, 'row'), operand(5, 0, rng, smallInt, 'row'), 3, 0, 5, untouched, 0);
    assert.deepEqual(Array.from(untouched), [7, 7, 7]);
  });

  test('memory grows for a big product after small ones and stays correct after', () => {
    const w = new WasmMatmul();
    const rng = new Rng(4);
    for (const [m, k, n] of [[3, 3, 3], [300, 257, 301], [9, 2, 5]]) {
      const a = operand(m, k, rng, smallInt, 'row');
      const b = operand(k, n, rng, smallInt, 'row');
      const out = new Float32Array(m * n);
      w.matmul(a, b, m, n, k, out, 0);
      assert.deepEqual(Array.from(out), Array.from(naive(a, b, m, n, k).c), `${m}x${k}x${n}`);
    }
  });

  test('random shapes and layouts (property): the acceleration and the reference kernel agree exactly on integers', () => {
    const wasm = new WasmMatmul();
    const ws = new MatmulWorkspace();
    const layout = fc.constantFrom('row' as const, 'col' as const, 'strided' as const);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 70 }), fc.integer({ min: 1, max: 40 }), layout, layout, fc.integer({ min: 0, max: 1 << 30 }),
        (m, k, n, la, lb, seed) => {
          const rng = new Rng(seed);
          const a = operand(m, k, rng, smallInt, la);
          const b = operand(k, n, rng, smallInt, lb);
          const viaWasm = new Float32Array(m * n);
          const viaJs = new Float32Array(m * n);
          assert.equal(wasm.matmul(a, b, m, n, k, viaWasm, 0), true);
          matmulFloat(a, b, m, n, k, viaJs, 0, ws);
          assert.deepEqual(Array.from(viaWasm), Array.from(naive(a, b, m, n, k).c));
          assert.deepEqual(Array.from(viaJs), Array.from(viaWasm));
        }),
      { seed: 42, numRuns: 150 },
    );
  });
});

/**
 * The kernel's arithmetic as a JS model: per entry, float32 products summed in float32 in k order
 * within blocks of kc, the blocks' sums added in float64, rounded to float32 once (a single block:
 * its float32 sum).
 */
function blockedModel(a: MatrixOperand, b: MatrixOperand, m: number, n: number, k: number, kc: number): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let total = 0;
    for (let p0 = 0; p0 < k; p0 += kc) {
      let block = 0;
      for (let p = p0; p < Math.min(k, p0 + kc); p++) block = Math.fround(block + Math.fround(at(a, i, p) * at(b, p, j)));
      total += block;
    }
    out[i * n + j] = total;
  }
  return out;
}

describe('wasm matmul: bit for bit the blocked summation', () => {
  test('row blocks cover the panels once, at most the cache block, shrinking at the end with threads', () => {
    for (const [panels, cache, parts] of [[128, 16, 2], [256, 64, 2], [7, 64, 3], [1, 1, 2], [300, 8, 1]]) {
      const starts = rowBlocks(panels, cache, parts);
      assert.equal(starts[0], 0);
      assert.equal(starts[starts.length - 1], panels);
      const sizes = starts.slice(1).map((s, i) => s - starts[i]);
      assert.ok(sizes.every((x) => x >= 1 && x <= cache), `${panels}/${cache}/${parts}: ${sizes}`);
      if (parts > 1) assert.ok(sizes.every((x, i) => i === 0 || x <= sizes[i - 1]), `not shrinking: ${sizes}`);
    }
    assert.deepEqual(rowBlocks(128, 16, 2), [0, 16, 32, 48, 64, 80, 92, 101, 108, 113, 117, 120, 122, 124, 126, 128]);
  });

  test('panel copies split over threads cover every panel once, in order, at the addresses of one copy', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 64 }), fc.constantFrom(4, 8), fc.integer({ min: 1, max: 8 }), (panels, k, width, parts) => {
        const jobs = panelCopyJobs(1000, 4 * 77, 5000, panels, k, width, parts);
        assert.ok(jobs.length >= 1 && jobs.length <= parts);
        let first = 0;
        for (const [src, step, dst, count, kk] of jobs) {
          assert.equal(src, 1000 + 4 * width * first);
          assert.equal(dst, 5000 + 4 * width * k * first);
          assert.deepEqual([step, kk], [4 * 77, k]);
          assert.ok(count >= 1);
          first += count;
        }
        assert.equal(first, panels);
      }),
    );
  });

  test('random shapes, layouts, thread counts and row-block sizes (property): every bit of the JS model, -0 included', () => {
    // The row blocks threads claim, and their sizes, must never change a bit (each tile sums the
    // same k blocks in the same order wherever it runs).
    const kernels = [new WasmMatmul({ threads: 1 }), new WasmMatmul({ threads: 2 }), new WasmMatmul({ threads: 2, mb: 1 }), new WasmMatmul({ threads: 3, mb: 5 })];
    const layout = fc.constantFrom('row' as const, 'col' as const, 'strided' as const);
    const size = fc.integer({ min: 1, max: 200 });
    fc.assert(
      fc.property(size, fc.integer({ min: 0, max: 150 }), size, layout, layout, fc.integer({ min: 0, max: 1 << 30 }), fc.integer({ min: 0, max: kernels.length - 1 }),
        (m, k, n, la, lb, seed, which) => {
          const rng = new Rng(seed);
          // Some exact zeros of either sign, so a -0 result (every product -0) can occur.
          const gen = (r: Rng): number => (r.int(8) === 0 ? (r.int(2) === 0 ? 0 : -0) : r.normal());
          const a = operand(m, k, rng, gen, la);
          const b = operand(k, n, rng, gen, lb);
          const out = new Float32Array(m * n).fill(Number.NaN);
          assert.ok(kernels[which].matmul(a, b, m, n, k, out, 0));
          const want = blockedModel(a, b, m, n, k, WASM_GEMM_TILE.kc);
          const got = new Uint32Array(out.buffer);
          const bits = new Uint32Array(want.buffer);
          for (let i = 0; i < m * n; i++) {
            if (got[i] !== bits[i]) assert.fail(`${m}x${k}x${n} ${la}/${lb} kernel ${which} [${i}]: ${out[i]} vs ${want[i]}`);
          }
        }),
      { seed: 7, numRuns: 120 },
    );
    // Large enough for the threads (PARALLEL_MIN_MACS) with many row blocks, k over several kc blocks.
    const rng = new Rng(8);
    for (const [m, k, n] of [[300, 100, 200], [1024, 128, 40]]) {
      const a = operand(m, k, rng, normal, 'row');
      const b = operand(k, n, rng, normal, 'col');
      const want = new Uint32Array(blockedModel(a, b, m, n, k, WASM_GEMM_TILE.kc).buffer);
      for (const w of kernels) {
        const out = new Float32Array(m * n);
        w.matmul(a, b, m, n, k, out, 0);
        assert.deepEqual(new Uint32Array(out.buffer), want, `${m}x${k}x${n} threads ${w.threads}`);
      }
    }
  });
});

describe('wasm matmul: batches', () => {
  test('random batches (property): each product every bit of the JS model, with pools of 1-3 threads', () => {
    const kernels = [new WasmMatmul({ threads: 1 }), new WasmMatmul({ threads: 2 }), new WasmMatmul({ threads: 3 })];
    const layout = fc.constantFrom('row' as const, 'col' as const, 'strided' as const);
    const size = fc.integer({ min: 1, max: 40 });
    fc.assert(
      // batch x m x k x n reaches PARALLEL_MIN_MACS (items shared out) for the larger draws.
      fc.property(fc.integer({ min: 2, max: 160 }), size, fc.integer({ min: 0, max: 80 }), size, layout, layout, fc.integer({ min: 0, max: 1 << 30 }), fc.integer({ min: 0, max: 2 }),
        (batch, m, k, n, la, lb, seed, which) => {
          const rng = new Rng(seed);
          const items = Array.from({ length: batch }, (_, i) => ({ a: operand(m, k, rng, normal, la), b: operand(k, n, rng, normal, lb), outOffset: 1 + i * m * n }));
          const out = new Float32Array(batch * m * n + 2).fill(Number.NaN);
          assert.ok(kernels[which].matmulBatch(items, m, n, k, out));
          assert.ok(Number.isNaN(out[0]) && Number.isNaN(out[batch * m * n + 1]), 'wrote outside its block');
          items.forEach(({ a, b }, i) => {
            const want = new Uint32Array(blockedModel(a, b, m, n, k, WASM_GEMM_TILE.kc).buffer);
            assert.deepEqual(new Uint32Array(out.buffer, 4 * (1 + i * m * n), m * n), want, `item ${i} of ${batch}, ${m}x${k}x${n}`);
          });
        }),
      { seed: 9, numRuns: 60 },
    );
  });

  test('a batch too big for one run goes in parts; large products one at a time; the same bits as one by one', () => {
    const w = new WasmMatmul({ threads: 2 });
    const rng = new Rng(10);
    for (const [batch, m, k, n] of [[700, 64, 64, 64], [3, 200, 150, 160]]) {
      const items = Array.from({ length: batch }, (_, i) => ({ a: operand(m, k, rng, normal, 'row'), b: operand(k, n, rng, normal, 'col'), outOffset: i * m * n }));
      const together = new Float32Array(batch * m * n);
      const alone = new Float32Array(batch * m * n);
      assert.ok(w.matmulBatch(items, m, n, k, together));
      for (const { a, b, outOffset } of items) assert.ok(w.matmul(a, b, m, n, k, alone, outOffset));
      assert.deepEqual(new Uint32Array(together.buffer), new Uint32Array(alone.buffer), `${batch} x ${m}x${k}x${n}`);
    }
  });
});

describe('wasm matmul: over the CPU heap', () => {
  /** A copy of `x` in a heap block, `shift` floats into it (so a window when shift > 0), NaN around it. */
  function inHeap(heap: Float32Heap, x: MatrixOperand, shift: number): MatrixOperand {
    const block = heap.storage(x.data.length + shift + 3);
    assert.ok(block !== null, 'heap budget');
    block.fill(Number.NaN).set(x.data, shift);
    return { ...x, data: block, offset: x.offset + shift };
  }

  test('random shapes, layouts, heap or ordinary operands and results (property): every bit of the JS model, nothing written outside the result', () => {
    const heap = new WasmElementwise({ threads: 1, heapBudgetBytes: 256 << 20 }).heap;
    const kernels = [new WasmMatmul({ threads: 1, heap }), new WasmMatmul({ threads: 2, heap }), new WasmMatmul({ threads: 2, heap, mb: 1 })];
    const layout = fc.constantFrom('row' as const, 'col' as const, 'strided' as const);
    // Whole tiles (m a multiple of 4, n of 8) are what is used in place; other sizes are staged.
    const dim = (tile: number): fc.Arbitrary<number> => fc.oneof(fc.integer({ min: 1, max: 30 }).map((x) => x * tile), fc.integer({ min: 1, max: 130 }));
    fc.assert(
      fc.property(dim(4), fc.integer({ min: 1, max: 150 }), dim(8), layout, layout, fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 1 << 30 }), fc.integer({ min: 0, max: kernels.length - 1 }),
        (m, k, n, la, lb, where, seed, which) => {
          const rng = new Rng(seed);
          const plainA = operand(m, k, rng, normal, la);
          const plainB = operand(k, n, rng, normal, lb);
          const [aHeap, bHeap, cHeap] = [(where & 1) !== 0, (where & 2) !== 0, (where & 4) !== 0];
          const usage = heap.usage();
          const a = aHeap ? inHeap(heap, plainA, seed % 3) : plainA;
          const b = bHeap ? inHeap(heap, plainB, seed % 5) : plainB;
          const out = cHeap ? heap.storage(m * n + 2)! : new Float32Array(m * n + 2);
          out.fill(Number.NaN);
          assert.ok(kernels[which].matmul(a, b, m, n, k, out, 1));
          assert.ok(Number.isNaN(out[0]) && Number.isNaN(out[m * n + 1]), 'wrote outside its result');
          const want = new Uint32Array(blockedModel(plainA, plainB, m, n, k, WASM_GEMM_TILE.kc).buffer);
          const got = new Uint32Array(out.buffer, out.byteOffset + 4, m * n);
          for (let i = 0; i < m * n; i++) {
            if (got[i] !== want[i]) assert.fail(`${m}x${k}x${n} ${la}/${lb} heap a ${aHeap} b ${bHeap} c ${cHeap}, kernel ${which} [${i}]`);
          }
          for (const x of [a.data, b.data, out]) if (heap.owns(x as Float32Array)) heap.release(x as Float32Array);
          // The call's staging block went back: the heap is as it was.
          assert.deepEqual([heap.usage().storageBytes, heap.usage().topBytes], [usage.storageBytes, usage.topBytes]);
        }),
      { seed: 11, numRuns: 150 },
    );
  });

  test('batches of heap operands (read in place by the packers, property): every product every bit of the JS model', () => {
    const heap = new WasmElementwise({ threads: 1, heapBudgetBytes: 256 << 20 }).heap;
    const kernels = [new WasmMatmul({ threads: 1, heap }), new WasmMatmul({ threads: 2, heap })];
    const layout = fc.constantFrom('row' as const, 'col' as const);
    const dim = (tile: number): fc.Arbitrary<number> => fc.oneof(fc.integer({ min: 1, max: 8 }).map((x) => x * tile), fc.integer({ min: 1, max: 40 }));
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), dim(4), fc.integer({ min: 1, max: 70 }), dim(8), layout, layout, fc.integer({ min: 0, max: 1 << 30 }), fc.integer({ min: 0, max: 1 }),
        (batch, m, k, n, la, lb, seed, which) => {
          const rng = new Rng(seed);
          const usage = heap.usage();
          // One heap block per operand holding every item's matrix back to back (as a batched view's items are), after a shift.
          const shared = (rows: number, cols: number, lay: 'row' | 'col', shift: number): { block: Float32Array; items: MatrixOperand[]; plain: MatrixOperand[] } => {
            const plain = Array.from({ length: batch }, () => operand(rows, cols, rng, normal, lay));
            const size = rows * cols;
            const block = heap.storage(shift + batch * size + 3)!;
            block.fill(Number.NaN);
            plain.forEach((x, i) => block.set(x.data.subarray(x.offset, x.offset + size), shift + i * size));
            const items = plain.map((x, i) => ({ ...x, data: block, offset: shift + i * size }));
            return { block, items, plain };
          };
          const A = shared(m, k, la, seed % 3);
          const B = shared(k, n, lb, seed % 5);
          const out = new Float32Array(batch * m * n + 2).fill(Number.NaN);
          assert.ok(kernels[which].matmulBatch(A.items.map((a, i) => ({ a, b: B.items[i], outOffset: 1 + i * m * n })), m, n, k, out));
          assert.ok(Number.isNaN(out[0]) && Number.isNaN(out[batch * m * n + 1]), 'wrote outside its result');
          for (let i = 0; i < batch; i++) {
            const want = new Uint32Array(blockedModel(A.plain[i], B.plain[i], m, n, k, WASM_GEMM_TILE.kc).buffer);
            const got = new Uint32Array(out.buffer, 4 * (1 + i * m * n), m * n);
            for (let j = 0; j < m * n; j++) if (got[j] !== want[j]) assert.fail(`item ${i} of ${batch}, ${m}x${k}x${n} ${la}/${lb}, kernel ${which} [${j}]`);
          }
          heap.release(A.block);
          heap.release(B.block);
          assert.deepEqual([heap.usage().storageBytes, heap.usage().topBytes], [usage.storageBytes, usage.topBytes]);
        }),
      { seed: 13, numRuns: 120 },
    );
  });

  test('batches over the heap (staged at the scratch block\'s address): the same bits as without it', () => {
    const heap = new WasmElementwise({ threads: 1 }).heap;
    const over = new WasmMatmul({ threads: 2, heap });
    const own = new WasmMatmul({ threads: 2 });
    const rng = new Rng(12);
    // Occupy the start of the memory, so that the staging block does not begin at address 0.
    const pad = heap.storage(1000);
    for (const [batch, m, k, n] of [[5, 8, 16, 8], [64, 16, 40, 12], [3, 200, 150, 160]]) {
      const items = Array.from({ length: batch }, (_, i) => ({ a: inHeap(heap, operand(m, k, rng, normal, 'row'), 1), b: operand(k, n, rng, normal, 'col'), outOffset: i * m * n }));
      const there = new Float32Array(batch * m * n);
      const here = new Float32Array(batch * m * n);
      assert.ok(over.matmulBatch(items, m, n, k, there));
      assert.ok(own.matmulBatch(items, m, n, k, here));
      assert.deepEqual(new Uint32Array(there.buffer), new Uint32Array(here.buffer), `${batch} x ${m}x${k}x${n}`);
    }
    heap.release(pad!);
  });
});

describe('wasm matmul: through the CPU backend', () => {
  test('float32 batches with stride-0 (broadcast) batch dims are exact on integers', () => {
    assert.equal(cpuMatmulKernel(), process.env.CALM_CPU_MATMUL === 'js' ? 'js' : 'wasm');
    const be = new CpuBackend();
    const rng = new Rng(5);
    const [bt, m, k, n] = [3, 9, 13, 10];
    // A: [3, 9, 13] contiguous; B: one [13, 10] matrix broadcast over the batch (stride 0).
    const aData = Float32Array.from({ length: bt * m * k }, () => smallInt(rng));
    const bData = Float32Array.from({ length: k * n }, () => smallInt(rng));
    const a: View = { buffer: be.upload(aData), shape: [bt, m, k], strides: [m * k, k, 1], offset: 0 };
    const b: View = { buffer: be.upload(bData), shape: [bt, k, n], strides: [0, n, 1], offset: 0 };
    const out = be.read({ buffer: be.run('matmul', [a, b], {}), shape: [bt, m, n], strides: [m * n, n, 1], offset: 0 });
    const bOp: MatrixOperand = { data: bData, offset: 0, rowStride: n, colStride: 1 };
    for (let t = 0; t < bt; t++) {
      const ref = naive({ data: aData, offset: t * m * k, rowStride: k, colStride: 1 }, bOp, m, n, k).c;
      assert.deepEqual(Array.from(out.subarray(t * m * n, (t + 1) * m * n)), Array.from(ref), `batch ${t}`);
    }
    // A broadcast instead, B transposed per batch.
    const a2: View = { buffer: be.upload(aData), shape: [bt, m, k], strides: [0, k, 1], offset: 0 };
    const b2Data = Float32Array.from({ length: bt * k * n }, () => smallInt(rng));
    const b2: View = { buffer: be.upload(b2Data), shape: [bt, k, n], strides: [k * n, 1, k], offset: 0 };
    const out2 = be.read({ buffer: be.run('matmul', [a2, b2], {}), shape: [bt, m, n], strides: [m * n, n, 1], offset: 0 });
    for (let t = 0; t < bt; t++) {
      const ref = naive({ data: aData, offset: 0, rowStride: k, colStride: 1 }, { data: b2Data, offset: t * k * n, rowStride: 1, colStride: k }, m, n, k).c;
      assert.deepEqual(Array.from(out2.subarray(t * m * n, (t + 1) * m * n)), Array.from(ref), `broadcast A, batch ${t}`);
    }
  });
});
