/**
 * `calm export --format reference`: a CALM run folder (model + its frozen autoencoder) in the PyTorch
 * reference implementation's parameter names, layouts and config fields (src/calm/runs/interchange-run.ts,
 * src/calm/interchange.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { exportReference } from '../../calm/runs/interchange-run.js';
import { UsageError } from '../args.js';
import { formatHelp } from '../help.js';
import { parseCommand } from '../options.js';

export const specs = {
  checkpoint: { type: 'string', description: 'CALM run folder written by calm train --model calm' },
  format: { type: 'string', choices: ['reference'], default: 'reference', description: 'reference: the PyTorch reference (shaochenze/calm) names and [out, in] Linear weights' },
  out: { type: 'string', description: 'folder to create (autoencoder/ and calm/, each model.safetensors + config.json); must not exist' },
} as const;

export const help = formatHelp(
  'calm export',
  'Write a CALM run (the model and its frozen autoencoder) as safetensors + config.json in the PyTorch reference implementation\'s names and layouts. README "Moving to the reference implementation" says what to carry along.',
  specs,
);

export async function run(argv: string[]): Promise<void> {
  const parsed = parseCommand('calm export', specs, help, argv);
  if (parsed === null) return;
  const o = parsed.options;
  if (o.checkpoint === undefined) throw new UsageError('calm export: --checkpoint DIR is required');
  if (o.out === undefined) throw new UsageError('calm export: --out DIR is required');
  if (fs.existsSync(o.out)) throw new UsageError(`calm export: ${o.out} exists; choose a new --out folder`);
  exportReference(o.checkpoint, o.out);
  process.stdout.write(`calm export: wrote ${path.join(o.out, 'autoencoder')} and ${path.join(o.out, 'calm')} (reference names, [out, in] Linear weights)\n`);
}
