/** Training: the shared loop and the baseline language-modelling task. */
export { train, findCheckpoint, DivergenceError, type TrainTask, type TrainOptions, type TrainSummary } from './trainer.js';
export { commitCheckpoint, recoverRunFolder, lockRunFolder, type FindOptions } from './run-folder.js';
export { createLmTask, encodeLmSplits, fixedBlocks, unigramCrossEntropy, type LmTaskOptions } from './lm-task.js';
