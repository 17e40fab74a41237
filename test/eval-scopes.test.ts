/**
 * Evaluations free what they compute as they go: the autoencoder's robustness report and the CALM
 * evaluations (energy loss, BrierLM over the batched and the per-block samplers) run each batch in a
 * memory scope, so after a call the CPU backend holds exactly the buffers it held before. Outside
 * scopes, a long evaluation's dead intermediates outgrew the CPU heap's share for unscoped arrays and
 * went to fresh memory, whose first-touch page faults made a 30-step `calm train-ae` 9.4 instead of
 * 5.3 s on this project's VM.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/tensor/random.js';
import { getBackend } from '../src/tensor/device.js';
import { Autoencoder } from '../src/calm/autoencoder.js';
import { CalmModel } from '../src/calm/calm-model.js';
import { autoencoderRobustness } from '../src/calm/tasks.js';
import { calmSampler, evaluateCalmBrier, evaluateCalmEnergy, type CalmSampler } from '../src/calm/evaluate.js';

const V = 12;

function ids(n: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: n }, () => rng.int(V));
}

/** Runs `fn` and checks that the backend's live buffers are back where they were. */
function leavesNoBuffers(label: string, fn: () => void): void {
  const be = getBackend();
  fn(); // a first call may build caches that outlive it (tables kept on purpose)
  const before = be.liveBuffers();
  fn();
  assert.equal(be.liveBuffers(), before, `${label}: live buffers ${before} before, ${be.liveBuffers()} after`);
}

describe('evaluations release their intermediates', () => {
  const K = 4;
  const rng = new Rng(7);
  const ae = new Autoencoder({ vocabSize: V, K, hidden: 8, intermediate: 16, latent: 16, encoderLayers: 2, decoderLayers: 2 }, { rng });
  const model = new CalmModel({ vocabSize: V, d: 16, ffn: 32, layers: 1, heads: 2, K, latent: 16, headBlocks: 1, noiseDim: 4, nSamples: 2 }, { rng });
  ae.eval();
  model.eval();
  const blockSize = 8 * K;

  test('autoencoderRobustness, in batches', () => {
    leavesNoBuffers('autoencoderRobustness', () => void autoencoderRobustness(ae, ids(40 * K, 1), { rng: new Rng(2), klFloor: 0.5, batchChunks: 16 }));
  });

  test('evaluateCalmEnergy', () => {
    leavesNoBuffers('evaluateCalmEnergy', () => void evaluateCalmEnergy(model, ae, ids(3 * blockSize, 3), blockSize, { targetSamples: 4, rng: new Rng(4) }));
  });

  test('evaluateCalmBrier, batched sampler and per-block sampler', () => {
    const sampler = calmSampler(model, ae, new Rng(5));
    assert.ok(sampler.teacherForcedBatch !== undefined, 'the CALM sampler has a batched path');
    leavesNoBuffers('evaluateCalmBrier (batched)', () => void evaluateCalmBrier(sampler, ids(3 * blockSize, 6), blockSize, { rng: new Rng(6) }));
    const perBlock: CalmSampler = { K: sampler.K, begin: (block) => sampler.begin(block) };
    leavesNoBuffers('evaluateCalmBrier (per block)', () => void evaluateCalmBrier(perBlock, ids(3 * blockSize, 7), blockSize, { rng: new Rng(8) }));
  });
});
