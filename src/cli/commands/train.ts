/**
 * `calm train`: trains the baseline Transformer LM on the embedded corpus (CALM.md §3.3 data layout), or
 * hands `--model calm` to the CALM trainer. Defaults finish in a few minutes on two cores.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { JsonValue } from '../../nn/checkpoint.js';
import { BpeTokenizer } from '../../nn/data/bpe.js';
import { ensureDir, writeFileAtomic } from '../../nn/io/atomic.js';
import { loadCorpus, splitCorpus } from '../../nn/data/corpus.js';
import { ByteTokenizer, type Tokenizer } from '../../nn/data/tokenizer.js';
import { createLmTask, encodeLmSplits, unigramCrossEntropy } from '../../nn/train/lm-task.js';
import { train } from '../../nn/train/trainer.js';
import { TransformerLM } from '../../nn/transformer-lm.js';
import { Rng } from '../../tensor/random.js';
import { describeBackend, useBackend } from '../../tensor/select.js';
import { formatHelp, kebab, parseArgs, UsageError, optimiserSpecs } from '../args.js';
import { loadCommand } from '../calm.js';
import { LIMITS, readRunConfig, readRunKind } from './run-config.js';
import { loadRunTokenizer, type TransformerRunConfig } from './transformer-config.js';

export const specs = {
  model: { type: 'string', choices: ['transformer', 'calm'], default: 'transformer', description: 'which model to train' },
  out: { type: 'string', default: 'runs/transformer', description: 'output folder (checkpoint/, metrics.jsonl, loss.svg, config.json)' },
  resume: { type: 'boolean', description: 'continue from OUT/checkpoint with its saved configuration' },
  backend: { type: 'string', default: 'cpu', choices: ['cpu', 'auto', 'gpujs-webgpu', 'gpujs-webasm', 'gpujs-cpu'], description: 'compute backend' },
  steps: { type: 'number', integer: true, min: 1, max: LIMITS.steps, default: 400, description: 'optimiser steps' },
  batch: { type: 'number', integer: true, min: 1, max: LIMITS.batch, default: 16, description: 'sequences per batch' },
  seq: { type: 'number', integer: true, min: 2, max: LIMITS.seq, default: 64, description: 'tokens per sequence' },
  dim: { type: 'number', integer: true, min: 2, max: LIMITS.dim, default: 96, description: 'model width d' },
  layers: { type: 'number', integer: true, min: 1, max: LIMITS.layers, default: 2, description: 'decoder layers' },
  heads: { type: 'number', integer: true, min: 1, max: LIMITS.heads, default: 4, description: 'attention heads (must divide dim)' },
  ffn: { type: 'number', integer: true, min: 0, max: LIMITS.ffn, default: 0, description: 'SwiGLU hidden width (0: about 2.7 x dim, multiple of 8, CALM.md §10.1)' },
  tokenizer: { type: 'string', choices: ['byte', 'bpe'], default: 'byte', description: 'tokenizer' },
  merges: { type: 'number', integer: true, min: 1, max: LIMITS.vocab - 260, default: 512, description: 'BPE merges (with --tokenizer bpe)' },
  lr: { type: 'number', above: 0, default: 3e-3, description: 'peak learning rate' },
  minLr: { type: 'number', min: 0, default: 3e-4, description: 'final learning rate of the cosine schedule' },
  warmup: { type: 'number', integer: true, min: 0, max: LIMITS.steps, default: 30, description: 'linear warmup steps' },
  ...optimiserSpecs,
  evalEvery: { type: 'number', integer: true, min: 1, max: LIMITS.steps, default: 100, description: 'steps between held-out evaluations' },
  checkpointEvery: { type: 'number', integer: true, min: 1, max: LIMITS.steps, default: 100, description: 'steps between checkpoints' },
  validBlocks: { type: 'number', integer: true, min: 1, max: LIMITS.blocks, default: 64, description: 'fixed held-out sequences per evaluation' },
  validFraction: { type: 'number', min: 0.001, max: 0.5, default: 0.05, description: 'held-out share of each novel (whole trailing chapters)' },
  seed: { type: 'number', integer: true, min: 0, default: 1, description: 'seed of the initial weights and the data order' },
  quiet: { type: 'boolean', description: 'no progress bar' },
} as const;

/** Options that keep their meaning when a run is resumed (the rest come from its config.json). */
const RESUME_OPTIONS: ReadonlySet<string> = new Set(['model', 'out', 'resume', 'backend', 'steps', 'quiet', 'onNonfinite']);

export const help = formatHelp('calm train', 'Train the baseline Transformer language model on the embedded Austen corpus (byte tokens by default); --model calm trains CALM instead (see calm train --model calm --help).', specs);

/** Index of `--model calm` / `--model=calm` in argv, or -1. */
function calmModelIndex(argv: readonly string[]): number {
  return argv.findIndex((a, i) => a === '--model=calm' || (a === '--model' && argv[i + 1] === 'calm'));
}

