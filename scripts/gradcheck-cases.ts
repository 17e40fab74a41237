/**
 * The gradient-check list: every differentiable primitive (and, as later layers add them, every
 * composite) with inputs that exercise broadcasting, size-1 and size-0 axes and non-contiguous views.
 * `npm run gradcheck` runs them all; a unit test checks that no primitive is missing.
 */
import { Tensor, type GradcheckOptions } from '../src/autograd/index.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { UNARY, UNARY_OPS } from '../src/tensor/ops/index.js';
import { Rng } from '../src/tensor/random.js';
import { sizeOf, type Shape } from '../src/tensor/shape.js';
import { nnCompositeCases } from './gradcheck-cases-nn.js';
import { calmCases } from './gradcheck-cases-calm.js';

export interface GradcheckCase {
  /** The op under test: a primitive name from DIFFERENTIABLE_OPS, or a composite's name. */
  op: string;
  /** What this case exercises (shapes, views). */
  label: string;
  inputs: NDArray[];
  fn: (...xs: Tensor[]) => Tensor;
  /** Overrides of the default tolerances, each with its reason in the case list. */
  options?: GradcheckOptions;
}

// Each builder restarts this stream, so two calls give identical cases (test/backends.test.ts builds
// the list once per backend and compares against the cpu list).
let rng = new Rng(20251127);

/** float64 values uniform in [lo, hi), optionally pushed away from zero by `gap`. */
function rand(shape: Shape, lo = -1, hi = 1, gap = 0): NDArray {
  const n = sizeOf(shape);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v = rng.uniformIn(lo, hi);
    if (gap > 0 && Math.abs(v) < gap) v = v < 0 ? v - gap : v + gap;
    data[i] = v;
  }
  return NDArray.fromData(data, shape);
}

function ints(values: number[], shape?: Shape): Tensor {
  return new Tensor(NDArray.fromData(Int32Array.from(values), shape ?? [values.length]));
}


/**
 * The primitive cases. Arrays (inputs, constants) are created on the current backend
 * (`withBackend`), and the values are the same on every call.
 */
