/**
 * A CALM run (`calm train --model calm --autoencoder DIR`, CALM.md §3, §4): its configuration, training on
 * the embedded corpus against a frozen autoencoder from an autoencoder run, and loading. The AE's weights are
 * copied into the run folder (autoencoder/), and so is its tokenizer (tokenizer.json, BPE runs): the
 * tokenizer always comes from the autoencoder, and the run is self-contained for `calm generate` and `calm eval`.
 */
import { ChunkTables } from '../reference-levels.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint, saveCheckpoint, type JsonValue } from '../../nn/checkpoint.js';
import { loadCorpus, splitCorpus, VALID_FRACTION } from '../../nn/data/corpus.js';
import { ByteTokenizer, type Tokenizer } from '../../nn/data/tokenizer.js';
import { INIT_STD } from '../../nn/init.js';
import { encodeLmSplits } from '../../nn/train/lm-task.js';
import { saveTokenizer, tokenizerKind, type TokenizerKind } from '../../nn/train/tokenizer-file.js';
import { evenHeadWidth, trainConfigFrom, trainerOptions, type RunControl, type TrainFlags } from '../../nn/train/train-config.js';
import { findCheckpoint, train, type TrainSummary } from '../../nn/train/trainer.js';
import { defaultFfn } from '../../nn/train/transformer-run.js';
import { UsageError } from '../../nn/usage-error.js';
import { Rng } from '../../tensor/random.js';
import { Autoencoder, type AutoencoderConfig } from '../autoencoder.js';
import { CalmModel, widthAwareInitStd } from '../calm-model.js';
import { createCalmTask } from '../tasks.js';
import { loadAutoencoderRun } from './autoencoder-run.js';
import { loadFolderTokenizer, readRunConfig, resumedRunConfig, tokenizerMismatch, type RunConfigs } from './run-config.js';

/** What a CALM run writes to config.json (read by calm generate). */
export type CalmRunConfig = RunConfigs['calm'];

/** The settings of a new run, named as `calm train --model calm`'s flags name them. */
export interface CalmRunOptions extends TrainFlags {
  batch: number;
  chunks: number;
  dim: number;
  layers: number;
  heads: number;
  /** SwiGLU width; 0 picks {@link defaultFfn}. */
  ffn: number;
  headBlocks: number;
  /** Width of the energy head; 0 is the model width. */
  headDim: number;
  noiseDim: number;
  init: string;
  /** Exponent α of the training energy score (CALM.md §4.1); 1 is the reference's. */
  energyExponent: number;
  samples: number;
  targetSamples: number;
  targets: string;
  validBlocks: number;
  brierBlocks: number;
  validFraction: number;
  seed: number;
  /** Optional check: must equal the autoencoder run's tokenizer (which is the one used). */
  tokenizer?: string;
}

/** The defaults of `calm train --model calm` (the README's sweep; its `--help` prints them from here). */
export const CALM_RUN_DEFAULTS = {
  steps: 1600, batch: 16, chunks: 17, dim: 64, layers: 2, heads: 4, ffn: 0, headBlocks: 2, headDim: 0, noiseDim: 32, init: 'fan-in', energyExponent: 0.5,
  samples: 4, targetSamples: 16, targets: 'posterior', lr: 2e-3, minLr: 2e-4, warmup: 40, evalEvery: 100, checkpointEvery: 100,
  validBlocks: 64, brierBlocks: 256, validFraction: VALID_FRACTION, seed: 1,
} as const;

/** Folder of the AE copy inside a CALM run. */
export const AUTOENCODER_SUBDIR = 'autoencoder';

