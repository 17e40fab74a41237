/**
 * Crash-safe file writes: write a temporary file next to the target, flush it to disk, then rename it over
 * the target. A reader (or a crash) sees either the old file or the complete new one, never half of it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runFs } from './fs-layer.js';

let tempCounter = 0;

/** Creates `dir` and its parents if they do not exist. */
export function ensureDir(dir: string): void {
  try {
    runFs.mkdir(dir);
  } catch (err) {
    throw new Error(`ensureDir: cannot create directory '${dir}': ${describe(err)}`);
  }
}

/**
 * Writes `data` to `filePath` atomically: `${filePath}.tmp-<pid>-<n>` in the same directory is written and
 * fsynced, renamed over the target, and the directory is fsynced where the platform allows it.
 */
export function writeFileAtomic(filePath: string, data: string | Uint8Array): void {
  const dir = path.dirname(path.resolve(filePath));
  const tempPath = `${filePath}.tmp-${process.pid}-${tempCounter++}`;
  let fd: number | undefined;
  try {
    fd = runFs.open(tempPath, 'w');
    runFs.write(fd, tempPath, data);
    runFs.fsync(fd, tempPath);
    runFs.close(fd, tempPath);
    fd = undefined;
    runFs.rename(tempPath, filePath);
  } catch (err) {
    if (fd !== undefined) closeQuietly(fd);
    removeQuietly(tempPath);
    throw new Error(`writeFileAtomic: cannot write '${filePath}': ${describe(err)}`);
  }
  fsyncDirectory(dir);
}

/** Writes `value` as pretty-printed JSON plus a trailing newline, atomically. */
export function writeJsonAtomic(filePath: string, value: unknown): void {
  const text = JSON.stringify(value, null, 2);
  if (text === undefined) {
    throw new Error(`writeJsonAtomic: value for '${filePath}' is not JSON-serialisable (${typeof value})`);
  }
  writeFileAtomic(filePath, `${text}\n`);
}

// Makes the rename itself durable. Some platforms (Windows, some network file systems) cannot open or
// fsync a directory; the data is already safe on disk, so those refusals are ignored.
const IGNORED_DIR_FSYNC_CODES = new Set(['EINVAL', 'EISDIR', 'EPERM', 'EACCES', 'ENOTSUP', 'EBADF']);

/** Flushes `dir`'s entries (renames, creations) to disk; a no-op where the platform refuses. */
export function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = runFs.open(dir, 'r');
    runFs.fsync(fd, dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined || !IGNORED_DIR_FSYNC_CODES.has(code)) {
      throw new Error(`writeFileAtomic: cannot fsync directory '${dir}': ${describe(err)}`);
    }
  } finally {
    if (fd !== undefined) closeQuietly(fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Already failing; the original error is the one worth reporting.
  }
}

function removeQuietly(file: string): void {
  try {
    runFs.rm(file);
  } catch {
    // Best effort: a leftover temp file is harmless and clearly named.
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Names of temporary files left by {@link writeFileAtomic} when a process died mid-write. */
export const STALE_TEMP = /\.tmp-\d+-\d+$/;

/**
 * Removes `*.tmp-<pid>-<n>` files left in `dir` (not recursively) by writers that died. Only call it on a
 * folder this process owns (the run lock is held): a live writer's temp file would be removed too.
 */
export function removeStaleTempFiles(dir: string): string[] {
  let names: string[];
  try {
    names = runFs.readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!STALE_TEMP.test(name)) continue;
    removeQuietly(path.join(dir, name));
    removed.push(name);
  }
  return removed;
}

/** Default size bound of {@link readRegularFile}: 4 GiB (a checkpoint of about a billion float32 values). */
export const MAX_READ_BYTES = 2 ** 32;

/**
 * Reads a whole file, refusing anything that is not a regular file (a FIFO would block forever, a link to
 * `/dev/zero` would never end) or that is larger than `maxBytes`. Symbolic links are followed only to
 * regular files. `what` names the caller in errors.
 */
export function readRegularFile(filePath: string, what: string, maxBytes = MAX_READ_BYTES): Buffer {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(filePath);
  } catch (err) {
    throw new Error(`${what}: cannot read '${filePath}': ${describe(err)}`);
  }
  if (!stat.isFile()) throw new Error(`${what}: '${filePath}' is not a regular file (${fileKind(stat)}); refusing to read it`);
  if (stat.size > maxBytes) throw new Error(`${what}: '${filePath}' is ${stat.size} bytes, over the limit of ${maxBytes}`);
  let fd: number | undefined;
  try {
    // O_NONBLOCK: if the path was swapped for a FIFO after the stat, the open must not hang.
    fd = fs.openSync(filePath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const again = fs.fstatSync(fd);
    if (!again.isFile()) throw new Error(`not a regular file (${fileKind(again)})`);
    if (again.size > maxBytes) throw new Error(`${again.size} bytes, over the limit of ${maxBytes}`);
    const out = Buffer.alloc(again.size);
    let at = 0;
    while (at < out.length) {
      const n = fs.readSync(fd, out, at, out.length - at, at);
      if (n === 0) throw new Error(`file shrank while being read (${at} of ${out.length} bytes)`);
      at += n;
    }
    return out;
  } catch (err) {
    throw new Error(`${what}: cannot read '${filePath}': ${describe(err)}`);
  } finally {
    if (fd !== undefined) closeQuietly(fd);
  }
}

/** Reads a UTF-8 text file through {@link readRegularFile}. */
export function readTextFile(filePath: string, what: string, maxBytes = 64 * 2 ** 20): string {
  return readRegularFile(filePath, what, maxBytes).toString('utf8');
}

function fileKind(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a file';
}
