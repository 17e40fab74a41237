/**
 * The layering of src/ (README "Layers"): tensor < autograd < nn < calm < cli, each folder importing only
 * from itself and the folders below it, and the modules importing each other without cycles. Static,
 * type-only, re-exported, side-effect and dynamic imports all count. Commands never import each other
 * (calm.ts routes between them).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { filesUnder, repoRoot } from './support/repo.js';

const root = repoRoot(import.meta.url);
const src = path.join(root, 'src');

/** The layers from the bottom; src/index.ts sits above them all. */
const LAYERS = ['tensor', 'autograd', 'nn', 'calm', 'cli'] as const;

/** The module specifiers a TypeScript source imports or re-exports (comments are skipped). */
export function importSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g, // import x from, import type { x } from, export * from
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, // import('...')
    /(?:^|;)\s*import\s*['"]([^'"]+)['"]/gm, // import '...'
  ];
  return patterns.flatMap((p) => [...code.matchAll(p)].map((m) => m[1]));
}

/** The layer index of a file under src/ (LAYERS.length for src/index.ts and other top-level files). */
function layerOf(file: string): number {
  const top = path.relative(src, file).split(path.sep)[0];
  const i = LAYERS.indexOf(top as (typeof LAYERS)[number]);
  return i >= 0 ? i : LAYERS.length;
}

/** src/ files and, for each, the src/ files it imports (relative specifiers, `.js` mapped to `.ts`). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of filesUnder(src, '.ts')) {
    const targets = importSpecifiers(fs.readFileSync(file, 'utf8'))
      .filter((s) => s.startsWith('.'))
      .map((s) => path.resolve(path.dirname(file), s).replace(/\.js$/, '.ts'));
    graph.set(file, targets);
  }
  return graph;
}

/** The groups of files that import each other in a cycle (strongly connected components of two or more). */
function importCycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (f: string): void => {
    index.set(f, index.size);
    low.set(f, index.get(f)!);
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      if (!graph.has(t)) continue;
      if (!index.has(t)) {
        visit(t);
        low.set(f, Math.min(low.get(f)!, low.get(t)!));
      } else if (stack.includes(t)) low.set(f, Math.min(low.get(f)!, index.get(t)!));
    }
    if (low.get(f) !== index.get(f)) return;
    const group = stack.splice(stack.indexOf(f));
    if (group.length > 1) cycles.push(group.map(rel).sort());
  };
  for (const f of graph.keys()) if (!index.has(f)) visit(f);
  return cycles;
}

function rel(f: string): string {
  return path.relative(root, f).split(path.sep).join('/');
}

describe('layering of src/', () => {
  test('the import parser sees every form of import', () => {
    const source = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      'import {\n  c,\n  type D,\n} from "./c.js";',
      "export { e } from './e.js';",
      "export type { F } from './f.js';",
      "export * as g from './g.js';",
      "import './side-effect.js';",
      "const h = await import('./h.js');",
      "// import { no } from './comment.js';",
      "/* import { no } from './block-comment.js'; */",
    ].join('\n');
    assert.deepEqual(importSpecifiers(source).sort(), ['../b.js', './a.js', './c.js', './e.js', './f.js', './g.js', './h.js', './side-effect.js']);
  });

  test('every import stays in its layer or goes to a layer below', () => {
    const upward: string[] = [];
    for (const [file, targets] of importGraph()) {
      for (const t of targets) {
        if (!t.startsWith(src + path.sep)) upward.push(`${rel(file)} imports ${rel(t)}, outside src/`);
        else if (layerOf(t) > layerOf(file)) upward.push(`${rel(file)} (${LAYERS[layerOf(file)] ?? 'top'}) imports ${rel(t)} (${LAYERS[layerOf(t)] ?? 'top'})`);
      }
    }
    assert.deepEqual(upward, []);
  });

  test('every imported module exists, and no layer imports itself through others', () => {
    const graph = importGraph();
    const missing = [...graph].flatMap(([file, targets]) => targets.filter((t) => !graph.has(t)).map((t) => `${rel(file)} imports missing ${rel(t)}`));
    assert.deepEqual(missing, []);
    const crossing = importCycles(graph).filter((c) => new Set(c.map((f) => f.split('/')[1])).size > 1);
    assert.deepEqual(crossing, [], 'a cycle through two layers');
    const fresh = importCycles(graph).map((c) => c.join(' <-> '));
    assert.deepEqual(fresh, [], 'an import cycle between files');
  });

  test('no command imports another command', () => {
    const commands = path.join(src, 'cli', 'commands');
    const offending = [...importGraph()]
      .filter(([file]) => path.dirname(file) === commands)
      .flatMap(([file, targets]) => targets.filter((t) => path.dirname(t) === commands).map((t) => `${rel(file)} imports ${rel(t)}`));
    assert.deepEqual(offending, []);
    for (const file of filesUnder(commands, '.ts')) {
      assert.doesNotMatch(fs.readFileSync(file, 'utf8'), /commands\/[\w-]+\.js/, `${rel(file)} names another command module`);
    }
  });
});
