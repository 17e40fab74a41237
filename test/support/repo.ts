/** Locating the repository from a compiled test, for tests that read its source files. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above `fromUrl` (a module's import.meta.url) holding calm-ts's package.json. */
export function repoRoot(fromUrl: string): string {
  let dir = path.dirname(fileURLToPath(fromUrl));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'calm-ts') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`repoRoot: no calm-ts package.json above ${fromUrl}`);
    dir = up;
  }
}

/** Every file under `dir` (recursively) whose name ends with `suffix`. */
export function filesUnder(dir: string, suffix: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(full, suffix));
    else if (entry.name.endsWith(suffix)) out.push(full);
  }
  return out.sort();
}
