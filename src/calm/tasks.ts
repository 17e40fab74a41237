/**
 * Training tasks for the shared trainer (src/nn/train): the autoencoder (CALM.md §2.8 data, §2.7 loss)
 * and the CALM language model (§3.3 data and alignment, §4.2 loss), plus the AE robustness report of
 * §10.2.
 */
import { noGrad } from '../autograd/grad-mode.js';
import { Tensor } from '../autograd/tensor.js';
import type { JsonValue } from '../nn/checkpoint.js';
import { BlockLoader, type BlockLoaderState } from '../nn/data/loader.js';
import type { TrainTask } from '../nn/train/trainer.js';
import { memoryScope } from '../tensor/memory.js';
import { NDArray } from '../tensor/ndarray.js';
import { Rng, type RngState } from '../tensor/random.js';
import { Autoencoder, checkAutoencoderMatch, gaussianKl, type AutoencoderRegularisation } from './autoencoder.js';
import { calmSampler, evaluateCalmBrier } from './evaluate.js';
import type { CalmModel, TargetKind } from './calm-model.js';
import { covariance, latentRank, symmetricEigenvalues } from './latent-stats.js';
import { ChunkTables, gapClosed, referenceLevels, type ReferenceLevels } from './reference-levels.js';

/** int32 [rows, cols] tensor over `ids`. */
function idTensor(ids: Int32Array, rows: number, cols: number): Tensor {
  return new Tensor(NDArray.fromData(ids, [rows, cols], 'int32'));
}

/** `count` evenly spaced, non-overlapping blocks of `length` ids from `tokens` (fewer when too short). */
export function evenBlocks(tokens: Int32Array, length: number, count: number): { ids: Int32Array; count: number } {
  const available = Math.floor(tokens.length / length);
  const n = Math.min(count, available);
  if (n === 0) throw new RangeError(`evenBlocks: ${tokens.length} ids are fewer than one block of ${length}`);
  const ids = new Int32Array(n * length);
  for (let i = 0; i < n; i++) {
    const block = Math.floor((i * available) / n);
    ids.set(tokens.subarray(block * length, (block + 1) * length), i * length);
  }
  return { ids, count: n };
}

interface LoaderTaskState {
  loader: BlockLoaderState;
  rng: RngState;
}

function loaderState(state: JsonValue, who: string): LoaderTaskState {
  if (state === null || typeof state !== 'object' || Array.isArray(state) || !('loader' in state) || !('rng' in state)) {
    throw new Error(`${who}.loadState: expected { loader, rng }, got ${JSON.stringify(state)?.slice(0, 120)}`);
  }
  return state as unknown as LoaderTaskState;
}

// ------------------------------------------------------------------ autoencoder

/** Options of {@link createAutoencoderTask}. */
export interface AutoencoderTaskOptions {
  readonly model: Autoencoder;
  /** AE token streams: documents ending in EOS and padded with PAD to a multiple of K (CALM.md §2.8). */
  readonly trainTokens: Int32Array;
  readonly validTokens: Int32Array;
  /** Chunks per batch. */
  readonly batchSize: number;
  readonly regularisation: AutoencoderRegularisation;
  readonly seed: number;
  /** Held-out chunks per evaluation (default 4096). */
  readonly validChunks?: number;
}

