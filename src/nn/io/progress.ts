/**
 * A progress bar for training and evaluation loops. On a terminal it redraws one line in place with `\r`;
 * elsewhere (CI logs, files) it prints a full line at most every few seconds so logs stay short.
 */

/** The part of a writable stream the bar needs (process.stderr satisfies it). */
export type ProgressStream = { write(chunk: string): unknown; isTTY?: boolean; columns?: number };

/** Options for {@link ProgressBar}. */
export type ProgressBarOptions = {
  /** Number of steps at completion. */
  total: number;
  /** Printed before the counter, e.g. 'train'. */
  label: string;
  /** Where to draw (default process.stderr). */
  stream?: ProgressStream;
  /** Minimum seconds between redraws (default 0.2 on a terminal, 10 otherwise). */
  intervalSeconds?: number;
  /** Clock in milliseconds (default performance.now); injectable for tests. */
  now?: () => number;
  /** Width of the bar in characters (default 24). */
  barWidth?: number;
};

/** Shows step/total, a bar, named fields (loss, tokens/s, ...) and the estimated time remaining. */
export class ProgressBar {
  private readonly total: number;
  private readonly label: string;
  private readonly stream: ProgressStream;
  private readonly isTTY: boolean;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly barWidth: number;
  private readonly startMs: number;
  private first: { step: number; ms: number } | undefined;
  private lastDrawMs = -Infinity;
  private lastLine = '';
  private lastLineDrawn = true;
  private drawnWidth = 0;
  private finished = false;

  constructor(options: ProgressBarOptions) {
    if (!Number.isFinite(options.total) || options.total <= 0) {
      throw new Error(`ProgressBar: total must be a positive finite number, got ${options.total}`);
    }
    this.total = options.total;
    this.label = options.label;
    this.stream = options.stream ?? process.stderr;
    this.isTTY = this.stream.isTTY === true;
    this.intervalMs = 1000 * (options.intervalSeconds ?? (this.isTTY ? 0.2 : 10));
    this.now = options.now ?? (() => performance.now());
    this.barWidth = options.barWidth ?? 24;
    this.startMs = this.now();
  }

  /** Records that `step` steps are done; redraws if the throttle interval has passed or the run is complete. */
  update(step: number, fields: Record<string, number | string> = {}): void {
    if (!Number.isFinite(step) || step < 0) throw new Error(`ProgressBar.update: step must be >= 0, got ${step}`);
    if (this.finished) throw new Error(`ProgressBar.update: '${this.label}' was already marked done`);
    const nowMs = this.now();
    // The rate is measured from the first update, so setup time and resumed runs (first step > 0) do not
    // distort the ETA.
    if (this.first === undefined) this.first = { step, ms: nowMs };
    this.lastLine = this.render(step, fields, nowMs);
    this.lastLineDrawn = false;
    if (nowMs - this.lastDrawMs >= this.intervalMs || step >= this.total) this.draw(nowMs);
  }

  /** Draws the latest state if it was throttled away, ends the line, and reports the total time. */
  done(): void {
    if (this.finished) return;
    this.finished = true;
    const elapsed = formatDuration((this.now() - this.startMs) / 1000);
    if (!this.lastLineDrawn) this.draw(this.now());
    if (this.isTTY && this.drawnWidth > 0) this.stream.write('\n');
    this.stream.write(`${this.label} done in ${elapsed}\n`);
  }

  private draw(nowMs: number): void {
    this.lastDrawMs = nowMs;
    this.lastLineDrawn = true;
    if (!this.isTTY) {
      this.stream.write(`${this.lastLine}\n`);
      return;
    }
    let line = this.lastLine;
    if (this.stream.columns !== undefined && line.length > this.stream.columns - 1) {
      line = line.slice(0, Math.max(0, this.stream.columns - 1));
    }
    // Pad with spaces to erase the tail of a longer previous line.
    this.stream.write(`\r${line}${' '.repeat(Math.max(0, this.drawnWidth - line.length))}`);
    this.drawnWidth = line.length;
  }

  private render(step: number, fields: Record<string, number | string>, nowMs: number): string {
    const fraction = Math.min(1, step / this.total);
    const filled = Math.round(fraction * this.barWidth);
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(this.barWidth - filled)}]`;
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    const parts = [`${this.label} ${step}/${this.total}`, bar, percent];
    for (const [name, value] of Object.entries(fields)) parts.push(`${name}=${formatField(value)}`);
    const first = this.first ?? { step, ms: nowMs };
    const stepsDone = step - first.step;
    const remaining = stepsDone > 0 ? ((this.total - step) * (nowMs - first.ms)) / 1000 / stepsDone : NaN;
    parts.push(`ETA ${formatEta(step >= this.total ? 0 : remaining)}`);
    return parts.join(' ');
  }
}

/**
 * Formats a non-negative duration compactly: '42s', '1m05s', '2h03m', '3d04h'. Seconds are rounded to the
 * nearest unit shown.
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new Error(`formatDuration: expected a finite duration >= 0 seconds, got ${seconds}`);
  }
  const totalSeconds = Math.round(seconds);
  if (totalSeconds < 60) return `${totalSeconds}s`;
  if (totalSeconds < 3600) return `${Math.floor(totalSeconds / 60)}m${pad2(totalSeconds % 60)}s`;
  const totalMinutes = Math.round(seconds / 60);
  if (totalMinutes < 24 * 60) return `${Math.floor(totalMinutes / 60)}h${pad2(totalMinutes % 60)}m`;
  const totalHours = Math.round(seconds / 3600);
  return `${Math.floor(totalHours / 24)}d${pad2(totalHours % 24)}h`;
}

/** Like {@link formatDuration}, but an unknown estimate (NaN, infinite, negative) prints as '--'. */
export function formatEta(seconds: number): string {
  return Number.isFinite(seconds) && seconds >= 0 ? formatDuration(seconds) : '--';
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function formatField(value: number | string): string {
  if (typeof value === 'string') return value;
  if (Number.isInteger(value)) return String(value);
  if (!Number.isFinite(value)) return String(value);
  return Math.abs(value) >= 1000 ? value.toFixed(0) : value.toPrecision(4);
}
