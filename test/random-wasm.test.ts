/**
 * Rng.normalArray's wasm Box-Muller transform (accel/wasm-normal.ts): its fdlibm log, sin and cos
 * against V8's Math.log/sin/cos, and normalArray against the JS loop (normalArrayReference), bit for bit.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { NORMAL_WASM_MIN, Rng } from '../src/tensor/random.js';
import { NORMAL_PARALLEL_PAIRS, normalKernel, WasmNormal } from '../src/tensor/accel/wasm-normal.js';
import { agreesWithMath, probeInputs } from '../src/tensor/accel/math-check.js';

function sameBits(got: Float32Array | Float64Array, want: Float32Array | Float64Array, what: string): void {
  assert.equal(got.constructor, want.constructor, what);
  assert.equal(got.length, want.length, what);
  const a = new Uint8Array(got.buffer, got.byteOffset, got.byteLength), b = new Uint8Array(want.buffer, want.byteOffset, want.byteLength);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      const k = Math.floor(i / got.BYTES_PER_ELEMENT);
      assert.fail(`${what}: element ${k} is ${got[k]}, the reference ${want[k]}`);
    }
  }
}

function firstMismatch(xs: Float64Array, got: (i: number) => number, want: (x: number) => number): string | null {
  for (let i = 0; i < xs.length; i++) if (!Object.is(got(i), want(xs[i]))) return `x = ${xs[i]}: ${got(i)}, Math gives ${want(xs[i])}`;
  return null;
}

test('wasm log, sin and cos are Math.log, Math.sin and Math.cos bit for bit (1M inputs each, with edges)', () => {
  const kernel = new WasmNormal(1);
  const r = new Rng(20261130);
  const n = 1 << 20;
  const logEdges = [0, -0, 1, -1, 2 ** -53, 5e-324, 3 * 2 ** -1074, 2 ** -1022, 1 - 2 ** -53, 1 + 2 ** -52, 0.5, 0.25, 2, 1e300, Infinity, -Infinity, NaN];
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = r.uniform();
    // uniforms as normalArray draws them, some scaled down (the small-u tail), and the edges
    xs[i] = i < logEdges.length ? logEdges[i] : i % 3 === 0 ? u * 2 ** -(i % 64) : u;
  }
  const logs = kernel.logs(xs);
  assert.equal(firstMismatch(xs, (i) => logs[i], Math.log), null, 'log');

  const trigEdges = [0, -0, Math.PI / 4, Math.PI / 2, -Math.PI / 2, 3 * Math.PI / 4, Math.PI, 2 * Math.PI, 1e-9, -1e-9, 2 ** -28, 0.3, 0.78125, 2 ** 19 * Math.PI / 2 * (1 - 2 ** -40), Infinity, -Infinity, NaN];
  const ts = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = r.uniform();
    // 2πv as the transform sees it; wider arguments; arguments next to multiples of π/2 (the careful reductions)
    ts[i] = i < trigEdges.length ? trigEdges[i]
      : i % 3 === 0 ? 2 * Math.PI * v
      : i % 3 === 1 ? (v - 0.5) * 2 ** (i % 21)
      : (i % 64) * (Math.PI / 2) * (1 + (v - 0.5) * 2 ** -(20 + (i % 30)));
  }
  const sc = kernel.sinCos(ts);
  assert.equal(firstMismatch(ts, (i) => sc[2 * i], Math.sin), null, 'sin');
  assert.equal(firstMismatch(ts, (i) => sc[2 * i + 1], Math.cos), null, 'cos');
});

test('normalArray (wasm from NORMAL_WASM_MIN) equals the JS loop bit for bit, with pending spares, both dtypes', () => {
  const sizes = [0, 1, 2, 3, NORMAL_WASM_MIN - 1, NORMAL_WASM_MIN, NORMAL_WASM_MIN + 1, 1, 511, 512, 0, 4097, 2 * NORMAL_PARALLEL_PAIRS - 1, 2 * NORMAL_PARALLEL_PAIRS + 3, 5, 100_001];
  for (const dtype of ['float32', 'float64'] as const) {
    for (const [mean, std] of [[0, 1], [0.5, 2], [-1.25, 0.3]]) {
      const fast = new Rng(42), slow = new Rng(42);
      for (const size of sizes) {
        const what = `${dtype} mean ${mean} std ${std} size ${size}`;
        sameBits(fast.normalArray(size, mean, std, dtype), slow.normalArrayReference(size, mean, std, dtype), what);
        assert.deepEqual(fast.getState(), slow.getState(), `state after ${what}`);
      }
    }
  }
});

test('normalArrayTransient gives the same stream as the JS loop (a view of the kernel memory, or a fresh array after a spare)', () => {
  const sizes = [NORMAL_WASM_MIN, 7, NORMAL_WASM_MIN + 1, NORMAL_WASM_MIN + 1, 3, 2 * NORMAL_PARALLEL_PAIRS + 3, 100_000];
  for (const dtype of ['float32', 'float64'] as const) {
    const fast = new Rng(5), slow = new Rng(5);
    for (const size of sizes) {
      const what = `${dtype} size ${size}`;
      // Compared before the next draw: the transient array is only valid until then.
      sameBits(fast.normalArrayTransient(size, -0.5, 1.75, dtype), slow.normalArrayReference(size, -0.5, 1.75, dtype), what);
      assert.deepEqual(fast.getState(), slow.getState(), `state after ${what}`);
    }
  }
});

test('normalArray equals the JS loop over random sizes, seeds and spares (fast-check, fixed seed)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 4 }), fc.boolean(), (seed, sizes, f32) => {
      const dtype = f32 ? 'float32' : 'float64';
      const fast = new Rng(seed), slow = new Rng(seed);
      for (const size of sizes) {
        sameBits(fast.normalArray(size, 0.25, 1.5, dtype), slow.normalArrayReference(size, 0.25, 1.5, dtype), `seed ${seed} size ${size}`);
        assert.deepEqual(fast.getState(), slow.getState());
      }
    }),
    { seed: 11, numRuns: 60 },
  );
});

test('the transform does not depend on the thread count', () => {
  const pairs = NORMAL_PARALLEL_PAIRS + 77;
  const outputs = [1, 3].map((threads) => {
    const kernel = new WasmNormal(threads);
    const at = kernel.reserve(pairs)!;
    const r = new Rng(5);
    for (let p = 0; p < 2 * pairs; p++) kernel.heap[at + p] = r.uniform() || 0.5;
    kernel.boxMuller(pairs);
    return kernel.heap.slice(at, at + 2 * pairs);
  });
  sameBits(outputs[0], outputs[1], '1 vs 3 threads');
});

test('the two-lane transform equals the scalar one, rare cases included', () => {
  const kernel = new WasmNormal(1);
  const r = new Rng(99);
  const pairs = 200_001;
  // uniforms, then u and v values that reach the rare cases (u near 1 and powers of two: |f| < 2^-20;
  // v near 0, 1/4, 1/2, 3/4 and 1: tiny arguments and the careful reductions next to n·π/2)
  const input = new Float64Array(2 * pairs);
  const specialU = [2 ** -53, 1 - 2 ** -53, 0.5, 0.25, 0.5 + 2 ** -40, 1 - 2 ** -30, 2 ** -1022];
  const specialV = [0, 2 ** -53, 1e-9, 2 ** -30, 0.25, 0.5, 0.75, 1 - 2 ** -53, 0.125, 0.375];
  for (let p = 0; p < pairs; p++) {
    const u = r.uniform() || 0.5, v = r.uniform();
    const q = p % 16;
    input[2 * p] = q === 1 ? specialU[r.int(specialU.length)] : u;
    input[2 * p + 1] = q === 2 ? specialV[r.int(specialV.length)] * (1 + (r.uniform() - 0.5) * 2 ** -(r.int(52) + 1)) : q === 3 ? specialV[r.int(specialV.length)] : v;
  }
  const run = (twoLanes: boolean): Float64Array => {
    const at = kernel.reserve(pairs)!;
    kernel.heap.set(input, at);
    kernel.boxMuller(pairs, twoLanes);
    return kernel.heap.slice(at, at + 2 * pairs);
  };
  sameBits(run(true), run(false), 'two lanes vs scalar');
});

test('normalArray redraws u = 0 as the JS loop does (a state whose next two words are 0)', () => {
  // s1 = 0 makes the next word 0, and s2 = s0 keeps s1 at 0 for the word after: u = 0 exactly
  for (const dtype of ['float32', 'float64'] as const) {
    for (const size of [NORMAL_WASM_MIN, NORMAL_WASM_MIN + 1]) {
      const state = { s: [0x12345678, 0, 0x12345678, 0x9abcdef0] as [number, number, number, number], spareNormal: null };
      const probe = Rng.fromState(state);
      assert.equal(probe.uniform(), 0, 'the crafted state draws u = 0');
      const fast = Rng.fromState(state), slow = Rng.fromState(state);
      sameBits(fast.normalArray(size, 0, 1, dtype), slow.normalArrayReference(size, 0, 1, dtype), `${dtype} size ${size} from u = 0`);
      assert.deepEqual(fast.getState(), slow.getState());
    }
  }
});

test('the ports are checked against Math before use: on this Node they agree, so the fast paths are on', () => {
  // normalKernel() and the cross-entropy acceleration compare their port with Math on fixed probes
  // (accel/math-check.ts) and stay off on a disagreement; a Node whose Math differs keeps the JS loops.
  assert.notEqual(normalKernel(), null, 'the wasm normal transform was disabled by its check against Math');
  const probes = probeInputs(1000, -5, 5);
  assert.equal(agreesWithMath(probes, probes.map(Math.exp), Math.exp), true);
  assert.equal(agreesWithMath(probes, probes.map((x) => Math.exp(x) * (1 + 2 ** -52)), Math.exp), false, 'a one-ulp difference must be seen');
  const pairs = new Float64Array(2 * probes.length);
  probes.forEach((x, i) => { pairs[2 * i] = Math.sin(x); pairs[2 * i + 1] = Math.cos(x); });
  assert.equal(agreesWithMath(probes, pairs, Math.cos, 2, 1), true);
  assert.equal(agreesWithMath(probes, pairs, Math.cos, 2, 0), false);
});
