import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { noGrad } from '../src/autograd/grad-mode.js';
import { Tensor } from '../src/autograd/tensor.js';
import { ByteTokenizer } from '../src/nn/data/tokenizer.js';
import { readMetrics } from '../src/nn/io/metrics.js';
import { createLmTask, encodeLmSplits, fixedBlocks, unigramCrossEntropy } from '../src/nn/train/lm-task.js';
import { train, type TrainOptions, type TrainTask } from '../src/nn/train/trainer.js';
import { generate, sampleNext, TransformerLM } from '../src/nn/transformer-lm.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';

function tmpDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `calm-train-${name}-`));
}

/** A pseudo-random token stream with structure (token i+1 usually follows i), vocabulary 16. */
function syntheticTokens(n: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  const out = new Int32Array(n);
  for (let i = 1; i < n; i++) out[i] = rng.uniform() < 0.8 ? (out[i - 1] + 1) % 16 : rng.int(16);
  return out;
}

function tinyTask(seed: number): TrainTask {
  const model = new TransformerLM({ vocabSize: 16, dim: 16, nLayers: 1, nHeads: 2, ffnHidden: 24 }, { rng: new Rng(seed) });
  return createLmTask({ model, trainTokens: syntheticTokens(600, 1), validTokens: syntheticTokens(200, 2), seqLen: 8, batchSize: 4, seed: 5, validBlocks: 6 });
}

function options(outDir: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    outDir, steps: 6, lr: 1e-2, warmupSteps: 2, schedule: 'cosine', weightDecay: 0.1, clip: 1,
    evalEvery: 2, checkpointEvery: 100, resume: false, config: { test: true }, quiet: true, ...extra,
  };
}

function params(task: TrainTask): [string, Float32Array][] {
  return task.model.namedParameters().map(([n, p]) => [n, p.toTypedArray() as Float32Array]);
}

describe('train', () => {
  test('a resumed run is bit-identical to an uninterrupted one', async () => {
    const straight = tinyTask(3);
    const dirA = tmpDir('a');
    await train(straight, options(dirA));

    const dirB = tmpDir('b');
    const first = await train(tinyTask(3), options(dirB, { stopAfter: 3 }));
    assert.equal(first.steps, 3);
    assert.equal(first.interrupted, true);
    const resumed = tinyTask(99); // different init: everything must come from the checkpoint
    const second = await train(resumed, options(dirB, { resume: true }));
    assert.equal(second.steps, 6);
    assert.equal(second.interrupted, false);

    const a = params(straight);
    const b = params(resumed);
    assert.deepEqual(b.map(([n]) => n), a.map(([n]) => n));
    for (let i = 0; i < a.length; i++) assert.deepEqual(b[i][1], a[i][1], `parameter ${a[i][0]} differs`);
    // The metrics log of the resumed run continues the first one, with the same numbers.
    const ma = readMetrics(path.join(dirA, 'metrics.jsonl'));
    const mb = readMetrics(path.join(dirB, 'metrics.jsonl'));
    assert.deepEqual(mb.map((r) => r.step), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(mb.map((r) => r.loss), ma.map((r) => r.loss));
    assert.deepEqual(mb.map((r) => r.validLoss), ma.map((r) => r.validLoss));
  });

  test('writes metrics, loss plot, config and checkpoint; lr follows warmup', async () => {
    const dir = tmpDir('files');
    const summary = await train(tinyTask(4), options(dir, { checkpointEvery: 4 }));
    const records = readMetrics(path.join(dir, 'metrics.jsonl'));
    assert.equal(records.length, 6);
    for (const r of records) for (const key of ['step', 'loss', 'lr', 'gradNorm', 'tokensPerSec']) assert.equal(typeof r[key], 'number', `${key} in ${JSON.stringify(r)}`);
    // Evaluation every 2 steps (and at the end).
    assert.deepEqual(records.filter((r) => typeof r.validLoss === 'number').map((r) => r.step), [2, 4, 6]);
    assert.equal(records[0].lr, 1e-2 / 2); // warmup: lr * 1 / 2
    assert.equal(records[1].lr, 1e-2);
    assert.equal(summary.finalValid.validLoss, records[5].validLoss);
    const svg = fs.readFileSync(path.join(dir, 'loss.svg'), 'utf8');
    assert.match(svg, /^<svg[\s\S]*valid[\s\S]*<\/svg>\s*$/);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')), { test: true });
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'checkpoint', 'state.json'), 'utf8')) as { extra: { step: number } };
    assert.equal(state.extra.step, 6);
    assert.ok(fs.existsSync(path.join(dir, 'checkpoint', 'model.safetensors')));
    assert.ok(fs.existsSync(path.join(dir, 'checkpoint', 'optimizer.safetensors')));
    assert.ok(!fs.existsSync(path.join(dir, 'checkpoint.tmp')) && !fs.existsSync(path.join(dir, 'checkpoint.old')));
  });

  test('SIGINT during training saves a checkpoint and stops; the handler is removed afterwards', async () => {
    const inner = tinyTask(5);
    const listenersBefore = process.listenerCount('SIGINT');
    const task: TrainTask = {
      ...inner,
      name: inner.name,
      model: inner.model,
      trainStep(step) {
        if (step === 1) process.emit('SIGINT');
        return inner.trainStep(step);
      },
    };
    const dir = tmpDir('sigint');
    const summary = await train(task, options(dir));
    assert.equal(summary.interrupted, true);
    assert.equal(summary.steps, 2);
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'checkpoint', 'state.json'), 'utf8')) as { extra: { step: number } };
    assert.equal(state.extra.step, 2);
    assert.equal(process.listenerCount('SIGINT'), listenersBefore);
  });

  test('the tiny baseline learns a small text: held-out loss falls well below its start and the unigram baseline', async () => {
    const sentences = ['the cat sat on the mat. ', 'a dog ran to the park. ', 'she read the letter twice. ', 'it was a fine day. '];
    const rng = new Rng(8);
    const doc = (n: number): { text: string } => ({ text: Array.from({ length: n }, () => sentences[rng.int(sentences.length)]).join('') });
    const tokenizer = new ByteTokenizer();
    const tokens = encodeLmSplits({ train: [doc(60), doc(60)], valid: [doc(20)] }, tokenizer);
    const model = new TransformerLM({ vocabSize: tokenizer.vocabSize, dim: 32, nLayers: 1, nHeads: 2, ffnHidden: 64 }, { rng: new Rng(1) });
    const task = createLmTask({ model, trainTokens: tokens.train, validTokens: tokens.valid, seqLen: 24, batchSize: 8, seed: 2, validBlocks: 8 });
    const before = noGrad(() => task.evaluate()).validLoss;
    const summary = await train(task, options(tmpDir('learn'), { steps: 30, lr: 1e-2, warmupSteps: 3, evalEvery: 30, minLr: 1e-3 }));
    const unigram = unigramCrossEntropy(tokens.train, tokens.valid, tokenizer.vocabSize);
    const after = summary.finalValid.validLoss;
    assert.ok(before > 5, `initial loss ${before} should be near ln(260) = 5.56`);
    assert.ok(after < unigram - 0.3, `valid loss ${after} vs unigram ${unigram}`);
  });
});

