/**
 * The embedded corpus: six public-domain Jane Austen novels shipped gzip-compressed in `data/austen/`
 * (provenance in `data/README.md`), split into chapters, and a held-out split by whole trailing chapters.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

/** One document section: a chapter of a novel. */
export interface Doc {
  /** File stem of the novel, e.g. `'emma'`. */
  readonly novel: string;
  /** The chapter heading, with its volume where chapter numbers restart per volume (e.g. `'VOLUME II, CHAPTER I'`). */
  readonly title: string;
  /** The chapter text, starting at its heading line, without trailing blank lines or end marks. */
  readonly text: string;
}

/** The novels in a fixed order (file stems in `data/austen/<stem>.txt.gz`). */
export const AUSTEN_NOVELS: readonly string[] = [
  'sensesensibility',
  'prideprejudice',
  'mansfieldpark',
  'emma',
  'northangerabbey',
  'persuasion',
];

/**
 * Finds the shipped `data/austen` folder by walking up from this module's folder
 * (`dist/src/nn/data/` when compiled, `src/nn/data/` in the sources), so it works from either.
 */
export function defaultCorpusDir(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  let dir = start;
  for (;;) {
    const candidate = join(dir, 'data', 'austen');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`defaultCorpusDir: no data/austen folder found in ${start} or any folder above it`);
    dir = parent;
  }
}

// A heading line is the whole line "CHAPTER XII" / "Chapter 12" (upper case in most novels, title case in two).
const CHAPTER_HEADING = /^(?:CHAPTER|Chapter) (?:[0-9]+|[IVXLC]+)$/gm;
// Emma restarts chapter numbers per volume; the volume line sits just before the chapter heading.
const VOLUME_HEADING = /^VOLUME [IVX]+$/m;
// End marks after the last chapter ("THE END", "FINIS", "Finis") and Northanger Abbey's modern editorial note.
const END_MARKS = /\n\s*(?:THE END|FINIS|Finis)\s*$|\n\s*A NOTE ON THE TEXT\n[\s\S]*$/;

/**
 * Splits one novel's text into chapters. The title page (and Northanger Abbey's advertisement) before the
 * first heading is dropped; volume headings are moved from the end of the previous chapter into the title.
 */
export function splitChapters(novel: string, text: string): Doc[] {
  const normalized = text.replace(/\r\n?/g, '\n');
  const starts: number[] = [];
  const headings: string[] = [];
  for (const m of normalized.matchAll(CHAPTER_HEADING)) {
    starts.push(m.index);
    headings.push(m[0]);
  }
  if (starts.length === 0) throw new Error(`splitChapters: no chapter headings ("CHAPTER 1" / "Chapter I") found in ${novel}`);
  const docs: Doc[] = [];
  let volume: string | null = null;
  // The volume line above the first chapter lies in the title page.
  const firstVolume = VOLUME_HEADING.exec(normalized.slice(0, starts[0]));
  if (firstVolume) volume = firstVolume[0];
  for (let i = 0; i < starts.length; i++) {
    const end = i + 1 < starts.length ? starts[i + 1] : normalized.length;
    let body = normalized.slice(starts[i], end);
    let nextVolume: string | null = null;
    const volumeMatch = /\n\s*(VOLUME [IVX]+)\s*$/.exec(body);
    if (volumeMatch) {
      nextVolume = volumeMatch[1];
      body = body.slice(0, volumeMatch.index);
    }
    if (i === starts.length - 1) body = body.replace(END_MARKS, '');
    body = body.replace(/\s+$/, '');
    const title = volume === null ? headings[i] : `${volume}, ${headings[i]}`;
    docs.push({ novel, title, text: body });
    if (nextVolume !== null) volume = nextVolume;
  }
  return docs;
}

/**
 * Loads the six novels as chapter documents, in the order of {@link AUSTEN_NOVELS}.
 * `dir` overrides the folder holding `<novel>.txt.gz`; by default the shipped `data/austen` is found
 * by walking up from this module. Throws naming the path when a file is missing or unreadable.
 */
export function loadCorpus(dir?: string): Doc[] {
  const folder = resolve(dir ?? defaultCorpusDir());
  const docs: Doc[] = [];
  for (const novel of AUSTEN_NOVELS) {
    const path = join(folder, `${novel}.txt.gz`);
    if (!existsSync(path)) throw new Error(`loadCorpus: corpus file ${path} is missing (expected the six gzip-compressed novels in ${folder})`);
    let text: string;
    try {
      text = gunzipSync(readFileSync(path)).toString('utf8');
    } catch (err) {
      throw new Error(`loadCorpus: cannot read ${path} as gzip-compressed text: ${(err as Error).message}`);
    }
    docs.push(...splitChapters(novel, text));
  }
  return docs;
}

/** Train and validation documents. */
export interface CorpusSplit {
  readonly train: Doc[];
  readonly valid: Doc[];
}

/** The held-out share of each novel every run uses unless told otherwise (`--valid-fraction`). */
export const VALID_FRACTION = 0.05;

/**
 * Holds out whole trailing chapters of every novel (never random lines, so no chapter is in both sets).
 * Per novel, the number k of trailing chapters (1 <= k < chapters) is the one whose character count is
 * closest to `validFraction` of the novel's characters (ties: fewer chapters). Document order is kept.
 */
export function splitCorpus(docs: readonly Doc[], validFraction = VALID_FRACTION): CorpusSplit {
  if (!(validFraction > 0 && validFraction < 1)) throw new RangeError(`splitCorpus: validFraction must be in (0, 1), got ${validFraction}`);
  const byNovel = new Map<string, Doc[]>();
  for (const doc of docs) {
    let list = byNovel.get(doc.novel);
    if (list === undefined) byNovel.set(doc.novel, (list = []));
    list.push(doc);
  }
  const train: Doc[] = [];
  const valid: Doc[] = [];
  for (const [novel, chapters] of byNovel) {
    if (chapters.length < 2) throw new Error(`splitCorpus: novel ${novel} has ${chapters.length} chapter(s); need at least 2 to hold one out`);
    let total = 0;
    for (const c of chapters) total += c.text.length;
    const target = validFraction * total;
    let best = 1;
    let bestErr = Infinity;
    let tail = 0;
    for (let k = 1; k < chapters.length; k++) {
      tail += chapters[chapters.length - k].text.length;
      const err = Math.abs(tail - target);
      if (err < bestErr) {
        bestErr = err;
        best = k;
      }
    }
    train.push(...chapters.slice(0, chapters.length - best));
    valid.push(...chapters.slice(chapters.length - best));
  }
  return { train, valid };
}