export function primitiveCases(): GradcheckCase[] {
  rng = new Rng(20251127);
  const cases: GradcheckCase[] = [];
  // One set per unary entry of the op table, over the input range the entry gives (its `gradcheck`).
  for (const op of UNARY_OPS) {
    const [lo, hi, gap] = UNARY[op].gradcheck;
    const f = (x: Tensor): Tensor => x.unary(op);
    cases.push({ op, label: '[3, 4]', inputs: [rand([3, 4], lo, hi, gap)], fn: f });
    cases.push({ op, label: '[4, 3] transposed view', inputs: [rand([4, 3], lo, hi, gap)], fn: (x) => f(x.transpose()) });
    cases.push({ op, label: '[2, 0, 3] empty', inputs: [rand([2, 0, 3], lo, hi, gap)], fn: f });
    cases.push({ op, label: '[] scalar', inputs: [rand([], lo, hi, gap)], fn: f });
  }

  const binaries: [string, (a: Tensor, b: Tensor) => Tensor, [number, number, number], [number, number, number]][] = [
    ['add', (a, b) => a.add(b), [-2, 2, 0], [-2, 2, 0]],
    ['sub', (a, b) => a.sub(b), [-2, 2, 0], [-2, 2, 0]],
    ['mul', (a, b) => a.mul(b), [-2, 2, 0], [-2, 2, 0]],
    ['div', (a, b) => a.div(b), [-2, 2, 0], [0.5, 2, 0]],
    ['pow', (a, b) => a.pow(b), [0.3, 2, 0], [-1.5, 2, 0]],
    ['maximum', (a, b) => a.maximum(b), [-2, 2, 0], [-2, 2, 0]],
    ['minimum', (a, b) => a.minimum(b), [-2, 2, 0], [-2, 2, 0]],
  ];
  for (const [op, f, da, db] of binaries) {
    cases.push({ op, label: '[2, 3] x [2, 3]', inputs: [rand([2, 3], ...da), rand([2, 3], ...db)], fn: f });
    cases.push({ op, label: '[2, 1, 3] x [4, 1] broadcast', inputs: [rand([2, 1, 3], ...da), rand([4, 1], ...db)], fn: f });
    cases.push({ op, label: '[3] x [] scalar', inputs: [rand([3], ...da), rand([], ...db)], fn: f });
    cases.push({ op, label: '[0, 3] x [1, 3] empty', inputs: [rand([0, 3], ...da), rand([1, 3], ...db)], fn: f });
    cases.push({ op, label: '[3, 2]^T x [2, 3] view', inputs: [rand([3, 2], ...da), rand([2, 3], ...db)], fn: (a, b) => f(a.transpose(), b) });
  }
  // Negative bases with integer exponents: the exponent is a constant here.
  cases.push({
    op: 'pow',
    label: 'negative base ^ [2, 3]',
    inputs: [rand([2, 2], -2, -0.5)],
    fn: (a) => a.pow(Tensor.fromData([2, 3, 2, 3], [2, 2], { dtype: 'float64' })),
  });

  cases.push({
    op: 'where',
    label: 'cond [2, 3] broadcast branches [3] and [2, 1]',
    inputs: [rand([3]), rand([2, 1])],
    fn: (a, b) => Tensor.where(Tensor.fromData([1, 0, 1, 0, 0, 1], [2, 3], { dtype: 'float64' }), a, b),
  });
  cases.push({ op: 'where', label: 'scalar branch', inputs: [rand([2, 2])], fn: (a) => Tensor.where(a.gt(0), a, 0.5) });

  for (const op of ['sum', 'max', 'min'] as const) {
    const r = (x: Tensor, axes?: number | number[], keep = false): Tensor => (op === 'sum' ? x.sum(axes, keep) : op === 'max' ? x.max(axes, keep) : x.min(axes, keep));
    cases.push({ op, label: '[2, 3, 4] all axes', inputs: [rand([2, 3, 4])], fn: (x) => r(x) });
    cases.push({ op, label: '[2, 3, 4] axes [0, 2] keepdims', inputs: [rand([2, 3, 4])], fn: (x) => r(x, [0, 2], true) });
    cases.push({ op, label: '[3, 4]^T axis -1', inputs: [rand([3, 4])], fn: (x) => r(x.transpose(), -1) });
    cases.push({ op, label: '[1, 5] axis 0 (size 1)', inputs: [rand([1, 5])], fn: (x) => r(x, 0) });
  }
  cases.push({ op: 'sum', label: '[2, 0] axis 1 (empty)', inputs: [rand([2, 0])], fn: (x) => x.sum(1) });

  cases.push({ op: 'matmul', label: '[3, 4] @ [4, 2]', inputs: [rand([3, 4]), rand([4, 2])], fn: (a, b) => a.matmul(b) });
  cases.push({ op: 'matmul', label: '[2, 1, 3, 4] @ [5, 4, 2] batch broadcast', inputs: [rand([2, 1, 3, 4]), rand([5, 4, 2])], fn: (a, b) => a.matmul(b) });
  cases.push({ op: 'matmul', label: '[4] @ [4, 3] vector', inputs: [rand([4]), rand([4, 3])], fn: (a, b) => a.matmul(b) });
  cases.push({ op: 'matmul', label: '[3, 4]^T @ [3, 2]^T...', inputs: [rand([4, 3]), rand([2, 4])], fn: (a, b) => a.transpose().matmul(b.transpose()) });
  cases.push({ op: 'matmul', label: '[2, 0] @ [0, 3] (k = 0)', inputs: [rand([2, 0]), rand([0, 3])], fn: (a, b) => a.matmul(b) });

  cases.push({ op: 'reshape', label: '[2, 3, 2] -> [3, 4]', inputs: [rand([2, 3, 2])], fn: (x) => x.reshape([3, 4]).mul(x.reshape([3, 4])) });
  cases.push({ op: 'reshape', label: 'transposed [3, 4] -> [12] (copy)', inputs: [rand([3, 4])], fn: (x) => x.transpose().reshape([-1]).exp() });
  cases.push({ op: 'permute', label: '[2, 3, 4] -> [2, 0, 1]', inputs: [rand([2, 3, 4])], fn: (x) => x.permute([2, 0, 1]).sin() });
  cases.push({ op: 'expand', label: '[3, 1] -> [3, 4]', inputs: [rand([3, 1])], fn: (x) => x.expand([3, 4]).mul(Tensor.fromData([1, 2, 3, 4], [4], { dtype: 'float64' })) });
  cases.push({ op: 'expand', label: '[1, 1] -> [2, 0] (empty)', inputs: [rand([1, 1])], fn: (x) => x.expand([2, 0]) });
  cases.push({ op: 'slice', label: '[5, 4] [1:4:2, ::3]', inputs: [rand([5, 4])], fn: (x) => x.slice([{ start: 1, stop: 4, step: 2 }, { step: 3 }]).exp() });
  cases.push({ op: 'slice', label: '[4, 3] [-2:, 5:] (empty)', inputs: [rand([4, 3])], fn: (x) => x.slice([{ start: -2 }, { start: 5 }]) });
  cases.push({ op: 'unslice', label: 'pad [2, 3] by [[1, 0], [2, 1]]', inputs: [rand([2, 3])], fn: (x) => x.pad([[1, 0], [2, 1]]).exp() });
  cases.push({ op: 'unslice', label: 'strided [2, 2] into [5, 4]', inputs: [rand([2, 2])], fn: (x) => x.unslice([5, 4], [1, 0], [2, 3]).sin() });
  cases.push({ op: 'gather', label: '[5, 3] rows [4, 0, 4, 2]', inputs: [rand([5, 3])], fn: (x) => x.gather(ints([4, 0, 4, 2]), 0).exp() });
  cases.push({ op: 'gather', label: '[2, 4] axis 1 indices [2, 2]', inputs: [rand([2, 4])], fn: (x) => x.gather(ints([3, 1, 1, 0], [2, 2]), 1) });
  cases.push({ op: 'scatterAdd', label: '[4, 3] into 5 rows, repeats', inputs: [rand([4, 3])], fn: (x) => x.scatterAdd(ints([1, 3, 1, 0]), 0, 5).exp() });
  cases.push({ op: 'concat', label: '[2, 3] ++ [4, 3] axis 0', inputs: [rand([2, 3]), rand([4, 3])], fn: (a, b) => Tensor.concat([a, b], 0).sin() });
  cases.push({ op: 'concat', label: '[2, 1] ++ [2, 0] ++ [2, 2] axis 1', inputs: [rand([2, 1]), rand([2, 0]), rand([2, 2])], fn: (a, b, c) => Tensor.concat([a, b, c], 1).exp() });
  // A float32 round trip quantises x to steps of ~6e-8, so the finite-difference step must be far
  // larger than that for the difference quotient to see the slope (eps 1e-3: quantisation error ~1e-4 relative).
  cases.push({ op: 'cast', label: 'float64 -> float32 -> float64', inputs: [rand([3], -1, 1)], fn: (x) => x.cast('float32').cast('float64'), options: { eps: 1e-3 } });
  cases.push({ op: 'contiguous', label: 'transposed [3, 2]', inputs: [rand([3, 2])], fn: (x) => x.transpose().contiguous().exp() });
  return cases;
}