/** Loads a CALM run folder: configuration, tokenizer, the model (last checkpoint) and its frozen autoencoder. */
export function loadCalmRun(dir: string): { config: CalmRunConfig; model: CalmModel; autoencoder: Autoencoder; tokenizer: Tokenizer } {
  const configPath = path.join(dir, 'config.json');
  if (!fs.existsSync(configPath)) throw new UsageError(`${configPath} not found: expected a run folder written by calm train --model calm`);
  const config = readRunConfig(dir, 'calm');
  const tokenizer = loadFolderTokenizer(dir, config.tokenizer, config.calm.vocabSize);
  const checkpoint = findCheckpoint(dir, { weightsOnly: true });
  if (checkpoint === null) throw new Error(`loadCalmRun: no checkpoint in ${dir} (train first, or wait for the first checkpoint)`);
  const model = new CalmModel(config.calm, { rng: new Rng(0) }); // weights are replaced by the checkpoint's
  loadCheckpoint(checkpoint, { model });
  const autoencoder = new Autoencoder(config.autoencoder, { rng: new Rng(0) });
  loadCheckpoint(path.join(dir, AUTOENCODER_SUBDIR), { model: autoencoder });
  model.eval();
  autoencoder.eval();
  return { config, model, autoencoder, tokenizer };
}

/**
 * The run configuration from parsed `calm train --model calm` options and the AE it trains against (its
 * model configuration, run folder and tokenizer kind).
 */
export function calmRunConfig(o: CalmRunOptions, ae: AutoencoderConfig, aeRun: string, tokenizer: TokenizerKind = 'byte'): CalmRunConfig {
  if (!evenHeadWidth(o.dim, o.heads)) throw new UsageError(`calm train --model calm: --dim ${o.dim} must be a multiple of --heads ${o.heads} with an even head width (RoPE)`);
  const ffn = o.ffn > 0 ? o.ffn : defaultFfn(o.dim);
  return {
    model: 'calm',
    version: 1,
    tokenizer,
    calm: {
      vocabSize: ae.vocabSize, d: o.dim, ffn, layers: o.layers, heads: o.heads, K: ae.K, latent: ae.latent, headBlocks: o.headBlocks, noiseDim: o.noiseDim, nSamples: o.samples,
      ...(o.headDim > 0 ? { headDim: o.headDim } : {}),
      init: o.init === 'fan-in' ? 'fan-in' : o.init === 'reference' ? INIT_STD : widthAwareInitStd(o.dim),
      ...(o.energyExponent !== 1 ? { energyExponent: o.energyExponent } : {}),
    },
    autoencoder: ae,
    autoencoderRun: path.resolve(aeRun),
    data: { blockChunks: o.chunks, batchSize: o.batch, targetSamples: o.targetSamples, targets: o.targets === 'mean' ? 'mean' : 'posterior', validBlocks: o.validBlocks, brierBlocks: o.brierBlocks, validFraction: o.validFraction, seed: o.seed },
    train: trainConfigFrom(o),
  };
}

/**
 * Trains CALM into `outDir` against `autoencoder` (frozen): `calm train --model calm` and `calm demo`.
 * `options.tokenizer` is the autoencoder's tokenizer (required for BPE runs; byte runs default to bytes); a BPE
 * tokenizer is copied to outDir/tokenizer.json.
 */
