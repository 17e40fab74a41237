/**
 * `node dist/bench/matmul-shapes.js [rounds]`: the float32 matmuls of one bench:train step (d 128,
 * SwiGLU 344, 1024 tokens, vocabulary 256; forward products, the input gradient's g·Wᵀ and the weight
 * gradient's xᵀ·g) and the 512³ product, calm-ts with 2 and 1 threads against tfjs-wasm, interleaved
 * round by round. Prints, per shape, the median wall-clock milliseconds and also the median CPU
 * milliseconds of the process (process.cpuUsage), which a loaded machine disturbs much less: for the
 * single-threaded contenders (calm-ts 1 thread, tfjs-wasm) the CPU-time ratio measures the kernels
 * themselves. tfjs-wasm gets the transposed rows through matMul's transpose flags, which it runs outside
 * XNNPACK (bench:train writes them with explicit transposes instead), so those rows flatter calm-ts.
 * Writes nothing.
 */
import { NDArray } from '../src/tensor/ndarray.js';
import { setMatmulThreads } from '../src/tensor/ops/matmul.js';
import { Rng } from '../src/tensor/random.js';
import { leakChecked, readBack, readBackCalm, tf, usePeer } from './peers.js';
import { medianOf } from './report.js';

/** m x k times k x n; `a` / `b` transposed: that operand is a transposed view of a stored [k, m] / [n, k] matrix. */
interface Shape { readonly label: string; readonly m: number; readonly k: number; readonly n: number; readonly aT?: boolean; readonly bT?: boolean }

const SHAPES: readonly Shape[] = [
  { label: 'x·W (q, k, v, o)', m: 1024, k: 128, n: 128 },
  { label: 'x·W (gate, up)', m: 1024, k: 128, n: 344 },
  { label: 'h·W (down)', m: 1024, k: 344, n: 128 },
  { label: 'g·Wᵀ (dX of q, k, v, o)', m: 1024, k: 128, n: 128, bT: true },
  { label: 'xᵀ·g (dW of q, k, v, o)', m: 128, k: 1024, n: 128, aT: true },
  { label: 'xᵀ·g (dW of gate, up)', m: 128, k: 1024, n: 344, aT: true },
  { label: 'q·kᵀ (scores, per head)', m: 64, k: 32, n: 64, bT: true },
  { label: 'square 512', m: 512, k: 512, n: 512 },
];

const rounds = Number(process.argv[2] ?? 15);
const rng = new Rng(3);
const data = (size: number): Float32Array => rng.uniformArray(size, -1, 1, 'float32') as Float32Array;

await usePeer('tfjs-wasm');
console.log(`rounds ${rounds}; load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')}`);
for (const s of SHAPES) {
  const a = data(s.m * s.k);
  const b = data(s.k * s.n);
  const ours = (threads: number): (() => void) => {
    const x = s.aT ? NDArray.fromData(a, [s.k, s.m]).transpose() : NDArray.fromData(a, [s.m, s.k]);
    const y = s.bT ? NDArray.fromData(b, [s.n, s.k]).transpose() : NDArray.fromData(b, [s.k, s.n]);
    return () => {
      setMatmulThreads(threads);
      readBackCalm(() => x.matmul(y));
    };
  };
  const tx = s.aT ? tf.tensor2d(a, [s.k, s.m]) : tf.tensor2d(a, [s.m, s.k]);
  const ty = s.bT ? tf.tensor2d(b, [s.n, s.k]) : tf.tensor2d(b, [s.k, s.n]);
  const contenders: [string, () => void][] = [
    ['calm-ts-cpu', ours(2)],
    ['calm-ts-cpu-1t', ours(1)],
    ['tfjs-wasm', () => readBack(() => tf.matMul(tx, ty, s.aT, s.bT))],
  ];
  const wall = contenders.map(() => [] as number[]);
  const cpu = contenders.map(() => [] as number[]);
  const reps = Math.max(1, Math.round(2e6 / (s.m * s.k * s.n))); // calls per timing, so tiny products are measurable
  for (const [, f] of contenders) for (let i = 0; i < 3 * reps; i++) f();
  await leakChecked(`matmul-shapes ${s.label}`, () => {
    for (let r = 0; r < rounds; r++) {
      contenders.forEach(([, f], i) => {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        for (let j = 0; j < reps; j++) f();
        wall[i].push((performance.now() - t0) / reps);
        const c = process.cpuUsage(c0);
        cpu[i].push((c.user + c.system) / 1000 / reps);
      });
    }
  });
  const peerWall = medianOf(wall[2]);
  const peerCpu = medianOf(cpu[2]);
  const line = contenders.map(([name], i) => {
    const w = medianOf(wall[i]);
    const c = medianOf(cpu[i]);
    return `${name} ${w.toFixed(3)} ms (tfjs/this ${(peerWall / w).toFixed(2)}x), cpu ${c.toFixed(3)} ms (${(peerCpu / c).toFixed(2)}x)`;
  });
  const gflops = (2 * s.m * s.k * s.n) / medianOf(wall[0]) / 1e6;
  console.log(`${s.label} ${s.m}x${s.k}x${s.n}: ${line.join('; ')}; calm-ts-cpu ${gflops.toFixed(1)} GFLOP/s`);
}
process.exit(0); // the pool's workers are unref'd, but tfjs-wasm's runtime may hold the loop
