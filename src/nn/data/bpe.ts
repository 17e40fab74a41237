/**
 * Byte-level BPE, trained and applied in the project.
 *
 * Text is first cut into chunks (a letter run, a digit run or a punctuation run, each with an optional
 * leading space; or a whitespace run) so merges never cross word boundaries. Ids 0..255 are bytes, merge r
 * creates id 256 + r, then come PAD, BOS, EOS, MASK. Round trip as in {@link ByteTokenizer}: exact for
 * well-formed strings.
 */
import { ByteTokenizer, NUM_SPECIAL_TOKENS, type Tokenizer, utf8Bytes, utf8Decode } from './tokenizer.js';

/** Name of the pre-splitting rule, stored in the JSON so a future rule change is detected. */
export const BPE_PRETOKENIZER = 'calm-ts-chunks-v1';

// Every character falls in one alternative, so the chunks tile the text (encode still guards gaps).
// Whitespace as in GPT-4's cl100k rule: a run ending in line breaks is one chunk; otherwise a space run leaves
// its last space to the following word.
const CHUNK_PATTERN = / ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

/** Cuts text into the chunks BPE works within. Concatenating them gives back `text`. */
export function splitChunks(text: string): string[] {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(CHUNK_PATTERN)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** Options of {@link BpeTokenizer.train}. */
export interface BpeTrainOptions {
  /** Stop early when the most frequent pair occurs fewer times than this (default 2). */
  readonly minFrequency?: number;
}

/** JSON form of {@link BpeTokenizer}. */
export interface BpeTokenizerJSON {
  readonly type: 'bpe';
  readonly version: 1;
  readonly pretokenizer: string;
  /** merges[r] = [left, right]: the two ids joined into id 256 + r. */
  readonly merges: [number, number][];
}

// Pair keys pack two ids < 2^16 into one number: key = left * 65536 + right, so key order = (left, right) order.
const PAIR_BASE = 65536;
const MAX_MERGES = PAIR_BASE - 256 - NUM_SPECIAL_TOKENS;
const CACHE_LIMIT = 200_000;

/** Byte-level BPE tokenizer. Build with {@link BpeTokenizer.train} or {@link BpeTokenizer.fromJSON}. */
export class BpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly pad: number;
  readonly bos: number;
  readonly eos: number;
  readonly mask: number;
  private readonly merges: readonly (readonly [number, number])[];
  private readonly ranks = new Map<number, number>();
  private readonly tokenBytes: Uint8Array[] = [];
  private readonly cache = new Map<string, number[]>();

  private constructor(merges: readonly (readonly [number, number])[]) {
    this.merges = merges;
    const numMerges = merges.length;
    this.pad = 256 + numMerges;
    this.bos = this.pad + 1;
    this.eos = this.pad + 2;
    this.mask = this.pad + 3;
    this.vocabSize = 256 + numMerges + NUM_SPECIAL_TOKENS;
    for (let b = 0; b < 256; b++) this.tokenBytes.push(Uint8Array.of(b));
    for (let r = 0; r < numMerges; r++) {
      const [a, b] = merges[r];
      this.ranks.set(a * PAIR_BASE + b, r);
      const left = this.tokenBytes[a];
      const right = this.tokenBytes[b];
      const joined = new Uint8Array(left.length + right.length);
      joined.set(left, 0);
      joined.set(right, left.length);
      this.tokenBytes.push(joined);
    }
  }

  /** Number of merges (vocabSize - 260). */
  get numMerges(): number {
    return this.merges.length;
  }

  /** The merge list: merges[r] = [left, right] joined into id 256 + r. */
  getMerges(): readonly (readonly [number, number])[] {
    return this.merges;
  }

  /** The bytes an ordinary id stands for (a copy). */
  bytesOf(id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.pad) throw new RangeError(`BpeTokenizer.bytesOf: ${id} is not an ordinary id in [0, ${this.pad})`);
    return this.tokenBytes[id].slice();
  }

  /**
   * Learns up to `numMerges` merges from `texts`. Each step merges the most frequent adjacent pair (counted
   * over unique chunks weighted by their counts; overlapping occurrences such as "aaa" count twice); ties go
   * to the pair with the smaller (left, right) ids. Pair counts are updated incrementally: only the chunks
   * containing the merged pair are revisited, and a lazy max-heap finds the next pair.
   * Fewer merges are learned when no pair reaches `minFrequency`.
   */
  static train(texts: readonly string[], numMerges: number, options: BpeTrainOptions = {}): BpeTokenizer {
    if (!Number.isInteger(numMerges) || numMerges < 0 || numMerges > MAX_MERGES) {
      throw new RangeError(`BpeTokenizer.train: numMerges must be an integer in [0, ${MAX_MERGES}], got ${numMerges}`);
    }
    const minFrequency = options.minFrequency ?? 2;
    if (!(minFrequency >= 1)) throw new RangeError(`BpeTokenizer.train: minFrequency must be >= 1, got ${minFrequency}`);

    // Unique chunks and their counts.
    const chunkCounts = new Map<string, number>();
    for (const text of texts) {
      for (const m of text.matchAll(CHUNK_PATTERN)) chunkCounts.set(m[0], (chunkCounts.get(m[0]) ?? 0) + 1);
    }
    const words: Int32Array[] = [];
    const weights: number[] = [];
    for (const [chunk, count] of chunkCounts) {
      const bytes = utf8Bytes(chunk);
      if (bytes.length < 2) continue; // a single byte has no pair to merge
      words.push(Int32Array.from(bytes));
      weights.push(count);
    }

    // Pair counts and, per pair, the words it occurs in (may hold stale or repeated entries).
    const pairCounts = new Map<number, number>();
    const pairWords = new Map<number, number[]>();
    for (let w = 0; w < words.length; w++) {
      const word = words[w];
      for (let i = 0; i + 1 < word.length; i++) {
        const key = word[i] * PAIR_BASE + word[i + 1];
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + weights[w]);
        let list = pairWords.get(key);
        if (list === undefined) pairWords.set(key, (list = []));
        if (list[list.length - 1] !== w) list.push(w);
      }
    }
    const heap = new PairHeap();
    for (const [key, count] of pairCounts) heap.push(count, key);

    const merges: [number, number][] = [];
    const visited = new Int32Array(words.length).fill(-1);
    const countBefore = new Map<number, number>();
    const note = (key: number): void => {
      if (!countBefore.has(key)) countBefore.set(key, pairCounts.get(key) ?? 0);
    };
    const add = (key: number, delta: number): void => {
      note(key);
      const c = (pairCounts.get(key) ?? 0) + delta;
      if (c === 0) pairCounts.delete(key);
      else pairCounts.set(key, c);
    };

    while (merges.length < numMerges && heap.size > 0) {
      const count = heap.topCount();
      const key = heap.pop();
      const current = pairCounts.get(key) ?? 0;
      if (current !== count) {
        // Stale entry: a lower current count still needs an entry; a higher one already has its own.
        if (current > 0 && current < count) heap.push(current, key);
        continue;
      }
      if (count < minFrequency) break;
      const left = Math.floor(key / PAIR_BASE);
      const right = key % PAIR_BASE;
      const newId = 256 + merges.length;
      merges.push([left, right]);
      countBefore.clear();
      const where = pairWords.get(key) ?? [];
      pairWords.delete(key);
      for (let n = 0; n < where.length; n++) {
        const w = where[n];
        if (visited[w] === newId) continue;
        visited[w] = newId;
        const word = words[w];
        const weight = weights[w];
        // Merge left to right into a new symbol array.
        let hits = 0; // non-overlapping occurrences, found left to right as the merge below finds them
        for (let i = 0; i + 1 < word.length; i++) {
          if (word[i] === left && word[i + 1] === right) {
            hits++;
            i++;
          }
        }
        if (hits === 0) continue;
        for (let i = 0; i + 1 < word.length; i++) add(word[i] * PAIR_BASE + word[i + 1], -weight);
        const merged = new Int32Array(word.length - hits);
        let m = 0;
        for (let i = 0; i < word.length; i++) {
          if (i + 1 < word.length && word[i] === left && word[i + 1] === right) {
            merged[m++] = newId;
            i++;
          } else {
            merged[m++] = word[i];
          }
        }
        const result = merged;
        words[w] = result;
        for (let i = 0; i + 1 < result.length; i++) {
          const k = result[i] * PAIR_BASE + result[i + 1];
          add(k, weight);
          if (result[i] === newId || result[i + 1] === newId) {
            let list = pairWords.get(k);
            if (list === undefined) pairWords.set(k, (list = []));
            if (list[list.length - 1] !== w) list.push(w);
          }
        }
      }
      for (const [k, before] of countBefore) {
        const after = pairCounts.get(k) ?? 0;
        if (after > before) heap.push(after, k);
      }
    }
    return new BpeTokenizer(merges);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const chunk of splitChunks(text)) {
      const ids = this.encodeChunk(chunk);
      for (let i = 0; i < ids.length; i++) out.push(ids[i]);
    }
    return out;
  }

  /** Applies the merges to one chunk by rank: repeatedly join every occurrence of the lowest-ranked pair. */
  private encodeChunk(chunk: string): number[] {
    const cached = this.cache.get(chunk);
    if (cached !== undefined) return cached;
    let symbols = Array.from(utf8Bytes(chunk));
    for (;;) {
      let bestRank = Infinity;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const r = this.ranks.get(symbols[i] * PAIR_BASE + symbols[i + 1]);
        if (r !== undefined && r < bestRank) bestRank = r;
      }
      if (bestRank === Infinity) break;
      const [a, b] = this.merges[bestRank];
      const id = 256 + bestRank;
      const next: number[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
          next.push(id);
          i++;
        } else {
          next.push(symbols[i]);
        }
      }
      symbols = next;
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(chunk, symbols);
    return symbols;
  }

  decode(ids: readonly number[]): string {
    let length = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new RangeError(`BpeTokenizer.decode: ids[${i}] = ${id} is not an id in [0, ${this.vocabSize})`);
      }
      if (id < this.pad) length += this.tokenBytes[id].length;
    }
    const bytes = new Uint8Array(length);
    let offset = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id >= this.pad) continue; // special ids carry no text
      bytes.set(this.tokenBytes[id], offset);
      offset += this.tokenBytes[id].length;
    }
    return utf8Decode(bytes);
  }

  toJSON(): BpeTokenizerJSON {
    return { type: 'bpe', version: 1, pretokenizer: BPE_PRETOKENIZER, merges: this.merges.map(([a, b]) => [a, b]) };
  }

  /** Rebuilds from {@link BpeTokenizer.toJSON} output, checking every field and merge. */
  static fromJSON(obj: unknown): BpeTokenizer {
    const where = 'BpeTokenizer.fromJSON';
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new TypeError(`${where}: expected an object, got ${obj === null ? 'null' : Array.isArray(obj) ? 'an array' : typeof obj}`);
    }
    const rec = obj as Record<string, unknown>;
    if (rec.type !== 'bpe') throw new Error(`${where}: type must be 'bpe', got ${JSON.stringify(rec.type)}`);
    if (rec.version !== 1) throw new Error(`${where}: unsupported version ${JSON.stringify(rec.version)} (expected 1)`);
    if (rec.pretokenizer !== BPE_PRETOKENIZER) {
      throw new Error(`${where}: pretokenizer must be '${BPE_PRETOKENIZER}', got ${JSON.stringify(rec.pretokenizer)}`);
    }
    const merges = rec.merges;
    if (!Array.isArray(merges)) throw new Error(`${where}: merges must be an array, got ${typeof merges}`);
    if (merges.length > MAX_MERGES) throw new Error(`${where}: ${merges.length} merges exceed the maximum ${MAX_MERGES}`);
    const seen = new Set<number>();
    const out: [number, number][] = [];
    for (let r = 0; r < merges.length; r++) {
      const pair: unknown = merges[r];
      if (!Array.isArray(pair) || pair.length !== 2) throw new Error(`${where}: merges[${r}] must be a [left, right] pair, got ${JSON.stringify(pair)}`);
      for (let s = 0; s < 2; s++) {
        const id: unknown = pair[s];
        if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= 256 + r) {
          throw new Error(`${where}: merges[${r}][${s}] = ${JSON.stringify(id)} must be an integer id in [0, ${256 + r}) (a byte or an earlier merge)`);
        }
      }
      const key = (pair[0] as number) * PAIR_BASE + (pair[1] as number);
      if (seen.has(key)) throw new Error(`${where}: merges[${r}] = ${JSON.stringify(pair)} repeats an earlier merge`);
      seen.add(key);
      out.push([pair[0] as number, pair[1] as number]);
    }
    return new BpeTokenizer(out);
  }
}

