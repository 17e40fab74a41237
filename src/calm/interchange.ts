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
 * Where the names come from. The official repository's source was not in the search index; these public
 * copies of its model code were read instead (they agree with each other wherever they overlap):
 * - models/modeling_autoencoder.py, hhhhhhhhhhhy/calm @ 653ef9da882cfec9ef04ab657d5b6066013e4186 (AELayer,
 *   Encoder, Decoder, Autoencoder), and a second, unannotated copy of that file with the same module tree;
 * - models/modeling_energy.py, stllfe/calm @ c5563102bb928bdd70c476c9f50826e44fe4f74f, and the same file in
 *   hhhhhhhhhhhy/calm @ 224e32789f22bdc40be5a731753c3f2ffdc117e4 (MLPBlock, FinalLayer, MLPGenerator,
 *   EnergyTransformer);
 * - models/configuration_autoencoder.py, DivyamTalwar/Cadence-AI @ a5fb9f199288deb63fd2a0f7f81bc338a3af07c6,
 *   and models/configuration_calm.py, DBravy/hippo-calm-standalone @ 6be76c0b7a6c4652fde0d83b7300602505183f74
 *   (a fork that adds Hopfield fields, none of which are written here);
 * - train/train_calm_nkat.py, zapabob/calm @ b1af044d7988a4d436aa86b9358a6bfbd3692a82 (a fork of
 *   train_calm.py: `config.model_type == 'energy'` selects EnergyTransformer).
 * The backbone is `transformer = LlamaModel(config)`; its inner names were read from
 * src/transformers/models/llama/modeling_llama.py, huggingface/transformers @
 * 5dd4a63548857797727ae73eeb6a6e886ea02a3e (embed_tokens, layers.{i}.self_attn.{q,k,v,o}_proj,
 * mlp.{gate,up,down}_proj, input_layernorm, post_attention_layernorm, norm; RoPE's inv_freq is a
 * non-persistent buffer, so not in the state_dict).
 * Verified against that source: every name below and every config field written. Not verified: a
 * checkpoint written by the reference itself, whose keys depend on how transformers saved it (torch.save
 * keeps every alias below; safetensors serialisation drops all but one name of a shared tensor), which is
 * why import accepts any one name of each alias group.
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

/**
 * A second key under which the reference's `state_dict()` holds the very same tensor (`alias` of `of`).
 * Export writes both, so that a strict `load_state_dict` finds every key; import takes whichever is
 * present and, when both are, requires them to be equal bit for bit.
 */
export interface RefAlias {
  readonly of: string;
  readonly alias: string;
  /** Why the reference holds it twice (named in errors). */
  readonly why: string;
}

type Row = readonly [ours: string, ref: string, transpose: boolean];
const T = true; // Linear weight: [in, out] here, [out, in] in PyTorch
const _ = false; // same layout on both sides (embeddings [V, d], norm gains, biases)

/** An AELayer: pre-norm SwiGLU without biases (`mlp` = HF LlamaMLP with mlp_bias false, `layernorm` = LlamaRMSNorm). */
const AE_LAYER: readonly Row[] = [
  ['norm.weight', 'layernorm.weight', _],
  ['ffn.gate.weight', 'mlp.gate_proj.weight', T],
  ['ffn.up.weight', 'mlp.up_proj.weight', T],
  ['ffn.down.weight', 'mlp.down_proj.weight', T],
];

/**
 * The autoencoder (CALM.md §2). The reference keeps each side's layers in one flat ModuleList,
 * `encoder_layers` / `decoder_layers`, and runs layer `stage · n/2 + i` as layer i of a stage; so calm-ts's
 * pre-stage layer i is reference layer i and its post-stage layer i is reference layer n/2 + i.
 */
