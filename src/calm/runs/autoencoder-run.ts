/**
 * An autoencoder run (`calm train-ae`, CALM.md §2): its configuration, training on the embedded corpus with
 * the byte tokenizer or a BPE tokenizer learned from the training split (kept as the run's tokenizer.json,
 * the one a CALM trained against this autoencoder takes over), the held-out robustness report (§10.2) saved
 * as robustness.json, and loading.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint } from '../../nn/checkpoint.js';
import { loadCorpus, splitCorpus, VALID_FRACTION } from '../../nn/data/corpus.js';
import { encodeDocuments } from '../../nn/data/loader.js';
import { ByteTokenizer, type Tokenizer } from '../../nn/data/tokenizer.js';
import { writeJsonAtomic } from '../../nn/io/atomic.js';
import type { JsonValue } from '../../nn/checkpoint.js';
import { saveTokenizer, tokenizerKind, trainTokenizer, type TokenizerKind } from '../../nn/train/tokenizer-file.js';
import { trainConfigFrom, trainerOptions, type RunControl, type TrainFlags } from '../../nn/train/train-config.js';
import { findCheckpoint, train, type TrainSummary } from '../../nn/train/trainer.js';
import { UsageError } from '../../nn/usage-error.js';
import { Rng } from '../../tensor/random.js';
import { Autoencoder, defaultRegularisation } from '../autoencoder.js';
import { autoencoderRobustness, createAutoencoderTask, evenBlocks, type RobustnessReport } from '../tasks.js';
import { loadFolderTokenizer, readRunConfig, tokenizerMismatch, type RunConfigs } from './run-config.js';

/** What `calm train-ae` writes to config.json; `calm train --model calm --autoencoder DIR` reads it back. */
export type AutoencoderRunConfig = RunConfigs['autoencoder'];

/** The settings of a new run, named as `calm train-ae`'s flags name them. */
export interface AutoencoderRunOptions extends TrainFlags {
  batch: number;
  k: number;
  hidden: number;
  latent: number;
  layers: number;
  beta: number;
  klFloor: number;
  tokenDropout: number;
  latentDropout: number;
  /** 'byte' or 'bpe' (a BPE tokenizer with `merges` merges learned from the training split). */
  tokenizer: string;
  merges: number;
  validChunks: number;
  reportChunks: number;
  validFraction: number;
  seed: number;
}

const REFERENCE = defaultRegularisation(0);

/**
 * The defaults of `calm train-ae` (its `--help` prints them from here): d_ae = 128, l = 128 at K = 4, the
 * reference regularisation of CALM.md §2.7.
 */
export const AUTOENCODER_RUN_DEFAULTS = {
  steps: 5000, batch: 64, k: 4, hidden: 128, latent: 128, layers: 2, tokenizer: 'byte', merges: 512,
  beta: REFERENCE.beta, klFloor: REFERENCE.klFloor, tokenDropout: REFERENCE.tokenDropout, latentDropout: REFERENCE.latentDropout,
  lr: 3e-3, minLr: 3e-4, warmup: 100, evalEvery: 200, checkpointEvery: 200, validChunks: 2048, reportChunks: 8192, validFraction: VALID_FRACTION, seed: 1,
} as const;

/**
 * Reads an AE run folder: its configuration, its tokenizer (checked against the configuration) and the
 * trained model (weights from its checkpoint).
 */
export function loadAutoencoderRun(dir: string): { config: AutoencoderRunConfig; model: Autoencoder; tokenizer: Tokenizer } {
  const configPath = path.join(dir, 'config.json');
  if (!fs.existsSync(configPath)) throw new UsageError(`${configPath} not found: --autoencoder must name a run folder written by calm train-ae`);
  const config = readRunConfig(dir, 'autoencoder');
  const tokenizer = loadFolderTokenizer(dir, config.tokenizer, config.autoencoder.vocabSize, config.regularisation.maskId);
  const checkpoint = findCheckpoint(dir, { weightsOnly: true });
  if (checkpoint === null) throw new Error(`loadAutoencoderRun: no checkpoint in ${dir} (train it first)`);
  const model = new Autoencoder(config.autoencoder, { rng: new Rng(0) }); // weights are replaced by the checkpoint's
  loadCheckpoint(checkpoint, { model });
  model.eval();
  return { config, model, tokenizer };
}

