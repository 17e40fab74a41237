import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/autograd/tensor.js';
import { noGrad } from '../src/autograd/grad-mode.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';
import { Autoencoder } from '../src/calm/autoencoder.js';
import { CalmModel } from '../src/calm/calm-model.js';
import { TransformerLM } from '../src/nn/transformer-lm.js';
import {
  calmSampler,
  evaluateArBrier,
  evaluateCalmBrier,
  transformerSampler,
  type ArSampler,
  type BrierEvaluation,
  type CalmSampler,
} from '../src/calm/evaluate.js';

const V = 12;

function randomIds(rng: Rng, n: number): Int32Array {
  return Int32Array.from({ length: n }, () => rng.int(V));
}

function tinyCalm(K: number, seed: number): { model: CalmModel; ae: Autoencoder } {
  const rng = new Rng(seed);
  const latent = 4 * K;
  const ae = new Autoencoder({ vocabSize: V, K, hidden: 8, intermediate: 16, latent, encoderLayers: 2, decoderLayers: 2 }, { rng });
  const model = new CalmModel({ vocabSize: V, d: 16, ffn: 32, layers: 1, heads: 2, K, latent, headBlocks: 1, noiseDim: 4, nSamples: 2 }, { rng });
  model.eval();
  ae.eval();
  return { model, ae };
}

function tinyTransformer(seed: number): TransformerLM {
  const model = new TransformerLM({ vocabSize: V, dim: 16, nLayers: 1, nHeads: 2, ffnHidden: 32 }, { rng: new Rng(seed) });
  model.eval();
  return model;
}

function assertSane(e: BrierEvaluation): void {
  assert.equal(e.brier.length, 4);
  for (const b of e.brier) {
    assert.ok(Number.isFinite(b) && b >= -1 && b <= 2, `Brier-n ${b} outside [-1, 2]`);
  }
  for (const se of e.stdError) assert.ok(Number.isFinite(se) && se >= 0);
  assert.ok(Number.isFinite(e.brierLM) && e.brierLM >= 0 && e.brierLM <= 100, `BrierLM ${e.brierLM}`);
}

describe('BrierLM evaluation of tiny random models', () => {
  for (const K of [1, 2, 4, 8]) {
    test(`CALM K = ${K}: finite Brier-n in [-1, 2], BrierLM in [0, 100], protocol recorded`, () => {
      const { model, ae } = tinyCalm(K, 10 + K);
      const blockSize = 8 * K; // T = 8 chunks
      const ids = randomIds(new Rng(3), 2 * blockSize);
      const e = evaluateCalmBrier(calmSampler(model, ae, new Rng(4)), ids, blockSize, { rng: new Rng(4), seed: 4, split: 'valid' });
      assertSane(e);
      // Hand-computed position counts: K >= 4 scores chunks 1..T-1 = 7; K < 4 every chunk start t >= 1 with
      // t·K + 4 <= 8·K, i.e. t <= 4 (K = 1) and t <= 6 (K = 2).
      const perBlock = { 1: 4, 2: 6, 4: 7, 8: 7 }[K] as number;
      assert.equal(e.protocol.blockSize, blockSize);
      assert.equal(e.protocol.blocks, 2);
      assert.equal(e.protocol.positionsPerBlock, perBlock);
      assert.equal(e.protocol.positions, 2 * perBlock);
      assert.equal(e.protocol.samplesPerPosition, 2);
      assert.equal(e.protocol.K, K);
      assert.equal(e.protocol.estimator, K >= 4 ? 'chunk-aligned §6.2' : 'small-K §6.3');
      assert.equal(e.protocol.seed, 4);
      assert.equal(e.protocol.split, 'valid');
    });
  }

  test('Transformer: finite Brier-n in [-1, 2], BrierLM in [0, 100], protocol recorded', () => {
    const model = tinyTransformer(7);
    const ids = randomIds(new Rng(8), 3 * 20);
    const e = evaluateArBrier(transformerSampler(model), ids, 20, { rng: new Rng(9), seed: 9 });
    assertSane(e);
    assert.equal(e.protocol.blockSize, 20);
    assert.equal(e.protocol.positionsPerBlock, 16); // positions 0 … L−5
    assert.equal(e.protocol.positions, 48);
    assert.equal(e.protocol.samplesPerPosition, 2);
    assert.equal(e.protocol.positionUnit, 'token');
    // A random model over 12 tokens almost surely leaves the true path: roll-forwards must have run.
    assert.ok(e.rollForwardCalls > 0);
  });
});

