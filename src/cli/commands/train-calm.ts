/**
 * `calm train --model calm --autoencoder DIR`: trains the CALM language model (CALM.md §3, §4) against a
 * frozen autoencoder trained by `calm train-ae`. The run itself is src/calm/runs/calm-run.ts; `calm train`
 * hands `--model calm` here (see calm.ts).
 */
import { CALM_RUN_DEFAULTS as D, prepareCalmRun, trainCalm } from '../../calm/runs/calm-run.js';
import { LIMITS } from '../../nn/train/train-config.js';
import { defineCommand } from '../command.js';
import { backboneOptions, runControl, runFolderOptions, selectBackend, stepsOption, trainingOptions } from '../options.js';

export const { specs, help, run } = defineCommand({
  name: 'calm train --model calm',
  summary: 'Train the CALM language model (input compression, Llama backbone over chunks, energy head; CALM.md §3-4) against a frozen autoencoder from calm train-ae, on the embedded Austen corpus.',
  options: {
    autoencoder: { type: 'string', description: 'run folder of a trained autoencoder (written by calm train-ae); required unless --resume' },
    tokenizer: { type: 'string', choices: ['byte', 'bpe'], description: 'optional check: the tokenizer always comes from the autoencoder run (its tokenizer.json for BPE); a different value is refused' },
    ...runFolderOptions('runs/calm', 'checkpoint/, autoencoder/, metrics.jsonl, loss.svg, config.json'),
    steps: stepsOption(D.steps),
    batch: { type: 'number', integer: true, min: 1, max: LIMITS.batch, default: D.batch, description: 'blocks per batch' },
    chunks: { type: 'number', integer: true, min: 2, max: LIMITS.seq, default: D.chunks, description: 'chunks T per block (T-1 targets, CALM.md §3.3)' },
    ...backboneOptions(D, { dim: 'model width d (backbone and head)', ffn: 'SwiGLU hidden width (0: about 2.7 x dim, multiple of 8)' }),
    headBlocks: { type: 'number', integer: true, min: 1, max: LIMITS.layers, default: D.headBlocks, description: 'residual blocks B of the energy head' },
    headDim: { type: 'number', integer: true, min: 0, max: LIMITS.dim, default: D.headDim, description: 'width of the energy head (0: the model width d)' },
    noiseDim: { type: 'number', integer: true, min: 1, max: LIMITS.latent, default: D.noiseDim, description: 'uniform noise dimension of the energy head' },
    init: { type: 'string', default: D.init, choices: ['fan-in', 'width', 'reference'], description: 'Linear weight init: fan-in = N(0, 1/fan_in), width = N(0, (0.02·sqrt(1024/d))²), reference = N(0, 0.02²)' },
    energyExponent: { type: 'number', min: 0.1, max: 1.9, default: D.energyExponent, description: 'exponent alpha of the training energy score (CALM.md §4.1; reference 1; evaluation always scores 1)' },
    samples: { type: 'number', integer: true, min: 2, max: LIMITS.samples, default: D.samples, description: 'head samples N per position (reference 8)' },
    targetSamples: { type: 'number', integer: true, min: 1, max: LIMITS.targetSamples, default: D.targetSamples, description: 'posterior target samples M per position (reference 100)' },
    targets: { type: 'string', default: D.targets, choices: ['posterior', 'mean'], description: 'train against M posterior samples (reference) or the posterior mean mu' },
    ...trainingOptions(D, 'seed of the initial weights, data order and noise', {
      validBlocks: 'fixed held-out blocks per evaluation of the energy loss and reference levels',
      brierBlocks: 'fixed held-out blocks per evaluation of BrierLM',
    }),
  },
  async run(o) {
    await selectBackend(o.backend);
    const { config, autoencoder, tokenizer } = prepareCalmRun(o, o.autoencoder, o.out);
    const { summary } = await trainCalm(config, autoencoder, o.out, { ...runControl(o), tokenizer });
    const v = summary.finalValid;
    process.stdout.write(`calm: ${summary.steps} steps in ${summary.seconds.toFixed(1)} s; held-out energy loss ${v.validLoss?.toFixed(4) ?? 'n/a'}, BrierLM ${v.brierLM?.toFixed(2) ?? 'n/a'}; run folder ${o.out}\n`);
  },
});
