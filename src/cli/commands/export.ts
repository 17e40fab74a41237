/**
 * `calm export --format reference`: a CALM run folder (model + its frozen autoencoder) in the PyTorch
 * reference implementation's parameter names, layouts and config fields (src/calm/interchange.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  AE_TIED, autoencoderNameTable, calmNameTable, referenceAutoencoderConfig, referenceCalmConfig, toReferenceTensors, writeReferencePart,
} from '../../calm/interchange.js';
import { ByteTokenizer } from '../../nn/data/tokenizer.js';
import { formatHelp, parseArgs, UsageError } from '../args.js';
import { loadCalmRun } from './train-calm.js';
import { publishFolder } from './import.js';

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
  const { options: o, help: wantHelp } = parseArgs('calm export', specs, argv);
  if (wantHelp) {
    process.stdout.write(help);
    return;
  }
  if (o.checkpoint === undefined) throw new UsageError('calm export: --checkpoint DIR is required');
  if (o.out === undefined) throw new UsageError('calm export: --out DIR is required');
  if (fs.existsSync(o.out)) throw new UsageError(`calm export: ${o.out} exists; choose a new --out folder`);
  const { config, model, autoencoder } = loadCalmRun(o.checkpoint);
  publishFolder(o.out, (dir) => {
    writeReferencePart(dir, 'autoencoder', {
      tensors: toReferenceTensors(autoencoder, autoencoderNameTable(config.autoencoder), AE_TIED),
      config: referenceAutoencoderConfig(config.autoencoder, { tokenizer: 'byte', mask_id: new ByteTokenizer().mask }),
    });
    writeReferencePart(dir, 'calm', {
      tensors: toReferenceTensors(model, calmNameTable(config.calm)),
      config: referenceCalmConfig(config.calm, config as unknown as Record<string, unknown>, config.data.blockChunks),
    });
  });
  process.stdout.write(`calm export: wrote ${path.join(o.out, 'autoencoder')} and ${path.join(o.out, 'calm')} (reference names, [out, in] Linear weights)\n`);
}
