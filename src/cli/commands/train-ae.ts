/**
 * `calm train-ae`: trains the CALM autoencoder (CALM.md §2) on the embedded corpus with the byte tokenizer,
 * then measures its robustness on the held-out split (§10.2) and saves it as robustness.json.
 * The defaults reach the §10.2 targets in a few minutes on two cores.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Autoencoder, defaultRegularisation, type AutoencoderConfig, type AutoencoderRegularisation } from '../../calm/autoencoder.js';
import { autoencoderRobustness, createAutoencoderTask, evenBlocks, type RobustnessReport } from '../../calm/tasks.js';
import { loadCheckpoint, type JsonValue } from '../../nn/checkpoint.js';
import { loadCorpus, splitCorpus } from '../../nn/data/corpus.js';
import { encodeDocuments } from '../../nn/data/loader.js';
import { ByteTokenizer } from '../../nn/data/tokenizer.js';
import { writeJsonAtomic } from '../../nn/io/atomic.js';
import { findCheckpoint, train, type TrainSummary } from '../../nn/train/trainer.js';
import { Rng } from '../../tensor/random.js';
import { useBackend } from '../../tensor/select.js';
import { formatHelp, parseArgs, UsageError, type ParsedOptions, optimiserSpecs } from '../args.js';
import { LIMITS, readRunConfig } from './run-config.js';

export const specs = {
  out: { type: 'string', default: 'runs/autoencoder', description: 'output folder (checkpoint/, metrics.jsonl, loss.svg, config.json, robustness.json)' },
  resume: { type: 'boolean', description: 'continue from OUT/checkpoint with its saved configuration' },
  backend: { type: 'string', default: 'cpu', choices: ['cpu', 'auto', 'gpujs-webgpu', 'gpujs-webasm', 'gpujs-cpu'], description: 'compute backend' },
  steps: { type: 'number', integer: true, min: 1, max: LIMITS.steps, default: 5000, description: 'optimiser steps' },
  batch: { type: 'number', integer: true, min: 1, max: LIMITS.batch * 16, default: 64, description: 'chunks per batch' },
  k: { type: 'number', integer: true, min: 1, max: LIMITS.K, default: 4, description: 'tokens per chunk K' },
  hidden: { type: 'number', integer: true, min: 2, max: LIMITS.dim, default: 128, description: 'AE width d_ae (SwiGLU width is 2.5 x hidden)' },
  latent: { type: 'number', integer: true, min: 1, max: LIMITS.latent, default: 128, description: 'latent size l' },
  layers: { type: 'number', integer: true, min: 2, max: LIMITS.layers, default: 2, description: 'AELayers per side (even: half before, half after the compress/expand step)' },
  beta: { type: 'number', min: 0, default: 1e-3, description: 'KL weight beta (CALM.md §2.7)' },
  klFloor: { type: 'number', min: 0, default: 0.5, description: 'per-dimension KL floor lambda' },
  tokenDropout: { type: 'number', min: 0, max: 0.99, default: 0.15, description: 'input token dropout (to the MASK id)' },
  latentDropout: { type: 'number', min: 0, max: 0.99, default: 0.15, description: 'inverted dropout on the sampled latent' },
  lr: { type: 'number', above: 0, default: 3e-3, description: 'peak learning rate' },
  minLr: { type: 'number', min: 0, default: 3e-4, description: 'final learning rate of the cosine schedule' },
  warmup: { type: 'number', integer: true, min: 0, max: LIMITS.steps, default: 100, description: 'linear warmup steps' },
  ...optimiserSpecs,
  evalEvery: { type: 'number', integer: true, min: 1, max: LIMITS.steps, default: 200, description: 'steps between held-out evaluations' },
  checkpointEvery: { type: 'number', integer: true, min: 1, max: LIMITS.steps, default: 200, description: 'steps between checkpoints' },
  validChunks: { type: 'number', integer: true, min: 1, max: LIMITS.blocks, default: 2048, description: 'held-out chunks per periodic evaluation' },
  reportChunks: { type: 'number', integer: true, min: 1, max: LIMITS.blocks, default: 8192, description: 'held-out chunks scored by the final robustness report' },
  validFraction: { type: 'number', min: 0.001, max: 0.5, default: 0.05, description: 'held-out share of each novel (whole trailing chapters)' },
  seed: { type: 'number', integer: true, min: 0, default: 1, description: 'seed of the initial weights, data order and noise' },
  quiet: { type: 'boolean', description: 'no progress bar' },
} as const;

export const help = formatHelp(
  'calm train-ae',
  'Train the CALM autoencoder (per-chunk VAE with KL clipping and token/latent dropout, CALM.md §2) on the embedded Austen corpus with byte tokens, then write its held-out robustness report (robustness.json).',
  specs,
);

/** What `calm train-ae` writes to config.json; `calm train --model calm --autoencoder DIR` reads it back. */
export interface AutoencoderRunConfig {
  model: 'autoencoder';
  version: 1;
  tokenizer: 'byte';
  autoencoder: AutoencoderConfig;
  regularisation: AutoencoderRegularisation;
  data: { batchSize: number; validFraction: number; validChunks: number; reportChunks: number; seed: number };
  train: { steps: number; lr: number; minLr: number; warmupSteps: number; schedule: 'cosine' | 'constant'; weightDecay: number; clip: number; evalEvery: number; checkpointEvery: number };
}