/** Composites built from primitives in this layer (mean, stack, split, tril, ...). */
export function engineCompositeCases(): GradcheckCase[] {
  rng = new Rng(20251130);
  return [
    { op: 'mean', label: '[3, 4] axis 1', inputs: [rand([3, 4])], fn: (x) => x.mean(1) },
    { op: 'stack', label: '3 x [2, 2] axis 1', inputs: [rand([2, 2]), rand([2, 2]), rand([2, 2])], fn: (a, b, c) => Tensor.stack([a, b, c], 1).exp() },
    { op: 'split', label: '[5, 2] into [2, 3]', inputs: [rand([5, 2])], fn: (x) => { const [p, q] = x.split([2, 3], 0); return p.sum().mul(q.exp().sum()); } },
    { op: 'tril', label: '[2, 3, 3] k=0', inputs: [rand([2, 3, 3])], fn: (x) => x.tril().exp() },
    { op: 'triu', label: '[3, 4] k=1', inputs: [rand([3, 4])], fn: (x) => x.triu(1).exp() },
    { op: 'variance', label: '[3, 5] axis 1', inputs: [rand([3, 5])], fn: (x) => x.variance(1) },
  ];
}

/**
 * Every case, across all layers. Module parameters and constants are created on the current
 * backend, so `withBackend(b, allCases)` gives a list that runs on `b`; values are identical on
 * every call (each builder restarts its seeded stream).
 */
export function allCases(): GradcheckCase[] {
  return [...primitiveCases(), ...engineCompositeCases(), ...nnCompositeCases(), ...calmCases()];
}
