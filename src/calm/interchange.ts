/**
 * Interchange with the PyTorch reference implementation of CALM (shaochenze/calm): parameter names,
 * layouts and config.json fields. The one table below says, for every parameter, its calm-ts name, its
 * reference name and whether the array is transposed on the way (calm-ts stores Linear weights
 * [in, out] so that the forward pass is `x W`; PyTorch's nn.Linear stores [out, in] and computes `x Wᵀ`).
 *
 * A reference folder holds `autoencoder/` and `calm/`, each a `model.safetensors` plus a `config.json` in
 * the reference's field names (HF `PretrainedConfig` style). calm-ts facts that have no reference field
 * (byte tokenizer, MASK id, init rule, training recipe) travel in a `calm_ts` object of each config, so
 * export → import gives back the same run, bit for bit.
 *
 * Where the names come from: the AE and energy-head module names follow the reference's modules as
 * described in docs/CALM.md §2-§3.4 (Encoder/Decoder with `encoder_layers`/`decoder_layers` in two
 * stages, `squeeze_layer`, `hidden_to_latent`, `latent_to_hidden`, `expand_layer`, a tied `lm_head`;
 * `embed_proj` as an nn.Sequential; `generative_head` with `mlp_blocks`), the backbone those of HF
 * `LlamaModel`. The reference source itself was not at hand when this table was written: if a reference
 * checkpoint's keys differ, this table is the one place to change — import lists every missing and
 * unexpected key, and scripts/reference_check.py builds its PyTorch modules from the same names.
 */
import * as v from 'valibot';
import * as path from 'node:path';
import { checkJson, intIn } from '../nn/io/json-file.js';
import { ensureDir, readTextFile, writeJsonAtomic } from '../nn/io/atomic.js';
import { loadSafetensors, saveSafetensors, type NamedArray } from '../nn/io/safetensors.js';
import type { Module } from '../nn/module.js';
import type { AutoencoderConfig, AutoencoderRegularisation } from './autoencoder.js';
import type { CalmConfig } from './calm-model.js';

/** One row of the table: calm-ts name, reference name, and whether the 2-D array is transposed. */
export interface NameRow {
  readonly ours: string;
  readonly ref: string;
  readonly transpose: boolean;
}

type Row = readonly [ours: string, ref: string, transpose: boolean];
const T = true; // Linear weight: [in, out] here, [out, in] in PyTorch
const _ = false; // same layout on both sides (embeddings [V, d], norm gains, biases)

/** An AELayer: pre-norm SwiGLU without biases (HF LlamaMLP + LlamaRMSNorm). */
const AE_LAYER: readonly Row[] = [
  ['norm.weight', 'layernorm.weight', _],
  ['ffn.gate.weight', 'mlp.gate_proj.weight', T],
  ['ffn.up.weight', 'mlp.up_proj.weight', T],
  ['ffn.down.weight', 'mlp.down_proj.weight', T],
];

/** The autoencoder (CALM.md §2). `{pre}`/`{post}` rows repeat for every layer of a stage. */
const AE_TABLE: readonly Row[] = [
  ['embedding.weight', 'encoder.embed_tokens.weight', _],
  ['encoderPre.{i}.*', 'encoder.encoder_layers.0.{i}.*', _],
  ['compress.weight', 'encoder.squeeze_layer.weight', T],
  ['compress.bias', 'encoder.squeeze_layer.bias', _],
  ['encoderPost.{i}.*', 'encoder.encoder_layers.1.{i}.*', _],
  ['encoderNorm.weight', 'encoder.norm.weight', _],
  ['latentHead.weight', 'encoder.hidden_to_latent.weight', T],
  ['latentHead.bias', 'encoder.hidden_to_latent.bias', _],
  ['fromLatent.weight', 'decoder.latent_to_hidden.weight', T],
  ['fromLatent.bias', 'decoder.latent_to_hidden.bias', _],
  ['decoderPre.{i}.*', 'decoder.decoder_layers.0.{i}.*', _],
  ['expand.weight', 'decoder.expand_layer.weight', T],
  ['expand.bias', 'decoder.expand_layer.bias', _],
  ['decoderPost.{i}.*', 'decoder.decoder_layers.1.{i}.*', _],
  ['decoderNorm.weight', 'decoder.norm.weight', _],
];
/** The decoder's output projection is the embedding itself (tied, CALM.md §2.5); written as a copy for strict loaders. */
export const AE_TIED = { ours: 'embedding.weight', ref: 'decoder.lm_head.weight' } as const;

