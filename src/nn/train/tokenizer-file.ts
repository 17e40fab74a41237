/**
 * A run folder's tokenizer: nothing for byte runs, tokenizer.json for BPE runs. Every run that uses BPE
 * (the baseline Transformer, the CALM autoencoder and the CALM that trains against it) keeps its own copy,
 * so a run folder is self-contained; the CALM run's copy is taken from its autoencoder's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v from 'valibot';
import { BpeTokenizer } from '../data/bpe.js';
import { ByteTokenizer, type Tokenizer } from '../data/tokenizer.js';
import { ensureDir, writeFileAtomic } from '../io/atomic.js';
import { intIn, readJsonFile } from '../io/json-file.js';

/** File name of a BPE run's tokenizer inside its run folder. */
export const TOKENIZER_FILE = 'tokenizer.json';

/** The tokenizers a run can name in its config.json. */
export const TOKENIZER_KINDS = ['byte', 'bpe'] as const;

/** A tokenizer kind as run configs and the `--tokenizer` flag name it. */
export type TokenizerKind = (typeof TOKENIZER_KINDS)[number];

// The shape is checked here (naming the file); BpeTokenizer.fromJSON checks every merge.
const BpeFileSchema = v.object({
  type: v.literal('bpe'),
  version: v.literal(1),
  pretokenizer: v.string(),
  merges: v.pipe(v.array(v.strictTuple([intIn(0, 65_535), intIn(0, 65_535)])), v.maxLength(65_536)),
});

/** The kind of a tokenizer object. */
export function tokenizerKind(tokenizer: Tokenizer): TokenizerKind {
  return tokenizer instanceof BpeTokenizer ? 'bpe' : 'byte';
}

/**
 * The tokenizer of the run folder `dir` whose config.json names `kind`: the byte tokenizer, or the BPE
 * tokenizer in dir/tokenizer.json (an error naming the file when it is missing or broken).
 */
export function loadTokenizer(dir: string, kind: TokenizerKind): Tokenizer {
  if (kind === 'byte') return new ByteTokenizer();
  const file = path.join(dir, TOKENIZER_FILE);
  if (!fs.existsSync(file)) throw new Error(`calm: ${file} is missing (${path.join(dir, 'config.json')} says tokenizer 'bpe')`);
  const json = readJsonFile(BpeFileSchema, file);
  try {
    return BpeTokenizer.fromJSON(json);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}

/** Writes `tokenizer` to dir/tokenizer.json (atomically) when it is a BPE tokenizer; byte runs need no file. */
export function saveTokenizer(dir: string, tokenizer: Tokenizer): void {
  if (tokenizerKind(tokenizer) === 'byte') return;
  ensureDir(dir);
  writeFileAtomic(path.join(dir, TOKENIZER_FILE), `${JSON.stringify(tokenizer.toJSON())}\n`);
}

/** A new tokenizer of `kind`: bytes, or BPE with up to `merges` merges learned from `texts` (the training split). */
export function trainTokenizer(kind: TokenizerKind, merges: number, texts: readonly string[], log: (line: string) => void = () => {}): Tokenizer {
  if (kind === 'byte') return new ByteTokenizer();
  log(`training a BPE tokenizer with ${merges} merges on the training split ...`);
  return BpeTokenizer.train(texts, merges);
}

/** Whether two tokenizers map every text to the same ids (same kind and the same merges). */
export function sameTokenizer(a: Tokenizer, b: Tokenizer): boolean {
  return JSON.stringify(a.toJSON()) === JSON.stringify(b.toJSON());
}
