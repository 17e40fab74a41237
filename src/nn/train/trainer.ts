/**
 * One training loop for every model (the baseline Transformer, the autoencoder, CALM): AdamW with a
 * warmup schedule and global gradient clipping, a progress bar, JSON-lines metrics, a loss-curve SVG,
 * periodic evaluation, atomic checkpoints, exact resume, and a checkpoint on Ctrl-C.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v from 'valibot';
import { noGrad } from '../../autograd/grad-mode.js';
import type { Tensor } from '../../autograd/tensor.js';
import { firstNonFinite, loadCheckpoint, saveCheckpoint, type JsonValue } from '../checkpoint.js';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { checkJson, intIn } from '../io/json-file.js';
import { currentRecords, MetricsLog, readMetrics, type MetricsRecord } from '../io/metrics.js';
import { ProgressBar, type ProgressStream } from '../io/progress.js';
import { lineChartSvg } from '../io/svg-plot.js';
import { memoryScope } from '../../tensor/memory.js';
import type { Module } from '../module.js';
import { AdamW, clipGradNorm, gradNormsByGroup, gradSquareSums, type DecayFilter } from '../optim.js';
import { warmupConstantSchedule, warmupCosineSchedule, type LrSchedule } from '../schedule.js';
import { CHECKPOINT, commitCheckpoint, discardCheckpoints, lockRunFolder, recoverRunFolder } from './run-folder.js';

export { findCheckpoint } from './run-folder.js';

/** What the trainer needs from a model and its data. */
export interface TrainTask {
  /** e.g. 'transformer', 'autoencoder', 'calm'. */
  readonly name: string;
  /** Parameters trained by AdamW. */
  readonly model: Module;
  /** One training batch: returns the scalar loss (graph recorded) and the number of tokens it covered. */
  trainStep(step: number): { loss: Tensor; tokens: number; metrics?: Record<string, number> };
  /** Held-out evaluation (called under noGrad, model in eval mode); must include 'validLoss'. */
  evaluate(): Record<string, number>;
  /** JSON-able state of everything random or positional outside the model/optimizer, for exact resume. */
  state(): JsonValue;
  loadState(state: JsonValue): void;
  /**
   * Optional: the group of a parameter name (e.g. 'backbone', 'head'). The trainer then logs each
   * group's gradient norm before clipping as `gradNorm.<group>`.
   */
  paramGroup?(name: string): string;
  /** Optional: held-out loss levels to draw beside the curve (name → loss), e.g. reference models. */
  referenceLevels?(): Record<string, number>;
}

/** Options of {@link train}. */
export interface TrainOptions {
  outDir: string;
  /** Total optimiser steps of the run (a resumed run counts the steps already done). */
  steps: number;
  /** Peak learning rate. */
  lr: number;
  warmupSteps: number;
  schedule: 'constant' | 'cosine';
  /** Final rate of the cosine schedule (default 0.1 lr). */
  minLr?: number;
  weightDecay: number;
  /** Default [0.9, 0.95] (CALM.md §8.1). */
  betas?: [number, number];
  /** Global gradient-norm clip threshold. */
  clip: number;
  evalEvery: number;
  checkpointEvery: number;
  /** Continue from outDir/checkpoint when it exists. */
  resume: boolean;
  /** Written to outDir/config.json. */
  config: JsonValue;
  /** No progress bar or messages. */
  quiet?: boolean;
  decayFilter?: DecayFilter;
  /** For tests: stop (as if interrupted, saving a checkpoint) after this many steps of this call. */
  stopAfter?: number;
  /**
   * What a non-finite loss or gradient norm does: 'stop' (default) ends the run with a
   * {@link DivergenceError}; 'skip' skips that update, says so, and stops after `maxSkips` in a row.
   */
  onNonFinite?: 'stop' | 'skip';
  /** Consecutive skipped updates tolerated with `onNonFinite: 'skip'` (default 10). */
  maxSkips?: number;
}

/** A run stopped because a loss, gradient norm or weight became NaN or infinite. */
export class DivergenceError extends Error {
  override readonly name = 'DivergenceError';
}

/** What a run did. */
export interface TrainSummary {
  /** Optimiser steps completed (including those of a resumed run). */
  steps: number;
  /** Wall-clock seconds of this call. */
  seconds: number;
  /** Training loss of the last step (NaN when no step ran). */
  finalTrainLoss: number;
  /** The last evaluation's metrics (empty when none ran). */
  finalValid: Record<string, number>;
  outDir: string;
  /** True when the run stopped early (Ctrl-C or `stopAfter`) after saving a checkpoint. */
  interrupted?: boolean;
}

