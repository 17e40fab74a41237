/**
 * Functional ops. Most are composed from the engine's differentiable primitives and have no backward
 * rule of their own (checked in scripts/gradcheck-cases-nn.ts); softmax over the last axis, SiLU,
 * RMSNorm, LayerNorm and cross-entropy call the fused ops of src/autograd/fused.ts (one kernel forward, one
 * backward), whose composed definitions are kept next to them there.
 */
import * as fused from '../autograd/fused.js';
import { Tensor } from '../autograd/tensor.js';
import { NDArray } from '../tensor/ndarray.js';
import type { Rng } from '../tensor/random.js';
import { fmtShape, normAxis } from '../tensor/shape.js';

/**
 * softmax(x) = exp(x - max) / sum(exp(x - max)) along `axis`. The max is detached: softmax is
 * shift-invariant, so the gradient is exact and the max's own backward is skipped.
 */
export function softmax(x: Tensor, axis = -1): Tensor {
  const a = normAxis('softmax', axis, x.rank, x.shape);
  if (a === x.rank - 1 && x.size > 0) return fused.softmaxLast(x); // one kernel each way
  const shifted = x.sub(x.detach().max(a, true)); // [..., n, ...]
  const e = shifted.exp(); // [..., n, ...]
  return e.div(e.sum(a, true)); // [..., n, ...]
}

/** log softmax(x) = (x - max) - log(sum(exp(x - max))) along `axis`; stable for large logits. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const a = normAxis('logSoftmax', axis, x.rank, x.shape);
  const shifted = x.sub(x.detach().max(a, true)); // [..., n, ...]
  return shifted.sub(shifted.exp().sum(a, true).log()); // [..., n, ...]
}

/**
 * Mean cross-entropy of `logits` [N, V] against int32 `targets` [N], over the targets that are not
 * `ignoreIndex`. With every target ignored the loss is 0 (still connected to `logits`, so a
 * backward pass gives zero gradients rather than NaN).
 *
 * loss_i = logsumexp(z_i) - z_i[t_i], computed by one fused op (softmax and pick in one pass, backward
 * p - onehot(t) in one pass; src/autograd/fused.ts).
 */
export function crossEntropy(logits: Tensor, targets: Tensor, options: { ignoreIndex?: number } = {}): Tensor {
  if (logits.rank !== 2) throw new RangeError(`crossEntropy: logits must be [N, V], got ${fmtShape(logits.shape)}`);
  const [n, v] = logits.shape;
  if (targets.dtype !== 'int32' || targets.rank !== 1 || targets.shape[0] !== n) {
    throw new TypeError(`crossEntropy: targets must be int32 [${n}], got ${targets.dtype} ${fmtShape(targets.shape)}`);
  }
  const ignore = options.ignoreIndex;
  const t = targets.toTypedArray();
  const rows: number[] = [];
  const flatIndex: number[] = [];
  for (let i = 0; i < n; i++) {
    const ti = t[i];
    if (ti === ignore) continue;
    if (!(ti >= 0 && ti < v)) throw new RangeError(`crossEntropy: target ${ti} at row ${i} is outside [0, ${v}) (ignoreIndex ${ignore})`);
    rows.push(i);
    flatIndex.push(i * v + ti);
  }
  if (rows.length === 0) return logits.sum().mul(0); // []

  // One fused op (src/autograd/fused.ts): the row losses, 0 on ignored rows (target -1 there).
  const marked = new Int32Array(n).fill(-1);
  for (let k = 0; k < rows.length; k++) marked[rows[k]] = flatIndex[k] - rows[k] * v;
  const perRow = fused.softmaxCrossEntropy(logits, new Tensor(NDArray.fromData(marked, [n], 'int32', logits.data.backend))); // [N]
  return perRow.sum().mul(1 / rows.length); // []
}

/** SiLU (swish): x * sigmoid(x). */
export function silu(x: Tensor): Tensor {
  return fused.silu(x);
}

