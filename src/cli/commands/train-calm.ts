/**
 * `calm train --model calm --autoencoder DIR`: trains the CALM language model (CALM.md §3, §4) on the
 * embedded corpus against a frozen autoencoder trained by `calm train-ae`. The AE's weights are copied
 * into the run folder (autoencoder/), so the run is self-contained for `calm generate`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Autoencoder, type AutoencoderConfig } from '../../calm/autoencoder.js';
import { CalmModel, widthAwareInitStd, type CalmConfig, type TargetKind } from '../../calm/calm-model.js';
import { INIT_STD } from '../../nn/init.js';
import { createCalmTask } from '../../calm/tasks.js';
import { loadCheckpoint, saveCheckpoint, type JsonValue } from '../../nn/checkpoint.js';
import { loadCorpus, splitCorpus } from '../../nn/data/corpus.js';
import { ByteTokenizer } from '../../nn/data/tokenizer.js';
import { encodeLmSplits } from '../../nn/train/lm-task.js';
import { findCheckpoint, train, type TrainSummary } from '../../nn/train/trainer.js';
import { Rng } from '../../tensor/random.js';
import { useBackend } from '../../tensor/select.js';
import { formatHelp, parseArgs, UsageError, type ParsedOptions, optimiserSpecs } from '../args.js';
import { LIMITS, readRunConfig } from './run-config.js';
import { loadAutoencoderRun } from './train-ae.js';

export const specs = {
  autoencoder: { type: 'string', description: 'run folder of a trained autoencoder (written by calm train-ae); required unless --resume' },
  out: { type: 'string', default: 'runs/calm', description: 'output folder (checkpoint/, autoencoder/, metrics.jsonl, loss.svg, config.json)' },
  resume: { type: 'boolean', description: 'continue from OUT/checkpoint with its saved configuration' },
  backend: { type: 'string', default: 'cpu', choices: ['cpu', 'auto', 'gpujs-webgpu', 'gpujs-webasm', 'gpujs-cpu'], description: 'compute backend' },
  steps: { type: 'number', integer: true, min: 1, max: LIMITS.steps, default: 400, description: 'optimiser steps' },
  batch: { type: 'number', integer: true, min: 1, max: LIMITS.batch, default: 16, description: 'blocks per batch' },
  chunks: { type: 'number', integer: true, min: 2, max: LIMITS.seq, default: 17, description: 'chunks T per block (T-1 targets, CALM.md §3.3)' },
  dim: { type: 'number', integer: true, min: 2, max: LIMITS.dim, default: 64, description: 'model width d (backbone and head)' },
  layers: { type: 'number', integer: true, min: 1, max: LIMITS.layers, default: 2, description: 'decoder layers' },
  heads: { type: 'number', integer: true, min: 1, max: LIMITS.heads, default: 4, description: 'attention heads (must divide dim)' },
  ffn: { type: 'number', integer: true, min: 0, max: LIMITS.ffn, default: 0, description: 'SwiGLU hidden width (0: about 2.7 x dim, multiple of 8)' },
  headBlocks: { type: 'number', integer: true, min: 1, max: LIMITS.layers, default: 2, description: 'residual blocks B of the energy head' },
  headDim: { type: 'number', integer: true, min: 0, max: LIMITS.dim, default: 0, description: 'width of the energy head (0: the model width d)' },
  noiseDim: { type: 'number', integer: true, min: 1, max: LIMITS.latent, default: 32, description: 'uniform noise dimension of the energy head' },
  init: { type: 'string', default: 'fan-in', choices: ['fan-in', 'width', 'reference'], description: 'Linear weight init: fan-in = N(0, 1/fan_in), width = N(0, (0.02·sqrt(1024/d))²), reference = N(0, 0.02²)' },
  samples: { type: 'number', integer: true, min: 2, max: LIMITS.samples, default: 4, description: 'head samples N per position (reference 8)' },
  targetSamples: { type: 'number', integer: true, min: 1, max: LIMITS.targetSamples, default: 16, description: 'posterior target samples M per position (reference 100)' },
  targets: { type: 'string', default: 'posterior', choices: ['posterior', 'mean'], description: 'train against M posterior samples (reference) or the posterior mean mu' },
  lr: { type: 'number', above: 0, default: 4e-3, description: 'peak learning rate' },
  minLr: { type: 'number', min: 0, default: 4e-4, description: 'final learning rate of the cosine schedule' },
  warmup: { type: 'number', integer: true, min: 0, max: LIMITS.steps, default: 40, description: 'linear warmup steps' },
  ...optimiserSpecs,
  evalEvery: { type: 'number', integer: true, min: 1, max: LIMITS.steps, default: 100, description: 'steps between held-out evaluations' },
  checkpointEvery: { type: 'number', integer: true, min: 1, max: LIMITS.steps, default: 100, description: 'steps between checkpoints' },
  validBlocks: { type: 'number', integer: true, min: 1, max: LIMITS.blocks, default: 64, description: 'fixed held-out blocks per evaluation of the energy loss and reference levels' },
  brierBlocks: { type: 'number', integer: true, min: 1, max: LIMITS.blocks, default: 256, description: 'fixed held-out blocks per evaluation of BrierLM' },
  validFraction: { type: 'number', min: 0.001, max: 0.5, default: 0.05, description: 'held-out share of each novel (whole trailing chapters)' },
  seed: { type: 'number', integer: true, min: 0, default: 1, description: 'seed of the initial weights, data order and noise' },
  quiet: { type: 'boolean', description: 'no progress bar' },
} as const;

export const help = formatHelp(
  'calm train --model calm',
  'Train the CALM language model (input compression, Llama backbone over chunks, energy head; CALM.md §3-4) against a frozen autoencoder from calm train-ae, on the embedded Austen corpus.',
  specs,
);

/** What a CALM run writes to config.json (read by calm generate). */
export interface CalmRunConfig {
  model: 'calm';
  version: 1;
  tokenizer: 'byte';
  calm: CalmConfig;
  autoencoder: AutoencoderConfig;
  /** The AE run the weights in autoencoder/ were copied from. */
  autoencoderRun: string;
  data: { blockChunks: number; batchSize: number; targetSamples: number; targets?: TargetKind; validBlocks: number; brierBlocks?: number; validFraction: number; seed: number };
  train: { steps: number; lr: number; minLr: number; warmupSteps: number; schedule: 'cosine' | 'constant'; weightDecay: number; clip: number; evalEvery: number; checkpointEvery: number };
}

