/** `calm info`: version, Node.js, and the compute backend (with its adapter for gpu.js backends). */
import * as v from 'valibot';
import { readJsonFile } from '../../nn/io/json-file.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeBackend, useBackend } from '../../tensor/select.js';
import { formatHelp, parseArgs } from '../args.js';

export const specs = {
  backend: { type: 'string', default: 'cpu', choices: ['cpu', 'auto', 'gpujs-webgpu', 'gpujs-webasm', 'gpujs-cpu'], description: 'backend to describe' },
} as const;

export const help = formatHelp('calm info', 'Print the calm-ts version, the Node.js version and the compute backend.', specs);

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

export async function run(argv: string[]): Promise<void> {
  const { options: o, help: wantHelp } = parseArgs('calm info', specs, argv);
  if (wantHelp) {
    process.stdout.write(help);
    return;
  }
  const backend = await useBackend(o.backend, (note) => process.stderr.write(`${note}\n`));
  const adapter = (backend as { adapter?: unknown }).adapter;
  const lines = [
    `calm-ts ${packageVersion()}`,
    `Node.js ${process.version} (${process.platform} ${process.arch})`,
    `backend: ${describeBackend(backend)}`,
    `adapter: ${typeof adapter === 'string' ? adapter : 'none (host CPU)'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
