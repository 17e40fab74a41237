/**
 * `calm demo` (`npm run demo`): the whole CALM pipeline in minutes on a laptop CPU (src/calm/runs/demo-run.ts):
 * the autoencoder with its accuracy and robustness report, a small CALM trained against it, and a few
 * prompts continued. Leaves a run folder with checkpoints, metrics, plots, report.md and report.json.
 */
import * as path from 'node:path';
import { AUTOENCODER_RECIPE as AE } from '../../calm/runs/autoencoder-run.js';
import { CALM_RUN_DEFAULTS as CALM } from '../../calm/runs/calm-run.js';
import { runDemo } from '../../calm/runs/demo-run.js';
import { formatHelp } from '../help.js';
import { backendOption, parseCommand, quietOption, seedOption, selectBackend } from '../options.js';

export const specs = {
  out: { type: 'string', description: 'run folder (default runs/demo-<timestamp>)' },
  aeSteps: { type: 'number', integer: true, min: 1, default: 1500, description: `autoencoder optimiser steps (of ${AE.batch} chunks, peak lr ${AE.lr.toExponential()})` },
  calmSteps: { type: 'number', integer: true, min: 1, default: CALM.steps, description: `CALM optimiser steps (of ${CALM.batch} blocks x ${CALM.chunks} chunks)` },
  maxTokens: { type: 'number', integer: true, min: 4, default: 80, description: 'tokens generated per prompt' },
  evalBlocks: { type: 'number', integer: true, min: 1, default: 1000, description: 'held-out blocks of the final CALM evaluation (BrierLM, energy loss, reference levels)' },
  seed: seedOption('seed of everything'),
  backend: backendOption(),
  quiet: quietOption('no progress bars'),
} as const;

export const help = formatHelp(
  'calm demo',
  'End-to-end CALM demonstration: train the autoencoder (accuracy and robustness report), train a small CALM language model against it, and generate text from a few prompts. Writes checkpoints, metrics, plots, report.md and report.json to the run folder.',
  specs,
);

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
}

export async function run(argv: string[]): Promise<void> {
  const parsed = parseCommand('calm demo', specs, help, argv);
  if (parsed === null) return;
  const o = parsed.options;
  await selectBackend(o.backend);
  await runDemo(o, o.out ?? path.join('runs', `demo-${timestamp()}`));
}
