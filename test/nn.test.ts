import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { gradcheck, noGrad, Tensor } from '../src/autograd/index.js';
import {
  AdamW,
  CausalSelfAttention,
  clipGradNorm,
  constantSchedule,
  crossEntropy,
  DecoderStack,
  Dropout,
  Embedding,
  LayerNorm,
  Linear,
  loadCheckpoint,
  logSoftmax,
  Module,
  Parameter,
  RMSNorm,
  RotaryEmbedding,
  saveCheckpoint,
  softmax,
  SwiGLU,
  warmupConstantSchedule,
  warmupCosineSchedule,
  type JsonValue,
} from '../src/nn/index.js';
import { cpuBackend } from '../src/tensor/device.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';
import { nnCompositeCases } from '../scripts/gradcheck-cases-nn.js';

const f64 = { dtype: 'float64' as const };

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = 'values'): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]} (tol ${tol})`);
  }
}

class Block extends Module {
  readonly norm = new RMSNorm(3);
  readonly proj: Linear;
  constructor(rng: Rng) {
    super();
    this.proj = new Linear(3, 2, { rng });
  }
}

class Toy extends Module {
  readonly embed: Embedding;
  readonly blocks: Block[];
  readonly scale = new Parameter(NDArray.ones([1]));
  readonly extras: Parameter[] = [new Parameter(NDArray.zeros([2])), new Parameter(NDArray.zeros([1, 2]))];
  readonly constant = Tensor.ones([4]); // not a parameter: does not require gradients
  readonly width = 3;
  constructor(rng: Rng) {
    super();
    this.embed = new Embedding(5, 3, { rng });
    this.blocks = [new Block(rng), new Block(rng)];
  }
}

describe('Module registry', () => {
  test('dotted names in attribute order, arrays indexed, constants skipped', () => {
    const m = new Toy(new Rng(1));
    assert.deepEqual(
      m.namedParameters().map(([n]) => n),
      [
        'scale',
        'extras.0',
        'extras.1',
        'embed.weight',
        'blocks.0.norm.weight',
        'blocks.0.proj.weight',
        'blocks.0.proj.bias',
        'blocks.1.norm.weight',
        'blocks.1.proj.weight',
        'blocks.1.proj.bias',
      ],
    );
    assert.equal(m.numParameters(), 1 + 2 + 2 + 15 + 2 * (3 + 6 + 2));
    assert.deepEqual(m.namedModules().map(([n]) => n), ['', 'embed', 'blocks.0', 'blocks.0.norm', 'blocks.0.proj', 'blocks.1', 'blocks.1.norm', 'blocks.1.proj']);
  });

  test('a tied weight is listed once', () => {
    class Tied extends Module {
      readonly a: Linear;
      readonly b: Linear;
      constructor() {
        super();
        this.a = new Linear(2, 2, { rng: new Rng(0), bias: false });
        this.b = this.a;
      }
    }
    assert.deepEqual(new Tied().namedParameters().map(([n]) => n), ['a.weight']);
  });

  test('decoder stack: names, parameter count, init', () => {
    const d = 8;
    const f = 12;
    const stack = new DecoderStack({ dim: d, nLayers: 2, nHeads: 2, ffnHidden: f }, { rng: new Rng(2) });
    const names = stack.namedParameters().map(([n]) => n);
    assert.deepEqual(names.slice(0, 9), [
      'layers.0.attnNorm.weight',
      'layers.0.attn.wq.weight',
      'layers.0.attn.wk.weight',
      'layers.0.attn.wv.weight',
      'layers.0.attn.wo.weight',
      'layers.0.mlpNorm.weight',
      'layers.0.mlp.gate.weight',
      'layers.0.mlp.up.weight',
      'layers.0.mlp.down.weight',
    ]);
    assert.equal(names[names.length - 1], 'norm.weight');
    assert.equal(stack.numParameters(), 2 * (4 * d * d + 3 * d * f + 2 * d) + d);
    // Norm gains start at one; weights are N(0, 0.02^2): check the sample std over all matrices.
    assert.ok(stack.norm.weight.toArray().every((v) => v === 1));
    const w = stack.parameters().filter((p) => p.rank === 2).flatMap((p) => p.toArray());
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    const std = Math.sqrt(w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length);
    // std of the sample std is about sigma / sqrt(2n); 5 standard errors.
    assert.ok(Math.abs(std - 0.02) < (5 * 0.02) / Math.sqrt(2 * w.length), `init std ${std}`);
  });

  test('train/eval propagate to every submodule; zeroGrad clears grads', () => {
    const m = new Toy(new Rng(1));
    m.eval();
    assert.ok(m.namedModules().every(([, mod]) => !mod.training));
    m.train();
    assert.ok(m.namedModules().every(([, mod]) => mod.training));
    m.blocks[0].proj.forward(Tensor.ones([1, 3])).sum().backward();
    assert.notEqual(m.blocks[0].proj.weight.grad, null);
    m.zeroGrad();
    assert.ok(m.parameters().every((p) => p.grad === null));
  });
});

describe('stateDict / loadStateDict', () => {
  test('round trip copies values into the same parameter objects', () => {
    const a = new Toy(new Rng(1));
    const b = new Toy(new Rng(2));
    const before = b.parameters();
    b.loadStateDict(a.stateDict());
    assert.deepEqual(b.parameters(), before); // same objects: optimisers keep their references
    for (const [[na, pa], [nb, pb]] of a.namedParameters().map((e, i) => [e, b.namedParameters()[i]] as const)) {
      assert.equal(na, nb);
      assert.deepEqual(pb.toArray(), pa.toArray());
    }
    // Independent afterwards: changing a does not change b.
    a.blocks[0].proj.weight.assign(NDArray.zeros([3, 2]));
    assert.notDeepEqual(b.blocks[0].proj.weight.toArray(), [0, 0, 0, 0, 0, 0]);
  });

  test('missing and unexpected keys are all named; non-strict returns them', () => {
    const m = new Toy(new Rng(1));
    const dict: Record<string, Tensor> = m.stateDict();
    delete dict['scale'];
    delete dict['blocks.1.proj.bias'];
    dict['blocks.2.proj.bias'] = Tensor.zeros([2]);
    dict['foo'] = Tensor.zeros([1]);
    assert.throws(() => m.loadStateDict(dict), (e: Error) =>
      ['missing', 'scale', 'blocks.1.proj.bias', 'unexpected', 'blocks.2.proj.bias', 'foo'].every((s) => e.message.includes(s)));
    const r = m.loadStateDict(dict, { strict: false });
    assert.deepEqual(r.missing, ['scale', 'blocks.1.proj.bias']);
    assert.deepEqual(r.unexpected, ['blocks.2.proj.bias', 'foo']);
  });

  test('mis-shaped values are refused with names and shapes, even when not strict', () => {
    const m = new Toy(new Rng(1));
    const dict = m.stateDict();
    dict['embed.weight'] = Tensor.zeros([5, 4]);
    const check = (e: Error): boolean => e.message.includes('embed.weight') && e.message.includes('[5, 3]') && e.message.includes('[5, 4]');
    assert.throws(() => m.loadStateDict(dict), check);
    assert.throws(() => m.loadStateDict(dict, { strict: false }), check);
  });
});

describe('AdamW', () => {
  test('two steps match a hand computation (decay, moments, bias correction)', () => {
    const p = new Parameter(NDArray.fromData(Float64Array.from([1, -2])));
    const lr = 0.1;
    const wd = 0.1;
    const [b1, b2] = [0.9, 0.95];
    const eps = 1e-8;
    const opt = new AdamW([['w', p]], { lr, weightDecay: wd, decayFilter: () => true });
    const grads = [[0.5, -0.25], [-1, 0.75]];
    // Reference, written out per element.
    const ref = [1, -2];
    const m = [0, 0];
    const v = [0, 0];
    grads.forEach((g, s) => {
      const t = s + 1;
      for (let i = 0; i < 2; i++) {
        ref[i] *= 1 - lr * wd;
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        const mHat = m[i] / (1 - b1 ** t);
        const vHat = v[i] / (1 - b2 ** t);
        ref[i] -= (lr * mHat) / (Math.sqrt(vHat) + eps);
      }
      p.grad = Tensor.fromData(g, [2], f64);
      opt.step();
      close(p.toArray(), ref, 1e-12, `step ${t}`);
      // Step 1 in closed form: mHat = g and vHat = g^2, so p <- p (1 - lr wd) - lr sign(g).
      if (t === 1) close(p.toArray(), [1 * 0.99 - 0.1, -2 * 0.99 + 0.1], 1e-8, 'step 1 closed form');
    });
    assert.equal(opt.state().step, 2);
  });

  test('weight decay hits matrices only, not biases, gains or embeddings', () => {
    class Net extends Module {
      readonly embed = new Embedding(4, 2, { rng: new Rng(5) });
      readonly fc = new Linear(2, 3, { rng: new Rng(6) });
      readonly norm = new RMSNorm(3);
    }
    const net = new Net();
    const opt = new AdamW(net.namedParameters(), { lr: 0.5, weightDecay: 0.2 });
    assert.deepEqual(opt.decayedNames(), ['fc.weight']);
    const before = new Map(net.namedParameters().map(([n, p]) => [n, p.toArray()]));
    for (const p of net.parameters()) p.grad = Tensor.zeros(p.shape); // zero gradient: only decay moves weights
    opt.step();
    for (const [n, p] of net.namedParameters()) {
      const expected = before.get(n)!.map((x) => (n === 'fc.weight' ? x * (1 - 0.5 * 0.2) : x));
      close(p.toArray(), expected, 1e-7, n);
    }
  });

  test('the WebAssembly update gives the bits of the JavaScript loop (parameters, both moments; odd sizes, decay, special values)', () => {
    // Sizes around whole 4-lane vectors, so a spilled lane would land in the next parameter's moments.
    const sizes = [1, 3, 4, 5, 17, 1000, 2];
    const specials = [0, -0, 1e-40, -1e-40, 1e30, -1e30, 3e38, 2 ** -24, 1, -1];
    const rng = new Rng(21);
    const values = (n: number, wildEvery: number): Float32Array =>
      Float32Array.from({ length: n }, (_, i) => (i % wildEvery === 2 ? specials[(i * 3) % specials.length] : 0.3 * rng.normal()));
    const init = sizes.map((n) => values(n, 5));
    let grads = [0, 1, 2, 3, 4].map(() => sizes.map((n) => values(n, 3)));
    const run = (kernel: 'auto' | 'js'): { params: Parameter[]; opt: AdamW } => {
      const params = init.map((x) => new Parameter(NDArray.fromData(x.slice(), [x.length], 'float32')));
      const opt = new AdamW(params.map((p, i): [string, Parameter] => [`p${i}`, p]), { lr: 0.01, weightDecay: 0.1, decayFilter: (name) => name !== 'p2', kernel });
      grads.forEach((gs, step) => {
        opt.lr = 0.01 * (1 - step / 10); // a schedule: the constants change every step
        params.forEach((p, i) => { p.grad = new Tensor(NDArray.fromData(gs[i], [gs[i].length], 'float32')); });
        opt.step();
      });
      return { params, opt };
    };
    const wasm = run('auto');
    const js = run('js');
    assert.equal(wasm.opt.kernel, 'wasm', 'float32 parameters on a SIMD runtime take the kernel');
    assert.equal(js.opt.kernel, 'js');
    const bits = (x: ArrayLike<number>): number[] => Array.from(new Uint32Array(Float32Array.from(x).buffer));
    wasm.params.forEach((p, i) => assert.deepEqual(bits(p.toArray() as number[]), bits(js.params[i].toArray() as number[]), `p${i}`));
    const [sw, sj] = [wasm.opt.state(), js.opt.state()];
    for (const name of Object.keys(sj.m)) {
      assert.deepEqual(bits(sw.m[name].data), bits(sj.m[name].data), `m of ${name}`);
      assert.deepEqual(bits(sw.v[name].data), bits(sj.v[name].data), `v of ${name}`);
    }
    // A restored state goes into the kernel's moments and carries on identically (finite moments:
    // loadState refuses the infinite v that a 3e38 gradient leaves).
    grads = [0, 1].map(() => sizes.map((n) => Float32Array.from({ length: n }, () => 0.3 * rng.normal())));
    const state = run('js').opt.state();
    const again = run('auto');
    again.opt.loadState(state);
    const resumed = run('js');
    resumed.opt.loadState(state);
    for (const o of [again, resumed]) {
      o.params.forEach((p, i) => { p.grad = new Tensor(NDArray.fromData(grads[0][i], [sizes[i]], 'float32')); });
      o.opt.step();
    }
    again.params.forEach((p, i) => assert.deepEqual(bits(p.toArray() as number[]), bits(resumed.params[i].toArray() as number[]), `resumed p${i}`));
    // float64 parameters, or CALM_CPU_ACCEL=off, keep the loop.
    assert.equal(new AdamW([new Parameter(NDArray.fromData(new Float64Array(3), [3], 'float64'))], { lr: 0.1 }).kernel, 'js');
  });

  test('on the CPU the update is in place and gives the bits of the copy-and-replace path', () => {
    // The copy path is what a device backend takes: a backend object without hostStorage forces it.
    const host = cpuBackend();
    const device = Object.assign(Object.create(host) as typeof host, { hostStorage: undefined });
    const rng = new Rng(11);
    const shape = [3, 5];
    const init = Float32Array.from(rng.normalArray(15, 0, 1));
    const grads = [0, 1, 2].map(() => Float32Array.from(rng.normalArray(15, 0, 1)));
    const run = (backend: typeof host, transposed: boolean): { param: Parameter; stored: NDArray[] } => {
      const base = NDArray.fromData(init.slice(), shape, 'float32', backend);
      const param = new Parameter(transposed ? base.transpose() : base);
      const opt = new AdamW([['w', param]], { lr: 0.05, weightDecay: 0.1, decayFilter: () => true });
      const stored: NDArray[] = [];
      for (const g of grads) {
        param.grad = new Tensor(NDArray.fromData(g, param.shape, 'float32', backend));
        opt.step();
        stored.push(param.data);
      }
      return { param, stored };
    };
    const inPlace = run(host, false);
    const copied = run(device, false);
    assert.deepEqual(Array.from(inPlace.param.data.toTypedArray()), Array.from(copied.param.data.toTypedArray()));
    assert.ok(inPlace.stored.every((d) => d === inPlace.stored[0]), 'in place: the parameter keeps its array');
    assert.ok(copied.stored.every((d, i) => i === 0 || d !== copied.stored[i - 1]), 'copy path: a new array each step');
    // A non-contiguous parameter (a transposed view) has no in-place window and takes the copy path.
    const view = run(host, true);
    assert.equal(view.stored[0].isContiguous, true);
    assert.deepEqual(Array.from(view.param.data.toTypedArray()), Array.from(run(device, true).param.data.toTypedArray()));
  });

  test('parameters without gradients are left alone; state round trip', () => {
    const a = new Parameter(NDArray.fromData([1, 2]));
    const b = new Parameter(NDArray.fromData([3]));
    const opt = new AdamW([a, b], { lr: 0.1 });
    a.grad = Tensor.fromData([1, 1]);
    opt.step();
    assert.deepEqual(b.toArray(), [3]);
    const state = opt.state();
    const fresh = new AdamW([a, b], { lr: 0.1 });
    fresh.loadState(state);
    assert.deepEqual(fresh.state(), state);
    assert.throws(() => fresh.loadState({ step: 1, m: {}, v: {} }), /missing moments for param\.0, param\.1/);
  });
});

describe('schedules and clipping', () => {
  test('learning rates at specific steps', () => {
    assert.equal(constantSchedule(3e-4)(12345), 3e-4);
    const wc = warmupConstantSchedule(1, 4);
    assert.deepEqual([0, 1, 3, 4, 100].map(wc), [0.25, 0.5, 1, 1, 1]);
    const cos = warmupCosineSchedule({ lr: 1, warmupSteps: 10, totalSteps: 110, minLr: 0.1 });
    assert.equal(cos(0), 0.1);
    assert.equal(cos(9), 1);
    assert.equal(cos(10), 1);
    assert.ok(Math.abs(cos(60) - 0.55) < 1e-12); // halfway: min + (max - min) / 2
    assert.ok(Math.abs(cos(35) - (0.1 + 0.45 * (1 + Math.cos(Math.PI / 4)))) < 1e-12);
    assert.ok(Math.abs(cos(110) - 0.1) < 1e-12);
    assert.ok(Math.abs(cos(500) - 0.1) < 1e-12);
  });

  test('clipGradNorm returns the global norm and scales only above maxNorm', () => {
    const a = new Parameter(NDArray.fromData(Float64Array.from([0, 0])));
    const b = new Parameter(NDArray.fromData(Float64Array.from([0])));
    const c = new Parameter(NDArray.fromData(Float64Array.from([0]))); // no grad
    a.grad = Tensor.fromData([3, 4], [2], f64);
    b.grad = Tensor.fromData([12], [1], f64);
    assert.equal(clipGradNorm([a, b, c], 20), 13);
    assert.deepEqual(a.grad.toArray(), [3, 4]);
    assert.equal(clipGradNorm([a, b, c], 6.5), 13);
    const s = 6.5 / (13 + 1e-6);
    close([...a.grad.toArray(), ...b.grad!.toArray()], [3 * s, 4 * s, 12 * s], 1e-12);
    assert.equal(c.grad, null);
  });
});

describe('functional', () => {
  test('softmax rows sum to 1 and match a float64 reference, also for huge logits', () => {
    const rows = [[1, 2, 3, 4], [-5, 0, 5, 1000], [0, 0, 0, 0]];
    const out = softmax(Tensor.from(rows)).toArray();
    rows.forEach((r, i) => {
      const m = Math.max(...r);
      const e = r.map((x) => Math.exp(x - m));
      const z = e.reduce((s, x) => s + x, 0);
      close(out.slice(4 * i, 4 * i + 4), e.map((x) => x / z), 1e-6, `row ${i}`);
      assert.ok(Math.abs(out.slice(4 * i, 4 * i + 4).reduce((s, x) => s + x, 0) - 1) < 1e-6);
    });
  });

  test('logSoftmax matches a naive reference on random inputs (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 1e6 }), (n, v, seed) => {
        const x = Tensor.randn([n, v], new Rng(seed), { std: 5, dtype: 'float64' });
        const xs = x.toArray();
        const out = logSoftmax(x).toArray();
        for (let i = 0; i < n; i++) {
          const row = xs.slice(i * v, (i + 1) * v);
          const lse = Math.log(row.reduce((s, y) => s + Math.exp(y), 0));
          close(out.slice(i * v, (i + 1) * v), row.map((y) => y - lse), 1e-9);
        }
      }),
      { seed: 42, numRuns: 50 },
    );
  });

  test('crossEntropy equals the hand value, with ignoreIndex', () => {
    const logits = [[1, 2, 3], [1, 1, 1], [0, 0, 5]];
    const lse = (r: number[]): number => Math.log(r.reduce((s, x) => s + Math.exp(x), 0));
    const targets = new Tensor(NDArray.fromData(Int32Array.from([2, -100, 0])));
    const loss = crossEntropy(Tensor.from(logits, f64), targets, { ignoreIndex: -100 }).item();
    assert.ok(Math.abs(loss - (lse(logits[0]) - 3 + lse(logits[2]) - 0) / 2) < 1e-12);
    const all = crossEntropy(Tensor.from(logits, f64), new Tensor(NDArray.fromData(Int32Array.from([2, 1, 0])))).item();
    assert.ok(Math.abs(all - (lse(logits[0]) - 3 + lse(logits[1]) - 1 + lse(logits[2])) / 3) < 1e-12);
    assert.throws(() => crossEntropy(Tensor.from(logits), new Tensor(NDArray.fromData(Int32Array.from([3, 0, 0])))), /target 3 at row 0/);
    // All ignored: zero loss, zero gradients.
    const x = Tensor.from(logits, { requiresGrad: true });
    const none = crossEntropy(x, new Tensor(NDArray.fromData(Int32Array.from([-1, -1, -1]))), { ignoreIndex: -1 });
    assert.equal(none.item(), 0);
    none.backward();
    assert.ok(x.grad!.toArray().every((g) => g === 0));
  });

  test('Dropout: identity in eval; in training drops about p and rescales survivors', () => {
    const n = 20000;
    const p = 0.3;
    const drop = new Dropout(p, new Rng(9));
    const x = Tensor.ones([n]);
    assert.equal(drop.eval().forward(x), x);
    const y = drop.train().forward(x).toArray();
    const zeros = y.filter((v) => v === 0).length;
    assert.ok(y.every((v) => v === 0 || Math.abs(v - 1 / (1 - p)) < 1e-6));
    const se = Math.sqrt((p * (1 - p)) / n);
    assert.ok(Math.abs(zeros / n - p) < 5 * se, `dropped fraction ${zeros / n}`);
  });

  test('LayerNorm output has zero mean and unit variance per row at init', () => {
    const y = new LayerNorm(6, 1e-6).forward(Tensor.randn([3, 6], new Rng(4), { std: 3, dtype: 'float64' }).cast('float32')).toArray();
    for (let i = 0; i < 3; i++) {
      const r = y.slice(6 * i, 6 * i + 6);
      const mean = r.reduce((s, v) => s + v, 0) / 6;
      const variance = r.reduce((s, v) => s + (v - mean) ** 2, 0) / 6;
      assert.ok(Math.abs(mean) < 1e-5 && Math.abs(variance - 1) < 1e-4, `row ${i}: mean ${mean}, var ${variance}`);
    }
  });

  test('every nn gradcheck case passes', () => {
    const failures: string[] = [];
    for (const c of nnCompositeCases()) {
      const r = gradcheck(c.fn, c.inputs);
      if (!r.ok) failures.push(`${c.op} ${c.label}: ${r.message}`);
    }
    assert.deepEqual(failures, []);
  });
});

describe('attention', () => {
  test('RoPE preserves norms and q_m . k_n depends only on m - n', () => {
    const rope = new RotaryEmbedding(8, { dtype: 'float64' });
    const rng = new Rng(11);
    const q = Tensor.randn([1, 1, 1, 8], rng, f64);
    const k = Tensor.randn([1, 1, 1, 8], rng, f64);
    const norm = (t: Tensor): number => Math.sqrt(t.toArray().reduce((s, v) => s + v * v, 0));
    const seq = Tensor.randn([1, 2, 40, 8], rng, f64);
    const rotated = rope.forward(seq, 3).toArray();
    const raw = seq.toArray();
    for (let r = 0; r < 80; r++) {
      const n0 = Math.hypot(...raw.slice(8 * r, 8 * r + 8));
      const n1 = Math.hypot(...rotated.slice(8 * r, 8 * r + 8));
      assert.ok(Math.abs(n0 - n1) < 1e-12);
    }
    const dot = (m: number, n: number): number => {
      const a = rope.forward(q, m).toArray();
      const b = rope.forward(k, n).toArray();
      return a.reduce((s, v, i) => s + v * b[i], 0);
    };
    assert.ok(Math.abs(norm(rope.forward(q, 17)) - norm(q)) < 1e-12);
    for (const [m, n, shift] of [[5, 2, 7], [0, 3, 30], [9, 9, 100]]) {
      assert.ok(Math.abs(dot(m, n) - dot(m + shift, n + shift)) < 1e-10, `(${m}, ${n}) vs shift ${shift}`);
    }
    assert.ok(Math.abs(dot(5, 2) - dot(2, 5)) > 1e-6); // it does depend on the sign of m - n
  });

  test('causal: outputs before t ignore inputs from t on', () => {
    const attn = new CausalSelfAttention(8, 2, { rng: new Rng(12), dtype: 'float64' });
    const rng = new Rng(13);
    const x = Tensor.randn([2, 5, 8], rng, f64);
    const noise = Tensor.randn([2, 2, 8], rng, f64).pad([[0, 0], [3, 0], [0, 0]]); // perturbs positions 3, 4
    const a = noGrad(() => attn.forward(x)).toArray();
    const b = noGrad(() => attn.forward(x.add(noise))).toArray();
    for (let batch = 0; batch < 2; batch++) {
      for (let t = 0; t < 5; t++) {
        const row = (arr: number[]): number[] => arr.slice((batch * 5 + t) * 8, (batch * 5 + t + 1) * 8);
        const diff = Math.max(...row(a).map((v, i) => Math.abs(v - row(b)[i])));
        if (t < 3) assert.ok(diff < 1e-15, `position ${t} changed by ${diff}`);
        else assert.ok(diff > 1e-6, `position ${t} did not change`);
      }
    }
  });

  test('generation with the KV cache equals the full forward pass', () => {
    const stack = new DecoderStack({ dim: 16, nLayers: 2, nHeads: 4, ffnHidden: 24 }, { rng: new Rng(14) });
    // Bigger weights than the init so attention is far from uniform and errors would show.
    const rng = new Rng(15);
    const dict: Record<string, Tensor> = {};
    for (const [n, p] of stack.namedParameters()) dict[n] = Tensor.randn(p.shape, rng, { std: p.rank === 2 ? 0.3 : 1 });
    stack.loadStateDict(dict);
    const x = Tensor.randn([2, 7, 16], rng); // [B, T, d]
    const full = noGrad(() => stack.forward(x)).toArray();
    const caches = stack.newCache();
    const parts = noGrad(() => [
      stack.forward(x.sliceAxis(1, 0, 3), { caches }), // prefill 3 positions
      ...[3, 4, 5, 6].map((t) => stack.forward(x.sliceAxis(1, t, t + 1), { caches })),
    ]);
    const stepped = Tensor.concat(parts, 1).toArray();
    close(stepped, full, 1e-5, 'cached vs full');
    assert.equal(caches[0].length, 7);
    assert.throws(() => stack.forward(x.sliceAxis(1, 0, 1), { caches, startPos: 2 }), /startPos 2 differs from the cache length 7/);
  });

  test('SwiGLU is W_down(SiLU(W_gate x) * W_up x)', () => {
    const mlp = new SwiGLU(2, 3, { rng: new Rng(16), dtype: 'float64' });
    const x = [0.5, -1.5];
    const g = mlp.gate.weight.toArray();
    const u = mlp.up.weight.toArray();
    const dn = mlp.down.weight.toArray();
    const h = [0, 1, 2].map((j) => {
      const a = x[0] * g[j] + x[1] * g[3 + j];
      const b = x[0] * u[j] + x[1] * u[3 + j];
      return (a / (1 + Math.exp(-a))) * b;
    });
    const expected = [0, 1].map((o) => h[0] * dn[o] + h[1] * dn[2 + o] + h[2] * dn[4 + o]);
    close(mlp.forward(Tensor.from([x], f64)).toArray(), expected, 1e-15);
  });
});

describe('checkpoint', () => {
  test('save and load round trip: model, optimiser state, extra; training continues identically', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calm-nn-test-'));
    try {
      const config = { dim: 8, nLayers: 1, nHeads: 2, ffnHidden: 8 };
      const model = new DecoderStack(config, { rng: new Rng(20) });
      const opt = new AdamW(model.namedParameters(), { lr: 1e-2 });
      const x = Tensor.randn([1, 3, 8], new Rng(21));
      const trainStep = (m: DecoderStack, o: AdamW): void => {
        o.zeroGrad();
        m.forward(x).square().mean().backward();
        o.step();
      };
      trainStep(model, opt);
      const rng = new Rng(22);
      rng.normal();
      const extra: JsonValue = { step: 1, rng: { s: [...rng.getState().s], spareNormal: rng.getState().spareNormal }, note: 'hi' };
      saveCheckpoint(dir, { model, optimizer: opt, extra });
      assert.deepEqual(fs.readdirSync(dir).sort(), ['model.safetensors', 'optimizer.safetensors', 'state.json']);

      const model2 = new DecoderStack(config, { rng: new Rng(99) });
      const opt2 = new AdamW(model2.namedParameters(), { lr: 1e-2 });
      const loaded = loadCheckpoint(dir, { model: model2, optimizer: opt2 });
      assert.deepEqual(loaded.extra, extra);
      assert.deepEqual(opt2.state(), opt.state());
      for (const [[, a], [, b]] of model.namedParameters().map((e, i) => [e, model2.namedParameters()[i]] as const)) {
        assert.deepEqual(b.toArray(), a.toArray());
      }
      trainStep(model, opt);
      trainStep(model2, opt2); // the optimiser still updates model2's (loaded) parameters
      for (const [[n, a], [, b]] of model.namedParameters().map((e, i) => [e, model2.namedParameters()[i]] as const)) {
        assert.deepEqual(b.toArray(), a.toArray(), n);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('loading from a directory without a checkpoint names the path', () => {
    assert.throws(() => loadCheckpoint('/nonexistent/calm-ckpt'), /\/nonexistent\/calm-ckpt\/state\.json/);
  });
});
