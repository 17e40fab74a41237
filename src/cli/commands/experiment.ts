/**
 * `calm experiment`: the compute-matched K ablation (CALM.md §8.4, §10.3), run by
 * src/calm/runs/experiment-run.ts. Trains one autoencoder and one CALM per K and the baseline Transformer
 * with the same backbone at the baseline's training FLOPs; writes RESULTS.md, results.json and
 * brierlm-vs-flops.svg into --out.
 */
import * as path from 'node:path';
import { AUTOENCODER_RECIPE as AE } from '../../calm/runs/autoencoder-run.js';
import { runExperiment } from '../../calm/runs/experiment-run.js';
import { LIMITS } from '../../nn/train/train-config.js';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';
import { checkHeads, quietOption, seedAndBackendOptions, selectBackend } from '../options.js';

function parseKs(text: string, block: number): number[] {
  const ks = text.split(',').map((s) => Number(s.trim()));
  for (const k of ks) {
    if (!Number.isInteger(k) || k < 1) throw new UsageError(`calm experiment: --ks must list positive integers, got ${JSON.stringify(text)}`);
    if (block % k !== 0 || block / k < 2) throw new UsageError(`calm experiment: --block ${block} must be a multiple of every K with at least 2 chunks (K = ${k})`);
  }
  return ks;
}

export const { specs, help, run } = defineCommand({
  name: 'calm experiment',
  summary: 'Train autoencoders and CALM models for each K and the baseline Transformer with the same backbone under matched training FLOPs, evaluate BrierLM on the held-out split, measure generation speed, and write RESULTS.md, results.json and brierlm-vs-flops.svg.',
  options: {
    out: { type: 'string', default: 'results', description: 'output folder (RESULTS.md, results.json, brierlm-vs-flops.svg, runs/)' },
    budget: { type: 'number', min: 0.01, default: 1, description: 'scales every step count (1: about 5 minutes on 2 idle cores with the default --ks; 6: about 20 minutes)' },
    ks: { type: 'string', default: '4', description: 'chunk sizes K of the CALM models (comma-separated; 1,2,4,8 for the K ablation)' },
    baselineSteps: { type: 'number', integer: true, min: 1, default: 1500, description: 'baseline optimiser steps at budget 1; CALM steps follow from matched FLOPs' },
    aeSteps: { type: 'number', integer: true, min: 1, default: 1500, description: `autoencoder steps (of ${AE.batch} chunks, peak lr ${AE.lr.toExponential()}, as in the demo) at budget 1` },
    aeLatent: { type: 'number', integer: true, min: 1, default: 8, description: 'autoencoder latent size per token (l = this x K; 8 gives l = 32 at K = 4, where the reference has 128: README, "How we chose the CALM recipe")' },
    aeBeta: { type: 'number', min: 0, default: 1e-3, description: 'autoencoder KL weight beta (reference 1e-3)' },
    aeHidden: { type: 'number', integer: true, min: 4, default: 128, description: 'autoencoder width d_ae (SwiGLU 2.5 x d_ae); its encoder makes every CALM training target, so it counts in CALM\'s matched FLOPs' },
    dim: { type: 'number', integer: true, min: 8, default: 64, description: 'backbone width d (shared by CALM and the baseline)' },
    layers: { type: 'number', integer: true, min: 1, default: 2, description: 'backbone layers' },
    heads: { type: 'number', integer: true, min: 1, default: 4, description: 'attention heads' },
    block: { type: 'number', integer: true, min: 8, default: 64, description: 'tokens per training and evaluation block (a multiple of every K)' },
    batch: { type: 'number', integer: true, min: 1, default: 16, description: 'blocks per step (same tokens per step for every LM)' },
    samples: { type: 'number', integer: true, min: 2, default: 4, description: 'energy-head samples N per position in training' },
    targetSamples: { type: 'number', integer: true, min: 1, default: 16, description: 'AE posterior samples M per position' },
    evalBlocks: { type: 'number', integer: true, min: 2, default: 1000, description: 'held-out blocks per BrierLM evaluation (fewer when the split is shorter)' },
    evalPoints: { type: 'number', integer: true, min: 1, default: 3, description: 'BrierLM evaluations per run (the curve points)' },
    genTokens: { type: 'number', integer: true, min: 8, default: 256, description: 'tokens generated per model for the speed measurement' },
    tokenizer: { type: 'string', choices: ['byte', 'bpe'], default: 'byte', description: 'tokens of every model: bytes, or one BPE learned from the training split (BPE BrierLM is not comparable with byte BrierLM)' },
    merges: { type: 'number', integer: true, min: 1, max: LIMITS.vocab - 260, default: 512, description: 'BPE merges (with --tokenizer bpe)' },
    ...seedAndBackendOptions('seed of weights, data order and samples'),
    quiet: quietOption('no progress bars'),
  },
  async run(o, { argv }) {
    const ks = parseKs(o.ks, o.block);
    checkHeads('calm experiment', o.dim, o.heads);
    const backend = await selectBackend(o.backend);
    const command = `node dist/src/cli/calm.js experiment${argv.length > 0 ? ` ${argv.join(' ')}` : ''}`;
    const { rows, wallSeconds } = await runExperiment(o, ks, backend, command);
    process.stdout.write(`experiment finished in ${(wallSeconds / 60).toFixed(1)} min; see ${path.join(o.out, 'RESULTS.md')}\n`);
    for (const r of rows) process.stdout.write(`${r.model.padEnd(12)} BrierLM ${r.brierLM.toFixed(2)}  train FLOPs ${r.trainFlops.toExponential(2)}  ${r.tokensPerSecond.toFixed(0)} tokens/s\n`);
  },
});
