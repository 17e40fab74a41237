/**
 * What the commands share, written once: the options several commands take (backend, seed, quiet, run
 * folder, the training schedule and optimiser) and the checks several commands make. Parsing and `--help`
 * are command.ts.
 * Defaults of run settings are quoted from the run modules (src/calm/runs, src/nn/train).
 */
import * as fs from 'node:fs';
import { LIMITS, OPTIMISER_DEFAULTS, evenHeadWidth, type RunControl } from '../nn/train/train-config.js';
import type { Backend } from '../tensor/backend.js';
import { useBackend } from '../tensor/select.js';
import { UsageError } from './args.js';

/** The `--backend` choices, in the order `--help` lists them. */
export const BACKENDS = ['cpu', 'auto', 'gpujs-webgpu', 'gpujs-webasm', 'gpujs-cpu'] as const;

/** `--backend` (CALM_BACKEND when not given; see args.ts). */
export function backendOption(description = 'compute backend') {
  return { type: 'string', default: 'cpu', choices: BACKENDS, description } as const;
}

/** `--seed`. */
export function seedOption(description: string, seed = 1) {
  return { type: 'number', integer: true, min: 0, default: seed, description } as const;
}

/** `--quiet`. */
export function quietOption(description = 'no progress bar') {
  return { type: 'boolean', description } as const;
}

/** `--seed` then `--backend`, as the commands that sample or evaluate take them. */
export function seedAndBackendOptions(seedDescription: string, seed = 1) {
  return { seed: seedOption(seedDescription, seed), backend: backendOption() } as const;
}

/** `--out`, `--resume` and `--backend` of a training command. */
export function runFolderOptions(out: string, contents: string) {
  return {
    out: { type: 'string', default: out, description: `output folder (${contents})` },
    resume: { type: 'boolean', description: 'continue from OUT/checkpoint with its saved configuration' },
    backend: backendOption(),
  } as const;
}

/** `--steps`. */
export function stepsOption(steps: number) {
  return { type: 'number', integer: true, min: 1, max: LIMITS.steps, default: steps, description: 'optimiser steps' } as const;
}

/** `--dim`, `--layers`, `--heads` and `--ffn` of a Llama-style backbone, with a command's defaults and wording. */
export function backboneOptions(d: { dim: number; layers: number; heads: number; ffn: number }, describe: { dim: string; ffn: string }) {
  return {
    dim: { type: 'number', integer: true, min: 2, max: LIMITS.dim, default: d.dim, description: describe.dim },
    layers: { type: 'number', integer: true, min: 1, max: LIMITS.layers, default: d.layers, description: 'decoder layers' },
    heads: { type: 'number', integer: true, min: 1, max: LIMITS.heads, default: d.heads, description: 'attention heads (must divide dim)' },
    ffn: { type: 'number', integer: true, min: 0, max: LIMITS.ffn, default: d.ffn, description: describe.ffn },
  } as const;
}

/** `--valid-fraction`. */
function validFractionOption(validFraction: number) {
  return { type: 'number', min: 0.001, max: 0.5, default: validFraction, description: 'held-out share of each novel (whole trailing chapters)' } as const;
}

/** A count of held-out blocks (or chunks) that an evaluation scores. */
function heldOutCountOption(count: number, description: string) {
  return { type: 'number', integer: true, min: 1, max: LIMITS.blocks, default: count, description } as const;
}

/** The defaults {@link trainingOptions} takes from a run module. */
interface TrainingDefaults {
  lr: number;
  minLr: number;
  warmup: number;
  evalEvery: number;
  checkpointEvery: number;
  validFraction: number;
  seed: number;
}

/**
 * The closing options of every training command, with that command's defaults: schedule, optimiser and
 * cadence; then its held-out counts (`heldOutCounts` names each with its wording, the default from `d`),
 * `--valid-fraction`, `--seed` (in `seedDescription`'s words) and `--quiet`.
 */
