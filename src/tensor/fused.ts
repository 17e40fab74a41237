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
import { broadcastShapes, fmtShape } from './shape.js';

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
