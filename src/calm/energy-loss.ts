/**
 * The energy loss of CALM (CALM.md §4): the Monte Carlo energy score, with the reference's exponent α = 1
 * by default, written so that its gradient is exactly the one of §4.3, including the zero-distance
 * convention (gradient 0, never NaN). Other exponents α ∈ (0, 2) keep the score strictly proper (§4.1).
 */
import { Tensor } from '../autograd/tensor.js';
import { NDArray } from '../tensor/ndarray.js';
import { fmtShape } from '../tensor/shape.js';

/**
 * √sq for squared norms `sq` [...], with value and gradient 0 where sq = 0 (PyTorch's convention for
 * the norm, CALM.md §4.3). Tiny negative values (round-off of a squared norm computed as
 * ||x||² + ||y||² − 2 x·y) count as 0.
 *
 * sqrt has an infinite derivative at 0, so zero squared norms are replaced by 1 before the sqrt and
 * the result masked back to 0: `where`'s backward sends 0 to the masked branch, and the sqrt's own
 * backward there is g / (2·1) = 0, so no 0·∞ = NaN can appear.
 */
export function safeSqrt(sq: Tensor): Tensor {
  return atPositive(sq, (s) => s.sqrt());
}

/**
 * (√sq)^α for squared norms `sq` [...]: {@link safeSqrt} when α = 1, otherwise exp((α/2)·log sq), with
 * value and gradient 0 where sq = 0. For α < 1 the derivative grows without bound as sq → 0 but is
 * finite at every positive sq.
 */
export function safeDistancePower(sq: Tensor, alpha: number): Tensor {
  if (alpha === 1) return safeSqrt(sq);
  return atPositive(sq, (s) => s.log().mul(alpha / 2).exp());
}

/** `f` of the squared norms `sq`, evaluated at 1 and masked to 0 (value and gradient) where sq is 0 or negative round-off. */
function atPositive(sq: Tensor, f: (positiveSq: Tensor) => Tensor): Tensor {
  // Negative round-off to 0; lt is false for NaN, so a NaN stays NaN.
  const clamped = Tensor.where(new Tensor(sq.data.lt(0)), 0, sq); // [...]
  // ne(0), not gt(0): a NaN distance must stay NaN (gt would mask it to 0, and a diverged model would score a perfect loss).
  const positive = new Tensor(clamped.data.ne(0)); // [...]   1 where ||v|| > 0 or NaN (no gradient through the mask)
  const safe = f(Tensor.where(positive, clamped, 1)); // [...]   f(||v||²), or f(1) where v = 0
  return Tensor.where(positive, safe, 0); // [...]   with zero value and gradient at v = 0
}

/** Checks an energy-score exponent: strictly proper only for α in (0, 2) (CALM.md §4.1). */
export function checkEnergyExponent(where: string, alpha: number): void {
  if (!(alpha > 0 && alpha < 2)) throw new RangeError(`${where}: the energy-score exponent α must lie in (0, 2) (CALM.md §4.1), got ${alpha}`);
}

/** The energy loss and its two terms (CALM.md §4.2), each as a tensor. */
export interface EnergyLossTerms {
  /** Scalar: mean over positions of attraction − repulsion. */
  readonly loss: Tensor;
  /** Scalar: mean over positions of (2 / (N·M)) Σ_i Σ_m ||x_i − y_m|| (pulls samples to the targets). */
  readonly attraction: Tensor;
  /** Scalar: mean over positions of (1 / (N·(N−1))) Σ_{i≠j} ||x_i − x_j|| (keeps the samples diverse). */
  readonly repulsion: Tensor;
  /** [P]: attraction − repulsion at each position. */
  readonly perPosition: Tensor;
}

/**
 * Energy loss per CALM.md §4.2 with α = 1, averaged over positions:
 *
 * L = (2 / (N·M)) Σ_i Σ_m ||x_i − y_m|| − (1 / (N·(N−1))) Σ_i Σ_{j≠i} ||x_i − x_j||
 *
 * `samples` x [P, N, l] are the model's N samples per position (N ≥ 2), `targets` y [P, M, l] the M
 * posterior samples (treated as constants: their gradient is never used). Returns a scalar.
 */