/** A Llama decoder layer (HF `LlamaDecoderLayer`; no biases). */
const LLAMA_LAYER: readonly Row[] = [
  ['attnNorm.weight', 'input_layernorm.weight', _],
  ['attn.wq.weight', 'self_attn.q_proj.weight', T],
  ['attn.wk.weight', 'self_attn.k_proj.weight', T],
  ['attn.wv.weight', 'self_attn.v_proj.weight', T],
  ['attn.wo.weight', 'self_attn.o_proj.weight', T],
  ['mlpNorm.weight', 'post_attention_layernorm.weight', _],
  ['mlp.gate.weight', 'mlp.gate_proj.weight', T],
  ['mlp.up.weight', 'mlp.up_proj.weight', T],
  ['mlp.down.weight', 'mlp.down_proj.weight', T],
];

/** A residual block of the energy head (CALM.md §3.4 step 3); `mlp` is Sequential(Lin1, SiLU, Lin2, SiLU, Lin3). */
const HEAD_BLOCK: readonly Row[] = [
  ['norm.weight', 'in_ln.weight', _],
  ['norm.bias', 'in_ln.bias', _],
  ['lin1.weight', 'mlp.0.weight', T],
  ['lin1.bias', 'mlp.0.bias', _],
  ['lin2.weight', 'mlp.2.weight', T],
  ['lin2.bias', 'mlp.2.bias', _],
  ['lin3.weight', 'mlp.4.weight', T],
  ['lin3.bias', 'mlp.4.bias', _],
  ['out.weight', 'down_proj.weight', T],
  ['out.bias', 'down_proj.bias', _],
];

/** The CALM model (CALM.md §3): input compression, Llama backbone, energy head. */
const CALM_TABLE: readonly Row[] = [
  ['tokenEmbedding.weight', 'transformer.embed_tokens.weight', _],
  // embed_proj = Sequential(Linear(K·d, 2d), SiLU, Linear(2d, d), LayerNorm(d)), CALM.md §3.1
  ['compressIn.weight', 'embed_proj.0.weight', T],
  ['compressIn.bias', 'embed_proj.0.bias', _],
  ['compressOut.weight', 'embed_proj.2.weight', T],
  ['compressOut.bias', 'embed_proj.2.bias', _],
  ['compressNorm.weight', 'embed_proj.3.weight', _],
  ['compressNorm.bias', 'embed_proj.3.bias', _],
  ['backbone.layers.{i}.*', 'transformer.layers.{i}.*', _],
  ['backbone.norm.weight', 'transformer.norm.weight', _],
  ['head.noiseProj.weight', 'generative_head.noise_embd.weight', T],
  ['head.noiseProj.bias', 'generative_head.noise_embd.bias', _],
  ['head.noiseNorm.weight', 'generative_head.norm_noise.weight', _],
  ['head.noiseNorm.bias', 'generative_head.norm_noise.bias', _],
  ['head.hiddenProj.weight', 'generative_head.hidden_embd.weight', T],
  ['head.hiddenProj.bias', 'generative_head.hidden_embd.bias', _],
  ['head.hiddenNorm.weight', 'generative_head.norm_hidden.weight', _],
  ['head.hiddenNorm.bias', 'generative_head.norm_hidden.bias', _],
  ['head.blocks.{i}.*', 'generative_head.mlp_blocks.{i}.*', _],
  ['head.finalNorm.weight', 'generative_head.final_layer.norm_final.weight', _],
  ['head.finalNorm.bias', 'generative_head.final_layer.norm_final.bias', _],
  ['head.finalLinear.weight', 'generative_head.final_layer.linear1.weight', T],
  ['head.finalLinear.bias', 'generative_head.final_layer.linear1.bias', _],
  ['head.outLinear.weight', 'generative_head.final_layer.linear2.weight', T],
  ['head.outLinear.bias', 'generative_head.final_layer.linear2.bias', _],
];

