/**
 * Fuzzing the public Tensor API with fast-check: random sequences of ops on a pool of tensors, with valid
 * and invalid arguments (bad axes, mismatched shapes, wrong dtypes, non-tensor operands, bad dtype
 * strings). Every call must either return a Tensor whose data matches its shape, or throw an Error with a
 * message — never an internal TypeError such as "Cannot read properties of undefined".
 * Values are checked against the cpu backend: the same sequence replayed on gpujs-cpu must give the same
 * shapes, the same outcome (result or error) and close values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Tensor } from '../src/autograd/tensor.js';
import type { Backend } from '../src/tensor/backend.js';
import { setBackend } from '../src/tensor/device.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { unitValuesArb } from './support/arbitraries.js';
import { openTestBackends } from './support/backends.js';

type Outcome = { shape: number[]; dtype: string; values: number[] } | { error: string };

/** One fuzzed call: `a` and `b` index the pool; the numbers parameterise the op (axes, shapes, dtypes). */
interface Call {
  op: number;
  a: number;
  b: number;
  n: number[];
}

const DTYPES = ['float32', 'int32', 'float16', 'bogus'] as const;
const OPERANDS: unknown[] = [2, -0.5, '3', null, undefined, {}, [1, 2]];

/** Applies call `c` to `pool` (new results are appended); returns what happened. */
function apply(pool: Tensor[], c: Call): Outcome {
  const x = pool[c.a % pool.length];
  const y = pool[c.b % pool.length];
  const [n0, n1, n2] = c.n;
  const axis = n0 - 3; // in [-3, 4]: sometimes out of range
  const ops: [string, () => Tensor][] = [
    ['add', () => x.add(y)],
    ['mul', () => x.mul(y)],
    ['sub scalar', () => x.sub(n1 - 2)],
    ['div', () => x.div(y)],
    ['maximum', () => x.maximum(y)],
    ['add operand', () => x.add(OPERANDS[n1 % OPERANDS.length] as never)],
    ['matmul', () => x.matmul(y)],
    ['exp', () => x.exp()],
    ['tanh', () => x.tanh()],
    ['abs', () => x.abs()],
    ['neg', () => x.neg()],
    ['sum', () => x.sum(axis, n1 % 2 === 0)],
    ['mean', () => x.mean(axis)],
    ['max', () => x.max(axis)],
    ['argmax', () => x.argmax(axis)],
    ['reshape', () => x.reshape([n1 - 1, n2 + 1])],
    ['reshape -1', () => x.reshape([-1, n1 + 1])],
    ['transpose', () => x.transpose(axis, n1 - 3)],
    ['permute', () => x.permute([n0 % 3, n1 % 3, n2 % 3].slice(0, x.rank))],
    ['unsqueeze', () => x.unsqueeze(axis)],
    ['squeeze', () => x.squeeze(axis)],
    ['sliceAxis', () => x.sliceAxis(axis, n1 - 1, n2)],
    ['flatten', () => x.flatten()],
    ['cast', () => x.cast(DTYPES[n1 % DTYPES.length] as never)],
    ['concat', () => Tensor.concat([x, y], axis)],
    ['stack', () => Tensor.stack([x, y], axis)],
    ['where', () => Tensor.where(x.gt(0), x, y)],
    ['broadcastTo', () => x.broadcastTo([n1 + 1, ...x.shape])],
    ['oneHot', () => Tensor.oneHot(x.cast('int32'), n1 + 1)],
    ['zeros dtype', () => Tensor.zeros([n1], DTYPES[n2 % DTYPES.length] as never)],
    ['pow', () => x.abs().add(1).pow(n1 % 3)],
    ['softmax-ish', () => x.sub(x.max(-1, true)).exp()],
  ];
  const [name, fn] = ops[c.op % ops.length];
  try {
    const out = fn();
    assert.ok(out instanceof Tensor, `${name} returned ${String(out)}`);
    pool.push(out);
    if (pool.length > 12) pool.splice(3, 1);
    const values = Array.from(out.toTypedArray());
    assert.equal(values.length, out.shape.reduce((p, d) => p * d, 1), `${name}: ${values.length} values for shape [${out.shape.join(', ')}]`);
    return { shape: [...out.shape], dtype: out.dtype, values };
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assert.ok(err instanceof Error, `${name} threw a non-Error: ${String(err)}`);
    // A clear error: not the engine tripping over its own undefined, and long enough to say something.
    assert.doesNotMatch(err.message, /Cannot read propert|undefined is not|is not a function|is not iterable|Invalid typed array length|Maximum call stack/, `${name} failed inside the engine: ${err.message}`);
    assert.ok(err.message.length > 10, `${name}: message too short: ${err.message}`);
    return { error: err.constructor.name };
  }
}

