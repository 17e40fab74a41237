/**
 * Schemas of the config.json files the training runs write and every command reads back. A config.json is
 * checked before anything is built from it: `nLayers: 1e9` is refused in a millisecond, naming the file and
 * field, instead of allocating for minutes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v from 'valibot';
import { loadCheckpoint } from '../../nn/checkpoint.js';
import type { Tokenizer } from '../../nn/data/tokenizer.js';
import { checkJson, intIn, numberIn, readJsonFile } from '../../nn/io/json-file.js';
import { loadTokenizer, TOKENIZER_FILE, TOKENIZER_KINDS, type TokenizerKind } from '../../nn/train/tokenizer-file.js';
import { evenHeadWidth, LIMITS, TrainSchema } from '../../nn/train/train-config.js';
import { findCheckpoint } from '../../nn/train/trainer.js';
import { loadRunTokenizer, TransformerRunSchema, type TransformerRunConfig } from '../../nn/train/transformer-run.js';
import { TransformerLM } from '../../nn/transformer-lm.js';
import { UsageError } from '../../nn/usage-error.js';
import { Rng } from '../../tensor/random.js';
import { autoencoderMismatch } from '../autoencoder.js';
import { backboneOf } from '../calm-model.js';
import { countParams, type ModelSpec } from '../flops.js';

const count = (max: number) => intIn(1, max);
const unit = numberIn(0, 1);

/** The tokenizer of an AE or CALM run; 'byte' when absent. */
const TokenizerField = v.optional(v.picklist(TOKENIZER_KINDS), 'byte');

const AutoencoderSchema = v.object({
  vocabSize: intIn(2, LIMITS.vocab),
  K: count(LIMITS.K),
  hidden: intIn(2, LIMITS.dim),
  intermediate: count(LIMITS.ffn),
  latent: count(LIMITS.latent),
  encoderLayers: intIn(2, LIMITS.layers),
  decoderLayers: intIn(2, LIMITS.layers),
});

/** The config.json of an autoencoder run (`calm train-ae`). */
export const AutoencoderRunSchema = v.object({
  model: v.literal('autoencoder'),
  version: v.literal(1),
  /** 'bpe': the tokenizer is the run folder's tokenizer.json (runs before BPE support say 'byte'). */
  tokenizer: TokenizerField,
  /** BPE merges asked for (the tokenizer may have learned fewer); absent for byte runs. */
  merges: v.optional(intIn(0, LIMITS.vocab)),
  autoencoder: AutoencoderSchema,
  regularisation: v.object({ beta: numberIn(0, 1e6), klFloor: numberIn(0, 1e6), tokenDropout: unit, latentDropout: unit, maskId: intIn(0, LIMITS.vocab) }),
  data: v.object({ batchSize: count(LIMITS.batch * 16), validFraction: numberIn(0.001, 0.5), validChunks: count(LIMITS.blocks), reportChunks: count(LIMITS.blocks), seed: intIn(0, Number.MAX_SAFE_INTEGER) }),
  train: TrainSchema,
});

/** The config.json of a CALM run (`calm train --model calm`). */
export const CalmRunSchema = v.object({
  model: v.literal('calm'),
  version: v.literal(1),
  /** Always the autoencoder's tokenizer; 'bpe' runs hold a copy of its tokenizer.json. */
  tokenizer: TokenizerField,
  calm: v.object({
    vocabSize: intIn(2, LIMITS.vocab),
    d: intIn(2, LIMITS.dim),
    ffn: count(LIMITS.ffn),
    layers: count(LIMITS.layers),
    heads: count(LIMITS.heads),
    K: count(LIMITS.K),
    latent: count(LIMITS.latent),
    headBlocks: count(LIMITS.layers),
    noiseDim: count(LIMITS.latent),
    nSamples: intIn(2, LIMITS.samples),
    headDim: v.optional(count(LIMITS.dim)),
    init: v.optional(v.union([numberIn(0, 10), v.literal('fan-in')])),
    energyExponent: v.optional(v.pipe(v.number(), v.gtValue(0), v.ltValue(2))),
  }),
  autoencoder: AutoencoderSchema,
  autoencoderRun: v.string(),
  data: v.object({
    blockChunks: intIn(2, LIMITS.seq),
    batchSize: count(LIMITS.batch),
    targetSamples: count(LIMITS.targetSamples),
    targets: v.optional(v.picklist(['posterior', 'mean'])),
    validBlocks: count(LIMITS.blocks),
    brierBlocks: v.optional(count(LIMITS.blocks)),
    validFraction: numberIn(0.001, 0.5),
    seed: intIn(0, Number.MAX_SAFE_INTEGER),
  }),
  train: TrainSchema,
});

const ModelKindSchema = v.looseObject({ model: v.picklist(['transformer', 'autoencoder', 'calm']) });

/** Which kind of run a config.json describes (only the `model` field is checked). */
export function readRunKind(dir: string): 'transformer' | 'autoencoder' | 'calm' {
  return readJsonFile(ModelKindSchema, configPath(dir)).model;
}

function configPath(dir: string): string {
  return path.join(dir, 'config.json');
}

/** Refuses configs whose models are too large to build (the count is exact: src/calm/flops.ts). */
function checkSize(spec: ModelSpec, file: string, field: string): void {
  const n = countParams(spec);
  if (n > LIMITS.params) throw new Error(`${file}: ${field}: the model would have ${n.toLocaleString('en')} parameters, over the limit of ${LIMITS.params.toLocaleString('en')}`);
}

