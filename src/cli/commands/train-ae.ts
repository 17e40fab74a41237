/**
 * `calm train-ae`: trains the CALM autoencoder (CALM.md §2) and writes its held-out robustness report
 * (§10.2) as robustness.json. The run itself is src/calm/runs/autoencoder-run.ts; the defaults reach the
 * §10.2 targets in a few minutes on two cores.
 */
import { AUTOENCODER_RUN_DEFAULTS as D, autoencoderRunConfig, formatRobustness, trainAutoencoder } from '../../calm/runs/autoencoder-run.js';
import { resumedRunConfig } from '../../calm/runs/run-config.js';
import { LIMITS } from '../../nn/train/train-config.js';
import { defineCommand } from '../command.js';
import { runControl, runFolderOptions, selectBackend, stepsOption, trainingOptions } from '../options.js';

export const { specs, help, run } = defineCommand({
  name: 'calm train-ae',
  summary: 'Train the CALM autoencoder (per-chunk VAE with KL clipping and token/latent dropout, CALM.md §2) on the embedded Austen corpus (byte tokens, or --tokenizer bpe), then write its held-out robustness report (robustness.json).',
  options: {
    ...runFolderOptions('runs/autoencoder', 'checkpoint/, metrics.jsonl, loss.svg, config.json, robustness.json'),
    steps: stepsOption(D.steps),
    batch: { type: 'number', integer: true, min: 1, max: LIMITS.batch * 16, default: D.batch, description: 'chunks per batch' },
    k: { type: 'number', integer: true, min: 1, max: LIMITS.K, default: D.k, description: 'tokens per chunk K' },
    hidden: { type: 'number', integer: true, min: 2, max: LIMITS.dim, default: D.hidden, description: 'AE width d_ae (SwiGLU width is 2.5 x hidden)' },
    latent: { type: 'number', integer: true, min: 1, max: LIMITS.latent, default: D.latent, description: 'latent size l' },
    layers: { type: 'number', integer: true, min: 2, max: LIMITS.layers, default: D.layers, description: 'AELayers per side (even: half before, half after the compress/expand step)' },
    beta: { type: 'number', min: 0, default: D.beta, description: 'KL weight beta (CALM.md §2.7)' },
    klFloor: { type: 'number', min: 0, default: D.klFloor, description: 'per-dimension KL floor lambda' },
    tokenDropout: { type: 'number', min: 0, max: 0.99, default: D.tokenDropout, description: 'input token dropout (to the MASK id)' },
    latentDropout: { type: 'number', min: 0, max: 0.99, default: D.latentDropout, description: 'inverted dropout on the sampled latent' },
    tokenizer: { type: 'string', choices: ['byte', 'bpe'], default: D.tokenizer, description: 'tokens: bytes, or a BPE learned from the training split and saved as tokenizer.json (a CALM trained against this AE uses it)' },
    merges: { type: 'number', integer: true, min: 1, max: LIMITS.vocab - 260, default: D.merges, description: 'BPE merges (with --tokenizer bpe)' },
    ...trainingOptions(D, 'seed of the initial weights, data order and noise', {
      validChunks: 'held-out chunks per periodic evaluation',
      reportChunks: 'held-out chunks scored by the final robustness report',
    }),
  },
  async run(o) {
    await selectBackend(o.backend);
    const config = (o.resume ? resumedRunConfig(o.out, 'autoencoder', o.steps) : null) ?? autoencoderRunConfig(o);
    const { report, seconds } = await trainAutoencoder(config, o.out, runControl(o));
    process.stdout.write(`${formatRobustness(report).join('\n')}\n`);
    process.stdout.write(`trained in ${seconds.toFixed(1)} s; run folder ${o.out} (robustness.json, checkpoint/, metrics.jsonl, loss.svg)\n`);
  },
});
