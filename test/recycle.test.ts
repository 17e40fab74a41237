/**
 * Reuse of released CPU storage (src/tensor/recycle.ts, cpu/backend.ts): what comes back and when,
 * and that training with reuse on gives the same bits as with it off; and the C allocator's reuse of
 * large freed blocks (cpu/malloc-prime.ts).
 */
import { test, describe, afterEach, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { calmStepRunner } from '../bench/calm-step.js';
import { trainingDigest, transformerRunDigest } from './support/training-bits.js';
import { allocTyped } from '../src/tensor/dtype.js';
import { setCpuHeapBudget } from '../src/tensor/accel/index.js';
import { memoryScope } from '../src/tensor/memory.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';
import { clearRecycled, offerRecycled, RECYCLE_MAX_BYTES, RECYCLE_MIN_ELEMENTS, recycledBytes, recyclingSetting, setRecycling, takeRecycled } from '../src/tensor/recycle.js';

const N = RECYCLE_MIN_ELEMENTS; // the smallest size that is kept

function filled(n: number, value: number): NDArray {
  return NDArray.fromData(new Float32Array(n).fill(value), [n]);
}

describe('recycling released CPU storage', () => {
  // Reuse is for ordinary memory; large float32 buffers would otherwise live in the kernels' heap
  // (test/heap.test.ts), so it is kept empty here.
  let heapBudget = 0;
  before(() => {
    heapBudget = setCpuHeapBudget(0);
  });
  after(() => {
    setCpuHeapBudget(heapBudget);
  });
  afterEach(() => {
    setRecycling(true);
    clearRecycled();
  });

  test('CALM_CPU_RECYCLE is read and checked', () => {
    assert.equal(recyclingSetting(undefined), true);
    assert.equal(recyclingSetting('on'), true);
    assert.equal(recyclingSetting('off'), false);
    assert.throws(() => recyclingSetting('no'), /CALM_CPU_RECYCLE: expected 'on' or 'off', got 'no'/);
  });

  test('a kept array comes back zero-filled, for its dtype and length only', () => {
    clearRecycled();
    const a = new Float32Array(N).fill(7);
    assert.equal(offerRecycled('float32', a), true);
    assert.equal(recycledBytes(), 4 * N);
    assert.equal(takeRecycled('float32', N + 1), undefined);
    assert.equal(takeRecycled('float64', N), undefined);
    const back = takeRecycled('float32', N);
    assert.equal(back, a);
    assert.ok(back!.every((v) => v === 0), 'zero-filled');
    assert.equal(recycledBytes(), 0);
    assert.equal(takeRecycled('float32', N), undefined, 'each array comes back once');
  });

  test('small arrays, offers past the byte bound, and everything while off are not kept', () => {
    clearRecycled();
    assert.equal(offerRecycled('float32', new Float32Array(N - 1)), false);
    assert.equal(offerRecycled('float64', new Float64Array(RECYCLE_MAX_BYTES / 8 + 1)), false);
    setRecycling(false);
    assert.equal(offerRecycled('float32', new Float32Array(N)), false);
    assert.equal(recycledBytes(), 0);
  });

  test('a disposed op result is reused by the next allocation of its size', () => {
    clearRecycled();
    const x = filled(N, 1);
    const y = x.add(x); // a fresh result that only y wraps
    y.dispose();
    assert.equal(recycledBytes(), 4 * N);
    const z = allocTyped('float32', N);
    assert.equal(recycledBytes(), 0);
    assert.ok(z.every((v) => v === 0));
    assert.deepEqual(Array.from(x.toTypedArray().subarray(0, 3)), [1, 1, 1], 'the input is untouched');
  });

  test('storage shared by views comes back only when the last view is disposed', () => {
    clearRecycled();
    const y = filled(N, 1).add(filled(N, 2));
    const view = y.reshape([N / 4, 4]);
    y.dispose();
    assert.equal(recycledBytes(), 0, 'the reshaped view still holds the storage');
    assert.equal(view.toTypedArray()[0], 3);
    view.dispose();
    assert.equal(recycledBytes(), 4 * N);
  });

  test('storage handed out by hostElements never comes back', () => {
    clearRecycled();
    const y = filled(N, 1).add(filled(N, 2));
    const window = y.hostElements()!;
    y.dispose();
    assert.equal(recycledBytes(), 0);
    allocTyped('float32', N).fill(9);
    assert.equal(window[0], 3, 'the caller\'s window is not overwritten');
  });

  test('arrays disposed by a memory scope come back for the next step', () => {
    clearRecycled();
    const x = filled(N, 1);
    memoryScope(() => void x.add(x).mul(x));
    assert.ok(recycledBytes() >= 4 * N, `kept ${recycledBytes()} bytes`);
  });

  test('Transformer training steps in memory scopes: the same bits with reuse on and off', () => {
    setRecycling(false);
    const off = transformerRunDigest();
    setRecycling(true);
    const on = transformerRunDigest();
    assert.ok(on === off, 'parameters or losses differ with reuse on');
  });

  test('CALM training steps (the demo configuration): the same bits with reuse on and off', () => {
    const run = (): string => {
      const r = calmStepRunner(1, 20_000);
      const losses = [r.step(), r.step(), r.step()];
      return trainingDigest(losses, r.model.namedParameters());
    };
    setRecycling(false);
    const off = run();
    setRecycling(true);
    const on = run();
    assert.ok(recycledBytes() > 0, 'the CALM steps released arrays for reuse');
    assert.ok(on === off, 'parameters or losses differ with reuse on');
  });
});

describe('the C allocator reuses large freed blocks (cpu/malloc-prime.ts)', () => {
  /**
   * Page faults per 4 MB array allocated, filled and collected in a fresh process that has started the
   * CPU backend. --no-concurrent-array-buffer-sweeping makes gc() free the array before it returns, so
   * the next one can reuse its memory.
   */
  const faultsPerArray = (recycle: 'on' | 'off'): number => {
    const ndarray = new URL('../src/tensor/ndarray.js', import.meta.url).href;
    const script = `
      const { NDArray } = await import(${JSON.stringify(ndarray)});
      NDArray.fromData(new Float32Array(4), [4]); // starts the CPU backend
      globalThis.gc();
      const faults = () => process.resourceUsage().minorPageFault;
      let x = new Float32Array(1 << 20).fill(1);
      x = null;
      globalThis.gc();
      const before = faults();
      for (let i = 0; i < 8; i++) { x = new Float32Array(1 << 20); x.fill(i); x = null; globalThis.gc(); }
      console.log((faults() - before) / 8);`;
    const r = spawnSync(process.execPath, ['--expose-gc', '--no-concurrent-array-buffer-sweeping', '--input-type=module', '-e', script], {
      env: { ...process.env, CALM_CPU_RECYCLE: recycle },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    return Number(r.stdout.trim());
  };

  const glibc = process.platform === 'linux' && (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime !== undefined;
  test('a fresh 4 MB array reuses a freed one instead of faulting its pages in (glibc)', { skip: glibc ? false : 'the allocator is not glibc' }, () => {
    // 4 MB is 1,024 pages of 4 KiB. Without the prime (CALM_CPU_RECYCLE=off skips it) glibc maps and
    // unmaps every array; with it, the memory is reused.
    const off = faultsPerArray('off');
    const on = faultsPerArray('on');
    assert.ok(off >= 32, `without the prime: ${off} faults an array (expected fresh mappings)`);
    assert.ok(on < 4, `with the prime: ${on} faults an array`);
  });
});
