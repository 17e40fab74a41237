/**
 * An op profiler a learner can read, in the spirit of `torch.profiler`'s table: `profile(fn)` runs
 * `fn` and counts, for every op the backend runs, its calls, total and mean time and the bytes of
 * the arrays it allocated, forward and backward apart (the autograd engine marks the backward pass).
 * Time outside ops (the optimiser's host loop, random numbers, graph bookkeeping) is the difference
 * between the wall time and the ops' total, shown on the last line.
 *
 *     const { result, report } = profile(() => trainStep());
 *     console.log(report.table());
 *
 * `calm <command> --profile` wraps a whole command (see src/cli/calm.ts).
 */
import { bytesPerElement, type DType } from './dtype.js';

export type Phase = 'forward' | 'backward';

/** One row of the table. */
export interface OpStat {
  /** The op-table name; `reduce.sum` etc. for reductions. */
  readonly op: string;
  readonly phase: Phase;
  calls: number;
  /** Total milliseconds inside the backend's `run`. */
  ms: number;
  /** Bytes of the result arrays allocated. */
  bytes: number;
}

/** What a profiled run measured. */
export class ProfileReport {
  constructor(
    readonly stats: readonly OpStat[],
    /** Wall-clock milliseconds of the whole run. */
    readonly wallMs: number,
  ) {}

  /** Milliseconds inside ops. */
  get opMs(): number {
    return this.stats.reduce((s, r) => s + r.ms, 0);
  }

  /** The rows by total time, largest first. */
  top(n = Infinity): OpStat[] {
    return [...this.stats].sort((a, b) => b.ms - a.ms).slice(0, n);
  }

  /** A fixed-width table of the top `n` rows plus totals. */
  table(n = 25): string {
    const rows = this.top(n);
    const head = ['op', 'phase', 'calls', 'total ms', '% wall', 'mean us', 'MB alloc'];
    const body = rows.map((r) => [r.op, r.phase, String(r.calls), r.ms.toFixed(1), ((100 * r.ms) / this.wallMs).toFixed(1), ((1000 * r.ms) / r.calls).toFixed(1), (r.bytes / 1e6).toFixed(2)]);
    const phaseTotal = (p: Phase): number => this.stats.filter((r) => r.phase === p).reduce((s, r) => s + r.ms, 0);
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
    const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
    return [
      line(head),
      widths.map((w) => '-'.repeat(w)).join('  '),
      ...body.map(line),
      '',
      `wall ${this.wallMs.toFixed(1)} ms; in ops ${this.opMs.toFixed(1)} ms (forward ${phaseTotal('forward').toFixed(1)}, backward ${phaseTotal('backward').toFixed(1)}); outside ops ${(this.wallMs - this.opMs).toFixed(1)} ms`,
    ].join('\n');
  }
}

interface Recorder {
  readonly stats: Map<string, OpStat>;
}

let active: Recorder | null = null;
let phase: Phase = 'forward';

/** Sets the phase the next ops are counted under (the autograd engine calls it around backward); returns the previous one. */
export function setProfilePhase(p: Phase): Phase {
  const previous = phase;
  phase = p;
  return previous;
}

/** Whether a profile is being recorded (backends check this before timing). */
export function profiling(): boolean {
  return active !== null;
}

/** Counts one op run (called by the backends while profiling). */
export function recordOp(op: string, attrs: unknown, ms: number, size: number, dtype: DType): void {
  if (active === null) return;
  const reduceOp = op === 'reduce' ? (attrs as { op?: string }).op : undefined;
  const name = reduceOp === undefined ? op : `${op}.${reduceOp}`;
  const key = `${name}\u0000${phase}`;
  let row = active.stats.get(key);
  if (row === undefined) {
    row = { op: name, phase, calls: 0, ms: 0, bytes: 0 };
    active.stats.set(key, row);
  }
  row.calls++;
  row.ms += ms;
  row.bytes += size * bytesPerElement(dtype);
}

/** Runs `fn` (sync, or async: the profile ends when its promise settles) and reports its ops. */
export function profile<T>(fn: () => T): T extends Promise<infer U> ? Promise<{ result: U; report: ProfileReport }> : { result: T; report: ProfileReport } {
  if (active !== null) throw new Error('profile: already profiling (profiles do not nest)');
  const recorder: Recorder = { stats: new Map() };
  active = recorder;
  const t0 = performance.now();
  const finish = (): ProfileReport => {
    active = null;
    return new ProfileReport([...recorder.stats.values()], performance.now() - t0);
  };
  let result: T;
  try {
    result = fn();
  } catch (e) {
    finish();
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (value: unknown) => ({ result: value, report: finish() }),
      (e: unknown) => {
        finish();
        throw e;
      },
    ) as never;
  }
  return { result, report: finish() } as never;
}