describe('lm data helpers', () => {
  test('unigramCrossEntropy matches a hand computation (add-one smoothing)', () => {
    // counts with +1: [3, 2, 1] over total 6.
    const h = unigramCrossEntropy(Int32Array.of(0, 0, 1), Int32Array.of(1, 2), 3);
    assert.ok(Math.abs(h - -(Math.log(2 / 6) + Math.log(1 / 6)) / 2) < 1e-12);
  });

  test('fixedBlocks takes evenly spaced blocks whose targets do not overlap', () => {
    const tokens = Int32Array.from({ length: 20 }, (_, i) => i);
    // Blocks of 4 start at multiples of 3: 0, 3, ..., 15 (6 available); 3 evenly spaced are 0, 2, 4 -> starts 0, 6, 12.
    const { blocks, count } = fixedBlocks(tokens, 4, 3);
    assert.equal(count, 3);
    assert.deepEqual([...blocks], [0, 1, 2, 3, 6, 7, 8, 9, 12, 13, 14, 15]);
    assert.throws(() => fixedBlocks(tokens.subarray(0, 3), 4, 1), /fixedBlocks/);
  });
});

describe('generation', () => {
  const model = new TransformerLM({ vocabSize: 12, dim: 16, nLayers: 2, nHeads: 2, ffnHidden: 24 }, { rng: new Rng(11) });
  const prompt = [3, 1, 4];

  /** Greedy decoding by full recomputation (no KV cache): an independent reference. */
  function greedyReference(n: number): number[] {
    const seq = [...prompt];
    return noGrad(() => {
      for (let i = 0; i < n; i++) {
        const logits = model.forward(new Tensor(NDArray.fromData(Int32Array.from(seq), [1, seq.length], 'int32'))).toTypedArray();
        const last = logits.subarray((seq.length - 1) * 12, seq.length * 12);
        let best = 0;
        for (let j = 1; j < 12; j++) if (last[j] > last[best]) best = j;
        seq.push(best);
      }
      return seq.slice(prompt.length);
    });
  }

  test('top-k = 1 and temperature 0 equal greedy decoding by full recomputation', () => {
    const reference = greedyReference(10);
    assert.deepEqual(generate(model, prompt, { maxTokens: 10, topK: 1, temperature: 1, rng: new Rng(1) }), reference);
    assert.deepEqual(generate(model, prompt, { maxTokens: 10, temperature: 0, rng: new Rng(2) }), reference);
  });

  test('sampling is deterministic for a seed and respects maxTokens', () => {
    const a = generate(model, prompt, { maxTokens: 25, temperature: 1.5, rng: new Rng(7) });
    const b = generate(model, prompt, { maxTokens: 25, temperature: 1.5, rng: new Rng(7) });
    const c = generate(model, prompt, { maxTokens: 25, temperature: 1.5, rng: new Rng(8) });
    assert.equal(a.length, 25);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    assert.deepEqual(generate(model, prompt, { maxTokens: 0, rng: new Rng(7) }), []);
  });

  test('sampleNext: top-k never leaves the k largest logits; banned ids are never drawn', () => {
    const logits = [0.5, 2, -1, 1.9, 0.1, 1.8];
    const rng = new Rng(3);
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) seen.add(sampleNext(logits, rng, { topK: 3, temperature: 2 }));
    assert.deepEqual([...seen].sort(), [1, 3, 5]);
    for (let i = 0; i < 100; i++) assert.notEqual(sampleNext(logits, rng, { topK: 2, banned: [1] }), 1);
    assert.equal(sampleNext(logits, rng, { temperature: 0, banned: [1] }), 3);
    assert.throws(() => sampleNext(logits, rng, { temperature: -1 }), /sampleNext: temperature/);
  });
});
