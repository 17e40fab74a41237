/**
 * Parameter and FLOP counts for the three model families of CALM (CALM.md §2, §3, §3.5, §8.3), from the
 * configs alone: nothing is allocated. The config types are owned by the model files (autoencoder.ts,
 * calm-model.ts).
 */

import { checkAutoencoderMatch, type AutoencoderConfig } from './autoencoder.js';
import type { BackboneConfig, CalmConfig } from './calm-model.js';

/** A model of one of the three families. */
export type ModelSpec =
  | { readonly family: 'autoencoder'; readonly config: AutoencoderConfig }
  | { readonly family: 'calm'; readonly config: CalmConfig }
  | { readonly family: 'transformer'; readonly config: BackboneConfig };

/** Linear layer parameters, with or without bias. */
function linear(inDim: number, outDim: number, bias: boolean): number {
  return inDim * outDim + (bias ? outDim : 0);
}
/** LayerNorm with gain and bias. */
const layerNorm = (d: number): number => 2 * d;
/** RMSNorm with gain only. */
const rmsNorm = (d: number): number => d;
/** SwiGLU FFN without biases: gate, up (d → f), down (f → d). */
const swiglu = (d: number, f: number): number => 3 * d * f;

function requirePositiveIntegers(fn: string, fields: Record<string, number>): void {
  for (const [name, value] of Object.entries(fields)) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${fn}: config.${name} must be a positive integer, got ${value}`);
  }
}

function validateAutoencoder(c: AutoencoderConfig, fn: string): void {
  requirePositiveIntegers(fn, { vocabSize: c.vocabSize, K: c.K, hidden: c.hidden, intermediate: c.intermediate, latent: c.latent, encoderLayers: c.encoderLayers, decoderLayers: c.decoderLayers });
  if (c.encoderLayers % 2 !== 0 || c.decoderLayers % 2 !== 0) {
    // The reference splits n // 2 per stage and would silently drop a layer (CALM.md §2.2).
    throw new RangeError(`${fn}: encoderLayers and decoderLayers must be even, got ${c.encoderLayers}, ${c.decoderLayers}`);
  }
}

function validateBackbone(c: BackboneConfig, fn: string): void {
  requirePositiveIntegers(fn, { vocabSize: c.vocabSize, d: c.d, ffn: c.ffn, layers: c.layers, heads: c.heads });
  if (c.d % c.heads !== 0) throw new RangeError(`${fn}: d = ${c.d} is not divisible by heads = ${c.heads}`);
}

function validateCalm(c: CalmConfig, fn: string): void {
  validateBackbone(c, fn);
  requirePositiveIntegers(fn, { K: c.K, latent: c.latent, headBlocks: c.headBlocks, noiseDim: c.noiseDim, nSamples: c.nSamples, headDim: c.headDim ?? c.d });
}

/** One AELayer: RMSNorm + SwiGLU (CALM.md §2.1). */
const aeLayer = (c: AutoencoderConfig): number => rmsNorm(c.hidden) + swiglu(c.hidden, c.intermediate);

/** One Llama decoder layer: q, k, v, o (d×d, no biases) + SwiGLU + 2 RMSNorms (CALM.md §3.2). */
const llamaLayer = (c: BackboneConfig): number => 4 * c.d * c.d + swiglu(c.d, c.ffn) + 2 * rmsNorm(c.d);

/** The energy head of CALM.md §3.4, width h (= d unless headDim says otherwise). */
function energyHeadParams(c: CalmConfig): number {
  const h = c.headDim ?? c.d;
  const block = layerNorm(h) + linear(2 * h, h, true) + linear(h, h, true) + linear(h, 2 * h, true) + linear(h, h, true);
  return (
    linear(c.noiseDim, h, true) + layerNorm(h) + // noise embedding + LN_noise
    linear(c.d, h, true) + layerNorm(h) + // hidden projection + LN_h
    c.headBlocks * block +
    layerNorm(h) + linear(h, h, true) + linear(h, c.latent, true) // LN_f, Lin_f, Lin_out
  );
}

/** Named parameter counts whose values sum to {@link countParams}. */
export function paramBreakdown(spec: ModelSpec): Record<string, number> {
  switch (spec.family) {
    case 'autoencoder': {
      const c = spec.config;
      validateAutoencoder(c, 'paramBreakdown');
      const h = c.hidden;
      return {
        // CALM.md §2.5: one embedding, tied with the decoder output projection.
        embedding: c.vocabSize * h,
        // §2.3: layers, compress K·h → h, final RMSNorm, h → 2l.
        encoder: c.encoderLayers * aeLayer(c) + linear(c.K * h, h, true) + rmsNorm(h) + linear(h, 2 * c.latent, true),
        // §2.4: l → h, layers, expand h → K·h, final RMSNorm.
        decoder: linear(c.latent, h, true) + c.decoderLayers * aeLayer(c) + linear(h, c.K * h, true) + rmsNorm(h),
      };
    }
    case 'calm': {
      const c = spec.config;
      validateCalm(c, 'paramBreakdown');
      return {
        // CALM.md §3.5 groups "backbone incl. embedding".
        embedding: c.vocabSize * c.d,
        backbone: c.layers * llamaLayer(c) + rmsNorm(c.d),
        // §3.1: K·d → 2d → d with biases, then LayerNorm.
        inputMlp: linear(c.K * c.d, 2 * c.d, true) + linear(2 * c.d, c.d, true) + layerNorm(c.d),
        head: energyHeadParams(c),
      };
    }
    case 'transformer': {
      const c = spec.config;
      validateBackbone(c, 'paramBreakdown');
      return {
        embedding: c.vocabSize * c.d,
        backbone: c.layers * llamaLayer(c) + rmsNorm(c.d),
        outputProjection: c.d * c.vocabSize, // untied, no bias
      };
    }
  }
}

/** Total parameter count (CALM.md §3.5, §10.2). */
export function countParams(spec: ModelSpec): number {
  let total = 0;
  for (const v of Object.values(paramBreakdown(spec))) total += v;
  return total;
}

/** Multiply-accumulates of the AE encoder for one chunk (CALM.md §2.3; embedding lookup is free). */
export function autoencoderEncoderMacsPerChunk(c: AutoencoderConfig): number {
  validateAutoencoder(c, 'autoencoderEncoderMacsPerChunk');
  const h = c.hidden;
  const ffn = swiglu(h, c.intermediate);
  const half = c.encoderLayers / 2;
  return c.K * half * ffn + c.K * h * h + half * ffn + h * 2 * c.latent;
}

/** Multiply-accumulates of the AE decoder for one chunk, including the K·h·V output projection (CALM.md §2.4). */
export function autoencoderDecoderMacsPerChunk(c: AutoencoderConfig): number {
  validateAutoencoder(c, 'autoencoderDecoderMacsPerChunk');
  const h = c.hidden;
  const ffn = swiglu(h, c.intermediate);
  const half = c.decoderLayers / 2;
  return c.latent * h + half * ffn + h * c.K * h + c.K * half * ffn + c.K * h * c.vocabSize;
}

/** Backbone matmul MACs per position (attention score/value products excluded). */
const backboneMacs = (c: BackboneConfig): number => c.layers * (4 * c.d * c.d + swiglu(c.d, c.ffn));

/**
 * Energy head MACs for one sample (CALM.md §3.4). W_h·h is counted with every sample although
 * energy-head.ts computes it once per position and broadcasts it: CALM is charged (N − 1)·d·h MACs per
 * chunk it does not spend (about 2 % of its training FLOPs at the experiment's sizes), which errs
 * against CALM in the matched-compute comparison.
 */
function headMacs(c: CalmConfig): number {
  const h = c.headDim ?? c.d;
  return c.noiseDim * h + c.d * h + c.headBlocks * 6 * h * h + h * h + h * c.latent;
}

/**
 * Forward FLOPs of attention scores and weighted values for one query attending to `keys` positions:
 * QKᵀ and AV are keys·d MACs each per layer → 4·L·d·keys FLOPs (softmax and RoPE ignored).
 */
const attentionForwardFlops = (c: BackboneConfig, keys: number): number => 4 * c.layers * c.d * keys;

/** Options of {@link flopsPerToken}. */
export interface FlopsOptions {
  /**
   * Sequence positions per block: tokens for the Transformer, chunks for CALM (reference 2048 for both).
   * Required for 'calm' and 'transformer'.
   */
  readonly contextPositions?: number;
  /** The autoencoder of a CALM model (its encoder makes training targets, its decoder is used at inference). */
  readonly autoencoder?: AutoencoderConfig;
}

/** Training and inference FLOPs per token. */
export interface FlopsPerToken {
  readonly train: number;
  readonly inference: number;
}

/**
 * FLOPs per token (CALM.md §8.3). Conventions (1 MAC = 2 FLOPs; backward = 2 × forward):
 * - train = 6 · (matmul MACs per token of the trained parts) + 3 · attention forward, where attention is
 *   averaged over the causal positions of a block: a query at position i sees i + 1 keys, mean (ctx + 1)/2.
 *   CALM adds the energy head N = nSamples times and the frozen AE encoder forward (2 · MACs) for targets;
 *   everything per chunk is divided by K. The energy loss itself (N·M·l distances) is negligible and omitted.
 * - inference = 2 · (matmul MACs per token) + attention forward at full context (ctx keys, a KV-cached step
 *   at the end of a block). CALM: backbone + input MLP + one head sample + AE decoder incl. its output
 *   projection, per chunk / K. Embedding lookups are free.
 * With these conventions the spec's table (§8.3) is reproduced within a few percent.
 */
export function flopsPerToken(spec: ModelSpec, options: FlopsOptions = {}): FlopsPerToken {
  switch (spec.family) {
    case 'autoencoder': {
      const c = spec.config;
      const forward = 2 * (autoencoderEncoderMacsPerChunk(c) + autoencoderDecoderMacsPerChunk(c));
      return { train: (3 * forward) / c.K, inference: forward / c.K };
    }
    case 'transformer': {
      const c = spec.config;
      validateBackbone(c, 'flopsPerToken');
      const ctx = requireContext(options);
      const macs = backboneMacs(c) + c.d * c.vocabSize;
      return {
        train: 6 * macs + 3 * attentionForwardFlops(c, (ctx + 1) / 2),
        inference: 2 * macs + attentionForwardFlops(c, ctx),
      };
    }
    case 'calm': {
      const c = spec.config;
      validateCalm(c, 'flopsPerToken');
      const ctx = requireContext(options);
      const ae = options.autoencoder;
      if (!ae) throw new RangeError('flopsPerToken: a calm model needs options.autoencoder');
      checkAutoencoderMatch('flopsPerToken', c, ae);
      const inputMlpMacs = c.K * c.d * 2 * c.d + 2 * c.d * c.d;
      const trunk = backboneMacs(c) + inputMlpMacs;
      const trainPerChunk =
        6 * trunk + 6 * c.nSamples * headMacs(c) + 2 * autoencoderEncoderMacsPerChunk(ae) + 3 * attentionForwardFlops(c, (ctx + 1) / 2);
      const inferencePerChunk = 2 * (trunk + headMacs(c) + autoencoderDecoderMacsPerChunk(ae)) + attentionForwardFlops(c, ctx);
      return { train: trainPerChunk / c.K, inference: inferencePerChunk / c.K };
    }
  }
}

function requireContext(options: FlopsOptions): number {
  const ctx = options.contextPositions;
  if (ctx === undefined || !Number.isInteger(ctx) || ctx < 1) {
    throw new RangeError(`flopsPerToken: options.contextPositions must be a positive integer, got ${ctx}`);
  }
  return ctx;
}
