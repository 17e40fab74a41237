/**
 * Checkpoints as a directory: `model.safetensors` (parameters by dotted name), optionally
 * `optimizer.safetensors` (AdamW moments as `m.<name>` / `v.<name>`), and `state.json` (optimiser
 * step plus any JSON the caller adds: rng state, data position, ...). Each file is written
 * atomically; `state.json` is written last.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureDir, writeJsonAtomic } from './io/atomic.js';
import { loadSafetensors, saveSafetensors, type NamedArray } from './io/safetensors.js';
import type { Module } from './module.js';
import type { AdamW, AdamWState } from './optim.js';

/** JSON-compatible values for `extra`. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface CheckpointContents {
  /** Parameters by dotted name. */
  model: Record<string, NamedArray>;
  /** Optimiser state, when one was saved. */
  optimizer: AdamWState | null;
  /** The caller's JSON. */
  extra: JsonValue;
}

const FORMAT = 'calm-ts-checkpoint-1';

/** Writes `model` (and `optimizer`, `extra`) into `dir`, creating it if needed. */
export function saveCheckpoint(dir: string, contents: { model: Module; optimizer?: AdamW; extra?: JsonValue }): void {
  ensureDir(dir);
  const model: Record<string, NamedArray> = {};
  for (const [name, t] of contents.model.namedParameters()) model[name] = { dtype: t.dtype, shape: [...t.shape], data: t.toTypedArray() };
  saveSafetensors(path.join(dir, 'model.safetensors'), model, { format: FORMAT });
  let optimizerStep: number | null = null;
  if (contents.optimizer !== undefined) {
    const state = contents.optimizer.state();
    const moments: Record<string, NamedArray> = {};
    for (const [name, a] of Object.entries(state.m)) moments[`m.${name}`] = a;
    for (const [name, a] of Object.entries(state.v)) moments[`v.${name}`] = a;
    saveSafetensors(path.join(dir, 'optimizer.safetensors'), moments, { format: FORMAT, step: String(state.step) });
    optimizerStep = state.step;
  }
  writeJsonAtomic(path.join(dir, 'state.json'), { format: FORMAT, optimizerStep, extra: contents.extra ?? null });
}

/**
 * Reads a checkpoint from `dir`. When `into.model` / `into.optimizer` are given, their values are
 * loaded too (strict: every key must match).
 */
export function loadCheckpoint(dir: string, into: { model?: Module; optimizer?: AdamW } = {}): CheckpointContents {
  const statePath = path.join(dir, 'state.json');
  let state: { format?: unknown; optimizerStep?: unknown; extra?: JsonValue };
  try {
    state = JSON.parse(fs.readFileSync(statePath, 'utf8')) as typeof state;
  } catch (err) {
    throw new Error(`loadCheckpoint: cannot read '${statePath}': ${err instanceof Error ? err.message : String(err)}`);
  }
  if (state.format !== FORMAT) throw new Error(`loadCheckpoint: '${statePath}' has format ${JSON.stringify(state.format)}, expected '${FORMAT}'`);
  const model = loadSafetensors(path.join(dir, 'model.safetensors')).tensors;

  let optimizer: AdamWState | null = null;
  if (typeof state.optimizerStep === 'number') {
    const file = path.join(dir, 'optimizer.safetensors');
    const tensors = loadSafetensors(file).tensors;
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
  if (into.optimizer !== undefined) {
    if (optimizer === null) throw new Error(`loadCheckpoint: '${dir}' holds no optimizer state`);
    into.optimizer.loadState(optimizer);
  }
  return { model, optimizer, extra: state.extra ?? null };
}
