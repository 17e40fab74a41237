/**
 * `npm run bench:train`: one training step (forward, backward, Adam update) of a small Transformer LM in
 * calm-ts and in TensorFlow.js (tfjs-backend-cpu, tfjs-backend-wasm), in the same process.
 *
 * The model: 2 pre-norm decoder layers (RMSNorm, causal 4-head attention with RoPE, SwiGLU with hidden
 * width 344 ≈ 2.7·d as in CALM.md §10.1), d = 128, final RMSNorm, untied head, vocabulary 256, batch 16 x 64
 * tokens (size 1024 = tokens per step). calm-ts takes an AdamW step (weight decay on matrices); TensorFlow.js
 * has no AdamW, so it takes a plain Adam step with the same betas (the difference is a few element-wise ops).
 * On wasm the gradient of gather is missing, so the embedding there is a one-hot matmul; linear layers are
 * plain 2-D matmuls on the flattened [B·T, d] activations in both peers, and their gradients are written
 * with explicit transposes (tf.customGrad), because tfjs-wasm runs transposed matmuls outside XNNPACK:
 * TensorFlow.js's fast formulation.
 *
 * calm-ts runs with 2 threads (`calm-ts-cpu`) and 1 (`calm-ts-cpu-1t`). A second case, `calm-train-step`,
 * is one CALM training step at the demo's configuration (bench/calm-step.ts) in tokens/s; with
 * `CALM_BASELINE=DIR` (a built checkout of an older commit holding bench/calm-step.ts) the same step of
 * that build is timed in the same process as `calm-ts-<label>` (CALM_BASELINE_LABEL, default `baseline`).
 * `--profile` prints the op profiler's table for five calm-ts steps instead (nothing is written).
 * Each row's note also gives the process's peak resident memory so far (the implementations share one process).
 */
import { register } from 'node:module';
import path from 'node:path';
import { Bench } from 'tinybench';
import { AdamW } from '../src/nn/optim.js';
import { TransformerLM } from '../src/nn/transformer-lm.js';
import { memoryScope } from '../src/tensor/memory.js';
import { Rng } from '../src/tensor/random.js';
import { setMatmulThreads } from '../src/tensor/ops/matmul.js';
import { calmStepRunner } from './calm-step.js';
import { medianOf, saveResults, type BenchRow } from './report.js';
import { leakChecked, tf, usePeer, type PeerName } from './peers.js';

/**
 * tfjs-core's Node bundle ships without gradient functions (the `@tensorflow/tfjs` umbrella package registers
 * them). Its ESM `register_all_gradients` uses extensionless relative imports, which Node resolves only with
 * this small hook; the gradients land in tfjs's global registry, which the Node bundle reads.
 */
