import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { AutoencoderConfig } from '../src/calm/autoencoder.js';
import type { BackboneConfig, CalmConfig } from '../src/calm/calm-model.js';
import { countParams, paramBreakdown, flopsPerToken } from '../src/calm/flops.js';

// Reference configs, CALM.md §2.2, §3.5, §8.2.
const V = 128_257;
const AE: AutoencoderConfig = { vocabSize: V, K: 4, hidden: 512, intermediate: 1280, latent: 128, encoderLayers: 2, decoderLayers: 2 };
const CALM_M: CalmConfig = { vocabSize: V, d: 1024, ffn: 2752, layers: 16, heads: 16, K: 4, latent: 128, headBlocks: 4, noiseDim: 64, nSamples: 8 };
const TRANSFORMER_S: BackboneConfig = { vocabSize: V, d: 768, ffn: 2048, layers: 12, heads: 16 };

// Training tokens, CALM.md §8.2: 250k steps × 1024 rows × 2048 tokens (AR) and 250k × 256 × 8192 (CALM).
const AR_TOKENS = 250_000 * 1024 * 2048;
const CALM_TOKENS = 250_000 * 256 * 8192;

function withinRelative(actual: number, expected: number, rel: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= rel * expected, `${what}: ${actual.toExponential(4)} vs ${expected.toExponential(4)} (>${rel * 100}% apart)`);
}

describe('countParams at reference dims (CALM.md §3.5, §10.2)', () => {
  test('autoencoder = 75,832,064 with the tied embedding 65,667,584', () => {
    assert.equal(countParams({ family: 'autoencoder', config: AE }), 75_832_064);
    assert.equal(paramBreakdown({ family: 'autoencoder', config: AE }).embedding, 65_667_584);
  });

  test('CALM-M = 371,732,608; backbone incl. embedding / input MLP / head ≈ 333.7M / 10.5M / 27.5M', () => {
    assert.equal(countParams({ family: 'calm', config: CALM_M }), 371_732_608);
    const parts = paramBreakdown({ family: 'calm', config: CALM_M });
    assert.equal(Math.round((parts.embedding + parts.backbone) / 1e5) / 10, 333.7);
    assert.equal(Math.round(parts.inputMlp / 1e5) / 10, 10.5);
    assert.equal(Math.round(parts.head / 1e5) / 10, 27.5);
  });

  test('Transformer-S = 281,956,608 (untied embeddings)', () => {
    assert.equal(countParams({ family: 'transformer', config: TRANSFORMER_S }), 281_956_608);
  });

  test('a hand-summed tiny transformer', () => {
    // V 10, d 4, ffn 6, 1 layer: emb 40 + out 40 + attn 64 + ffn 72 + norms 8 + final 4 = 228.
    assert.equal(countParams({ family: 'transformer', config: { vocabSize: 10, d: 4, ffn: 6, layers: 1, heads: 2 } }), 228);
  });

  test('bad configs throw with the field name', () => {
    assert.throws(() => countParams({ family: 'autoencoder', config: { ...AE, encoderLayers: 3 } }), /encoderLayers/);
    assert.throws(() => countParams({ family: 'transformer', config: { ...TRANSFORMER_S, heads: 5 } }), /heads = 5/);
    assert.throws(() => countParams({ family: 'calm', config: { ...CALM_M, noiseDim: 0 } }), /noiseDim/);
  });
});

describe('flopsPerToken against the headline table (CALM.md §8.3, within 10 %)', () => {
  const ar = flopsPerToken({ family: 'transformer', config: TRANSFORMER_S }, { contextPositions: 2048 });
  const calm = flopsPerToken({ family: 'calm', config: CALM_M }, { contextPositions: 2048, autoencoder: AE });

  test('Transformer-S: 6.6e20 training FLOPs, 4.4e8 inference FLOPs/token', () => {
    withinRelative(ar.train * AR_TOKENS, 6.6e20, 0.1, 'Transformer-S train');
    withinRelative(ar.inference, 4.4e8, 0.1, 'Transformer-S inference');
  });

  test('CALM-M: 3.7e20 training FLOPs, 2.9e8 inference FLOPs/token', () => {
    withinRelative(calm.train * CALM_TOKENS, 3.7e20, 0.1, 'CALM-M train');
    withinRelative(calm.inference, 2.9e8, 0.1, 'CALM-M inference');
  });

  test('the AE decoder output projection (4·512·V MACs per chunk) is part of CALM inference', () => {
    const projectionPerToken = (2 * 4 * 512 * V) / 4;
    const smallVocab = flopsPerToken({ family: 'calm', config: { ...CALM_M, vocabSize: 1 } }, { contextPositions: 2048, autoencoder: { ...AE, vocabSize: 1 } });
    // Shrinking V from 128,257 to 1 removes exactly the projection (the LM embedding lookup is free).
    withinRelative(calm.inference - smallVocab.inference, projectionPerToken - (2 * 4 * 512) / 4, 1e-12, 'projection');
  });

  test('CALM needs options.autoencoder and a context length', () => {
    assert.throws(() => flopsPerToken({ family: 'calm', config: CALM_M }, { contextPositions: 2048 }), /autoencoder/);
    assert.throws(() => flopsPerToken({ family: 'transformer', config: TRANSFORMER_S }), /contextPositions/);
  });
});