/** The AE as a {@link TrainTask}: random chunks (never straddling documents), loss of §2.7. */
export function createAutoencoderTask(o: AutoencoderTaskOptions): TrainTask {
  const { model, batchSize, regularisation } = o;
  const K = model.config.K;
  for (const [name, t] of [['trainTokens', o.trainTokens], ['validTokens', o.validTokens]] as const) {
    if (t.length % K !== 0) throw new RangeError(`createAutoencoderTask: ${name} has ${t.length} ids, not a multiple of K = ${K} (pad documents, CALM.md §2.8)`);
  }
  const loader = new BlockLoader(o.trainTokens, { batchSize, blockSize: K, seed: o.seed });
  const rng = new Rng(o.seed + 1);
  const valid = evenBlocks(o.validTokens, K, o.validChunks ?? 4096);
  return {
    name: 'autoencoder',
    model,
    trainStep() {
      const ids = idTensor(loader.next(), batchSize, K); // [B, K]
      const out = model.loss(ids, regularisation, rng);
      return { loss: out.loss, tokens: batchSize * K, metrics: { ce: out.ce, kl: out.kl, klClipped: out.klClipped } };
    },
    evaluate() {
      // The reference reports the mean token CE in eval (no ×K, no KL), decoding a sample (CALM.md §2.7).
      // A scope of its own: the intermediates of thousands of chunks are released before the next pass.
      const out = memoryScope(() => {
        const { ce, kl } = model.loss(idTensor(valid.ids, valid.count, K), regularisation, new Rng(o.seed + 2)); // ids [C, K]
        return { ce, kl };
      });
      const report = autoencoderAccuracy(model, valid.ids, K);
      return { validLoss: out.ce, validKl: out.kl, accuracyMu: report };
    },
    state() {
      return { loader: loader.state(), rng: rng.getState() } as unknown as JsonValue;
    },
    loadState(state) {
      const s = loaderState(state, 'autoencoder task');
      loader.setState(s.loader);
      rng.setState(s.rng);
    },
  };
}

/** Share of tokens of `ids` (a multiple of K) reconstructed by decoding μ, in eval mode. */
function autoencoderAccuracy(model: Autoencoder, ids: Int32Array, K: number): number {
  return noGrad(() => memoryScope(() => {
    const { mu } = model.encode(idTensor(ids, ids.length / K, K));
    return accuracy(model.decodeTokens(mu).toTypedArray(), ids);
  }));
}

function accuracy(predicted: ArrayLike<number>, truth: ArrayLike<number>): number {
  let hits = 0;
  for (let i = 0; i < truth.length; i++) if (predicted[i] === truth[i]) hits++;
  return hits / truth.length;
}

/** The robustness report of CALM.md §10.2 (JSON-able). */
export interface RobustnessReport {
  /** Held-out tokens scored. */
  readonly tokens: number;
  /** Token accuracy decoding μ. */
  readonly accuracyMu: number;
  /** Token accuracy decoding one posterior sample z = μ + σ ⊙ ε. */
  readonly accuracySample: number;
  /** Token accuracy decoding μ + N(0, s²) noise, by s. */
  readonly accuracyNoise: Record<string, number>;
  /** Mean σ over chunks and dimensions. */
  readonly meanSigma: number;
  /** Mean over chunks of the unclipped KL sum (nats). */
  readonly meanKl: number;
  /** Latent dimensions whose mean KL over the held-out chunks is below the floor λ. */
  readonly dimsAtKlFloor: number;
  /** Mean KL (nats) of each latent dimension over the held-out chunks, descending. */
  readonly klPerDim: number[];
  /** Eigenvalues of the covariance of μ above 1 % of the largest: the directions the AE really uses. */
  readonly effectiveRank: number;
  /** (Σλ)² / Σλ² of the covariance of μ. */
  readonly participationRatio: number;
  /** The covariance eigenvalues of μ, descending. */
  readonly muEigenvalues: number[];
  readonly latent: number;
}

/**
 * Robustness of the AE on held-out ids (CALM.md §2.9, §10.2): accuracy decoding μ, a posterior sample,
 * and μ plus Gaussian noise of each scale; mean σ; and how many latent dims sit at the KL floor.
 */
