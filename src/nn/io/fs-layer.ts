/**
 * The file-system calls that run folders are written with (checkpoints, config, plots), behind one
 * interception point. Why: crash safety is a property of the *sequence* of calls, and the only way to
 * prove it is to stop a save before each call and look at what is left. Tests install a hook with
 * {@link setFsHook}; the hook sees every call before it happens and may throw to simulate a crash.
 * Production code pays one null check per call.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The kinds of call that pass through the layer. */
export type FsOp = 'open' | 'write' | 'fsync' | 'close' | 'rename' | 'rm' | 'mkdir' | 'readdir' | 'stat' | 'read';

/** Called before each file-system call with its kind and (first) path; throwing aborts the call. */
export type FsHook = (op: FsOp, target: string) => void;

let hook: FsHook | null = null;

/** Installs `h` (null removes it); returns the previous hook. For tests. */
export function setFsHook(h: FsHook | null): FsHook | null {
  const previous = hook;
  hook = h;
  return previous;
}

function before(op: FsOp, target: string): void {
  if (hook !== null) hook(op, target);
}

/** `node:fs` calls, each announced to the hook first. File descriptors are named by the path they were opened with. */
export const runFs = {
  open(file: string, flags: string): number {
    before('open', file);
    return fs.openSync(file, flags);
  },
  write(fd: number, file: string, data: string | Uint8Array): void {
    before('write', file);
    fs.writeFileSync(fd, data);
  },
  fsync(fd: number, file: string): void {
    before('fsync', file);
    fs.fsyncSync(fd);
  },
  close(fd: number, file: string): void {
    before('close', file);
    fs.closeSync(fd);
  },
  rename(from: string, to: string): void {
    before('rename', from);
    fs.renameSync(from, to);
  },
  /**
   * Removes a file, or with `recursive` a folder entry by entry, each removal announced to the hook, so a
   * crash can be injected half-way through deleting a folder (as a kill -9 can). Missing targets are fine.
   */
  rm(target: string, options: { recursive?: boolean } = {}): void {
    if (options.recursive === true) {
      let stat: fs.Stats;
      try {
        stat = fs.lstatSync(target);
      } catch {
        return;
      }
      if (stat.isDirectory()) {
        for (const name of runFs.readdir(target)) runFs.rm(path.join(target, name), { recursive: true });
        before('rm', target);
        fs.rmdirSync(target);
        return;
      }
    }
    before('rm', target);
    fs.rmSync(target, { force: true });
  },
  mkdir(dir: string): void {
    before('mkdir', dir);
    makeDirs(dir);
  },
  readdir(dir: string): string[] {
    before('readdir', dir);
    return fs.readdirSync(dir);
  },
  /** lstat, or null when nothing is there. */
  stat(target: string): fs.Stats | null {
    before('stat', target);
    try {
      return fs.lstatSync(target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  },
};

/**
 * `mkdir -p` one level at a time. Node's own recursive mkdir retries ENOENT forever on file systems such
 * as /proc (`--out /proc/x` spun at 100 % CPU); single-level mkdirs report the refusal instead.
 */
function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d); ) {
    missing.push(d);
    const parent = path.dirname(d);
    if (parent === d) break;
    d = parent;
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  if (!fs.statSync(dir).isDirectory()) throw new Error(`'${dir}' exists and is not a directory`);
}
