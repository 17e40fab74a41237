/**
 * `calm export --format reference`: a CALM run folder (model + its frozen autoencoder) in the PyTorch
 * reference implementation's parameter names, layouts and config fields (src/calm/runs/interchange-run.ts,
 * src/calm/interchange.ts).
 */
import * as path from 'node:path';
import { exportReference } from '../../calm/runs/interchange-run.js';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';
import { newFolder } from '../options.js';

export const { specs, help, run } = defineCommand({
  name: 'calm export',
  summary: 'Write a CALM run (the model and its frozen autoencoder) as safetensors + config.json in the PyTorch reference implementation\'s names and layouts. README "Moving to the reference implementation" says what to carry along.',
  options: {
    checkpoint: { type: 'string', description: 'CALM run folder written by calm train --model calm' },
    format: { type: 'string', choices: ['reference'], default: 'reference', description: 'reference: the PyTorch reference (shaochenze/calm) names and [out, in] Linear weights' },
    out: { type: 'string', description: 'folder to create (autoencoder/ and calm/, each model.safetensors + config.json); must not exist' },
  },
  async run(o) {
    if (o.checkpoint === undefined) throw new UsageError('calm export: --checkpoint DIR is required');
    const out = newFolder('calm export', o.out);
    exportReference(o.checkpoint, out);
    process.stdout.write(`calm export: wrote ${path.join(out, 'autoencoder')} and ${path.join(out, 'calm')} (reference names, [out, in] Linear weights)\n`);
  },
});