/** The AE data streams of CALM.md §2.8: BOS + text + EOS, PAD to a multiple of K, per document. */
export function autoencoderTokens(validFraction: number, K: number, tokenizer: Tokenizer = new ByteTokenizer()): { train: Int32Array; valid: Int32Array } {
  const split = splitCorpus(loadCorpus(), validFraction);
  const opts = { bos: true, eos: true, padToMultipleOf: K } as const;
  return { train: encodeDocuments(split.train, tokenizer, opts), valid: encodeDocuments(split.valid, tokenizer, opts) };
}

/**
 * The autoencoder recipe of `calm demo` and `calm experiment`: larger batches and a higher peak rate than
 * `calm train-ae`'s defaults reach the §10.2 targets in fewer, cheaper steps (README, "How we chose the
 * autoencoder settings").
 */
export const AUTOENCODER_RECIPE = { batch: 128, lr: 5e-3, minLr: 5e-4 } as const;

/** The SwiGLU width of an autoencoder of width `hidden`: 2.5 x hidden (320 at the default 128). */
export const aeIntermediate = (hidden: number): number => Math.round(2.5 * hidden);

/**
 * The run configuration from parsed `calm train-ae` options. With `--tokenizer bpe` the vocabulary size and
 * MASK id are 0 until {@link trainAutoencoder} has learned the tokenizer (or is handed one).
 */
export function autoencoderRunConfig(o: AutoencoderRunOptions): AutoencoderRunConfig {
  if (o.layers % 2 !== 0) throw new UsageError(`calm train-ae: --layers must be even (half before, half after the compress step), got ${o.layers}`);
  const kind: TokenizerKind = o.tokenizer === 'bpe' ? 'bpe' : 'byte';
  const bytes = new ByteTokenizer();
  const vocabSize = kind === 'byte' ? bytes.vocabSize : 0;
  const maskId = kind === 'byte' ? bytes.mask : 0;
  return {
    model: 'autoencoder',
    version: 1,
    tokenizer: kind,
    ...(kind === 'bpe' ? { merges: o.merges } : {}), // byte configs stay as they were before BPE
    autoencoder: { vocabSize, K: o.k, hidden: o.hidden, intermediate: aeIntermediate(o.hidden), latent: o.latent, encoderLayers: o.layers, decoderLayers: o.layers },
    regularisation: { ...defaultRegularisation(maskId), beta: o.beta, klFloor: o.klFloor, tokenDropout: o.tokenDropout, latentDropout: o.latentDropout },
    data: { batchSize: o.batch, validFraction: o.validFraction, validChunks: o.validChunks, reportChunks: o.reportChunks, seed: o.seed },
    train: trainConfigFrom(o),
  };
}

/**
 * The tokenizer an AE run trains with, and the configuration filled in with its vocabulary size and MASK id:
 * `given` (the experiment shares one BPE tokenizer among all its runs), else the byte tokenizer, else for a
 * new BPE run (vocabulary size still 0) one learned from the training split, else (a resumed BPE run) the
 * folder's tokenizer.json. BPE tokenizers are written to outDir/tokenizer.json.
 */
