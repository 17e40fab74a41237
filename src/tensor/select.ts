/**
 * Choosing a backend by name or from the `CALM_BACKEND` environment variable:
 * `cpu` (default), `gpujs-webgpu`, `gpujs-webasm`, `gpujs-cpu`, or `auto` (WebGPU when an adapter
 * answers, otherwise the CPU reference backend).
 */
import type { Backend } from './backend.js';
import { cpuBackend, setBackend } from './device.js';
import { createAutoBackend, createGpujsBackend, parseBackendChoice, type BackendChoice } from './gpujs/setup.js';

export { BACKEND_CHOICES, parseBackendChoice, type BackendChoice } from './gpujs/setup.js';

/** Creates the backend named by `choice` (default: `CALM_BACKEND`, else `cpu`). */
export async function createBackend(
  choice: BackendChoice | string | undefined = process.env.CALM_BACKEND,
  onNote: (note: string) => void = () => {},
): Promise<Backend> {
  const parsed = parseBackendChoice(choice);
  switch (parsed) {
    case 'cpu':
      return cpuBackend();
    case 'gpujs-webgpu':
      return createGpujsBackend('webgpu');
    case 'gpujs-webasm':
      return createGpujsBackend('webasm');
    case 'gpujs-cpu':
      return createGpujsBackend('cpu');
    case 'auto': {
      const gpu = await createAutoBackend((reason) => onNote(`auto: WebGPU unavailable (${reason}); using cpu`));
      return gpu ?? cpuBackend();
    }
  }
}

/** Creates the backend named by `choice` and makes it the default for new arrays. */
export async function useBackend(choice?: BackendChoice | string, onNote?: (note: string) => void): Promise<Backend> {
  const backend = await createBackend(choice, onNote);
  setBackend(backend);
  return backend;
}

/** One line saying which backend is in use, and its adapter for gpu.js backends. */
export function describeBackend(backend: Backend): string {
  const adapter = (backend as { adapter?: unknown }).adapter;
  return typeof adapter === 'string' ? `${backend.name} on ${adapter}` : `${backend.name} (TypeScript loops on the host CPU)`;
}