/** Cross-field rules the schemas cannot state. */
function checkHeads(file: string, field: string, dim: number, heads: number): void {
  if (!evenHeadWidth(dim, heads)) throw new Error(`${file}: ${field}: width ${dim} must be a multiple of ${heads} heads with an even head width (RoPE)`);
}

/** The config.json of each kind of run. */
export interface RunConfigs {
  transformer: TransformerRunConfig;
  autoencoder: v.InferOutput<typeof AutoencoderRunSchema>;
  calm: v.InferOutput<typeof CalmRunSchema>;
}

/** The kinds of run folder. */
export type RunKind = keyof RunConfigs;

/**
 * Reads the config.json of a run folder of the given kind, checked field by field. A config of another
 * kind is a {@link UsageError} naming both.
 */
export function readRunConfig<K extends RunKind>(dir: string, kind: K): RunConfigs[K];
export function readRunConfig(dir: string, kind: RunKind): RunConfigs[RunKind] {
  const file = configPath(dir);
  const actual = readRunKind(dir);
  if (actual !== kind) throw new UsageError(`${file} describes a '${actual}' run, not a '${kind}' run`);
  const raw = readJsonFile(v.unknown(), file);
  if (kind === 'transformer') {
    const c = checkJson(TransformerRunSchema, raw, file);
    checkHeads(file, 'lm', c.lm.dim, c.lm.nHeads);
    checkSize({ family: 'transformer', config: backboneOf(c.lm) }, file, 'lm');
    return c;
  }
  if (kind === 'autoencoder') {
    const c = checkJson(AutoencoderRunSchema, raw, file);
    if (c.regularisation.maskId >= c.autoencoder.vocabSize) throw new Error(`${file}: regularisation.maskId ${c.regularisation.maskId} is not an id of the vocabulary (autoencoder.vocabSize ${c.autoencoder.vocabSize})`);
    checkSize({ family: 'autoencoder', config: c.autoencoder }, file, 'autoencoder');
    return c;
  }
  const c = checkJson(CalmRunSchema, raw, file);
  checkHeads(file, 'calm', c.calm.d, c.calm.heads);
  const mismatch = autoencoderMismatch(c.calm, c.autoencoder);
  if (mismatch !== null) throw new Error(`${file}: calm: ${mismatch}`);
  checkSize({ family: 'calm', config: c.calm }, file, 'calm');
  checkSize({ family: 'autoencoder', config: c.autoencoder }, file, 'autoencoder');
  return c;
}

/**
 * The saved configuration of a run being resumed in `dir` (training further: `steps` is the one setting a
 * resume may change), or null when `dir` holds no config.json yet.
 */
export function resumedRunConfig<K extends RunKind>(dir: string, kind: K, steps: number): RunConfigs[K] | null {
  const file = configPath(dir);
  if (!fs.existsSync(file)) return null;
  const config = readRunConfig(dir, kind);
  config.train.steps = steps;
  process.stderr.write(`resuming with the configuration saved in ${file}\n`);
  return config;
}

/**
 * The tokenizer of the AE or CALM run folder `dir` (config.json says `kind`), checked against the vocabulary
 * size and MASK id its config records: a tokenizer.json from another run is refused, naming both files.
 */
export function loadFolderTokenizer(dir: string, kind: TokenizerKind, vocabSize: number, maskId?: number): Tokenizer {
  const tokenizer = loadTokenizer(dir, kind);
  const mismatch = tokenizerMismatch(tokenizer, vocabSize, maskId);
  if (mismatch !== null) {
    const source = kind === 'bpe' ? `${path.join(dir, TOKENIZER_FILE)} (${mismatch.tokenizer})` : `the byte tokenizer (${mismatch.tokenizer})`;
    throw new Error(`${source} does not match ${configPath(dir)} (${mismatch.config}): the tokenizer and the model come from different runs`);
  }
  return tokenizer;
}

/** How a tokenizer and a config's vocabulary size / MASK id disagree, or null when they agree. */
export function tokenizerMismatch(tokenizer: Tokenizer, vocabSize: number, maskId?: number): { tokenizer: string; config: string } | null {
  if (tokenizer.vocabSize === vocabSize && (maskId === undefined || maskId === tokenizer.mask)) return null;
  return {
    tokenizer: `${tokenizer.vocabSize} ids, MASK ${tokenizer.mask}`,
    config: `vocabSize ${vocabSize}${maskId === undefined ? '' : `, maskId ${maskId}`}`,
  };
}

/** A trained Transformer run: its configuration, tokenizer and model (weights of its last checkpoint). */
export function loadTransformerRun(runDir: string, command: string): { config: TransformerRunConfig; tokenizer: Tokenizer; model: TransformerLM } {
  const config = readRunConfig(runDir, 'transformer');
  const dir = findCheckpoint(runDir, { weightsOnly: true });
  if (dir === null) throw new Error(`${command}: no checkpoint in ${runDir} (train first, or wait for the first checkpoint)`);
  const tokenizer = loadRunTokenizer(runDir, config);
  const model = new TransformerLM(config.lm, { rng: new Rng(0) }); // weights are replaced by the checkpoint's
  loadCheckpoint(dir, { model });
  model.eval();
  return { config, tokenizer, model };
}
