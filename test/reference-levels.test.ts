/**
 * Reference levels (src/calm/reference-levels.ts): count tables, the exact Brier of a table against a
 * brute-force expectation of the two-sample estimator, sampling frequencies, the energy-loss terms, and
 * the batched K ≥ 4 BrierLM path against the per-block one.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/autograd/tensor.js';
import { Autoencoder } from '../src/calm/autoencoder.js';
import { calmBrierChunkAligned } from '../src/calm/brier.js';
import { energyLossTerms } from '../src/calm/energy-loss.js';
import { evaluateCalmBrier, type CalmSampler } from '../src/calm/evaluate.js';
import { drawQuality } from '../src/calm/draw-quality.js';
import { ChunkTables, gapClosed, referenceLevels } from '../src/calm/reference-levels.js';
import { BpeTokenizer } from '../src/nn/data/bpe.js';
import { encodeDocuments } from '../src/nn/data/loader.js';
import { Rng } from '../src/tensor/random.js';

const K = 4;
// Chunks: A A B A C A B (7 chunks of 4 tokens).
const A = [1, 2, 3, 4];
const B = [1, 2, 5, 6];
const C = [7, 2, 3, 4];
const stream = Int32Array.from([A, A, B, A, C, A, B].flat());

describe('chunk count tables', () => {
  test('unigram counts and bigram with back-off', () => {
    const tables = ChunkTables.fromTokens(stream, K);
    const counts = new Map<string, number>();
    for (let i = 0; i < tables.unigram.size; i++) counts.set(Array.from(tables.unigram.chunks.subarray(i * K, (i + 1) * K)).join(','), tables.unigram.counts[i]);
    assert.deepEqual(Object.fromEntries(counts), { '1,2,3,4': 4, '1,2,5,6': 2, '7,2,3,4': 1 });
    assert.equal(tables.unigram.total, 7);
    // After A: A once, B twice, C once.
    assert.equal(tables.bigram(A).total, 4);
    // After B: A once (the last B has no successor).
    assert.equal(tables.bigram(B).total, 1);
    // A chunk never seen backs off to the unigram.
    assert.equal(tables.bigram([9, 9, 9, 9]), tables.unigram);
    assert.throws(() => ChunkTables.fromTokens(Int32Array.from([1, 2, 3]), K), /fewer than 2 chunks/);
  });

  test('exact Brier equals the brute-force expectation of the two-sample estimator', () => {
    const dist = ChunkTables.fromTokens(stream, K).unigram;
    for (const truth of [A, B, C, [1, 2, 3, 9], [8, 8, 8, 8]]) {
      const expected = new Float64Array(4);
      for (let i = 0; i < dist.size; i++) {
        for (let j = 0; j < dist.size; j++) {
          const p = (dist.counts[i] / dist.total) * (dist.counts[j] / dist.total);
          const b = calmBrierChunkAligned(dist.chunks.subarray(i * K, (i + 1) * K), dist.chunks.subarray(j * K, (j + 1) * K), truth, K);
          for (let n = 0; n < 4; n++) expected[n] += p * b[n];
        }
      }
      const exact = dist.exactBrier(truth);
      for (let n = 0; n < 4; n++) assert.ok(Math.abs(exact[n] - expected[n]) < 1e-12, `truth ${truth}, n ${n + 1}: ${exact[n]} vs ${expected[n]}`);
    }
  });

  test('sampling follows the counts (5 standard errors, 20,000 draws)', () => {
    const dist = ChunkTables.fromTokens(stream, K).unigram;
    const rng = new Rng(7);
    const draws = 20000;
    const hits = new Map<string, number>();
    for (let i = 0; i < draws; i++) {
      const key = Array.from(dist.sample(rng)).join(',');
      hits.set(key, (hits.get(key) ?? 0) + 1);
    }
    for (let i = 0; i < dist.size; i++) {
      const p = dist.counts[i] / dist.total;
      const seen = (hits.get(Array.from(dist.chunks.subarray(i * K, (i + 1) * K)).join(',')) ?? 0) / draws;
      const se = Math.sqrt((p * (1 - p)) / draws);
      assert.ok(Math.abs(seen - p) < 5 * se, `chunk ${i}: frequency ${seen} vs ${p} (se ${se})`);
    }
  });
});

/** Documents of words drawn at random from a small word list: a corpus on which BPE learns whole words. */
function wordDocuments(documents: number, words: number, seed: number): string[] {
  const list = ['the', 'sister', 'said', 'Elizabeth', 'was', 'not', 'a', 'letter', 'of', 'Darcy', 'walked', 'to', 'Longbourn', 'and', 'her', 'mother', 'ball', 'in', 'it', 'very'];
  const rng = new Rng(seed);
  return Array.from({ length: documents }, () => Array.from({ length: words }, () => list[rng.int(list.length)]).join(' ') + '.');
}

