/**
 * What every run's config.json shares: the size limits the command-line flags and the config schemas
 * enforce, the `train` section (the optimiser schedule and the checkpoint cadence), and how that section
 * becomes the trainer's options.
 */
import * as v from 'valibot';
import type { JsonValue } from '../checkpoint.js';
import { intIn, numberIn } from '../io/json-file.js';
import type { TrainOptions } from './trainer.js';

/** Upper bounds of model and data sizes, shared by the flags and the config.json schemas. */
export const LIMITS = {
  vocab: 65_540,
  dim: 4096,
  layers: 64,
  heads: 64,
  ffn: 16_384,
  batch: 4096,
  seq: 8192,
  K: 64,
  latent: 4096,
  samples: 1024,
  targetSamples: 4096,
  blocks: 1_000_000,
  steps: 100_000_000,
  /** Parameters of one model: 2^28 float32 values are 1 GiB, far past what this engine trains. */
  params: 2 ** 28,
} as const;

/** The `train` section of a run's config.json. */
export const TrainSchema = v.object({
  steps: intIn(1, LIMITS.steps),
  lr: v.pipe(v.number(), v.finite(), v.gtValue(0)),
  minLr: numberIn(0, Number.MAX_VALUE),
  warmupSteps: intIn(0, LIMITS.steps),
  schedule: v.picklist(['cosine', 'constant']),
  weightDecay: numberIn(0, Number.MAX_VALUE),
  clip: v.pipe(v.number(), v.finite(), v.gtValue(0)),
  evalEvery: intIn(1, LIMITS.steps),
  checkpointEvery: intIn(1, LIMITS.steps),
});

/** The `train` section of a run's config.json. */
export type TrainConfig = v.InferOutput<typeof TrainSchema>;

/** The training settings as the command-line flags name them (`--warmup`, `--schedule`, ...). */
export interface TrainFlags {
  steps: number;
  lr: number;
  minLr: number;
  warmup: number;
  schedule: string;
  weightDecay: number;
  clip: number;
  evalEvery: number;
  checkpointEvery: number;
}

/** The `train` section from the flags. */
export function trainConfigFrom(f: TrainFlags): TrainConfig {
  return {
    steps: f.steps, lr: f.lr, minLr: f.minLr, warmupSteps: f.warmup, schedule: f.schedule === 'constant' ? 'constant' : 'cosine',
    weightDecay: f.weightDecay, clip: f.clip, evalEvery: f.evalEvery, checkpointEvery: f.checkpointEvery,
  };
}

/** How a run is driven, apart from its config: resuming, progress output, log lines, divergence policy. */
export interface RunControl {
  resume: boolean;
  quiet: boolean;
  log: (line: string) => void;
  onNonFinite?: 'stop' | 'skip';
}

/** The trainer's options for a run whose config.json is `config` with its `train` section `t`. */
export function trainerOptions(t: TrainConfig, outDir: string, config: unknown, control: Omit<RunControl, 'log'>): TrainOptions {
  return {
    outDir, steps: t.steps, lr: t.lr, minLr: t.minLr, warmupSteps: t.warmupSteps, schedule: t.schedule, weightDecay: t.weightDecay,
    clip: t.clip, evalEvery: t.evalEvery, checkpointEvery: t.checkpointEvery, resume: control.resume, config: config as JsonValue, quiet: control.quiet,
    onNonFinite: control.onNonFinite,
  };
}

/** Whether `heads` attention heads split width `dim` into equal, even head widths (RoPE rotates pairs). */
export function evenHeadWidth(dim: number, heads: number): boolean {
  return dim % heads === 0 && (dim / heads) % 2 === 0;
}

/** Defaults of the optimiser settings every training command shares (AdamW and the schedule's shape). */
export const OPTIMISER_DEFAULTS = { schedule: 'cosine', weightDecay: 0.1, clip: 1, onNonfinite: 'stop' } as const;
