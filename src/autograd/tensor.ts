/**
 * `Tensor`: the differentiable array.
 *
 * A Tensor wraps an {@link NDArray} and, when it was computed from tensors that require gradients,
 * remembers how (`gradFn`). Every differentiable primitive is defined once, below, with its forward
 * computation and its backward rule side by side. Backward rules are written with Tensor ops, so
 * they are themselves differentiable and second derivatives work.
 *
 * Broadcasting is undone in exactly one place: binary ops broadcast their inputs with `expand`,
 * and `expand`'s backward rule sums the gradient back to the input's shape.
 *
 * The forward computation of each primitive is one entry of the op table, `src/tensor/ops`, under
 * the same name (its CPU loop and gpu.js kernel side by side); each section below names its file.
 */
import type { BinaryOp, UnaryOp } from '../tensor/backend.js';
import type { DType, TypedArray } from '../tensor/dtype.js';
import { isFloat } from '../tensor/dtype.js';
import { NDArray, resolveSlice, type ArrayData, type NestedNumbers, type SliceSpec } from '../tensor/ndarray.js';
import type { Rng } from '../tensor/random.js';
import { getBackend } from '../tensor/device.js';
import { broadcastShapes, fmtShape, normAxes, normAxis, shapesEqual, sizeOf, type Shape } from '../tensor/shape.js';
import { isGradEnabled } from './grad-mode.js';
import { runBackward } from './engine.js';

/**
 * Every primitive with a backward rule. Composite ops (mean, softmax, ...) are built from these and
 * need no rule of their own. `npm run gradcheck` must cover each name (a unit test enforces it).
 */
export const DIFFERENTIABLE_OPS = [
  'neg', 'exp', 'log', 'log1p', 'sqrt', 'reciprocal', 'sin', 'cos', 'tanh', 'sigmoid', 'abs', 'sign',
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum',
  'where', 'sum', 'max', 'min', 'matmul',
  'reshape', 'permute', 'expand', 'slice', 'unslice', 'gather', 'scatterAdd', 'concat', 'cast', 'contiguous',
  // Fused ops (src/autograd/fused.ts): one kernel forward, one backward, instead of a chain of primitives.
  'silu', 'siluMul', 'softmaxRows', 'rmsNorm', 'layerNorm', 'softmaxCrossEntropy', 'rope', 'causalAttention',
] as const;

export type DifferentiableOp = (typeof DIFFERENTIABLE_OPS)[number];

/** How a tensor was computed: the op, its tensor inputs, and the vector-Jacobian product. */
export interface GradFn {
  readonly op: DifferentiableOp;
  readonly inputs: readonly Tensor[];
  /**
   * Gradients for each input given the gradient of the output (null = no gradient). `needs[i]` is
   * whether input i wants one (PyTorch's needs_input_grad): rules skip the work for the others,
   * such as the product with a constant mask or the gradient of a frozen weight.
   */
  backward(gradOutput: Tensor, needs: readonly boolean[]): readonly (Tensor | null)[];
}

/** A tensor or a plain number (taken as a scalar of the other operand's dtype). */
export type Operand = Tensor | number;

export class Tensor {
  /** The values. */
  readonly data: NDArray;
  /** Whether gradients flow to this tensor. */
  requiresGrad: boolean;
  /** The accumulated gradient after `backward()` (leaves only, unless `retainGrad()` was called). */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when it is part of a recorded graph. */
  gradFn: GradFn | null = null;
  /** Keep the gradient of a non-leaf tensor in `.grad` during backward. */
  retainsGrad = false;

  constructor(data: NDArray, requiresGrad = false) {
    if (!(data instanceof NDArray)) throw new TypeError(`Tensor: data must be an NDArray, got ${describeValue(data)} (use Tensor.from or Tensor.fromData for plain values)`);
    if (requiresGrad && !isFloat(data.dtype)) {
      throw new TypeError(`Tensor: only float tensors can require gradients, got ${data.dtype} ${fmtShape(data.shape)}`);
    }
    this.data = data;
    this.requiresGrad = requiresGrad;
  }

  // ---------------------------------------------------------------- creation

  /** A tensor from a nested array of numbers (float32 unless `dtype` says otherwise). */
  static from(values: NestedNumbers, options: { dtype?: DType; requiresGrad?: boolean } = {}): Tensor {
    return new Tensor(NDArray.from(values, options.dtype ?? 'float32'), options.requiresGrad ?? false);
  }

