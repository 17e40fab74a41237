/** All layers in one import (they live in small files: linear, norm, mlp, attention, transformer). */
export { Linear, Embedding } from './linear.js';
export { RMSNorm, LayerNorm, type NormOptions } from './norm.js';
export { SwiGLU, Dropout } from './mlp.js';
export { RotaryEmbedding, KVCache, CausalSelfAttention, type AttentionForwardOptions } from './attention.js';
export { DecoderBlock, DecoderStack, type DecoderConfig } from './transformer.js';
