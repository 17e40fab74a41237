/**
 * `npm run bench:gpu`: the engine on every available backend (cpu, gpujs-webgpu, gpujs-webasm,
 * gpujs-cpu), written to bench/RESULTS.md beside the CPU numbers of `npm run bench`.
 *
 * Cases: matmul (256, 512, 1024, 2048), add on 1e6 and 1e7 elements, softmax over the rows of a
 * [1024, 1024] array, SiLU(x) * y on 1e6 elements, and per-call launch overhead (one tiny op, the
 * worker round trip included). Softmax and SiLU * y are timed twice: through `fused.ts` (one fused
 * kernel call where the backend has one) and composed from primitives (`-unfused`), which is the
 * before/after of the fusion. Every timed call reads its result back to the host and disposes what it
 * created, so device memory stays flat.
 *
 * A backend that cannot be created is skipped with its reason. A case whose first call takes over
 * LONG_MS is timed as the best of two calls; over SLOW_MS, larger sizes of that case are skipped on
 * that backend (noted in RESULTS.md).
 * Options: `--quick` (small sizes, short runs); CALM_BENCH_BACKENDS=cpu,gpujs-webgpu restricts the
 * list; CALM_BENCH_REQUIRE=gpujs-webgpu fails instead of skipping; CALM_BENCH_IMPL_SUFFIX=-nvidia
 * appends to the impl names (rows from another machine sit beside this one's); CALM_BENCH_PEERS=
 * file.json merges rows measured elsewhere (bench/device.sh: PyTorch) and prints the ratios.
 */
import { readFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import type { Backend } from '../src/tensor/backend.js';
import { cpuBackend } from '../src/tensor/device.js';
import { siluMul, softmaxRows } from '../src/tensor/fused.js';
import type { GpujsBackend } from '../src/tensor/gpujs/backend.js';
import { createGpujsBackend, GPUJS_MODES } from '../src/tensor/gpujs/setup.js';
import { memoryScope } from '../src/tensor/memory.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';
import { describeBackend } from '../src/tensor/select.js';
import { describeMachine, saveResults, type BenchRow } from './report.js';

const quick = process.argv.includes('--quick');
/** One call slower than this skips the larger sizes of the case on that backend. */
const SLOW_MS = quick ? 2_000 : 10_000;
/** One call slower than this is timed twice (best of two) instead of by tinybench. */
const LONG_MS = 5_000;
/** Tiny ops timed per launch-overhead sample. */
const LAUNCHES = 50;

interface Case {
  name: string;
  size: number;
  /** Builds the inputs on `be` and returns the timed call (result read back and disposed). */
  setup: (be: Backend) => { run: () => void; dispose: () => void };
  /** ms per timed call are divided by this (launch overhead times LAUNCHES ops per call). */
  perCall?: number;
}

const rng = new Rng(7);
const hostData = new Map<number, Float32Array>();
function data(n: number): Float32Array {
  let d = hostData.get(n);
  if (d === undefined) {
    d = rng.uniformArray(n, -1, 1, 'float32') as Float32Array;
    hostData.set(n, d);
  }
  return d;
}

/** Inputs created once per case; the timed call runs in a memory scope so temporaries are freed. */
function timed(make: (be: Backend) => NDArray[], call: (xs: NDArray[]) => NDArray) {
  return (be: Backend): { run: () => void; dispose: () => void } => {
    const xs = make(be);
    return {
      run: () => memoryScope(() => void call(xs).toTypedArray()),
      dispose: () => xs.forEach((x) => x.dispose()),
    };
  };
}

function cases(): Case[] {
  const list: Case[] = [];
  for (const n of quick ? [256, 512] : [256, 512, 1024, 2048]) {
    list.push({
      name: 'matmul',
      size: n,
      setup: timed((be) => [NDArray.fromData(data(n * n), [n, n], 'float32', be), NDArray.fromData(data(n * n).slice().reverse(), [n, n], 'float32', be)], ([a, b]) => a.matmul(b)),
    });
  }
  for (const n of quick ? [1e6] : [1e6, 1e7]) {
    list.push({
      name: 'add',
      size: n,
      setup: timed((be) => [NDArray.fromData(data(n), [n], 'float32', be), NDArray.fromData(data(n).slice().reverse(), [n], 'float32', be)], ([a, b]) => a.add(b)),
    });
  }
  const rows = quick ? 256 : 1024;
  const cols = 1024;
  const softmaxInput = (be: Backend): NDArray[] => [NDArray.fromData(data(rows * cols), [rows, cols], 'float32', be)];
  list.push({ name: 'softmax-rows', size: rows * cols, setup: timed(softmaxInput, ([x]) => softmaxRows(x)) });
  list.push({
    name: 'softmax-rows-unfused',
    size: rows * cols,
    setup: timed(softmaxInput, ([x]) => {
      const e = x.sub(x.max(-1, true)).exp();
      return e.div(e.sum(-1, true));
    }),
  });
  const m = 1e6;
  const siluInputs = (be: Backend): NDArray[] => [NDArray.fromData(data(m), [m], 'float32', be), NDArray.fromData(data(m).slice().reverse(), [m], 'float32', be)];
  list.push({ name: 'silu-mul', size: m, setup: timed(siluInputs, ([x, y]) => siluMul(x, y)) });
  list.push({ name: 'silu-mul-unfused', size: m, setup: timed(siluInputs, ([x, y]) => x.mul(x.sigmoid()).mul(y)) });
  list.push({
    name: 'launch-overhead',
    size: 1,
    perCall: LAUNCHES,
    setup: (be) => {
      const a = NDArray.fromData([1], [1], 'float32', be);
      const b = NDArray.fromData([2], [1], 'float32', be);
      return {
        run: () => {
          for (let i = 0; i < LAUNCHES; i++) a.add(b).dispose();
        },
        dispose: () => [a, b].forEach((x) => x.dispose()),
      };
    },
  });
  return list;
}

async function median(fn: () => void, slow: boolean): Promise<number> {
  const bench = new Bench({ time: quick ? 200 : 1000, iterations: slow ? 3 : 5, warmupIterations: slow ? 0 : 2 });
  bench.add('case', fn);
  await bench.run();
  const p50 = bench.tasks[0].result?.latency.p50;
  if (p50 === undefined) throw new Error(`bench:gpu: tinybench returned no latency (${bench.tasks[0].result?.error?.message ?? 'no error'})`);
  return p50;
}

interface Available {
  impl: string;
  backend: Backend;
  close: () => Promise<void>;
}

function envList(name: string): string[] {
  return (process.env[name] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** The gpu.js backends opened, as describeBackend words them (the adapter), for the machine line. */
const gpuNames: string[] = [];

async function openBackends(notes: string[]): Promise<Available[]> {
  const only = envList('CALM_BENCH_BACKENDS');
  const required = envList('CALM_BENCH_REQUIRE');
  const suffix = process.env.CALM_BENCH_IMPL_SUFFIX ?? '';
  const wanted = (name: string): boolean => only.length === 0 || only.includes(name);
  const list: Available[] = [];
  for (const mode of GPUJS_MODES) {
    const name = `gpujs-${mode}`;
    if (!wanted(name)) continue;
    try {
      const b: GpujsBackend = await createGpujsBackend(mode);
      list.push({ impl: `calm-ts-${name}${suffix}`, backend: b, close: () => b.close() });
      console.log(`backend ${describeBackend(b)}`);
      gpuNames.push(describeBackend(b));
    } catch (err) {
      if (required.includes(name)) throw new Error(`bench:gpu: ${name} is required (CALM_BENCH_REQUIRE) but unavailable: ${(err as Error).message}`);
      const reason = `skipped ${name}: ${(err as Error).message}`;
      console.log(reason);
      notes.push(reason);
    }
  }
  if (wanted('cpu')) list.push({ impl: `calm-ts-cpu${suffix}`, backend: cpuBackend(), close: async () => {} });
  return list;
}

function readPeers(): BenchRow[] {
  const file = process.env.CALM_BENCH_PEERS;
  if (file === undefined || file === '') return [];
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!Array.isArray(parsed)) throw new Error(`CALM_BENCH_PEERS: ${file} is not a JSON array of rows`);
  return parsed as BenchRow[];
}

async function main(): Promise<void> {
  const notes: string[] = [];
  const backends = await openBackends(notes);
  const results: BenchRow[] = [];
  for (const { impl, backend, close } of backends) {
    const tooSlow = new Set<string>();
    for (const c of cases()) {
      if (tooSlow.has(c.name)) {
        const note = `${impl}: ${c.name} ${c.size} skipped (a smaller size took over ${SLOW_MS} ms per call)`;
        console.log(note);
        notes.push(note);
        continue;
      }
      const { run, dispose } = c.setup(backend);
      const t0 = performance.now();
      run(); // first call: compiles the kernels, and tells whether the case is slow here
      const first = performance.now() - t0;
      // Multi-second calls: one more call instead of a tinybench run (the first includes compiles).
      let ms: number;
      if (first > LONG_MS) {
        const t1 = performance.now();
        run();
        ms = Math.min(first, performance.now() - t1) / (c.perCall ?? 1);
      } else {
        ms = (await median(run, first > 1000)) / (c.perCall ?? 1);
      }
      dispose();
      if (first > SLOW_MS) tooSlow.add(c.name);
      const note = c.name === 'matmul' ? `${((2 * c.size ** 3) / (ms * 1e6)).toFixed(2)} GFLOP/s` : undefined;
      results.push({ case: c.name, size: c.size, impl, medianMs: ms, ...(note ? { note } : {}) });
      console.log(`${c.name} ${c.size} ${impl} ${ms.toFixed(3)} ms${note ? ` (${note})` : ''} (first call ${first.toFixed(0)} ms)`);
    }
    await close();
  }
  const peers = readPeers();
  for (const p of peers) {
    for (const r of results.filter((x) => x.case === p.case && x.size === p.size)) {
      console.log(`ratio ${p.case} ${p.size}: ${r.impl} ${r.medianMs.toFixed(3)} ms / ${p.impl} ${p.medianMs.toFixed(3)} ms = ${(r.medianMs / p.medianMs).toFixed(1)}x slower`);
    }
  }
  const fusion = ['softmax-rows', 'silu-mul'].map((c) => {
    const lines = results
      .filter((r) => r.case === c)
      .map((r) => {
        const before = results.find((u) => u.case === `${c}-unfused` && u.impl === r.impl && u.size === r.size);
        return before ? `${r.impl} ${before.medianMs.toFixed(3)} -> ${r.medianMs.toFixed(3)} ms (${(before.medianMs / r.medianMs).toFixed(2)}x)` : '';
      })
      .filter((s) => s !== '');
    return `Fusion (composed -> fused, same backend): ${lines.join('; ')}.`;
  });
  const sections: Record<string, string> = {
    'softmax-rows': fusion[0],
    'silu-mul': fusion[1],
    'launch-overhead': `Milliseconds per call of a 1-element add (mean over ${LAUNCHES} calls per sample); for gpu.js backends this is the worker round trip plus one kernel launch.`,
  };
  if (notes.length > 0) sections.matmul = `Notes from the last \`npm run bench:gpu\`: ${notes.join('; ')}.`;
  // A run with an implementation suffix (bench/device.sh) is another machine: its rows carry that machine
  // and its sections sit beside this machine's instead of replacing them.
  const suffix = process.env.CALM_BENCH_IMPL_SUFFIX ?? '';
  if (suffix !== '') {
    const keyed = Object.fromEntries(Object.entries(sections).map(([k, v]) => [`${k}@${suffix}`, v]));
    saveResults([...results, ...peers], keyed, `${describeMachine()}; ${gpuNames.join(', ') || 'no GPU adapter'}`);
  } else {
    saveResults([...results, ...peers], sections);
  }
  console.log('wrote bench/RESULTS.md and bench/results.json');
}

await main();
