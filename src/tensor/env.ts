/** An environment variable, or undefined where there is no `process` (in a browser). */
export function envSetting(name: string): string | undefined {
  return typeof process === 'undefined' ? undefined : process.env[name];
}
