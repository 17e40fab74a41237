/**
 * The run folder's crash-safety: the checkpoint swap protocol, finding the newest complete checkpoint,
 * the run lock, and cleanup of what dead processes left behind.
 *
 * Checkpoint protocol. Three names hold checkpoints: `checkpoint` (the current one), `checkpoint.old`
 * (the previous one while a swap is under way) and `checkpoint.tmp` (the one being written). A folder is
 * complete when its `state.json` (written last) parses and every weight file it lists has the recorded
 * size. A folder is never deleted under one of those names: it is first renamed to
 * `checkpoint.trash-<n>` (one atomic rename), so a crash during a recursive delete leaves a trash folder,
 * never a half-deleted checkpoint. A save:
 *
 *   1. trashes a leftover `checkpoint.tmp` and writes the new checkpoint there, `state.json` last;
 *   2. if `checkpoint` is complete: trashes `checkpoint.old` and renames `checkpoint` to `checkpoint.old`;
 *      otherwise it trashes `checkpoint` (if any) and leaves `checkpoint.old` alone;
 *   3. renames `checkpoint.tmp` to `checkpoint`, then trashes `checkpoint.old` and empties the trash.
 *
 * The previous complete checkpoint is only trashed once a complete successor sits under a checkpoint
 * name, so after a crash at any point, and another crash at any point of the next save, some complete
 * checkpoint remains (test/run-folder.test.ts checks every pair of crash points).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v from 'valibot';
import { readCheckpointState } from '../checkpoint.js';
import { fsyncDirectory, removeStaleTempFiles } from '../io/atomic.js';
import { runFs } from '../io/fs-layer.js';
import { intIn, parseJson } from '../io/json-file.js';

export const CHECKPOINT = 'checkpoint';
const OLD = `${CHECKPOINT}.old`;
const TMP = `${CHECKPOINT}.tmp`;
const TRASH_PREFIX = `${CHECKPOINT}.trash-`;

/** The step recorded by the trainer in a checkpoint's state.json, or -1 when there is none. */
function trainerStep(extra: unknown): number {
  if (typeof extra === 'object' && extra !== null && !Array.isArray(extra)) {
    const step = (extra as Record<string, unknown>).step;
    if (typeof step === 'number' && Number.isSafeInteger(step) && step >= 0) return step;
  }
  return -1;
}

/**
 * The trainer step of the checkpoint in `dir` when it is complete (state.json valid, weight files present
 * with their recorded sizes), else null. Checkpoints without a size manifest (older runs) need their files
 * to exist.
 */
export function completeCheckpointStep(dir: string, options: FindOptions = {}): number | null {
  let state;
  try {
    state = readCheckpointState(dir);
  } catch {
    return null;
  }
  const files: Record<string, number | undefined> = state.files ?? { 'model.safetensors': undefined };
  if (state.optimizerStep !== null && !('optimizer.safetensors' in files)) files['optimizer.safetensors'] = undefined;
  if (options.weightsOnly === true) delete files['optimizer.safetensors'];
  for (const [name, size] of Object.entries(files)) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(path.join(dir, name));
    } catch {
      return null;
    }
    if (!stat.isFile() || (size !== undefined && stat.size !== size)) return null;
  }
  return Math.max(0, trainerStep(state.extra));
}

/** Options of {@link findCheckpoint}. */
export interface FindOptions {
  /** Only the weights must be there (generation and evaluation do not read the optimiser state). */
  weightsOnly?: boolean;
}

/**
 * The newest complete checkpoint folder of a run directory, or null. Looks at `checkpoint`,
 * `checkpoint.old` and `checkpoint.tmp` (complete when a crash came between the renames of a save).
 */
export function findCheckpoint(outDir: string, options: FindOptions = {}): string | null {
  let best: { dir: string; step: number } | null = null;
  for (const name of [CHECKPOINT, TMP, OLD]) {
    const dir = path.join(outDir, name);
    const step = completeCheckpointStep(dir, options);
    if (step !== null && (best === null || step > best.step)) best = { dir, step };
  }
  return best?.dir ?? null;
}

let trashCounter = 0;

/** Renames `dir` out of the checkpoint names (one atomic step), then deletes it. */
function trash(outDir: string, name: string): void {
  const dir = path.join(outDir, name);
  if (runFs.stat(dir) === null) return;
  const bin = path.join(outDir, `${TRASH_PREFIX}${process.pid}-${trashCounter++}`);
  runFs.rename(dir, bin);
  runFs.rm(bin, { recursive: true });
}

