/**
 * Shared bookkeeping for benchmarks: rows of `{ case, size, impl, medianMs }` merged into
 * `bench/results.json` (a later run replaces rows with the same case, size and impl) and rendered
 * as ratio tables in `bench/RESULTS.md`.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/nn/io/atomic.js';

export interface BenchRow {
  case: string;
  size: number;
  impl: string;
  medianMs: number;
  /** Optional extra figures (tokens/s, GFLOP/s). */
  note?: string;
  /** The machine that measured this row, when it is not the one in bench/machine.txt (bench/device.sh). */
  machine?: string;
}

/** The repository's bench/ folder (this file compiles to dist/bench/report.js). */
export const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench');

/** The median of a list of timings (the mean of the middle two for an even count). */
export function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function describeMachine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  return `${model}, ${cpus.length} logical cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, Node.js ${process.version}`;
}

function readRows(file: string): BenchRow[] {
  if (!existsSync(file)) return [];
  const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!Array.isArray(parsed)) throw new Error(`${file}: expected a JSON array of rows`);
  return parsed as BenchRow[];
}

/**
 * Merges `rows` into results.json and rewrites RESULTS.md from all rows. With `otherMachine` (a run on a
 * machine other than the project's benchmark machine, such as bench/device.sh's GPU host) every row is
 * stamped with that machine and bench/machine.txt is left as it is.
 */
export function saveResults(rows: readonly BenchRow[], sections: Record<string, string> = {}, otherMachine?: string): void {
  const jsonPath = path.join(benchDir, 'results.json');
  const key = (r: BenchRow): string => `${r.case}|${r.size}|${r.impl}`;
  const merged = new Map(readRows(jsonPath).map((r) => [key(r), r]));
  for (const r of rows) merged.set(key(r), otherMachine === undefined ? r : { ...r, machine: otherMachine });
  const all = [...merged.values()].sort((a, b) => a.case.localeCompare(b.case) || a.size - b.size || a.impl.localeCompare(b.impl));
  writeFileAtomic(jsonPath, JSON.stringify(all, null, 2) + '\n');
  const machinePath = path.join(benchDir, 'machine.txt');
  if (otherMachine === undefined) writeFileAtomic(machinePath, describeMachine() + '\n');
  // Section texts are kept across runs too (sections.json), so one run does not drop another's.
  const sectionsPath = path.join(benchDir, 'sections.json');
  const keptSections = existsSync(sectionsPath) ? (JSON.parse(readFileSync(sectionsPath, 'utf8')) as Record<string, string>) : {};
  const allSections = { ...keptSections, ...sections };
  writeFileAtomic(sectionsPath, JSON.stringify(allSections, null, 2) + '\n');
  writeFileAtomic(path.join(benchDir, 'RESULTS.md'), renderMarkdown(all, allSections));
}

/** One table per case: rows are sizes, columns implementations, then calm-ts/peer speed ratios. */
export function renderMarkdown(rows: readonly BenchRow[], sections: Record<string, string>): string {
  const lines: string[] = ['# Benchmark results', ''];
  const machinePath = path.join(benchDir, 'machine.txt');
  const home = existsSync(machinePath) ? readFileSync(machinePath, 'utf8').trim() : describeMachine();
  lines.push(`Machine: ${home}.`, '');
  const elsewhere = new Map<string, Set<string>>();
  for (const r of rows) if (r.machine !== undefined) elsewhere.set(r.machine, (elsewhere.get(r.machine) ?? new Set()).add(r.impl));
  for (const [m, impls] of elsewhere) lines.push(`Columns ${[...impls].sort().join(', ')}: measured on another machine, ${m}; no ratio columns compare them with this machine's.`, '');
  lines.push('Median wall-clock milliseconds per call, measured with tinybench in one process, calm-ts and its');
  lines.push('peers side by side. A ratio column "peer / calm-ts-cpu" is the peer median divided by the calm-ts CPU');
  lines.push('median: above 1 means calm-ts is faster. Rows are merged from separate runs (`npm run bench` for the');
  lines.push('CPU cases with TensorFlow.js peers, `npm run bench:train` for the training step, `npm run bench:gpu` for the');
  lines.push('gpu.js backends); each run replaces only its own rows, and a row measured before a later engine change stays');
  lines.push('as it was until its benchmark is rerun. Other jobs were often sharing the two cores: compare within a row.', '');
  if (sections._summary) lines.push(sections._summary, '');
  const cases = [...new Set(rows.map((r) => r.case))];
  // `_summary` (above) is not a case.
  for (const c of cases) {
    const rs = rows.filter((r) => r.case === c);
    const impls = [...new Set(rs.map((r) => r.impl))];
    // Ratios compare the CPU reference backend with the TensorFlow.js peers; the gpu.js columns are
    // read against the calm-ts-cpu column directly.
    // Rows measured on another machine get no ratio columns.
    const local = (i: string): boolean => rs.some((r) => r.impl === i && r.machine === undefined);
    const ours = impls.filter((i) => i === 'calm-ts-cpu' || i === 'calm-ts-cpu-1t');
    const peers = impls.filter((i) => !i.startsWith('calm-ts') && local(i));
    lines.push(`## ${c}`, '');
    const ratioCols = ours.flatMap((o) => peers.map((p) => `${p} / ${o}`));
    const header = ['size', ...impls, ...ratioCols];
    lines.push(`| ${header.join(' | ')} |`);
    lines.push(`|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
    for (const size of [...new Set(rs.map((r) => r.size))].sort((a, b) => a - b)) {
      const cell = (impl: string): BenchRow | undefined => rs.find((r) => r.size === size && r.impl === impl);
      const times = impls.map((i) => {
        const r = cell(i);
        return r ? r.medianMs.toFixed(3) : '—';
      });
      const ratios = ours.flatMap((o) =>
        peers.map((p) => {
          const a = cell(o);
          const b = cell(p);
          return a && b ? (b.medianMs / a.medianMs).toFixed(2) : '—';
        }),
      );
      lines.push(`| ${[String(size), ...times, ...ratios].join(' | ')} |`);
    }
    // Notes (GFLOP/s, tokens/s, memory) below the table, per size and implementation.
    const notes = rs.filter((r) => r.note !== undefined && r.note !== '');
    if (notes.length > 0) {
      lines.push('');
      for (const size of [...new Set(notes.map((r) => r.size))].sort((a, b) => a - b)) {
        lines.push(`- ${size}: ${notes.filter((r) => r.size === size).map((r) => `${r.impl} ${r.note}`).join('; ')}`);
      }
    }
    // A case's own section, then those of runs on other machines (keys `case@impl-suffix`).
    for (const k of Object.keys(sections).filter((k) => k === c || k.startsWith(`${c}@`)).sort()) lines.push('', sections[k]);
    lines.push('');
  }
  return lines.join('\n');
}