async function registerTfjsGradients(): Promise<void> {
  const hook = `export async function resolve(specifier, context, next) {
    if (/^\\.\\.?\\//.test(specifier) && !/\\.[cm]?js$/.test(specifier) && (context.parentURL ?? '').includes('/@tensorflow/tfjs-core/dist/')) {
      try { return await next(specifier + '.js', context); } catch { return next(specifier + '/index.js', context); }
    }
    return next(specifier, context);
  }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
}

const DIM = 128;
const LAYERS = 2;
const HEADS = 4;
const HEAD_DIM = DIM / HEADS;
const FFN = 344;
const SEQ = 64;
const BATCH = 16;
const VOCAB = 256;
const TOKENS = SEQ * BATCH;
const LR = 1e-3;
/** Untimed steps per implementation before the timed rounds, and the timed rounds (one step each, interleaved). */
const WARMUP_STEPS = 3;
const ROUNDS = 7;

const rng = new Rng(7);
const blocks = new Int32Array(BATCH * (SEQ + 1));
for (let i = 0; i < blocks.length; i++) blocks[i] = rng.int(VOCAB);

/** calm-ts: the library's TransformerLM and AdamW. */
function calmStep(): () => void {
  const model = new TransformerLM({ vocabSize: VOCAB, dim: DIM, nLayers: LAYERS, nHeads: HEADS, ffnHidden: FFN }, { rng: new Rng(1) });
  const optimizer = new AdamW(model.namedParameters(), { lr: LR, betas: [0.9, 0.95], weightDecay: 0.1 });
  // In a memory scope, as the trainer runs a step (and as tfjs's minimize runs in a tidy): the
  // step's arrays are released when it ends, and the next step reuses them (src/tensor/recycle.ts).
  return () =>
    memoryScope(() => {
      const loss = model.loss(blocks, BATCH);
      loss.backward();
      optimizer.step();
      optimizer.zeroGrad();
    });
}

/** The same model written with TensorFlow.js ops. */
function tfjsStep(peer: PeerName): () => void {
  const init = (shape: number[], std = 0.02): tf.Variable => tf.variable(tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1), 0, std), shape));
  const ones = (n: number): tf.Variable => tf.variable(tf.ones([n]));
  const embed = init([VOCAB, DIM]);
  const layers = Array.from({ length: LAYERS }, () => ({
    attnNorm: ones(DIM), wq: init([DIM, DIM]), wk: init([DIM, DIM]), wv: init([DIM, DIM]), wo: init([DIM, DIM]),
    mlpNorm: ones(DIM), wGate: init([DIM, FFN]), wUp: init([DIM, FFN]), wDown: init([FFN, DIM]),
  }));
  const finalNorm = ones(DIM);
  const head = init([DIM, VOCAB]);
  const vars: tf.Variable[] = [embed, ...layers.flatMap((l) => Object.values(l)), finalNorm, head];

  // Constants: RoPE tables [T, hd/2], causal bias [T, T], inputs and targets.
  const half = HEAD_DIM / 2;
  const cosData = new Float32Array(SEQ * half);
  const sinData = new Float32Array(SEQ * half);
  for (let t = 0; t < SEQ; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t / Math.pow(10000, (2 * i) / HEAD_DIM);
      cosData[t * half + i] = Math.cos(angle);
      sinData[t * half + i] = Math.sin(angle);
    }
  }
  const cos = tf.tensor2d(cosData, [SEQ, half]);
  const sin = tf.tensor2d(sinData, [SEQ, half]);
  const maskData = new Float32Array(SEQ * SEQ);
  for (let i = 0; i < SEQ; i++) for (let j = i + 1; j < SEQ; j++) maskData[i * SEQ + j] = -1e9;
  const causal = tf.tensor2d(maskData, [SEQ, SEQ]);
  const inputs = new Int32Array(TOKENS);
  const targets = new Int32Array(TOKENS);
  for (let b = 0; b < BATCH; b++) {
    inputs.set(blocks.subarray(b * (SEQ + 1), b * (SEQ + 1) + SEQ), b * SEQ);
    targets.set(blocks.subarray(b * (SEQ + 1) + 1, (b + 1) * (SEQ + 1)), b * SEQ);
  }
  const ids = tf.tensor1d(inputs, 'int32');
  const oneHotIds = tf.cast(tf.oneHot(ids, VOCAB), 'float32');
  const targetOneHot = tf.cast(tf.oneHot(tf.tensor1d(targets, 'int32'), VOCAB), 'float32');

  // y = x W with dX = dY Wᵀ and dW = Xᵀ dY through explicit transposes: all three stay plain 2-D matmuls.
  const linearGrad = ((x: tf.Tensor2D, w: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([x, w]);
    return {
      value: tf.matMul(x, w),
      gradFunc: (dy: tf.Tensor2D, [sx, sw]: tf.Tensor2D[]) => [tf.matMul(dy, tf.transpose(sw)), tf.matMul(tf.transpose(sx), dy)],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0];
  const linear = tf.customGrad(linearGrad) as unknown as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;
  const rmsNorm = (x: tf.Tensor2D, w: tf.Tensor): tf.Tensor2D => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-6))), w);
  const heads = (x: tf.Tensor2D): tf.Tensor4D => tf.transpose(tf.reshape(x, [BATCH, SEQ, HEADS, HEAD_DIM]), [0, 2, 1, 3]);
  const rope = (x: tf.Tensor4D): tf.Tensor4D => {
    const [x1, x2] = tf.split(x, 2, -1);
    return tf.concat([tf.sub(tf.mul(x1, cos), tf.mul(x2, sin)), tf.add(tf.mul(x2, cos), tf.mul(x1, sin))], -1) as tf.Tensor4D;
  };
  const lossFn = (): tf.Scalar => {
    let h: tf.Tensor2D = peer === 'tfjs-wasm' ? linear(oneHotIds as tf.Tensor2D, embed as tf.Tensor2D) : (tf.gather(embed, ids) as tf.Tensor2D); // [N, d]
    for (const l of layers) {
      const x = rmsNorm(h, l.attnNorm);
      const q = rope(heads(linear(x, l.wq as tf.Tensor2D)));
      const k = rope(heads(linear(x, l.wk as tf.Tensor2D)));
      const v = heads(linear(x, l.wv as tf.Tensor2D));
      const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(HEAD_DIM)), causal); // [B, H, T, T]
      const attn = tf.matMul(tf.softmax(scores), v); // [B, H, T, hd]
      h = tf.add(h, linear(tf.reshape(tf.transpose(attn, [0, 2, 1, 3]), [TOKENS, DIM]), l.wo as tf.Tensor2D));
      const y = rmsNorm(h, l.mlpNorm);
      const gate = linear(y, l.wGate as tf.Tensor2D);
      h = tf.add(h, linear(tf.mul(tf.mul(gate, tf.sigmoid(gate)), linear(y, l.wUp as tf.Tensor2D)), l.wDown as tf.Tensor2D));
    }
    const logits = linear(rmsNorm(h, finalNorm), head as tf.Tensor2D); // [N, V]
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), targetOneHot), -1))) as tf.Scalar;
  };
  const optimizer = tf.train.adam(LR, 0.9, 0.95, 1e-8);
  return () => {
    const loss = optimizer.minimize(lossFn, true, vars);
    loss?.dataSync();
    loss?.dispose();
  };
}

async function median(fn: () => void): Promise<number> {
  const bench = new Bench({ time: 0, iterations: 3, warmupIterations: 1 });
  bench.add('train-step', fn);
  await bench.run();
  const result = bench.tasks[0].result as { latency?: { p50?: number }; error?: unknown } | undefined;
  if (result?.error !== undefined) throw result.error;
  const p50 = result?.latency?.p50;
  if (p50 === undefined) throw new Error('bench:train: tinybench returned no latency');
  return p50;
}

async function main(): Promise<void> {
  if (process.argv.includes('--profile')) {
    // The op profiler's table for calm-ts's step (2 threads, or CALM_THREADS), after a warm-up; no peers, no results written.
    const { profile } = await import('../src/tensor/profile.js');
    const step = calmStep();
    step();
    step();
    const { report } = profile(() => { for (let i = 0; i < 5; i++) step(); });
    console.log(`bench:train profile, 5 steps of calm-ts:\n${report.table(40)}`);
    return;
  }
  const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const want = (impl: string): boolean => only.length === 0 || only.includes(impl);
  const rows: BenchRow[] = [];
  const rss = (): string => `process peak RSS so far ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`;
  const tokensNote = (ms: number, tokens = TOKENS): string => `${Math.round((tokens / ms) * 1000)} tokens/s, ${rss()}`;
  if (want('tfjs-cpu') || want('tfjs-wasm')) await registerTfjsGradients();
  // calm-ts with 2 and 1 threads and tfjs-wasm, interleaved round by round, so a change in the
  // machine's load hits each alike (tfjs-cpu, ~100x slower, runs on its own below).
  const contenders: { impl: string; threads?: number; step: () => void; times: number[] }[] = [];
  for (const [impl, threads] of [['calm-ts-cpu', 2], ['calm-ts-cpu-1t', 1]] as const) {
    if (!want(impl)) continue;
    setMatmulThreads(threads);
    contenders.push({ impl, threads, step: calmStep(), times: [] });
  }
  if (want('tfjs-wasm')) {
    await usePeer('tfjs-wasm');
    contenders.push({ impl: 'tfjs-wasm', step: tfjsStep('tfjs-wasm'), times: [] });
  }
  const timed = (c: (typeof contenders)[number]): number => {
    if (c.threads !== undefined) setMatmulThreads(c.threads);
    const t0 = performance.now();
    c.step();
    return performance.now() - t0;
  };
  // Three warm-up steps each: the first steps run slower (JIT tiers, first-touch page faults, the
  // wasm modules' memories growing) for every implementation, and a training run lives in the steady state.
  for (let i = 0; i < WARMUP_STEPS; i++) for (const c of contenders) timed(c);
  const rounds = (): void => {
    for (let round = 0; round < ROUNDS; round++) for (const c of contenders) c.times.push(timed(c));
  };
  if (want('tfjs-wasm')) await leakChecked('train-step tfjs-wasm', rounds);
  else rounds();
  for (const c of contenders) {
    const ms = medianOf(c.times);
    rows.push({ case: 'train-step', size: TOKENS, impl: c.impl, medianMs: ms, note: tokensNote(ms) });
    console.log(`train-step ${c.impl} ${ms.toFixed(1)} ms (${tokensNote(ms)})`);
  }
  // One CALM training step at the demo's configuration, this build (1 and 2 threads) and optionally an older one.
  if (want('calm')) {
    const runners: [string, number | undefined, () => { step: () => number; tokens: number }][] = [
      ['calm-ts-cpu', 2, () => calmStepRunner()],
      ['calm-ts-cpu-1t', 1, () => calmStepRunner()],
    ];
    const baseline = process.env.CALM_BASELINE;
    if (baseline !== undefined && baseline !== '') {
      const mod = (await import(path.resolve(baseline, 'dist/bench/calm-step.js'))) as { calmStepRunner: () => { step: () => number; tokens: number } };
      runners.push([`calm-ts-${process.env.CALM_BASELINE_LABEL ?? 'baseline'}`, undefined, mod.calmStepRunner]);
    }
    // Interleaved rounds, so a change in the machine's load hits every implementation alike.
    const built = runners.map(([impl, threads, make]) => ({ impl, threads, r: make(), times: [] as number[] }));
    const step = (b: (typeof built)[number]): number => {
      if (b.threads !== undefined) setMatmulThreads(b.threads);
      const t0 = performance.now();
      b.r.step();
      return performance.now() - t0;
    };
    for (let i = 0; i < WARMUP_STEPS; i++) for (const b of built) step(b);
    for (let round = 0; round < ROUNDS; round++) for (const b of built) b.times.push(step(b));
    for (const b of built) {
      const ms = medianOf(b.times);
      rows.push({ case: 'calm-train-step', size: b.r.tokens, impl: b.impl, medianMs: ms, note: tokensNote(ms, b.r.tokens) });
      console.log(`calm-train-step ${b.impl} ${ms.toFixed(1)} ms (${tokensNote(ms, b.r.tokens)})`);
    }
  }
  for (const peer of ['tfjs-cpu'] as PeerName[]) {
    if (!want(peer)) continue;
    await usePeer(peer);
    const ms = await median(tfjsStep(peer));
    rows.push({ case: 'train-step', size: TOKENS, impl: peer, medianMs: ms, note: tokensNote(ms) });
    console.log(`train-step ${peer} ${ms.toFixed(1)} ms (${tokensNote(ms)})`);
  }
  saveResults(rows, {
    'train-step':
      'One optimiser step (forward, backward, Adam) of a 2-layer pre-norm Transformer LM: d = 128, 4 heads, RoPE, SwiGLU 344, ' +
      'vocabulary 256, batch 16 x 64 tokens (size = tokens per step). tfjs-wasm embeds by one-hot matmul (its gather has no gradient). ' +
      'The TensorFlow.js peers are in their fast formulation: linear layers are plain 2-D matmuls whose gradients are written with explicit transposes. ' +
      `calm-ts (2 and 1 threads) and tfjs-wasm are timed interleaved, ${ROUNDS} rounds after ${WARMUP_STEPS} warm-up steps each; tfjs-cpu on its own.`,
    'calm-train-step':
      'One CALM training step (forward, energy loss, backward, AdamW) at the demo configuration: d 64, 2 layers, batch 16 blocks of 17 chunks, ' +
      'K 4, latent 128, N 4 samples, M 32 targets, frozen autoencoder (bench/calm-step.ts); size = tokens per step. The steps of the ' +
      'implementations are interleaved round by round.',
  });
  console.log('wrote bench/RESULTS.md and bench/results.json');
}

await main();