export async function trainCalm(
  config: CalmRunConfig,
  autoencoder: Autoencoder,
  outDir: string,
  options: RunControl & { tokenizer?: Tokenizer },
): Promise<{ summary: TrainSummary; model: CalmModel; tokens: { train: Int32Array; valid: Int32Array }; referenceTables?: ChunkTables }> {
  const tokenizer = options.tokenizer ?? (config.tokenizer === 'byte' ? new ByteTokenizer() : null);
  if (tokenizer === null) throw new Error(`trainCalm: the run in ${outDir} uses a BPE tokenizer; pass the autoencoder's`);
  if (tokenizerKind(tokenizer) !== config.tokenizer) throw new Error(`trainCalm: the config says tokenizer '${config.tokenizer}', the tokenizer handed over is '${tokenizerKind(tokenizer)}'`);
  const mismatch = tokenizerMismatch(tokenizer, config.calm.vocabSize);
  if (mismatch !== null) throw new Error(`trainCalm: the tokenizer (${mismatch.tokenizer}) does not match the model (${mismatch.config})`);
  saveTokenizer(outDir, tokenizer);
  const split = splitCorpus(loadCorpus(), config.data.validFraction);
  const tokens = encodeLmSplits(split, tokenizer); // BOS per document, no EOS, no padding (CALM.md §3.3)
  // The reference tables of the periodic evaluations (K >= 4), returned so a final report need not count them again.
  const referenceTables = config.calm.K >= 4 ? ChunkTables.fromTokens(tokens.train, config.calm.K) : undefined;
  const model = new CalmModel(config.calm, { rng: new Rng(config.data.seed) });
  saveCheckpoint(path.join(outDir, AUTOENCODER_SUBDIR), { model: autoencoder, extra: { config: config.autoencoder } as unknown as JsonValue });
  options.log(`calm: ${model.numParameters().toLocaleString('en')} parameters (d ${config.calm.d}, ${config.calm.layers} layers, head B ${config.calm.headBlocks}, N ${config.calm.nSamples}, M ${config.data.targetSamples}), ${tokens.train.length.toLocaleString('en')} train / ${tokens.valid.length.toLocaleString('en')} held-out tokens`);
  const task = createCalmTask({
    model, autoencoder, trainTokens: tokens.train, validTokens: tokens.valid, blockChunks: config.data.blockChunks,
    batchSize: config.data.batchSize, targetSamples: config.data.targetSamples, targets: config.data.targets, seed: config.data.seed + 1, validBlocks: config.data.validBlocks, brierBlocks: config.data.brierBlocks,
    referenceTables,
  });
  const summary = await train(task, trainerOptions(config.train, outDir, config, options));
  return { summary, model, tokens, referenceTables };
}

/**
 * The configuration, frozen autoencoder and tokenizer of a CALM run to train into `outDir`: with `resume`, the
 * ones saved there; otherwise a new configuration from `o` against the autoencoder run `aeRun`, whose
 * tokenizer the run takes over. `o.tokenizer`, when given, must name that tokenizer's kind. A resumed run
 * uses its own copies of the autoencoder and tokenizer, checked against its config.json.
 */
export function prepareCalmRun(o: CalmRunOptions & { resume: boolean }, aeRun: string | undefined, outDir: string): { config: CalmRunConfig; autoencoder: Autoencoder; tokenizer: Tokenizer } {
  const saved = o.resume ? resumedRunConfig(outDir, 'calm', o.steps) : null;
  if (saved !== null) {
    checkTokenizerFlag(o.tokenizer, saved.tokenizer, path.join(outDir, 'config.json'));
    const tokenizer = loadFolderTokenizer(outDir, saved.tokenizer, saved.calm.vocabSize);
    const autoencoder = new Autoencoder(saved.autoencoder, { rng: new Rng(0) });
    loadCheckpoint(path.join(outDir, AUTOENCODER_SUBDIR), { model: autoencoder });
    return { config: saved, autoencoder, tokenizer };
  }
  if (aeRun === undefined) throw new UsageError('calm train --model calm: --autoencoder DIR is required (train one with calm train-ae)');
  const ae = loadAutoencoderRun(aeRun);
  checkTokenizerFlag(o.tokenizer, ae.config.tokenizer, path.join(aeRun, 'config.json'));
  return { config: calmRunConfig(o, ae.config.autoencoder, aeRun, ae.config.tokenizer), autoencoder: ae.model, tokenizer: ae.tokenizer };
}

/** `--tokenizer` only checks: the tokenizer is the autoencoder's, named in `configFile`. */
function checkTokenizerFlag(flag: string | undefined, kind: TokenizerKind, configFile: string): void {
  if (flag === undefined || flag === kind) return;
  throw new UsageError(`calm train --model calm: --tokenizer ${flag} does not match the autoencoder's tokenizer '${kind}' (${configFile}); a CALM always uses its autoencoder's tokenizer: train an autoencoder with --tokenizer ${flag}, or drop the flag`);
}