/** Shape of `extra` in the checkpoint's state.json. */
const TrainerExtraSchema = v.object({
  step: intIn(0, Number.MAX_SAFE_INTEGER),
  task: v.unknown(),
  trainer: v.object({ version: v.literal(1) }),
});

interface TrainerExtra {
  step: number;
  task: JsonValue;
  trainer: { version: 1 };
}

/** Throws a {@link DivergenceError} naming the first parameter holding a NaN or infinity. */
function checkWeights(model: Module, step: number, lastGood: string): void {
  for (const [name, p] of model.namedParameters()) {
    const data = p.toTypedArray();
    const at = firstNonFinite(data);
    if (at >= 0) {
      throw new DivergenceError(`train: step ${step}: parameter '${name}' holds ${data[at]} at index ${at}; not saved. ${lastGood}`);
    }
  }
}

function makeSchedule(o: TrainOptions): LrSchedule {
  if (o.schedule === 'cosine' && o.steps > o.warmupSteps) {
    return warmupCosineSchedule({ lr: o.lr, warmupSteps: o.warmupSteps, totalSteps: o.steps, minLr: o.minLr ?? 0.1 * o.lr });
  }
  return warmupConstantSchedule(o.lr, o.warmupSteps);
}

function checkOptions(o: TrainOptions): void {
  const positiveInt = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`train: ${name} must be a positive integer, got ${v}`);
  };
  positiveInt('steps', o.steps);
  positiveInt('evalEvery', o.evalEvery);
  positiveInt('checkpointEvery', o.checkpointEvery);
  if (o.stopAfter !== undefined) positiveInt('stopAfter', o.stopAfter);
  if (!Number.isInteger(o.warmupSteps) || o.warmupSteps < 0) throw new RangeError(`train: warmupSteps must be a non-negative integer, got ${o.warmupSteps}`);
  if (!(o.lr > 0)) throw new RangeError(`train: lr must be positive, got ${o.lr}`);
  if (!(o.clip > 0)) throw new RangeError(`train: clip must be positive, got ${o.clip}`);
  if (!(o.weightDecay >= 0)) throw new RangeError(`train: weightDecay must be >= 0, got ${o.weightDecay}`);
  if (o.onNonFinite !== undefined && o.onNonFinite !== 'stop' && o.onNonFinite !== 'skip') throw new RangeError(`train: onNonFinite must be 'stop' or 'skip', got ${String(o.onNonFinite)}`);
  if (o.maxSkips !== undefined) positiveInt('maxSkips', o.maxSkips);
}

function asNumber(v: unknown): number {
  return typeof v === 'number' ? v : NaN;
}

/** Renders train and valid loss against step from the metrics records. */
function writeLossPlot(outDir: string, taskName: string, records: readonly MetricsRecord[], levels: Record<string, number>): void {
  const trainPts: [number, number][] = [];
  const validPts: [number, number][] = [];
  for (const r of records) {
    const step = asNumber(r.step);
    if (Number.isFinite(asNumber(r.loss))) trainPts.push([step, asNumber(r.loss)]);
    if (Number.isFinite(asNumber(r.validLoss))) validPts.push([step, asNumber(r.validLoss)]);
  }
  const svg = lineChartSvg({
    title: `${taskName}: loss`,
    xLabel: 'step',
    yLabel: 'loss (nats)',
    series: [
      { name: 'train', points: trainPts },
      { name: 'valid', points: validPts },
      // Reference levels as flat lines over the steps drawn so far.
      ...Object.entries(levels).map(([name, value]) => ({ name, points: [[0, value], [Math.max(1, ...trainPts.map(([x]) => x)), value]] as [number, number][] })),
    ],
  });
  writeFileAtomic(path.join(outDir, 'loss.svg'), svg);
}

const silentStream: ProgressStream = { write: () => true, isTTY: false };

/**
 * Trains `task.model` for `options.steps` optimiser steps (see {@link TrainOptions}); with `resume`, continues
 * from the last checkpoint so the result is bit-identical to an uninterrupted run.
 */
