/**
 * Evaluating a trained CALM or baseline Transformer run (`calm eval`): BrierLM (CALM.md §6) on held-out
 * blocks, Brier-1..4 with standard errors and BrierLM with a 95 % interval, with the evaluation protocol;
 * for CALM also the energy loss, the reference levels and the gap closed. The record is what eval.json holds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v from 'valibot';
import { readCheckpointState } from '../../nn/checkpoint.js';
import { loadCorpus, splitCorpus, VALID_FRACTION } from '../../nn/data/corpus.js';
import { numberIn, readJsonFile } from '../../nn/io/json-file.js';
import type { Tokenizer } from '../../nn/data/tokenizer.js';
import { encodeLmSplits } from '../../nn/train/lm-task.js';
import { tokenizerKind, type TokenizerKind } from '../../nn/train/tokenizer-file.js';
import { findCheckpoint } from '../../nn/train/trainer.js';
import { UsageError } from '../../nn/usage-error.js';
import { Rng } from '../../tensor/random.js';
import { calmHeldOutReport, evaluateArBrier, transformerSampler, type BrierEvaluation, type EnergyEvaluation } from '../evaluate.js';
import type { DrawQuality } from '../draw-quality.js';
import type { ReferenceLevels } from '../reference-levels.js';
import { evenBlocks } from '../tasks.js';
import { loadCalmRun } from './calm-run.js';
import { loadTransformerRun } from './run-config.js';

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
  /** CALM with K ≥ 4 only: decoded draws against the training chunks (draw-quality.ts). */
  drawQuality?: DrawQuality;
  /** The run's tokenizer: BrierLM counts n-grams of these tokens, so only runs with the same tokenizer compare. */
  tokenizer: { kind: TokenizerKind; vocabSize: number };
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
  const validFraction = config.data?.validFraction ?? VALID_FRACTION;
  const split = splitCorpus(loadCorpus(), validFraction);
  const rng = new Rng(o.seed);
  const evalOptions = { rng, seed: o.seed, split: o.split };
  let evaluation: BrierEvaluation;
  let calmExtras: Pick<EvalRecord, 'energy' | 'referenceLevels' | 'gapClosed' | 'drawQuality'> = {};
  let tokenizer: Tokenizer;
  if (config.model === 'calm') {
    const { config: run, model, autoencoder, tokenizer: t } = loadCalmRun(runDir);
    tokenizer = t;
    const K = run.calm.K;
    const blockSize = o.blockSize > 0 ? o.blockSize : run.data.blockChunks * K;
    if (blockSize % K !== 0) throw new UsageError(`calm eval: --block-size ${blockSize} is not a multiple of the model's K = ${K}`);
    const tokens = encodeLmSplits(split, tokenizer); // BOS per document (CALM.md §3.3), in the run's tokens
    const held = evenBlocks(o.split === 'train' ? tokens.train : tokens.valid, blockSize, o.blocks);
    const report = calmHeldOutReport(model, autoencoder, held.ids, blockSize, { ...evalOptions, trainTokens: tokens.train, targetSamples: run.data.targetSamples, targets: run.data.targets });
    evaluation = report.brier;
    calmExtras = { energy: report.energy, referenceLevels: report.referenceLevels, gapClosed: report.gapClosed, drawQuality: report.drawQuality };
  } else if (config.model === 'transformer') {
    const { config: run, tokenizer: t, model } = loadTransformerRun(runDir, 'calm eval');
    tokenizer = t;
    const blockSize = o.blockSize > 0 ? o.blockSize : run.data.seqLen;
    const tokens = encodeLmSplits(split, tokenizer);
    const held = evenBlocks(o.split === 'train' ? tokens.train : tokens.valid, blockSize, o.blocks);
    evaluation = evaluateArBrier(transformerSampler(model), held.ids, blockSize, evalOptions);
  } else {
    throw new UsageError(`calm eval: ${path.join(runDir, 'config.json')} names model ${JSON.stringify(config.model)}; expected 'transformer' or 'calm'`);
  }
  return { runDir: path.resolve(runDir), step: checkpointStep(findCheckpoint(runDir, { weightsOnly: true })), evaluation, ...calmExtras, tokenizer: { kind: tokenizerKind(tokenizer), vocabSize: tokenizer.vocabSize }, date: new Date().toISOString() };
}
