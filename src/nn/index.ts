/** The nn library: modules, layers, functional ops, optimisation, checkpoints, I/O and data. */
export { Module, Parameter, assignData, type StateValue, type LoadStateDictResult } from './module.js';
export { INIT_STD, normalParameter, constantParameter, type FloatDType, type LayerOptions } from './init.js';
export { Linear, Embedding } from './linear.js';
export { RMSNorm, LayerNorm, type NormOptions } from './norm.js';
export { SwiGLU, Dropout } from './mlp.js';
export { RotaryEmbedding, KVCache, CausalSelfAttention, type AttentionForwardOptions } from './attention.js';
export { DecoderBlock, DecoderStack, type DecoderConfig } from './transformer.js';
export * as F from './functional.js';
export {
  softmax,
  logSoftmax,
  crossEntropy,
  silu,
  gelu,
  dropout,
  rmsNorm,
  layerNorm,
  ropeTables,
  applyRope,
  causalAttention,
} from './functional.js';
export { AdamW, clipGradNorm, decayMatricesExceptEmbeddings, type AdamWOptions, type AdamWState, type DecayFilter } from './optim.js';
export { constantSchedule, warmupConstantSchedule, warmupCosineSchedule, type LrSchedule } from './schedule.js';
export { saveCheckpoint, loadCheckpoint, type CheckpointContents, type JsonValue } from './checkpoint.js';
export * from './io/index.js';
export * from './data/index.js';
export { TransformerLM, generate, sampleNext, type TransformerLMConfig, type SamplingOptions } from './transformer-lm.js';
export * from './train/index.js';
export { UsageError } from './usage-error.js';
