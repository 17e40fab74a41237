/**
 * Fused differentiable ops: each is one or two kernels forward and one backward kernel, where the
 * composed versions in src/nn/functional.ts run a chain of primitives with an intermediate array
 * at every link (measured with `profile`, src/tensor/profile.ts: SiLU, the SwiGLU gate and the norms
 * were most of the elementwise time of a CALM step). The nn layers call these.
 *
 * - The forward values are the composed versions' numbers: silu and siluMul take the same steps
 *   (bit for bit); softmax and the norms compute their row statistics in float64, so they differ by
 *   float32 rounding only (test/fused.test.ts compares each with its composition).
 * - The backward rules run one kernel from values kept by the forward pass (the sigmoid, the row
 *   statistics, the output). When the backward pass is itself recorded (`createGraph`, for second
 *   derivatives), they instead differentiate the composed definition, which is differentiable to
 *   any order.
 */
import { NDArray } from '../tensor/ndarray.js';
import * as K from '../tensor/fused.js';
import { shapesEqual } from '../tensor/shape.js';
import { grad } from './engine.js';
import { isGradEnabled } from './grad-mode.js';
import { Tensor } from './tensor.js';

/** Gradients of `composed(...inputs)` for output gradient g, recorded (the createGraph path). */
function composedVjp(composed: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], g: Tensor): (Tensor | null)[] {
  return grad([composed(...inputs)], inputs, { gradOutputs: [g], createGraph: true });
}

const composedSilu = (x: Tensor): Tensor => x.mul(x.sigmoid());

/** SiLU (swish): x · sigmoid(x). */
export function silu(x: Tensor): Tensor {
  const s = x.data.sigmoid();
  return Tensor.fused('silu', x.data.mul(s), [x], (g) =>
    isGradEnabled() ? composedVjp(composedSilu, [x], g) : [new Tensor(K.siluBackward(x.data, s, g.data))],
  );
}

const composedSiluMul = (a: Tensor, b: Tensor): Tensor => composedSilu(a).mul(b);

/** silu(a) · b, the SwiGLU gate (a and b of one shape; other shapes take the composed path). */
export function siluMul(a: Tensor, b: Tensor): Tensor {
  if (!shapesEqual(a.shape, b.shape) || a.dtype !== b.dtype) return composedSiluMul(a, b);
  const s = a.data.sigmoid();
  return Tensor.fused('siluMul', a.data.mul(s).mul(b.data), [a, b], (g) => {
    if (isGradEnabled()) return composedVjp(composedSiluMul, [a, b], g);
    const [da, db] = K.siluMulBackward(a.data, b.data, s, g.data);
    return [new Tensor(da), new Tensor(db)];
  });
}

/**
 * Softmax over the last axis in one kernel (max-subtracted). Backward from the output y:
 * dx = y · (g − Σ g·y), which is four elementwise passes instead of the composed chain's rules.
 */
export function softmaxLast(x: Tensor): Tensor {
  const out: Tensor = Tensor.fused('softmaxRows', K.softmaxRows(x.data), [x], (g) => {
    const gy = g.mul(out);
    return [gy.sub(out.mul(gy.sum(-1, true)))];
  });
  return out;
}

function composedNorm(center: boolean, eps: number) {
  return (x: Tensor, w: Tensor, b: Tensor): Tensor => {
    const c = center ? x.sub(x.mean(-1, true)) : x;
    return c.mul(c.mul(c).mean(-1, true).add(eps).sqrt().reciprocal()).mul(w).add(b);
  };
}

/** LayerNorm (`center`) or RMSNorm over the last axis; a null gain is 1 and a null bias 0. */
function norm(op: 'rmsNorm' | 'layerNorm', center: boolean, x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  const d = x.shape[x.rank - 1];
  const w = weight ?? new Tensor(NDArray.full([d], 1, x.dtype, x.data.backend));
  const b = bias ?? new Tensor(NDArray.full([d], 0, x.dtype, x.data.backend));
  const { y, stats } = K.normRows(x.data, w.data, b.data, eps, center);
  return Tensor.fused(op, y, [x, w, b], (g) => {
    if (isGradEnabled()) return composedVjp(composedNorm(center, eps), [x, w, b], g);
    const { dx, dw, db } = K.normRowsBackward(x.data, w.data, stats, g.data, eps, center);
    return [new Tensor(dx), weight === null ? null : new Tensor(dw), bias === null ? null : new Tensor(db)];
  });
}

/** RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · weight (CALM.md §2.1). */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps = 1e-6): Tensor {
  return norm('rmsNorm', false, x, weight, null, eps);
}

/** LayerNorm over the last axis: (x − mean) / sqrt(var + eps) · weight + bias (CALM.md §3.1). */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-6): Tensor {
  return norm('layerNorm', true, x, weight, bias, eps);
}

/**
 * Per-row softmax cross-entropy of logits [N, V] against int32 targets [N]: logsumexp(x_i) − x_i[t_i],
 * 0 for rows whose target is negative (ignored). One kernel forward (which keeps the softmax p) and
 * one backward, dx = g_i (p_i − onehot(t_i)).
 */
export function softmaxCrossEntropy(logits: Tensor, targets: Tensor): Tensor {
  const { loss, probs } = K.softmaxCrossEntropy(logits.data, targets.data);
  return Tensor.fused('softmaxCrossEntropy', loss, [logits], (g) =>
    isGradEnabled() ? composedVjp((x) => composedCrossEntropyRows(x, targets), [logits], g) : [new Tensor(K.softmaxCrossEntropyBackward(probs, targets.data, g.data))],
  );
}

