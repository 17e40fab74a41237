/**
 * The reader's guide docs/CALM.md is cited by section number all over the code (`CALM.md §3.4`,
 * `§2.6 step 1`, `§6.1–6.2`). These tests fail when a citation has no heading to land on, so a renumbered
 * guide or a mistyped section number is caught instead of leaving the reader at a dead end.
 *
 * What counts as a citation: every `§N`, `§N.M`, `§N.M.K` in src/, test/, scripts/, bench/ and the README,
 * with both ends of a range (`§3-4`, `§6.1–6.2`), whether or not `CALM.md` is written next to it; the only
 * exceptions are sections of other documents named right before the sign (see OTHER_DOCUMENTS).
 * What counts as a heading: a Markdown heading whose text starts with the number (`## 3. …`, `### 3.4 …`,
 * `#### 10.4.2 …`).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './support/repo.js';

const root = repoRoot(import.meta.url);
const GUIDE = 'docs/CALM.md';
const SCANNED_DIRS = ['src', 'test', 'scripts', 'bench'];
const SCANNED_FILES = ['README.md'];
const EXTENSIONS = new Set(['.ts', '.js', '.mjs', '.md', '.sh']);
/** Sections of other documents, e.g. "WebAssembly core spec §5"; these are not citations of the guide. */
const OTHER_DOCUMENTS = /(?:WebAssembly core spec|RFC \d+|ECMA-\d+)\s*§\s*\d+(?:\.\d+)*/g;
const SECTION = String.raw`\d+(?:\.\d+)*`;
const CITATION = new RegExp(String.raw`§\s*(${SECTION})(?:\s*[-–]\s*(${SECTION}))?`, 'g');
const HEADING = new RegExp(String.raw`^#{1,6}\s+(${SECTION})\.?\s`);

/** A section cited at file:line. */
export interface Citation {
  readonly file: string;
  readonly line: number;
  readonly section: string;
}

/** Every guide citation in `text` (from `file`), ranges contributing both ends. */
export function findCitations(text: string, file: string): Citation[] {
  const out: Citation[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(OTHER_DOCUMENTS, '');
    for (const m of line.matchAll(CITATION)) {
      out.push({ file, line: i + 1, section: m[1] });
      if (m[2] !== undefined) out.push({ file, line: i + 1, section: m[2] });
    }
  });
  return out;
}

/** Section numbers of the numbered headings of a Markdown text, in order. */
export function headingNumbers(markdown: string): string[] {
  const out: string[] = [];
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    if (inFence) continue;
    const m = HEADING.exec(line);
    if (m) out.push(m[1]);
  }
  return out;
}

/** The citations whose section has no heading. */
export function unresolved(citations: readonly Citation[], headings: readonly string[]): Citation[] {
  const known = new Set(headings);
  return citations.filter((c) => !known.has(c.section));
}

function walk(dir: string, files: string[]): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') walk(full, files);
    } else if (entry.isFile() && EXTENSIONS.has(path.extname(entry.name))) {
      files.push(full);
    }
  }
}

/** This file: its examples cite a missing section on purpose, so it is not scanned. */
const SELF = path.join('test', 'docs.test.ts');

function scannedFiles(): string[] {
  const files: string[] = [];
  for (const d of SCANNED_DIRS) if (fs.existsSync(path.join(root, d))) walk(path.join(root, d), files);
  for (const f of SCANNED_FILES) if (fs.existsSync(path.join(root, f))) files.push(path.join(root, f));
  return files.filter((f) => path.relative(root, f) !== SELF);
}

function allCitations(): Citation[] {
  return scannedFiles().flatMap((f) => findCitations(fs.readFileSync(f, 'utf8'), path.relative(root, f)));
}

const guide = (): string => fs.readFileSync(path.join(root, GUIDE), 'utf8');

describe('the reader\'s guide docs/CALM.md', () => {
  test('the checker sees citations, ranges and headings, and flags a missing section', () => {
    const text = [
      '// CALM.md §2.6 step 1, §11.4.',
      '/** (CALM.md §3-4) and §6.1–6.2 */',
      '/** WebAssembly core spec §5 */',
      '// CALM.md §99.9',
    ].join('\n');
    const found = findCitations(text, 'x.ts').map((c) => `${c.line}:${c.section}`);
    assert.deepEqual(found, ['1:2.6', '1:11.4', '2:3', '2:4', '2:6.1', '2:6.2', '4:99.9']);
    const headings = headingNumbers('# Title\n## 2. A\n### 2.6 B\n```\n### 99.9 inside a code fence\n```\n#### 10.4.2 C\n## 3. D');
    assert.deepEqual(headings, ['2', '2.6', '10.4.2', '3']);
    const missing = unresolved(findCitations(text, 'x.ts'), ['2.6', '11.4', '3', '4', '6.1', '6.2']);
    assert.deepEqual(missing, [{ file: 'x.ts', line: 4, section: '99.9' }]);
  });

  test('every § citation in src/, test/, scripts/, bench/ and the README has a heading', () => {
    const citations = allCitations();
    assert.ok(citations.length > 100, `expected the code to cite the guide often, found ${citations.length} citations`);
    const missing = unresolved(citations, headingNumbers(guide()));
    assert.deepEqual(
      missing.map((c) => `${c.file}:${c.line} cites §${c.section}`),
      [],
      `${GUIDE} has no heading for these citations; add a heading "### N.M ..." or fix the citation`,
    );
  });

  test('headings are unique and each subsection sits under its parent section', () => {
    const numbers = headingNumbers(guide());
    const seen = new Set<string>();
    for (const n of numbers) {
      assert.ok(!seen.has(n), `${GUIDE}: heading ${n} appears twice`);
      const parent = n.includes('.') ? n.slice(0, n.lastIndexOf('.')) : null;
      if (parent !== null) assert.ok(seen.has(parent), `${GUIDE}: heading ${n} comes before (or without) its parent ${parent}`);
      seen.add(n);
    }
  });

  test('nothing points at the team\'s working copy outside the repository', () => {
    const offenders = scannedFiles()
      .filter((f) => fs.readFileSync(f, 'utf8').includes('shared/CALM.md'))
      .map((f) => path.relative(root, f));
    assert.deepEqual(offenders, [], `these files still refer to shared/CALM.md instead of ${GUIDE}`);
    assert.match(fs.readFileSync(path.join(root, 'README.md'), 'utf8'), /\]\(docs\/CALM\.md\)/, 'the README links the guide');
  });
});
