/**
 * Crash-safe file writes: write a temporary file next to the target, flush it to disk, then rename it over
 * the target. A reader (or a crash) sees either the old file or the complete new one, never half of it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

let tempCounter = 0;

/** Creates `dir` and its parents if they do not exist. */
export function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
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
    fd = fs.openSync(tempPath, 'w');
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tempPath, filePath);
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

function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
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
    fs.rmSync(file, { force: true });
  } catch {
    // Best effort: a leftover temp file is harmless and clearly named.
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