/** The K-aligned chunks of a stream, as arrays (the brute-force side of the BPE tests). */
function alignedChunks(tokens: Int32Array): number[][] {
  const out: number[][] = [];
  for (let c = 0; c + K <= tokens.length; c += K) out.push(Array.from(tokens.subarray(c, c + K)));
  return out;
}

const samePrefix = (a: ArrayLike<number>, b: ArrayLike<number>, n: number): boolean => {
  for (let k = 0; k < n; k++) if (a[k] !== b[k]) return false;
  return true;
};

describe('chunk count tables over a BPE vocabulary', () => {
  // BOS-prefixed documents as the LM sees them (CALM.md §3.3), in a BPE whose merge ids and specials lie past 260.
  const tokenizer = BpeTokenizer.train(wordDocuments(40, 30, 1), 60);
  const train = encodeDocuments(wordDocuments(150, 40, 2), tokenizer, { bos: true, eos: false });
  const held = encodeDocuments(wordDocuments(10, 40, 3), tokenizer, { bos: true, eos: false });
  const chunks = alignedChunks(train);
  const tables = ChunkTables.fromTokens(train, K);

  test('the corpus exercises ids past the byte vocabulary and a unigram big enough for the sorted lookup', () => {
    assert.equal(tokenizer.numMerges, 60);
    assert.ok(Math.max(...train) === tokenizer.bos && tokenizer.bos > 300, `max id ${Math.max(...train)}, BOS ${tokenizer.bos}`);
    assert.ok(train.some((id) => id >= 256 && id < tokenizer.pad), 'merged ids occur');
    assert.ok(tables.unigram.size > 256, `${tables.unigram.size} distinct chunks (the sorted path starts above 256)`);
  });

  test('unigram and bigram counts equal brute-force counting of the aligned chunks', () => {
    assert.equal(tables.unigram.total, chunks.length);
    const distinct = new Set(chunks.map((c) => c.join(' ')));
    assert.equal(tables.unigram.size, distinct.size);
    for (let i = 0; i < tables.unigram.size; i++) {
      const chunk = tables.unigram.chunks.subarray(i * K, (i + 1) * K);
      assert.equal(tables.unigram.counts[i], chunks.filter((c) => samePrefix(c, chunk, K)).length);
    }
    // Bigram: every chunk that has a successor, counted by a plain scan of consecutive pairs.
    for (const prev of [...distinct].slice(0, 40).map((key) => key.split(' ').map(Number))) {
      const dist = tables.bigram(prev);
      const successors = chunks.slice(1).filter((_, c) => samePrefix(chunks[c], prev, K));
      if (successors.length === 0) {
        assert.equal(dist, tables.unigram);
        continue;
      }
      assert.equal(dist.total, successors.length);
      for (let i = 0; i < dist.size; i++) {
        const chunk = dist.chunks.subarray(i * K, (i + 1) * K);
        assert.equal(dist.counts[i], successors.filter((c) => samePrefix(c, chunk, K)).length);
      }
    }
  });

  test('exact Brier-1..4 equals 2·P_n(y) − Σ P_n² counted over pairs of training chunks', () => {
    const total = chunks.length;
    // Σ_z P_n(z)² is the chance that two chunks drawn from the stream share their first n tokens.
    const squares = [1, 2, 3, 4].map((n) => {
      let pairs = 0;
      for (const a of chunks) for (const b of chunks) if (samePrefix(a, b, n)) pairs++;
      return pairs / (total * total);
    });
    const truths = alignedChunks(held).slice(0, 60);
    truths.push([tokenizer.bos, 9999, 9999, 9999], [9999, 9999, 9999, 9999]); // a known first token only; nothing known
    for (const truth of truths) {
      const exact = tables.unigram.exactBrier(truth);
      for (let n = 1; n <= 4; n++) {
        const p = chunks.filter((c) => samePrefix(c, truth, n)).length / total;
        const expected = 2 * p - squares[n - 1];
        assert.ok(Math.abs(exact[n - 1] - expected) < 1e-12, `truth ${truth}, n ${n}: ${exact[n - 1]} vs ${expected}`);
      }
    }
  });
});

