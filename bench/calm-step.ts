/**
 * One CALM training step at the demo's configuration (`calm train --model calm` defaults as the demo
 * runs them: d 64, 2 layers, batch 16 blocks of 17 chunks, K 4, latent 128, N 4 samples, M 16
 * targets), against a frozen autoencoder with its initial weights (the step's cost does not depend
 * on the AE's values). Forward, energy loss, backward and the AdamW update, as the trainer does them.
 *
 * `node dist/bench/calm-step.js [steps] [--profile]` prints milliseconds per step and tokens/s; `calmStepRunner`
 * is reused by bench/train-step.ts and the thread-count determinism test.
 */
import { Autoencoder, type AutoencoderConfig } from '../src/calm/autoencoder.js';
import { CalmModel } from '../src/calm/calm-model.js';
import { createCalmTask } from '../src/calm/tasks.js';
import { calmRunConfig } from '../src/calm/runs/calm-run.js';
import { specs } from '../src/cli/commands/train-calm.js';
import { parseArgs } from '../src/cli/args.js';
import { AdamW } from '../src/nn/optim.js';
import { memoryScope } from '../src/tensor/memory.js';
import { Rng } from '../src/tensor/random.js';
import { profile } from '../src/tensor/profile.js';

export const CALM_BATCH = 16;
export const CALM_CHUNKS = 17;

/** A closure running one training step; returns the loss value. `tokens` per step. */
export function calmStepRunner(seed = 1, trainLength = 200_000): { step: () => number; tokens: number; model: CalmModel } {
  // The demo's autoencoder (calm train-ae defaults): d_ae 128, SwiGLU 320, l = 128, K = 4.
  const aeConfig: AutoencoderConfig = { vocabSize: 260, K: 4, hidden: 128, intermediate: 320, latent: 128, encoderLayers: 2, decoderLayers: 2 };
  const autoencoder = new Autoencoder(aeConfig, { rng: new Rng(seed) });
  const o = parseArgs('calm train --model calm', specs, ['--batch', String(CALM_BATCH), '--chunks', String(CALM_CHUNKS), '--autoencoder', 'x']).options;
  const config = calmRunConfig(o, aeConfig, 'x');
  const model = new CalmModel(config.calm, { rng: new Rng(seed) });
  const tokenRng = new Rng(seed + 7);
  const train = new Int32Array(trainLength);
  for (let i = 0; i < train.length; i++) train[i] = tokenRng.int(256);
  const task = createCalmTask({
    model, autoencoder, trainTokens: train, validTokens: train.subarray(0, 4096), blockChunks: CALM_CHUNKS,
    batchSize: CALM_BATCH, targetSamples: config.data.targetSamples, seed: seed + 1, validBlocks: 4, brierBlocks: 4,
  });
  const optimizer = new AdamW(model.namedParameters(), { lr: 1e-3, betas: [0.9, 0.95], weightDecay: 0.1 });
  let tokens = 0;
  const step = (): number =>
    memoryScope(() => {
      const out = task.trainStep(0);
      tokens = out.tokens;
      out.loss.backward();
      optimizer.step();
      optimizer.zeroGrad();
      return out.loss.item();
    });
  return { step, get tokens() { return tokens; }, model } as { step: () => number; tokens: number; model: CalmModel };
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/.*\/dist\//, 'dist/'));
if (isMain) {
  // The step count is the first argument that is not a flag (`--profile 20` and `20 --profile` both work).
  const counts = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const steps = counts.length > 0 ? Number(counts[0]) : 10;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`calm-step: expected a positive step count, got '${counts[0]}'`);
  const r = calmStepRunner();
  r.step(); r.step(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    r.step();
    times.push(performance.now() - t0);
  }
  if (process.argv.includes('--profile')) {
    const { report } = profile(() => { for (let i = 0; i < steps; i++) r.step(); });
    console.log(report.table(30));
  }
  times.sort((a, b) => a - b);
  const med = times[Math.floor(times.length / 2)];
  console.log(`calm step: median ${med.toFixed(1)} ms over ${steps} steps, ${r.tokens} tokens/step, ${(r.tokens / (med / 1000)).toFixed(0)} tokens/s`);
}
