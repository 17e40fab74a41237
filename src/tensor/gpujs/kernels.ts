/**
 * gpu.js kernel sources for the gpu.js backend, and the cache that compiles each one once per
 * (op, shapes) key.
 *
 * Rules every kernel here follows, because gpu.js transpiles the function's source text:
 * - a plain `function` declaration (no arrow functions, methods, default parameters or nested
 *   functions), and no closure variables: sizes arrive as `this.constants`, layouts as arrays;
 * - every output is 1-D over the flat row-major output index `this.thread.x`;
 * - index arithmetic runs in f32 on the GPU, so every index stays below 2^24 (the backend refuses
 *   larger tensors), and every division is followed by a correction step so a quotient that the
 *   GPU rounded up or down is fixed exactly;
 * - loops have constant bounds and each kernel raises `loopMaxIterations` above its longest loop
 *   (gpu.js silently stops loops at 1000 iterations otherwise).
 */

/** The `this` that gpu.js gives a kernel. */
export interface KernelThis {
  readonly thread: { readonly x: number };
  readonly constants: Readonly<Record<string, number>>;
}

/** The highest rank the strided kernels handle (layouts are padded with unit axes to this). */
export const MAX_RANK = 6;

/** Largest element count (and index) that f32 index arithmetic represents exactly. */
export const MAX_EXACT_ELEMENTS = 2 ** 24;

// ---- layout kernels ----

/**
 * Strided gather: m = [shape(6), strides(6), offset, 1]. Walks the flat output index from the
 * last axis to the first, peeling off one coordinate per axis.
 */
export function copyKernel(this: KernelThis, x: Float32Array, m: Float32Array): number {
  let rem = this.thread.x * m[13];
  let pos = m[12];
  for (let j = 0; j < 6; j++) {
    const d = 5 - j;
    const s = m[d];
    let q = Math.floor(rem / s);
    let r = rem - q * s;
    if (r < 0) {
      q = q - 1;
      r = r + s;
    }
    if (r >= s) {
      q = q + 1;
      r = r - s;
    }
    pos = pos + r * m[6 + d];
    rem = q;
  }
  return x[pos];
}

/**
 * Transposed strided slice. m = [outShape(6), starts(6), steps(6), xShape(6), 1]; `x` is
 * contiguous with shape xShape. Cells not hit by the slice are 0.
 */
export function unsliceKernel(this: KernelThis, x: Float32Array, m: Float32Array): number {
  let rem = this.thread.x * m[24];
  let pos = 0;
  let stride = 1;
  let hit = 1;
  for (let j = 0; j < 6; j++) {
    const d = 5 - j;
    const s = m[d];
    let q = Math.floor(rem / s);
    let c = rem - q * s;
    if (c < 0) {
      q = q - 1;
      c = c + s;
    }
    if (c >= s) {
      q = q + 1;
      c = c - s;
    }
    rem = q;
    const t = c - m[6 + d];
    const step = m[12 + d];
    // Rounded quotient: hit only when t is an exact multiple of the (possibly negative) step.
    const k = Math.floor(t / step + 0.5);
    if (t - k * step != 0 || k < 0 || k >= m[18 + d]) {
      hit = 0;
    }
    pos = pos + k * stride;
    stride = stride * m[18 + d];
  }
  if (hit > 0) {
    return x[pos];
  }
  return 0;
}

/** Joins contiguous [outer, CA, inner] and [outer, CB, inner] along the middle axis. */
export function concat2Kernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  const inner = this.constants.inner;
  const ca = this.constants.ca;
  const cb = this.constants.cb;
  const c = ca + cb;
  const flat = this.thread.x * this.constants.one;
  let o = Math.floor(flat / (c * inner));
  let rest = flat - o * c * inner;
  if (rest < 0) {
    o = o - 1;
    rest = rest + c * inner;
  }
  if (rest >= c * inner) {
    o = o + 1;
    rest = rest - c * inner;
  }
  let k = Math.floor(rest / inner);
  let r = rest - k * inner;
  if (r < 0) {
    k = k - 1;
    r = r + inner;
  }
  if (r >= inner) {
    k = k + 1;
    r = r - inner;
  }
  if (k < ca) {
    return a[(o * ca + k) * inner + r];
  }
  return b[(o * cb + (k - ca)) * inner + r];
}

