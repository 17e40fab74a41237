/**
 * `npm run bench`: the engine's CPU benchmarks, calm-ts's CPU backend with 2 threads (`calm-ts-cpu`)
 * and with 1 (`calm-ts-cpu-1t`) side by side with TensorFlow.js (`tfjs-backend-cpu`,
 * `tfjs-backend-wasm`) in the same process. Matmul rows also get GFLOP/s (2n³ / time).
 * `--quick` runs small sizes only; `--ours` skips the peers.
 *
 * calm-ts (2 and 1 threads) and tfjs-wasm are timed interleaved: each case runs ROUNDS short tinybench
 * runs of each contender in turn, and a row's median is over all of that contender's samples, so a
 * change in the machine's speed during the run (this shared host drifts by 10-20 % within minutes)
 * hits every contender alike instead of whichever happened to run then. tfjs-cpu, 20-60x slower,
 * runs on its own afterwards.
 */
import { Bench } from 'tinybench';
import { NDArray } from '../src/tensor/ndarray.js';
import { softmaxRows } from '../src/tensor/fused.js';
import { setMatmulThreads } from '../src/tensor/ops/matmul.js';
import { setElementwiseThreads } from '../src/tensor/accel/index.js';
import { Rng } from '../src/tensor/random.js';
import { medianOf, saveResults, type BenchRow } from './report.js';
import { leakChecked, readBack, readBackCalm, tf, usePeer } from './peers.js';

interface Case {
  name: string;
  size: number;
  /** Builds inputs and returns the timed function for calm-ts. */
  ours: () => () => void;
  /** The same computation in TensorFlow.js (reading the result back, as calm-ts does). */
  peer: () => () => void;
}

const quick = process.argv.includes('--quick');

const rng = new Rng(1);

function data(n: number): Float32Array {
  return rng.uniformArray(n, -1, 1, 'float32') as Float32Array;
}

function cases(): Case[] {
  const list: Case[] = [];
  for (const n of quick ? [64, 256] : [64, 256, 512, 1024]) {
    const a = data(n * n);
    const b = data(n * n);
    list.push({
      name: 'matmul',
      size: n,
      ours: () => {
        const x = NDArray.fromData(a, [n, n]);
        const y = NDArray.fromData(b, [n, n]);
        return () => readBackCalm(() => x.matmul(y));
      },
      peer: () => {
        const x = tf.tensor2d(a, [n, n]);
        const y = tf.tensor2d(b, [n, n]);
        return () => readBack(() => tf.matMul(x, y));
      },
    });
  }
  const n = 1_000_000;
  for (const op of ['add', 'mul'] as const) {
    const a = data(n);
    const b = data(n);
    list.push({
      name: op,
      size: n,
      ours: () => {
        const x = NDArray.fromData(a, [n]);
        const y = NDArray.fromData(b, [n]);
        return () => readBackCalm(() => x.binary(op, y));
      },
      peer: () => {
        const x = tf.tensor1d(a);
        const y = tf.tensor1d(b);
        return () => readBack(() => (op === 'add' ? tf.add(x, y) : tf.mul(x, y)));
      },
    });
  }
  const rows = 1024;
  const cols = 1024;
  const s = data(rows * cols);
  list.push({
    name: 'softmax-rows',
    size: rows * cols,
    ours: () => {
      const x = NDArray.fromData(s, [rows, cols]);
      return () => readBackCalm(() => softmaxRows(x)); // the fused op, as tf.softmax is one
    },
    peer: () => {
      const x = tf.tensor2d(s, [rows, cols]);
      return () => readBack(() => tf.softmax(x));
    },
  });
  list.push({
    name: 'sum-rows',
    size: rows * cols,
    ours: () => {
      const x = NDArray.fromData(s, [rows, cols]);
      return () => readBackCalm(() => x.sum(-1));
    },
    peer: () => {
      const x = tf.tensor2d(s, [rows, cols]);
      return () => readBack(() => tf.sum(x, -1));
    },
  });
  return list;
}

/** Interleaved rounds per case (see the file comment). */
const ROUNDS = 5;

/** The latency samples (ms) of one short tinybench run of `fn` (after its warm-up iterations). */
async function samples(fn: () => void): Promise<number[]> {
  const bench = new Bench({ time: quick ? 60 : 250, iterations: 3, warmupIterations: 2 });
  bench.add('case', fn);
  await bench.run();
  const latency = bench.tasks[0].result?.latency;
  if (latency === undefined) throw new Error('bench: tinybench returned no latency');
  return latency.samples;
}

async function main(): Promise<void> {
  const results: BenchRow[] = [];
  const all = cases();
  const gflops = (c: Case, ms: number): string | undefined => (c.name === 'matmul' ? `${((2 * c.size ** 3) / (ms * 1e6)).toFixed(1)} GFLOP/s` : undefined);
  const withPeers = !process.argv.includes('--ours');
  if (withPeers) await usePeer('tfjs-wasm');
  for (const c of all) {
    const contenders: { impl: string; threads?: number; fn: () => void; times: number[] }[] = [
      { impl: 'calm-ts-cpu', threads: 2, fn: c.ours(), times: [] },
      { impl: 'calm-ts-cpu-1t', threads: 1, fn: c.ours(), times: [] },
      ...(withPeers ? [{ impl: 'tfjs-wasm', fn: c.peer(), times: [] }] : []),
    ];
    for (let round = 0; round < ROUNDS; round++) {
      for (const k of contenders) {
        if (k.threads !== undefined) {
          setMatmulThreads(k.threads);
          setElementwiseThreads(k.threads);
        }
        const run = (): Promise<number[]> => samples(k.fn);
        k.times.push(...(await (k.threads === undefined ? leakChecked(`${c.name} ${c.size} ${k.impl}`, run) : run())));
      }
    }
    for (const k of contenders) {
      const ms = medianOf(k.times);
      results.push({ case: c.name, size: c.size, impl: k.impl, medianMs: ms, note: gflops(c, ms) });
      console.log(`${c.name} ${c.size} ${k.impl} ${ms.toFixed(3)} ms (${k.times.length} samples) ${gflops(c, ms) ?? ''}`);
    }
  }
  if (withPeers) {
    await usePeer('tfjs-cpu');
    for (const c of all) {
      const peer = c.peer();
      const ms = medianOf(await leakChecked(`${c.name} ${c.size} tfjs-cpu`, () => samples(peer)));
      results.push({ case: c.name, size: c.size, impl: 'tfjs-cpu', medianMs: ms, note: gflops(c, ms) });
      console.log(`${c.name} ${c.size} tfjs-cpu ${ms.toFixed(3)} ms ${gflops(c, ms) ?? ''}`);
    }
  }
  saveResults(results);
  console.log('wrote bench/RESULTS.md and bench/results.json');
}

await main();