export function autoencoderRobustness(
  model: Autoencoder,
  ids: Int32Array,
  options: { rng: Rng; klFloor: number; noiseScales?: readonly number[]; batchChunks?: number },
): RobustnessReport {
  const { K, latent } = model.config;
  if (ids.length % K !== 0 || ids.length === 0) throw new RangeError(`autoencoderRobustness: ${ids.length} ids is not a positive multiple of K = ${K}`);
  const scales = options.noiseScales ?? [0.1, 0.3, 0.5];
  const batch = options.batchChunks ?? 4096;
  const chunks = ids.length / K;
  const predicted = { mu: new Int32Array(ids.length), sample: new Int32Array(ids.length), noise: scales.map(() => new Int32Array(ids.length)) };
  const klPerDim = new Float64Array(latent);
  const mus = new Float64Array(chunks * latent); // every μ, for the covariance
  let sigmaSum = 0;
  let klSum = 0;
  const wasTraining = model.training;
  model.eval();
  try {
    // A memory scope per batch and per decode: a 4096-chunk decode's intermediates run to hundreds of MB,
    // which outside a scope soon outgrow the CPU heap's share and land in fresh memory (first-touch page
    // faults: 51 instead of 2-3 ms for one [4096, 4, 320] product on this project's VM).
    const decoded = (z: () => Tensor): ArrayLike<number> => memoryScope(() => model.decodeTokens(z()).toTypedArray());
    noGrad(() => {
      for (let start = 0; start < chunks; start += batch) {
        memoryScope(() => {
          const count = Math.min(batch, chunks - start);
          const slice = ids.subarray(start * K, (start + count) * K);
          const { mu, logSigma } = model.encode(idTensor(slice, count, K)); // [C, l] each
          const sigma = logSigma.exp(); // [C, l]
          const at = start * K;
          predicted.mu.set(decoded(() => mu), at);
          mus.set(mu.toTypedArray(), start * latent);
          const eps = Tensor.randn(mu.shape, options.rng); // [C, l]
          predicted.sample.set(decoded(() => mu.add(sigma.mul(eps))), at);
          scales.forEach((s, i) => predicted.noise[i].set(decoded(() => mu.add(Tensor.randn(mu.shape, options.rng, { std: s }))), at));
          sigmaSum += sigma.sum().item();
          const kl = gaussianKl(mu, logSigma); // [C, l]
          klSum += kl.sum().item();
          const perDim = kl.sum(0).toTypedArray(); // [l]
          for (let j = 0; j < latent; j++) klPerDim[j] += perDim[j];
        });
      }
    });
  } finally {
    model.train(wasTraining);
  }
  // A diverged encoder must not produce a report that reads as a result.
  if (!Number.isFinite(sigmaSum) || !Number.isFinite(klSum)) throw new Error(`autoencoderRobustness: the encoder gives non-finite values (sum of sigma ${sigmaSum}, sum of KL ${klSum}): the weights have diverged`);
  let atFloor = 0;
  for (let j = 0; j < latent; j++) if (klPerDim[j] / chunks < options.klFloor) atFloor++;
  const accuracyNoise: Record<string, number> = {};
  scales.forEach((s, i) => (accuracyNoise[String(s)] = accuracy(predicted.noise[i], ids)));
  const rank = chunks >= 2 ? latentRank(symmetricEigenvalues(covariance(mus, chunks, latent), latent)) : null;
  return {
    tokens: ids.length,
    accuracyMu: accuracy(predicted.mu, ids),
    accuracySample: accuracy(predicted.sample, ids),
    accuracyNoise,
    meanSigma: sigmaSum / (chunks * latent),
    meanKl: klSum / chunks,
    dimsAtKlFloor: atFloor,
    klPerDim: Array.from(klPerDim, (k) => k / chunks).sort((x, y) => y - x),
    effectiveRank: rank?.effectiveRank ?? NaN,
    participationRatio: rank?.participationRatio ?? NaN,
    muEigenvalues: rank?.eigenvalues ?? [],
    latent,
  };
}

// ------------------------------------------------------------------ CALM

/** Options of {@link createCalmTask}. */
export interface CalmTaskOptions {
  readonly model: CalmModel;
  /** The trained autoencoder; frozen here (its parameters stop requiring gradients). */
  readonly autoencoder: Autoencoder;
  /** LM token streams: BOS-prefixed documents concatenated, no EOS, no padding (CALM.md §3.3). */
  readonly trainTokens: Int32Array;
  readonly validTokens: Int32Array;
  /** Chunks T per training block (T−1 targets each). */
  readonly blockChunks: number;
  readonly batchSize: number;
  /** Target samples M per position (reference 100, CALM.md §4.2). */
  readonly targetSamples: number;
  /** Posterior samples (the reference) or μ as targets (default 'posterior'; see TargetKind). */
  readonly targets?: TargetKind;
  readonly seed: number;
  /** Held-out blocks per evaluation of the energy loss (default 64). */
  readonly validBlocks?: number;
  /** Held-out blocks per evaluation of BrierLM (default 256; K ≥ 4 scores them in batched passes). */
  readonly brierBlocks?: number;
  /** Chunk count tables for the reference levels (K ≥ 4); built from `trainTokens` when absent. */
  readonly referenceTables?: ChunkTables;
}