export function autoencoderRunTokenizer(config: AutoencoderRunConfig, outDir: string, given: Tokenizer | undefined, log: (line: string) => void): Tokenizer {
  let tokenizer: Tokenizer;
  const fresh = config.autoencoder.vocabSize === 0;
  if (given !== undefined) {
    if (tokenizerKind(given) !== config.tokenizer) throw new Error(`trainAutoencoder: the config says tokenizer '${config.tokenizer}', the tokenizer handed over is '${tokenizerKind(given)}'`);
    tokenizer = given;
  } else if (config.tokenizer === 'bpe' && fresh) {
    const split = splitCorpus(loadCorpus(), config.data.validFraction);
    tokenizer = trainTokenizer('bpe', config.merges ?? AUTOENCODER_RUN_DEFAULTS.merges, split.train.map((d) => d.text), log);
  } else {
    return loadFolderTokenizer(outDir, config.tokenizer, config.autoencoder.vocabSize, config.regularisation.maskId);
  }
  if (fresh) {
    config.autoencoder.vocabSize = tokenizer.vocabSize;
    config.regularisation.maskId = tokenizer.mask;
  }
  const mismatch = tokenizerMismatch(tokenizer, config.autoencoder.vocabSize, config.regularisation.maskId);
  if (mismatch !== null) throw new Error(`trainAutoencoder: the tokenizer (${mismatch.tokenizer}) does not match the configuration of ${outDir} (${mismatch.config})`);
  saveTokenizer(outDir, tokenizer);
  return tokenizer;
}

/**
 * Trains an AE into `outDir` and writes robustness.json (`calm train-ae`, `calm demo`, `calm experiment`);
 * `options.tokenizer` hands over the tokenizer (see {@link autoencoderRunTokenizer}).
 */
export async function trainAutoencoder(
  config: AutoencoderRunConfig,
  outDir: string,
  options: RunControl & { tokenizer?: Tokenizer },
): Promise<{ summary: TrainSummary; report: RobustnessReport; model: Autoencoder; tokenizer: Tokenizer; seconds: number }> {
  const started = performance.now();
  const { log } = options;
  const tokenizer = autoencoderRunTokenizer(config, outDir, options.tokenizer, log);
  const tokens = autoencoderTokens(config.data.validFraction, config.autoencoder.K, tokenizer);
  const model = new Autoencoder(config.autoencoder, { rng: new Rng(config.data.seed) });
  log(`autoencoder: ${model.numParameters().toLocaleString('en')} parameters (K ${config.autoencoder.K}, hidden ${config.autoencoder.hidden}, latent ${config.autoencoder.latent}${config.tokenizer === 'bpe' ? `, BPE tokens, V ${tokenizer.vocabSize}` : ''}), ${tokens.train.length.toLocaleString('en')} train / ${tokens.valid.length.toLocaleString('en')} held-out tokens`);
  const task = createAutoencoderTask({
    model, trainTokens: tokens.train, validTokens: tokens.valid, batchSize: config.data.batchSize,
    regularisation: config.regularisation, seed: config.data.seed + 1, validChunks: config.data.validChunks,
  });
  const summary = await train(task, trainerOptions(config.train, outDir, config, options));
  log(`robustness report on ${Math.min(config.data.reportChunks, tokens.valid.length / config.autoencoder.K)} held-out chunks ...`);
  const held = evenBlocks(tokens.valid, config.autoencoder.K, config.data.reportChunks);
  const report = autoencoderRobustness(model, held.ids, { rng: new Rng(config.data.seed + 3), klFloor: config.regularisation.klFloor });
  writeJsonAtomic(path.join(outDir, 'robustness.json'), report as unknown as JsonValue);
  return { summary, report, model, tokenizer, seconds: (performance.now() - started) / 1000 };
}

/** Human-readable lines of a robustness report. */
export function formatRobustness(r: RobustnessReport): string[] {
  const pct = (x: number): string => `${(100 * x).toFixed(3)} %`;
  return [
    `held-out tokens:            ${r.tokens}`,
    `accuracy decoding mu:       ${pct(r.accuracyMu)}   (target >= 99.9 %)`,
    `accuracy decoding a sample: ${pct(r.accuracySample)}   (target >= 99.5 %)`,
    ...Object.entries(r.accuracyNoise).map(([s, a]) => `accuracy with N(0, ${s}^2) on mu: ${pct(a)}`),
    `mean sigma:                 ${r.meanSigma.toFixed(4)}`,
    `mean KL per chunk:          ${r.meanKl.toFixed(3)} nats`,
    `latent dims at the KL floor: ${r.dimsAtKlFloor} of ${r.latent}`,
    `effective rank of cov(mu):   ${r.effectiveRank} of ${r.latent} (eigenvalues > 1 % of the largest; participation ratio ${r.participationRatio.toFixed(2)})`,
  ];
}