const AE_TABLE: readonly Row[] = [
  ['embedding.weight', 'encoder.embed_tokens.weight', _],
  ['encoderPre.{i}.*', 'encoder.encoder_layers.{i}.*', _],
  ['compress.weight', 'encoder.squeeze_layer.weight', T],
  ['compress.bias', 'encoder.squeeze_layer.bias', _],
  ['encoderPost.{i}.*', 'encoder.encoder_layers.{i}.*', _],
  ['encoderNorm.weight', 'encoder.norm.weight', _],
  ['latentHead.weight', 'encoder.hidden_to_latent.weight', T],
  ['latentHead.bias', 'encoder.hidden_to_latent.bias', _],
  ['fromLatent.weight', 'decoder.latent_to_hidden.weight', T],
  ['fromLatent.bias', 'decoder.latent_to_hidden.bias', _],
  ['decoderPre.{i}.*', 'decoder.decoder_layers.{i}.*', _],
  ['expand.weight', 'decoder.expand_layer.weight', T],
  ['expand.bias', 'decoder.expand_layer.bias', _],
  ['decoderPost.{i}.*', 'decoder.decoder_layers.{i}.*', _],
  ['decoderNorm.weight', 'decoder.norm.weight', _],
];
/**
 * The decoder's output projection is the embedding itself (CALM.md §2.5). The reference ties it in code,
 * `self.decoder.lm_head_weight = self.encoder.embed_tokens.weight` (a bare Parameter used through
 * F.linear, not an nn.Linear), so its state_dict holds the embedding a second time under this key.
 */
export const AE_ALIASES: readonly RefAlias[] = [
  { of: 'encoder.embed_tokens.weight', alias: 'decoder.lm_head_weight', why: 'the decoder output projection is tied to the embedding, CALM.md §2.5' },
];

/** A Llama decoder layer (HF `LlamaDecoderLayer`; attention_bias and mlp_bias false). */
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

/**
 * The reference's MLPBlock (CALM.md §3.4 step 3): `in_ln` LayerNorm(d, eps 1e-6), `linears` =
 * Sequential(Linear(2d, d), SiLU, Linear(d, d), SiLU, Linear(d, 2d)), a parameter-free SiLU gate on the
 * first half, `down_proj` Linear(d, d); all Linears with biases.
 */
const HEAD_BLOCK: readonly Row[] = [
  ['norm.weight', 'in_ln.weight', _],
  ['norm.bias', 'in_ln.bias', _],
  ['lin1.weight', 'linears.0.weight', T],
  ['lin1.bias', 'linears.0.bias', _],
  ['lin2.weight', 'linears.2.weight', T],
  ['lin2.bias', 'linears.2.bias', _],
  ['lin3.weight', 'linears.4.weight', T],
  ['lin3.bias', 'linears.4.bias', _],
  ['out.weight', 'down_proj.weight', T],
  ['out.bias', 'down_proj.bias', _],
];

