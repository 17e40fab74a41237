/** Runs: configuration, training, loading and evaluation of whole runs, as the `calm` commands use them. */
export * from './run-config.js';
export * from './autoencoder-run.js';
export * from './calm-run.js';
export * from './eval-run.js';
export * from './experiment-run.js';
export * from './demo-run.js';
