/** CALM: the autoencoder, the CALM language model with its energy head and loss, generation, training tasks, BrierLM, temperature samplers, FLOP accounting, and whole runs. */
export * from './autoencoder.js';
export * from './energy-head.js';
export * from './energy-loss.js';
export * from './calm-model.js';
export * from './generate.js';
export * from './tasks.js';
export * from './brier.js';
export * from './temperature.js';
export * from './flops.js';
export * from './runs/index.js';
