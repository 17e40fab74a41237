/**
 * `calm import`: a folder in the PyTorch reference's names and layouts (as `calm export` writes it) back
 * into a calm-ts CALM run folder (config.json, checkpoint/, autoencoder/) that `calm generate` and
 * `calm eval` read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Autoencoder } from '../../calm/autoencoder.js';
import { CalmModel } from '../../calm/calm-model.js';
import {
  AE_TIED, autoencoderNameTable, calmNameTable, fromReferenceTensors, parseReferenceAutoencoderConfig, parseReferenceCalmConfig, readReferencePart,
} from '../../calm/interchange.js';
import { saveCheckpoint, type JsonValue } from '../../nn/checkpoint.js';
import { ByteTokenizer } from '../../nn/data/tokenizer.js';
import { fsyncDirectory, writeJsonAtomic } from '../../nn/io/atomic.js';
import { CHECKPOINT } from '../../nn/train/run-folder.js';
import { Rng } from '../../tensor/random.js';
import { formatHelp, parseArgs, UsageError } from '../args.js';
import { readRunConfig } from './run-config.js';
import { AUTOENCODER_SUBDIR } from './train-calm.js';

export const specs = {
  reference: { type: 'string', description: 'folder with autoencoder/ and calm/ in the reference layout (written by calm export, or by the reference with the same names)' },
  out: { type: 'string', description: 'CALM run folder to create; must not exist' },
} as const;

export const help = formatHelp(
  'calm import',
  'Read a CALM model and its autoencoder in the PyTorch reference\'s names and layouts into a calm-ts run folder (for calm generate / calm eval). calm-ts runs use the byte tokenizer: the vocabulary must be its 260 ids.',
  specs,
);

/**
 * Builds a folder at `target` as a whole: `write(tmp)` fills `target.tmp-<pid>`, which is then renamed to
 * `target`, so a crash never leaves a half-written folder under the final name.
 */
export function publishFolder(target: string, write: (dir: string) => void): void {
  const tmp = `${target.replace(/[/\\]+$/, '')}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    write(tmp);
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  fsyncDirectory(path.dirname(path.resolve(target)));
}

/** Training settings for a run whose config.json carries no calm-ts block (a checkpoint trained by the reference). */
function defaultRunSettings(blockChunks: number): Record<string, unknown> {
  return {
    data: { blockChunks, batchSize: 8, targetSamples: 100, targets: 'posterior', validBlocks: 16, validFraction: 0.05, seed: 0 },
    train: { steps: 1, lr: 3e-4, minLr: 3e-4, warmupSteps: 0, schedule: 'constant', weightDecay: 0.1, clip: 1, evalEvery: 100, checkpointEvery: 100 },
  };
}

export async function run(argv: string[]): Promise<void> {
  const { options: o, help: wantHelp } = parseArgs('calm import', specs, argv);
  if (wantHelp) {
    process.stdout.write(help);
    return;
  }
  if (o.reference === undefined) throw new UsageError('calm import: --reference DIR is required');
  if (o.out === undefined) throw new UsageError('calm import: --out DIR is required');
  if (fs.existsSync(o.out)) throw new UsageError(`calm import: ${o.out} exists; choose a new --out folder`);

  const tokenizer = new ByteTokenizer();
  const aePart = readReferencePart(o.reference, 'autoencoder');
  const ae = parseReferenceAutoencoderConfig(aePart.config, aePart.configFile);
  if (ae.config.vocabSize !== tokenizer.vocabSize) {
    throw new Error(`${aePart.configFile}: vocab_size ${ae.config.vocabSize} is not the byte tokenizer's ${tokenizer.vocabSize}; calm-ts runs are byte-level`);
  }
  if (ae.extras !== null && ae.extras.mask_id !== tokenizer.mask) {
    throw new Error(`${aePart.configFile}: calm_ts.mask_id ${ae.extras.mask_id} differs from the byte tokenizer's MASK ${tokenizer.mask}`);
  }
  const autoencoder = new Autoencoder(ae.config, { rng: new Rng(0) }); // weights replaced below
  autoencoder.loadStateDict(fromReferenceTensors(aePart.tensors, autoencoderNameTable(ae.config), aePart.weightsFile, AE_TIED));

  const calmPart = readReferencePart(o.reference, 'calm');
  const calm = parseReferenceCalmConfig(calmPart.config, calmPart.configFile);
  if (calm.config.latent !== ae.config.latent || calm.config.K !== ae.config.K) {
    throw new Error(`${calmPart.configFile}: latent_size ${calm.config.latent} / patch_size ${calm.config.K} differ from the autoencoder's ${ae.config.latent} / ${ae.config.K}`);
  }
  const model = new CalmModel(calm.config, { rng: new Rng(0) }); // weights replaced below
  model.loadStateDict(fromReferenceTensors(calmPart.tensors, calmNameTable(calm.config), calmPart.weightsFile));

  // The reference fields decide the architecture; the calm-ts block (when present) restores the rest of the run.
  const raw = (calmPart.config as { max_position_embeddings?: unknown }).max_position_embeddings;
  const blockChunks = typeof raw === 'number' && Number.isInteger(raw) && raw >= 2 ? raw : 64;
  const runConfig = {
    ...defaultRunSettings(blockChunks),
    ...(calm.extras ?? {}),
    model: 'calm', version: 1, tokenizer: 'byte',
    calm: calm.config, autoencoder: ae.config,
    autoencoderRun: typeof calm.extras?.autoencoderRun === 'string' ? calm.extras.autoencoderRun : path.resolve(o.reference, 'autoencoder'),
  };
  const referenceDir = path.resolve(o.reference);
  publishFolder(o.out, (dir) => {
    writeJsonAtomic(path.join(dir, 'config.json'), runConfig);
    readRunConfig(dir, 'calm'); // the same checks as any run folder, naming the field that fails
    saveCheckpoint(path.join(dir, AUTOENCODER_SUBDIR), { model: autoencoder, extra: { config: ae.config } as unknown as JsonValue });
    saveCheckpoint(path.join(dir, CHECKPOINT), { model, extra: { importedFrom: referenceDir } });
  });
  process.stdout.write(`calm import: wrote the CALM run ${o.out} (${model.numParameters().toLocaleString('en')} + ${autoencoder.numParameters().toLocaleString('en')} autoencoder parameters)\n`);
}
