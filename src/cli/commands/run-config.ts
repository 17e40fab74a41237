/**
 * Schemas of the config.json files the training commands write and every command reads back, with the
 * size limits the command-line flags share. A config.json is checked before anything is built from it:
 * `nLayers: 1e9` is refused in a millisecond, naming the file and field, instead of allocating for minutes.
 */
import * as path from 'node:path';
import * as v from 'valibot';
import { autoencoderMismatch } from '../../calm/autoencoder.js';
import { backboneOf } from '../../calm/calm-model.js';
import { countParams, type ModelSpec } from '../../calm/flops.js';
import { checkJson, intIn, numberIn, readJsonFile } from '../../nn/io/json-file.js';
import { UsageError } from '../args.js';

/** Upper bounds of model and data sizes, shared by the flags and the config.json schemas. */
export const LIMITS = {
  vocab: 65_540,
  dim: 4096,
  layers: 64,
  heads: 64,
  ffn: 16_384,
  batch: 4096,
  seq: 8192,
  K: 64,
  latent: 4096,
  samples: 1024,
  targetSamples: 4096,
  blocks: 1_000_000,
  steps: 100_000_000,
  /** Parameters of one model: 2^28 float32 values are 1 GiB, far past what this engine trains. */
  params: 2 ** 28,
} as const;

const count = (max: number) => intIn(1, max);
const unit = numberIn(0, 1);

const TrainSchema = v.object({
  steps: count(LIMITS.steps),
  lr: v.pipe(v.number(), v.finite(), v.gtValue(0)),
  minLr: numberIn(0, Number.MAX_VALUE),
  warmupSteps: intIn(0, LIMITS.steps),
  schedule: v.picklist(['cosine', 'constant']),
  weightDecay: numberIn(0, Number.MAX_VALUE),
  clip: v.pipe(v.number(), v.finite(), v.gtValue(0)),
  evalEvery: count(LIMITS.steps),
  checkpointEvery: count(LIMITS.steps),
});

export const TransformerRunSchema = v.object({
  model: v.literal('transformer'),
  version: v.literal(1),
  lm: v.object({
    vocabSize: intIn(2, LIMITS.vocab),
    dim: intIn(2, LIMITS.dim),
    nLayers: count(LIMITS.layers),
    nHeads: count(LIMITS.heads),
    ffnHidden: count(LIMITS.ffn),
    ropeTheta: v.optional(numberIn(1, 1e12)),
    normEps: v.optional(numberIn(0, 1)),
  }),
  data: v.object({
    tokenizer: v.picklist(['byte', 'bpe']),
    merges: intIn(0, LIMITS.vocab),
    seqLen: intIn(2, LIMITS.seq),
    batchSize: count(LIMITS.batch),
    validFraction: numberIn(0.001, 0.5),
    validBlocks: count(LIMITS.blocks),
    seed: intIn(0, Number.MAX_SAFE_INTEGER),
  }),
  train: TrainSchema,
  unigramValidLoss: v.nullable(v.pipe(v.number(), v.finite())),
});

const AutoencoderSchema = v.object({
  vocabSize: intIn(2, LIMITS.vocab),
  K: count(LIMITS.K),
  hidden: intIn(2, LIMITS.dim),
  intermediate: count(LIMITS.ffn),
  latent: count(LIMITS.latent),
  encoderLayers: intIn(2, LIMITS.layers),
  decoderLayers: intIn(2, LIMITS.layers),
});

export const AutoencoderRunSchema = v.object({
  model: v.literal('autoencoder'),
  version: v.literal(1),
  tokenizer: v.literal('byte'),
  autoencoder: AutoencoderSchema,
  regularisation: v.object({ beta: numberIn(0, 1e6), klFloor: numberIn(0, 1e6), tokenDropout: unit, latentDropout: unit, maskId: intIn(0, LIMITS.vocab) }),
  data: v.object({ batchSize: count(LIMITS.batch * 16), validFraction: numberIn(0.001, 0.5), validChunks: count(LIMITS.blocks), reportChunks: count(LIMITS.blocks), seed: intIn(0, Number.MAX_SAFE_INTEGER) }),
  train: TrainSchema,
});

export const CalmRunSchema = v.object({
  model: v.literal('calm'),
  version: v.literal(1),
  tokenizer: v.literal('byte'),
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
  if (dim % heads !== 0 || (dim / heads) % 2 !== 0) throw new Error(`${file}: ${field}: width ${dim} must be a multiple of ${heads} heads with an even head width (RoPE)`);
}

/**
 * Reads the config.json of a run folder of the given kind, checked field by field. A config of another
 * kind is a {@link UsageError} naming both.
 */
export function readRunConfig(dir: string, kind: 'transformer'): v.InferOutput<typeof TransformerRunSchema>;
export function readRunConfig(dir: string, kind: 'autoencoder'): v.InferOutput<typeof AutoencoderRunSchema>;
export function readRunConfig(dir: string, kind: 'calm'): v.InferOutput<typeof CalmRunSchema>;
export function readRunConfig(dir: string, kind: 'transformer' | 'autoencoder' | 'calm'): unknown {
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