/** Parameter groups of a CALM for gradient diagnostics: input compression, backbone, energy head. */
export function calmParamGroup(name: string): string {
  if (name.startsWith('head.')) return 'head';
  if (name.startsWith('backbone.')) return 'backbone';
  return 'input'; // tokenEmbedding, compressIn, compressOut, compressNorm (CALM.md §3.1)
}

/** Freezes every parameter of the autoencoder (CALM.md §3.3: the AE is fixed during LM training). */
export function freeze(model: Autoencoder): void {
  model.eval();
  for (const p of model.parameters()) p.requireGrad(false);
}

/** CALM as a {@link TrainTask}: blocks of T chunks, energy loss against the frozen AE posterior. */
export function createCalmTask(o: CalmTaskOptions): TrainTask {
  const { model, autoencoder, batchSize, blockChunks, targetSamples } = o;
  const K = model.config.K;
  checkAutoencoderMatch('createCalmTask', model.config, autoencoder.config);
  if (!Number.isInteger(blockChunks) || blockChunks < 2) throw new RangeError(`createCalmTask: blockChunks must be an integer >= 2, got ${blockChunks}`);
  freeze(autoencoder);
  const length = blockChunks * K;
  const loader = new BlockLoader(o.trainTokens, { batchSize, blockSize: length, seed: o.seed });
  const rng = new Rng(o.seed + 1);
  const valid = evenBlocks(o.validTokens, length, o.validBlocks ?? 64);
  const brierValid = evenBlocks(o.validTokens, length, o.brierBlocks ?? 256);
  // Reference levels on the same held-out positions, computed once (CALM.md §4.2, §6.2; reference-levels.ts).
  let levels: ReferenceLevels | null | undefined;
  const referenceLevelsOnce = (): ReferenceLevels | null => {
    if (levels === undefined) {
      levels = K < 4 ? null : noGrad(() => referenceLevels(o.referenceTables ?? ChunkTables.fromTokens(o.trainTokens, K), autoencoder, valid.ids, length, { nSamples: model.config.nSamples, targetSamples, targets: o.targets, rng: new Rng(o.seed + 3) }));
    }
    return levels;
  };
  return {
    name: 'calm',
    model,
    trainStep() {
      const ids = idTensor(loader.next(), batchSize, length); // [B, T·K]
      const { loss, positions, attraction, repulsion } = model.loss(ids, autoencoder, rng, targetSamples, o.targets);
      return { loss, tokens: batchSize * length, metrics: { positions, attraction: attraction.item(), repulsion: repulsion.item() } };
    },
    evaluate() {
      const evalRng = new Rng(o.seed + 2); // the same noise every evaluation: comparable numbers
      const ids = idTensor(valid.ids, valid.count, length); // [Bv, T·K]
      const out = model.loss(ids, autoencoder, evalRng, targetSamples, o.targets, 1); // α = 1 whatever the training exponent: comparable with the reference levels
      const validLoss = out.loss.item();
      const brier = evaluateCalmBrier(calmSampler(model, autoencoder, evalRng), brierValid.ids, length, { rng: evalRng });
      const result: Record<string, number> = { validLoss, validAttraction: out.attraction.item(), validRepulsion: out.repulsion.item(), brierLM: brier.brierLM };
      brier.brier.forEach((b, n) => (result[`brier${n + 1}`] = b));
      const ref = referenceLevelsOnce();
      if (ref !== null) Object.assign(result, { gapClosed: gapClosed(validLoss, ref), unigramLevel: ref.unigram.energyLoss, bigramLevel: ref.bigram.energyLoss });
      return result;
    },
    paramGroup: calmParamGroup,
    referenceLevels(): Record<string, number> {
      const ref = referenceLevelsOnce();
      return ref === null ? {} : { 'chunk-unigram': ref.unigram.energyLoss, 'chunk-bigram': ref.bigram.energyLoss };
    },
    state() {
      return { loader: loader.state(), rng: rng.getState() } as unknown as JsonValue;
    },
    loadState(state) {
      const s = loaderState(state, 'calm task');
      loader.setState(s.loader);
      rng.setState(s.rng);
    },
  };
}

