/**
 * CALM end to end on the gpujs-webgpu backend (Mesa llvmpipe in CI): a tiny autoencoder and a tiny
 * CALM model are built on that backend, trained for a few steps each through the shared trainer,
 * and then generate a few chunks. Checks: finite losses, the parameters stay on the backend and the
 * CALM parameters move, generated ids are valid, and liveBuffers() grows by at most one array per
 * parameter per step (the trainer frees each step's temporaries).
 *
 * Skipped, with the reason printed, when gpujs-webgpu cannot be created here; CI sets
 * CALM_REQUIRE_BACKENDS=gpujs-webgpu so that this fails instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Autoencoder, defaultRegularisation, type AutoencoderConfig } from '../src/calm/autoencoder.js';
import { CalmModel, type CalmConfig } from '../src/calm/calm-model.js';
import { generateCalm } from '../src/calm/generate.js';
import { createAutoencoderTask, createCalmTask } from '../src/calm/tasks.js';
import { readMetrics } from '../src/nn/io/metrics.js';
import { train, type TrainOptions, type TrainTask } from '../src/nn/train/trainer.js';
import type { Backend } from '../src/tensor/backend.js';
import { setBackend } from '../src/tensor/device.js';
import { Rng } from '../src/tensor/random.js';
import { openTestBackends } from './support/backends.js';

const VOCAB = 12;
const PAD = 0;
const BOS = 1;
const EOS = 2;
const MASK = 3;
const K = 4;
const LATENT = 8;
const BLOCK_CHUNKS = 8;
const BATCH = 2;
const AE_STEPS = 4;
const CALM_STEPS = 5;

/**
 * Documents of ids 4..11 that follow a simple rule (each next id is the previous one plus 1 or 2,
 * wrapping), so there is something to learn.
 */
function documents(rng: Rng, count: number, length: number): number[][] {
  const docs: number[][] = [];
  for (let d = 0; d < count; d++) {
    const doc: number[] = [];
    let x = 4 + rng.int(8);
    for (let i = 0; i < length; i++) {
      doc.push(x);
      x = 4 + ((x - 4 + 1 + rng.int(2)) % 8);
    }
    docs.push(doc);
  }
  return docs;
}

/** AE stream (CALM.md §2.8): each document ends in EOS and is padded with PAD to a multiple of K. */
function aeStream(docs: number[][]): Int32Array {
  const ids: number[] = [];
  for (const doc of docs) {
    ids.push(...doc, EOS);
    while (ids.length % K !== 0) ids.push(PAD);
  }
  return Int32Array.from(ids);
}

/** LM stream (CALM.md §3.3): BOS-prefixed documents concatenated. */
function lmStream(docs: number[][]): Int32Array {
  return Int32Array.from(docs.flatMap((doc) => [BOS, ...doc]));
}

/** Wraps a task so each step records liveBuffers() as it starts. */
function recordLive(task: TrainTask, be: Backend, live: number[]): TrainTask {
  return {
    name: task.name,
    model: task.model,
    trainStep: (step) => {
      live.push(be.liveBuffers());
      return task.trainStep(step);
    },
    evaluate: () => task.evaluate(),
    state: () => task.state(),
    loadState: (s) => task.loadState(s),
  };
}

function options(outDir: string, steps: number, lr: number): TrainOptions {
  return {
    outDir,
    steps,
    lr,
    warmupSteps: 0,
    schedule: 'constant',
    weightDecay: 0,
    clip: 1,
    evalEvery: steps,
    checkpointEvery: steps,
    resume: false,
    config: { test: 'calm-gpu' },
    quiet: true,
  };
}

/** All parameter values of a module, flattened on the host. */
function snapshot(model: { parameters(): { toTypedArray(): ArrayLike<number> }[] }): Float64Array[] {
  return model.parameters().map((p) => Float64Array.from(p.toTypedArray()));
}

const backends = await openTestBackends();
const webgpu = backends.find((b) => b.name === 'gpujs-webgpu');
const skip = webgpu === undefined ? 'gpujs-webgpu is not in the test backend list' : webgpu.skip;

