/**
 * `npm run bench:train`: one training step (forward, backward, Adam update) of a small Transformer LM in
 * calm-ts and in TensorFlow.js (tfjs-backend-cpu, tfjs-backend-wasm), in the same process.
 *
 * The model: 2 pre-norm decoder layers (RMSNorm, causal 4-head attention with RoPE, SwiGLU with hidden
 * width 344 ≈ 2.7·d as in CALM.md §10.1), d = 128, final RMSNorm, untied head, vocabulary 256, batch 16 x 64
 * tokens (size 1024 = tokens per step). calm-ts takes an AdamW step (weight decay on matrices); TensorFlow.js
 * has no AdamW, so it takes a plain Adam step with the same betas (the difference is a few element-wise ops).
 * On wasm the gradient of gather is missing, so the embedding there is a one-hot matmul; linear layers are
 * plain 2-D matmuls on the flattened [B·T, d] activations in both peers.
 */
import { register } from 'node:module';
import { Bench } from 'tinybench';
import { AdamW } from '../src/nn/optim.js';
import { TransformerLM } from '../src/nn/transformer-lm.js';
import { Rng } from '../src/tensor/random.js';
import { saveResults, type BenchRow } from './report.js';
import { tf, usePeer, type PeerName } from './peers.js';

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

const rng = new Rng(7);
const blocks = new Int32Array(BATCH * (SEQ + 1));
for (let i = 0; i < blocks.length; i++) blocks[i] = rng.int(VOCAB);

/** calm-ts: the library's TransformerLM and AdamW. */
function calmStep(): () => void {
  const model = new TransformerLM({ vocabSize: VOCAB, dim: DIM, nLayers: LAYERS, nHeads: HEADS, ffnHidden: FFN }, { rng: new Rng(1) });
  const optimizer = new AdamW(model.namedParameters(), { lr: LR, betas: [0.9, 0.95], weightDecay: 0.1 });
  return () => {
    const loss = model.loss(blocks, BATCH);
    loss.backward();
    optimizer.step();
    optimizer.zeroGrad();
  };
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

  const rmsNorm = (x: tf.Tensor2D, w: tf.Tensor): tf.Tensor2D => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-6))), w);
  const heads = (x: tf.Tensor2D): tf.Tensor4D => tf.transpose(tf.reshape(x, [BATCH, SEQ, HEADS, HEAD_DIM]), [0, 2, 1, 3]);
  const rope = (x: tf.Tensor4D): tf.Tensor4D => {
    const [x1, x2] = tf.split(x, 2, -1);
    return tf.concat([tf.sub(tf.mul(x1, cos), tf.mul(x2, sin)), tf.add(tf.mul(x2, cos), tf.mul(x1, sin))], -1) as tf.Tensor4D;
  };
  const lossFn = (): tf.Scalar => {
    let h: tf.Tensor2D = peer === 'tfjs-wasm' ? tf.matMul(oneHotIds, embed) : (tf.gather(embed, ids) as tf.Tensor2D); // [N, d]
    for (const l of layers) {
      const x = rmsNorm(h, l.attnNorm);
      const q = rope(heads(tf.matMul(x, l.wq)));
      const k = rope(heads(tf.matMul(x, l.wk)));
      const v = heads(tf.matMul(x, l.wv));
      const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(HEAD_DIM)), causal); // [B, H, T, T]
      const attn = tf.matMul(tf.softmax(scores), v); // [B, H, T, hd]
      h = tf.add(h, tf.matMul(tf.reshape(tf.transpose(attn, [0, 2, 1, 3]), [TOKENS, DIM]), l.wo));
      const y = rmsNorm(h, l.mlpNorm);
      const gate = tf.matMul(y, l.wGate);
      h = tf.add(h, tf.matMul(tf.mul(tf.mul(gate, tf.sigmoid(gate)), tf.matMul(y, l.wUp)), l.wDown));
    }
    const logits = tf.matMul(rmsNorm(h, finalNorm), head); // [N, V]
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
  const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const want = (impl: string): boolean => only.length === 0 || only.includes(impl);
  const rows: BenchRow[] = [];
  const tokensNote = (ms: number): string => `${Math.round((TOKENS / ms) * 1000)} tokens/s`;
  if (want('calm-ts-cpu')) {
    const ms = await median(calmStep());
    rows.push({ case: 'train-step', size: TOKENS, impl: 'calm-ts-cpu', medianMs: ms, note: tokensNote(ms) });
    console.log(`train-step calm-ts-cpu ${ms.toFixed(1)} ms (${tokensNote(ms)})`);
  }
  if (want('tfjs-cpu') || want('tfjs-wasm')) await registerTfjsGradients();
  for (const peer of ['tfjs-cpu', 'tfjs-wasm'] as PeerName[]) {
    if (!want(peer)) continue;
    await usePeer(peer);
    const ms = await median(tfjsStep(peer));
    rows.push({ case: 'train-step', size: TOKENS, impl: peer, medianMs: ms, note: tokensNote(ms) });
    console.log(`train-step ${peer} ${ms.toFixed(1)} ms (${tokensNote(ms)})`);
  }
  saveResults(rows, {
    'train-step':
      'One optimiser step (forward, backward, Adam) of a 2-layer pre-norm Transformer LM: d = 128, 4 heads, RoPE, SwiGLU 344, ' +
      'vocabulary 256, batch 16 x 64 tokens (size = tokens per step). tfjs-wasm embeds by one-hot matmul (its gather has no gradient).',
  });
  console.log('wrote bench/RESULTS.md and bench/results.json');
}

await main();
