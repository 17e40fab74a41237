/**
 * `calm eval --checkpoint DIR`: BrierLM (CALM.md §6) of a trained CALM or baseline Transformer run on
 * held-out blocks (src/calm/runs/eval-run.ts). Prints Brier-1..4 with standard errors and BrierLM with a
 * 95 % interval, and writes them with the evaluation protocol to DIR/eval.json (atomically).
 */
import * as path from 'node:path';
import { formatCalmReport, formatEvaluation } from '../../calm/evaluate.js';
import { evaluateRun, runDirOf } from '../../calm/runs/eval-run.js';
import type { JsonValue } from '../../nn/checkpoint.js';
import { writeJsonAtomic } from '../../nn/io/atomic.js';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';
import { seedAndBackendOptions, selectBackend } from '../options.js';

export const { specs, help, run } = defineCommand({
  name: 'calm eval',
  summary: 'BrierLM of a trained CALM or Transformer run on held-out blocks (CALM.md §6): Brier-1..4, BrierLM with a 95% interval from the per-position spread, and the protocol (block size, positions, samples), also written to RUN/eval.json.',
  options: {
    checkpoint: { type: 'string', description: 'run folder written by calm train / calm train --model calm (or its checkpoint/ folder)' },
    split: { type: 'string', choices: ['valid', 'train'], default: 'valid', description: 'which split of the corpus to score' },
    blockSize: { type: 'number', integer: true, min: 0, default: 0, description: 'tokens per evaluation block (0: the training block length; CALM needs a multiple of K)' },
    blocks: { type: 'number', integer: true, min: 1, default: 1000, description: 'evenly spaced, non-overlapping blocks to score (fewer when the split is shorter)' },
    ...seedAndBackendOptions('seed of the model samples', 0),
  },
  async run(o) {
    if (o.checkpoint === undefined) throw new UsageError('calm eval: --checkpoint DIR is required (see calm eval --help)');
    const runDir = runDirOf(o.checkpoint);
    await selectBackend(o.backend);
    const record = evaluateRun(runDir, o);
    writeJsonAtomic(path.join(runDir, 'eval.json'), record as unknown as JsonValue);
    const { energy, referenceLevels, gapClosed } = record;
    const extras = energy === undefined ? [] : formatCalmReport({ energy, referenceLevels, gapClosed, drawQuality: record.drawQuality });
    process.stdout.write(`${[...formatEvaluation(record.evaluation), ...extras].join('\n')}\n`);
    if (record.tokenizer.kind === 'bpe') process.stdout.write(`tokens: BPE, V = ${record.tokenizer.vocabSize}; Brier-n counts n-grams of BPE tokens, so this BrierLM is not comparable with byte-level BrierLM\n`);
    process.stdout.write(`checkpoint step ${record.step ?? 'unknown'}; written to ${path.join(runDir, 'eval.json')}\n`);
  },
});
