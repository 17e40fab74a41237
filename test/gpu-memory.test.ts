/**
 * Flat device memory: 300 training steps of a small Transformer on each backend, with liveBuffers()
 * recorded as every step starts. After step 1 (which builds lasting caches such as the RoPE tables) the
 * count must not move: the trainer frees each step's temporaries, and the optimiser frees the parameter
 * arrays it replaces (before, each step leaked one device buffer per parameter until a GC).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { createLmTask } from '../src/nn/train/lm-task.js';
import { train, type TrainTask } from '../src/nn/train/trainer.js';
import { TransformerLM } from '../src/nn/transformer-lm.js';
import type { Backend } from '../src/tensor/backend.js';
import { setBackend } from '../src/tensor/device.js';
import { Rng } from '../src/tensor/random.js';
import { openTestBackends } from './support/backends.js';

const STEPS = 300;

function tinyLmTask(): TrainTask {
  const model = new TransformerLM({ vocabSize: 12, dim: 8, nLayers: 1, nHeads: 2, ffnHidden: 8 }, { rng: new Rng(1) });
  const tokens = Int32Array.from({ length: 240 }, (_, i) => (i * 5 + (i >> 3)) % 12);
  return createLmTask({ model, trainTokens: tokens, validTokens: tokens.slice(0, 60), seqLen: 4, batchSize: 2, seed: 3, validBlocks: 2 });
}

/** Records liveBuffers() as each step starts. */
function recordLive(task: TrainTask, be: Backend, live: number[]): TrainTask {
  return { ...task, name: task.name, model: task.model, trainStep: (step) => (live.push(be.liveBuffers()), task.trainStep(step)) };
}

const backends = await openTestBackends();
for (const b of backends) {
  if (b.name === 'gpujs-webasm') continue; // same worker and kernels as gpujs-cpu; the issue asks for cpu and webgpu
  test(`liveBuffers stay flat over ${STEPS} training steps on ${b.name}`, { skip: b.skip ?? false }, async (t) => {
    const be = b.backend as Backend;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `calm-memory-${b.name}-`));
    const previous = setBackend(be);
    try {
      const live: number[] = [];
      const started = performance.now();
      await train(recordLive(tinyLmTask(), be, live), {
        outDir: dir, steps: STEPS, lr: 1e-2, warmupSteps: 0, schedule: 'constant', weightDecay: 0.1, clip: 1,
        evalEvery: 100, checkpointEvery: 100, resume: false, config: { test: 'gpu-memory' }, quiet: true,
      });
      assert.equal(live.length, STEPS);
      const after1 = live[1];
      const moved = live.map((n, i) => [i + 1, n] as const).filter(([step, n]) => step > 1 && n !== after1);
      assert.deepEqual(moved.slice(0, 5), [], `liveBuffers moved after step 1 (${after1}): first changes [step, count] ${JSON.stringify(moved.slice(0, 5))}`);
      t.diagnostic(`${b.name}: liveBuffers ${live[0]} before step 1, ${after1} from step 2 to ${STEPS}; ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      setBackend(previous);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
