/**
 * The backends a parameterised test file runs on: `cpu` always, and `gpujs-webgpu`,
 * `gpujs-webasm`, `gpujs-cpu` when they can be created here. Each gpu.js backend is created once
 * per test file (a worker thread each) and closed when the file's tests end.
 *
 * A backend that cannot be created is returned with its reason; the suite registers a skipped test
 * that prints it, so an unavailable backend never passes silently. CI can go further: with
 * `CALM_REQUIRE_BACKENDS=gpujs-webgpu` (comma-separated) an unavailable listed backend fails the
 * file instead of skipping. `CALM_TEST_BACKENDS=cpu,gpujs-webgpu` restricts the list (the others are
 * skipped, with that reason).
 */
import { after } from 'node:test';
import type { Backend } from '../../src/tensor/backend.js';
import { cpuBackend } from '../../src/tensor/device.js';
import type { GpujsBackend } from '../../src/tensor/gpujs/backend.js';
import { createGpujsBackend, GPUJS_MODES } from '../../src/tensor/gpujs/setup.js';

/** One backend of the list: usable (`backend`) or skipped (`skip` says why). */
export type TestBackend =
  | { readonly name: string; readonly backend: Backend; readonly skip: null }
  | { readonly name: string; readonly backend: null; readonly skip: string };

function listEnv(name: string): string[] | null {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return null;
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * Creates the backends for this test file and registers an `after` hook that closes the gpu.js
 * ones. Call once, at the top level of the file (top-level await).
 */
export async function openTestBackends(): Promise<TestBackend[]> {
  const only = listEnv('CALM_TEST_BACKENDS');
  const required = listEnv('CALM_REQUIRE_BACKENDS') ?? [];
  const list: TestBackend[] = [];
  const opened: GpujsBackend[] = [];
  after(async () => {
    for (const b of opened) await b.close();
  });
  const excluded = (name: string): string | null =>
    only !== null && !only.includes(name) ? `${name} not selected (CALM_TEST_BACKENDS=${only.join(',')})` : null;

  const cpuSkip = excluded('cpu');
  list.push(cpuSkip === null ? { name: 'cpu', backend: cpuBackend(), skip: null } : { name: 'cpu', backend: null, skip: cpuSkip });
  for (const mode of GPUJS_MODES) {
    const name = `gpujs-${mode}`;
    const skip = excluded(name);
    if (skip !== null) {
      list.push({ name, backend: null, skip });
      continue;
    }
    try {
      const b = await createGpujsBackend(mode);
      opened.push(b);
      list.push({ name, backend: b, skip: null });
    } catch (err) {
      const reason = `${name} unavailable: ${(err as Error).message}`;
      if (required.includes(name)) throw new Error(`${reason} (required by CALM_REQUIRE_BACKENDS)`);
      list.push({ name, backend: null, skip: reason });
    }
  }
  for (const b of list) if (b.skip !== null) console.log(`SKIP ${b.skip}`);
  return list;
}
