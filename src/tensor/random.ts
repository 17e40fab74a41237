/**
 * A seeded random number generator: xoshiro128** (Blackman and Vigna), seeded through splitmix32.
 *
 * Why this generator: it uses only 32-bit integer arithmetic (`Math.imul`, shifts), so the stream is
 * bit-for-bit identical on every machine and JavaScript engine; its state is four numbers, so a
 * checkpoint can save and restore it exactly. `Math.random` is never used in calm-ts.
 */
import { normalKernel } from './accel/wasm-normal.js';

/** From this many deviates normalArray runs the Box-Muller transform in wasm (the call's copies cost less than they save). */
export const NORMAL_WASM_MIN = 256;

/** The full state of a generator: four 32-bit words plus a cached normal deviate. */
export interface RngState {
  readonly s: readonly [number, number, number, number];
  readonly spareNormal: number | null;
}

function splitmix32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  /**
   * The four state words. An Int32Array rather than four number fields: uint32 values past 2^30
   * do not fit V8's small integers, so fields would hold boxed numbers and every draw would
   * allocate; the bits (all the generator uses) are the same.
   */
  private readonly s = new Int32Array(4);
  private spare: number | null = null;

  /** `seed` is any finite number; its integer part (mod 2^32) and fractional bits are mixed in. */
  constructor(seed = 0) {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng: seed must be a finite number, got ${seed}`);
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 4294967296) >>> 0;
    const next = splitmix32(lo ^ Math.imul(hi, 0x27d4eb2d));
    this.seedWith(next);
  }

  private seedWith(next: () => number): void {
    const s = this.s;
    for (let i = 0; i < 4; i++) s[i] = next();
    if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const s0 = s[0], s1 = s[1];
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    const s2 = s[2] ^ s0;
    const s3 = s[3] ^ s1;
    s[1] = s1 ^ s2;
    s[0] = s0 ^ s3;
    s[2] = s2 ^ t;
    s[3] = rotl(s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [lo, hi). */
  uniformIn(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** A uniform integer in [0, n). Unbiased (rejection on the top partial block). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const r = this.nextUint32();
      if (r < limit) return r % n;
    }
  }

  /** Standard normal via the Box-Muller transform (the second deviate is cached). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`Rng.bernoulli: p must be in [0, 1], got ${p}`);
    return this.uniform() < p;
  }

  /** An index drawn with probability proportional to `weights` (non-negative, not all zero). */
  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i];
      if (!(w >= 0) || !Number.isFinite(w)) throw new RangeError(`Rng.categorical: weight ${i} is ${w}; weights must be finite and non-negative`);
      total += w;
    }
    if (!(total > 0)) throw new RangeError('Rng.categorical: weights sum to zero');
    let r = this.uniform() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i];
      if (r < 0) return i;
    }
    // Rounding left r at or just above 0: return the last index with positive weight.
    for (let i = weights.length - 1; i >= 0; i--) if (weights[i] > 0) return i;
    return weights.length - 1;
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
    return items;
  }

  /**
   * A new, independent generator. Its seed is drawn from this stream, so forking is itself
   * reproducible: the same parent state always yields the same child.
   */
  fork(): Rng {
    const child = new Rng(0);
    child.seedWith(splitmix32(this.nextUint32() ^ Math.imul(this.nextUint32(), 0x9e3779b9)));
    return child;
  }

  /** `n` independent generators forked from this one. */
  split(n: number): Rng[] {
    return Array.from({ length: n }, () => this.fork());
  }

  /** Fills a new Float32Array/Float64Array with uniforms in [lo, hi). */
  uniformArray(size: number, lo = 0, hi = 1, dtype: 'float32' | 'float64' = 'float32'): Float32Array | Float64Array {
    const out = dtype === 'float32' ? new Float32Array(size) : new Float64Array(size);
    for (let i = 0; i < size; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }

  /**
   * Fills a new array with N(mean, std^2) deviates: the numbers `normal()` would give one by one
   * (test/random.test.ts checks it), with each Box-Muller pair used in place instead of going
   * through the cached spare, which V8 stores as a fresh heap number per call. From
   * NORMAL_WASM_MIN deviates the transform runs in WebAssembly (accel/wasm-normal.ts: fdlibm's log,
   * sin and cos, which are V8's Math.log/sin/cos, so the same bits; CALM_CPU_ACCEL=off keeps this loop).
   */
  normalArray(size: number, mean = 0, std = 1, dtype: 'float32' | 'float64' = 'float32'): Float32Array | Float64Array {
    return this.normals(size, mean, std, dtype, true);
  }

  /**
   * normalArray's numbers (the same stream), in an array that is only valid until the next draw from
   * any generator: with the wasm transform, a view of its memory, which saves allocating a fresh
   * array (on this project's VM, its first-touch page faults cost as much as the transform). For
   * callers that copy the values at once (Tensor.randn); anything else should use normalArray.
   */
  normalArrayTransient(size: number, mean = 0, std = 1, dtype: 'float32' | 'float64' = 'float32'): Float32Array | Float64Array {
    return this.normals(size, mean, std, dtype, true, true);
  }

  /** normalArray without wasm: the JS loop (the reference; tests compare the two). */
  normalArrayReference(size: number, mean = 0, std = 1, dtype: 'float32' | 'float64' = 'float32'): Float32Array | Float64Array {
    return this.normals(size, mean, std, dtype, false);
  }

  private normals(size: number, mean: number, std: number, dtype: 'float32' | 'float64', wasm: boolean, transient = false): Float32Array | Float64Array {
    const first = size > 0 && this.spare !== null ? 1 : 0; // the cached deviate comes first
    const pairs = Math.ceil((size - first) / 2);
    const kernel = wasm && pairs >= NORMAL_WASM_MIN / 2 ? normalKernel() : null;
    const at = kernel === null ? null : kernel.reserve(pairs);
    // A view of the kernel's memory holds only what it computed, so not the cached deviate.
    const out = transient && first === 0 && at !== null ? null : dtype === 'float32' ? new Float32Array(size) : new Float64Array(size);
    let i = 0;
    if (first === 1 && out !== null) {
      out[i++] = mean + std * this.spare!;
      this.spare = null;
    }
    if (kernel === null || at === null) return this.normalLoop(out!, i, mean, std);
    // The uniforms in the loop's order, the transform in wasm, then the loop's stores (in wasm too,
    // then one copy: a JS loop over the values took about as long as the transform).
    this.uniformPairs(kernel.heap, at, pairs);
    kernel.boxMuller(pairs);
    const count = size - i;
    const values = kernel.scaled(count, mean, std, dtype);
    if (count % 2 === 1) this.spare = kernel.heap[at + count]; // the last pair's second deviate
    if (out === null) return values;
    out.set(values, i);
    return out;
  }

  /**
   * The uniforms of `pairs` Box-Muller pairs into heap[at..], (u, v) with u redrawn while 0, exactly
   * as `uniform()` draws them (the same words in the same order), with the state held in locals:
   * through `uniform()`, every word loads and stores the state array.
   */
  private uniformPairs(heap: Float64Array, at: number, pairs: number): void {
    const s = this.s;
    let s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
    for (let p = at, end = at + 2 * pairs; p < end;) {
      // two words (nextUint32 inlined): 27 high bits, 26 low bits
      let word = Math.imul(s1, 5);
      const hi = Math.imul((word << 7) | (word >>> 25), 9) >>> 5;
      let t = s1 << 9;
      s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
      word = Math.imul(s1, 5);
      const lo = Math.imul((word << 7) | (word >>> 25), 9) >>> 6;
      t = s1 << 9;
      s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = (s3 << 11) | (s3 >>> 21);
      const x = (hi * 67108864 + lo) / 9007199254740992;
      if (x === 0 && ((p - at) & 1) === 0) continue; // u = 0: drawn again
      heap[p++] = x;
    }
    s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
  }

  /** Box-Muller pairs into out[i..] (the spare already used). */
  private normalLoop(out: Float32Array | Float64Array, i: number, mean: number, std: number): Float32Array | Float64Array {
    const size = out.length;
    for (; i < size; i += 2) {
      let u = 0;
      while (u === 0) u = this.uniform();
      const v = this.uniform();
      const r = Math.sqrt(-2 * Math.log(u));
      out[i] = mean + std * (r * Math.cos(2 * Math.PI * v));
      const second = r * Math.sin(2 * Math.PI * v);
      if (i + 1 < size) out[i + 1] = mean + std * second;
      else this.spare = second;
    }
    return out;
  }

  /** The exact state, for checkpoints. */
  getState(): RngState {
    const s = this.s;
    return { s: [s[0] >>> 0, s[1] >>> 0, s[2] >>> 0, s[3] >>> 0], spareNormal: this.spare };
  }

  setState(state: RngState): void {
    if (state === null || typeof state !== 'object' || !Array.isArray(state.s) || state.s.length !== 4) {
      throw new RangeError(`Rng.setState: expected { s: [4 uint32 words], spareNormal }, got ${JSON.stringify(state)?.slice(0, 120)}`);
    }
    const [a, b, c, d] = state.s;
    for (const w of state.s) {
      if (!Number.isInteger(w) || w < 0 || w > 0xffffffff) throw new RangeError(`Rng.setState: state words must be uint32, got ${w}`);
    }
    // xoshiro128** never leaves the all-zero state: every later draw would be 0.
    if (a === 0 && b === 0 && c === 0 && d === 0) throw new RangeError('Rng.setState: the all-zero state is invalid (the generator would only return 0)');
    if (state.spareNormal !== null && !Number.isFinite(state.spareNormal)) throw new RangeError(`Rng.setState: spareNormal must be null or a finite number, got ${state.spareNormal}`);
    this.s[0] = a;
    this.s[1] = b;
    this.s[2] = c;
    this.s[3] = d;
    this.spare = state.spareNormal;
  }

  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
