/** The `--help` text of a command, from its option specs (args.ts). */
import { kebab, type OptionSpecs } from './args.js';

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
