/**
 * Training metrics as JSON lines: one JSON object per line, appended as training goes, so a crash loses at
 * most the line being written and the file can be tailed or plotted while training runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureDir, readTextFile } from './atomic.js';

/** A JSON value as stored in a metrics line. */
export type MetricValue = number | string | boolean | null | MetricValue[] | { [key: string]: MetricValue };

/** One metrics line, e.g. `{ step: 100, split: 'train', loss: 2.31 }`. */
export type MetricsRecord = { [key: string]: MetricValue };

// JSON has no NaN or Infinity and JSON.stringify would silently write null; a NaN loss is worth keeping,
// so non-finite numbers are written as these strings and turned back into numbers by readMetrics.
const NON_FINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

/** Appends records to a JSON-lines file, creating its directory if needed. */
export class MetricsLog {
  /** The file written to. */
  readonly path: string;

  /** Opens `filePath` for appending; with `truncate`, existing content is discarded first. */
  constructor(filePath: string, options: { truncate?: boolean } = {}) {
    this.path = filePath;
    ensureDir(path.dirname(path.resolve(filePath)));
    if (options.truncate === true) this.write('');
  }

  /** Appends `record` as one line. */
  append(record: MetricsRecord): void {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new Error(`MetricsLog.append(${this.path}): record must be a plain object, got ${JSON.stringify(record)}`);
    }
    const line = JSON.stringify(record, (_key, value: unknown) =>
      typeof value === 'number' && !Number.isFinite(value) ? String(value) : value,
    );
    this.write(`${line}\n`, true);
  }

  private write(text: string, append = false): void {
    try {
      if (append) fs.appendFileSync(this.path, text);
      else fs.writeFileSync(this.path, text);
    } catch (err) {
      throw new Error(`MetricsLog: cannot write '${this.path}': ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/**
 * Reads every record of a JSON-lines metrics file; blank lines are skipped. A bad line is an error naming the
 * file and line number, except that with `skipIncompleteLastLine` an unterminated, unparsable final line (a
 * write cut off by a crash) is dropped.
 */
export function readMetrics(filePath: string, options: { skipIncompleteLastLine?: boolean } = {}): MetricsRecord[] {
  const text = readTextFile(filePath, 'readMetrics', 2 ** 30); // a regular file, at most 1 GiB; errors name it
  const lines = text.split('\n');
  const records: MetricsRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line, (_key, value: unknown) =>
        typeof value === 'string' && Object.hasOwn(NON_FINITE, value) ? NON_FINITE[value] : value,
      );
    } catch (err) {
      const isUnterminatedLast = i === lines.length - 1 && !text.endsWith('\n');
      if (isUnterminatedLast && options.skipIncompleteLastLine === true) break;
      throw new Error(
        `readMetrics: ${filePath}:${i + 1}: not valid JSON (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error(`readMetrics: ${filePath}:${i + 1}: expected a JSON object, got ${line.slice(0, 80)}`);
    }
    records.push(parsed as MetricsRecord);
  }
  return records;
}

/**
 * The history a metrics log describes. The log is append-only: a resumed run appends lines for steps that
 * an earlier, interrupted process had already logged past its last checkpoint. A line for step s therefore
 * supersedes every earlier line whose step is >= s. Lines without a numeric `step` are kept as they are.
 */
export function currentRecords(records: readonly MetricsRecord[]): MetricsRecord[] {
  const out: MetricsRecord[] = [];
  for (const r of records) {
    const step = r.step;
    if (typeof step === 'number') {
      while (out.length > 0) {
        const last = out[out.length - 1].step;
        if (typeof last === 'number' && last >= step) out.pop();
        else break;
      }
    }
    out.push(r);
  }
  return out;
}
