/**
 * A baseline Transformer run (`calm train`): its config.json, the tokenizer it was trained with, and the
 * training itself on the embedded corpus (CALM.md §3.3 data layout).
 */
import * as v from 'valibot';
import type { Backend } from '../../tensor/backend.js';
import { Rng } from '../../tensor/random.js';
import { describeBackend } from '../../tensor/select.js';
import { BpeTokenizer } from '../data/bpe.js';
import { loadCorpus, splitCorpus, VALID_FRACTION } from '../data/corpus.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { intIn, numberIn } from '../io/json-file.js';
import { TransformerLM } from '../transformer-lm.js';
import { createLmTask, encodeLmSplits, unigramCrossEntropy } from './lm-task.js';
import { loadTokenizer, saveTokenizer, TOKENIZER_KINDS, trainTokenizer } from './tokenizer-file.js';
import { LIMITS, trainConfigFrom, trainerOptions, TrainSchema, type RunControl, type TrainFlags } from './train-config.js';
import { train, type TrainSummary } from './trainer.js';

/** The config.json of a baseline Transformer run (written by `calm train`, read by `calm generate`). */
export const TransformerRunSchema = v.object({
  model: v.literal('transformer'),
  version: v.literal(1),
  lm: v.object({
    vocabSize: intIn(2, LIMITS.vocab),
    dim: intIn(2, LIMITS.dim),
    nLayers: intIn(1, LIMITS.layers),
    nHeads: intIn(1, LIMITS.heads),
    ffnHidden: intIn(1, LIMITS.ffn),
    ropeTheta: v.optional(numberIn(1, 1e12)),
    normEps: v.optional(numberIn(0, 1)),
  }),
  data: v.object({
    tokenizer: v.picklist(TOKENIZER_KINDS),
    merges: intIn(0, LIMITS.vocab),
    seqLen: intIn(2, LIMITS.seq),
    batchSize: intIn(1, LIMITS.batch),
    validFraction: numberIn(0.001, 0.5),
    validBlocks: intIn(1, LIMITS.blocks),
    seed: intIn(0, Number.MAX_SAFE_INTEGER),
  }),
  train: TrainSchema,
  /** Cross-entropy of the held-out split under the training unigram distribution (nats/token). */
  unigramValidLoss: v.nullable(v.pipe(v.number(), v.finite())),
});

/** The config.json of a baseline Transformer run. */
export type TransformerRunConfig = v.InferOutput<typeof TransformerRunSchema>;

/** The settings of a new run, named as `calm train`'s flags name them. */
export interface TransformerRunOptions extends TrainFlags {
  batch: number;
  seq: number;
  dim: number;
  layers: number;
  heads: number;
  /** SwiGLU width; 0 picks {@link defaultFfn}. */
  ffn: number;
  tokenizer: string;
  merges: number;
  validBlocks: number;
  validFraction: number;
  seed: number;
}

/** The defaults of `calm train` (its `--help` prints them from here). */
export const TRANSFORMER_RUN_DEFAULTS = {
  steps: 400, batch: 16, seq: 64, dim: 96, layers: 2, heads: 4, ffn: 0, tokenizer: 'byte', merges: 512,
  lr: 3e-3, minLr: 3e-4, warmup: 30, evalEvery: 100, checkpointEvery: 100, validBlocks: 64, validFraction: VALID_FRACTION, seed: 1,
} as const;

/** The SwiGLU width used when none is given: about 2.7 x d, a multiple of 8 (CALM.md §10.1). */
export function defaultFfn(dim: number): number {
  return Math.max(8, Math.round((2.7 * dim) / 8) * 8);
}

/** The configuration of a new run (the vocabulary size is filled in once the tokenizer is known). */
export function transformerRunConfig(o: TransformerRunOptions): TransformerRunConfig {
  const tokenizer = o.tokenizer === 'bpe' ? 'bpe' : 'byte';
  return {
    model: 'transformer',
    version: 1,
    lm: { vocabSize: 0, dim: o.dim, nLayers: o.layers, nHeads: o.heads, ffnHidden: o.ffn > 0 ? o.ffn : defaultFfn(o.dim) },
    data: { tokenizer, merges: tokenizer === 'bpe' ? o.merges : 0, seqLen: o.seq, batchSize: o.batch, validFraction: o.validFraction, validBlocks: o.validBlocks, seed: o.seed },
    train: trainConfigFrom(o),
    unigramValidLoss: null,
  };
}

/** The tokenizer a run was trained with (tokenizer.json for BPE runs). */
export function loadRunTokenizer(outDir: string, config: TransformerRunConfig): Tokenizer {
  return loadTokenizer(outDir, config.data.tokenizer);
}

/**
 * Trains the Transformer of `config` into `outDir`. `tokenizer` is the resumed run's; for a new BPE run it
 * is trained on the training split first and written to tokenizer.json. Fills in `config.lm.vocabSize` and
 * `config.unigramValidLoss` before the config is saved.
 */
export async function trainTransformer(
  config: TransformerRunConfig,
  tokenizer: Tokenizer,
  outDir: string,
  control: RunControl & { backend: Backend },
): Promise<{ summary: TrainSummary; unigram: number }> {
  const { log } = control;
  const split = splitCorpus(loadCorpus(), config.data.validFraction);
  if (config.data.tokenizer === 'bpe' && !(tokenizer instanceof BpeTokenizer)) {
    tokenizer = trainTokenizer('bpe', config.data.merges, split.train.map((d) => d.text), (line) => process.stderr.write(`${line}\n`));
    saveTokenizer(outDir, tokenizer);
  }
  config.lm.vocabSize = tokenizer.vocabSize;
  const tokens = encodeLmSplits(split, tokenizer);
  const unigram = unigramCrossEntropy(tokens.train, tokens.valid, tokenizer.vocabSize);
  config.unigramValidLoss = unigram;

  const model = new TransformerLM(config.lm, { rng: new Rng(config.data.seed) });
  const task = createLmTask({ model, trainTokens: tokens.train, validTokens: tokens.valid, seqLen: config.data.seqLen, batchSize: config.data.batchSize, seed: config.data.seed + 1, validBlocks: config.data.validBlocks });
  log(`backend: ${describeBackend(control.backend)}`);
  log(`transformer: ${model.numParameters().toLocaleString('en')} parameters, vocab ${tokenizer.vocabSize}, ${tokens.train.length.toLocaleString('en')} train / ${tokens.valid.length.toLocaleString('en')} valid tokens`);
  log(`unigram baseline on the held-out split: ${unigram.toFixed(4)} nats/token`);
  const summary = await train(task, trainerOptions(config.train, outDir, config, control));
  return { summary, unigram };
}