/** Reads an AE run folder: its configuration and the trained model (weights from its checkpoint). */
export function loadAutoencoderRun(dir: string): { config: AutoencoderRunConfig; model: Autoencoder } {
  const configPath = path.join(dir, 'config.json');
  if (!fs.existsSync(configPath)) throw new UsageError(`${configPath} not found: --autoencoder must name a run folder written by calm train-ae`);
  const config: AutoencoderRunConfig = readRunConfig(dir, 'autoencoder');
  const checkpoint = findCheckpoint(dir, { weightsOnly: true });
  if (checkpoint === null) throw new Error(`loadAutoencoderRun: no checkpoint in ${dir} (train it first)`);
  const model = new Autoencoder(config.autoencoder, { rng: new Rng(0) }); // weights are replaced by the checkpoint's
  loadCheckpoint(checkpoint, { model });
  model.eval();
  return { config, model };
}

/** The AE data streams of CALM.md §2.8: BOS + text + EOS, PAD to a multiple of K, per document. */
export function autoencoderTokens(validFraction: number, K: number): { train: Int32Array; valid: Int32Array } {
  const tokenizer = new ByteTokenizer();
  const split = splitCorpus(loadCorpus(), validFraction);
  const opts = { bos: true, eos: true, padToMultipleOf: K } as const;
  return { train: encodeDocuments(split.train, tokenizer, opts), valid: encodeDocuments(split.valid, tokenizer, opts) };
}

/** The run configuration from parsed `calm train-ae` options. */
export function autoencoderRunConfig(o: ParsedOptions<typeof specs>): AutoencoderRunConfig {
  if (o.layers % 2 !== 0) throw new UsageError(`calm train-ae: --layers must be even (half before, half after the compress step), got ${o.layers}`);
  const tokenizer = new ByteTokenizer();
  return {
    model: 'autoencoder',
    version: 1,
    tokenizer: 'byte',
    autoencoder: { vocabSize: tokenizer.vocabSize, K: o.k, hidden: o.hidden, intermediate: Math.round(2.5 * o.hidden), latent: o.latent, encoderLayers: o.layers, decoderLayers: o.layers },
    regularisation: { ...defaultRegularisation(tokenizer.mask), beta: o.beta, klFloor: o.klFloor, tokenDropout: o.tokenDropout, latentDropout: o.latentDropout },
    data: { batchSize: o.batch, validFraction: o.validFraction, validChunks: o.validChunks, reportChunks: o.reportChunks, seed: o.seed },
    train: {
      steps: o.steps, lr: o.lr, minLr: o.minLr, warmupSteps: o.warmup, schedule: o.schedule === 'constant' ? 'constant' : 'cosine',
      weightDecay: o.weightDecay, clip: o.clip, evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery,
    },
  };
}

