/**
 * The worker-side half of the gpu.js backend: owns the gpu.js instance, the device buffers (one
 * immutable pipeline result per buffer id) and the kernel cache, and runs each op request.
 *
 * Every buffer is float32 on the device; int32 and float64 buffers are stored as float32 and
 * converted on upload/read by `backend.ts` (int32 values are exact below 2^24; float64 values are
 * rounded to float32). Ops are written async because gpu.js's webgpu kernels return Promises; the
 * webasm and cpu kernels return their results directly and `await` passes them through.
 */
import { createRequire } from 'node:module';
import type { BinaryOp, ReduceOp, UnaryOp } from '../backend.js';
import { fmtShape, isContiguous, sizeOf } from '../shape.js';
import * as K from './kernels.js';
import type { CompiledKernel } from './kernels.js';
import type { EngineStats, Request, WireView } from './protocol.js';
import { formatAdapter, installWebGpu, type GpujsMode } from './setup.js';

/** A pipeline result: a GPU-resident handle (webgpu) or a typed array (webasm, cpu). */
interface GpuHandle {
  toArray(): Promise<Float32Array> | Float32Array;
  delete(): void;
  clone(): GpuHandle;
}
type Handle = GpuHandle | Float32Array;

interface KernelSettings {
  output: number[];
  pipeline: boolean;
  immutable: boolean;
  constants: Record<string, number>;
  loopMaxIterations: number;
  tactic: string;
}
interface GpuInstance {
  createKernel(fn: unknown, settings: KernelSettings): CompiledKernel;
}
type GpuConstructor = new (settings: { mode: string }) => GpuInstance;

type KernelFn = (this: K.KernelThis, ...args: never[]) => number;

const UNARY_KERNELS: Record<UnaryOp, KernelFn> = {
  neg: K.negKernel,
  exp: K.expKernel,
  log: K.logKernel,
  sqrt: K.sqrtKernel,
  reciprocal: K.reciprocalKernel,
  sin: K.sinKernel,
  cos: K.cosKernel,
  tanh: K.tanhKernel,
  sigmoid: K.sigmoidKernel,
  abs: K.absKernel,
  sign: K.signKernel,
};

const BINARY_KERNELS: Record<BinaryOp, KernelFn> = {
  add: K.addKernel,
  sub: K.subKernel,
  mul: K.mulKernel,
  div: K.divKernel,
  pow: K.powKernel,
  maximum: K.maximumKernel,
  minimum: K.minimumKernel,
  eq: K.eqKernel,
  ne: K.neKernel,
  lt: K.ltKernel,
  le: K.leKernel,
  gt: K.gtKernel,
  ge: K.geKernel,
};

const REDUCE_KERNELS: Record<ReduceOp, KernelFn> = {
  sum: K.sumKernel,
  max: K.maxKernel,
  min: K.minKernel,
  argmax: K.argmaxKernel,
  argmin: K.argminKernel,
};

function product(xs: readonly number[]): number {
  let p = 1;
  for (const x of xs) p *= x;
  return p;
}

/** Refuses sizes whose f32 index arithmetic would not be exact. */
function checkExact(op: string, shape: readonly number[]): void {
  if (sizeOf(shape) > K.MAX_EXACT_ELEMENTS) {
    throw new RangeError(
      `gpujs ${op}: shape ${fmtShape(shape)} has ${sizeOf(shape)} elements, more than 2^24 = ` +
        `${K.MAX_EXACT_ELEMENTS}; the gpu.js kernels index in float32 and would not be exact (use the cpu backend)`,
    );
  }
}

/** Merges axes that are adjacent in memory and drops unit axes, so more views fit MAX_RANK. */
function collapse(shape: readonly number[], strides: readonly number[]): { shape: number[]; strides: number[] } {
  const outShape: number[] = [];
  const outStrides: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && outStrides[last] === strides[i] * shape[i]) {
      outShape[last] *= shape[i];
      outStrides[last] = strides[i];
    } else {
      outShape.push(shape[i]);
      outStrides.push(strides[i]);
    }
  }
  return { shape: outShape, strides: outStrides };
}

