/**
 * A subcommand declared as data: its name, summary and option table, and what it does with the parsed
 * options. The opening every command shares (parse, print `--help` and stop, refuse bad options) lives here
 * once; a command module is `export const { specs, help, run } = defineCommand({ ... })`.
 */
import { parseArgs, type OptionSpecs, type ParsedOptions } from './args.js';
import { formatHelp } from './help.js';

/** What a subcommand module provides (calm.ts loads it lazily). */
export interface CommandModule {
  /** One-paragraph description and option list (printed for `calm <command> --help`). */
  readonly help: string;
  run(argv: string[]): Promise<void>;
}

/** What a command's body gets besides its options. */
export interface CommandContext<S extends OptionSpecs> {
  /** Keys given explicitly on the command line (not from defaults or the environment). */
  readonly explicit: ReadonlySet<keyof S & string>;
  /** The arguments as given, after the command name. */
  readonly argv: readonly string[];
}

export interface CommandDefinition<S extends OptionSpecs> {
  /** The name errors start with, e.g. `calm train --model calm`. */
  readonly name: string;
  /** The name on the `--help` usage line when it differs from {@link name}. */
  readonly usageName?: string;
  readonly summary: string;
  readonly options: S;
  /** The command's work, called with the parsed options unless `--help` was given. */
  run(options: ParsedOptions<S>, context: CommandContext<S>): Promise<void>;
}

/** A command module's exports: its option table, its `--help` text and `run(argv)`. */
export interface DefinedCommand<S extends OptionSpecs> extends CommandModule {
  readonly specs: S;
}

/** Builds a command module from its definition: `run(argv)` parses, prints the help for `--help`, or runs. */
export function defineCommand<const S extends OptionSpecs>(definition: CommandDefinition<S>): DefinedCommand<S> {
  const help = formatHelp(definition.usageName ?? definition.name, definition.summary, definition.options);
  return {
    specs: definition.options,
    help,
    async run(argv: string[]): Promise<void> {
      const parsed = parseArgs(definition.name, definition.options, argv);
      if (parsed.help) {
        process.stdout.write(help);
        return;
      }
      await definition.run(parsed.options, { explicit: parsed.explicit, argv });
    },
  };
}
