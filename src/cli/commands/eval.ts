/**
 * `calm eval --checkpoint DIR`: BrierLM (CALM.md §6) of a trained CALM or baseline Transformer run on
 * held-out blocks. Prints Brier-1..4 with standard errors and BrierLM with a 95 % interval, and writes
 * them with the evaluation protocol to DIR/eval.json (atomically).
 */
import * as v from 'valibot';
import { readCheckpointState } from '../../nn/checkpoint.js';
import { numberIn, readJsonFile } from '../../nn/io/json-file.js';
import { readRunConfig } from './run-config.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { calmHeldOutReport, evaluateArBrier, formatCalmReport, formatEvaluation, transformerSampler, type BrierEvaluation, type EnergyEvaluation } from '../../calm/evaluate.js';
import type { ReferenceLevels } from '../../calm/reference-levels.js';
import { evenBlocks } from '../../calm/tasks.js';
import { loadCheckpoint, type JsonValue } from '../../nn/checkpoint.js';
import { loadCorpus, splitCorpus } from '../../nn/data/corpus.js';
import { ByteTokenizer } from '../../nn/data/tokenizer.js';
import { writeJsonAtomic } from '../../nn/io/atomic.js';
import { encodeLmSplits } from '../../nn/train/lm-task.js';
import { findCheckpoint } from '../../nn/train/trainer.js';
import { TransformerLM } from '../../nn/transformer-lm.js';
import { Rng } from '../../tensor/random.js';
import { useBackend } from '../../tensor/select.js';
import { formatHelp, parseArgs, UsageError } from '../args.js';
import { loadCalmRun } from './train-calm.js';
import { loadRunTokenizer, type TransformerRunConfig } from './transformer-config.js';

export const specs = {
  checkpoint: { type: 'string', description: 'run folder written by calm train / calm train --model calm (or its checkpoint/ folder)' },
  split: { type: 'string', choices: ['valid', 'train'], default: 'valid', description: 'which split of the corpus to score' },
  blockSize: { type: 'number', integer: true, min: 0, default: 0, description: 'tokens per evaluation block (0: the training block length; CALM needs a multiple of K)' },
  blocks: { type: 'number', integer: true, min: 1, default: 1000, description: 'evenly spaced, non-overlapping blocks to score (fewer when the split is shorter)' },
  seed: { type: 'number', integer: true, min: 0, default: 0, description: 'seed of the model samples' },
  backend: { type: 'string', default: 'cpu', choices: ['cpu', 'auto', 'gpujs-webgpu', 'gpujs-webasm', 'gpujs-cpu'], description: 'compute backend' },
} as const;

export const help = formatHelp(
  'calm eval',
  'BrierLM of a trained CALM or Transformer run on held-out blocks (CALM.md §6): Brier-1..4, BrierLM with a 95% interval from the per-position spread, and the protocol (block size, positions, samples), also written to RUN/eval.json.',
  specs,
);

/** What eval.json holds. */
export interface EvalRecord {
  runDir: string;
  /** Optimiser steps of the evaluated checkpoint (null when the checkpoint does not say). */
  step: number | null;
  evaluation: BrierEvaluation;
  /** CALM only: the held-out energy loss on the same blocks (CALM.md §4.2). */
  energy?: EnergyEvaluation;
  /** CALM with K ≥ 4 only: chunk-unigram and chunk-bigram tables scored on the same positions. */
  referenceLevels?: ReferenceLevels;
  /** (unigram − model) / (unigram − bigram) on the energy loss. */
  gapClosed?: number;
  date: string;
}

/** Resolves `--checkpoint` to the run folder (the one holding config.json). */
export function runDirOf(dir: string): string {
  if (fs.existsSync(path.join(dir, 'config.json'))) return dir;
  const parent = path.dirname(path.resolve(dir));
  if (fs.existsSync(path.join(dir, 'state.json')) && fs.existsSync(path.join(parent, 'config.json'))) return parent;
  throw new UsageError(`calm eval: ${path.join(dir, 'config.json')} not found; --checkpoint must name a run folder written by calm train`);
}

function checkpointStep(dir: string | null): number | null {
  if (dir === null) return null;
  try {
    const extra = readCheckpointState(dir).extra as { step?: unknown } | null;
    return typeof extra?.step === 'number' ? extra.step : null;
  } catch {
    return null;
  }
}