export function energyLoss(samples: Tensor, targets: Tensor, alpha = 1): Tensor {
  return energyLossTerms(samples, targets, alpha).loss;
}

/**
 * {@link energyLoss} with its attraction and repulsion terms apart, for diagnostics: a head that
 * collapses to one point has repulsion 0; one that ignores its context keeps attraction high.
 * `alpha` is the exponent α of every distance (CALM.md §4.1; the reference uses 1).
 */
export function energyLossTerms(samples: Tensor, targets: Tensor, alpha = 1): EnergyLossTerms {
  checkEnergyExponent('energyLoss', alpha);
  if (samples.rank !== 3 || targets.rank !== 3 || samples.shape[0] !== targets.shape[0] || samples.shape[2] !== targets.shape[2]) {
    throw new RangeError(`energyLoss: samples must be [P, N, l] and targets [P, M, l], got ${fmtShape(samples.shape)} and ${fmtShape(targets.shape)}`);
  }
  const [p, n, l] = samples.shape;
  const m = targets.shape[1];
  if (n < 2) throw new RangeError(`energyLoss: needs N >= 2 samples per position for the repulsion term, got samples ${fmtShape(samples.shape)}`);
  if (m < 1) throw new RangeError(`energyLoss: needs M >= 1 target samples, got targets ${fmtShape(targets.shape)}`);
  const y = targets.detach(); // [P, M, l]   no gradient into the targets (§4.2)

  // Attraction: mean over (i, m) of ||x_i − y_m||, times 2. The N·M squared distances come from
  // ||x||² + ||y||² − 2 x·y (one batched matmul) instead of an [P, N, M, l] difference tensor: l times
  // less memory and the matmul kernel's speed. The cancellation is harmless here because a target is a
  // posterior sample, never closer to a model sample than the posterior noise; the repulsion below,
  // whose samples may nearly coincide, keeps the direct differences.
  const xx = samples.mul(samples).sum(-1).reshape([p, n, 1]); // [P, N, 1]   ||x_i||²
  const yy = y.mul(y).sum(-1).reshape([p, 1, m]); // [P, 1, M]   ||y_m||²
  const xy = samples.matmul(y.transpose(1, 2)); // [P, N, M]   x_i · y_m
  const toTargets = safeDistancePower(xx.add(yy).sub(xy.mul(2)), alpha); // [P, N, M]   ||x_i − y_m||^α
  const attraction = toTargets.sum([1, 2]).mul(2 / (n * m)); // [P]

  // Repulsion: mean over ordered pairs i ≠ j of ||x_i − x_j||; the diagonal is skipped by the mask
  // (its distance is exactly 0 anyway, and safeDistancePower gives it zero gradient).
  const diff = samples.reshape([p, n, 1, l]).sub(samples.reshape([p, 1, n, l])); // [P, N, N, l]
  const pairwise = safeDistancePower(diff.mul(diff).sum(-1), alpha); // [P, N, N]   ||x_i − x_j||^α
  const offDiagonal = offDiagonalMask(n, samples); // [N, N]
  const repulsion = pairwise.mul(offDiagonal).sum([1, 2]).mul(1 / (n * (n - 1))); // [P]

  const perPosition = attraction.sub(repulsion); // [P]
  return { loss: perPosition.mean(), attraction: attraction.mean(), repulsion: repulsion.mean(), perPosition }; // []   mean over positions (§4.2)
}

/** [N, N] with 1 off the diagonal and 0 on it, in the dtype and backend of `like`. */
function offDiagonalMask(n: number, like: Tensor): Tensor {
  const data = like.dtype === 'float64' ? new Float64Array(n * n) : new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) data[i * n + j] = i === j ? 0 : 1;
  return new Tensor(NDArray.fromData(data, [n, n], like.dtype, like.data.backend));
}