  /** A tensor from flat data and a shape. */
  static fromData(data: ArrayData, shape?: Shape, options: { dtype?: DType; requiresGrad?: boolean } = {}): Tensor {
    return new Tensor(NDArray.fromData(data, shape, options.dtype), options.requiresGrad ?? false);
  }

  static full(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
    return new Tensor(NDArray.full(shape, value, dtype));
  }

  static zeros(shape: Shape, dtype: DType = 'float32'): Tensor {
    return new Tensor(NDArray.zeros(shape, dtype));
  }

  /** Ones of this tensor's shape, dtype and backend (no gradient). */
  onesLike(): Tensor {
    return new Tensor(NDArray.full(this.shape, 1, this.dtype, this.data.backend));
  }

  static ones(shape: Shape, dtype: DType = 'float32'): Tensor {
    return new Tensor(NDArray.ones(shape, dtype));
  }

  static scalar(value: number, dtype: DType = 'float32'): Tensor {
    return new Tensor(NDArray.scalar(value, dtype));
  }

  static arange(n: number, dtype: DType = 'int32'): Tensor {
    return new Tensor(NDArray.arange(n, dtype));
  }

  /** N(mean, std^2) samples drawn from `rng` on the host (so every backend sees the same numbers). */
  static randn(shape: Shape, rng: Rng, options: { mean?: number; std?: number; dtype?: 'float32' | 'float64' } = {}): Tensor {
    const backend = getBackend();
    const [size, mean, std, dtype] = [sizeOf(shape), options.mean ?? 0, options.std ?? 1, options.dtype ?? 'float32'] as const;
    // The CPU backend's upload copies the values at once, so the generator's transient array will do there.
    const data = backend.name === 'cpu' ? rng.normalArrayTransient(size, mean, std, dtype) : rng.normalArray(size, mean, std, dtype);
    return new Tensor(NDArray.fromData(data, shape, undefined, backend));
  }

  /** Uniform samples in [lo, hi) drawn from `rng`. */
  static rand(shape: Shape, rng: Rng, options: { lo?: number; hi?: number; dtype?: 'float32' | 'float64' } = {}): Tensor {
    const data = rng.uniformArray(sizeOf(shape), options.lo ?? 0, options.hi ?? 1, options.dtype ?? 'float32');
    return new Tensor(NDArray.fromData(data, shape));
  }

  /** A float mask of shape [rows, cols] with ones where col - row <= k (lower triangle). */
  static trilMask(rows: number, cols: number, k = 0, dtype: DType = 'float32'): Tensor {
    const r = NDArray.arange(rows).reshape([rows, 1]).add(k);
    const c = NDArray.arange(cols).reshape([1, cols]);
    return new Tensor(r.ge(c).cast(dtype));
  }

  /** A float mask of shape [rows, cols] with ones where col - row >= k (upper triangle). */
  static triuMask(rows: number, cols: number, k = 0, dtype: DType = 'float32'): Tensor {
    const r = NDArray.arange(rows).reshape([rows, 1]).add(k);
    const c = NDArray.arange(cols).reshape([1, cols]);
    return new Tensor(r.le(c).cast(dtype));
  }

  // ---------------------------------------------------------------- basics

  get shape(): readonly number[] {
    return this.data.shape;
  }

  get dtype(): DType {
    return this.data.dtype;
  }

  get rank(): number {
    return this.data.rank;
  }

  get size(): number {
    return this.data.size;
  }

  /** True for tensors created by the user rather than by an op. */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  toTypedArray(): TypedArray {
    return this.data.toTypedArray();
  }

  /** Values as a plain number array (flat, row-major). */
  toArray(): number[] {
    return Array.from(this.data.toTypedArray());
  }

  toNested(): NestedNumbers {
    return this.data.toNested();
  }

  item(): number {
    return this.data.item();
  }