export async function train(task: TrainTask, options: TrainOptions): Promise<TrainSummary> {
  checkOptions(options);
  const started = performance.now();
  const { outDir } = options;
  const log = (msg: string): void => {
    if (options.quiet !== true) process.stderr.write(`${msg}\n`);
  };
  ensureDir(outDir);

  const named = task.model.namedParameters().filter(([, p]) => p.requiresGrad);
  let levels: Record<string, number> | null = null;
  const referenceLevels = (): Record<string, number> => (levels ??= task.referenceLevels?.() ?? {});
  const params = named.map(([, p]) => p);
  const optimizer = new AdamW(named, { lr: options.lr, betas: options.betas ?? [0.9, 0.95], weightDecay: options.weightDecay, decayFilter: options.decayFilter });
  const schedule = makeSchedule(options);

  let startStep = 0;
  const metricsPath = path.join(outDir, 'metrics.jsonl');
  let history: MetricsRecord[] = [];
  let metrics: MetricsLog;
  const releaseLock = lockRunFolder(outDir);
  try {
    const recovered = recoverRunFolder(outDir);
    if (recovered.removed.length > 0) log(`removed leftovers of an interrupted run: ${recovered.removed.join(', ')}`);
    const checkpointDir = options.resume ? recovered.checkpoint : null;
    if (checkpointDir !== null) {
      const { extra } = loadCheckpoint(checkpointDir, { model: task.model, optimizer });
      const e = checkJson(TrainerExtraSchema, extra, `${path.join(checkpointDir, 'state.json')} (extra)`);
      if (optimizer.stepCount > e.step) throw new Error(`train: ${path.join(checkpointDir, 'state.json')}: optimizerStep ${optimizer.stepCount} exceeds the trainer step ${e.step}`);
      if (e.step > options.steps) {
        throw new RangeError(`train: the checkpoint in ${checkpointDir} is at step ${e.step}, past the ${options.steps} steps asked for; ask for at least ${e.step} steps to resume`);
      }
      startStep = e.step;
      task.loadState(e.task as JsonValue);
      // The log is append-only: lines of steps after the checkpoint stay in the file and are superseded
      // by the lines this run appends (currentRecords), so a crash now cannot lose history.
      if (fs.existsSync(metricsPath)) history = currentRecords(readMetrics(metricsPath, { skipIncompleteLastLine: true })).filter((r) => asNumber(r.step) <= startStep);
      log(`resuming ${task.name} from ${checkpointDir} at step ${startStep}`);
    } else if (options.resume) {
      const leftovers = ['config.json', 'metrics.jsonl', CHECKPOINT].filter((f) => fs.existsSync(path.join(outDir, f)));
      if (leftovers.length > 0) {
        throw new Error(`train: cannot resume: ${outDir} has no complete checkpoint (it holds ${leftovers.join(', ')}); start a new run in another folder, or drop --resume to overwrite this one`);
      }
      log(`no checkpoint in ${outDir}; starting from scratch`);
    } else {
      // A fresh run: an earlier run's checkpoints go now, so that a crash before this run's first save
      // cannot make a later --resume mix them with this run's config.
      discardCheckpoints(outDir);
    }
    writeJsonAtomic(path.join(outDir, 'config.json'), options.config);
    // A fresh run starts a new log; a resumed one only appends.
    metrics = new MetricsLog(metricsPath, { truncate: startStep === 0 && !options.resume });
  } catch (err) {
    releaseLock();
    throw err;
  }

  let lastSaved = startStep > 0 ? startStep : null;
  const lastGood = (): string =>
    lastSaved === null ? 'No checkpoint was saved.' : `The last good checkpoint (step ${lastSaved}) is kept in ${path.join(outDir, CHECKPOINT)}.`;
  const saveNow = (step: number): void => {
    checkWeights(task.model, step, lastGood()); // a diverged model must not replace the last good checkpoint
    const extra: TrainerExtra = { step, task: task.state(), trainer: { version: 1 } };
    commitCheckpoint(outDir, (dir) => saveCheckpoint(dir, { model: task.model, optimizer, extra: extra as unknown as JsonValue }));
    lastSaved = step;
  };
  const policy = options.onNonFinite ?? 'stop';
  const maxSkips = options.maxSkips ?? 10;
  let skipsInARow = 0;
  const evaluateNow = (): Record<string, number> => {
    task.model.eval();
    try {
      return memoryScope(() => noGrad(() => task.evaluate()));
    } finally {
      task.model.train();
    }
  };

  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(130); // a second Ctrl-C leaves without waiting
    interrupted = true;
    log('\ninterrupted: saving a checkpoint after this step (Ctrl-C again to quit now)');
  };
  process.on('SIGINT', onSigint);

  const bar = new ProgressBar({ total: options.steps, label: task.name, stream: options.quiet === true ? silentStream : process.stderr });
  let finalTrainLoss = NaN;
  let finalValid: Record<string, number> = {};
  let lastValidLoss = NaN;
  let step = startStep;
  const stopAt = options.stopAfter === undefined ? options.steps : Math.min(options.steps, startStep + options.stopAfter);
  try {
    task.model.train();
    while (step < stopAt && !interrupted) {
      const t0 = performance.now();
      const lr = schedule(step);
      optimizer.lr = lr;
      // The step's temporaries (activations, graph, gradients) are freed when it ends, not when the
      // garbage collector gets round to them: on a gpu.js backend each is a device buffer. The new
      // parameter values survive (assignData keeps them); only numbers leave the scope.
      const { loss, tokens, metrics: taskMetrics, gradNorm, groupNorms, skipped } = memoryScope(() => {
        const out = task.trainStep(step);
        const value = out.loss.item();
        out.loss.backward();
        const squares = gradSquareSums(params); // one pass over the gradients for both the group norms and the clip
        const groups = task.paramGroup === undefined ? {} : gradNormsByGroup(named, (name) => task.paramGroup!(name), squares);
        const norm = clipGradNorm(params, options.clip, squares);
        // A non-finite loss or gradient would poison the weights and moments: never apply that update.
        const skip = !Number.isFinite(value) || !Number.isFinite(norm);
        if (!skip) optimizer.step();
        optimizer.zeroGrad();
        return { loss: value, tokens: out.tokens, metrics: out.metrics, gradNorm: norm, groupNorms: groups, skipped: skip };
      });
      step++;
      const seconds = (performance.now() - t0) / 1000;
      const tokensPerSec = tokens / seconds;
      finalTrainLoss = loss;

      const record: MetricsRecord = { step, loss, lr, gradNorm, tokensPerSec, ...(taskMetrics ?? {}) };
      for (const [group, norm] of Object.entries(groupNorms)) record[`gradNorm.${group}`] = norm;
      if (skipped) {
        record.skipped = true;
        const what = !Number.isFinite(loss) ? `loss is ${loss}` : `gradient norm is ${gradNorm}`;
        skipsInARow++;
        if (policy === 'stop' || skipsInARow >= maxSkips) {
          metrics.append(record);
          bar.done();
          const why = policy === 'stop' ? 'stopped (--on-nonfinite skip would skip such updates)' : `stopped after ${skipsInARow} skipped updates in a row`;
          throw new DivergenceError(`train: step ${step}: ${what}; the update was not applied and the run ${why}. ${lastGood()} Try a lower --lr or --clip.`);
        }
        // Printed even when quiet: a skipped update is a warning, not progress.
        process.stderr.write(`\ntrain: step ${step}: ${what}; update skipped (${skipsInARow} in a row, stopping at ${maxSkips})\n`);
      } else {
        skipsInARow = 0;
      }
      const evalDue = step % options.evalEvery === 0 || step === options.steps;
      if (evalDue) {
        finalValid = evaluateNow();
        lastValidLoss = finalValid.validLoss;
        Object.assign(record, finalValid);
      }
      metrics.append(record);
      history.push(record);
      if (evalDue) writeLossPlot(outDir, task.name, history, referenceLevels());
      if (step % options.checkpointEvery === 0 || step === options.steps) saveNow(step);
      const gap = finalValid.gapClosed;
      bar.update(step, {
        loss: loss.toFixed(4),
        ...(Number.isFinite(lastValidLoss) ? { valid: lastValidLoss.toFixed(4) } : {}),
        ...(gap !== undefined && Number.isFinite(gap) ? { gap: `${(100 * gap).toFixed(0)}%` } : {}),
        'tok/s': Math.round(tokensPerSec),
      });
      // Yield to the event loop so a pending SIGINT is delivered between steps.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const stoppedEarly = step < options.steps;
    if (stoppedEarly && step > startStep && step % options.checkpointEvery !== 0) saveNow(step);
    bar.done();
    if (stoppedEarly) log(`stopped at step ${step}/${options.steps}; checkpoint in ${path.join(outDir, CHECKPOINT)} (continue with --resume)`);
    return { steps: step, seconds: (performance.now() - started) / 1000, finalTrainLoss, finalValid, outDir, interrupted: stoppedEarly };
  } finally {
    process.removeListener('SIGINT', onSigint);
    releaseLock();
  }
}
