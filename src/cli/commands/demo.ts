/**
 * `calm demo` (`npm run demo`): the whole CALM pipeline in minutes on a laptop CPU (src/calm/runs/demo-run.ts):
 * the autoencoder with its accuracy and robustness report, a small CALM trained against it, and a few
 * prompts continued. Leaves a run folder with checkpoints, metrics, plots, report.md and report.json.
 */
import * as path from 'node:path';
import { AUTOENCODER_RECIPE as AE } from '../../calm/runs/autoencoder-run.js';
import { CALM_RUN_DEFAULTS as CALM } from '../../calm/runs/calm-run.js';
import { runDemo } from '../../calm/runs/demo-run.js';
import { defineCommand } from '../command.js';
import { quietOption, seedAndBackendOptions, selectBackend } from '../options.js';

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
}

export const { specs, help, run } = defineCommand({
  name: 'calm demo',
  summary: 'End-to-end CALM demonstration: train the autoencoder (accuracy and robustness report), train a small CALM language model against it, and generate text from a few prompts. Writes checkpoints, metrics, plots, report.md and report.json to the run folder.',
  options: {
    out: { type: 'string', description: 'run folder (default runs/demo-<timestamp>)' },
    aeSteps: { type: 'number', integer: true, min: 1, default: 1500, description: `autoencoder optimiser steps (of ${AE.batch} chunks, peak lr ${AE.lr.toExponential()})` },
    calmSteps: { type: 'number', integer: true, min: 1, default: CALM.steps, description: `CALM optimiser steps (of ${CALM.batch} blocks x ${CALM.chunks} chunks)` },
    maxTokens: { type: 'number', integer: true, min: 4, default: 80, description: 'tokens generated per prompt' },
    evalBlocks: { type: 'number', integer: true, min: 1, default: 1000, description: 'held-out blocks of the final CALM evaluation (BrierLM, energy loss, reference levels)' },
    ...seedAndBackendOptions('seed of everything'),
    quiet: quietOption('no progress bars'),
  },
  async run(o) {
    await selectBackend(o.backend);
    await runDemo(o, o.out ?? path.join('runs', `demo-${timestamp()}`));
  },
});
