/**
 * Environment setup for the gpu.js backends: WebGPU globals from the `webgpu` package (Dawn for
 * Node), the `navigator.gpu` gpu.js expects, and the adapter choice.
 *
 * Without a GPU, Dawn's OpenGL ES backend runs on Mesa llvmpipe (Debian packages libegl1
 * libegl-mesa0 libgles2 libgl1-mesa-dri, see `.ci/gpu-deps.sh`) with EGL_PLATFORM=surfaceless and the
 * 'compatibility' feature level; with a GPU, Dawn's default backend (Vulkan on Linux) at 'core'.
 * This module runs inside the backend's worker thread (see `worker.ts`), never on the main thread.
 */
import { createRequire } from 'node:module';

import type { GpujsMode } from './protocol.js';

export type { GpujsMode } from './protocol.js';

export const GPUJS_MODES: readonly GpujsMode[] = ['webgpu', 'webasm', 'cpu'];

/** What `calm info` prints about the WebGPU adapter. */
export interface AdapterDescription {
  readonly dawnBackend: string;
  readonly featureLevel: string;
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly maxStorageBufferBindingSize: number;
}

interface AdapterLike {
  readonly info?: { vendor?: string; architecture?: string; device?: string; description?: string };
  readonly limits: { maxStorageBufferBindingSize: number };
}

interface GpuLike {
  requestAdapter(options?: Record<string, unknown>): Promise<AdapterLike | null>;
}

interface WebgpuModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

let installed: Promise<AdapterDescription> | null = null;

async function tryAdapter(
  webgpu: WebgpuModule,
  dawnBackend: string,
  featureLevel: string,
): Promise<{ gpu: GpuLike; adapter: AdapterLike } | null> {
  const flags = dawnBackend === 'default' ? [] : [`backend=${dawnBackend}`];
  const gpu = webgpu.create(flags);
  const adapter = await gpu.requestAdapter({ featureLevel });
  return adapter ? { gpu, adapter } : null;
}

/**
 * Installs WebGPU globals and a `navigator.gpu` whose requestAdapter passes the feature level
 * (gpu.js calls it without options). Tries Dawn's default backend at 'core' (a real GPU), then
 * OpenGL ES at 'compatibility' (llvmpipe). CALM_DAWN_BACKEND=opengles|vulkan|default forces one.
 * Throws an Error naming what was tried when no adapter answers.
 */
export function installWebGpu(): Promise<AdapterDescription> {
  if (installed === null) {
    installed = (async () => {
      // EGL_PLATFORM=surfaceless is set by GpujsBackend.start on the main thread (see there).
      let webgpu: WebgpuModule;
      try {
        // `webgpu` is a dependency of gpu.js (overridden to 0.6.2 in package.json).
        const require = createRequire(createRequire(import.meta.url).resolve('gpu.js'));
        const path = require.resolve('webgpu');
        webgpu = (await import(new URL(`file://${path}`).href)) as WebgpuModule;
      } catch (err) {
        throw new Error(`gpujs-webgpu: cannot load the 'webgpu' package: ${(err as Error).message}`);
      }
      Object.assign(globalThis, webgpu.globals);
      const forced = process.env.CALM_DAWN_BACKEND;
      const attempts: [string, string][] = forced
        ? [[forced, forced === 'opengles' ? 'compatibility' : 'core']]
        : [
            ['default', 'core'],
            ['opengles', 'compatibility'],
          ];
      const tried: string[] = [];
      for (const [dawnBackend, featureLevel] of attempts) {
        let found: { gpu: GpuLike; adapter: AdapterLike } | null = null;
        try {
          found = await tryAdapter(webgpu, dawnBackend, featureLevel);
        } catch (err) {
          tried.push(`${dawnBackend}/${featureLevel}: ${(err as Error).message}`);
          continue;
        }
        if (found === null) {
          tried.push(`${dawnBackend}/${featureLevel}: no adapter`);
          continue;
        }
        const { gpu, adapter } = found;
        const nav = {
          gpu: {
            requestAdapter: (options?: Record<string, unknown>) => gpu.requestAdapter({ featureLevel, ...options }),
            getPreferredCanvasFormat: () => 'rgba8unorm',
          },
        };
        Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
        const info = adapter.info ?? {};
        return {
          dawnBackend,
          featureLevel,
          vendor: info.vendor ?? '',
          architecture: info.architecture ?? '',
          device: info.device ?? '',
          description: info.description ?? '',
          maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        };
      }
      throw new Error(
        `gpujs-webgpu: no WebGPU adapter (tried ${tried.join('; ')}). Without a GPU install the Mesa ` +
          `packages in .ci/gpu-deps.sh (llvmpipe through Dawn's OpenGL ES backend).`,
      );
    })();
    installed.catch(() => {
      installed = null;
    });
  }
  return installed;
}

/** One line describing an adapter, for `calm info`. */
export function formatAdapter(a: AdapterDescription): string {
  const name = [a.vendor, a.architecture, a.device, a.description].filter((s) => s !== '').join(' ');
  return `${name || 'unknown adapter'} (Dawn ${a.dawnBackend}, ${a.featureLevel}, max storage buffer ${a.maxStorageBufferBindingSize} bytes)`;
}

/** The values CALM_BACKEND accepts. */
export type BackendChoice = 'cpu' | 'gpujs-webgpu' | 'gpujs-webasm' | 'gpujs-cpu' | 'auto';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['cpu', 'gpujs-webgpu', 'gpujs-webasm', 'gpujs-cpu', 'auto'];

/** Parses a CALM_BACKEND value (undefined or empty means 'cpu'); throws naming the bad value. */
export function parseBackendChoice(value: string | undefined): BackendChoice {
  if (value === undefined || value === '') return 'cpu';
  const found = BACKEND_CHOICES.find((c) => c === value);
  if (found === undefined) {
    throw new RangeError(`CALM_BACKEND: unknown backend '${value}' (expected one of ${BACKEND_CHOICES.join(', ')})`);
  }
  return found;
}

/**
 * Starts a gpu.js backend in `mode` (worker thread, gpu.js instance, one probe kernel). Throws an
 * Error naming the mode and the reason when it is unavailable.
 */
export async function createGpujsBackend(mode: GpujsMode): Promise<import('./backend.js').GpujsBackend> {
  const { GpujsBackend } = await import('./backend.js');
  return GpujsBackend.start(mode);
}

/**
 * `auto`: gpujs-webgpu when a WebGPU adapter answers, otherwise null (the caller keeps the cpu
 * backend). The reason WebGPU was not taken is passed to `onSkip`.
 */
export async function createAutoBackend(
  onSkip: (reason: string) => void,
): Promise<import('./backend.js').GpujsBackend | null> {
  try {
    return await createGpujsBackend('webgpu');
  } catch (err) {
    onSkip((err as Error).message);
    return null;
  }
}