export async function run(argv: string[]): Promise<void> {
  const at = calmModelIndex(argv);
  if (at >= 0) {
    const mod = await loadCommand('./commands/train-calm.js');
    if (mod === null) throw new UsageError('calm train --model calm: not available yet (commands/train-calm.js is not built)');
    const width = argv[at] === '--model' ? 2 : 1;
    await mod.run([...argv.slice(0, at), ...argv.slice(at + width)]);
    return;
  }
  const { options: o, help: wantHelp, explicit } = parseArgs('calm train', specs, argv);
  if (wantHelp) {
    process.stdout.write(help);
    return;
  }
  const configPath = path.join(o.out, 'config.json');
  const resuming = o.resume && fs.existsSync(configPath);
  if (!resuming && (o.dim % o.heads !== 0 || (o.dim / o.heads) % 2 !== 0)) {
    throw new UsageError(`calm train: --dim ${o.dim} must be a multiple of --heads ${o.heads} with an even head width (RoPE)`);
  }
  const ignored = [...explicit].filter((k) => !RESUME_OPTIONS.has(k));
  if (resuming && ignored.length > 0) {
    process.stderr.write(`note: ${ignored.map((k) => `--${kebab(k)}`).join(', ')} ignored on resume (the run's saved ${configPath} is used)\n`);
  }

  const backend = await useBackend(o.backend, (note) => process.stderr.write(`${note}\n`));
  let config: TransformerRunConfig;
  let tokenizer: Tokenizer;
  if (resuming) {
    const kind = readRunKind(o.out);
    if (kind !== 'transformer') throw new UsageError(`calm train: ${configPath} is a '${kind}' run; resume it with ${kind === 'calm' ? '--model calm' : 'calm train-ae'}`);
    config = readRunConfig(o.out, 'transformer');
    config.train.steps = o.steps; // the only setting a resume may change: train further
    tokenizer = loadRunTokenizer(o.out, config);
    process.stderr.write(`resuming with the configuration saved in ${configPath}\n`);
  } else {
    const ffnHidden = o.ffn > 0 ? o.ffn : Math.max(8, Math.round((2.7 * o.dim) / 8) * 8);
    config = {
      model: 'transformer',
      version: 1,
      lm: { vocabSize: 0, dim: o.dim, nLayers: o.layers, nHeads: o.heads, ffnHidden },
      data: { tokenizer: o.tokenizer, merges: o.tokenizer === 'bpe' ? o.merges : 0, seqLen: o.seq, batchSize: o.batch, validFraction: o.validFraction, validBlocks: o.validBlocks, seed: o.seed },
      train: { steps: o.steps, lr: o.lr, minLr: o.minLr, warmupSteps: o.warmup, schedule: o.schedule === 'constant' ? 'constant' : 'cosine', weightDecay: o.weightDecay, clip: o.clip, evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery },
      unigramValidLoss: null,
    };
    tokenizer = new ByteTokenizer();
  }

  const split = splitCorpus(loadCorpus(), config.data.validFraction);
  if (config.data.tokenizer === 'bpe' && !(tokenizer instanceof BpeTokenizer)) {
    process.stderr.write(`training a BPE tokenizer with ${config.data.merges} merges on the training split ...\n`);
    tokenizer = BpeTokenizer.train(split.train.map((d) => d.text), config.data.merges);
    ensureDir(o.out);
    writeFileAtomic(path.join(o.out, 'tokenizer.json'), `${JSON.stringify(tokenizer.toJSON())}\n`);
  }
  config.lm.vocabSize = tokenizer.vocabSize;
  const tokens = encodeLmSplits(split, tokenizer);
  const unigram = unigramCrossEntropy(tokens.train, tokens.valid, tokenizer.vocabSize);
  config.unigramValidLoss = unigram;

  const model = new TransformerLM(config.lm, { rng: new Rng(config.data.seed) });
  const task = createLmTask({ model, trainTokens: tokens.train, validTokens: tokens.valid, seqLen: config.data.seqLen, batchSize: config.data.batchSize, seed: config.data.seed + 1, validBlocks: config.data.validBlocks });
  const log = (line: string): void => {
    if (!o.quiet) process.stderr.write(`${line}\n`);
  };
  log(`backend: ${describeBackend(backend)}`);
  log(`transformer: ${model.numParameters().toLocaleString('en')} parameters, vocab ${tokenizer.vocabSize}, ${tokens.train.length.toLocaleString('en')} train / ${tokens.valid.length.toLocaleString('en')} valid tokens`);
  log(`unigram baseline on the held-out split: ${unigram.toFixed(4)} nats/token`);

  const t = config.train;
  const summary = await train(task, {
    outDir: o.out, steps: t.steps, lr: t.lr, minLr: t.minLr, warmupSteps: t.warmupSteps, schedule: t.schedule, weightDecay: t.weightDecay,
    clip: t.clip, evalEvery: t.evalEvery, checkpointEvery: t.checkpointEvery, resume: o.resume, config: config as unknown as JsonValue, quiet: o.quiet,
    onNonFinite: o.onNonfinite === 'skip' ? 'skip' : 'stop',
  });
  const valid = summary.finalValid.validLoss;
  process.stdout.write(
    `${summary.interrupted === true ? 'stopped' : 'finished'} at step ${summary.steps} in ${summary.seconds.toFixed(1)} s: ` +
      `train loss ${summary.finalTrainLoss.toFixed(4)}, valid loss ${valid === undefined ? 'n/a' : valid.toFixed(4)} nats/token ` +
      `(unigram baseline ${unigram.toFixed(4)}); outputs in ${o.out}\n`,
  );
  if (summary.interrupted === true) process.exitCode = 130;
}