/** The composed per-row cross-entropy (for createGraph): logsumexp − picked logit, masked where ignored. */
function composedCrossEntropyRows(x: Tensor, targets: Tensor): Tensor {
  const [n, v] = x.shape;
  const t = targets.toTypedArray();
  const keep = new Float64Array(n);
  const index = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    keep[i] = t[i] >= 0 ? 1 : 0;
    index[i] = i * v + Math.max(0, t[i]);
  }
  const z = x.sub(x.detach().max(1, true));
  const rows = z.exp().sum(1).log().sub(z.reshape([n * v]).gather(new Tensor(NDArray.fromData(index, [n], 'int32', x.data.backend))));
  return rows.mul(new Tensor(NDArray.fromData(keep, [n], x.dtype, x.data.backend)));
}

/** The composed rotation (for createGraph, and for tables that need gradients). */
function composedRope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const [x1, x2] = x.split(2, -1); // [..., T, hd/2] each
  return Tensor.concat([x1.mul(cos).sub(x2.mul(sin)), x2.mul(cos).add(x1.mul(sin))], -1); // [..., T, hd]
}

/**
 * Rotary position embedding of x [..., T, hd] with constant tables cos, sin [T, hd/2] (rotate-half
 * convention, CALM.md §3.2): [x1 cos − x2 sin, x2 cos + x1 sin]. One pass forward and one backward
 * (the inverse rotation of g), where the composition runs ten ops each way; the same numbers bit for
 * bit in float32. Tables that require gradients take the composed path.
 */
export function rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  if (cos.requiresGrad || sin.requiresGrad) return composedRope(x, cos, sin);
  return Tensor.fused('rope', K.rope(x.data, cos.data, sin.data), [x], (g) =>
    isGradEnabled() ? composedVjp((v) => composedRope(v, cos, sin), [x], g) : [new Tensor(K.rope(g.data, cos.data, sin.data, true))],
  );
}

/** Additive causal mask [T, S]: 0 where query i (at position S − T + i) may see key j, −∞ elsewhere. */
export function causalBias(t: number, s: number, like: NDArray): NDArray {
  const data = like.dtype === 'float64' ? new Float64Array(t * s) : new Float32Array(t * s);
  const past = s - t;
  for (let i = 0; i < t; i++) for (let j = past + i + 1; j < s; j++) data[i * s + j] = -Infinity;
  return NDArray.fromData(data, [t, s], like.dtype, like.backend);
}

/** The composed attention (for createGraph): scale q, scores, mask, softmax, weighted values. */
function composedAttention(q: Tensor, k: Tensor, v: Tensor): Tensor {
  const [t, hd] = q.shape.slice(-2);
  const s = k.shape[k.rank - 2];
  let scores = q.mul(1 / Math.sqrt(hd)).matmul(k.transpose()); // [..., T, S]
  if (t > 1) scores = scores.add(new Tensor(causalBias(t, s, q.data)));
  return softmaxLast(scores).matmul(v); // [..., T, hd]
}

/**
 * Causal scaled dot-product attention as one differentiable op (CALM.md §3.2): q [..., T, hd] attends
 * to k, v [..., S, hd], the T queries being the last T of S positions. Forward: scores = (q/√hd) kᵀ,
 * masked, softmax over keys (P), out = P v. Backward from the saved P, in one rule:
 * dV = Pᵀ g, dP = g vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dq = dS k / √hd, dk = dSᵀ (q/√hd).
 * The same kernels as the composition in the same order, so the same numbers bit for bit; what it saves
 * is the graph: one node instead of eight, and no gradient for the mask or the scale.
 */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor): Tensor {
  const [t, hd] = q.shape.slice(-2);
  const s = k.shape[k.rank - 2];
  const scale = 1 / Math.sqrt(hd);
  const qs = q.data.mul(scale); // [..., T, hd] (scaling q is cheaper than scaling the scores)
  let scores = qs.matmul(k.data.transpose()); // [..., T, S]
  if (t > 1) scores = scores.add(causalBias(t, s, q.data));
  const p = K.softmaxRows(scores); // [..., T, S]
  return Tensor.fused('causalAttention', p.matmul(v.data), [q, k, v], (g, needs) => {
    if (isGradEnabled()) return composedVjp(composedAttention, [q, k, v], g);
    const dv = needs[2] ? new Tensor(p.transpose().matmul(g.data)) : null; // [..., S, hd]
    if (!needs[0] && !needs[1]) return [null, null, dv];
    const gy = g.data.matmul(v.data.transpose()).mul(p); // dP ⊙ P   [..., T, S]
    const ds = gy.sub(p.mul(gy.sum(-1, true))); // softmax backward (softmaxLast's rule)
    const dq = needs[0] ? new Tensor(ds.matmul(k.data).mul(scale)) : null; // [..., T, hd]
    // dsᵀ·qs, not (qsᵀ·ds)ᵀ: the same sums over T in the same order (so the same bits), but a contiguous
    // result, which RoPE's backward then reads through its wasm path (it declines transposed rows).
    const dk = needs[1] ? new Tensor(ds.transpose().matmul(qs)) : null; // [..., S, hd]
    return [dq, dk, dv];
  });
}