describe('energy loss terms and reference levels', () => {
  test('attraction and repulsion match naive loops; loss is their difference', () => {
    const rng = new Rng(3);
    const [p, n, m, l] = [3, 4, 5, 6];
    const x = Tensor.randn([p, n, l], rng, { dtype: 'float64' });
    const y = Tensor.randn([p, m, l], rng, { dtype: 'float64' });
    const terms = energyLossTerms(x, y);
    const xs = x.toTypedArray();
    const ys = y.toTypedArray();
    const dist = (a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number): number => {
      let s = 0;
      for (let k = 0; k < l; k++) s += (a[i * l + k] - b[j * l + k]) ** 2;
      return Math.sqrt(s);
    };
    let attraction = 0;
    let repulsion = 0;
    for (let q = 0; q < p; q++) {
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < m; j++) attraction += (2 / (n * m)) * dist(xs, q * n + i, ys, q * m + j);
        for (let j = 0; j < n; j++) if (j !== i) repulsion += dist(xs, q * n + i, xs, q * n + j) / (n * (n - 1));
      }
    }
    assert.ok(Math.abs(terms.attraction.item() - attraction / p) < 1e-12);
    assert.ok(Math.abs(terms.repulsion.item() - repulsion / p) < 1e-12);
    assert.ok(Math.abs(terms.loss.item() - (attraction - repulsion) / p) < 1e-12);
    assert.deepEqual(terms.perPosition.shape, [p]);
  });

  test('referenceLevels: the bigram knows more than the unigram on a repetitive stream; gapClosed is 0 and 1 at the levels', () => {
    const ae = new Autoencoder({ vocabSize: 10, K, hidden: 8, intermediate: 16, latent: 6, encoderLayers: 2, decoderLayers: 2 }, { rng: new Rng(1) });
    ae.eval();
    // A strict cycle A B C: the bigram predicts every next chunk exactly.
    const cycle = Int32Array.from(Array.from({ length: 30 }, (_, i) => [A, B, C][i % 3]).flat());
    const tables = ChunkTables.fromTokens(cycle, K);
    const held = cycle.subarray(0, 6 * 4 * K); // 6 blocks of 4 chunks
    const levels = referenceLevels(tables, ae, held, 4 * K, { nSamples: 3, targetSamples: 4, rng: new Rng(2), batchBlocks: 4 });
    assert.equal(levels.positions, 6 * 3);
    assert.deepEqual(levels.bigram.brier.map((b) => Math.round(b * 1e9) / 1e9), [1, 1, 1, 1]);
    assert.ok(Math.abs(levels.bigram.brierLM - 100) < 1e-9);
    // Unigram: each chunk has probability 1/3; Brier-1 (first token 1 for A and B) etc. are below 1.
    assert.ok(levels.unigram.brierLM < levels.bigram.brierLM);
    assert.ok(levels.unigram.energyLoss > levels.bigram.energyLoss, `${levels.unigram.energyLoss} vs ${levels.bigram.energyLoss}`);
    assert.equal(gapClosed(levels.unigram.energyLoss, levels), 0);
    assert.equal(gapClosed(levels.bigram.energyLoss, levels), 1);
    // No gap when the bigram is not better (BPE chunks, mostly seen once): NaN rather than a flipped sign.
    const level = (energyLoss: number): typeof levels.unigram => ({ ...levels.unigram, energyLoss });
    assert.ok(Number.isNaN(gapClosed(19.6, { unigram: level(19.07), bigram: level(20.73) })));
    assert.ok(Number.isNaN(gapClosed(19.6, { unigram: level(19.07), bigram: level(19.07) })));
    assert.equal(gapClosed(15, { unigram: level(16), bigram: level(14) }), 0.5);
  });
});

describe('batched K >= 4 BrierLM', () => {
  test('the batched path and the per-block path give identical results for a deterministic sampler', () => {
    const blockSize = 5 * K;
    const ids = Int32Array.from({ length: 70 * blockSize }, (_, i) => (i * 7) % 5);
    // Deterministic draws: draw index 0 is the true chunk, index 1 a wrong one, so Brier-n = 1 + 0 − 0.
    const drawsFor = (block: Int32Array, count: number): Int32Array => {
      const t = block.length / K;
      const out = new Int32Array(t * count * K);
      for (let s = 0; s < t; s++) {
        for (let c = 0; c < count; c++) {
          for (let k = 0; k < K; k++) out[(s * count + c) * K + k] = c === 0 && s + 1 < t ? block[(s + 1) * K + k] : 9;
        }
      }
      return out;
    };
    const perBlock: CalmSampler = { K, begin: (block) => ({ teacherForcedDraws: (count) => drawsFor(block, count), drawAfter: () => [] }) };
    const batched: CalmSampler = {
      ...perBlock,
      teacherForcedBatch(blocks, size, count) {
        const out: number[] = [];
        for (let b = 0; b < blocks.length / size; b++) out.push(...drawsFor(blocks.subarray(b * size, (b + 1) * size), count));
        return Int32Array.from(out);
      },
    };
    const a = evaluateCalmBrier(perBlock, ids, blockSize, { rng: new Rng(1) });
    const b = evaluateCalmBrier(batched, ids, blockSize, { rng: new Rng(1) });
    assert.deepEqual(b.brier, a.brier);
    assert.deepEqual(a.brier, [1, 1, 1, 1]);
    assert.equal(b.protocol.positions, 70 * 4);
  });
});