/** Expands `{i}.*` rows over `count(prefix)` layers with the given per-layer rows. */
function expand(table: readonly Row[], layerRows: (ours: string) => readonly Row[], count: (ours: string) => number): NameRow[] {
  const rows: NameRow[] = [];
  for (const [ours, ref, transpose] of table) {
    if (!ours.endsWith('{i}.*')) {
      rows.push({ ours, ref, transpose });
      continue;
    }
    const n = count(ours);
    for (let i = 0; i < n; i++) {
      for (const [o, r, t] of layerRows(ours)) rows.push({ ours: ours.replace('{i}.*', `${i}.${o}`), ref: ref.replace('{i}.*', `${i}.${r}`), transpose: t });
    }
  }
  return rows;
}

/** The full name table of an autoencoder with this config. */
export function autoencoderNameTable(config: AutoencoderConfig): NameRow[] {
  return expand(AE_TABLE, () => AE_LAYER, (ours) => (ours.startsWith('encoder') ? config.encoderLayers : config.decoderLayers) / 2);
}

/** The full name table of a CALM model with this config. */
export function calmNameTable(config: CalmConfig): NameRow[] {
  return expand(CALM_TABLE, (ours) => (ours.startsWith('backbone') ? LLAMA_LAYER : HEAD_BLOCK), (ours) => (ours.startsWith('backbone') ? config.layers : config.headBlocks));
}

