import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  AUSTEN_NOVELS,
  BlockLoader,
  BpeTokenizer,
  ByteTokenizer,
  encodeDocuments,
  loadCorpus,
  splitChapters,
  splitChunks,
  splitCorpus,
  tokenizerFromJSON,
  type Doc,
} from '../src/nn/data/index.js';

const corpus = loadCorpus();
const sample = corpus
  .filter((d) => d.novel === 'prideprejudice')
  .slice(0, 6)
  .map((d) => d.text)
  .join('\n\n'); // ~60k characters

// Well-formed strings: whole code points (never lone surrogates) and grapheme clusters, mixed with
// corpus-like English so BPE merges fire.
const wellFormed = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc
    .array(fc.oneof(fc.constantFrom(' the', ' and', 'Elizabeth', ' Mr.', ' Darcy', '\n\n', '  ', '1813', '"'), fc.string({ unit: 'binary', maxLength: 3 })), {
      maxLength: 12,
    })
    .map((parts) => parts.join('')),
);

describe('corpus', () => {
  test('each novel splits into its known number of chapters', () => {
    // Chapter counts of the published novels (Emma: 18 + 18 + 19 over three volumes).
    const expected: Record<string, number> = {
      sensesensibility: 50,
      prideprejudice: 61,
      mansfieldpark: 48,
      emma: 55,
      northangerabbey: 31,
      persuasion: 24,
    };
    for (const novel of AUSTEN_NOVELS) {
      const chapters = corpus.filter((d) => d.novel === novel);
      assert.equal(chapters.length, expected[novel], novel);
      for (const c of chapters) {
        assert.match(c.text, /^(CHAPTER|Chapter) [0-9IVXLC]+\n/, `${novel} ${c.title} starts at its heading`);
        assert.doesNotMatch(c.text, /\n(VOLUME [IVX]+|THE END|FINIS|Finis)\s*$/, `${novel} ${c.title} has no trailing marks`);
      }
    }
    assert.deepEqual(
      corpus.filter((d) => d.novel === 'emma' && /CHAPTER I$/.test(d.title)).map((d) => d.title),
      ['VOLUME I, CHAPTER I', 'VOLUME II, CHAPTER I', 'VOLUME III, CHAPTER I'],
    );
  });

  test('splitChapters on a hand-made text', () => {
    const text = 'TITLE\n\nVOLUME I\n\nCHAPTER I\n\nOne.\n\n\nVOLUME II\n\nCHAPTER I\n\nTwo.\n\nTHE END\n';
    assert.deepEqual(splitChapters('x', text), [
      { novel: 'x', title: 'VOLUME I, CHAPTER I', text: 'CHAPTER I\n\nOne.' },
      { novel: 'x', title: 'VOLUME II, CHAPTER I', text: 'CHAPTER I\n\nTwo.' },
    ]);
  });

  test('loadCorpus names the missing file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'calm-corpus-'));
    try {
      assert.throws(() => loadCorpus(dir), (err: Error) => err.message.includes(join(dir, 'sensesensibility.txt.gz')));
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test('split holds out whole trailing chapters, about 5% of each novel', () => {
    const { train, valid } = splitCorpus(corpus, 0.05);
    const key = (d: Doc): string => `${d.novel}/${d.title}`;
    const trainKeys = new Set(train.map(key));
    for (const d of valid) assert.ok(!trainKeys.has(key(d)), `${key(d)} in both sets`);
    assert.equal(train.length + valid.length, corpus.length);
    for (const novel of AUSTEN_NOVELS) {
      const all = corpus.filter((d) => d.novel === novel);
      const held = valid.filter((d) => d.novel === novel);
      assert.ok(held.length >= 1 && held.length < all.length, novel);
      assert.deepEqual(held, all.slice(all.length - held.length), `${novel}: valid is the trailing chapters`);
      // Naive reference: try every number of trailing chapters, keep the one closest to 5% of characters.
      const total = all.reduce((s, d) => s + d.text.length, 0);
      let bestK = 0;
      let bestErr = Infinity;
      for (let k = 1; k < all.length; k++) {
        const chars = all.slice(all.length - k).reduce((s, d) => s + d.text.length, 0);
        if (Math.abs(chars - 0.05 * total) < bestErr) {
          bestErr = Math.abs(chars - 0.05 * total);
          bestK = k;
        }
      }
      assert.equal(held.length, bestK, novel);
    }
    const validChars = valid.reduce((s, d) => s + d.text.length, 0);
    const allChars = corpus.reduce((s, d) => s + d.text.length, 0);
    assert.ok(validChars / allChars > 0.04 && validChars / allChars < 0.06, `valid fraction ${validChars / allChars}`);
  });
});

describe('ByteTokenizer', () => {
  const tok = new ByteTokenizer();

  test('layout: bytes, then PAD BOS EOS MASK', () => {
    assert.deepEqual([tok.pad, tok.bos, tok.eos, tok.mask, tok.vocabSize], [256, 257, 258, 259, 260]);
    assert.deepEqual(tok.encode('aé€'), [0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac]);
    assert.equal(tok.decode([tok.bos, 0x61, tok.pad, 0xc3, 0xa9, tok.eos, tok.mask]), 'aé');
    assert.throws(() => tok.decode([260]), /ByteTokenizer\.decode: ids\[0\] = 260/);
  });

  test('decode(encode(s)) === s for well-formed strings', () => {
    fc.assert(
      fc.property(wellFormed, (s) => tok.decode(tok.encode(s)) === s),
      { seed: 42, numRuns: 500 },
    );
  });

  test('a lone surrogate becomes U+FFFD (TextEncoder)', () => {
    assert.equal(tok.decode(tok.encode('a\ud800b')), 'a\ufffdb');
  });
});

/** Naive BPE reference: recount every pair of every chunk at each step. */
function naiveTrain(texts: string[], numMerges: number): [number, number][] {
  const counts = new Map<string, number>();
  for (const t of texts) for (const c of splitChunks(t)) counts.set(c, (counts.get(c) ?? 0) + 1);
  const words = [...counts.keys()].map((c) => Array.from(Buffer.from(c, 'utf8')));
  const weights = [...counts.values()];
  const merges: [number, number][] = [];
  while (merges.length < numMerges) {
    const pairs = new Map<string, number>();
    words.forEach((w, i) => {
      for (let j = 0; j + 1 < w.length; j++) pairs.set(`${w[j]},${w[j + 1]}`, (pairs.get(`${w[j]},${w[j + 1]}`) ?? 0) + weights[i]);
    });
    let best: [number, number] | null = null;
    let bestCount = 0;
    for (const [p, c] of pairs) {
      const [a, b] = p.split(',').map(Number);
      if (c > bestCount || (c === bestCount && best !== null && (a < best[0] || (a === best[0] && b < best[1])))) {
        best = [a, b];
        bestCount = c;
      }
    }
    if (best === null || bestCount < 2) break;
    merges.push(best);
    for (let i = 0; i < words.length; i++) words[i] = mergeAll(words[i], best, 256 + merges.length - 1);
  }
  return merges;
}

function mergeAll(word: number[], [a, b]: [number, number], id: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < word.length; j++) {
    if (j + 1 < word.length && word[j] === a && word[j + 1] === b) {
      out.push(id);
      j++;
    } else out.push(word[j]);
  }
  return out;
}

describe('BpeTokenizer', () => {
  const bpe = BpeTokenizer.train([sample], 200);

  test('hand-checked merges on "aaabdaaabac"', () => {
    // Pairs: aa x4 (overlapping), ab x2, others x1 -> merge aa (256): [256 a b d 256 a b a c].
    // Now (256,a) and (a,b) tie at 2 -> smaller pair (97,98) = ab (257): [256 257 d 256 257 a c].
    // (256,257) x2 -> 258; everything left occurs once, below minFrequency 2.
    const tok = BpeTokenizer.train(['aaabdaaabac'], 10);
    assert.deepEqual(tok.getMerges(), [
      [97, 97],
      [97, 98],
      [256, 257],
    ]);
    assert.deepEqual(tok.encode('aaabdaaabac'), [258, 100, 258, 97, 99]);
    assert.deepEqual([tok.vocabSize, tok.pad, tok.bos, tok.eos, tok.mask], [263, 259, 260, 261, 262]);
  });

  test('merges never cross chunk boundaries', () => {
    assert.deepEqual(splitChunks('Hello,  world 42!\n\nOk'), ['Hello', ',', ' ', ' world', ' 42', '!', '\n\n', 'Ok']);
    const tok = BpeTokenizer.train(['ab ab ab', 'b a b a'], 10);
    // "ab" x3 and " ab" x2 are chunks; "b a" spans a boundary, so (b, space) is never counted.
    for (const [a, b] of tok.getMerges()) assert.ok(!(a === 98 && b === 32), 'merged across a word boundary');
  });

  test('incremental training matches a naive recount', () => {
    const texts = [sample.slice(0, 20000)];
    const fast = BpeTokenizer.train(texts, 600);
    assert.deepEqual(fast.getMerges(), naiveTrain(texts, 600));
  });

  test('encode applies merges by rank like sequential application', () => {
    const text = sample.slice(30000, 36000);
    const merges = bpe.getMerges();
    const expected: number[] = [];
    for (const chunk of splitChunks(text)) {
      let w = Array.from(Buffer.from(chunk, 'utf8'));
      merges.forEach(([a, b], r) => (w = mergeAll(w, [a, b], 256 + r)));
      expected.push(...w);
    }
    assert.deepEqual(bpe.encode(text), expected);
    assert.ok(expected.length < Buffer.byteLength(text) / 2, 'BPE compresses English text');
  });

  test('decode(encode(s)) === s for well-formed strings', () => {
    fc.assert(
      fc.property(wellFormed, (s) => bpe.decode(bpe.encode(s)) === s),
      { seed: 42, numRuns: 500 },
    );
    assert.equal(bpe.decode(bpe.encode(sample)), sample);
  });

  test('JSON save/load gives identical encodings', () => {
    const restored = tokenizerFromJSON(JSON.parse(JSON.stringify(bpe.toJSON())));
    assert.ok(restored instanceof BpeTokenizer);
    assert.equal(restored.vocabSize, 256 + 200 + 4);
    assert.deepEqual(restored.encode(sample), bpe.encode(sample));
    fc.assert(
      fc.property(wellFormed, (s) => JSON.stringify(restored.encode(s)) === JSON.stringify(bpe.encode(s))),
      { seed: 42, numRuns: 200 },
    );
    assert.ok(tokenizerFromJSON(new ByteTokenizer().toJSON()) instanceof ByteTokenizer);
  });

  test('fromJSON refuses malformed input with a clear error', () => {
    const good = { type: 'bpe', version: 1, pretokenizer: 'calm-ts-chunks-v1', merges: [[97, 98]] };
    assert.doesNotThrow(() => BpeTokenizer.fromJSON(good));
    const cases: [unknown, RegExp][] = [
      [null, /expected an object, got null/],
      [{ ...good, type: 'byte' }, /type must be 'bpe'/],
      [{ ...good, version: 2 }, /unsupported version 2/],
      [{ ...good, pretokenizer: 'gpt2' }, /pretokenizer must be/],
      [{ ...good, merges: 'ab' }, /merges must be an array/],
      [{ ...good, merges: [[97]] }, /merges\[0\] must be a \[left, right\] pair/],
      [{ ...good, merges: [[97, 256]] }, /merges\[0\]\[1\] = 256 must be an integer id in \[0, 256\)/],
      [{ ...good, merges: [[97, 98], [1.5, 2]] }, /merges\[1\]\[0\] = 1.5/],
      [{ ...good, merges: [[97, 98], [97, 98]] }, /merges\[1\] = \[97,98\] repeats an earlier merge/],
    ];
    for (const [obj, message] of cases) assert.throws(() => BpeTokenizer.fromJSON(obj), message);
    assert.throws(() => tokenizerFromJSON({ type: 'wordpiece' }), /unknown tokenizer type "wordpiece"/);
  });
});

describe('encodeDocuments', () => {
  const tok = new ByteTokenizer();
  test('AE layout (CALM.md §2.8): BOS + text + EOS, PAD to a multiple of K', () => {
    const ids = encodeDocuments(['ab', 'cde', { text: 'f' }], tok, { bos: true, eos: true, padToMultipleOf: 4 });
    // prettier-ignore
    assert.deepEqual(Array.from(ids), [
      257, 97, 98, 258,
      257, 99, 100, 101, 258, 256, 256, 256,
      257, 102, 258, 256,
    ]);
  });
  test('LM layout (CALM.md §3.3): BOS-prefixed, no EOS, no padding', () => {
    assert.deepEqual(Array.from(encodeDocuments(['ab', 'cde'], tok, { bos: true, eos: false })), [257, 97, 98, 257, 99, 100, 101]);
  });
  test('rejects a bad multiple', () => {
    assert.throws(() => encodeDocuments(['a'], tok, { bos: false, eos: false, padToMultipleOf: 0 }), /padToMultipleOf must be a positive integer, got 0/);
  });
});

describe('BlockLoader', () => {
  // Token i has value i, so a block's content tells where it starts.
  const tokens = Int32Array.from({ length: 1000 }, (_, i) => i);
  const options = { batchSize: 4, blockSize: 10, withTarget: true, seed: 7 };

  test('each epoch visits every non-overlapping block once, reshuffled per epoch', () => {
    const loader = new BlockLoader(tokens, options);
    // Blocks of 11 starting at multiples of 10: starts 0..980 (990 + 11 > 1000), so 99 blocks, 24 batches.
    assert.equal(loader.numBlocks, 99);
    assert.equal(loader.batchesPerEpoch, 24);
    const orders: number[][] = [];
    for (let epoch = 0; epoch < 2; epoch++) {
      const starts: number[] = [];
      for (let b = 0; b < 24; b++) {
        const batch = loader.next();
        assert.equal(batch.length, 4 * 11);
        for (let r = 0; r < 4; r++) {
          const row = Array.from(batch.subarray(r * 11, r * 11 + 11));
          assert.equal(row[0] % 10, 0);
          assert.deepEqual(row, Array.from({ length: 11 }, (_, i) => row[0] + i));
          starts.push(row[0]);
        }
      }
      assert.equal(new Set(starts).size, 96, 'no block twice in an epoch');
      orders.push(starts);
    }
    assert.notDeepEqual(orders[0], orders[1]);
    assert.equal(loader.epoch, 1);
  });

  test('same seed gives the same batches, another seed others', () => {
    const a = new BlockLoader(tokens, options);
    const b = new BlockLoader(tokens, options);
    const c = new BlockLoader(tokens, { ...options, seed: 8 });
    const fromA = Array.from({ length: 30 }, () => Array.from(a.next()));
    assert.deepEqual(Array.from({ length: 30 }, () => Array.from(b.next())), fromA);
    assert.notDeepEqual(Array.from({ length: 30 }, () => Array.from(c.next())), fromA);
  });

  test('resume from state continues exactly, across an epoch boundary', () => {
    for (const consumed of [5, 24, 23]) {
      const reference = new BlockLoader(tokens, options);
      const expected = Array.from({ length: consumed + 30 }, () => Array.from(reference.next()));
      const first = new BlockLoader(tokens, options);
      for (let i = 0; i < consumed; i++) first.next();
      const saved = JSON.parse(JSON.stringify(first.state()));
      const resumed = BlockLoader.restore(tokens, options, saved);
      assert.deepEqual(Array.from({ length: 30 }, () => Array.from(resumed.next())), expected.slice(consumed));
    }
  });

  test('errors on too little data and mismatched state', () => {
    assert.throws(() => new BlockLoader(tokens.subarray(0, 30), options), /fewer than batchSize 4/);
    const state = new BlockLoader(tokens, options).state();
    assert.throws(() => BlockLoader.restore(tokens, { ...options, blockSize: 20 }, state), /state\.blockSize is 10 but this loader has 20/);
  });
});

describe('words of generated text', () => {
  test('letters only, lowercased; the known fraction counts against a vocabulary', async () => {
    const { knownWordFraction, vocabularyOf, wordsOf } = await import('../src/nn/data/words.js');
    assert.deepEqual(wordsOf("It's Mr. Darcy, 1813!"), ['it', 's', 'mr', 'darcy']);
    const vocab = vocabularyOf('It is a truth universally acknowledged');
    assert.deepEqual(knownWordFraction('a TRUTH, xqzt is', vocab), { words: 4, known: 3, fraction: 0.75 });
    assert.ok(Number.isNaN(knownWordFraction('..., 12', vocab).fraction));
  });
});