export class Engine {
  private readonly buffers = new Map<number, Handle>();
  private readonly cache = new K.KernelCache();

  private constructor(
    private readonly gpu: GpuInstance,
    readonly adapter: string,
  ) {}

  /** Creates the gpu.js instance for `mode`; webgpu first installs Dawn and finds an adapter. */
  static async create(mode: GpujsMode): Promise<Engine> {
    let adapter: string = mode;
    if (mode === 'webgpu') adapter = formatAdapter(await installWebGpu());
    const require = createRequire(import.meta.url);
    const { GPU } = require('gpu.js') as { GPU: GpuConstructor };
    const engine = new Engine(new GPU({ mode }), adapter);
    // Build and run one kernel now, so an unusable mode fails at creation, not at the first op.
    const probe = await engine.run('probe', K.fillKernel, 4, {}, 0, [3]);
    const values = await engine.toArray(probe);
    Engine.release(probe);
    if (values[0] !== 3) throw new Error(`gpujs-${mode}: probe kernel returned ${values[0]} instead of 3`);
    return engine;
  }

  stats(): EngineStats {
    return { deviceBuffers: this.buffers.size, kernels: this.cache.size, adapter: this.adapter };
  }

  /** Runs one request; returns read-back data for `read`. */
  async handle(req: Request): Promise<Float32Array | undefined> {
    switch (req.kind) {
      case 'init':
      case 'stats':
        return undefined;
      case 'upload':
        this.store(req.out, await this.upload(req.data));
        return undefined;
      case 'read':
        return this.read(req.x);
      case 'dispose': {
        const h = this.buffers.get(req.id);
        if (h !== undefined) Engine.release(h);
        this.buffers.delete(req.id);
        return undefined;
      }
      case 'copy':
        this.store(req.out, await this.copy(req.x));
        return undefined;
      case 'fill':
        this.store(req.out, await this.fill(req.size, req.value));
        return undefined;
      case 'cast': {
        const toInt = req.to === 'int32' && req.from !== 'int32';
        this.store(req.out, toInt ? await this.map('cast', K.truncKernel, [req.x]) : await this.copy(req.x));
        return undefined;
      }
      case 'unary':
        this.store(req.out, await this.map(req.op, UNARY_KERNELS[req.op], [req.x]));
        return undefined;
      case 'binary': {
        const r = await this.map(req.op, BINARY_KERNELS[req.op], [req.a, req.b]);
        if (!req.truncate) {
          this.store(req.out, r);
          return undefined;
        }
        const t = await this.run(`trunc|${req.a.shape}`, K.truncKernel, sizeOf(req.a.shape), {}, 0, [r]);
        Engine.release(r);
        this.store(req.out, t);
        return undefined;
      }
      case 'where':
        this.store(req.out, await this.map('where', K.whereKernel, [req.c, req.a, req.b]));
        return undefined;
      case 'reduce':
        this.store(req.out, await this.reduce(req.op, req.x, req.axes));
        return undefined;
      case 'matmul':
        this.store(req.out, await this.matmul(req.a, req.b));
        return undefined;
      case 'gather':
        this.store(req.out, await this.gather(req.x, req.indices, req.axis));
        return undefined;
      case 'scatterAdd':
        this.store(req.out, await this.scatterAdd(req.src, req.indices, req.axis, req.axisSize));
        return undefined;
      case 'concat':
        this.store(req.out, await this.concat(req.xs, req.axis));
        return undefined;
      case 'unslice':
        this.store(req.out, await this.unslice(req.x, req.outShape, req.starts, req.steps));
        return undefined;
      case 'softmaxRows':
        this.store(req.out, await this.softmaxRows(req.x));
        return undefined;
      case 'siluMul':
        this.store(req.out, await this.map('siluMul', K.siluMulKernel, [req.a, req.b]));
        return undefined;
    }
  }

  // ---- buffers ----

  private store(id: number, h: Handle): void {
    this.buffers.set(id, h);
  }