/** Trains an AE into `outDir` and writes robustness.json; shared by `calm train-ae` and `calm demo`. */
export async function trainAutoencoder(
  config: AutoencoderRunConfig,
  outDir: string,
  options: { resume: boolean; quiet: boolean; log: (line: string) => void; onNonFinite?: 'stop' | 'skip' },
): Promise<{ summary: TrainSummary; report: RobustnessReport; model: Autoencoder; seconds: number }> {
  const started = performance.now();
  const { log } = options;
  const tokens = autoencoderTokens(config.data.validFraction, config.autoencoder.K);
  const model = new Autoencoder(config.autoencoder, { rng: new Rng(config.data.seed) });
  log(`autoencoder: ${model.numParameters().toLocaleString('en')} parameters (K ${config.autoencoder.K}, hidden ${config.autoencoder.hidden}, latent ${config.autoencoder.latent}), ${tokens.train.length.toLocaleString('en')} train / ${tokens.valid.length.toLocaleString('en')} held-out tokens`);
  const task = createAutoencoderTask({
    model, trainTokens: tokens.train, validTokens: tokens.valid, batchSize: config.data.batchSize,
    regularisation: config.regularisation, seed: config.data.seed + 1, validChunks: config.data.validChunks,
  });
  const t = config.train;
  const summary = await train(task, {
    outDir, steps: t.steps, lr: t.lr, minLr: t.minLr, warmupSteps: t.warmupSteps, schedule: t.schedule, weightDecay: t.weightDecay,
    clip: t.clip, evalEvery: t.evalEvery, checkpointEvery: t.checkpointEvery, resume: options.resume, config: config as unknown as JsonValue, quiet: options.quiet,
    onNonFinite: options.onNonFinite,
  });
  log(`robustness report on ${Math.min(config.data.reportChunks, tokens.valid.length / config.autoencoder.K)} held-out chunks ...`);
  const held = evenBlocks(tokens.valid, config.autoencoder.K, config.data.reportChunks);
  const report = autoencoderRobustness(model, held.ids, { rng: new Rng(config.data.seed + 3), klFloor: config.regularisation.klFloor });
  writeJsonAtomic(path.join(outDir, 'robustness.json'), report as unknown as JsonValue);
  return { summary, report, model, seconds: (performance.now() - started) / 1000 };
}

/** Human-readable lines of a robustness report. */
export function formatRobustness(r: RobustnessReport): string[] {
  const pct = (x: number): string => `${(100 * x).toFixed(3)} %`;
  return [
    `held-out tokens:            ${r.tokens}`,
    `accuracy decoding mu:       ${pct(r.accuracyMu)}   (target >= 99.9 %)`,
    `accuracy decoding a sample: ${pct(r.accuracySample)}   (target >= 99.5 %)`,
    ...Object.entries(r.accuracyNoise).map(([s, a]) => `accuracy with N(0, ${s}^2) on mu: ${pct(a)}`),
    `mean sigma:                 ${r.meanSigma.toFixed(4)}`,
    `mean KL per chunk:          ${r.meanKl.toFixed(3)} nats`,
    `latent dims at the KL floor: ${r.dimsAtKlFloor} of ${r.latent}`,
    `effective rank of cov(mu):   ${r.effectiveRank} of ${r.latent} (eigenvalues > 1 % of the largest; participation ratio ${r.participationRatio.toFixed(2)})`,
  ];
}

export async function run(argv: string[]): Promise<void> {
  const { options: o, help: wantHelp } = parseArgs('calm train-ae', specs, argv);
  if (wantHelp) {
    process.stdout.write(help);
    return;
  }
  await useBackend(o.backend, (note) => process.stderr.write(`${note}\n`));
  const configPath = path.join(o.out, 'config.json');
  let config: AutoencoderRunConfig;
  if (o.resume && fs.existsSync(configPath)) {
    config = readRunConfig(o.out, 'autoencoder');
    config.train.steps = o.steps;
    process.stderr.write(`resuming with the configuration saved in ${configPath}\n`);
  } else {
    config = autoencoderRunConfig(o);
  }
  const log = (line: string): void => {
    if (!o.quiet) process.stderr.write(`${line}\n`);
  };
  const { report, seconds } = await trainAutoencoder(config, o.out, { resume: o.resume, quiet: o.quiet, log, onNonFinite: o.onNonfinite === 'skip' ? 'skip' : 'stop' });
  process.stdout.write(`${formatRobustness(report).join('\n')}\n`);
  process.stdout.write(`trained in ${seconds.toFixed(1)} s; run folder ${o.out} (robustness.json, checkpoint/, metrics.jsonl, loss.svg)\n`);
}