/** Evaluates the run in `runDir` (CALM or Transformer) and returns the record written to eval.json. */
export function evaluateRun(runDir: string, o: { split: string; blockSize: number; blocks: number; seed: number }): EvalRecord {
  const config = readJsonFile(v.looseObject({ model: v.unknown(), data: v.optional(v.looseObject({ validFraction: v.optional(numberIn(0.001, 0.5)) })) }), path.join(runDir, 'config.json'));
  const validFraction = config.data?.validFraction ?? 0.05;
  const split = splitCorpus(loadCorpus(), validFraction);
  const rng = new Rng(o.seed);
  const evalOptions = { rng, seed: o.seed, split: o.split };
  let evaluation: BrierEvaluation;
  let calmExtras: Pick<EvalRecord, 'energy' | 'referenceLevels' | 'gapClosed'> = {};
  if (config.model === 'calm') {
    const { config: run, model, autoencoder } = loadCalmRun(runDir);
    const K = run.calm.K;
    const blockSize = o.blockSize > 0 ? o.blockSize : run.data.blockChunks * K;
    if (blockSize % K !== 0) throw new UsageError(`calm eval: --block-size ${blockSize} is not a multiple of the model's K = ${K}`);
    const tokens = encodeLmSplits(split, new ByteTokenizer()); // BOS per document (CALM.md §3.3)
    const held = evenBlocks(o.split === 'train' ? tokens.train : tokens.valid, blockSize, o.blocks);
    const report = calmHeldOutReport(model, autoencoder, held.ids, blockSize, { ...evalOptions, trainTokens: tokens.train, targetSamples: run.data.targetSamples, targets: run.data.targets });
    evaluation = report.brier;
    calmExtras = { energy: report.energy, referenceLevels: report.referenceLevels, gapClosed: report.gapClosed };
  } else if (config.model === 'transformer') {
    const run: TransformerRunConfig = readRunConfig(runDir, 'transformer');
    const dir = findCheckpoint(runDir, { weightsOnly: true });
    if (dir === null) throw new Error(`calm eval: no checkpoint in ${runDir} (train first)`);
    const model = new TransformerLM(run.lm, { rng: new Rng(0) }); // weights are replaced by the checkpoint's
    loadCheckpoint(dir, { model });
    model.eval();
    const blockSize = o.blockSize > 0 ? o.blockSize : run.data.seqLen;
    const tokens = encodeLmSplits(split, loadRunTokenizer(runDir, run));
    const held = evenBlocks(o.split === 'train' ? tokens.train : tokens.valid, blockSize, o.blocks);
    evaluation = evaluateArBrier(transformerSampler(model), held.ids, blockSize, evalOptions);
  } else {
    throw new UsageError(`calm eval: ${path.join(runDir, 'config.json')} names model ${JSON.stringify(config.model)}; expected 'transformer' or 'calm'`);
  }
  return { runDir: path.resolve(runDir), step: checkpointStep(findCheckpoint(runDir, { weightsOnly: true })), evaluation, ...calmExtras, date: new Date().toISOString() };
}

export async function run(argv: string[]): Promise<void> {
  const { options: o, help: wantHelp } = parseArgs('calm eval', specs, argv);
  if (wantHelp) {
    process.stdout.write(help);
    return;
  }
  if (o.checkpoint === undefined) throw new UsageError('calm eval: --checkpoint DIR is required (see calm eval --help)');
  const runDir = runDirOf(o.checkpoint);
  await useBackend(o.backend, (note) => process.stderr.write(`${note}\n`));
  const record = evaluateRun(runDir, o);
  writeJsonAtomic(path.join(runDir, 'eval.json'), record as unknown as JsonValue);
  const { energy, referenceLevels, gapClosed } = record;
  const extras = energy === undefined ? [] : formatCalmReport({ energy, referenceLevels, gapClosed });
  process.stdout.write(`${[...formatEvaluation(record.evaluation), ...extras].join('\n')}\n`);
  process.stdout.write(`checkpoint step ${record.step ?? 'unknown'}; written to ${path.join(runDir, 'eval.json')}\n`);
}
