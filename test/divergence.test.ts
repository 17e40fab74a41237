/**
 * Divergence is never silent: the trainer stops (or, when asked, skips and says so, up to a bound) at a
 * non-finite loss or gradient norm, refuses to checkpoint non-finite weights, and refuses to resume from
 * non-finite optimiser moments; a NaN model never scores a perfect energy loss or a robustness report.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { Tensor } from '../src/autograd/tensor.js';
import { Autoencoder } from '../src/calm/autoencoder.js';
import { energyLoss } from '../src/calm/energy-loss.js';
import { autoencoderRobustness } from '../src/calm/tasks.js';
import { loadCheckpoint, readCheckpointState, type JsonValue } from '../src/nn/checkpoint.js';
import { loadSafetensors, saveSafetensors } from '../src/nn/io/safetensors.js';
import { readMetrics } from '../src/nn/io/metrics.js';
import { Linear } from '../src/nn/linear.js';
import { assignData } from '../src/nn/module.js';
import { createLmTask } from '../src/nn/train/lm-task.js';
import { DivergenceError, findCheckpoint, train, type TrainOptions, type TrainTask } from '../src/nn/train/trainer.js';
import { TransformerLM } from '../src/nn/transformer-lm.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';

function tmpDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `calm-diverge-${name}-`));
}

/**
 * A 3x2 linear regression whose loss is multiplied by `poison(step)` (NaN from some step on, say); `spare`
 * is a parameter the loss does not use, so it can be set to NaN without touching the gradients.
 */
function task(poison: (step: number) => number = () => 1, spoil?: (step: number, spare: Tensor) => void): TrainTask {
  class Model extends Linear {
    readonly spare = new Tensor(NDArray.fromData(new Float32Array(2), [2], 'float32'), true);
  }
  const model = new Model(3, 2, { rng: new Rng(1) });
  const rng = new Rng(2);
  return {
    name: 'tiny',
    model,
    trainStep(step) {
      spoil?.(step, model.spare);
      const x = Tensor.randn([4, 3], rng);
      const y = model.forward(x).sub(x.sum(-1, true));
      return { loss: y.mul(y).mean().mul(poison(step)), tokens: 4 };
    },
    evaluate: () => ({ validLoss: 0 }),
    state: () => ({ rng: rng.getState() }) as unknown as JsonValue,
    loadState: (s) => rng.setState((s as unknown as { rng: ReturnType<Rng['getState']> }).rng),
  };
}

function options(outDir: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    outDir, steps: 6, lr: 1e-2, warmupSteps: 0, schedule: 'constant', weightDecay: 0, clip: 1,
    evalEvery: 1000, checkpointEvery: 2, resume: false, config: { test: 'divergence' }, quiet: true, ...extra,
  };
}

