/** `calm info`: version, Node.js, and the compute backend (with its adapter for gpu.js backends). */
import * as v from 'valibot';
import { readJsonFile } from '../../nn/io/json-file.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeBackend } from '../../tensor/select.js';
import { defineCommand } from '../command.js';
import { backendOption, selectBackend } from '../options.js';

/** The version in the nearest package.json above this module. */
export function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = readJsonFile(v.looseObject({ name: v.unknown(), version: v.unknown() }), file);
      if (pkg.name === 'calm-ts' && typeof pkg.version === 'string') return pkg.version;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

export const { specs, help, run } = defineCommand({
  name: 'calm info',
  summary: 'Print the calm-ts version, the Node.js version and the compute backend.',
  options: { backend: backendOption('backend to describe') },
  async run(o) {
    const backend = await selectBackend(o.backend);
    const adapter = (backend as { adapter?: unknown }).adapter;
    const lines = [
      `calm-ts ${packageVersion()}`,
      `Node.js ${process.version} (${process.platform} ${process.arch})`,
      `backend: ${describeBackend(backend)}`,
      `adapter: ${typeof adapter === 'string' ? adapter : 'none (host CPU)'}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  },
});