/** Folder of the AE copy inside a CALM run. */
export const AUTOENCODER_SUBDIR = 'autoencoder';

/** Loads a CALM run folder: configuration, the model (last checkpoint) and its frozen autoencoder. */
export function loadCalmRun(dir: string): { config: CalmRunConfig; model: CalmModel; autoencoder: Autoencoder } {
  const configPath = path.join(dir, 'config.json');
  if (!fs.existsSync(configPath)) throw new UsageError(`${configPath} not found: expected a run folder written by calm train --model calm`);
  const config: CalmRunConfig = readRunConfig(dir, 'calm');
  const checkpoint = findCheckpoint(dir, { weightsOnly: true });
  if (checkpoint === null) throw new Error(`loadCalmRun: no checkpoint in ${dir} (train first, or wait for the first checkpoint)`);
  const model = new CalmModel(config.calm, { rng: new Rng(0) }); // weights are replaced by the checkpoint's
  loadCheckpoint(checkpoint, { model });
  const autoencoder = new Autoencoder(config.autoencoder, { rng: new Rng(0) });
  loadCheckpoint(path.join(dir, AUTOENCODER_SUBDIR), { model: autoencoder });
  model.eval();
  autoencoder.eval();
  return { config, model, autoencoder };
}

/** The run configuration from parsed `calm train --model calm` options and the AE it trains against. */
export function calmRunConfig(o: ParsedOptions<typeof specs>, ae: AutoencoderConfig, aeRun: string): CalmRunConfig {
  if (o.dim % o.heads !== 0 || (o.dim / o.heads) % 2 !== 0) throw new UsageError(`calm train --model calm: --dim ${o.dim} must be a multiple of --heads ${o.heads} with an even head width (RoPE)`);
  const ffn = o.ffn > 0 ? o.ffn : Math.max(8, Math.round((2.7 * o.dim) / 8) * 8);
  return {
    model: 'calm',
    version: 1,
    tokenizer: 'byte',
    calm: {
      vocabSize: ae.vocabSize, d: o.dim, ffn, layers: o.layers, heads: o.heads, K: ae.K, latent: ae.latent, headBlocks: o.headBlocks, noiseDim: o.noiseDim, nSamples: o.samples,
      ...(o.headDim > 0 ? { headDim: o.headDim } : {}),
      init: o.init === 'fan-in' ? 'fan-in' : o.init === 'reference' ? INIT_STD : widthAwareInitStd(o.dim),
    },
    autoencoder: ae,
    autoencoderRun: path.resolve(aeRun),
    data: { blockChunks: o.chunks, batchSize: o.batch, targetSamples: o.targetSamples, targets: o.targets === 'mean' ? 'mean' : 'posterior', validBlocks: o.validBlocks, brierBlocks: o.brierBlocks, validFraction: o.validFraction, seed: o.seed },
    train: {
      steps: o.steps, lr: o.lr, minLr: o.minLr, warmupSteps: o.warmup, schedule: o.schedule === 'constant' ? 'constant' : 'cosine',
      weightDecay: o.weightDecay, clip: o.clip, evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery,
    },
  };
}