/** The CALM model (CALM.md §3): input compression, Llama backbone, energy head (the reference's EnergyTransformer). */
const CALM_TABLE: readonly Row[] = [
  ['tokenEmbedding.weight', 'transformer.embed_tokens.weight', _],
  // embed_proj = Sequential(Linear(K·d, 2d), SiLU, Linear(2d, d), LayerNorm(d, eps 1e-6)), CALM.md §3.1
  ['compressIn.weight', 'embed_proj.0.weight', T],
  ['compressIn.bias', 'embed_proj.0.bias', _],
  ['compressOut.weight', 'embed_proj.2.weight', T],
  ['compressOut.bias', 'embed_proj.2.bias', _],
  ['compressNorm.weight', 'embed_proj.3.weight', _],
  ['compressNorm.bias', 'embed_proj.3.bias', _],
  ['backbone.layers.{i}.*', 'transformer.layers.{i}.*', _],
  ['backbone.norm.weight', 'transformer.norm.weight', _],
  // MLPGenerator: noise_embd Linear(noise_size, d), hidden_embd Linear(d, d), norm_noise / norm_hidden LayerNorm(d, eps 1e-6)
  ['head.noiseProj.weight', 'generative_head.noise_embd.weight', T],
  ['head.noiseProj.bias', 'generative_head.noise_embd.bias', _],
  ['head.noiseNorm.weight', 'generative_head.norm_noise.weight', _],
  ['head.noiseNorm.bias', 'generative_head.norm_noise.bias', _],
  ['head.hiddenProj.weight', 'generative_head.hidden_embd.weight', T],
  ['head.hiddenProj.bias', 'generative_head.hidden_embd.bias', _],
  ['head.hiddenNorm.weight', 'generative_head.norm_hidden.weight', _],
  ['head.hiddenNorm.bias', 'generative_head.norm_hidden.bias', _],
  ['head.blocks.{i}.*', 'generative_head.mlp_blocks.{i}.*', _],
  // FinalLayer: in_ln LayerNorm(d, eps 1e-6), linears = Sequential(Linear(d, d), SiLU, Linear(d, latent_size))
  ['head.finalNorm.weight', 'generative_head.final_layer.in_ln.weight', _],
  ['head.finalNorm.bias', 'generative_head.final_layer.in_ln.bias', _],
  ['head.finalLinear.weight', 'generative_head.final_layer.linears.0.weight', T],
  ['head.finalLinear.bias', 'generative_head.final_layer.linears.0.bias', _],
  ['head.outLinear.weight', 'generative_head.final_layer.linears.2.weight', T],
  ['head.outLinear.bias', 'generative_head.final_layer.linears.2.bias', _],
];

/**
 * The reference registers the head twice: `self.mlp_generator = MLPGenerator(config)` and then
 * `self.generative_head = self.mlp_generator`, so its state_dict holds every head tensor under both prefixes.
 */
const HEAD_PREFIX = 'generative_head.';
const HEAD_ALIAS_PREFIX = 'mlp_generator.';

/**
 * The reference's EnergyTransformer also holds the frozen autoencoder as `ae_model`, so its state_dict
 * carries the autoencoder's tensors again under this prefix. Export writes them into calm/ as well (a
 * strict load_state_dict needs them); import accepts calm/ with or without them and, when present,
 * requires them to equal autoencoder/.
 */
export const CALM_AE_PREFIX = 'ae_model.';

/** Expands `{i}.*` rows over the layers `layers(ours)` gives (count, and the reference index of layer 0). */
function expand(table: readonly Row[], layerRows: (ours: string) => readonly Row[], layers: (ours: string) => { count: number; first: number }): NameRow[] {
  const rows: NameRow[] = [];
  for (const [ours, ref, transpose] of table) {
    if (!ours.endsWith('{i}.*')) {
      rows.push({ ours, ref, transpose });
      continue;
    }
    const { count, first } = layers(ours);
    for (let i = 0; i < count; i++) {
      for (const [o, r, t] of layerRows(ours)) rows.push({ ours: ours.replace('{i}.*', `${i}.${o}`), ref: ref.replace('{i}.*', `${first + i}.${r}`), transpose: t });
    }
  }
  return rows;
}

/** The full name table of an autoencoder with this config. */
export function autoencoderNameTable(config: AutoencoderConfig): NameRow[] {
  return expand(AE_TABLE, () => AE_LAYER, (ours) => {
    const half = (ours.startsWith('encoder') ? config.encoderLayers : config.decoderLayers) / 2;
    return { count: half, first: ours.includes('Post') ? half : 0 };
  });
}

/** The full name table of a CALM model with this config. */
export function calmNameTable(config: CalmConfig): NameRow[] {
  return expand(CALM_TABLE, (ours) => (ours.startsWith('backbone') ? LLAMA_LAYER : HEAD_BLOCK), (ours) => ({ count: ours.startsWith('backbone') ? config.layers : config.headBlocks, first: 0 }));
}