/**
 * Index select on contiguous x = [outer, A, inner] with flat indices of length I:
 * out[o, i, r] = x[o, idx[i], r].
 */
export function gatherKernel(this: KernelThis, x: Float32Array, idx: Float32Array): number {
  const inner = this.constants.inner;
  const count = this.constants.count;
  const flat = this.thread.x * this.constants.one;
  let o = Math.floor(flat / (count * inner));
  let rest = flat - o * count * inner;
  if (rest < 0) {
    o = o - 1;
    rest = rest + count * inner;
  }
  if (rest >= count * inner) {
    o = o + 1;
    rest = rest - count * inner;
  }
  let i = Math.floor(rest / inner);
  let r = rest - i * inner;
  if (r < 0) {
    i = i - 1;
    r = r + inner;
  }
  if (r >= inner) {
    i = i + 1;
    r = r - inner;
  }
  return x[(o * this.constants.axisSize + idx[i]) * inner + r];
}

/**
 * Gather-style scatter-add: out[o, a, r] = sum over i with idx[i] == a of src[o, i, r].
 * One loop over the I indices per output cell (no atomics needed).
 */
export function scatterAddKernel(this: KernelThis, src: Float32Array, idx: Float32Array): number {
  const inner = this.constants.inner;
  const axisSize = this.constants.axisSize;
  const flat = this.thread.x * this.constants.one;
  let o = Math.floor(flat / (axisSize * inner));
  let rest = flat - o * axisSize * inner;
  if (rest < 0) {
    o = o - 1;
    rest = rest + axisSize * inner;
  }
  if (rest >= axisSize * inner) {
    o = o + 1;
    rest = rest - axisSize * inner;
  }
  let a = Math.floor(rest / inner);
  let r = rest - a * inner;
  if (r < 0) {
    a = a - 1;
    r = r + inner;
  }
  if (r >= inner) {
    a = a + 1;
    r = r - inner;
  }
  let acc = 0;
  for (let i = 0; i < this.constants.count; i++) {
    if (idx[i] == a) {
      acc = acc + src[(o * this.constants.count + i) * inner + r];
    }
  }
  return acc;
}

// ---- elementwise kernels (contiguous inputs of the output size) ----

/** Every cell equal to the scalar argument. */
export function fillKernel(this: KernelThis, value: number): number {
  return value;
}

/** Truncation toward zero (float to int32 cast, integer division). */
export function truncKernel(this: KernelThis, x: Float32Array): number {
  const v = x[this.thread.x];
  if (v <= -1) {
    return -Math.floor(-v);
  }
  // (-1, 1) is +0 as an Int32Array holds it (-Math.floor(0.5) would be -0; shader compilers fold
  // the usual `+ 0` fix away).
  if (v < 1) {
    return 0;
  }
  return Math.floor(v);
}