describe('latent statistics (effective rank)', () => {
  test('eigenvalues of a rotated diagonal matrix, rank and participation ratio', async () => {
    const { covariance, latentRank, symmetricEigenvalues } = await import('../src/calm/latent-stats.js');
    // Q diag(5, 2, 0.01) Qᵀ with Q a rotation by 0.3 rad in the (0, 1) plane and 1.1 rad in the (1, 2) plane.
    const rot = (n: number, i: number, j: number, t: number): number[][] => {
      const m: number[][] = Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => (r === c ? 1 : 0)));
      m[i][i] = Math.cos(t);
      m[j][j] = Math.cos(t);
      m[i][j] = -Math.sin(t);
      m[j][i] = Math.sin(t);
      return m;
    };
    const mul = (a: number[][], b: number[][]): number[][] => a.map((row) => b[0].map((_, c) => row.reduce((s, v, k) => s + v * b[k][c], 0)));
    const q = mul(rot(3, 0, 1, 0.3), rot(3, 1, 2, 1.1));
    const qt = q[0].map((_, c) => q.map((row) => row[c]));
    const m = mul(mul(q, [[5, 0, 0], [0, 2, 0], [0, 0, 0.01]]), qt);
    const values = symmetricEigenvalues(m.flat(), 3);
    assert.deepEqual(Array.from(values, (v) => Math.round(v * 1e9) / 1e9), [5, 2, 0.01]);
    const rank = latentRank(values);
    assert.equal(rank.effectiveRank, 2); // 0.01 < 1 % of 5
    assert.ok(Math.abs(rank.participationRatio - (7.01 ** 2) / (25 + 4 + 0.0001)) < 1e-9);
    assert.throws(() => symmetricEigenvalues([1, 2, 3, 4], 2), /not symmetric/);
    // Covariance of points on a line has rank 1.
    const cov = covariance([0, 0, 1, 2, 2, 4, 3, 6], 4, 2);
    assert.deepEqual(Array.from(cov, (v) => Math.round(v * 1e12) / 1e12), [5 / 3, 10 / 3, 10 / 3, 20 / 3].map((v) => Math.round(v * 1e12) / 1e12));
    assert.equal(latentRank(symmetricEigenvalues(cov, 2)).effectiveRank, 1);
  });
});

describe('draw quality (draw-quality.ts)', () => {
  // Training chunks A A B A C A B: after A come A once, B twice, C once.
  const tables = ChunkTables.fromTokens(stream, K);
  const unseen = [1, 9, 9, 9];
  // One evaluation block A B (one position: previous A, true next chunk B); four draws B, B, C, unseen.
  const sampler = { K, teacherForcedBatch: (_blocks: Int32Array, _size: number, count: number) => { assert.equal(count, 4); return Int32Array.from([B, B, C, unseen].flat()); } };
  const q = drawQuality(sampler, tables, Int32Array.from([A, B].flat()), 2 * K, { blocks: 50, draws: 4 });

  test('counts known chunks, distinct chunks and hits by hand', () => {
    assert.equal(q.positions, 1);
    assert.equal(q.knownFraction, 3 / 4); // B, B, C occur in training; 1 9 9 9 does not
    assert.equal(q.distinctPerPosition, 3);
    assert.equal(q.modelTrueChunk, 2 / 4);
    assert.equal(q.modelTrueFirstToken, 3 / 4); // B, B and 1 9 9 9 start with B's first token 1
    assert.equal(q.bigramTrueChunk, 2 / 4); // after A: B 2 of 4
    assert.equal(q.bigramTrueFirstToken, 3 / 4); // after A: A and B start with 1 (3 of 4), C with 7
  });

  test('refuses mismatched K and partial blocks', () => {
    assert.throws(() => drawQuality({ ...sampler, K: 2 }, tables, Int32Array.from([A, B].flat()), 8, { blocks: 50, draws: 4 }), /K = 4.*K is 2/);
    assert.throws(() => drawQuality(sampler, tables, Int32Array.from([A, B].flat()).subarray(1), 8, { blocks: 50, draws: 4 }), /not whole blocks/);
  });
});