/** Rebuilds a tokenizer from its `toJSON()` output, dispatching on the `type` field ('byte' | 'bpe'). */
export function tokenizerFromJSON(obj: unknown): Tokenizer {
  if (typeof obj !== 'object' || obj === null) throw new TypeError(`tokenizerFromJSON: expected an object, got ${obj === null ? 'null' : typeof obj}`);
  const type = (obj as Record<string, unknown>).type;
  if (type === 'byte') return ByteTokenizer.fromJSON(obj);
  if (type === 'bpe') return BpeTokenizer.fromJSON(obj);
  throw new Error(`tokenizerFromJSON: unknown tokenizer type ${JSON.stringify(type)} (expected 'byte' or 'bpe')`);
}

/** Binary max-heap of (count, pair key), largest count first, ties to the smaller key. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.counts.length;
  }

  topCount(): number {
    return this.counts[0];
  }

  private before(i: number, j: number): boolean {
    const ci = this.counts[i];
    const cj = this.counts[j];
    return ci > cj || (ci === cj && this.keys[i] < this.keys[j]);
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i];
    this.counts[i] = this.counts[j];
    this.counts[j] = c;
    const k = this.keys[i];
    this.keys[i] = this.keys[j];
    this.keys[j] = k;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Removes the top entry and returns its key. */
  pop(): number {
    const top = this.keys[0];
    const lastCount = this.counts.pop() as number;
    const lastKey = this.keys.pop() as number;
    const n = this.counts.length;
    if (n > 0) {
      this.counts[0] = lastCount;
      this.keys[0] = lastKey;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < n && this.before(l, best)) best = l;
        if (r < n && this.before(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}
