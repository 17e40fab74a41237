/** Training: the shared loop, the run configuration every run shares, and the baseline language-modelling task and run. */
export { train, findCheckpoint, DivergenceError, type TrainTask, type TrainOptions, type TrainSummary } from './trainer.js';
export { commitCheckpoint, recoverRunFolder, lockRunFolder, type FindOptions } from './run-folder.js';
export { createLmTask, encodeLmSplits, fixedBlocks, unigramCrossEntropy, type LmTaskOptions } from './lm-task.js';
export * from './train-config.js';
export * from './transformer-run.js';
