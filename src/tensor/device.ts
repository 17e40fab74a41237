/**
 * Which backend new arrays are created on. The CPU reference backend is the default; the gpu.js
 * backends are installed with {@link setBackend} (see `src/tensor/select.ts`, which reads
 * `CALM_BACKEND`).
 */
import type { Backend } from './backend.js';
import { CpuBackend } from './cpu/backend.js';

let cpu: CpuBackend | null = null;
let current: Backend | null = null;

/** The shared CPU reference backend. */
export function cpuBackend(): CpuBackend {
  if (cpu === null) cpu = new CpuBackend();
  return cpu;
}

/** The backend that new arrays are created on. */
export function getBackend(): Backend {
  if (current === null) current = cpuBackend();
  return current;
}

/** Makes `backend` the default for new arrays; returns the previous one. */
export function setBackend(backend: Backend): Backend {
  const previous = getBackend();
  current = backend;
  return previous;
}

/** Runs `fn` with `backend` as the default, restoring the previous default afterwards. */
export function withBackend<T>(backend: Backend, fn: () => T): T {
  const previous = setBackend(backend);
  try {
    return fn();
  } finally {
    setBackend(previous);
  }
}