test('CALM trains and generates on gpujs-webgpu', { skip: skip ?? false }, async (t) => {
  const be = webgpu?.backend as Backend;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calm-gpu-'));
  const previous = setBackend(be); // train() is async, so withBackend cannot cover it
  try {
    const rng = new Rng(2025);
    const docs = documents(rng, 24, 30);
    const aeConfig: AutoencoderConfig = { vocabSize: VOCAB, K, hidden: 16, intermediate: 32, latent: LATENT, encoderLayers: 2, decoderLayers: 2 };
    const calmConfig: CalmConfig = { vocabSize: VOCAB, d: 16, ffn: 32, layers: 1, heads: 2, K, latent: LATENT, headBlocks: 1, noiseDim: 8, nSamples: 2 };
    const ae = new Autoencoder(aeConfig, { rng: new Rng(1) });
    const model = new CalmModel(calmConfig, { rng: new Rng(2) });
    for (const p of [...ae.parameters(), ...model.parameters()]) assert.equal(p.data.backend, be, 'parameters live on gpujs-webgpu');

    const aeLive: number[] = [];
    const aeTask = createAutoencoderTask({
      model: ae,
      trainTokens: aeStream(docs.slice(0, 20)),
      validTokens: aeStream(docs.slice(20)),
      batchSize: 8,
      regularisation: defaultRegularisation(MASK),
      seed: 3,
      validChunks: 8,
    });
    const t0 = performance.now();
    const aeRun = await train(recordLive(aeTask, be, aeLive), options(path.join(dir, 'ae'), AE_STEPS, 3e-3));
    const aeMs = performance.now() - t0;
    assert.equal(aeRun.steps, AE_STEPS);
    const aeLosses = readMetrics(path.join(dir, 'ae', 'metrics.jsonl')).map((r) => r.loss as number);
    assert.equal(aeLosses.length, AE_STEPS);
    assert.ok(aeLosses.every(Number.isFinite), `AE losses finite: ${aeLosses.join(', ')}`);

    const before = snapshot(model);
    const calmLive: number[] = [];
    const calmTask = createCalmTask({
      model,
      autoencoder: ae,
      trainTokens: lmStream(docs.slice(0, 20)),
      validTokens: lmStream(docs.slice(20)),
      blockChunks: BLOCK_CHUNKS,
      batchSize: BATCH,
      targetSamples: 4,
      seed: 4,
      validBlocks: 1,
    });
    const t1 = performance.now();
    const calmRun = await train(recordLive(calmTask, be, calmLive), options(path.join(dir, 'calm'), CALM_STEPS, 1e-2));
    const calmMs = performance.now() - t1;
    assert.equal(calmRun.steps, CALM_STEPS);
    const calmLosses = readMetrics(path.join(dir, 'calm', 'metrics.jsonl')).map((r) => r.loss as number);
    assert.ok(calmLosses.every(Number.isFinite), `CALM losses finite: ${calmLosses.join(', ')}`);
    const after = snapshot(model);
    const names = model.namedParameters().map(([name]) => name);
    const still = names.filter((_, i) => before[i].every((v, j) => v === after[i][j]));
    // The energy head's output layer starts at zero (CALM.md §3.4), so for the first steps the
    // backbone's gradients are ~1e-13: their updates move small weights but fall below float32
    // resolution for norm gains that start at 1. Everything else must have moved.
    assert.deepEqual(still.filter((n) => !/Norm\.weight$/.test(n)), [], 'CALM parameters (other than norm gains) that did not change');
    assert.ok(!still.includes('head.outLinear.weight'), 'the head output layer moved');
    for (const p of model.parameters()) assert.equal(p.data.backend, be, 'updated parameters stay on gpujs-webgpu');

    const t2 = performance.now();
    const gen = generateCalm(model, ae, [BOS, 5, 6], { maxNewTokens: 3 * K, rng: new Rng(5), eos: EOS, pad: PAD });
    const genMs = performance.now() - t2;
    assert.ok(gen.tokens.length > 0 && gen.tokens.length <= 3 * K, `generated ${gen.tokens.length} tokens`);
    for (const id of gen.tokens) assert.ok(Number.isInteger(id) && id >= 0 && id < VOCAB, `generated id ${id} in [0, ${VOCAB})`);

    // Each step frees its temporaries (hundreds of buffers) in the trainer's memoryScope, and the
    // optimizer frees the parameter arrays it replaces; this bound is loose (gpu-memory.test.ts checks
    // exact flatness over 300 steps). The first step also builds lasting caches (rope tables), so
    // growth is measured from step 2 on.
    const growth = (live: number[]): number[] => live.slice(2).map((n, i) => n - live[i + 1]);
    const aeParams = ae.parameters().length;
    const calmParams = model.parameters().length;
    for (const g of growth(aeLive)) assert.ok(g <= aeParams, `AE step grew liveBuffers by ${g} (> ${aeParams} parameters): ${aeLive.join(' ')}`);
    for (const g of growth(calmLive)) assert.ok(g <= calmParams, `CALM step grew liveBuffers by ${g} (> ${calmParams} parameters): ${calmLive.join(' ')}`);

    t.diagnostic(`AE ${aeMs.toFixed(0)} ms, CALM ${calmMs.toFixed(0)} ms, generate ${genMs.toFixed(0)} ms`);
    t.diagnostic(`AE losses ${aeLosses.map((l) => l.toFixed(3)).join(' ')}; CALM losses ${calmLosses.map((l) => l.toFixed(3)).join(' ')}`);
    t.diagnostic(`liveBuffers at each AE step ${aeLive.join(' ')}; at each CALM step ${calmLive.join(' ')}`);
  } finally {
    setBackend(previous);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
