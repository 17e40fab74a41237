/**
 * A small typed layer over Node's `util.parseArgs`: option specs with defaults, `--help` text listing them,
 * and clear refusals of unknown options and bad values before any work starts.
 *
 * `util.parseArgs` splits the command line into tokens; this layer gives them types and checks (integer,
 * min/max/above bounds, choices), each error naming the flag. It runs parseArgs in its non-strict mode and
 * refuses what strict mode would, with messages that name the command and point to its `--help`.
 *
 * Accepted forms: `--name value`, `--name=value`, `--flag`, `--no-flag`, `-h` / `--help`. Spec keys are
 * camelCase; on the command line they are written in kebab-case (`maxTokens` is `--max-tokens`).
 */
import { parseArgs as tokenize } from 'node:util';
import { UsageError } from '../nn/usage-error.js';

export { UsageError };

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
  const nodeOptions: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [key, spec] of Object.entries(specs)) {
    byFlag.set(kebab(key), key);
    nodeOptions[kebab(key)] = { type: spec.type === 'boolean' ? 'boolean' : 'string' };
  }
  const values: Record<string, string | number | boolean | undefined> = {};
  for (const [key, spec] of Object.entries(specs)) values[key] = spec.default ?? (spec.type === 'boolean' ? false : undefined);
  const explicit = new Set<keyof S & string>();
  let help = false;
  const { tokens } = tokenize({ args: [...argv], options: nodeOptions, strict: false, allowPositionals: true, tokens: true });
  for (const token of tokens) {
    const arg = argv[token.index];
    if (token.kind === 'option' && (arg === '--help' || token.rawName === '-h')) {
      help = true;
      continue;
    }
    if (token.kind !== 'option' || !token.rawName.startsWith('--')) {
      throw new UsageError(`${command}: unexpected argument ${JSON.stringify(arg)}; options are written --name value (see ${command} --help)`);
    }
    let flag = token.name;
    let raw = token.inlineValue === true ? token.value : undefined;
    let key = byFlag.get(flag);
    if (key === undefined && flag.startsWith('no-') && raw === undefined) {
      const positive = byFlag.get(flag.slice(3));
      if (positive !== undefined && specs[positive].type === 'boolean') {
        key = positive;
        flag = flag.slice(3);
        raw = 'false';
      }
    }
    if (key === undefined) {
      const known = [...byFlag.keys()].map((f) => `--${f}`).join(', ');
      throw new UsageError(`${command}: unknown option --${flag} (known options: ${known}; see ${command} --help)`);
    }
    const spec = specs[key];
    if (raw === undefined) {
      if (spec.type === 'boolean') raw = 'true';
      else {
        // parseArgs takes the next argument as the value even when it looks like an option.
        const next = token.value;
        if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`${command}: option --${flag} needs a value (see ${command} --help)`);
        raw = next;
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