  private get(v: WireView): Handle {
    const h = this.buffers.get(v.id);
    if (h === undefined) throw new Error(`gpujs: buffer ${v.id} is not on the device (disposed?)`);
    return h;
  }

  private static release(h: Handle): void {
    if (!(h instanceof Float32Array)) h.delete();
  }

  /** A second reference to an immutable buffer (a GPU refcount, or the same typed array). */
  private static share(h: Handle): Handle {
    return h instanceof Float32Array ? h : h.clone();
  }

  private async toArray(h: Handle): Promise<Float32Array> {
    return h instanceof Float32Array ? h : await h.toArray();
  }

  /** Compiles (once per key) and runs a kernel with a 1-D output of n cells. */
  private async run(
    key: string,
    fn: KernelFn,
    n: number,
    constants: Record<string, number>,
    longestLoop: number,
    args: unknown[],
  ): Promise<Handle> {
    const kernel = this.cache.get(`${key}|${n}`, () =>
      this.gpu.createKernel(fn, {
        output: [n],
        pipeline: true,
        immutable: true,
        constants: { one: 1, ...constants },
        // gpu.js stops loops at loopMaxIterations (default 1000) without a word.
        loopMaxIterations: Math.max(1000, longestLoop + 1),
        tactic: 'precision',
      }),
    );
    return (await kernel(...args)) as Handle;
  }

  private async upload(data: Float32Array): Promise<Handle> {
    checkExact('upload', [data.length]);
    const fresh = Float32Array.from(data);
    if (data.length === 0) return fresh;
    return this.run(`upload|${data.length}`, K.copyKernel, data.length, {}, 0, [fresh, this.identityMeta(data.length)]);
  }

  private identityMeta(n: number): Float32Array {
    const m = new Float32Array(14);
    m.fill(1, 0, 6);
    m[5] = n;
    m[11] = 1;
    m[13] = 1;
    return m;
  }

  private async fill(size: number, value: number): Promise<Handle> {
    checkExact('fill', [size]);
    if (size === 0) return new Float32Array(0);
    return this.run('fill', K.fillKernel, size, {}, 0, [value]);
  }

  private async read(v: WireView): Promise<Float32Array> {
    const h = await this.copy(v);
    const data = await this.toArray(h);
    Engine.release(h);
    return data.length === sizeOf(v.shape) ? data : data.slice(0, sizeOf(v.shape));
  }

  // ---- layout ops ----

  /** A fresh (or shared, when the view already is the whole buffer) contiguous buffer. */
  private async copy(v: WireView): Promise<Handle> {
    checkExact('copy', v.shape);
    const n = sizeOf(v.shape);
    if (n === 0) return new Float32Array(0);
    const h = this.get(v);
    if (v.offset === 0 && n === v.size && isContiguous(v.shape, v.strides)) return Engine.share(h);
    const c = collapse(v.shape, v.strides);
    if (c.shape.length > K.MAX_RANK) {
      throw new RangeError(
        `gpujs copy: view of shape ${fmtShape(v.shape)} with strides [${v.strides.join(', ')}] needs ` +
          `${c.shape.length} strided axes; at most ${K.MAX_RANK} are supported`,
      );
    }
    const m = new Float32Array(14);
    const pad = K.MAX_RANK - c.shape.length;
    m.fill(1, 0, 6);
    for (let i = 0; i < c.shape.length; i++) {
      m[pad + i] = c.shape[i];
      m[6 + pad + i] = c.strides[i];
    }
    m[12] = v.offset;
    m[13] = 1;
    return this.run(`copy|${v.size}`, K.copyKernel, n, {}, 0, [h, m]);
  }

  /** Runs `fn` on contiguous copies of equally shaped inputs; temporaries are released. */
  private async map(op: string, fn: KernelFn, inputs: readonly WireView[]): Promise<Handle> {
    const shape = inputs[0].shape;
    checkExact(op, shape);
    const n = sizeOf(shape);
    if (n === 0) return new Float32Array(0);
    const args: Handle[] = [];
    try {
      for (const v of inputs) args.push(await this.copy(v));
      return await this.run(`${op}|${inputs.length}`, fn, n, {}, 0, args);
    } finally {
      for (const a of args) Engine.release(a);
    }
  }

