/**
 * Reading JSON the project wrote earlier (run configs, checkpoint state, tokenizers) without trusting it:
 * every file is parsed against a valibot schema, and an error names the file, the field and the rule it
 * broke ("config.json: lm.nLayers: Invalid value: Expected <=64 but received 1000000000"). Only regular
 * files of bounded size are read (see {@link readTextFile}).
 *
 * valibot was chosen over zod and TypeBox because it is small, tree-shakable and has no dependencies,
 * which suits a library that also runs in the browser.
 */
import * as v from 'valibot';
import { readTextFile } from './atomic.js';

/** Formats valibot issues as `field: message` lines (at most `limit`), the root written `(root)`. */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[], limit = 4): string {
  const parts = issues.slice(0, limit).map((issue) => `${v.getDotPath(issue) ?? '(root)'}: ${issue.message}`);
  if (issues.length > limit) parts.push(`and ${issues.length - limit} more`);
  return parts.join('; ');
}

/** Checks `value` against `schema`; throws an Error naming `source` and the offending fields. */
export function checkJson<S extends v.GenericSchema>(schema: S, value: unknown, source: string): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (!result.success) throw new Error(`${source}: ${describeIssues(result.issues)}`);
  return result.output;
}

/** Parses JSON text and checks it against `schema`; `source` (a file path) is named in every error. */
export function parseJson<S extends v.GenericSchema>(schema: S, text: string, source: string): v.InferOutput<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  return checkJson(schema, value, source);
}

/** Reads a JSON file (a regular file of at most `maxBytes`) and checks it against `schema`. */
export function readJsonFile<S extends v.GenericSchema>(schema: S, file: string, maxBytes = 64 * 2 ** 20): v.InferOutput<S> {
  return parseJson(schema, readTextFile(file, 'readJsonFile', maxBytes), file);
}

/** An integer in [min, max]. */
export function intIn(min: number, max: number) {
  return v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
}

/** A finite number in [min, max]. */
export function numberIn(min: number, max: number) {
  return v.pipe(v.number(), v.finite(), v.minValue(min), v.maxValue(max));
}