/** Deletes trash folders left by interrupted saves. */
function emptyTrash(outDir: string): void {
  for (const name of runFs.readdir(outDir)) {
    if (name.startsWith(TRASH_PREFIX)) runFs.rm(path.join(outDir, name), { recursive: true });
  }
}

/**
 * Saves a checkpoint with the protocol in the file header. `write(dir)` writes the checkpoint's files
 * into `dir`, state.json last (as {@link saveCheckpoint} does).
 */
export function commitCheckpoint(outDir: string, write: (dir: string) => void): void {
  const final = path.join(outDir, CHECKPOINT);
  trash(outDir, TMP);
  write(path.join(outDir, TMP));
  if (completeCheckpointStep(final) !== null) {
    trash(outDir, OLD);
    runFs.rename(final, path.join(outDir, OLD));
  } else {
    trash(outDir, CHECKPOINT); // incomplete: checkpoint.old (if any) is still the fallback
  }
  runFs.rename(path.join(outDir, TMP), final);
  fsyncDirectory(outDir);
  trash(outDir, OLD);
  emptyTrash(outDir);
}

/**
 * Tidies a run folder after a crash, before a run continues in it (call with the run lock held): moves
 * the newest complete checkpoint to `checkpoint`, and removes trash folders and stale `*.tmp-*` files.
 * Returns the checkpoint folder (or null) and the names of the files removed.
 */
export function recoverRunFolder(outDir: string): { checkpoint: string | null; removed: string[] } {
  const removed = removeStaleTempFiles(outDir);
  const best = findCheckpoint(outDir);
  const final = path.join(outDir, CHECKPOINT);
  if (best !== null && best !== final) {
    trash(outDir, CHECKPOINT);
    runFs.rename(best, final);
    fsyncDirectory(outDir);
  }
  if (best !== null) {
    // Only what sits under `checkpoint` now counts; the other names are leftovers.
    trash(outDir, TMP);
    trash(outDir, OLD);
  }
  for (const name of runFs.readdir(outDir)) if (name.startsWith(TRASH_PREFIX)) removed.push(name);
  emptyTrash(outDir);
  return { checkpoint: best === null ? null : final, removed };
}

/** Deletes every checkpoint of the folder (a fresh run replacing an earlier one); call with the lock held. */
export function discardCheckpoints(outDir: string): void {
  for (const name of [CHECKPOINT, TMP, OLD]) trash(outDir, name);
}

// ------------------------------------------------------------------------------------------ run lock

const LOCK = 'run.lock';
const LockSchema = v.looseObject({ pid: intIn(1, 2 ** 31) });
/** Lock files taken by this process (a same-pid lock file not listed here was left by a crashed call). */
const heldLocks = new Set<string>();

/** Whether a process with this id exists (EPERM: it exists but belongs to someone else). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockOwner(file: string): number | null {
  try {
    return parseJson(LockSchema, fs.readFileSync(file, 'utf8'), file).pid;
  } catch {
    return null; // unreadable or half-written: treated as stale
  }
}

/**
 * Takes the lock on a run folder so that two runs cannot write into it at once; returns the function that
 * releases it. A lock left by a process that no longer exists is taken over.
 */
export function lockRunFolder(outDir: string): () => void {
  const file = path.resolve(outDir, LOCK);
  const body = `${JSON.stringify({ pid: process.pid, started: new Date().toISOString() })}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, body, { flag: 'wx' });
      heldLocks.add(file);
      return () => releaseRunLock(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot lock run folder '${outDir}': ${(err as Error).message}`);
    }
    const owner = lockOwner(file);
    const live = owner !== null && (owner === process.pid ? heldLocks.has(file) : processAlive(owner));
    if (live) {
      throw new Error(`run folder '${outDir}' is in use by process ${owner} (lock ${file}); wait for that run to end, or use another --out (delete the lock file only if no such run exists)`);
    }
    // Stale: the owner died. Remove it and retry the exclusive create, so two takers cannot both win.
    fs.rmSync(file, { force: true });
  }
  throw new Error(`cannot lock run folder '${outDir}': the lock file ${file} keeps reappearing`);
}

function releaseRunLock(file: string): void {
  if (!heldLocks.delete(file)) return;
  try {
    if (lockOwner(file) === process.pid) fs.rmSync(file, { force: true });
  } catch {
    // A lock left behind is taken over by the next run (its pid is gone).
  }
}
