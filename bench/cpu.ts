/**
 * `npm run bench`: the engine's CPU benchmarks, calm-ts's CPU backend with 2 threads (`calm-ts-cpu`)
 * and with 1 (`calm-ts-cpu-1t`) side by side with TensorFlow.js (`tfjs-backend-cpu`,
 * `tfjs-backend-wasm`) in the same process. Matmul rows also get GFLOP/s (2n³ / time).
 * `--quick` runs small sizes only; `--ours` skips the peers; `--case NAME` runs only the cases of that
 * name (repeatable: `--case matmul --case add-op`), and then leaves bench/RESULTS.md alone.
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
import { computeCalm, computeOnly, leakChecked, readBack, readBackCalm, tf, usePeer } from './peers.js';

interface Case {
  name: string;
  size: number;
  /** Builds inputs and returns the timed function for calm-ts. */
  ours: () => () => void;
  /** The same computation in TensorFlow.js (reading the result back, as calm-ts does). */
  peer: () => () => void;
}

const quick = process.argv.includes('--quick');
/** The names after each `--case` (none: every case). */
const only = process.argv.flatMap((arg, i) => (arg === '--case' && i + 1 < process.argv.length ? [process.argv[i + 1]] : []));

const rng = new Rng(1);

function data(n: number): Float32Array {
  return rng.uniformArray(n, -1, 1, 'float32') as Float32Array;
}

/** Every input a case's factories made, disposed when the case is done (calm-ts's heap and tfjs-wasm's both hold them until then). */
const caseInputs: { dispose(): void }[] = [];
function input<T extends { dispose(): void }>(x: T): T {
  caseInputs.push(x);
  return x;
}
function disposeCaseInputs(): void {
  for (const x of caseInputs.splice(0)) x.dispose();
}

/**
 * Two cases for one computation: `name` reads the result back into a fresh JavaScript array (as a user
 * printing or saving it does), `name-op` computes it and frees it without reading it. Both engines run
 * these ops synchronously on the CPU, so the second times the op alone; the first adds the read-back,
 * whose fresh array (4 MB for the 1M-element ops) costs first-touch page faults on this VM that come and go with the C
 * allocator's state (the `page faults/call` note), for either engine.
 */
function readBackAndOpOnly(name: string, size: number, ours: () => () => NDArray, peer: () => () => tf.Tensor): Case[] {
  return [
    { name, size, ours: () => { const f = ours(); return () => readBackCalm(f); }, peer: () => { const f = peer(); return () => readBack(f); } },
    { name: `${name}-op`, size, ours: () => { const f = ours(); return () => computeCalm(f); }, peer: () => { const f = peer(); return () => computeOnly(f); } },
  ];
}

function cases(): Case[] {
  const list: Case[] = [];
  for (const n of quick ? [64, 256] : [64, 256, 512, 1024]) {
    const a = data(n * n);
    const b = data(n * n);
    list.push(...readBackAndOpOnly('matmul', n,
      () => {
        const x = input(NDArray.fromData(a, [n, n]));
        const y = input(NDArray.fromData(b, [n, n]));
        return () => x.matmul(y);
      },
      () => {
        const x = input(tf.tensor2d(a, [n, n]));
        const y = input(tf.tensor2d(b, [n, n]));
        return () => tf.matMul(x, y);
      }));
  }
  const n = 1_000_000;
  for (const op of ['add', 'mul'] as const) {
    const a = data(n);
    const b = data(n);
    list.push(...readBackAndOpOnly(op, n,
      () => {
        const x = input(NDArray.fromData(a, [n]));
        const y = input(NDArray.fromData(b, [n]));
        return () => x.binary(op, y);
      },
      () => {
        const x = input(tf.tensor1d(a));
        const y = input(tf.tensor1d(b));
        return () => (op === 'add' ? tf.add(x, y) : tf.mul(x, y));
      }));
  }
  const rows = 1024;
  const cols = 1024;
  const s = data(rows * cols);
  list.push(...readBackAndOpOnly('softmax-rows', rows * cols,
    () => {
      const x = input(NDArray.fromData(s, [rows, cols]));
      return () => softmaxRows(x); // the fused op, as tf.softmax is one
    },
    () => {
      const x = input(tf.tensor2d(s, [rows, cols]));
      return () => tf.softmax(x);
    }));
  list.push(...readBackAndOpOnly('sum-rows', rows * cols,
    () => {
      const x = input(NDArray.fromData(s, [rows, cols]));
      return () => x.sum(-1);
    },
    () => {
      const x = input(tf.tensor2d(s, [rows, cols]));
      return () => tf.sum(x, -1);
    }));
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
  const all = cases().filter((c) => only.length === 0 || only.includes(c.name));
  if (all.length === 0) throw new Error(`bench: no case named ${only.join(', ')}`);
  const gflops = (c: Case, ms: number): string | undefined => (c.name.startsWith('matmul') ? `${((2 * c.size ** 3) / (ms * 1e6)).toFixed(1)} GFLOP/s` : undefined);
  const withPeers = !process.argv.includes('--ours');
  if (withPeers) await usePeer('tfjs-wasm');
  for (const c of all) {
    const contenders: { impl: string; threads?: number; fn: () => void; times: number[]; faults: number[] }[] = [
      { impl: 'calm-ts-cpu', threads: 2, fn: c.ours(), times: [], faults: [] },
      { impl: 'calm-ts-cpu-1t', threads: 1, fn: c.ours(), times: [], faults: [] },
      ...(withPeers ? [{ impl: 'tfjs-wasm', fn: c.peer(), times: [], faults: [] }] : []),
    ];
    for (let round = 0; round < ROUNDS; round++) {
      for (const k of contenders) {
        if (k.threads !== undefined) {
          setMatmulThreads(k.threads);
          setElementwiseThreads(k.threads);
        }
        const run = (): Promise<number[]> => samples(k.fn);
        const faultsBefore = process.resourceUsage().minorPageFault;
        const got = await (k.threads === undefined ? leakChecked(`${c.name} ${c.size} ${k.impl}`, run) : run());
        // Per call, warm-up included (tinybench does not say how many warm-up calls it made: 2 here).
        k.faults.push((process.resourceUsage().minorPageFault - faultsBefore) / (got.length + 2));
        k.times.push(...got);
      }
    }
    disposeCaseInputs();
    for (const k of contenders) {
      const ms = medianOf(k.times);
      const note = [gflops(c, ms), `${medianOf(k.faults).toFixed(0)} page faults/call`].filter((x) => x !== undefined).join('; ');
      results.push({ case: c.name, size: c.size, impl: k.impl, medianMs: ms, note });
      console.log(`${c.name} ${c.size} ${k.impl} ${ms.toFixed(3)} ms (${k.times.length} samples) ${note}`);
    }
  }
  if (withPeers) {
    await usePeer('tfjs-cpu');
    for (const c of all) {
      const peer = c.peer();
      const ms = medianOf(await leakChecked(`${c.name} ${c.size} tfjs-cpu`, () => samples(peer)));
      disposeCaseInputs();
      results.push({ case: c.name, size: c.size, impl: 'tfjs-cpu', medianMs: ms, note: gflops(c, ms) });
      console.log(`${c.name} ${c.size} tfjs-cpu ${ms.toFixed(3)} ms ${gflops(c, ms) ?? ''}`);
    }
  }
  if (only.length > 0) return; // a partial run does not replace the full one's results
  saveResults(results);
  console.log('wrote bench/RESULTS.md and bench/results.json');
}

await main();
