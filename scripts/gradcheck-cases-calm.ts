/**
 * Gradient checks for the CALM composites (float64): the energy loss of CALM.md §4.2 (inputs kept away
 * from coincident points, where the norm is not differentiable), the energy head of §3.4 with tiny
 * dimensions, the AE's clipped KL term of §2.7, and the AE encoder/decoder.
 */
import { Tensor } from '../src/autograd/index.js';
import { Autoencoder, gaussianKl } from '../src/calm/autoencoder.js';
import { EnergyHead } from '../src/calm/energy-head.js';
import { energyLoss } from '../src/calm/energy-loss.js';
import type { Module } from '../src/nn/module.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';
import { sizeOf, type Shape } from '../src/tensor/shape.js';
import type { GradcheckCase } from './gradcheck-cases.js';

// Restarted by calmCases() so that every call gives the same values.
let rng = new Rng(20251129);

/** float64 values uniform in [lo, hi). */
function rand(shape: Shape, lo = -1, hi = 1): NDArray {
  const data = new Float64Array(sizeOf(shape));
  for (let i = 0; i < data.length; i++) data[i] = rng.uniformIn(lo, hi);
  return NDArray.fromData(data, shape);
}

/** Gives every parameter of `m` uniform values in [-scale, scale) (init weights are too small to test well). */
function randomise<M extends Module>(m: M, scale: number): M {
  const dict: Record<string, Tensor> = {};
  for (const [name, p] of m.namedParameters()) dict[name] = new Tensor(rand(p.shape, -scale, scale));
  m.loadStateDict(dict);
  return m;
}

/** Smallest pairwise distance between the rows of x [P, N, l] and between x and y [P, M, l]. */
function minDistance(x: NDArray, y: NDArray): number {
  const [p, n, l] = x.shape;
  const m = y.shape[1];
  const xs = x.toTypedArray();
  const ys = y.toTypedArray();
  let best = Infinity;
  const dist = (a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number): number => {
    let s = 0;
    for (let k = 0; k < l; k++) s += (a[ao + k] - b[bo + k]) ** 2;
    return Math.sqrt(s);
  };
  for (let q = 0; q < p; q++) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) if (i !== j) best = Math.min(best, dist(xs, (q * n + i) * l, xs, (q * n + j) * l));
      for (let j = 0; j < m; j++) best = Math.min(best, dist(xs, (q * n + i) * l, ys, (q * m + j) * l));
    }
  }
  return best;
}

/** The cases, built on the current backend (modules included); the same values on every call. */
export function calmCases(): GradcheckCase[] {
  rng = new Rng(20251129);
  const cases: GradcheckCase[] = [];

  const x = rand([2, 3, 4], -2, 2);
  const y = new Tensor(rand([2, 5, 4], -2, 2));
  if (minDistance(x, y.data) < 0.05) throw new Error('calmCases: energy-loss inputs too close to a coincidence; change the seed');
  cases.push({ op: 'energyLoss', label: 'x [2, 3, 4], y [2, 5, 4] (N 3, M 5)', inputs: [x], fn: (s) => energyLoss(s, y) });
  for (const alpha of [0.5, 1.5]) cases.push({ op: 'energyLoss', label: `α = ${alpha}, x [2, 3, 4], y [2, 5, 4]`, inputs: [x], fn: (s) => energyLoss(s, y, alpha) });
  cases.push({
    op: 'energyLoss',
    label: 'x [1, 4, 2] transposed view, y [1, 2, 2]',
    inputs: [rand([1, 2, 4], -2, 2)],
    fn: (s) => energyLoss(s.transpose(1, 2), new Tensor(NDArray.fromData(Float64Array.from([0.3, -0.2, 1.7, 0.9]), [1, 2, 2]))),
  });

  const head = randomise(new EnergyHead({ dim: 4, latent: 3, noiseDim: 2, blocks: 2 }, { rng: new Rng(5), dtype: 'float64' }), 0.7);
  cases.push({ op: 'energyHead', label: 'd 4, l 3, noise 2, B 2: h [2, 4], u [2, 3, 2]', inputs: [rand([2, 4]), rand([2, 3, 2], -0.5, 0.5)], fn: (h, u) => head.forward(h, u) });

  cases.push({
    op: 'klClipped',
    label: 'mu, s [3, 4], floor 0.5 (no KL_i near the floor)',
    inputs: [rand([3, 4], 0.8, 2), rand([3, 4], -0.5, 0.5)],
    fn: (mu, s) => gaussianKl(mu, s).maximum(0.5).sum(1).mean(),
  });

  const ae = randomise(new Autoencoder({ vocabSize: 7, K: 2, hidden: 4, intermediate: 6, latent: 3, encoderLayers: 2, decoderLayers: 2 }, { rng: new Rng(6), dtype: 'float64' }), 0.6);
  cases.push({ op: 'autoencoder', label: 'decode z [2, 3] -> logits [2, 2, 7] (tied embedding)', inputs: [rand([2, 3])], fn: (z) => ae.decode(z) });
  return cases;
}