  toString(): string {
    return `Tensor(${this.dtype}, ${fmtShape(this.shape)}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  /** The same values, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.data, false);
  }

  /** Marks this (leaf) tensor as requiring gradients; returns it. */
  requireGrad(on = true): this {
    if (on && !isFloat(this.dtype)) throw new TypeError(`requireGrad: only float tensors can require gradients, got ${this.dtype}`);
    this.requiresGrad = on;
    return this;
  }

  retainGrad(): this {
    this.retainsGrad = true;
    return this;
  }

  /**
   * Backpropagates from this tensor, accumulating into `.grad` of every leaf that requires
   * gradients. A non-scalar tensor needs `gradient` (the seed). With `createGraph`, the gradients
   * are themselves part of a graph (for second derivatives).
   */
  backward(gradient?: Tensor, options: { createGraph?: boolean } = {}): void {
    runBackward([this], gradient ? [gradient] : undefined, options.createGraph ?? false);
  }

  /** Frees the data of this tensor (device memory is returned when the last view is disposed). */
  dispose(): void {
    this.data.dispose();
  }

  // ---------------------------------------------------------------- graph recording

  /** Wraps an op's result, recording the graph when any input requires gradients. */
  private static record(
    op: DifferentiableOp,
    data: NDArray,
    inputs: readonly Tensor[],
    backward: (g: Tensor, needs: readonly boolean[]) => readonly (Tensor | null)[],
  ): Tensor {
    const needsGrad = isGradEnabled() && isFloat(data.dtype) && inputs.some((t) => t.requiresGrad);
    const out = new Tensor(data, needsGrad);
    if (needsGrad) out.gradFn = { op, inputs, backward };
    return out;
  }

  /**
   * Records a fused op (src/autograd/fused.ts): its forward value, computed by the caller in one
   * kernel, and its backward rule.
   */
  static fused(op: DifferentiableOp, data: NDArray, inputs: readonly Tensor[], backward: (g: Tensor, needs: readonly boolean[]) => readonly (Tensor | null)[]): Tensor {
    return Tensor.record(op, data, inputs, backward);
  }

  private operand(x: Operand, op = 'operand'): Tensor {
    if (typeof x === 'number') return new Tensor(NDArray.scalar(x, this.dtype, this.data.backend));
    if (!(x instanceof Tensor)) throw new TypeError(`${op}: operand must be a Tensor or a number, got ${describeValue(x)}`);
    return x;
  }

  // ---------------------------------------------------------------- unary primitives
  // Forward: the entry of the same name in src/tensor/ops/unary.ts.

  neg(): Tensor {
    return Tensor.record('neg', this.data.neg(), [this], (g) => [g.neg()]);
  }

  exp(): Tensor {
    const out: Tensor = Tensor.record('exp', this.data.exp(), [this], (g) => [g.mul(out)]);
    return out;
  }

  log(): Tensor {
    return Tensor.record('log', this.data.log(), [this], (g) => [g.div(this)]);
  }

  /** log(1 + x), accurate for small x. d/dx = 1 / (1 + x). */
  log1p(): Tensor {
    return Tensor.record('log1p', this.data.unary('log1p'), [this], (g) => [g.div(this.add(1))]);
  }

  sqrt(): Tensor {
    const out: Tensor = Tensor.record('sqrt', this.data.sqrt(), [this], (g) => [g.div(out.mul(2))]);
    return out;
  }

  reciprocal(): Tensor {
    const out: Tensor = Tensor.record('reciprocal', this.data.reciprocal(), [this], (g) => [g.mul(out.mul(out)).neg()]);
    return out;
  }

  sin(): Tensor {
    return Tensor.record('sin', this.data.sin(), [this], (g) => [g.mul(this.cos())]);
  }

  cos(): Tensor {
    return Tensor.record('cos', this.data.cos(), [this], (g) => [g.mul(this.sin()).neg()]);
  }

  tanh(): Tensor {
    const out: Tensor = Tensor.record('tanh', this.data.tanh(), [this], (g) => [g.mul(out.mul(out).neg().add(1))]);
    return out;
  }

  sigmoid(): Tensor {
    const out: Tensor = Tensor.record('sigmoid', this.data.sigmoid(), [this], (g) => [g.mul(out.mul(out.neg().add(1)))]);
    return out;
  }

  abs(): Tensor {
    return Tensor.record('abs', this.data.abs(), [this], (g) => [g.mul(this.sign())]);
  }

  /** Derivative zero everywhere it exists. */
  sign(): Tensor {
    return Tensor.record('sign', this.data.sign(), [this], () => [null]);
  }

  /** Applies a unary op by name (used by generic tests and gradcheck). */
  unary(op: UnaryOp): Tensor {
    return this[op]();
  }

  // ---------------------------------------------------------------- binary primitives
  // Forward: the entry of the same name in src/tensor/ops/binary.ts (`where`: ops/layout.ts).

  /** Broadcasts both operands to a common shape via `expand` (whose backward un-broadcasts). */
  private broadcastPair(op: string, other: Operand): [Tensor, Tensor] {
    const b = this.operand(other, op);
    if (this.dtype !== b.dtype) {
      throw new TypeError(`${op}: dtypes differ (${this.dtype} ${fmtShape(this.shape)} vs ${b.dtype} ${fmtShape(b.shape)}); cast one explicitly`);
    }
    const shape = broadcastShapes(op, this.shape, b.shape);
    return [this.broadcastTo(shape), b.broadcastTo(shape)];
  }

  add(other: Operand): Tensor {
    const [a, b] = this.broadcastPair('add', other);
    return Tensor.record('add', a.data.add(b.data), [a, b], (g) => [g, g]);
  }

  sub(other: Operand): Tensor {
    const [a, b] = this.broadcastPair('sub', other);
    return Tensor.record('sub', a.data.sub(b.data), [a, b], (g, needs) => [g, needs[1] ? g.neg() : null]);
  }

  mul(other: Operand): Tensor {
    const [a, b] = this.broadcastPair('mul', other);
    return Tensor.record('mul', a.data.mul(b.data), [a, b], (g, needs) => [needs[0] ? g.mul(b) : null, needs[1] ? g.mul(a) : null]);
  }

  div(other: Operand): Tensor {
    const [a, b] = this.broadcastPair('div', other);
    return Tensor.record('div', a.data.div(b.data), [a, b], (g, needs) => [needs[0] ? g.div(b) : null, needs[1] ? g.mul(a).div(b.mul(b)).neg() : null]);
  }

  /**
   * a^b. d/da = b a^(b-1); d/db = a^b log a where a > 0 and 0 elsewhere (the real power is not
   * differentiable in b for a <= 0).
   */
  pow(other: Operand): Tensor {
    const [a, b] = this.broadcastPair('pow', other);
    const out: Tensor = Tensor.record('pow', a.data.pow(b.data), [a, b], (g, needs) => {
      const ga = needs[0] ? g.mul(b).mul(a.pow(b.sub(1))) : null;
      if (!needs[1]) return [ga, null];
      const positive = new Tensor(a.data.gt(0));
      const safeLog = Tensor.where(positive, a, 1).log();
      return [ga, Tensor.where(positive, g.mul(out).mul(safeLog), 0)];
    });
    return out;
  }

  /** Elementwise maximum; on ties the gradient is split equally. */
  maximum(other: Operand): Tensor {
    return this.extremum('maximum', other);
  }

  /** Elementwise minimum; on ties the gradient is split equally. */
  minimum(other: Operand): Tensor {
    return this.extremum('minimum', other);
  }

  private extremum(op: 'maximum' | 'minimum', other: Operand): Tensor {
    const [a, b] = this.broadcastPair(op, other);
    return Tensor.record(op, a.data.binary(op, b.data), [a, b], (g, needs) => {
      const wins = op === 'maximum' ? a.data.gt(b.data) : a.data.lt(b.data);
      const weightA = new Tensor(wins.add(a.data.eq(b.data).mul(0.5)));
      return [needs[0] ? g.mul(weightA) : null, needs[1] ? g.mul(weightA.neg().add(1)) : null];
    });
  }

  // Comparisons: not differentiable; they return 0/1 in the operands' dtype.
  eq(other: Operand): Tensor { return new Tensor(this.data.binary('eq', this.operand(other).data)); }
  ne(other: Operand): Tensor { return new Tensor(this.data.binary('ne', this.operand(other).data)); }
  lt(other: Operand): Tensor { return new Tensor(this.data.binary('lt', this.operand(other).data)); }
  le(other: Operand): Tensor { return new Tensor(this.data.binary('le', this.operand(other).data)); }
  gt(other: Operand): Tensor { return new Tensor(this.data.binary('gt', this.operand(other).data)); }
  ge(other: Operand): Tensor { return new Tensor(this.data.binary('ge', this.operand(other).data)); }

  /** Applies a binary op by name (used by generic tests and gradcheck). */
  binary(op: BinaryOp, other: Operand): Tensor {
    return this[op](other);
  }

  /** `cond != 0 ? a : b` with broadcasting. No gradient flows through `cond`. */
  static where(cond: Tensor, a: Operand, b: Operand): Tensor {
    const ref = a instanceof Tensor ? a : b instanceof Tensor ? b : Tensor.scalar(a);
    const ta = ref.operand(a);
    const tb = ref.operand(b);
    if (ta.dtype !== tb.dtype) throw new TypeError(`where: branch dtypes differ (${ta.dtype} vs ${tb.dtype})`);
    const shape = broadcastShapes('where', cond.shape, ta.shape, tb.shape);
    const c = cond.data.broadcastTo(shape);
    const x = ta.broadcastTo(shape);
    const y = tb.broadcastTo(shape);
    return Tensor.record('where', NDArray.where(c, x.data, y.data), [x, y], (g, needs) => {
      const mask = new Tensor(c);
      return [needs[0] ? Tensor.where(mask, g, 0) : null, needs[1] ? Tensor.where(mask, 0, g) : null];
    });
  }

  // ---------------------------------------------------------------- reductions
  // Forward: the `reduce` entry, src/tensor/ops/reduce.ts.

  /** Sum over `axes` (default: all). */
  sum(axes?: number | readonly number[], keepdims = false): Tensor {
    const list = normAxes('sum', axes, this.shape);
    const kept = this.shape.map((d, i) => (list.includes(i) ? 1 : d));
    return Tensor.record('sum', this.data.sum(list, keepdims), [this], (g) => [g.reshape(kept).expand(this.shape)]);
  }

  /** Maximum over `axes`; ties share the gradient equally. */
  max(axes?: number | readonly number[], keepdims = false): Tensor {
    return this.extremeReduce('max', axes, keepdims);
  }

  /** Minimum over `axes`; ties share the gradient equally. */
  min(axes?: number | readonly number[], keepdims = false): Tensor {
    return this.extremeReduce('min', axes, keepdims);
  }

  private extremeReduce(op: 'max' | 'min', axes: number | readonly number[] | undefined, keepdims: boolean): Tensor {
    const list = normAxes(op, axes, this.shape);
    const kept = this.shape.map((d, i) => (list.includes(i) ? 1 : d));
    const value = this.data.reduce(op, list, true);
    const out = keepdims ? value : value.reshape(this.shape.filter((_, i) => !list.includes(i)));
    return Tensor.record(op, out, [this], (g) => {
      const hits = this.data.eq(value.broadcastTo(this.shape));
      const share = new Tensor(hits.div(hits.sum(list, true).broadcastTo(this.shape)));
      return [g.reshape(kept).expand(this.shape).mul(share)];
    });
  }

  /** Mean over `axes` (default: all). */
  mean(axes?: number | readonly number[], keepdims = false): Tensor {
    // An int32 sum times 1/count would be truncated to an integer (mean([1, 2]) = 0): refuse, like NDArray.mean.
    if (!isFloat(this.dtype)) throw new TypeError(`mean: needs a float tensor, got ${this.dtype} ${fmtShape(this.shape)}; cast it first`);
    const list = normAxes('mean', axes, this.shape);
    const count = list.reduce((n, a) => n * this.shape[a], 1);
    return this.sum(list, keepdims).mul(1 / count);
  }

  /** Index of the maximum along `axis` (int32, not differentiable). */
  argmax(axis = -1, keepdims = false): Tensor {
    return new Tensor(this.data.argmax(axis, keepdims));
  }

  argmin(axis = -1, keepdims = false): Tensor {
    return new Tensor(this.data.argmin(axis, keepdims));
  }

  // ---------------------------------------------------------------- matmul
  // Forward: the `matmul` entry, src/tensor/ops/matmul.ts.

  /**
   * Matrix product with NumPy semantics: 1-D operands are promoted and the added axis removed;
   * batch axes broadcast (through `expand`, so their gradients are summed back).
   */
  matmul(other: Tensor): Tensor {
    if (!(other instanceof Tensor)) throw new TypeError(`matmul: operand must be a Tensor, got ${describeValue(other)}`);
    if (this.dtype !== other.dtype) throw new TypeError(`matmul: dtypes differ (${this.dtype} vs ${other.dtype})`);
    if (this.rank === 0 || other.rank === 0) {
      throw new RangeError(`matmul: operands must have at least one axis, got ${fmtShape(this.shape)} and ${fmtShape(other.shape)}`);
    }
    const a = this.rank === 1 ? this.reshape([1, this.shape[0]]) : this;
    const b = other.rank === 1 ? other.reshape([other.shape[0], 1]) : other;
    const [m, k] = a.shape.slice(-2);
    const [k2, n] = b.shape.slice(-2);
    if (k !== k2) {
      throw new RangeError(`matmul: inner dimensions differ: ${fmtShape(this.shape)} @ ${fmtShape(other.shape)} (${k} vs ${k2})`);
    }
    const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
    const ab = a.broadcastTo([...batch, m, k]);
    const bb = b.broadcastTo([...batch, k, n]);
    let out = Tensor.record('matmul', ab.data.matmul(bb.data), [ab, bb], (g, needs) => [
      needs[0] ? g.matmul(bb.transpose()) : null,
      needs[1] ? ab.transpose().matmul(g) : null,
    ]);
    if (this.rank === 1) out = out.squeeze(-2);
    if (other.rank === 1) out = out.squeeze(-1);
    return out;
  }

  // ---------------------------------------------------------------- views
  // reshape, permute, expand and slice are views (no kernel; src/tensor/ndarray.ts); `unslice`,
  // `contiguous` (copy) and `cast` are entries of src/tensor/ops/layout.ts.

  reshape(shape: Shape): Tensor {
    const inShape = this.shape;
    return Tensor.record('reshape', this.data.reshape(shape), [this], (g) => [g.reshape(inShape)]);
  }

  permute(axes: readonly number[]): Tensor {
    const data = this.data.permute(axes);
    const norm = axes.map((a) => normAxis('permute', a, this.rank));
    const inverse = new Array<number>(norm.length);
    norm.forEach((a, i) => (inverse[a] = i));
    return Tensor.record('permute', data, [this], (g) => [g.permute(inverse)]);
  }

  /** Swaps two axes (default: the last two). */
  transpose(a = -2, b = -1): Tensor {
    if (this.rank < 2 && a === -2 && b === -1) return this; // a vector's default swap is itself; explicit axes are checked
    const i = normAxis('transpose', a, this.rank, this.shape);
    const j = normAxis('transpose', b, this.rank, this.shape);
    const axes = this.shape.map((_, k) => k);
    axes[i] = j;
    axes[j] = i;
    return this.permute(axes);
  }

  /** Expands size-1 axes (same rank). Backward sums the gradient back: the one un-broadcast. */
  expand(shape: Shape): Tensor {
    const inShape = this.shape;
    if (shapesEqual(inShape, shape)) return this;
    return Tensor.record('expand', this.data.expand(shape), [this], (g) => [g.sumTo(inShape)]);
  }

  /** Sums a gradient of an expanded shape back to `shape` (same rank, size-1 axes reduced). */
  sumTo(shape: Shape): Tensor {
    if (shape.length !== this.rank) throw new RangeError(`sumTo: rank of ${fmtShape(shape)} differs from ${fmtShape(this.shape)}`);
    const axes = shape.flatMap((d, i) => (d === 1 && this.shape[i] !== 1 ? [i] : []));
    return axes.length === 0 ? this : this.sum(axes, true);
  }

  /** NumPy broadcasting to `shape`. */
  broadcastTo(shape: Shape): Tensor {
    if (shapesEqual(this.shape, shape)) return this;
    if (shape.length < this.rank) throw new RangeError(`broadcastTo: cannot broadcast ${fmtShape(this.shape)} to ${fmtShape(shape)}`);
    broadcastShapes('broadcastTo', this.shape, shape);
    const lead = shape.length - this.rank;
    const padded = lead === 0 ? this : this.reshape([...new Array<number>(lead).fill(1), ...this.shape]);
    return padded.expand(shape);
  }

  /** Strided slice of every axis (positive steps). */
  slice(specs: readonly (SliceSpec | null | undefined)[]): Tensor {
    const inShape = this.shape;
    const resolved = inShape.map((d, i) => resolveSlice('slice', specs[i] ?? {}, d, i));
    return Tensor.record('slice', this.data.slice(specs), [this], (g) => [
      g.unslice(inShape, resolved.map((r) => r.start), resolved.map((r) => r.step)),
    ]);
  }

  /** Slices one axis: `x.sliceAxis(1, 2, 5)` is `x[:, 2:5]`. */
  sliceAxis(axis: number, start?: number, stop?: number, step?: number): Tensor {
    const a = normAxis('sliceAxis', axis, this.rank, this.shape);
    const specs: SliceSpec[] = this.shape.map(() => ({}));
    specs[a] = { start, stop, step };
    return this.slice(specs);
  }

  /** Zeros of `shape` with this tensor at start + j*step on each axis (the transpose of slice). */
  unslice(shape: Shape, starts: readonly number[], steps: readonly number[]): Tensor {
    const inShape = this.shape;
    return Tensor.record('unslice', this.data.unslice(shape, starts, steps), [this], (g) => [
      g.slice(inShape.map((d, i) => ({ start: starts[i], stop: starts[i] + (d - 1) * steps[i] + 1, step: steps[i] }))),
    ]);
  }

  /** Pads each axis with [before, after] zeros. */
  pad(widths: readonly (readonly [number, number])[]): Tensor {
    if (widths.length !== this.rank) throw new RangeError(`pad: ${widths.length} pad widths for shape ${fmtShape(this.shape)}`);
    const shape = this.shape.map((d, i) => d + widths[i][0] + widths[i][1]);
    return this.unslice(shape, widths.map((w) => w[0]), widths.map(() => 1));
  }

  squeeze(axes?: number | readonly number[]): Tensor {
    const list = axes === undefined ? this.shape.flatMap((d, i) => (d === 1 ? [i] : [])) : normAxes('squeeze', axes, this.shape);
    for (const a of list) {
      if (this.shape[a] !== 1) throw new RangeError(`squeeze: axis ${a} of shape ${fmtShape(this.shape)} has size ${this.shape[a]}, not 1`);
    }
    return this.reshape(this.shape.filter((_, i) => !list.includes(i)));
  }

  unsqueeze(axis: number): Tensor {
    const a = normAxis('unsqueeze', axis, this.rank + 1);
    const shape = [...this.shape];
    shape.splice(a, 0, 1);
    return this.reshape(shape);
  }

  /** Flattens axes [start, end] into one. */
  flatten(start = 0, end = -1): Tensor {
    if (this.rank === 0) return this.reshape([1]);
    const s = normAxis('flatten', start, this.rank, this.shape);
    const e = normAxis('flatten', end, this.rank, this.shape);
    const merged = this.shape.slice(s, e + 1).reduce((p, d) => p * d, 1);
    return this.reshape([...this.shape.slice(0, s), merged, ...this.shape.slice(e + 1)]);
  }

  contiguous(): Tensor {
    if (this.data.isContiguous) return this;
    return Tensor.record('contiguous', this.data.contiguous(), [this], (g) => [g]);
  }

  /** Converts dtype. Only float-to-float casts carry gradients. */
  cast(dtype: DType): Tensor {
    if (dtype === this.dtype) return this;
    const from = this.dtype;
    return Tensor.record('cast', this.data.cast(dtype), [this], (g) => [g.cast(from)]);
  }

  // ---------------------------------------------------------------- indexing
  // Forward: the `gather` and `scatterAdd` entries, src/tensor/ops/indexing.ts (`concat`: ops/layout.ts).

  /** Index select along `axis` (embedding lookup when axis = 0). Backward: scatter-add. */
  gather(indices: Tensor, axis = 0): Tensor {
    const a = normAxis('gather', axis, this.rank, this.shape);
    const axisSize = this.shape[a];
    return Tensor.record('gather', this.data.gather(indices.data, a), [this], (g) => [g.scatterAdd(indices, a, axisSize)]);
  }

  /** Adds slices of this tensor into zeros with `axisSize` along `axis`. Backward: gather. */
  scatterAdd(indices: Tensor, axis: number, axisSize: number): Tensor {
    return Tensor.record('scatterAdd', this.data.scatterAdd(indices.data, axis, axisSize), [this], (g) => [g.gather(indices, axis)]);
  }

  /** Joins tensors along `axis`. Backward: the matching slices. */
  static concat(xs: readonly Tensor[], axis = 0): Tensor {
    if (!Array.isArray(xs) || xs.length === 0) throw new RangeError('concat: needs a non-empty array of tensors');
    const odd = xs.findIndex((x) => !(x instanceof Tensor));
    if (odd >= 0) throw new TypeError(`concat: item ${odd} must be a Tensor, got ${describeValue(xs[odd])}`);
    const data = NDArray.concat(xs.map((x) => x.data), axis);
    const a = normAxis('concat', axis, xs[0].rank);
    return Tensor.record('concat', data, xs, (g) => {
      let start = 0;
      return xs.map((x) => {
        const part = g.sliceAxis(a, start, start + x.shape[a]);
        start += x.shape[a];
        return part;
      });
    });
  }

  /** Stacks equal-shaped tensors along a new axis. */
  static stack(xs: readonly Tensor[], axis = 0): Tensor {
    if (xs.length === 0) throw new RangeError('stack: needs at least one tensor');
    for (const x of xs) {
      if (!shapesEqual(x.shape, xs[0].shape)) throw new RangeError(`stack: shapes differ: ${xs.map((y) => fmtShape(y.shape)).join(', ')}`);
    }
    const a = normAxis('stack', axis, xs[0].rank + 1);
    return Tensor.concat(xs.map((x) => x.unsqueeze(a)), a);
  }

  /** Splits along `axis` into pieces of the given sizes, or into `n` equal pieces. */
  split(sizes: number | readonly number[], axis = 0): Tensor[] {
    const a = normAxis('split', axis, this.rank, this.shape);
    const dim = this.shape[a];
    let parts: number[];
    if (typeof sizes === 'number') {
      if (!Number.isInteger(sizes) || sizes <= 0 || dim % sizes !== 0) {
        throw new RangeError(`split: axis ${a} of shape ${fmtShape(this.shape)} cannot be split into ${sizes} equal parts`);
      }
      parts = new Array<number>(sizes).fill(dim / sizes);
    } else {
      parts = [...sizes];
      if (parts.reduce((p, s) => p + s, 0) !== dim || parts.some((s) => !Number.isInteger(s) || s < 0)) {
        throw new RangeError(`split: sizes [${parts.join(', ')}] do not add up to axis ${a} of shape ${fmtShape(this.shape)}`);
      }
    }
    let start = 0;
    return parts.map((s) => {
      const piece = this.sliceAxis(a, start, start + s);
      start += s;
      return piece;
    });
  }

  /** One-hot encoding of int32 indices: shape [...indices.shape, depth], float32 (no gradient). */
  static oneHot(indices: Tensor, depth: number, dtype: DType = 'float32'): Tensor {
    if (indices.dtype !== 'int32') throw new TypeError(`oneHot: indices must be int32, got ${indices.dtype} ${fmtShape(indices.shape)}`);
    if (!Number.isInteger(depth) || depth < 0) throw new RangeError(`oneHot: depth must be a non-negative integer, got ${depth}`);
    // Out-of-range indices would silently become all-zero rows.
    const ids = indices.toTypedArray();
    const bad = ids.findIndex((i) => i < 0 || i >= depth);
    if (bad >= 0) throw new RangeError(`oneHot: index ${ids[bad]} at flat position ${bad} of ${fmtShape(indices.shape)} is outside [0, ${depth})`);
    const hit = indices.data.unsqueeze(-1).eq(NDArray.arange(depth, 'int32', indices.data.backend));
    return new Tensor(hit.cast(dtype));
  }

  /** Keeps the lower triangle (col - row <= k) of the last two axes, zeroing the rest. */
  tril(k = 0): Tensor {
    if (this.rank < 2) throw new RangeError(`tril: needs at least 2 axes, got ${fmtShape(this.shape)}`);
    const [r, c] = this.shape.slice(-2);
    return Tensor.where(Tensor.trilMask(r, c, k, this.dtype), this, 0);
  }

  /** Keeps the upper triangle (col - row >= k) of the last two axes. */
  triu(k = 0): Tensor {
    if (this.rank < 2) throw new RangeError(`triu: needs at least 2 axes, got ${fmtShape(this.shape)}`);
    const [r, c] = this.shape.slice(-2);
    return Tensor.where(Tensor.triuMask(r, c, k, this.dtype), this, 0);
  }

  // ---------------------------------------------------------------- small composites

  square(): Tensor {
    return this.mul(this);
  }

  /** Mean of squares minus square of mean, over `axes` (population variance). */
  variance(axes?: number | readonly number[], keepdims = false): Tensor {
    const list = normAxes('variance', axes, this.shape);
    const centred = this.sub(this.mean(list, true));
    return centred.square().mean(list, keepdims);
  }
}

/** A short description of a value that should have been a Tensor, for error messages. */
function describeValue(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (typeof x === 'object') return `a ${(x as object).constructor?.name ?? 'null-prototype object'}`;
  return `${typeof x} ${typeof x === 'string' ? JSON.stringify(x) : String(x)}`;
}