/** A CALM whose every head sample decodes to the true next chunk. */
function oracleCalm(K: number): CalmSampler {
  return {
    K,
    begin(block) {
      const t = block.length / K;
      return {
        teacherForcedDraws(count) {
          const out = new Int32Array(t * count * K).fill(-1); // site T−1 predicts past the block: never the truth
          for (let s = 0; s + 1 < t; s++) for (let c = 0; c < count; c++) out.set(block.subarray((s + 1) * K, (s + 2) * K), (s * count + c) * K);
          return out;
        },
        drawAfter() {
          throw new Error('oracle: a draw that matches the truth never needs a roll-forward');
        },
      };
    },
  };
}

describe('perfect models score exactly 1', () => {
  for (const K of [2, 4, 8]) {
    test(`CALM K = ${K} whose samples equal the truth: Brier-n = 1, BrierLM = 100, zero spread`, () => {
      const ids = randomIds(new Rng(20 + K), 3 * 6 * K);
      const e = evaluateCalmBrier(oracleCalm(K), ids, 6 * K, { rng: new Rng(1) });
      // 1[x1 = y] + 1[x2 = y] − 1[x1 = x2] = 1 + 1 − 1 at every position.
      assert.deepEqual(e.brier, [1, 1, 1, 1]);
      assert.deepEqual(e.stdError, [0, 0, 0, 0]);
      assert.equal(e.brierLM, 100);
      assert.equal(e.rollForwardCalls, 0);
    });
  }

  test('a deterministic, always-wrong CALM: every Brier-n = -1 and BrierLM = 0 (not 100 from (-1)^4)', () => {
    const K = 4;
    const wrong: CalmSampler = {
      K,
      begin: (block) => ({
        teacherForcedDraws: (count) => new Int32Array((block.length / K) * count * K).fill(V), // V is never a token
        drawAfter: () => new Int32Array(K).fill(V),
      }),
    };
    const e = evaluateCalmBrier(wrong, randomIds(new Rng(5), 2 * 4 * K), 4 * K, { rng: new Rng(1) });
    assert.deepEqual(e.brier, [-1, -1, -1, -1]); // 0 + 0 − 1
    assert.equal(e.brierLM, 0);
    assert.equal(e.interval, null);
  });

  test('AR model with one-hot probabilities on the truth: Brier-n = 1', () => {
    const L = 16;
    const ids = randomIds(new Rng(30), 2 * L);
    const oneHot: ArSampler = {
      begin(block) {
        return {
          probsAt(i, prefix) {
            const p = new Float64Array(V);
            p[block[i + 1 + prefix.length]] = 1;
            return p;
          },
        };
      },
    };
    const e = evaluateArBrier(oneHot, ids, L, { rng: new Rng(2) });
    // 2·Π p(y) − Σ p² = 2 − 1 for every n-gram.
    assert.deepEqual(e.brier, [1, 1, 1, 1]);
    assert.equal(e.brierLM, 100);
  });
});

describe('roll-forwards through the truncated KV cache equal a full recomputation', () => {
  const row = (ids: ArrayLike<number>): Tensor => new Tensor(NDArray.fromData(Int32Array.from(ids), [1, ids.length], 'int32'));

  test('Transformer: probsAt(i, off-truth prefix) = softmax of the logits of the whole sequence', () => {
    const model = tinyTransformer(40);
    const block = randomIds(new Rng(41), 24);
    const s = transformerSampler(model).begin(block);
    for (const [i, prefix] of [[0, [3]], [5, [block[6], (block[7] + 1) % V]], [19, [1, 2, 3]]] as const) {
      const seq = [...block.subarray(0, i + 1), ...prefix];
      const logits = Array.from(noGrad(() => model.forward(row(seq)).toTypedArray()).subarray((seq.length - 1) * V, seq.length * V));
      const max = Math.max(...logits);
      const e = logits.map((z) => Math.exp(z - max));
      const total = e.reduce((a, b) => a + b, 0);
      const got = s.probsAt(i, prefix);
      for (let v = 0; v < V; v++) assert.ok(Math.abs(got[v] - e[v] / total) < 1e-5, `i ${i} v ${v}: ${got[v]} vs ${e[v] / total}`);
    }
  });

  test('CALM: drawAfter(t, prefix) = a head sample on the hidden state of the whole sequence (same noise)', () => {
    const K = 2;
    const { model, ae } = tinyCalm(K, 50);
    const block = randomIds(new Rng(51), 10 * K);
    for (const [t, prefix] of [[1, [4, 5]], [6, [0, 1, 2, 3]]] as const) {
      const got = Array.from(calmSampler(model, ae, new Rng(52)).begin(block).drawAfter(t, prefix));
      const seq = [...block.subarray(0, t * K), ...prefix];
      const want = noGrad(() => {
        const h = model.hidden(row(seq)); // [1, T', d]
        const last = h.sliceAxis(1, h.shape[1] - 1).reshape([1, model.config.d]);
        const z = model.head.sample(last, 1, new Rng(52)).reshape([1, model.config.latent]);
        return Array.from(ae.decodeTokens(z).toTypedArray());
      });
      assert.deepEqual(got, want);
    }
  });
});
