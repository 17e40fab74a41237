/**
 * Checkpoints as a directory: `model.safetensors` (parameters by dotted name), optionally
 * `optimizer.safetensors` (AdamW moments as `m.<name>` / `v.<name>`), and `state.json` (optimiser
 * step plus any JSON the caller adds: rng state, data position, ...). Each file is written
 * atomically; `state.json` is written last.
 */
import * as path from 'node:path';
import * as v from 'valibot';
import { ensureDir, writeJsonAtomic } from './io/atomic.js';
import { intIn, readJsonFile } from './io/json-file.js';
import { loadSafetensors, saveSafetensors, type NamedArray } from './io/safetensors.js';
import type { Module } from './module.js';
import type { AdamW, AdamWState } from './optim.js';

/** JSON-compatible values for `extra`. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface CheckpointContents {
  /** Parameters by dotted name. */
  model: Record<string, NamedArray>;
  /** Optimiser state (read only when loading into an optimiser). */
  optimizer: AdamWState | null;
  /** The caller's JSON. */
  extra: JsonValue;
}

const FORMAT = 'calm-ts-checkpoint-1';

/** state.json of a checkpoint folder. `files` (byte size of each weight file) lets readers tell a complete folder from a partial one. */
export const CheckpointStateSchema = v.object({
  format: v.literal(FORMAT),
  optimizerStep: v.nullable(intIn(0, Number.MAX_SAFE_INTEGER)),
  files: v.optional(v.record(v.picklist(['model.safetensors', 'optimizer.safetensors']), intIn(8, Number.MAX_SAFE_INTEGER))),
  // The caller's JSON; its owner checks it (the trainer's own part has TrainerStateSchema).
  extra: v.optional(v.unknown(), null),
});

/** The parsed state.json of a checkpoint. */
export interface CheckpointState {
  format: typeof FORMAT;
  optimizerStep: number | null;
  files?: Partial<Record<'model.safetensors' | 'optimizer.safetensors', number>>;
  extra: JsonValue;
}

/** Reads and checks `dir/state.json`. */
export function readCheckpointState(dir: string): CheckpointState {
  const s = readJsonFile(CheckpointStateSchema, path.join(dir, 'state.json'), 16 * 2 ** 20);
  return { format: s.format, optimizerStep: s.optimizerStep, files: s.files, extra: (s.extra ?? null) as JsonValue };
}

/** Options of {@link loadCheckpoint}. */
export interface LoadCheckpointOptions {
  model?: Module;
  optimizer?: AdamW;
  /** Accept NaN or infinite weights (default false: such a checkpoint is refused, naming the tensor). */
  allowNonFinite?: boolean;
}

/** Writes `model` (and `optimizer`, `extra`) into `dir`, creating it if needed. */
export function saveCheckpoint(dir: string, contents: { model: Module; optimizer?: AdamW; extra?: JsonValue }): void {
  ensureDir(dir);
  const model: Record<string, NamedArray> = {};
  for (const [name, t] of contents.model.namedParameters()) model[name] = { dtype: t.dtype, shape: [...t.shape], data: t.toTypedArray() };
  const files: Record<string, number> = {};
  files['model.safetensors'] = saveSafetensors(path.join(dir, 'model.safetensors'), model, { format: FORMAT });
  let optimizerStep: number | null = null;
  if (contents.optimizer !== undefined) {
    const state = contents.optimizer.state();
    const moments: Record<string, NamedArray> = {};
    for (const [name, a] of Object.entries(state.m)) moments[`m.${name}`] = a;
    for (const [name, a] of Object.entries(state.v)) moments[`v.${name}`] = a;
    files['optimizer.safetensors'] = saveSafetensors(path.join(dir, 'optimizer.safetensors'), moments, { format: FORMAT, step: String(state.step) });
    optimizerStep = state.step;
  }
  writeJsonAtomic(path.join(dir, 'state.json'), { format: FORMAT, optimizerStep, files, extra: contents.extra ?? null });
}

/**
 * Reads a checkpoint from `dir`. When `into.model` / `into.optimizer` are given, their values are
 * loaded too (strict: every key must match). The optimiser file is read only when `into.optimizer` is
 * given (generation does not need it). Non-finite weights are refused unless `allowNonFinite`.
 */
export function loadCheckpoint(dir: string, into: LoadCheckpointOptions = {}): CheckpointContents {
  const statePath = path.join(dir, 'state.json');
  let state: CheckpointState;
  try {
    state = readCheckpointState(dir);
  } catch (err) {
    throw new Error(`loadCheckpoint: ${err instanceof Error ? err.message : String(err)}`);
  }
  const modelFile = path.join(dir, 'model.safetensors');
  const model = loadSafetensors(modelFile).tensors;
  if (into.allowNonFinite !== true) {
    for (const [name, a] of Object.entries(model)) {
      const at = firstNonFinite(a.data);
      if (at >= 0) throw new Error(`loadCheckpoint: '${modelFile}': tensor '${name}' holds ${a.data[at]} at index ${at} (a diverged run?); pass allowNonFinite to load it anyway`);
    }
  }

  let optimizer: AdamWState | null = null;
  if (into.optimizer !== undefined) {
    if (state.optimizerStep === null) throw new Error(`loadCheckpoint: '${statePath}' holds no optimizer state`);
    const file = path.join(dir, 'optimizer.safetensors');
    const { tensors, metadata } = loadSafetensors(file);
    if (metadata.step !== undefined && metadata.step !== String(state.optimizerStep)) {
      throw new Error(`loadCheckpoint: '${file}' holds the moments of step ${metadata.step}, but '${statePath}' says optimizerStep ${state.optimizerStep}`);
    }
    const m: Record<string, NamedArray> = {};
    const v: Record<string, NamedArray> = {};
    for (const [key, a] of Object.entries(tensors)) {
      if (key.startsWith('m.')) m[key.slice(2)] = a;
      else if (key.startsWith('v.')) v[key.slice(2)] = a;
      else throw new Error(`loadCheckpoint: unexpected tensor '${key}' in '${file}'`);
    }
    optimizer = { step: state.optimizerStep, m, v };
  }

  if (into.model !== undefined) into.model.loadStateDict(model);
  if (into.optimizer !== undefined && optimizer !== null) {
    try {
      into.optimizer.loadState(optimizer);
    } catch (err) {
      throw new Error(`loadCheckpoint: '${path.join(dir, 'optimizer.safetensors')}': ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { model, optimizer, extra: state.extra };
}

/** Index of the first NaN or infinite element, or -1. */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}