/** A copy of a 2-D array transposed ([r, c] -> [c, r]); exact, so two transposes give back the same bits. */
export function transpose2d(a: NamedArray, what: string): NamedArray {
  if (a.shape.length !== 2) throw new RangeError(`${what}: expected a 2-D weight to transpose, got shape [${a.shape.join(', ')}]`);
  const [r, c] = a.shape;
  const out = new (a.data.constructor as { new (n: number): NamedArray['data'] })(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a.data[i * c + j];
  return { dtype: a.dtype, shape: [c, r], data: out };
}

/** The module's parameters under reference names and layouts. */
export function toReferenceTensors(model: Module, table: readonly NameRow[], tied?: { ours: string; ref: string }): Record<string, NamedArray> {
  const params = new Map(model.namedParameters());
  const out: Record<string, NamedArray> = {};
  for (const row of table) {
    const t = params.get(row.ours);
    if (t === undefined) throw new Error(`toReferenceTensors: the model has no parameter '${row.ours}' (mapped to '${row.ref}')`);
    params.delete(row.ours);
    const a: NamedArray = { dtype: t.dtype, shape: [...t.shape], data: t.toTypedArray() };
    out[row.ref] = row.transpose ? transpose2d(a, row.ours) : a;
  }
  if (params.size > 0) throw new Error(`toReferenceTensors: parameters without a reference name: ${[...params.keys()].join(', ')}`);
  if (tied !== undefined) out[tied.ref] = out[table.find((r) => r.ours === tied.ours)!.ref];
  return out;
}

/**
 * Reference tensors (as read from `file`) back under calm-ts names and layouts. Every missing and every
 * unexpected key is listed in one error; a tied copy must equal its source.
 */
export function fromReferenceTensors(tensors: Readonly<Record<string, NamedArray>>, table: readonly NameRow[], file: string, tied?: { ours: string; ref: string }): Record<string, NamedArray> {
  const expected = new Set(table.map((r) => r.ref));
  if (tied !== undefined) expected.add(tied.ref);
  const missing = [...expected].filter((k) => !Object.hasOwn(tensors, k) && k !== tied?.ref);
  const unexpected = Object.keys(tensors).filter((k) => !expected.has(k));
  if (missing.length > 0 || unexpected.length > 0) {
    const parts = [];
    if (missing.length > 0) parts.push(`missing ${missing.join(', ')}`);
    if (unexpected.length > 0) parts.push(`unexpected ${unexpected.join(', ')}`);
    throw new Error(`${file}: tensors do not match the reference layout for this config: ${parts.join('; ')}`);
  }
  const out: Record<string, NamedArray> = {};
  for (const row of table) {
    const a = tensors[row.ref];
    out[row.ours] = row.transpose ? transpose2d(a, `${file}: '${row.ref}'`) : a;
  }
  if (tied !== undefined && Object.hasOwn(tensors, tied.ref)) {
    const a = tensors[tied.ref];
    const b = out[tied.ours];
    if (a.shape.join() !== b.shape.join() || a.data.some((x, i) => !Object.is(x, b.data[i]))) {
      throw new Error(`${file}: '${tied.ref}' differs from the embedding it is tied to; calm-ts ties them (CALM.md §2.5)`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// config.json in the reference's field names

/** calm-ts facts without a reference field, carried in `calm_ts` of the autoencoder's config.json. */
export interface AutoencoderExtras {
  tokenizer: 'byte';
  /** The id that token dropout writes (the reference uses id 0; calm-ts a dedicated MASK, CALM.md §2.6). */
  mask_id: number;
  regularisation?: AutoencoderRegularisation;
}

/** The autoencoder's config.json (reference `AutoencoderConfig` fields). */
export function referenceAutoencoderConfig(ae: AutoencoderConfig, extras: AutoencoderExtras): Record<string, unknown> {
  const reg = extras.regularisation;
  return {
    model_type: 'autoencoder',
    architectures: ['Autoencoder'],
    vocab_size: ae.vocabSize,
    hidden_size: ae.hidden,
    intermediate_size: ae.intermediate,
    num_encoder_layers: ae.encoderLayers,
    num_decoder_layers: ae.decoderLayers,
    latent_size: ae.latent,
    patch_size: ae.K,
    ae_dropout: reg?.tokenDropout ?? 0.15,
    kl_weight: reg?.beta ?? 1e-3,
    kl_clamp: reg?.klFloor ?? 0.5,
    hidden_act: 'silu',
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    calm_ts: extras,
  };
}

const count = intIn(1, 1 << 24);
const ReferenceAutoencoderSchema = v.looseObject({
  vocab_size: count,
  hidden_size: count,
  intermediate_size: count,
  num_encoder_layers: count,
  num_decoder_layers: count,
  latent_size: count,
  patch_size: count,
  hidden_act: v.optional(v.literal('silu')),
  rms_norm_eps: v.optional(v.literal(1e-6)),
  calm_ts: v.optional(v.looseObject({ tokenizer: v.literal('byte'), mask_id: intIn(0, 1 << 24), regularisation: v.optional(v.unknown()) })),
});

/** Parses an autoencoder config.json (`file` is named in errors). */
export function parseReferenceAutoencoderConfig(raw: unknown, file: string): { config: AutoencoderConfig; extras: AutoencoderExtras | null } {
  const c = checkJson(ReferenceAutoencoderSchema, raw, file);
  const config: AutoencoderConfig = {
    vocabSize: c.vocab_size, K: c.patch_size, hidden: c.hidden_size, intermediate: c.intermediate_size, latent: c.latent_size,
    encoderLayers: c.num_encoder_layers, decoderLayers: c.num_decoder_layers,
  };
  return { config, extras: (c.calm_ts as AutoencoderExtras | undefined) ?? null };
}

/** The CALM model's config.json (reference `CALMConfig` = LlamaConfig fields + CALM's own). `extras` is the calm-ts run config. */
export function referenceCalmConfig(calm: CalmConfig, extras: Record<string, unknown>, blockChunks: number): Record<string, unknown> {
  if (calm.headDim !== undefined && calm.headDim !== calm.d) {
    throw new RangeError(`referenceCalmConfig: the energy head is ${calm.headDim} wide but the backbone ${calm.d}; the reference's head has the backbone's width (CALM.md §3.4)`);
  }
  return {
    model_type: 'calm',
    architectures: ['EnergyTransformer'],
    vocab_size: calm.vocabSize,
    hidden_size: calm.d,
    intermediate_size: calm.ffn,
    num_hidden_layers: calm.layers,
    num_attention_heads: calm.heads,
    num_key_value_heads: calm.heads,
    hidden_act: 'silu',
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: false,
    max_position_embeddings: blockChunks,
    patch_size: calm.K,
    latent_size: calm.latent,
    num_mlp_layers: calm.headBlocks,
    noise_size: calm.noiseDim,
    num_samples: calm.nSamples,
    beta: 1.0,
    ae_path: '../autoencoder',
    torch_dtype: 'float32',
    calm_ts: extras,
  };
}

const ReferenceCalmSchema = v.looseObject({
  vocab_size: count,
  hidden_size: count,
  intermediate_size: count,
  num_hidden_layers: count,
  num_attention_heads: count,
  num_key_value_heads: v.optional(count),
  rope_theta: v.optional(v.literal(10000)),
  rms_norm_eps: v.optional(v.literal(1e-6)),
  patch_size: count,
  latent_size: count,
  num_mlp_layers: count,
  noise_size: count,
  num_samples: intIn(2, 1 << 16),
  beta: v.optional(v.literal(1)),
  calm_ts: v.optional(v.record(v.string(), v.unknown())),
});

/** Parses a CALM config.json; the architecture comes from the reference fields, `calm_ts` is returned as is. */
export function parseReferenceCalmConfig(raw: unknown, file: string): { config: CalmConfig; extras: Record<string, unknown> | null } {
  const c = checkJson(ReferenceCalmSchema, raw, file);
  if (c.num_key_value_heads !== undefined && c.num_key_value_heads !== c.num_attention_heads) {
    throw new Error(`${file}: num_key_value_heads ${c.num_key_value_heads} differs from num_attention_heads ${c.num_attention_heads}; calm-ts has no grouped-query attention`);
  }
  const extras = c.calm_ts ?? null;
  const ours = (extras?.calm ?? {}) as Partial<CalmConfig>;
  const config: CalmConfig = {
    vocabSize: c.vocab_size, d: c.hidden_size, ffn: c.intermediate_size, layers: c.num_hidden_layers, heads: c.num_attention_heads,
    K: c.patch_size, latent: c.latent_size, headBlocks: c.num_mlp_layers, noiseDim: c.noise_size, nSamples: c.num_samples,
    // calm-ts-only knobs, kept for a faithful round trip: how the run was initialised (meaningless after
    // training), and an explicit head width (export allows only the backbone's width, so it equals d)
    ...(ours.init !== undefined ? { init: ours.init } : {}),
    ...(ours.headDim !== undefined && ours.headDim === c.hidden_size ? { headDim: ours.headDim } : {}),
  };
  return { config, extras };
}

// ---------------------------------------------------------------------------------------------------
// the folder

export const REFERENCE_PARTS = ['autoencoder', 'calm'] as const;
export type ReferencePart = (typeof REFERENCE_PARTS)[number];

/** One model of a reference folder: its tensors (reference names) and config.json. */
export interface ReferenceModelFiles {
  tensors: Record<string, NamedArray>;
  config: Record<string, unknown>;
}

/** Writes `dir/<part>/model.safetensors` and `dir/<part>/config.json`, each atomically. */
export function writeReferencePart(dir: string, part: ReferencePart, files: ReferenceModelFiles): void {
  const sub = path.join(dir, part);
  ensureDir(sub);
  saveSafetensors(path.join(sub, 'model.safetensors'), files.tensors, { format: 'pt' }); // HF's loaders expect format=pt
  writeJsonAtomic(path.join(sub, 'config.json'), files.config);
}

/** Reads `dir/<part>/model.safetensors` and `dir/<part>/config.json` (raw JSON; parse with the functions above). */
export function readReferencePart(dir: string, part: ReferencePart): { tensors: Record<string, NamedArray>; config: unknown; weightsFile: string; configFile: string } {
  const sub = path.join(dir, part);
  const weightsFile = path.join(sub, 'model.safetensors');
  const configFile = path.join(sub, 'config.json');
  const text = readTextFile(configFile, 'readReferencePart');
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (err) {
    throw new Error(`${configFile}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  return { tensors: loadSafetensors(weightsFile).tensors, config, weightsFile, configFile };
}
