/**
 * The thread pool (src/tensor/accel/pool.ts) never changes a result: matmuls split over 1, 2 or 3
 * threads are bit-identical, and a short training run gives the same bits with CALM_THREADS=1 and 2.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { PARALLEL_MIN_MACS, WasmMatmul } from '../src/tensor/accel/wasm-matmul.js';
import { threadCount } from '../src/tensor/accel/pool.js';
import { Rng } from '../src/tensor/random.js';

describe('thread pool', () => {
  test('CALM_THREADS is read and checked', () => {
    assert.equal(threadCount('3'), 3);
    assert.ok(threadCount(undefined) >= 1);
    assert.throws(() => threadCount('0'), /CALM_THREADS/);
    assert.throws(() => threadCount('two'), /CALM_THREADS/);
  });

  test('matmul split over 1, 2 and 3 threads: bit-identical', () => {
    const kernels = [1, 2, 3].map((threads) => new WasmMatmul({ threads }));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 120 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 1e6 }), fc.boolean(), (m, n, k, seed, transposed) => {
        const rng = new Rng(seed);
        const a = Float32Array.from({ length: m * k }, () => rng.normal());
        const b = Float32Array.from({ length: k * n }, () => rng.normal());
        // A as stored transposed (column-major) exercises the strided packing of each range.
        const aOp = transposed ? { data: a, offset: 0, rowStride: 1, colStride: m } : { data: a, offset: 0, rowStride: k, colStride: 1 };
        const outs = kernels.map((w) => {
          const out = new Float32Array(m * n).fill(Number.NaN);
          assert.ok(w.matmul(aOp, { data: b, offset: 0, rowStride: n, colStride: 1 }, m, n, k, out, 0));
          return out;
        });
        assert.deepEqual(outs[1], outs[0]);
        assert.deepEqual(outs[2], outs[0]);
      }),
      { numRuns: 40 },
    );
    assert.ok(400 * 120 * 100 >= PARALLEL_MIN_MACS, 'the sizes above reach the parallel path');
  });

  test('a short training run is bit-identical with CALM_THREADS=1 and 2', () => {
    const script = fileURLToPath(new URL('./support/train-hash.js', import.meta.url));
    const digests = ['1', '2'].map((threads) => {
      const r = spawnSync(process.execPath, [script], { env: { ...process.env, CALM_THREADS: threads }, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    });
    assert.match(digests[0], /^[0-9a-f]{64}$/);
    assert.equal(digests[1], digests[0]);
  });
});
