import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DIFFERENTIABLE_OPS, grad, gradcheck, noGrad, Tensor } from '../src/autograd/index.js';
import { allCases } from '../scripts/gradcheck-cases.js';
import { profile } from '../src/tensor/profile.js';
import { Rng } from '../src/tensor/random.js';

const f64 = { dtype: 'float64' as const };

describe('gradcheck list', () => {
  test('every primitive with a backward rule has at least one gradcheck case', () => {
    const covered = new Set(allCases().map((c) => c.op));
    const missing = DIFFERENTIABLE_OPS.filter((op) => !covered.has(op));
    assert.deepEqual(missing, [], `ops without gradcheck cases: ${missing.join(', ')}`);
  });

  test('every gradcheck case passes', () => {
    const failures: string[] = [];
    for (const c of allCases()) {
      const r = gradcheck(c.fn, c.inputs, c.options);
      if (!r.ok) failures.push(`${c.op} ${c.label}: ${r.message}`);
    }
    assert.deepEqual(failures, []);
  });

  test('gradcheck detects a wrong gradient', () => {
    // A deliberately wrong backward: d/dx of x*x reported as x (should be 2x).
    const x = Tensor.fromData([0.5, -1.5, 2], [3], f64);
    const wrong = (t: Tensor): Tensor => t.detach().mul(t).add(t.detach().mul(t.detach()).mul(0));
    const r = gradcheck(wrong, [x]);
    assert.equal(r.ok, false);
  });
});

describe('backward', () => {
  test('gradients accumulate across uses and across calls', () => {
    const x = Tensor.fromData([1, 2, 3], [3], { dtype: 'float64', requiresGrad: true });
    const y = x.mul(x).add(x).sum(); // dy/dx = 2x + 1
    y.backward();
    assert.deepEqual(x.grad!.toArray(), [3, 5, 7]);
    x.mul(2).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [5, 7, 9]);
  });

  test('second derivative of tanh through createGraph', () => {
    const values = [-1.3, -0.2, 0, 0.7, 2.1];
    const x = Tensor.fromData(values, [5], { dtype: 'float64', requiresGrad: true });
    const [dx] = grad(x.tanh().sum(), [x], { createGraph: true });
    const [d2x] = grad(dx!.sum(), [x]);
    const expected = values.map((v) => -2 * Math.tanh(v) * (1 - Math.tanh(v) ** 2));
    d2x!.toArray().forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-12, `x=${values[i]}: ${v} vs ${expected[i]}`));
  });

  test('a 10000-op chain does not overflow the stack', () => {
    const x = Tensor.fromData([1], [1], { dtype: 'float64', requiresGrad: true });
    let y = x;
    for (let i = 0; i < 10000; i++) y = y.mul(1.0001);
    y.sum().backward();
    assert.ok(Math.abs(x.grad!.item() - 1.0001 ** 10000) < 1e-9);
  });

  test('residual graphs cost linear time (60 doubling layers finish)', () => {
    // y_{k+1} = y_k + 0.5 y_k: a per-edge recursive backward would take 2^60 steps.
    const x = Tensor.fromData([1], [1], { dtype: 'float64', requiresGrad: true });
    let y = x;
    for (let i = 0; i < 60; i++) y = y.add(y.mul(0.5));
    y.sum().backward();
    assert.ok(Math.abs(x.grad!.item() / 1.5 ** 60 - 1) < 1e-12);
  });

  test('noGrad records nothing and detach cuts the graph', () => {
    const x = Tensor.fromData([1, 2], [2], { requiresGrad: true });
    const y = noGrad(() => x.mul(3));
    assert.equal(y.requiresGrad, false);
    assert.equal(y.gradFn, null);
    assert.equal(x.mul(2).detach().requiresGrad, false);
  });

  test('no gradient flows through the condition of where', () => {
    const c = Tensor.fromData([1, 0, 1], [3], { requiresGrad: true });
    const a = Tensor.fromData([1, 2, 3], [3], { requiresGrad: true });
    Tensor.where(c, a, 0).sum().backward();
    assert.equal(c.grad, null);
    assert.deepEqual(a.grad!.toArray(), [1, 0, 1]);
  });

  test('broadcast gradients are summed back to the input shape', () => {
    const a = Tensor.fromData([1, 2, 3], [3, 1], { dtype: 'float64', requiresGrad: true });
    const b = Tensor.fromData([10, 20], [2], { dtype: 'float64', requiresGrad: true });
    a.mul(b).sum().backward(); // out[i, j] = a_i b_j
    assert.deepEqual(a.grad!.shape, [3, 1]);
    assert.deepEqual(a.grad!.toArray(), [30, 30, 30]);
    assert.deepEqual(b.grad!.toArray(), [6, 6]);
  });

  test('backward on a non-scalar needs a seed and says so', () => {
    const x = Tensor.fromData([1, 2], [2], { requiresGrad: true });
    assert.throws(() => x.mul(2).backward(), /seed is needed for non-scalar output of shape \[2\]/);
  });

  test('int tensors cannot require gradients', () => {
    assert.throws(() => Tensor.fromData([1], [1], { dtype: 'int32', requiresGrad: true }), /only float tensors/);
  });
});

describe('inputs that need no gradient cost no backward work', () => {
  // The engine passes each rule which inputs require gradients (PyTorch's needs_input_grad); a rule
  // must not run the kernels of the others. Counted with the op profiler, phase 'backward'.
  const backwardCalls = (fn: () => void): Map<string, number> => {
    const { report } = profile(fn);
    const calls = new Map<string, number>();
    for (const s of report.stats) if (s.phase === 'backward') calls.set(s.op, (calls.get(s.op) ?? 0) + s.calls);
    return calls;
  };
  const rng = new Rng(21);
  const x = Tensor.randn([3, 4], rng).requireGrad();
  const constant = Tensor.randn([3, 4], rng);
  const weight = Tensor.randn([4, 5], rng);
  const cases: [string, () => Tensor, string, number][] = [
    ['mul by a constant', () => x.mul(constant), 'mul', 1],
    ['matmul with a constant weight', () => x.matmul(weight), 'matmul', 1],
    ['constant @ x', () => weight.transpose().matmul(x.transpose()), 'matmul', 1],
    ['x - constant (no negation)', () => x.sub(constant), 'neg', 0],
    ['x / constant', () => x.div(constant), 'div', 1],
    ['x ** constant (no log of x)', () => x.pow(constant.abs()), 'log', 0],
    ['where(mask, x, constant)', () => Tensor.where(constant.gt(0), x, constant), 'where', 1],
    ['maximum(x, constant) (no weight for the constant)', () => x.maximum(constant), 'neg', 0],
  ];
  for (const [label, build, op, expected] of cases) {
    test(label, () => {
      const out = build();
      const calls = backwardCalls(() => out.sum().backward());
      assert.equal(calls.get(op) ?? 0, expected, `${op} backward calls`);
      x.grad = null;
    });
  }
  test('both operands requiring gradients still get both', () => {
    const y = Tensor.randn([3, 4], rng).requireGrad();
    const [gx, gy] = grad(x.mul(y).sum(), [x, y]);
    assert.deepEqual(gx!.toTypedArray(), y.toTypedArray());
    assert.deepEqual(gy!.toTypedArray(), x.toTypedArray());
  });
});
