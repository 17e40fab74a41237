/**
 * `calm import`: a folder in the PyTorch reference's names and layouts (as `calm export` writes it) back
 * into a calm-ts CALM run folder (config.json, checkpoint/, autoencoder/) that `calm generate` and
 * `calm eval` read (src/calm/runs/interchange-run.ts).
 */
import { importReference } from '../../calm/runs/interchange-run.js';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';
import { newFolder } from '../options.js';

export const { specs, help, run } = defineCommand({
  name: 'calm import',
  summary: 'Read a CALM model and its autoencoder in the PyTorch reference\'s names and layouts into a calm-ts run folder (for calm generate / calm eval). calm-ts runs use the byte tokenizer: the vocabulary must be its 260 ids.',
  options: {
    reference: { type: 'string', description: 'folder with autoencoder/ and calm/ in the reference layout (written by calm export, or by the reference with the same names)' },
    out: { type: 'string', description: 'CALM run folder to create; must not exist' },
  },
  async run(o) {
    if (o.reference === undefined) throw new UsageError('calm import: --reference DIR is required');
    const out = newFolder('calm import', o.out);
    const r = importReference(o.reference, out);
    process.stdout.write(`calm import: wrote the CALM run ${out} (${r.parameters.toLocaleString('en')} + ${r.autoencoderParameters.toLocaleString('en')} autoencoder parameters)\n`);
  },
});