/** silu(gate) · up (the SwiGLU gate) in one fused op. */
export function siluMul(gate: Tensor, up: Tensor): Tensor {
  return fused.siluMul(gate, up);
}

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * GELU, tanh approximation (as in GPT-2 and PyTorch's `approximate='tanh'`, not the exact erf form):
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
 */
export function gelu(x: Tensor): Tensor {
  const inner = x.add(x.mul(x).mul(x).mul(0.044715)).mul(GELU_C); // [...]
  return x.mul(inner.tanh().add(1)).mul(0.5); // [...]
}

/**
 * Inverted dropout: zeroes each element with probability `p` and scales the survivors by 1/(1-p),
 * so the expectation is unchanged. Identity when not training or p = 0. The mask is drawn from
 * `rng` on the host.
 */
export function dropout(x: Tensor, p: number, rng: Rng, training: boolean): Tensor {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`dropout: p must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  const dtype = x.dtype === 'float64' ? 'float64' : 'float32';
  const mask = rng.uniformArray(x.size, 0, 1, dtype);
  const keep = p === 1 ? 0 : 1 / (1 - p);
  for (let i = 0; i < mask.length; i++) mask[i] = mask[i] >= p ? keep : 0;
  return x.mul(new Tensor(NDArray.fromData(mask, x.shape, x.dtype, x.data.backend))); // [...]
}

/** RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight (CALM.md §2.1). */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps = 1e-6): Tensor {
  return fused.rmsNorm(x, weight, eps); // [..., d]
}

/** LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * weight + bias (CALM.md §3.1). */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-6): Tensor {
  return fused.layerNorm(x, weight, bias, eps); // [..., d]
}

/**
 * Rotary position embedding tables for `count` positions starting at `start`: cos and sin of
 * pos * theta^(-2i/headDim), each [count, headDim/2], computed in float64 on the host
 * (CALM.md §3.2: θ = 10,000, rotate-half convention).
 */
export function ropeTables(
  start: number,
  count: number,
  headDim: number,
  options: { theta?: number; dtype?: 'float32' | 'float64' } = {},
): { cos: Tensor; sin: Tensor } {
  if (headDim % 2 !== 0 || headDim <= 0) throw new RangeError(`ropeTables: headDim must be even and positive, got ${headDim}`);
  const theta = options.theta ?? 10000;
  const half = headDim / 2;
  const dtype = options.dtype ?? 'float32';
  const cos = dtype === 'float64' ? new Float64Array(count * half) : new Float32Array(count * half);
  const sin = dtype === 'float64' ? new Float64Array(count * half) : new Float32Array(count * half);
  for (let i = 0; i < half; i++) {
    const invFreq = Math.pow(theta, (-2 * i) / headDim);
    for (let p = 0; p < count; p++) {
      const angle = (start + p) * invFreq;
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos: Tensor.fromData(cos, [count, half]), sin: Tensor.fromData(sin, [count, half]) };
}

/**
 * Applies RoPE to x [..., T, hd] with tables cos, sin [T, hd/2] (rotate-half convention: the pairs
 * are (x_i, x_{i + hd/2})): out = [x1 cos - x2 sin, x2 cos + x1 sin].
 */
export function applyRope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const hd = x.shape[x.rank - 1];
  const t = x.shape[x.rank - 2];
  if (cos.rank !== 2 || cos.shape[0] !== t || cos.shape[1] * 2 !== hd) {
    throw new RangeError(`applyRope: tables ${fmtShape(cos.shape)} do not fit input ${fmtShape(x.shape)} (expected [${t}, ${hd / 2}])`);
  }
  return fused.rope(x, cos, sin); // [..., T, hd], one kernel each way (src/autograd/fused.ts)
}

/**
 * Causal scaled dot-product attention: q [B, H, T, hd] attends to k, v [B, H, S, hd], where the T
 * queries are the last T of S positions (S - T cached ones come first). Scale 1/sqrt(hd)
 * (CALM.md §3.2).
 */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor): Tensor {
  const t = q.shape[q.rank - 2];
  const s = k.shape[k.rank - 2];
  if (s < t) throw new RangeError(`causalAttention: ${t} queries but only ${s} keys (q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)})`);
  if (q.rank < 2 || k.rank !== q.rank || v.rank !== q.rank || k.shape[k.rank - 1] !== q.shape[q.rank - 1] || v.shape[v.rank - 2] !== s) {
    throw new RangeError(`causalAttention: expected q [..., T, hd], k [..., S, hd], v [..., S, hd_v], got q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}`);
  }
  return fused.causalAttention(q, k, v); // [B, H, T, hd], one op with one backward (src/autograd/fused.ts)
}