export function trainingOptions<K extends string>(d: TrainingDefaults & Readonly<Record<NoInfer<K>, number>>, seedDescription: string, heldOutCounts: Readonly<Record<K, string>>) {
  const counts = Object.fromEntries(Object.entries<string>(heldOutCounts).map(([key, description]) => [key, heldOutCountOption(d[key as K], description)]));
  return {
    lr: { type: 'number', above: 0, default: d.lr, description: 'peak learning rate' },
    minLr: { type: 'number', min: 0, default: d.minLr, description: 'final learning rate of the cosine schedule' },
    warmup: { type: 'number', integer: true, min: 0, max: LIMITS.steps, default: d.warmup, description: 'linear warmup steps' },
    schedule: { type: 'string', choices: ['cosine', 'constant'], default: OPTIMISER_DEFAULTS.schedule, description: 'learning-rate schedule after warmup' },
    weightDecay: { type: 'number', min: 0, default: OPTIMISER_DEFAULTS.weightDecay, description: 'AdamW decoupled weight decay' },
    clip: { type: 'number', above: 0, max: 1e6, default: OPTIMISER_DEFAULTS.clip, description: 'global gradient-norm clip' },
    onNonfinite: { type: 'string', choices: ['stop', 'skip'], default: OPTIMISER_DEFAULTS.onNonfinite, description: 'on a NaN or infinite loss or gradient norm: stop the run, or skip that update (stopping after 10 in a row)' },
    evalEvery: { type: 'number', integer: true, min: 1, max: LIMITS.steps, default: d.evalEvery, description: 'steps between held-out evaluations' },
    checkpointEvery: { type: 'number', integer: true, min: 1, max: LIMITS.steps, default: d.checkpointEvery, description: 'steps between checkpoints' },
    ...(counts as Record<K, ReturnType<typeof heldOutCountOption>>),
    validFraction: validFractionOption(d.validFraction),
    seed: seedOption(seedDescription, d.seed),
    quiet: quietOption(),
  } as const;
}

/** `--out` of a command that creates a folder: required, and refused when it exists (nothing is overwritten). */
export function newFolder(command: string, out: string | undefined): string {
  if (out === undefined) throw new UsageError(`${command}: --out DIR is required`);
  if (fs.existsSync(out)) throw new UsageError(`${command}: ${out} exists; choose a new --out folder`);
  return out;
}

/** Selects the backend, printing its notes on stderr. */
export function selectBackend(choice: string): Promise<Backend> {
  return useBackend(choice, (note) => process.stderr.write(`${note}\n`));
}

/** A log that writes lines to stderr unless `quiet`. */
export function logger(quiet: boolean): (line: string) => void {
  return (line) => {
    if (!quiet) process.stderr.write(`${line}\n`);
  };
}

/** How a training command drives its run. */
export function runControl(o: { resume: boolean; quiet: boolean; onNonfinite: string }): RunControl {
  return { resume: o.resume, quiet: o.quiet, log: logger(o.quiet), onNonFinite: o.onNonfinite === 'skip' ? 'skip' : 'stop' };
}

/** Refuses a width that `heads` do not split into even head widths (RoPE), naming the flags. */
export function checkHeads(command: string, dim: number, heads: number): void {
  if (!evenHeadWidth(dim, heads)) throw new UsageError(`${command}: --dim ${dim} must be a multiple of --heads ${heads} with an even head width (RoPE)`);
}

/** Longest --prompt accepted, in characters. */
export const MAX_PROMPT_CHARS = 1_000_000;
/** Most tokens one call generates. */
export const MAX_NEW_TOKENS = 1_000_000;

/** `--checkpoint`, `--prompt`, `--max-tokens` and `--max-context` of a generating command, in its wording. */
export function generationOptions(describe: { checkpoint: string; prompt: string; maxTokens: string; maxContext: string }) {
  return {
    checkpoint: { type: 'string', description: describe.checkpoint },
    prompt: { type: 'string', default: '', description: describe.prompt },
    maxTokens: { type: 'number', integer: true, min: 0, max: MAX_NEW_TOKENS, default: 200, description: describe.maxTokens },
    maxContext: { type: 'number', integer: true, min: 0, max: LIMITS.seq * 16, default: 0, description: describe.maxContext },
  } as const;
}

/** Refuses prompts no model here could use (the context cap keeps only the last tokens of long ones). */
export function checkPrompt(prompt: string): void {
  if (prompt.length > MAX_PROMPT_CHARS) throw new UsageError(`calm generate: --prompt is ${prompt.length.toLocaleString('en')} characters, over the limit of ${MAX_PROMPT_CHARS.toLocaleString('en')}`);
}