export function negKernel(this: KernelThis, x: Float32Array): number {
  return -x[this.thread.x];
}
export function expKernel(this: KernelThis, x: Float32Array): number {
  return Math.exp(x[this.thread.x]);
}
export function logKernel(this: KernelThis, x: Float32Array): number {
  return Math.log(x[this.thread.x]);
}
export function sqrtKernel(this: KernelThis, x: Float32Array): number {
  return Math.sqrt(x[this.thread.x]);
}
export function reciprocalKernel(this: KernelThis, x: Float32Array): number {
  return 1 / x[this.thread.x];
}
export function sinKernel(this: KernelThis, x: Float32Array): number {
  return Math.sin(x[this.thread.x]);
}
export function cosKernel(this: KernelThis, x: Float32Array): number {
  return Math.cos(x[this.thread.x]);
}
/** tanh through exp of a non-positive argument, so large |v| cannot overflow. */
export function tanhKernel(this: KernelThis, x: Float32Array): number {
  const v = x[this.thread.x];
  const e = Math.exp(-2 * Math.abs(v));
  const t = (1 - e) / (1 + e);
  if (v < 0) {
    return -t;
  }
  return t;
}
/** Logistic sigmoid, split by sign so exp never overflows. */
export function sigmoidKernel(this: KernelThis, x: Float32Array): number {
  const v = x[this.thread.x];
  if (v >= 0) {
    return 1 / (1 + Math.exp(-v));
  }
  const e = Math.exp(v);
  return e / (1 + e);
}
export function absKernel(this: KernelThis, x: Float32Array): number {
  return Math.abs(x[this.thread.x]);
}
export function signKernel(this: KernelThis, x: Float32Array): number {
  const v = x[this.thread.x];
  if (v > 0) {
    return 1;
  }
  if (v < 0) {
    return -1;
  }
  return v;
}

export function addKernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  return a[this.thread.x] + b[this.thread.x];
}
export function subKernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  return a[this.thread.x] - b[this.thread.x];
}
export function mulKernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  return a[this.thread.x] * b[this.thread.x];
}
export function divKernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  return a[this.thread.x] / b[this.thread.x];
}
/**
 * pow with JS semantics for negative bases: an integer exponent gives the signed power, a
 * fractional one NaN. (Dawn-GLES evaluates pow of a negative base as NaN even for integer
 * exponents, so the power is always taken of |base|.) `nan` is a constant holding NaN.
 */
export function powKernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  const x = a[this.thread.x];
  const y = b[this.thread.x];
  if (y == 0) {
    return 1;
  }
  if (x >= 0) {
    return Math.pow(x, y);
  }
  const p = Math.pow(-x, y);
  if (Math.floor(y) != y) {
    return Math.sqrt(x);
  }
  const half = y / 2;
  if (Math.floor(half) != half) {
    return -p;
  }
  return p;
}
export function maximumKernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  return Math.max(a[this.thread.x], b[this.thread.x]);
}
export function minimumKernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  return Math.min(a[this.thread.x], b[this.thread.x]);
}
export function eqKernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  if (a[this.thread.x] == b[this.thread.x]) {
    return 1;
  }
  return 0;
}
export function neKernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  if (a[this.thread.x] != b[this.thread.x]) {
    return 1;
  }
  return 0;
}
export function ltKernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  if (a[this.thread.x] < b[this.thread.x]) {
    return 1;
  }
  return 0;
}
export function leKernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  if (a[this.thread.x] <= b[this.thread.x]) {
    return 1;
  }
  return 0;
}
export function gtKernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  if (a[this.thread.x] > b[this.thread.x]) {
    return 1;
  }
  return 0;
}
export function geKernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  if (a[this.thread.x] >= b[this.thread.x]) {
    return 1;
  }
  return 0;
}

export function whereKernel(this: KernelThis, c: Float32Array, a: Float32Array, b: Float32Array): number {
  if (c[this.thread.x] != 0) {
    return a[this.thread.x];
  }
  return b[this.thread.x];
}

// ---- reductions over the last axis of a contiguous [outer, len] input ----

export function sumKernel(this: KernelThis, x: Float32Array): number {
  const base = this.thread.x * this.constants.len;
  let acc = 0;
  for (let j = 0; j < this.constants.len; j++) {
    acc = acc + x[base + j];
  }
  return acc;
}
export function maxKernel(this: KernelThis, x: Float32Array): number {
  const base = this.thread.x * this.constants.len;
  let acc = x[base];
  for (let j = 1; j < this.constants.len; j++) {
    acc = Math.max(acc, x[base + j]);
  }
  return acc;
}
export function minKernel(this: KernelThis, x: Float32Array): number {
  const base = this.thread.x * this.constants.len;
  let acc = x[base];
  for (let j = 1; j < this.constants.len; j++) {
    acc = Math.min(acc, x[base + j]);
  }
  return acc;
}
/** First index of the maximum. */
export function argmaxKernel(this: KernelThis, x: Float32Array): number {
  const base = this.thread.x * this.constants.len;
  let best = x[base];
  let at = 0;
  for (let j = 1; j < this.constants.len; j++) {
    const v = x[base + j];
    if (v > best) {
      best = v;
      at = j;
    }
  }
  return at;
}
/** First index of the minimum. */
export function argminKernel(this: KernelThis, x: Float32Array): number {
  const base = this.thread.x * this.constants.len;
  let best = x[base];
  let at = 0;
  for (let j = 1; j < this.constants.len; j++) {
    const v = x[base + j];
    if (v < best) {
      best = v;
      at = j;
    }
  }
  return at;
}