/**
 * A fresh pool: tensors of ranks 0-3, float32 and int32, with some shared sizes so that many pairs fit.
 * Their values are `values` (in [0, 1], from fast-check) cycled and scaled to [-3, 3], each tensor starting
 * at another place in the cycle.
 */
function pool(values: readonly number[]): Tensor[] {
  const shapes = [[], [3], [2, 3], [3, 2], [2, 1, 3], [1, 3]];
  return shapes.map((shape, i) => {
    const size = shape.reduce((p, d) => p * d, 1);
    const data = Float32Array.from({ length: size }, (_, j) => -3 + 6 * values[(7 * i + j) % values.length]);
    const t = new Tensor(NDArray.fromData(data, shape, 'float32'));
    return i === 5 ? t.cast('int32') : t;
  });
}

const callArb = fc.record({ op: fc.nat(200), a: fc.nat(50), b: fc.nat(50), n: fc.tuple(fc.nat(7), fc.nat(7), fc.nat(7)) });
const programArb = fc.record({ values: unitValuesArb, calls: fc.array(callArb, { minLength: 1, maxLength: 12 }) });

function run(backend: Backend, program: { values: number[]; calls: Call[] }): Outcome[] {
  const previous = setBackend(backend);
  try {
    const p = pool(program.values);
    return program.calls.map((c) => apply(p, c));
  } finally {
    setBackend(previous);
  }
}

const backends = await openTestBackends();
const cpu = backends.find((b) => b.name === 'cpu');
const gpu = backends.find((b) => b.name === 'gpujs-cpu');

test('fuzz: random op sequences on cpu return consistent tensors or throw clear errors', { skip: cpu?.skip ?? false }, (t) => {
  let results = 0;
  let errors = 0;
  fc.assert(
    fc.property(programArb, (program) => {
      for (const o of run(cpu?.backend as Backend, program)) if ('error' in o) errors++; else results++;
    }),
    { numRuns: 400, seed: 13 },
  );
  // Both paths must be exercised, or the fuzzer tests nothing.
  t.diagnostic(`${results} calls returned a tensor, ${errors} threw`);
  assert.ok(results > 500 && errors > 300, `${results} results, ${errors} errors`);
});

test('fuzz: gpujs-cpu agrees with cpu on outcomes, shapes and values', { skip: gpu?.skip ?? false }, () => {
  fc.assert(
    fc.property(programArb, (program) => {
      const want = run(cpu?.backend as Backend, program);
      const got = run(gpu?.backend as Backend, program);
      for (let i = 0; i < want.length; i++) {
        const w = want[i];
        const g = got[i];
        if ('error' in w || 'error' in g) {
          assert.deepEqual(g, w, `call ${i}: outcomes differ`);
          continue;
        }
        assert.deepEqual(g.shape, w.shape, `call ${i}: shapes differ`);
        assert.equal(g.dtype, w.dtype);
        for (let j = 0; j < w.values.length; j++) {
          const [a, b] = [w.values[j], g.values[j]];
          if (Number.isNaN(a) || Number.isNaN(b) || !Number.isFinite(a) || Math.abs(a) > 1e30) continue; // overflow edges are backend-specific
          assert.ok(Math.abs(a - b) <= 1e-4 + 1e-4 * Math.abs(a), `call ${i}: value ${j} is ${b}, cpu says ${a}`);
        }
      }
    }),
    { numRuns: 60, seed: 17 },
  );
});
