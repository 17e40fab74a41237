/** Training: the shared loop and the baseline language-modelling task. */
export { train, findCheckpoint, type TrainTask, type TrainOptions, type TrainSummary } from './trainer.js';
export { createLmTask, encodeLmSplits, fixedBlocks, unigramCrossEntropy, type LmTaskOptions } from './lm-task.js';