describe('divergence policy', () => {
  test('by default the first non-finite loss stops the run, naming the step, and the last good checkpoint stays', async () => {
    const dir = tmpDir('stop');
    await assert.rejects(
      train(task((s) => (s >= 2 ? NaN : 1)), options(dir)),
      (err: Error) => err instanceof DivergenceError && /step 3: loss is NaN/.test(err.message) && /last good checkpoint \(step 2\)/.test(err.message),
    );
    assert.equal((readCheckpointState(path.join(dir, 'checkpoint')).extra as { step: number }).step, 2);
    const records = readMetrics(path.join(dir, 'metrics.jsonl'));
    assert.deepEqual(records.map((r) => r.step), [1, 2, 3]);
    assert.equal(records[2].skipped, true);
  });

  test('a huge learning rate on a real model stops with an error instead of skipping silently', async () => {
    const dir = tmpDir('lr');
    const model = new TransformerLM({ vocabSize: 16, dim: 16, nLayers: 1, nHeads: 2, ffnHidden: 24 }, { rng: new Rng(3) });
    const tokens = Int32Array.from({ length: 400 }, (_, i) => (i * 7) % 16);
    const lm = createLmTask({ model, trainTokens: tokens, validTokens: tokens.slice(0, 100), seqLen: 8, batchSize: 4, seed: 5, validBlocks: 2 });
    await assert.rejects(train(lm, options(dir, { lr: 1e30, steps: 30, checkpointEvery: 100 })), (err: Error) => err instanceof DivergenceError && /step \d+: (loss|gradient norm) is (NaN|Infinity)/.test(err.message));
    assert.equal(findCheckpoint(dir), null, 'nothing diverged was saved');
  });

  test('--on-nonfinite skip skips each bad update and stops after maxSkips in a row', async () => {
    const some = await train(task((s) => (s === 2 || s === 3 ? Infinity : 1)), options(tmpDir('skip'), { onNonFinite: 'skip', maxSkips: 3 }));
    assert.equal(some.steps, 6);
    await assert.rejects(
      train(task((s) => (s >= 1 ? NaN : 1)), options(tmpDir('skip-many'), { onNonFinite: 'skip', maxSkips: 3 })),
      (err: Error) => err instanceof DivergenceError && /step 4: loss is NaN.*after 3 skipped updates in a row/.test(err.message),
    );
  });

  test('non-finite weights are never checkpointed; the error names the parameter', async () => {
    const dir = tmpDir('weights');
    const spoil = (step: number, spare: Tensor): void => {
      if (step === 2) assignData(spare, NDArray.fromData(Float32Array.of(0, NaN), [2], 'float32'));
    };
    await assert.rejects(train(task(undefined, spoil), options(dir)), (err: Error) => err instanceof DivergenceError && /step 4: parameter 'spare' holds NaN at index 1/.test(err.message));
    assert.equal((readCheckpointState(path.join(dir, 'checkpoint')).extra as { step: number }).step, 2);
  });

  test('resuming from NaN or negative second moments is refused; NaN weights are refused on load unless allowed', async () => {
    const dir = tmpDir('moments');
    await train(task(), options(dir, { steps: 2 }));
    const file = path.join(dir, 'checkpoint', 'optimizer.safetensors');
    const original = loadSafetensors(file);
    for (const [bad, pattern] of [[-1, /v of weight holds -1 at index 0/], [NaN, /v of weight holds NaN at index 0/]] as const) {
      const tensors = structuredClone(original.tensors);
      tensors['v.weight'].data[0] = bad;
      saveSafetensors(file, tensors, original.metadata);
      await assert.rejects(train(task(), options(dir, { resume: true })), (err: Error) => pattern.test(err.message) && err.message.includes(file));
    }
    saveSafetensors(file, original.tensors, original.metadata);
    const modelFile = path.join(dir, 'checkpoint', 'model.safetensors');
    const weights = loadSafetensors(modelFile);
    weights.tensors.weight.data[3] = Infinity;
    saveSafetensors(modelFile, weights.tensors, weights.metadata);
    assert.throws(() => loadCheckpoint(path.join(dir, 'checkpoint')), /tensor 'weight' holds Infinity at index 3/);
    assert.equal(loadCheckpoint(path.join(dir, 'checkpoint'), { allowNonFinite: true }).model.weight.data[3], Infinity);
  });
});

describe('a NaN is never a perfect score', () => {
  test('energy loss of NaN samples is NaN, not 0', () => {
    const samples = new Tensor(NDArray.fromData(new Float32Array(2 * 3 * 4).fill(NaN), [2, 3, 4], 'float32'));
    const targets = Tensor.randn([2, 5, 4], new Rng(1));
    assert.ok(Number.isNaN(energyLoss(samples, targets).item()));
    // Zero distances still have zero gradient (the convention the mask exists for).
    const same = Tensor.zeros([1, 2, 3]).requireGrad();
    energyLoss(same, Tensor.zeros([1, 1, 3])).backward();
    assert.deepEqual([...(same.grad as Tensor).toTypedArray()], [0, 0, 0, 0, 0, 0]);
  });

  test('the autoencoder robustness report refuses a diverged encoder', () => {
    const ae = new Autoencoder({ vocabSize: 12, K: 4, hidden: 8, intermediate: 20, latent: 5, encoderLayers: 2, decoderLayers: 2 }, { rng: new Rng(1) });
    const [name, p] = ae.namedParameters()[0];
    const nan = new Float32Array(p.size).fill(NaN);
    ae.loadStateDict({ ...Object.fromEntries(ae.namedParameters()), [name]: { dtype: 'float32', shape: [...p.shape], data: nan } });
    const ids = Int32Array.from({ length: 16 }, (_, i) => 4 + (i % 8));
    assert.throws(() => autoencoderRobustness(ae, ids, { rng: new Rng(2), klFloor: 0.5 }), /autoencoderRobustness: .*non-finite.*diverged/);
  });
});
