/**
 * How many directions of the latent space an autoencoder actually uses (CALM.md §2.9, §10.2): the
 * eigenvalues of the covariance of μ over held-out chunks, the effective rank (eigenvalues above 1 % of
 * the largest) and the participation ratio (Σλ)² / Σλ². A collapsed latent shows up as a rank far
 * below l; plain TypeScript on Float64Arrays, no tensors.
 */

/**
 * Eigenvalues of a symmetric n × n matrix (row-major), in descending order, by cyclic Jacobi
 * rotations: slow (O(n³) per sweep) but simple and accurate, fine for n ≤ a few hundred.
 */
export function symmetricEigenvalues(matrix: ArrayLike<number>, n: number, options: { tolerance?: number; maxSweeps?: number } = {}): Float64Array {
  if (matrix.length !== n * n) throw new RangeError(`symmetricEigenvalues: expected ${n} x ${n} = ${n * n} entries, got ${matrix.length}`);
  const a = Float64Array.from(matrix);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const scale = Math.max(1, Math.abs(a[i * n + j]), Math.abs(a[j * n + i]));
      if (Math.abs(a[i * n + j] - a[j * n + i]) > 1e-9 * scale) throw new RangeError(`symmetricEigenvalues: matrix is not symmetric at (${i}, ${j})`);
    }
  }
  const tolerance = options.tolerance ?? 1e-12;
  const maxSweeps = options.maxSweeps ?? 100;
  const offNorm = (): number => {
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) s += a[i * n + j] ** 2;
    return Math.sqrt(s);
  };
  let total = 0;
  for (let i = 0; i < n * n; i++) total += a[i] ** 2;
  const stop = tolerance * Math.sqrt(total);
  for (let sweep = 0; sweep < maxSweeps && offNorm() > stop; sweep++) {
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        // The rotation (c, s) that zeroes a[p][q] (Golub & Van Loan, symmetric Schur decomposition).
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return values.sort().reverse();
}

/** Covariance (divided by rows − 1) of the columns of `rows` × `cols` data (row-major): [cols, cols]. */
export function covariance(data: ArrayLike<number>, rows: number, cols: number): Float64Array {
  if (data.length !== rows * cols || rows < 2) throw new RangeError(`covariance: needs at least 2 rows of ${cols}, got ${data.length} values for ${rows} rows`);
  const mean = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) mean[c] += data[r * cols + c] / rows;
  const cov = new Float64Array(cols * cols);
  const centred = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) centred[c] = data[r * cols + c] - mean[c];
    for (let i = 0; i < cols; i++) {
      const ci = centred[i];
      for (let j = i; j < cols; j++) cov[i * cols + j] += ci * centred[j];
    }
  }
  for (let i = 0; i < cols; i++) {
    for (let j = i; j < cols; j++) {
      cov[i * cols + j] /= rows - 1;
      cov[j * cols + i] = cov[i * cols + j];
    }
  }
  return cov;
}

/** Effective dimensionality of a set of covariance eigenvalues. */
export interface LatentRank {
  /** Eigenvalues above `threshold` × the largest. */
  readonly effectiveRank: number;
  readonly threshold: number;
  /** (Σλ)² / Σλ²: 1 for one direction, n for n equal directions. */
  readonly participationRatio: number;
  /** All eigenvalues, descending. */
  readonly eigenvalues: number[];
}

/** Effective rank (eigenvalues above 1 % of the largest by default) and participation ratio. */
export function latentRank(eigenvalues: ArrayLike<number>, threshold = 0.01): LatentRank {
  const values = Array.from(eigenvalues).sort((x, y) => y - x);
  const largest = values[0] ?? 0;
  let sum = 0;
  let sumSq = 0;
  for (const v of values) {
    const w = Math.max(0, v); // round-off can leave tiny negative eigenvalues
    sum += w;
    sumSq += w * w;
  }
  return {
    effectiveRank: largest > 0 ? values.filter((v) => v > threshold * largest).length : 0,
    threshold,
    participationRatio: sumSq > 0 ? (sum * sum) / sumSq : 0,
    eigenvalues: values,
  };
}
