/**
 * The worker-side half of the gpu.js backend: owns the gpu.js instance, the device buffers (one
 * immutable pipeline result per buffer id) and the compiled kernels, and runs each request. A `run`
 * request is generic: the engine looks the op up in the op table (`src/tensor/ops`) and calls the
 * entry's `gpujs` side, giving it this engine as its {@link GpuRunner} (copy, launch, fill, release).
 *
 * Every buffer is float32 on the device; int32 and float64 buffers are stored as float32 and
 * converted on upload/read by `backend.ts` (int32 values are exact below 2^24; float64 values are
 * rounded to float32). Ops are written async because gpu.js's webgpu kernels return Promises; the
 * webasm and cpu kernels return their results directly and `await` passes them through.
 */
import { createRequire } from 'node:module';
import { fmtShape, isContiguous, sizeOf } from '../shape.js';
import { KERNEL_HELPERS, MAX_EXACT_ELEMENTS } from '../ops/kernel-rules.js';
import { contiguousLayout, copyKernel, copyToContiguous, fillKernel, truncKernel } from '../ops/layout.js';
import { opEntry, type GpuRunner, type Handle, type KernelFn, type LaunchOptions, type WireView } from '../ops/index.js';
import type { EngineStats, Request } from './protocol.js';
import { formatAdapter, installWebGpu, type GpujsMode } from './setup.js';

interface KernelSettings {
  output: number[];
  pipeline: boolean;
  immutable: boolean;
  constants: Record<string, number>;
  loopMaxIterations: number;
  tactic: string;
  functions: readonly unknown[];
}
/** A compiled gpu.js kernel as this engine calls it. */
type CompiledKernel = (...args: unknown[]) => unknown;
interface GpuInstance {
  createKernel(fn: unknown, settings: KernelSettings): CompiledKernel;
}
export type GpuConstructor = new (settings: { mode: string }) => GpuInstance;

/** The kernel helpers that `source` calls, directly or through another helper. */
function helpersCalledBy(source: string): ((...args: never[]) => number)[] {
  const used = new Set<(...args: never[]) => number>();
  let text = source;
  for (let grew = true; grew; ) {
    grew = false;
    for (const f of KERNEL_HELPERS) {
      if (!used.has(f) && text.includes(`${f.name}(`)) {
        used.add(f);
        text += f.toString();
        grew = true;
      }
    }
  }
  return [...used];
}

export class Engine implements GpuRunner {
  private readonly buffers = new Map<number, Handle>();
  /**
   * Compiled kernels by source function, then by output size, constants and key. Compiles cost
   * 18-125 ms on software WebGPU, so each is built once and reused.
   */
  private readonly kernels = new Map<KernelFn, Map<string, CompiledKernel>>();
  private compiled = 0;
  /** The op of the request being run, for error messages. */
  private op = 'init';

  private constructor(
    private readonly gpu: GpuInstance,
    private readonly name: string,
    readonly adapter: string,
  ) {}

  /**
   * Creates the gpu.js instance for `mode`; webgpu first installs Dawn and finds an adapter. In a browser
   * (`src/tensor/gpujs/browser-worker.ts`) the caller passes the `GPU` class of gpu.js's browser build and
   * the browser's own WebGPU or WebGL2 is used, with nothing installed.
   */
  static async create(mode: GpujsMode | 'webgl2', browser?: { GPU: GpuConstructor; adapter: string }): Promise<Engine> {
    let adapter: string = browser?.adapter ?? mode;
    if (mode === 'webgpu' && browser === undefined) adapter = formatAdapter(await installWebGpu());
    const GPU = browser?.GPU ?? (createRequire(import.meta.url)('gpu.js') as { GPU: GpuConstructor }).GPU;
    const engine = new Engine(new GPU({ mode }), `gpujs-${mode}`, adapter);
    // Build and run one kernel now, so an unusable mode fails at creation, not at the first op.
    const probe = await engine.launch(fillKernel, 4, [3]);
    const values = await engine.readBack(probe);
    engine.release(probe);
    if (values[0] !== 3) throw new Error(`gpujs-${mode}: probe kernel returned ${values[0]} instead of 3`);
    return engine;
  }

  stats(): EngineStats {
    return { deviceBuffers: this.buffers.size, kernels: this.compiled, adapter: this.adapter };
  }

