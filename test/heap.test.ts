/**
 * CPU storage in the wasm kernels' heap (src/tensor/accel/heap.ts, cpu/backend.ts): the allocator's
 * bookkeeping; that blocks come back when their arrays are released and never while anything outside
 * the engine can see them; that kernels reading and writing in place keep to their blocks; and that
 * training gives the same bits with the heap on and off, and with one thread or two.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { calmStepRunner } from '../bench/calm-step.js';
import { trainingDigest, transformerRunDigest } from './support/training-bits.js';
import { cpuHeap, setCpuHeapBudget } from '../src/tensor/accel/index.js';
import { Float32Heap, HEAP_MIN_ELEMENTS, HEAP_SLACK, heapBudgetSetting } from '../src/tensor/accel/heap.js';
import { WasmElementwise, ELEMENTWISE_PARALLEL_MIN } from '../src/tensor/accel/wasm-elementwise.js';
import { wasmApi } from '../src/tensor/accel/wasm-emit.js';
import { memoryScope } from '../src/tensor/memory.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { softmaxRows } from '../src/tensor/fused.js';
import { Rng } from '../src/tensor/random.js';

const N = HEAP_MIN_ELEMENTS;
const heap = cpuHeap();
const MiB = 2 ** 20;

function filled(n: number, value: number): NDArray {
  return NDArray.fromData(new Float32Array(n).fill(value), [n]);
}

function freshHeap(budget = 64 * MiB): Float32Heap {
  return new Float32Heap(new (wasmApi()!.Memory)({ initial: 1, maximum: 1024, shared: true }), budget);
}

describe('the float32 heap: allocation', () => {
  test('CALM_CPU_HEAP_MB is read and checked', () => {
    assert.equal(heapBudgetSetting(undefined), 1024);
    assert.equal(heapBudgetSetting('0'), 0);
    assert.equal(heapBudgetSetting('256'), 256);
    assert.throws(() => heapBudgetSetting('-1'), /CALM_CPU_HEAP_MB: expected an integer from 0 to 3072, got '-1'/);
    assert.throws(() => heapBudgetSetting('lots'), /CALM_CPU_HEAP_MB/);
  });

  test('blocks are 64-byte aligned, disjoint, with the slack after them, and come back by exact size', () => {
    const h = freshHeap();
    const a = h.storage(10)!;
    const b = h.storage(10)!;
    assert.equal(a.byteOffset % 64, 0);
    assert.equal(b.byteOffset % 64, 0);
    assert.ok(b.byteOffset >= a.byteOffset + 4 * 10 + HEAP_SLACK, 'b starts after a and its slack');
    assert.ok(h.owns(a) && h.views(a) && h.views(a.subarray(3)));
    assert.ok(!h.views(new Float32Array(10)));
    assert.equal(h.release(a), true);
    assert.equal(h.release(a), false, 'a block comes back once');
    assert.ok(!h.owns(a));
    assert.equal(h.storage(11)!.byteOffset, a.byteOffset, 'same rounded size: the spare block');
    assert.notEqual(h.storage(100)!.byteOffset, a.byteOffset, 'another size: not that block');
  });

  test('a released top block lowers the top, and spare blocks below it go under it too', () => {
    const h = freshHeap();
    const blocks = [h.storage(100)!, h.storage(200)!, h.storage(300)!];
    const top = h.usage().topBytes;
    h.release(blocks[1]);
    assert.equal(h.usage().topBytes, top, 'a middle block is kept spare');
    h.release(blocks[2]);
    assert.equal(h.usage().topBytes, blocks[1].byteOffset, 'the top block and the spare block under it');
    h.release(blocks[0]);
    assert.equal(h.usage().storageBytes, 0);
    assert.equal(h.usage().topBytes, 0);
    assert.equal(h.usage().storageBlocksTaken, 3);
    assert.ok(h.usage().peakTopBytes >= blocks[2].byteOffset + 4 * 300);
  });

  test('blocks made outside a memory scope stop at a sixteenth of the budget', () => {
    const h = freshHeap(1 * MiB);
    const a = h.storage(8192, false); // 32 KiB and its slack
    assert.ok(a !== null);
    assert.equal(h.storage(8192, false), null, 'two would pass 64 KiB');
    assert.equal(h.usage().unscopedBytes, a!.byteLength + HEAP_SLACK);
    assert.ok(h.storage(8192, true) !== null, 'scoped blocks still fit');
    h.release(a!);
    assert.equal(h.usage().unscopedBytes, 0);
    assert.ok(h.storage(8192, false) !== null);
  });

  test('storage stops at the budget (null, not an error); scratch may pass it', () => {
    const h = freshHeap(1 * MiB);
    const a = h.storage(128 * 1024);
    assert.ok(a !== null);
    assert.equal(h.storage(128 * 1024), null, 'a second 512 KiB block (plus slack) exceeds 1 MiB');
    const s = h.scratch(512 * 1024);
    assert.equal(s.length, 512 * 1024);
    h.release(s);
    h.release(a!);
    assert.ok(h.storage(128 * 1024) !== null);
  });

  test('growing the memory keeps earlier blocks valid and recognised', () => {
    const h = freshHeap();
    const a = h.storage(1000)!;
    a.fill(5);
    const big = h.storage(4 * MiB)!; // grows the memory
    big.fill(1);
    assert.ok(h.views(a) && h.owns(a), 'a view of the memory before it grew');
    assert.equal(a[999], 5);
  });
});

describe('the float32 heap: CPU storage', { skip: heap === null ? 'no WebAssembly SIMD here' : false }, () => {
  const h = heap!;

  test('large float32 results made in a memory scope live in the heap and go back when disposed', () => {
    const x = filled(N, 1);
    const before = h.usage().storageBytes;
    memoryScope(() => {
      const y = x.add(x);
      assert.ok(h.usage().storageBytes > before, 'the result took a heap block');
      y.dispose();
      assert.equal(h.usage().storageBytes, before);
    });
    x.dispose();
  });

  test('outside a memory scope blocks count against the unscoped share (only the collector would release them)', () => {
    const before = h.usage();
    const y = filled(N, 1).add(filled(N, 2)).mul(filled(N, 3));
    assert.ok(h.usage().unscopedBytes > before.unscopedBytes);
    assert.equal(y.toTypedArray()[0], 9);
    const unscoped = h.usage().unscopedBytes;
    const taken = h.usage().storageBlocksTaken;
    const inScope = memoryScope(() => filled(N, 1).add(filled(N, 2)));
    assert.ok(h.usage().storageBlocksTaken > taken, 'the scope took blocks');
    assert.equal(h.usage().unscopedBytes, unscoped, 'which are not counted in the unscoped share');
    y.dispose();
    inScope.dispose();
  });

  test('a float32 matmul writes its product into a heap block, the same bits as the entry gives in ordinary memory', () => {
    const rng = new Rng(5);
    const x = NDArray.fromData(rng.uniformArray(32 * 64, -1, 1), [32, 64]);
    const y = NDArray.fromData(rng.uniformArray(64 * 32, -1, 1), [64, 32]);
    const before = h.usage().storageBytes;
    const product = memoryScope(() => x.matmul(y));
    assert.ok(h.usage().storageBytes >= before + 4 * 32 * 32, 'the product took a heap block');
    const plain = x.matmul(y).toTypedArray(); // outside a scope: ordinary memory
    assert.deepEqual(product.toTypedArray(), plain);
    for (const a of [x, y, product]) a.dispose();
  });

  test('a step in a memory scope reuses the same blocks: the top does not creep', () => {
    const x = filled(4 * N, 1);
    const step = (): void => memoryScope(() => void softmaxRows(x.add(x).mul(x).sigmoid().reshape([4, N])));
    step();
    const top = h.usage().topBytes;
    for (let i = 0; i < 20; i++) step();
    assert.equal(h.usage().topBytes, top);
    x.dispose();
  });

  test('storage handed out by hostElements moves to ordinary memory and is never reused under the caller', () => {
    const y = memoryScope(() => filled(N, 1).add(filled(N, 2))); // returned: it outlives the scope in its block
    const taken = h.usage().storageBytes;
    const window = y.hostElements()!;
    assert.ok(h.usage().storageBytes < taken, 'the block went back to the heap');
    assert.ok(!(window.buffer instanceof SharedArrayBuffer), 'the window is not a view of the heap');
    window[0] = 42;
    assert.equal(y.toTypedArray()[0], 42, 'writes through the window reach the array');
    y.dispose();
    memoryScope(() => {
      for (let i = 0; i < 4; i++) filled(N, 9).add(filled(N, 9));
    });
    assert.equal(window[1], 3, 'the caller\'s window is not overwritten');
  });

  test('read results are ordinary memory', () => {
    const values = memoryScope(() => filled(N, 1).add(filled(N, 1)).toTypedArray());
    assert.ok(!(values.buffer instanceof SharedArrayBuffer));
    memoryScope(() => void filled(N, 7).add(filled(N, 7)));
    assert.equal(values[0], 2);
  });

  test('an array the collector reclaims gives its block back', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const collect = async (): Promise<void> => {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 10)); // finalisers run between tasks
    };
    await collect(); // earlier tests' undisposed arrays first
    const before = h.usage().storageBytes;
    (() => {
      for (let i = 0; i < 8; i++) memoryScope(() => filled(N, i).add(filled(N, 1))); // returned from the scope, then never disposed
    })();
    assert.ok(h.usage().storageBytes >= before + 8 * 4 * N);
    for (let i = 0; i < 10 && h.usage().storageBytes > before; i++) await collect();
    assert.ok(h.usage().storageBytes <= before, `${h.usage().storageBytes} bytes held, ${before} before`);
  });

  test('with the budget at 0 nothing new goes in the heap, even in a scope', () => {
    const saved = setCpuHeapBudget(0);
    try {
      const before = h.usage().storageBytes;
      memoryScope(() => {
        const y = filled(N, 1.5).add(filled(N, 2));
        assert.equal(h.usage().storageBytes, before);
        assert.equal(y.toTypedArray()[N - 1], 3.5);
      });
    } finally {
      setCpuHeapBudget(saved);
    }
  });
});

describe('the float32 heap: kernels in place', { skip: wasmApi() === undefined ? 'no WebAssembly' : false }, () => {
  const one = new WasmElementwise({ threads: 1 });
  const two = new WasmElementwise({ threads: 2 });
  const rng = new Rng(11);
  const values = (n: number): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = rng.uniform() * 8 - 4;
    return a;
  };
  /** A copy of `a` in k's heap, with a sentinel block right after it. */
  const resident = (k: WasmElementwise, a: Float32Array): { block: Float32Array; sentinel: Float32Array } => {
    const block = k.heap.storage(a.length)!;
    block.set(a);
    const sentinel = k.heap.storage(16)!.fill(-7);
    return { block, sentinel };
  };
  const bits = (a: Float32Array): string => Buffer.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).toString('hex');
  const sizes = [ELEMENTWISE_PARALLEL_MIN + 3, 3 * ELEMENTWISE_PARALLEL_MIN + 8, 1000];

  test('binary ops: the same bits in place and copied, with one thread and two; no write past the block', () => {
    for (const n of sizes) {
      for (const cols of [n, 4 * Math.floor(n / 400), 7]) {
        const rows = Math.floor(n / cols);
        const a = values(rows * cols), b = values(rows * cols), bRow = values(cols);
        const outs: string[] = [];
        for (const k of [one, two]) {
          const plainOut = new Float32Array(rows * cols);
          k.binary('mul', { data: a, offset: 0, rowStride: cols, colStride: 1 }, { data: b, offset: 0, rowStride: cols, colStride: 1 }, rows, cols, plainOut);
          outs.push(bits(plainOut));
          const ra = resident(k, a), rb = resident(k, bRow);
          const out = resident(k, new Float32Array(rows * cols));
          k.binary('add', { data: ra.block, offset: 0, rowStride: cols, colStride: 1 }, { data: rb.block, offset: 0, rowStride: 0, colStride: 1 }, rows, cols, out.block);
          for (let i = 0; i < rows * cols; i++) assert.equal(out.block[i], Math.fround(a[i] + bRow[i % cols]), `add [${rows}, ${cols}] at ${i}`);
          assert.ok(out.sentinel.every((v) => v === -7), `the block after the output is untouched ([${rows}, ${cols}])`);
          for (const r of [ra, rb, out]) { k.heap.release(r.block); k.heap.release(r.sentinel); }
        }
        assert.equal(outs[0], outs[1], `mul [${rows}, ${cols}]: one thread and two agree`);
      }
    }
  });

  test('sigmoid and softmax: the same bits in place, copied, one thread and two; no write past the block', () => {
    for (const n of sizes) {
      const x = values(n);
      const results: string[] = [];
      for (const k of [one, two]) {
        const plain = new Float32Array(n);
        k.unary('sigmoid', x, 0, n, plain);
        const rx = resident(k, x), out = resident(k, new Float32Array(n));
        k.unary('sigmoid', rx.block, 0, n, out.block);
        assert.equal(bits(out.block), bits(plain), `sigmoid ${n}: in place = copied`);
        assert.ok(out.sentinel.every((v) => v === -7), `sigmoid ${n}: the next block is untouched`);
        results.push(bits(plain));
        const cols = 64, rows = Math.floor(n / cols);
        const soft = new Float32Array(rows * cols);
        k.softmaxRows(x, 0, cols, rows, cols, soft);
        const sx = resident(k, x.subarray(0, rows * cols)), sout = resident(k, new Float32Array(rows * cols));
        k.softmaxRows(sx.block, 0, cols, rows, cols, sout.block);
        assert.equal(bits(sout.block), bits(soft), `softmax [${rows}, ${cols}]: in place = copied`);
        assert.ok(sout.sentinel.every((v) => v === -7));
        results.push(bits(soft));
        for (const r of [rx, out, sx, sout]) { k.heap.release(r.block); k.heap.release(r.sentinel); }
      }
      assert.equal(results[0], results[2], `sigmoid ${n}: one thread and two agree`);
      assert.equal(results[1], results[3], `softmax ${n}: one thread and two agree`);
    }
  });

  after(() => {
    for (const k of [one, two]) assert.equal(k.heap.usage().storageBytes, 0, 'every test block was given back');
  });
});

describe('the float32 heap: training', { skip: heap === null ? 'no WebAssembly SIMD here' : false }, () => {
  function calmRun(): string {
    const r = calmStepRunner(1, 20_000);
    return trainingDigest([r.step(), r.step(), r.step()], r.model.namedParameters());
  }

  for (const [name, run] of [['Transformer', transformerRunDigest], ['CALM (the demo configuration)', calmRun]] as const) {
    test(`${name} training steps: the same bits with the heap on and off`, () => {
      const saved = setCpuHeapBudget(0);
      let off: string;
      try {
        off = run();
      } finally {
        setCpuHeapBudget(saved);
      }
      const taken = heap!.usage().storageBlocksTaken;
      const on = run();
      assert.ok(heap!.usage().storageBlocksTaken > taken, 'the run used the heap');
      assert.ok(on === off, 'parameters or losses differ with the heap on');
    });
  }
});