/** Batched matmul of contiguous a = [B, M, K] and b = [B, K, N]; out flat over [B, M, N]. */
export function matmulKernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  const m = this.constants.m;
  const n = this.constants.n;
  const k = this.constants.k;
  const flat = this.thread.x * this.constants.one;
  let row = Math.floor(flat / n);
  let col = flat - row * n;
  if (col < 0) {
    row = row - 1;
    col = col + n;
  }
  if (col >= n) {
    row = row + 1;
    col = col - n;
  }
  let batch = Math.floor(row / m);
  let i = row - batch * m;
  if (i < 0) {
    batch = batch - 1;
    i = i + m;
  }
  if (i >= m) {
    batch = batch + 1;
    i = i - m;
  }
  const aBase = (batch * m + i) * k;
  const bBase = batch * k * n + col;
  let acc = 0;
  for (let p = 0; p < this.constants.k; p++) {
    acc = acc + a[aBase + p] * b[bBase + p * n];
  }
  return acc;
}

// ---- fused kernels (one request, fewer launches and no broadcast copies; see bench/gpu.ts) ----

/** sum_j exp(x[r, j] - mx[r]) over each row of a contiguous [outer, len] input. */
export function sumExpKernel(this: KernelThis, x: Float32Array, mx: Float32Array): number {
  const base = this.thread.x * this.constants.len;
  const m = mx[this.thread.x];
  let acc = 0;
  for (let j = 0; j < this.constants.len; j++) {
    acc = acc + Math.exp(x[base + j] - m);
  }
  return acc;
}

/** exp(x[r, j] - mx[r]) / sum[r] for a contiguous [outer, len] input: the softmax of each row. */
export function softmaxNormKernel(this: KernelThis, x: Float32Array, mx: Float32Array, sum: Float32Array): number {
  const len = this.constants.len;
  const flat = this.thread.x * this.constants.one;
  let row = Math.floor(flat / len);
  const col = flat - row * len;
  if (col < 0) {
    row = row - 1;
  }
  if (col >= len) {
    row = row + 1;
  }
  return Math.exp(x[this.thread.x] - mx[row]) / sum[row];
}

/**
 * silu(a) * b = a * b / (1 + exp(-a)). Branch-free: for a below about -88, exp(-a) overflows to
 * Infinity and the quotient is the right limit, 0.
 */
export function siluMulKernel(this: KernelThis, a: Float32Array, b: Float32Array): number {
  const v = a[this.thread.x];
  return (v * b[this.thread.x]) / (1 + Math.exp(-v));
}

/** A compiled gpu.js kernel as this backend calls it. */
export type CompiledKernel = (...args: unknown[]) => unknown;

/**
 * Compiled kernels keyed by op and shapes. Compiles cost 18-125 ms on software WebGPU, so a kernel
 * is built once per distinct key and reused.
 */
export class KernelCache {
  private readonly kernels = new Map<string, CompiledKernel>();

  /** The kernel for `key`, compiled by `build` on first use. */
  get(key: string, build: () => CompiledKernel): CompiledKernel {
    let kernel = this.kernels.get(key);
    if (kernel === undefined) {
      kernel = build();
      this.kernels.set(key, kernel);
    }
    return kernel;
  }

  get size(): number {
    return this.kernels.size;
  }
}