  /** Runs one request; returns read-back data for `read`. */
  async handle(req: Request): Promise<Float32Array | undefined> {
    this.op = req.kind === 'run' ? req.op : req.kind;
    switch (req.kind) {
      case 'init':
      case 'stats':
        return undefined;
      case 'upload':
        this.buffers.set(req.out, await this.upload(req.data));
        return undefined;
      case 'read':
        return this.read(req.x);
      case 'dispose': {
        const h = this.buffers.get(req.id);
        if (h !== undefined) this.release(h);
        this.buffers.delete(req.id);
        return undefined;
      }
      case 'run': {
        const entry = opEntry(req.op);
        let h = await entry.gpujs(this, req.inputs, req.attrs);
        // The dtype rule of float32 storage: an int32 result is what an Int32Array would store.
        if (entry.truncatesInt === true && req.dtype === 'int32' && !(h instanceof Float32Array && h.length === 0)) {
          const t = await this.launch(truncKernel, sizeOf(entry.outShape(req.inputs.map((v) => v.shape), req.attrs)), [h]);
          this.release(h);
          h = t;
        }
        this.buffers.set(req.out, h);
        return undefined;
      }
    }
  }

  // ---- the GpuRunner that table entries use ----

  where(op: string): string {
    return `${this.name} ${op}`;
  }

  /** Refuses sizes whose float32 index arithmetic would not be exact. */
  checkExact(op: string, shape: readonly number[]): void {
    if (sizeOf(shape) > MAX_EXACT_ELEMENTS) {
      throw new RangeError(
        `${this.where(op)}: shape ${fmtShape(shape)} has ${sizeOf(shape)} elements, more than 2^24 = ` +
          `${MAX_EXACT_ELEMENTS}; the gpu.js kernels index in float32 and would not be exact (use the cpu backend)`,
      );
    }
  }

  /** A fresh (or shared, when the view already is the whole buffer) contiguous buffer. */
  async contiguous(op: string, v: WireView): Promise<Handle> {
    this.checkExact(op, v.shape);
    const n = sizeOf(v.shape);
    if (n === 0) return new Float32Array(0);
    const h = this.buffers.get(v.id);
    if (h === undefined) throw new Error(`${this.where(op)}: buffer ${v.id} is not on the device (disposed?)`);
    if (v.offset === 0 && n === v.size && isContiguous(v.shape, v.strides)) return Engine.share(h);
    return copyToContiguous(this, op, v, h);
  }

  async launch(kernel: KernelFn, n: number, args: readonly unknown[], options: LaunchOptions = {}): Promise<Handle> {
    const constants = { one: 1, ...options.constants };
    let bySource = this.kernels.get(kernel);
    if (bySource === undefined) {
      bySource = new Map();
      this.kernels.set(kernel, bySource);
    }
    const key = `${n}|${JSON.stringify(constants)}|${options.key ?? ''}`;
    let compiled = bySource.get(key);
    if (compiled === undefined) {
      const source = kernel.toString();
      compiled = this.gpu.createKernel(kernel, {
        output: [n],
        pipeline: true,
        immutable: true,
        constants,
        // gpu.js stops loops at loopMaxIterations (default 1000) without a word.
        loopMaxIterations: Math.max(1000, (options.longestLoop ?? 0) + 1),
        tactic: 'precision',
        // The shared helpers this kernel calls (kernel-rules.ts).
        functions: helpersCalledBy(source),
      });
      bySource.set(key, compiled);
      this.compiled++;
    }
    return (await compiled(...args)) as Handle;
  }

  async map(kernel: KernelFn, inputs: readonly WireView[]): Promise<Handle> {
    const op = this.op;
    const n = sizeOf(inputs[0].shape);
    this.checkExact(op, inputs[0].shape);
    if (n === 0) return new Float32Array(0);
    const args: Handle[] = [];
    try {
      for (const v of inputs) args.push(await this.contiguous(op, v));
      return await this.launch(kernel, n, args, { key: `${inputs.length}` });
    } finally {
      for (const a of args) this.release(a);
    }
  }

  async fill(n: number, value: number): Promise<Handle> {
    this.checkExact('fill', [n]);
    if (n === 0) return new Float32Array(0);
    return this.launch(fillKernel, n, [value]);
  }

  async readBack(h: Handle): Promise<Float32Array> {
    return h instanceof Float32Array ? h : await h.toArray();
  }

  release(h: Handle): void {
    if (!(h instanceof Float32Array)) h.delete();
  }

  // ---- memory ----

  /** A second reference to an immutable buffer (a GPU refcount, or the same typed array). */
  private static share(h: Handle): Handle {
    return h instanceof Float32Array ? h : h.clone();
  }

  private async upload(data: Float32Array): Promise<Handle> {
    this.checkExact('upload', [data.length]);
    const fresh = Float32Array.from(data);
    if (data.length === 0) return fresh;
    return this.launch(copyKernel, data.length, [fresh, contiguousLayout(data.length)], { key: 'upload' });
  }

  private async read(v: WireView): Promise<Float32Array> {
    const h = await this.contiguous('read', v);
    const data = await this.readBack(h);
    this.release(h);
    return data.length === sizeOf(v.shape) ? data : data.slice(0, sizeOf(v.shape));
  }
}
