#!/usr/bin/env node
/**
 * The `calm` command-line tool: a table of subcommands, each loaded lazily (so `calm info` does not pay for
 * loading training code), each a module built by `defineCommand` (command.ts). Commands never import
 * each other: where one command hands some invocations to another module (`calm train --model calm`,
 * `calm generate` of a CALM run), its table entry routes them here.
 */
import { existsSync, realpathSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from './args.js';
import type { CommandModule } from './command.js';

export type { CommandModule };

interface CommandEntry {
  /** Module path relative to this file. */
  readonly module: string;
  readonly summary: string;
  /** Picks another module for some arguments (with the arguments it gets), or returns null. */
  readonly route?: (argv: readonly string[]) => Promise<{ module: string; argv: string[] } | null>;
}

/** `--model calm` (or `--model=calm`) goes to the CALM trainer, without that option. */
async function routeTrain(argv: readonly string[]): Promise<{ module: string; argv: string[] } | null> {
  const at = argv.findIndex((a, i) => a === '--model=calm' || (a === '--model' && argv[i + 1] === 'calm'));
  if (at < 0) return null;
  const width = argv[at] === '--model' ? 2 : 1;
  return { module: './commands/train-calm.js', argv: [...argv.slice(0, at), ...argv.slice(at + width)] };
}

/**
 * A CALM run has its own generation options (--method, --pool): route it before the Transformer's options
 * are checked. `--checkpoint` is read before parsing, since the options depend on the run's kind.
 */
async function routeGenerate(argv: readonly string[]): Promise<{ module: string; argv: string[] } | null> {
  let dir: string | undefined;
  for (let i = 0; i < argv.length && dir === undefined; i++) {
    if (argv[i] === '--checkpoint') dir = argv[i + 1];
    else if (argv[i].startsWith('--checkpoint=')) dir = argv[i].slice('--checkpoint='.length);
  }
  if (dir === undefined || !existsSync(path.join(dir, 'config.json'))) return null;
  const { readRunKind } = await import('../calm/runs/run-config.js');
  return readRunKind(dir) === 'calm' ? { module: './commands/generate-calm.js', argv: [...argv] } : null;
}

/** The subcommands; some are provided by the CALM modules and may be missing in a partial build. */
export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  train: { module: './commands/train.js', summary: 'train a model (--model transformer | calm)', route: routeTrain },
  generate: { module: './commands/generate.js', summary: 'sample text from a trained checkpoint', route: routeGenerate },
  info: { module: './commands/info.js', summary: 'version, Node.js and compute backend' },
  'train-ae': { module: './commands/train-ae.js', summary: 'train the CALM autoencoder' },
  eval: { module: './commands/eval.js', summary: 'evaluate a checkpoint (BrierLM, loss)' },
  demo: { module: './commands/demo.js', summary: 'a short end-to-end demonstration' },
  experiment: { module: './commands/experiment.js', summary: 'run a scripted experiment' },
  export: { module: './commands/export.js', summary: 'write a CALM run in the PyTorch reference layout' },
  import: { module: './commands/import.js', summary: 'read a reference-layout folder into a CALM run' },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  const lines = ['Usage: calm <command> [options]', '', 'Commands:'];
  for (const [name, entry] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(width)}${entry.summary}`);
  lines.push('', 'Run `calm <command> --help` for the options of a command; add --profile to any command for a table of its ops.');
  return `${lines.join('\n')}\n`;
}

/**
 * Imports a command module relative to this file. Returns null when the module itself does not exist
 * (a command not written yet); any other failure, including a missing dependency of the module, is rethrown.
 */
export async function loadCommand(modulePath: string): Promise<CommandModule | null> {
  const url = new URL(modulePath, import.meta.url);
  try {
    return (await import(url.href)) as CommandModule;
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown; url?: unknown };
    const missingSelf = e.code === 'ERR_MODULE_NOT_FOUND' && typeof e.message === 'string' && (e.url === url.href || e.message.includes(decodeURIComponent(url.pathname)));
    if (missingSelf) return null;
    throw err;
  }
}

/** Runs `calm` with `argv` (the arguments after the program name). */
export async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(usage());
    return;
  }
  const name = first === '--version' ? 'info' : first;
  const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (entry === undefined) throw new UsageError(`calm: unknown command '${name}' (commands: ${Object.keys(COMMANDS).join(', ')})`);
  const target = (await entry.route?.(rest)) ?? { module: entry.module, argv: rest };
  const mod = await loadCommand(target.module);
  if (mod === null) throw new UsageError(`calm ${name}: not available yet (module ${target.module} is not built)`);
  // --profile, accepted by every command: the op profiler's table (src/tensor/profile.ts) on stderr at the end.
  const profileAt = target.argv.indexOf('--profile');
  if (profileAt < 0) {
    await mod.run(target.argv);
    return;
  }
  const { profile } = await import('../tensor/profile.js');
  const { report } = await profile(() => mod.run(target.argv.filter((_, i) => i !== profileAt)));
  process.stderr.write(`\nop profile of calm ${name} (top ops by total time):\n${report.table(30)}\n`);
}

/** Prints an error the way the CLI does and returns the exit status (2 for usage errors, 1 otherwise). */
export function reportError(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`${err.message}\n`);
    return 2;
  }
  const message = err instanceof Error ? (process.env.CALM_DEBUG ? (err.stack ?? err.message) : err.message) : String(err);
  process.stderr.write(`calm: ${message}\n`);
  return 1;
}

// Run only when executed as the program (not when imported by tests).
const invokedAs = process.argv[1];
if (invokedAs !== undefined && import.meta.url === pathToFileURL(realpathSync(invokedAs)).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.exitCode = reportError(err);
  });
}