  private async reduce(op: ReduceOp, v: WireView, axes: readonly number[]): Promise<Handle> {
    checkExact(op, v.shape);
    const kept: number[] = [];
    for (let i = 0; i < v.shape.length; i++) if (!axes.includes(i)) kept.push(i);
    const order = [...kept, ...axes];
    const outer = product(kept.map((i) => v.shape[i]));
    const len = product(axes.map((i) => v.shape[i]));
    if (outer === 0) return new Float32Array(0);
    if (len === 0) return this.fill(outer, 0);
    // Reduced axes last: the permuted view copied contiguous is [outer, len].
    const permuted: WireView = {
      ...v,
      shape: order.map((i) => v.shape[i]),
      strides: order.map((i) => v.strides[i]),
    };
    const x = await this.copy(permuted);
    try {
      return await this.run(`reduce-${op}|${len}`, REDUCE_KERNELS[op], outer, { len }, len, [x]);
    } finally {
      Engine.release(x);
    }
  }

  /** Softmax over the last axis: row max, row sum of exp, then one normalising pass (3 launches). */
  private async softmaxRows(v: WireView): Promise<Handle> {
    checkExact('softmaxRows', v.shape);
    const n = sizeOf(v.shape);
    if (n === 0) return new Float32Array(0);
    const len = v.shape[v.shape.length - 1];
    const outer = n / len;
    const x = await this.copy(v);
    const temps: Handle[] = [x];
    try {
      const mx = await this.run(`reduce-max|${len}`, K.maxKernel, outer, { len }, len, [x]);
      temps.push(mx);
      const sum = await this.run(`sumExp|${len}`, K.sumExpKernel, outer, { len }, len, [x, mx]);
      temps.push(sum);
      return await this.run(`softmaxNorm|${len}`, K.softmaxNormKernel, n, { len }, 0, [x, mx, sum]);
    } finally {
      for (const t of temps) Engine.release(t);
    }
  }

  private async matmul(a: WireView, b: WireView): Promise<Handle> {
    const r = a.shape.length;
    const m = a.shape[r - 2];
    const k = a.shape[r - 1];
    const n = b.shape[r - 1];
    const batch = product(a.shape.slice(0, r - 2));
    const outShape = [...a.shape.slice(0, r - 2), m, n];
    checkExact('matmul', a.shape);
    checkExact('matmul', b.shape);
    checkExact('matmul', outShape);
    if (batch * m * n === 0) return new Float32Array(0);
    if (k === 0) return this.fill(batch * m * n, 0);
    const ca = await this.copy(a);
    try {
      const cb = await this.copy(b);
      try {
        return await this.run(`matmul|${batch}x${m}x${k}x${n}`, K.matmulKernel, batch * m * n, { m, n, k }, k, [ca, cb]);
      } finally {
        Engine.release(cb);
      }
    } finally {
      Engine.release(ca);
    }
  }

  /** Reads indices and checks them against the axis size (RangeError naming op, index, size). */
  private async checkedIndices(op: string, indices: WireView, axisSize: number): Promise<Handle> {
    const h = await this.copy(indices);
    const data = await this.toArray(h);
    for (let i = 0; i < data.length; i++) {
      const ix = data[i];
      if (!(ix >= 0 && ix < axisSize)) {
        Engine.release(h);
        throw new RangeError(`${op}: index ${ix} is out of range for an axis of size ${axisSize}`);
      }
    }
    return h;
  }

