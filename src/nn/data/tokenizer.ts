/**
 * The tokenizer interface and the byte-level tokenizer (UTF-8 bytes are ids 0..255).
 *
 * Round trip: `decode(encode(s)) === s` holds for every well-formed string (no lone UTF-16 surrogates).
 * A lone surrogate cannot be written as UTF-8, so `TextEncoder` replaces it with U+FFFD and the round trip
 * returns U+FFFD in its place.
 */

/** What every calm-ts tokenizer provides. Special ids come after all ordinary ids. */
export interface Tokenizer {
  /** Number of ids, specials included. */
  readonly vocabSize: number;
  /** Padding id (CALM.md §2.8: AE documents are right-padded to a multiple of K). */
  readonly pad: number;
  /** Beginning-of-document id. */
  readonly bos: number;
  /** End-of-document id. */
  readonly eos: number;
  /** Reserved mask id (for token-dropout variants that use a dedicated symbol). */
  readonly mask: number;
  /** Text to ids (no specials added). */
  encode(text: string): number[];
  /** Ids to text; special ids are skipped, invalid UTF-8 becomes U+FFFD. */
  decode(ids: readonly number[]): string;
  /** A JSON-able description from which {@link tokenizerFromJSON} rebuilds the tokenizer. */
  toJSON(): object;
}

/** Number of special ids after the ordinary ones: PAD, BOS, EOS, MASK (in that order). */
export const NUM_SPECIAL_TOKENS = 4;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/** UTF-8 bytes of `text` (lone surrogates become U+FFFD). */
export function utf8Bytes(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Decodes UTF-8 bytes; invalid sequences become U+FFFD. */
export function utf8Decode(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/** JSON form of {@link ByteTokenizer}. */
export interface ByteTokenizerJSON {
  readonly type: 'byte';
  readonly version: 1;
}

/** Byte-level tokenizer: ids 0..255 are UTF-8 bytes, then PAD=256, BOS=257, EOS=258, MASK=259; vocabSize 260. */
export class ByteTokenizer implements Tokenizer {
  readonly vocabSize = 256 + NUM_SPECIAL_TOKENS;
  readonly pad = 256;
  readonly bos = 257;
  readonly eos = 258;
  readonly mask = 259;

  encode(text: string): number[] {
    return Array.from(utf8Bytes(text));
  }

  decode(ids: readonly number[]): string {
    const bytes = new Uint8Array(ids.length);
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new RangeError(`ByteTokenizer.decode: ids[${i}] = ${id} is not an id in [0, ${this.vocabSize})`);
      }
      if (id < 256) bytes[n++] = id;
    }
    return utf8Decode(bytes.subarray(0, n));
  }

  toJSON(): ByteTokenizerJSON {
    return { type: 'byte', version: 1 };
  }

  /** Rebuilds from {@link ByteTokenizer.toJSON} output, checking its fields. */
  static fromJSON(obj: unknown): ByteTokenizer {
    if (typeof obj !== 'object' || obj === null) throw new TypeError(`ByteTokenizer.fromJSON: expected an object, got ${obj === null ? 'null' : typeof obj}`);
    const rec = obj as Record<string, unknown>;
    if (rec.type !== 'byte') throw new Error(`ByteTokenizer.fromJSON: type must be 'byte', got ${JSON.stringify(rec.type)}`);
    if (rec.version !== 1) throw new Error(`ByteTokenizer.fromJSON: unsupported version ${JSON.stringify(rec.version)} (expected 1)`);
    return new ByteTokenizer();
  }
}
