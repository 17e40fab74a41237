/**
 * Fused NDArray ops: one backend call each (the `softmaxRows` and `siluMul` entries of the op
 * table, `src/tensor/ops/fused.ts`), giving the same numbers as the composed primitives on the
 * CPU. They are forward-only (NDArray, not Tensor); a differentiable wrapper can use them for
 * the forward value and write the backward with Tensor ops (softmax: dx = y * (g - sum(g * y))).
 *
 * Fusion pays on the gpu.js backends, where every primitive is a worker round trip plus a kernel
 * launch and a broadcast operand is first copied contiguous: softmax over rows is 7 launches composed
 * and 3 fused, SiLU(x) * y is 3 composed and 1 fused (timings in bench/RESULTS.md, `npm run bench:gpu`).
 */
import { isFloat } from './dtype.js';
import { NDArray } from './ndarray.js';
import { broadcastShapes, fmtShape, shapesEqual } from './shape.js';

/** Softmax over the last axis (max-subtracted, so large inputs do not overflow). */
export function softmaxRows(x: NDArray): NDArray {
  if (!isFloat(x.dtype)) throw new TypeError(`softmaxRows: needs a float array, got ${x.dtype} ${fmtShape(x.shape)}`);
  if (x.rank === 0) throw new RangeError('softmaxRows: needs at least one axis, got a scalar');
  if (x.size === 0) return x.clone();
  return NDArray.fromBuffer(x.backend, x.backend.run('softmaxRows', [x.view], {}), x.shape);
}

/** `silu(x) * y = x * sigmoid(x) * y` with broadcasting (the SwiGLU gate). */
export function siluMul(x: NDArray, y: NDArray): NDArray {
  if (x.backend !== y.backend) {
    throw new Error(`siluMul: arrays live on different backends (${x.backend.name} and ${y.backend.name})`);
  }
  if (!isFloat(x.dtype) || x.dtype !== y.dtype) {
    throw new TypeError(`siluMul: needs float arrays of one dtype, got ${x.dtype} ${fmtShape(x.shape)} and ${y.dtype} ${fmtShape(y.shape)}`);
  }
  const shape = broadcastShapes('siluMul', x.shape, y.shape);
  const buf = x.backend.run('siluMul', [x.broadcastTo(shape).view, y.broadcastTo(shape).view], {});
  return NDArray.fromBuffer(x.backend, buf, shape);
}

/** The gradient of SiLU at x, given s = sigmoid(x) and the output gradient g (equal shapes). */
export function siluBackward(x: NDArray, s: NDArray, g: NDArray): NDArray {
  return NDArray.fromBuffer(x.backend, x.backend.run('siluBackward', [x.view, s.view, g.view], {}), x.shape);
}

/** The gradients [da, db] of `silu(a) * b` (equal shapes) given s = sigmoid(a) and the output gradient g, from one pass. */
export function siluMulBackward(a: NDArray, b: NDArray, s: NDArray, g: NDArray): [NDArray, NDArray] {
  const both = NDArray.fromBuffer(a.backend, a.backend.run('siluMulBackward', [a.view, b.view, s.view, g.view], {}), [2, ...a.shape]);
  return [both.sliceAxis(0, 0, 1).reshape(a.shape), both.sliceAxis(0, 1, 2).reshape(a.shape)];
}

/**
 * LayerNorm (`center`) or RMSNorm over the last axis of x [..., d] with gain w [d] and bias b [d]
 * in one pass; also returns the row statistics (μ and 1/σ per row) that {@link normRowsBackward} takes.
 */
export function normRows(x: NDArray, w: NDArray, b: NDArray, eps: number, center: boolean): { y: NDArray; stats: NDArray } {
  const d = x.shape[x.rank - 1];
  const rows = d === 0 ? 0 : x.size / d;
  const out = NDArray.fromBuffer(x.backend, x.backend.run('normRows', [x.view, w.view, b.view], { eps, center }), [x.size + 2 * rows]);
  return { y: out.sliceAxis(0, 0, x.size).reshape(x.shape), stats: out.sliceAxis(0, x.size) };
}

/** The gradients of {@link normRows} for output gradient g: dx [..., d], dw [d], db [d]. */
export function normRowsBackward(x: NDArray, w: NDArray, stats: NDArray, g: NDArray, eps: number, center: boolean): { dx: NDArray; dw: NDArray; db: NDArray } {
  const d = x.shape[x.rank - 1];
  const out = NDArray.fromBuffer(x.backend, x.backend.run('normRowsBackward', [x.view, w.view, stats.view, g.view], { eps, center }), [x.size + 2 * d]);
  return { dx: out.sliceAxis(0, 0, x.size).reshape(x.shape), dw: out.sliceAxis(0, x.size, x.size + d), db: out.sliceAxis(0, x.size + d) };
}

/**
 * Softmax cross-entropy of logits [N, V] against int32 targets [N] (negative = ignored row): the
 * loss of each row [N] (0 where ignored) and the softmax [N, V] that {@link softmaxCrossEntropyBackward} takes.
 */
export function softmaxCrossEntropy(logits: NDArray, targets: NDArray): { loss: NDArray; probs: NDArray } {
  const [n, v] = logits.shape;
  const out = NDArray.fromBuffer(logits.backend, logits.backend.run('softmaxCrossEntropy', [logits.view, targets.view], {}), [n * v + n]);
  return { probs: out.sliceAxis(0, 0, n * v).reshape([n, v]), loss: out.sliceAxis(0, n * v) };
}

/** The gradient of {@link softmaxCrossEntropy}'s row losses for their gradient g [N]: [N, V]. */
export function softmaxCrossEntropyBackward(probs: NDArray, targets: NDArray, g: NDArray): NDArray {
  return NDArray.fromBuffer(probs.backend, probs.backend.run('softmaxCrossEntropyBackward', [probs.view, targets.view, g.view], {}), probs.shape);
}

/**
 * Rotary position embedding of x [..., T, hd] with tables cos, sin [T, hd/2] in one pass
 * (rotate-half convention, CALM.md §3.2); `inverse` rotates the other way (the backward).
 * Same numbers as the composed mul/sub/add/concat chain (see the `rope` entry of ops/fused.ts).
 */
export function rope(x: NDArray, cos: NDArray, sin: NDArray, inverse = false): NDArray {
  const what = () => `rope: x ${x.dtype} ${fmtShape(x.shape)}, cos ${cos.dtype} ${fmtShape(cos.shape)}, sin ${sin.dtype} ${fmtShape(sin.shape)}`;
  if (x.backend !== cos.backend || x.backend !== sin.backend) throw new Error(`${what()}: arrays live on different backends`);
  if (!isFloat(x.dtype)) throw new TypeError(`${what()}: needs float arrays`);
  if (cos.dtype !== x.dtype || sin.dtype !== x.dtype) throw new TypeError(`${what()}: dtypes differ; cast the tables explicitly`);
  const t = x.shape[x.rank - 2], hd = x.shape[x.rank - 1];
  if (x.rank < 2 || hd % 2 !== 0 || cos.rank !== 2 || cos.shape[0] !== t || 2 * cos.shape[1] !== hd || !shapesEqual(cos.shape, sin.shape)) {
    throw new RangeError(`${what()}: expected x [..., T, hd] with hd even and tables [T, hd/2]`);
  }
  return NDArray.fromBuffer(x.backend, x.backend.run('rope', [x.view, cos.view, sin.view], { inverse }), x.shape);
}