  private async gather(x: WireView, indices: WireView, axis: number): Promise<Handle> {
    const outShape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
    checkExact('gather', x.shape);
    checkExact('gather', outShape);
    const outer = product(x.shape.slice(0, axis));
    const axisSize = x.shape[axis];
    const inner = product(x.shape.slice(axis + 1));
    const count = sizeOf(indices.shape);
    const n = sizeOf(outShape);
    const idx = await this.checkedIndices('gather', indices, axisSize);
    try {
      if (n === 0) return new Float32Array(0);
      const cx = await this.copy(x);
      try {
        return await this.run(`gather|${outer}x${axisSize}x${inner}x${count}`, K.gatherKernel, n, { inner, count, axisSize }, 0, [cx, idx]);
      } finally {
        Engine.release(cx);
      }
    } finally {
      Engine.release(idx);
    }
  }

  private async scatterAdd(src: WireView, indices: WireView, axis: number, axisSize: number): Promise<Handle> {
    const ir = indices.shape.length;
    const outShape = [...src.shape.slice(0, axis), axisSize, ...src.shape.slice(axis + ir)];
    checkExact('scatterAdd', src.shape);
    checkExact('scatterAdd', outShape);
    const outer = product(src.shape.slice(0, axis));
    const inner = product(src.shape.slice(axis + ir));
    const count = sizeOf(indices.shape);
    const n = sizeOf(outShape);
    const idx = await this.checkedIndices('scatterAdd', indices, axisSize);
    try {
      if (n === 0) return new Float32Array(0);
      if (count === 0) return await this.fill(n, 0);
      const cs = await this.copy(src);
      try {
        const key = `scatterAdd|${outer}x${axisSize}x${inner}x${count}`;
        return await this.run(key, K.scatterAddKernel, n, { inner, count, axisSize }, count, [cs, idx]);
      } finally {
        Engine.release(cs);
      }
    } finally {
      Engine.release(idx);
    }
  }

  private async concat(xs: readonly WireView[], axis: number): Promise<Handle> {
    const shape0 = xs[0].shape;
    const outer = product(shape0.slice(0, axis));
    const inner = product(shape0.slice(axis + 1));
    const total = xs.reduce((s, v) => s + v.shape[axis], 0);
    checkExact('concat', [...shape0.slice(0, axis), total, ...shape0.slice(axis + 1)]);
    const parts = xs.filter((v) => sizeOf(v.shape) > 0);
    if (outer * total * inner === 0) return new Float32Array(0);
    let acc = await this.copy(parts[0]);
    let ca = parts[0].shape[axis];
    for (let i = 1; i < parts.length; i++) {
      const cb = parts[i].shape[axis];
      const next = await this.copy(parts[i]);
      try {
        const joined = await this.run(`concat|${outer}x${ca}x${cb}x${inner}`, K.concat2Kernel, outer * (ca + cb) * inner, { inner, ca, cb }, 0, [acc, next]);
        Engine.release(acc);
        acc = joined;
      } finally {
        Engine.release(next);
      }
      ca += cb;
    }
    return acc;
  }

  private async unslice(
    x: WireView,
    outShape: readonly number[],
    starts: readonly number[],
    steps: readonly number[],
  ): Promise<Handle> {
    checkExact('unslice', outShape);
    const n = sizeOf(outShape);
    if (n === 0) return new Float32Array(0);
    if (sizeOf(x.shape) === 0) return this.fill(n, 0);
    const r = outShape.length;
    if (r > K.MAX_RANK) {
      throw new RangeError(`gpujs unslice: output shape ${fmtShape(outShape)} has rank ${r}; at most ${K.MAX_RANK} is supported`);
    }
    const m = new Float32Array(25);
    const pad = K.MAX_RANK - r;
    m.fill(1, 0, 6);
    m.fill(1, 12, 24);
    for (let i = 0; i < r; i++) {
      m[pad + i] = outShape[i];
      m[6 + pad + i] = starts[i];
      m[12 + pad + i] = steps[i];
      m[18 + pad + i] = x.shape[i];
    }
    m[24] = 1;
    const cx = await this.copy(x);
    try {
      return await this.run(`unslice|${sizeOf(x.shape)}`, K.unsliceKernel, n, {}, 0, [cx, m]);
    } finally {
      Engine.release(cx);
    }
  }
}