/** Trains CALM into `outDir` against `autoencoder` (frozen); shared by this command and `calm demo`. */
export async function trainCalm(
  config: CalmRunConfig,
  autoencoder: Autoencoder,
  outDir: string,
  options: { resume: boolean; quiet: boolean; log: (line: string) => void; onNonFinite?: 'stop' | 'skip' },
): Promise<{ summary: TrainSummary; model: CalmModel }> {
  const tokenizer = new ByteTokenizer();
  const split = splitCorpus(loadCorpus(), config.data.validFraction);
  const tokens = encodeLmSplits(split, tokenizer); // BOS per document, no EOS, no padding (CALM.md §3.3)
  const model = new CalmModel(config.calm, { rng: new Rng(config.data.seed) });
  saveCheckpoint(path.join(outDir, AUTOENCODER_SUBDIR), { model: autoencoder, extra: { config: config.autoencoder } as unknown as JsonValue });
  options.log(`calm: ${model.numParameters().toLocaleString('en')} parameters (d ${config.calm.d}, ${config.calm.layers} layers, head B ${config.calm.headBlocks}, N ${config.calm.nSamples}, M ${config.data.targetSamples}), ${tokens.train.length.toLocaleString('en')} train / ${tokens.valid.length.toLocaleString('en')} held-out tokens`);
  const task = createCalmTask({
    model, autoencoder, trainTokens: tokens.train, validTokens: tokens.valid, blockChunks: config.data.blockChunks,
    batchSize: config.data.batchSize, targetSamples: config.data.targetSamples, targets: config.data.targets, seed: config.data.seed + 1, validBlocks: config.data.validBlocks, brierBlocks: config.data.brierBlocks,
  });
  const t = config.train;
  const summary = await train(task, {
    outDir, steps: t.steps, lr: t.lr, minLr: t.minLr, warmupSteps: t.warmupSteps, schedule: t.schedule, weightDecay: t.weightDecay,
    clip: t.clip, evalEvery: t.evalEvery, checkpointEvery: t.checkpointEvery, resume: options.resume, config: config as unknown as JsonValue, quiet: options.quiet,
    onNonFinite: options.onNonFinite,
  });
  return { summary, model };
}

export async function run(argv: string[]): Promise<void> {
  const { options: o, help: wantHelp } = parseArgs('calm train --model calm', specs, argv);
  if (wantHelp) {
    process.stdout.write(help);
    return;
  }
  await useBackend(o.backend, (note) => process.stderr.write(`${note}\n`));
  const configPath = path.join(o.out, 'config.json');
  let config: CalmRunConfig;
  let autoencoder: Autoencoder;
  if (o.resume && fs.existsSync(configPath)) {
    config = readRunConfig(o.out, 'calm');
    config.train.steps = o.steps;
    autoencoder = new Autoencoder(config.autoencoder, { rng: new Rng(0) });
    loadCheckpoint(path.join(o.out, AUTOENCODER_SUBDIR), { model: autoencoder });
    process.stderr.write(`resuming with the configuration saved in ${configPath}\n`);
  } else {
    if (o.autoencoder === undefined) throw new UsageError('calm train --model calm: --autoencoder DIR is required (train one with calm train-ae)');
    const ae = loadAutoencoderRun(o.autoencoder);
    autoencoder = ae.model;
    config = calmRunConfig(o, ae.config.autoencoder, o.autoencoder);
  }
  const log = (line: string): void => {
    if (!o.quiet) process.stderr.write(`${line}\n`);
  };
  const { summary } = await trainCalm(config, autoencoder, o.out, { resume: o.resume, quiet: o.quiet, log, onNonFinite: o.onNonfinite === 'skip' ? 'skip' : 'stop' });
  const v = summary.finalValid;
  process.stdout.write(`calm: ${summary.steps} steps in ${summary.seconds.toFixed(1)} s; held-out energy loss ${v.validLoss?.toFixed(4) ?? 'n/a'}, BrierLM ${v.brierLM?.toFixed(2) ?? 'n/a'}; run folder ${o.out}\n`);
}
