/**
 * Moving CALM runs to and from the PyTorch reference implementation's layout (src/calm/interchange.ts
 * holds the name table): `calm export --format reference` and `calm import` are thin shells over these.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Autoencoder } from '../autoencoder.js';
import { CalmModel } from '../calm-model.js';
import {
  AE_ALIASES, CALM_AE_PREFIX, autoencoderNameTable, calmAliases, calmNameTable, embedAutoencoder, fromReferenceTensors, parseReferenceAutoencoderConfig,
  parseReferenceCalmConfig, readReferencePart, referenceAutoencoderConfig, referenceCalmConfig, sameArray, splitEmbeddedAutoencoder, toReferenceTensors,
  writeReferencePart,
} from '../interchange.js';
import { saveCheckpoint, type JsonValue } from '../../nn/checkpoint.js';
import { ByteTokenizer } from '../../nn/data/tokenizer.js';
import { fsyncDirectory, writeJsonAtomic } from '../../nn/io/atomic.js';
import { CHECKPOINT } from '../../nn/train/run-folder.js';
import { Rng } from '../../tensor/random.js';
import { AUTOENCODER_SUBDIR, loadCalmRun } from './calm-run.js';
import { readRunConfig } from './run-config.js';

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

/** Writes the CALM run in `runDir` (model and frozen autoencoder) to a new folder `outDir` in the reference layout. */
export function exportReference(runDir: string, outDir: string): void {
  const { config, model, autoencoder } = loadCalmRun(runDir);
  if (config.tokenizer !== 'byte') throw new Error(`calm export: ${path.join(runDir, 'config.json')} uses a '${config.tokenizer}' tokenizer; the reference layout is written for byte-level runs only (it carries no tokenizer.json)`);
  const tokenizer = new ByteTokenizer();
  const aeTensors = toReferenceTensors(autoencoder, autoencoderNameTable(config.autoencoder), AE_ALIASES);
  const calmTable = calmNameTable(config.calm);
  publishFolder(outDir, (dir) => {
    writeReferencePart(dir, 'autoencoder', {
      tensors: aeTensors,
      config: referenceAutoencoderConfig(config.autoencoder, { tokenizer: 'byte', mask_id: tokenizer.mask }),
    });
    writeReferencePart(dir, 'calm', {
      // the reference's EnergyTransformer state_dict: its own tensors, the head again as mlp_generator.*, and the frozen AE as ae_model.*
      tensors: { ...embedAutoencoder(aeTensors), ...toReferenceTensors(model, calmTable, calmAliases(calmTable)) },
      config: referenceCalmConfig(config.calm, config as unknown as Record<string, unknown>, config.data.blockChunks, tokenizer),
    });
  });
}

/** Reads a reference-layout folder (autoencoder/ and calm/) into a new calm-ts CALM run folder `outDir`. */
export function importReference(referenceDirArg: string, outDir: string): { parameters: number; autoencoderParameters: number } {
  const tokenizer = new ByteTokenizer();
  const aePart = readReferencePart(referenceDirArg, 'autoencoder');
  const ae = parseReferenceAutoencoderConfig(aePart.config, aePart.configFile);
  if (ae.config.vocabSize !== tokenizer.vocabSize) {
    throw new Error(`${aePart.configFile}: vocab_size ${ae.config.vocabSize} is not the byte tokenizer's ${tokenizer.vocabSize}; calm-ts runs are byte-level`);
  }
  if (ae.extras !== null && ae.extras.mask_id !== tokenizer.mask) {
    throw new Error(`${aePart.configFile}: calm_ts.mask_id ${ae.extras.mask_id} differs from the byte tokenizer's MASK ${tokenizer.mask}`);
  }
  const aeTable = autoencoderNameTable(ae.config);
  const aeState = fromReferenceTensors(aePart.tensors, aeTable, aePart.weightsFile, AE_ALIASES);
  const autoencoder = new Autoencoder(ae.config, { rng: new Rng(0) }); // weights replaced below
  autoencoder.loadStateDict(aeState);

  const calmPart = readReferencePart(referenceDirArg, 'calm');
  const calm = parseReferenceCalmConfig(calmPart.config, calmPart.configFile);
  if (calm.config.latent !== ae.config.latent || calm.config.K !== ae.config.K) {
    throw new Error(`${calmPart.configFile}: latent_size ${calm.config.latent} / patch_size ${calm.config.K} differ from the autoencoder's ${ae.config.latent} / ${ae.config.K}`);
  }
  const { own, embedded } = splitEmbeddedAutoencoder(calmPart.tensors);
  if (embedded !== null) {
    // the reference's CALM checkpoint carries its frozen AE too; it must be the one in autoencoder/
    const copy = fromReferenceTensors(embedded, aeTable, `${calmPart.weightsFile} (${CALM_AE_PREFIX}*)`, AE_ALIASES);
    const differs = aeTable.find((r) => !sameArray(copy[r.ours], aeState[r.ours]));
    if (differs !== undefined) {
      throw new Error(`${calmPart.weightsFile}: '${CALM_AE_PREFIX}${differs.ref}' differs from '${differs.ref}' in ${aePart.weightsFile}; the CALM model's frozen autoencoder must be the one in autoencoder/`);
    }
  }
  const calmTable = calmNameTable(calm.config);
  const model = new CalmModel(calm.config, { rng: new Rng(0) }); // weights replaced below
  model.loadStateDict(fromReferenceTensors(own, calmTable, calmPart.weightsFile, calmAliases(calmTable)));

  // The reference fields decide the architecture; the calm-ts block (when present) restores the rest of the run.
  const raw = (calmPart.config as { max_position_embeddings?: unknown }).max_position_embeddings;
  const blockChunks = typeof raw === 'number' && Number.isInteger(raw) && raw >= 2 ? raw : 64;
  const runConfig = {
    ...defaultRunSettings(blockChunks),
    ...(calm.extras ?? {}),
    model: 'calm', version: 1, tokenizer: 'byte',
    calm: calm.config, autoencoder: ae.config,
    autoencoderRun: typeof calm.extras?.autoencoderRun === 'string' ? calm.extras.autoencoderRun : path.resolve(referenceDirArg, 'autoencoder'),
  };
  const referenceDir = path.resolve(referenceDirArg);
  publishFolder(outDir, (dir) => {
    writeJsonAtomic(path.join(dir, 'config.json'), runConfig);
    readRunConfig(dir, 'calm'); // the checks every run folder gets, naming the field that fails
    saveCheckpoint(path.join(dir, AUTOENCODER_SUBDIR), { model: autoencoder, extra: { config: ae.config } as unknown as JsonValue });
    saveCheckpoint(path.join(dir, CHECKPOINT), { model, extra: { importedFrom: referenceDir } });
  });
  return { parameters: model.numParameters(), autoencoderParameters: autoencoder.numParameters() };
}
