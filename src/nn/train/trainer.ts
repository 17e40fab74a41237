/**
 * One training loop for every model (the baseline Transformer, the autoencoder, CALM): AdamW with a
 * warmup schedule and global gradient clipping, a progress bar, JSON-lines metrics, a loss-curve SVG,
 * periodic evaluation, atomic checkpoints, exact resume, and a checkpoint on Ctrl-C.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { noGrad } from '../../autograd/grad-mode.js';
import type { Tensor } from '../../autograd/tensor.js';
import { loadCheckpoint, saveCheckpoint, type JsonValue } from '../checkpoint.js';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { MetricsLog, readMetrics, type MetricsRecord } from '../io/metrics.js';
import { ProgressBar, type ProgressStream } from '../io/progress.js';
import { lineChartSvg } from '../io/svg-plot.js';
import { memoryScope } from '../../tensor/memory.js';
import type { Module } from '../module.js';
import { AdamW, clipGradNorm, gradNormsByGroup, type DecayFilter } from '../optim.js';
import { warmupConstantSchedule, warmupCosineSchedule, type LrSchedule } from '../schedule.js';

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
interface TrainerExtra {
  step: number;
  task: JsonValue;
  trainer: { version: 1 };
}

const CHECKPOINT = 'checkpoint';

/** The checkpoint folder of a run directory, or null when none was completed. */
export function findCheckpoint(outDir: string): string | null {
  // A crash between the two renames of saveCheckpointAtomic leaves only the `.old` copy.
  for (const name of [CHECKPOINT, `${CHECKPOINT}.old`]) {
    const dir = path.join(outDir, name);
    if (fs.existsSync(path.join(dir, 'state.json'))) return dir;
  }
  return null;
}

/**
 * Writes the checkpoint into `checkpoint.tmp` and swaps it in with renames, so `checkpoint/` is always
 * either the previous complete checkpoint or the new complete one.
 */
function saveCheckpointAtomic(outDir: string, model: Module, optimizer: AdamW, extra: TrainerExtra): void {
  const final = path.join(outDir, CHECKPOINT);
  const temp = `${final}.tmp`;
  const old = `${final}.old`;
  fs.rmSync(temp, { recursive: true, force: true });
  saveCheckpoint(temp, { model, optimizer, extra: extra as unknown as JsonValue });
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(final)) fs.renameSync(final, old);
  fs.renameSync(temp, final);
  fs.rmSync(old, { recursive: true, force: true });
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
  const checkpointDir = options.resume ? findCheckpoint(outDir) : null;
  if (checkpointDir !== null) {
    const { extra } = loadCheckpoint(checkpointDir, { model: task.model, optimizer });
    const e = extra as unknown as TrainerExtra | null;
    if (e === null || typeof e !== 'object' || !Number.isInteger(e.step)) throw new Error(`train: checkpoint '${checkpointDir}' has no trainer step in state.json`);
    startStep = e.step;
    task.loadState(e.task);
    // Metrics logged after the checkpoint belong to steps that will be redone.
    if (fs.existsSync(metricsPath)) history = readMetrics(metricsPath, { skipIncompleteLastLine: true }).filter((r) => asNumber(r.step) <= startStep);
    log(`resuming ${task.name} from ${checkpointDir} at step ${startStep}`);
  } else if (options.resume) {
    log(`no checkpoint in ${outDir}; starting from scratch`);
  }
  writeJsonAtomic(path.join(outDir, 'config.json'), options.config);
  const metrics = new MetricsLog(metricsPath, { truncate: true });
  for (const r of history) metrics.append(r);

  const saveNow = (step: number): void => saveCheckpointAtomic(outDir, task.model, optimizer, { step, task: task.state(), trainer: { version: 1 } });
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
        const groups = task.paramGroup === undefined ? {} : gradNormsByGroup(named, (name) => task.paramGroup!(name));
        const norm = clipGradNorm(params, options.clip);
        // A non-finite gradient would poison the moments: skip the update and say so in the metrics.
        const skip = !Number.isFinite(norm);
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
      if (skipped) record.skipped = true;
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
  }
}