/** The CALM model's aliases: every head tensor again under `mlp_generator.` (see HEAD_ALIAS_PREFIX). */
export function calmAliases(table: readonly NameRow[]): RefAlias[] {
  return table
    .filter((r) => r.ref.startsWith(HEAD_PREFIX))
    .map((r) => ({ of: r.ref, alias: HEAD_ALIAS_PREFIX + r.ref.slice(HEAD_PREFIX.length), why: 'the reference registers its head as both generative_head and mlp_generator' }));
}

/** A copy of a 2-D array transposed ([r, c] -> [c, r]); exact, so two transposes give back the same bits. */
export function transpose2d(a: NamedArray, what: string): NamedArray {
  if (a.shape.length !== 2) throw new RangeError(`${what}: expected a 2-D weight to transpose, got shape [${a.shape.join(', ')}]`);
  const [r, c] = a.shape;
  const out = new (a.data.constructor as { new (n: number): NamedArray['data'] })(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a.data[i * c + j];
  return { dtype: a.dtype, shape: [c, r], data: out };
}

/** The module's parameters under reference names and layouts, each alias written as a second key. */
export function toReferenceTensors(model: Module, table: readonly NameRow[], aliases: readonly RefAlias[] = []): Record<string, NamedArray> {
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
  for (const { of, alias } of aliases) {
    if (!Object.hasOwn(out, of)) throw new Error(`toReferenceTensors: alias '${alias}' names '${of}', which the table does not write`);
    out[alias] = out[of];
  }
  return out;
}

/** True when two arrays have the same dtype, shape and bits. */
export function sameArray(a: NamedArray, b: NamedArray): boolean {
  return a.dtype === b.dtype && a.shape.join() === b.shape.join() && a.data.every((x, i) => Object.is(x, b.data[i]));
}

/**
 * Reference tensors (as read from `file`) back under calm-ts names and layouts. A table key may be present
 * under its own name, an alias, or both (then they must be equal). Every missing and every unexpected key
 * is listed in one error.
 */
export function fromReferenceTensors(tensors: Readonly<Record<string, NamedArray>>, table: readonly NameRow[], file: string, aliases: readonly RefAlias[] = []): Record<string, NamedArray> {
  const aliasesOf = new Map<string, RefAlias[]>();
  for (const a of aliases) aliasesOf.set(a.of, [...(aliasesOf.get(a.of) ?? []), a]);
  const expected = new Set([...table.map((r) => r.ref), ...aliases.map((a) => a.alias)]);
  const missing = table.filter((r) => !Object.hasOwn(tensors, r.ref) && !(aliasesOf.get(r.ref) ?? []).some((a) => Object.hasOwn(tensors, a.alias))).map((r) => r.ref);
  const unexpected = Object.keys(tensors).filter((k) => !expected.has(k));
  if (missing.length > 0 || unexpected.length > 0) {
    const parts = [];
    if (missing.length > 0) parts.push(`missing ${missing.join(', ')}`);
    if (unexpected.length > 0) parts.push(`unexpected ${unexpected.join(', ')}`);
    throw new Error(`${file}: tensors do not match the reference layout for this config: ${parts.join('; ')}`);
  }
  const out: Record<string, NamedArray> = {};
  for (const row of table) {
    const present = [row.ref, ...(aliasesOf.get(row.ref) ?? []).map((a) => a.alias)].filter((k) => Object.hasOwn(tensors, k));
    const a = tensors[present[0]];
    for (const other of present.slice(1)) {
      if (!sameArray(a, tensors[other])) {
        const why = aliasesOf.get(row.ref)!.find((x) => x.alias === other || x.alias === present[0])!.why;
        throw new Error(`${file}: '${other}' differs from '${present[0]}'; the reference holds one tensor under both names (${why})`);
      }
    }
    out[row.ours] = row.transpose ? transpose2d(a, `${file}: '${present[0]}'`) : a;
  }
  return out;
}

/**
 * Splits a CALM part's tensors into its own and the autoencoder's copy under `ae_model.` (prefix removed;
 * null when the file carries none).
 */
export function splitEmbeddedAutoencoder(tensors: Readonly<Record<string, NamedArray>>): { own: Record<string, NamedArray>; embedded: Record<string, NamedArray> | null } {
  const own: Record<string, NamedArray> = {};
  const embedded: Record<string, NamedArray> = {};
  for (const [k, a] of Object.entries(tensors)) {
    if (k.startsWith(CALM_AE_PREFIX)) embedded[k.slice(CALM_AE_PREFIX.length)] = a;
    else own[k] = a;
  }
  return { own, embedded: Object.keys(embedded).length > 0 ? embedded : null };
}

/** The autoencoder's reference tensors under `ae_model.`, as the reference's EnergyTransformer holds them. */
export function embedAutoencoder(aeTensors: Readonly<Record<string, NamedArray>>): Record<string, NamedArray> {
  return Object.fromEntries(Object.entries(aeTensors).map(([k, a]) => [CALM_AE_PREFIX + k, a]));
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

/**
 * The autoencoder's config.json (reference `AutoencoderConfig` fields). That class declares no
 * `model_type`, so the reference's own config.json has none and none is written here.
 */
export function referenceAutoencoderConfig(ae: AutoencoderConfig, extras: AutoencoderExtras): Record<string, unknown> {
  const reg = extras.regularisation;
  return {
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
    mlp_bias: false,
    // the reference ties lm_head_weight to the embedding in code, whatever this says; its default is false
    tie_word_embeddings: false,
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
  mlp_bias: v.optional(v.literal(false)),
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

/** Token ids the reference's CALM reads from its config (padding prompts, stopping generation). */
export interface SpecialTokens {
  pad: number;
  bos: number;
  eos: number;
}

/**
 * The CALM model's config.json (reference `CALMConfig` = LlamaConfig fields + CALM's own). `model_type`
 * 'energy' is what the reference's train_calm.py dispatches on to build its EnergyTransformer (the
 * other values select its diffusion and flow heads, which calm-ts does not have). `extras` is the calm-ts
 * run config.
 */
export function referenceCalmConfig(calm: CalmConfig, extras: Record<string, unknown>, blockChunks: number, tokens: SpecialTokens): Record<string, unknown> {
  if (calm.headDim !== undefined && calm.headDim !== calm.d) {
    throw new RangeError(`referenceCalmConfig: the energy head is ${calm.headDim} wide but the backbone ${calm.d}; the reference's head has the backbone's width (CALM.md §3.4)`);
  }
  return {
    model_type: 'energy',
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
    pad_token_id: tokens.pad,
    bos_token_id: tokens.bos,
    eos_token_id: tokens.eos,
    patch_size: calm.K,
    latent_size: calm.latent,
    num_mlp_layers: calm.headBlocks,
    noise_size: calm.noiseDim,
    num_samples: calm.nSamples,
    beta: calm.energyExponent ?? 1, // the energy-score exponent α (CALM.md §4.1)
    ae_path: '../autoencoder',
    torch_dtype: 'float32',
    calm_ts: extras,
  };
}

const ReferenceCalmSchema = v.looseObject({
  model_type: v.optional(v.literal('energy')), // the reference's default; 'diffusion' and 'flow' are heads calm-ts lacks
  vocab_size: count,
  hidden_size: count,
  intermediate_size: count,
  num_hidden_layers: count,
  num_attention_heads: count,
  num_key_value_heads: v.optional(count),
  rope_theta: v.optional(v.literal(10000)),
  rms_norm_eps: v.optional(v.literal(1e-6)),
  attention_bias: v.optional(v.literal(false)),
  mlp_bias: v.optional(v.literal(false)),
  patch_size: count,
  latent_size: count,
  num_mlp_layers: count,
  noise_size: count,
  num_samples: intIn(2, 1 << 16),
  beta: v.optional(v.pipe(v.number(), v.gtValue(0), v.ltValue(2))),
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
    ...(c.beta !== undefined && c.beta !== 1 ? { energyExponent: c.beta } : {}),
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
