/** The config.json of a baseline Transformer run (written by `calm train`, read by `calm generate`). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v from 'valibot';
import { BpeTokenizer } from '../../nn/data/bpe.js';
import { intIn, readJsonFile } from '../../nn/io/json-file.js';
import { ByteTokenizer, type Tokenizer } from '../../nn/data/tokenizer.js';
import type { TransformerLMConfig } from '../../nn/transformer-lm.js';

export interface TransformerRunConfig {
  model: 'transformer';
  version: 1;
  lm: TransformerLMConfig;
  data: { tokenizer: string; merges: number; seqLen: number; batchSize: number; validFraction: number; validBlocks: number; seed: number };
  train: {
    steps: number; lr: number; minLr: number; warmupSteps: number; schedule: 'constant' | 'cosine';
    weightDecay: number; clip: number; evalEvery: number; checkpointEvery: number;
  };
  /** Cross-entropy of the held-out split under the training unigram distribution (nats/token). */
  unigramValidLoss: number | null;
}

/** The tokenizer a run was trained with (tokenizer.json for BPE runs). */
export function loadRunTokenizer(outDir: string, config: TransformerRunConfig): Tokenizer {
  if (config.data.tokenizer === 'byte') return new ByteTokenizer();
  const file = path.join(outDir, 'tokenizer.json');
  if (!fs.existsSync(file)) throw new Error(`calm: ${file} is missing (the run's config says tokenizer 'bpe')`);
  // The shape is checked here (naming the file); fromJSON checks every merge.
  const json = readJsonFile(v.object({ type: v.literal('bpe'), version: v.literal(1), pretokenizer: v.string(), merges: v.pipe(v.array(v.strictTuple([intIn(0, 65_535), intIn(0, 65_535)])), v.maxLength(65_536)) }), file);
  try {
    return BpeTokenizer.fromJSON(json);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}
