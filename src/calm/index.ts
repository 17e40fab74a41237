export * from './brier.js';
export * from './temperature.js';
export * from './flops.js';
