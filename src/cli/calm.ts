#!/usr/bin/env node
/**
 * The `calm` command-line tool: a table of subcommands, each loaded lazily (so `calm info` does not pay for
 * loading training code), each a module exporting `run(argv)` and a `help` string.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { UsageError } from './args.js';

/** What a subcommand module provides. */
export interface CommandModule {
  /** One-paragraph description and option list (printed for `calm <command> --help`). */
  readonly help: string;
  run(argv: string[]): Promise<void>;
}

interface CommandEntry {
  /** Module path relative to this file. */
  readonly module: string;
  readonly summary: string;
}

/** The subcommands; some are provided by the CALM modules and may be missing in a partial build. */
export const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  train: { module: './commands/train.js', summary: 'train a model (--model transformer | calm)' },
  generate: { module: './commands/generate.js', summary: 'sample text from a trained checkpoint' },
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
  lines.push('', 'Run `calm <command> --help` for the options of a command.');
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
  const mod = await loadCommand(entry.module);
  if (mod === null) throw new UsageError(`calm ${name}: not available yet (module ${entry.module} is not built)`);
  await mod.run(rest);
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
