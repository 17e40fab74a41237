/**
 * A small typed command-line parser: option specs with defaults, `--help` text listing them, and clear
 * refusals of unknown options and bad values before any work starts.
 *
 * Accepted forms: `--name value`, `--name=value`, `--flag`, `--no-flag`, `-h` / `--help`. Spec keys are
 * camelCase; on the command line they are written in kebab-case (`maxTokens` is `--max-tokens`).
 */

/** A string option, optionally restricted to `choices`. */
export interface StringSpec {
  readonly type: 'string';
  readonly description: string;
  readonly default?: string;
  readonly choices?: readonly string[];
}

/** A number option, optionally integer and bounded (inclusive). */
export interface NumberSpec {
  readonly type: 'number';
  readonly description: string;
  readonly default?: number;
  readonly integer?: boolean;
  readonly min?: number;
  readonly max?: number;
  /** Exclusive lower bound (e.g. 0 for a learning rate: `--lr 0` would train nothing). */
  readonly above?: number;
}

/** An on/off flag (default false unless given). */
export interface BooleanSpec {
  readonly type: 'boolean';
  readonly description: string;
  readonly default?: boolean;
}

export type OptionSpec = StringSpec | NumberSpec | BooleanSpec;
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

type ValueOf<S> = S extends { type: 'number' } ? number : S extends { type: 'boolean' } ? boolean : string;

/** Parsed values: options with a default (and flags) are always set, the others may be undefined. */
export type ParsedOptions<S extends OptionSpecs> = {
  -readonly [K in keyof S]: S[K] extends { type: 'boolean' } ? boolean : S[K] extends { default: unknown } ? ValueOf<S[K]> : ValueOf<S[K]> | undefined;
};

/** The result of {@link parseArgs}. */
export interface ParseResult<S extends OptionSpecs> {
  options: ParsedOptions<S>;
  /** `--help` or `-h` was given (options then hold defaults for whatever was not parsed). */
  help: boolean;
  /** Keys given explicitly on the command line. */
  explicit: Set<keyof S & string>;
}

/** A command-line mistake: the CLI prints the message and exits with status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `maxTokens` -> `max-tokens`. */
export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function convert(command: string, flag: string, spec: OptionSpec, raw: string): string | number | boolean {
  const bad = (why: string): never => {
    throw new UsageError(`${command}: invalid value ${JSON.stringify(raw)} for --${flag}: ${why} (see ${command} --help)`);
  };
  switch (spec.type) {
    case 'string':
      if (spec.choices !== undefined && !spec.choices.includes(raw)) bad(`expected one of ${spec.choices.join(', ')}`);
      return raw;
    case 'number': {
      const v = raw.trim() === '' ? NaN : Number(raw);
      if (!Number.isFinite(v)) bad('expected a number');
      if (spec.integer === true && !Number.isInteger(v)) bad('expected an integer');
      if (spec.min !== undefined && v < spec.min) bad(`must be >= ${spec.min}`);
      if (spec.above !== undefined && !(v > spec.above)) bad(`must be > ${spec.above}`);
      if (spec.max !== undefined && v > spec.max) bad(`must be <= ${spec.max}`);
      return v;
    }
    case 'boolean':
      if (raw === 'true') return true;
      if (raw === 'false') return false;
      return bad('expected true or false');
  }
}

/**
 * Options that take their default from an environment variable when not given on the command line (the
 * README documents `CALM_BACKEND` for every command). The value is checked like a command-line value.
 */
export const ENVIRONMENT_DEFAULTS: Readonly<Record<string, string>> = { backend: 'CALM_BACKEND' };

/** Parses `argv` (the arguments after the command name) against `specs`; throws {@link UsageError}. */
export function parseArgs<S extends OptionSpecs>(command: string, specs: S, argv: readonly string[]): ParseResult<S> {
  const byFlag = new Map<string, string>();
  for (const key of Object.keys(specs)) byFlag.set(kebab(key), key);
  const values: Record<string, string | number | boolean | undefined> = {};
  for (const [key, spec] of Object.entries(specs)) values[key] = spec.default ?? (spec.type === 'boolean' ? false : undefined);
  const explicit = new Set<keyof S & string>();
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      throw new UsageError(`${command}: unexpected argument ${JSON.stringify(arg)}; options are written --name value (see ${command} --help)`);
    }
    const eq = arg.indexOf('=');
    let flag = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let inline: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    let key = byFlag.get(flag);
    if (key === undefined && flag.startsWith('no-') && inline === undefined) {
      const positive = byFlag.get(flag.slice(3));
      if (positive !== undefined && specs[positive].type === 'boolean') {
        key = positive;
        flag = flag.slice(3);
        inline = 'false';
      }
    }
    if (key === undefined) {
      const known = [...byFlag.keys()].map((f) => `--${f}`).join(', ');
      throw new UsageError(`${command}: unknown option --${flag} (known options: ${known}; see ${command} --help)`);
    }
    const spec = specs[key];
    let raw = inline;
    if (raw === undefined) {
      if (spec.type === 'boolean') raw = 'true';
      else {
        const next = argv[i + 1];
        if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`${command}: option --${flag} needs a value (see ${command} --help)`);
        raw = next;
        i++;
      }
    }
    values[key] = convert(command, flag, spec, raw);
    explicit.add(key as keyof S & string);
  }
  for (const [key, variable] of Object.entries(ENVIRONMENT_DEFAULTS)) {
    const fromEnv = process.env[variable];
    if (!Object.hasOwn(specs, key) || explicit.has(key as keyof S & string) || fromEnv === undefined || fromEnv === '') continue;
    try {
      values[key] = convert(command, kebab(key), specs[key], fromEnv);
    } catch (err) {
      throw new UsageError(`${command}: environment variable ${variable}: ${(err as Error).message}`);
    }
  }
  return { options: values as ParsedOptions<S>, help, explicit };
}

/** Help text: usage line, summary, then each option with its type, default and choices. */
export function formatHelp(command: string, summary: string, specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([key, spec]) => {
    const value = spec.type === 'boolean' ? '' : spec.type === 'string' && spec.choices !== undefined ? ` <${spec.choices.join('|')}>` : ` <${spec.type}>`;
    const left = `  --${kebab(key)}${value}`;
    const def = spec.default === undefined ? '' : ` (default: ${String(spec.default)})`;
    return [left, `${spec.description}${def}`] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length), 10) + 2;
  const lines = [`Usage: ${command} [options]`, '', summary, '', 'Options:'];
  for (const [left, right] of rows) lines.push(`${left.padEnd(width)}${right}`);
  lines.push(`${'  --help'.padEnd(width)}Show this help`);
  return `${lines.join('\n')}\n`;
}

/** Options every training command shares with the same defaults (AdamW and the schedule's shape). */
export const optimiserSpecs = {
  schedule: { type: 'string', choices: ['cosine', 'constant'], default: 'cosine', description: 'learning-rate schedule after warmup' },
  weightDecay: { type: 'number', min: 0, default: 0.1, description: 'AdamW decoupled weight decay' },
  clip: { type: 'number', above: 0, max: 1e6, default: 1, description: 'global gradient-norm clip' },
  onNonfinite: { type: 'string', choices: ['stop', 'skip'], default: 'stop', description: 'on a NaN or infinite loss or gradient norm: stop the run, or skip that update (stopping after 10 in a row)' },
} as const;
