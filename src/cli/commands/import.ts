/**
 * `calm import`: a folder in the PyTorch reference's names and layouts (as `calm export` writes it) back
 * into a calm-ts CALM run folder (config.json, checkpoint/, autoencoder/) that `calm generate` and
 * `calm eval` read (src/calm/runs/interchange-run.ts).
 */
import * as fs from 'node:fs';
import { importReference } from '../../calm/runs/interchange-run.js';
import { UsageError } from '../args.js';
import { formatHelp } from '../help.js';
import { parseCommand } from '../options.js';

export const specs = {
  reference: { type: 'string', description: 'folder with autoencoder/ and calm/ in the reference layout (written by calm export, or by the reference with the same names)' },
  out: { type: 'string', description: 'CALM run folder to create; must not exist' },
} as const;

export const help = formatHelp(
  'calm import',
  'Read a CALM model and its autoencoder in the PyTorch reference\'s names and layouts into a calm-ts run folder (for calm generate / calm eval). calm-ts runs use the byte tokenizer: the vocabulary must be its 260 ids.',
  specs,
);

export async function run(argv: string[]): Promise<void> {
  const parsed = parseCommand('calm import', specs, help, argv);
  if (parsed === null) return;
  const o = parsed.options;
  if (o.reference === undefined) throw new UsageError('calm import: --reference DIR is required');
  if (o.out === undefined) throw new UsageError('calm import: --out DIR is required');
  if (fs.existsSync(o.out)) throw new UsageError(`calm import: ${o.out} exists; choose a new --out folder`);
  const r = importReference(o.reference, o.out);
  process.stdout.write(`calm import: wrote the CALM run ${o.out} (${r.parameters.toLocaleString('en')} + ${r.autoencoderParameters.toLocaleString('en')} autoencoder parameters)\n`);
}
