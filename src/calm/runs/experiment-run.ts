/**
 * The experiment of `calm experiment`: the compute-matched K ablation (CALM.md §8.4, §10.3). Trains one autoencoder and one
 * CALM per K, and the baseline Transformer with the same backbone, giving every LM the baseline's training
 * FLOPs (flops.ts); evaluates BrierLM on held-out blocks at a few checkpoints of each run; measures generation
 * speed; writes RESULTS.md, results.json and brierlm-vs-flops.svg into --out.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { noGrad } from '../../autograd/grad-mode.js';
import { Tensor } from '../../autograd/tensor.js';
import { saveCheckpoint, type JsonValue } from '../../nn/checkpoint.js';
import { loadCorpus, splitCorpus, VALID_FRACTION } from '../../nn/data/corpus.js';
import { utf8Bytes } from '../../nn/data/tokenizer.js';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../../nn/io/atomic.js';
import { createLmTask, encodeLmSplits } from '../../nn/train/lm-task.js';
import { saveTokenizer, trainTokenizer, type TokenizerKind } from '../../nn/train/tokenizer-file.js';
import { OPTIMISER_DEFAULTS, trainerOptions, type TrainConfig } from '../../nn/train/train-config.js';
import { train, type TrainTask } from '../../nn/train/trainer.js';
import { defaultFfn, TRANSFORMER_RUN_DEFAULTS, type TransformerRunConfig } from '../../nn/train/transformer-run.js';
import { generate, TransformerLM } from '../../nn/transformer-lm.js';
import type { Backend } from '../../tensor/backend.js';
import { NDArray } from '../../tensor/ndarray.js';
import { Rng } from '../../tensor/random.js';
import { describeBackend } from '../../tensor/select.js';
import { defaultRegularisation, type Autoencoder } from '../autoencoder.js';
import { backboneOf, CalmModel, type CalmConfig } from '../calm-model.js';
import { calmSampler, evaluateArBrier, evaluateCalmBrier, evaluateCalmEnergy, formatCalmReport, formatEvaluation, transformerSampler, type BrierEvaluation } from '../evaluate.js';
import { brierVsFlopsSvg, evaluationSteps, matchedSteps, resultsMarkdown, type CurvePoint, type ExperimentRow, type ReferenceRow } from '../experiment.js';
import { countParams, flopsPerToken } from '../flops.js';
import { drawQuality, formatDrawQuality, type DrawQuality } from '../draw-quality.js';
import { generateCalm } from '../generate.js';
import { ChunkTables, gapClosed, referenceLevels, type ReferenceLevels } from '../reference-levels.js';
import { createCalmTask, evenBlocks } from '../tasks.js';
import { aeIntermediate, AUTOENCODER_RECIPE, trainAutoencoder, type AutoencoderRunConfig } from './autoencoder-run.js';
import { AUTOENCODER_SUBDIR, CALM_RUN_DEFAULTS, type CalmRunConfig } from './calm-run.js';

/** The settings of `calm experiment` (its flags; the defaults are in its option specs). */
export interface ExperimentOptions {
  out: string;
  budget: number;
  baselineSteps: number;
  aeSteps: number;
  dim: number;
  layers: number;
  heads: number;
  block: number;
  batch: number;
  samples: number;
  targetSamples: number;
  evalBlocks: number;
  evalPoints: number;
  genTokens: number;
  /** Autoencoder latent size per token: l = aeLatent · K. */
  aeLatent: number;
  /** Autoencoder KL weight β (CALM.md §2.7). */
  aeBeta: number;
  /** Autoencoder width d_ae (its SwiGLU width is 2.5 d_ae). */
  aeHidden: number;
  /** 'byte', or 'bpe': one BPE tokenizer of `merges` merges learned from the training split, shared by every model. */
  tokenizer: string;
  merges: number;
  seed: number;
  quiet: boolean;
}

type Options = ExperimentOptions;

/** Peak learning rate of the CALM runs (the recipe of the README's sweep; the baseline uses 3e-3). */
const CALM_LR = CALM_RUN_DEFAULTS.lr;

/** A run's `train` section: warmup of a tenth of the steps (at most 50), one evaluation and checkpoint at the end. */
function trainSection(steps: number, lr: number, minLr: number): TrainConfig {
  const { schedule, weightDecay, clip } = OPTIMISER_DEFAULTS;
  return { steps, lr, minLr, warmupSteps: Math.min(50, Math.round(steps / 10)), schedule, weightDecay, clip, evalEvery: steps, checkpointEvery: steps };
}

/** The chunk-unigram and chunk-bigram tables as rows of RESULTS.md. */
function referenceRows(levels: ReferenceLevels, K: number): ReferenceRow[] {
  return (['unigram', 'bigram'] as const).map((name) => {
    const level = levels[name];
    return {
      name: `chunk-${name} table (K = ${K})`,
      brierLM: level.brierLM,
      lower: level.brierLMInterval?.lower ?? null,
      upper: level.brierLMInterval?.upper ?? null,
      brier: level.brier,
      energyLoss: level.energyLoss,
      note: `Reference tables: ${levels.note}; scored on the CALM chunk positions of the same ${levels.blocks} blocks (${levels.positions} positions). Their energy loss uses the K = ${K} autoencoder.`,
    };
  });
}

function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} x ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, Node.js ${process.version}`;
}

/** Evaluates a model at the experiment's fixed protocol; the same sample seed at every checkpoint. */
interface Evaluator {
  calm(model: CalmModel, ae: Autoencoder): BrierEvaluation;
  transformer(model: TransformerLM): BrierEvaluation;
}

function point(step: number, trainFlops: number, e: BrierEvaluation): CurvePoint {
  return { step, trainFlops, brierLM: e.brierLM, lower: e.interval?.lower ?? null, upper: e.interval?.upper ?? null };
}

/**
 * Trains `task` to `steps` in stages, pausing at each evaluation step (a checkpoint is saved there and the
 * next stage resumes from it, so the schedule is that of one uninterrupted run) to score BrierLM.
 */
async function trainWithCurve(
  task: TrainTask,
  base: Omit<Parameters<typeof train>[1], 'resume' | 'stopAfter'>,
  points: number,
  flopsPerStep: number,
  score: () => BrierEvaluation,
  log: (s: string) => void,
): Promise<{ curve: CurvePoint[]; last: BrierEvaluation; validLoss: number | null; seconds: number }> {
  const curve: CurvePoint[] = [];
  let done = 0;
  let last: BrierEvaluation | null = null;
  let validLoss: number | null = null;
  let seconds = 0;
  for (const target of evaluationSteps(base.steps, points)) {
    const summary = await train(task, { ...base, resume: done > 0, stopAfter: target - done });
    seconds += summary.seconds;
    done = summary.steps;
    if (Number.isFinite(summary.finalValid.validLoss)) validLoss = summary.finalValid.validLoss;
    last = noGrad(score);
    curve.push(point(done, done * flopsPerStep, last));
    log(`  ${task.name} step ${done}/${base.steps}: BrierLM ${last.brierLM.toFixed(2)} (${last.seconds.toFixed(1)} s to evaluate)`);
  }
  if (last === null) throw new Error('trainWithCurve: no stage ran');
  return { curve, last, validLoss, seconds };
}

/** Tokens per second of `produce` (returns tokens made), repeated until `minSeconds` have passed. */
function tokensPerSecond(produce: () => number, minSeconds: number): { rate: number; tokens: number } {
  let tokens = 0;
  const started = performance.now();
  do tokens += produce();
  while ((performance.now() - started) / 1000 < minSeconds);
  return { rate: tokens / ((performance.now() - started) / 1000), tokens };
}

/**
 * Runs the experiment with chunk sizes `ks` on `backend` and writes its outputs into `o.out`; `command` is
 * the command line recorded in results.json and command.txt. Returns the rows of RESULTS.md.
 */
export async function runExperiment(o: Options, ks: readonly number[], backend: Backend, command: string): Promise<{ rows: ExperimentRow[]; wallSeconds: number }> {
  const started = performance.now();
  const loadStart = os.loadavg();
  const log = (line: string): void => {
    if (!o.quiet) process.stderr.write(`${line}\n`);
  };
  const out = o.out;
  ensureDir(path.join(out, 'runs'));
  const kind: TokenizerKind = o.tokenizer === 'bpe' ? 'bpe' : 'byte';
  const split = splitCorpus(loadCorpus(), VALID_FRACTION);
  // One tokenizer for every model, so all are trained and scored on the same ids (written into each run folder).
  const tokenizer = trainTokenizer(kind, o.merges, split.train.map((d) => d.text), log);
  const V = tokenizer.vocabSize;
  const lm = encodeLmSplits(split, tokenizer); // BOS per document, no EOS (CALM.md §3.3)
  const held = evenBlocks(lm.valid, o.block, o.evalBlocks); // the same held-out blocks for every model
  const bytesPerToken = meanBytesPerToken(split.valid, lm.valid.length);
  const lmConfig = { vocabSize: V, dim: o.dim, nLayers: o.layers, nHeads: o.heads, ffnHidden: defaultFfn(o.dim) };
  const backbone = backboneOf(lmConfig);
  const ffn = backbone.ffn;
  const tokensPerStep = o.batch * o.block;
  const baseSpec = { family: 'transformer', config: backbone } as const;
  const baseFlops = flopsPerToken(baseSpec, { contextPositions: o.block });
  const baselineSteps = Math.max(3, Math.round(o.baselineSteps * o.budget));
  const aeSteps = Math.max(3, Math.round(o.aeSteps * o.budget));
  const evalSeed = o.seed + 1000;
  const evaluator: Evaluator = {
    calm: (model, ae) => evaluateCalmBrier(calmSampler(model, ae, new Rng(evalSeed)), held.ids, o.block, { rng: new Rng(evalSeed), seed: evalSeed, split: 'valid' }),
    transformer: (model) => evaluateArBrier(transformerSampler(model), held.ids, o.block, { rng: new Rng(evalSeed), seed: evalSeed, split: 'valid' }),
  };
  log(`backend: ${describeBackend(backend)}; machine: ${machine()}`);
  log(`backbone d ${o.dim}, ${o.layers} layers, ${o.heads} heads, ffn ${ffn}; blocks of ${o.block} tokens, ${o.batch} per step; baseline ${baselineSteps} steps (${(baselineSteps * tokensPerStep * baseFlops.train).toExponential(2)} FLOPs)`);
  const rows: ExperimentRow[] = [];
  const references: ReferenceRow[] = [];

  // ---- baseline Transformer
  {
    const runDir = path.join(out, 'runs', 'transformer');
    const config: TransformerRunConfig = {
      model: 'transformer',
      version: 1,
      lm: lmConfig,
      data: { tokenizer: kind, merges: kind === 'bpe' ? o.merges : 0, seqLen: o.block, batchSize: o.batch, validFraction: VALID_FRACTION, validBlocks: 16, seed: o.seed },
      train: trainSection(baselineSteps, TRANSFORMER_RUN_DEFAULTS.lr, TRANSFORMER_RUN_DEFAULTS.minLr),
      unigramValidLoss: null,
    };
    saveTokenizer(runDir, tokenizer);
    const model = new TransformerLM(config.lm, { rng: new Rng(o.seed) });
    const task = createLmTask({ model, trainTokens: lm.train, validTokens: lm.valid, seqLen: o.block, batchSize: o.batch, seed: o.seed + 1, validBlocks: 16 });
    log(`transformer: ${countParams(baseSpec).toLocaleString('en')} parameters, ${baselineSteps} steps`);
    const res = await trainWithCurve(
      task,
      trainerOptions(config.train, runDir, config, { resume: false, quiet: o.quiet }),
      o.evalPoints, tokensPerStep * baseFlops.train, () => evaluator.transformer(model), log,
    );
    const genRng = new Rng(o.seed + 7);
    const speed = tokensPerSecond(() => generate(model, [tokenizer.bos], { maxTokens: o.genTokens, rng: genRng, temperature: 1, banned: [tokenizer.pad, tokenizer.eos, tokenizer.mask] }).length, 2);
    rows.push(row('Transformer', 'transformer', 1, countParams(baseSpec), null, baselineSteps, tokensPerStep, baseFlops.train, null, baseFlops.inference, res, speed, null, runDir));
    log(formatEvaluation(res.last).join('\n'));
  }

  // ---- one autoencoder and one CALM per K
  for (const K of ks) {
    const latent = o.aeLatent * K; // l per token times K (§8.4 scales l with K)
    const aeDir = path.join(out, 'runs', `ae-k${K}`);
    const aeConfig: AutoencoderRunConfig = {
      model: 'autoencoder',
      version: 1,
      tokenizer: kind,
      ...(kind === 'bpe' ? { merges: o.merges } : {}),
      autoencoder: { vocabSize: V, K, hidden: o.aeHidden, intermediate: aeIntermediate(o.aeHidden), latent, encoderLayers: 2, decoderLayers: 2 },
      regularisation: { ...defaultRegularisation(tokenizer.mask), beta: o.aeBeta },
      data: { batchSize: AUTOENCODER_RECIPE.batch, validFraction: VALID_FRACTION, validChunks: 1024, reportChunks: 8192, seed: o.seed },
      train: trainSection(aeSteps, AUTOENCODER_RECIPE.lr, AUTOENCODER_RECIPE.minLr),
    };
    log(`autoencoder K=${K}: ${aeSteps} steps`);
    const aeRun = await trainAutoencoder(aeConfig, aeDir, { resume: false, quiet: o.quiet, log, tokenizer });
    const ae = aeRun.model;
    ae.eval();
    const aeSpec = { family: 'autoencoder', config: aeConfig.autoencoder } as const;
    const aeTrainFlops = aeSteps * aeConfig.data.batchSize * K * flopsPerToken(aeSpec).train;

    const energyExponent: number = CALM_RUN_DEFAULTS.energyExponent; // the sweep's choice (README)
    const calm: CalmConfig = { ...backbone, K, latent, headBlocks: 2, noiseDim: 32, nSamples: o.samples, ...(energyExponent !== 1 ? { energyExponent } : {}) }; // init: the fan-in default (calm-model.ts)
    const spec = { family: 'calm', config: calm } as const;
    const flops = flopsPerToken(spec, { contextPositions: o.block / K, autoencoder: aeConfig.autoencoder });
    const steps = matchedSteps(baselineSteps, baseFlops.train, flops.train); // CALM.md §8.3: same training FLOPs
    const runDir = path.join(out, 'runs', `calm-k${K}`);
    const config: CalmRunConfig = {
      model: 'calm',
      version: 1,
      tokenizer: kind,
      calm,
      autoencoder: aeConfig.autoencoder,
      autoencoderRun: path.resolve(aeDir),
      data: { blockChunks: o.block / K, batchSize: o.batch, targetSamples: o.targetSamples, validBlocks: 8, validFraction: VALID_FRACTION, seed: o.seed },
      train: trainSection(steps, CALM_LR, CALM_RUN_DEFAULTS.minLr),
    };
    const model = new CalmModel(calm, { rng: new Rng(o.seed) });
    saveCheckpoint(path.join(runDir, AUTOENCODER_SUBDIR), { model: ae, extra: { config: aeConfig.autoencoder } as unknown as JsonValue });
    saveTokenizer(runDir, tokenizer);
    const base = createCalmTask({ model, autoencoder: ae, trainTokens: lm.train, validTokens: lm.valid, blockChunks: o.block / K, batchSize: o.batch, targetSamples: o.targetSamples, seed: o.seed + 1, validBlocks: 8 });
    // The task's own evaluation scores BrierLM with the K >= 4 estimator only; we score BrierLM ourselves
    // (all K) at the curve points, so the trainer's evaluation is just the held-out energy loss.
    const validIds = evenBlocks(lm.valid, o.block, 8);
    const validTensor = new Tensor(NDArray.fromData(validIds.ids, [validIds.count, o.block], 'int32'));
    const task: TrainTask = { ...base, evaluate: () => ({ validLoss: model.loss(validTensor, ae, new Rng(o.seed + 2), o.targetSamples, 'posterior', 1).loss.item() }) }; // α = 1: comparable across exponents
    log(`calm K=${K}: ${countParams(spec).toLocaleString('en')} parameters, ${steps} steps (train FLOPs/token ${flops.train.toExponential(2)} vs baseline ${baseFlops.train.toExponential(2)})`);
    const res = await trainWithCurve(
      task,
      trainerOptions(config.train, runDir, config, { resume: false, quiet: o.quiet }),
      o.evalPoints, tokensPerStep * flops.train, () => evaluator.calm(model, ae), log,
    );
    const genRng = new Rng(o.seed + 7);
    const speed = tokensPerSecond(() => generateCalm(model, ae, [tokenizer.bos], { maxNewTokens: o.genTokens, rng: genRng, eos: tokenizer.eos, pad: tokenizer.pad }).tokens.length, 2);
    // Energy loss on the evaluation blocks, and for K >= 4 the reference tables on the same positions.
    const energy = noGrad(() => evaluateCalmEnergy(model, ae, held.ids, o.block, { targetSamples: o.targetSamples, rng: new Rng(evalSeed) }));
    let gap: number | null = null;
    let quality: DrawQuality | null = null;
    if (K >= 4) {
      const tables = ChunkTables.fromTokens(lm.train, K);
      const levels = noGrad(() => referenceLevels(tables, ae, held.ids, o.block, { nSamples: o.samples, targetSamples: o.targetSamples, rng: new Rng(evalSeed) }));
      quality = drawQuality(calmSampler(model, ae, new Rng(evalSeed)), tables, held.ids, o.block);
      log(formatDrawQuality(quality));
      gap = gapClosed(energy.energyLoss, levels);
      if (references.length === 0) references.push(...referenceRows(levels, K));
      log(formatCalmReport({ energy, referenceLevels: levels, gapClosed: gap }).join('\n'));
    }
    rows.push({ ...row(`CALM K=${K}`, 'calm', K, countParams(spec), countParams(aeSpec), steps, tokensPerStep, flops.train, aeTrainFlops, flops.inference, res, speed, aeRun.report, runDir), energyLoss: energy.energyLoss, gapClosed: gap, drawQuality: quality });
    log(formatEvaluation(res.last).join('\n'));
  }

  // ---- outputs
  const wallSeconds = (performance.now() - started) / 1000;
  const meta = {
    command,
    date: new Date().toISOString(),
    machine: `${machine()}; backend ${describeBackend(backend)}`,
    wallSeconds,
    loadAverage: { start: loadStart, end: os.loadavg() },
    tokenizer: describeTokenizer(kind, V, o.merges, bytesPerToken),
    setup: setupLines(o, ks, ffn, baselineSteps, aeSteps, tokensPerStep, held.count, kind === 'byte' ? 'byte tokenizer' : 'BPE tokenizer', V),
  };
  writeJsonAtomic(path.join(out, 'results.json'), { meta, rows, references } as unknown as JsonValue);
  writeFileAtomic(path.join(out, 'brierlm-vs-flops.svg'), brierVsFlopsSvg(rows, references));
  writeFileAtomic(path.join(out, 'RESULTS.md'), resultsMarkdown(rows, meta, standingNotes(kind, bytesPerToken), references));
  writeFileAtomic(path.join(out, 'command.txt'), `${command}\n`);
  return { rows, wallSeconds };
}

function row(
  model: string,
  family: 'calm' | 'transformer',
  K: number,
  params: number,
  aeParams: number | null,
  steps: number,
  tokensPerStep: number,
  trainFlopsPerToken: number,
  aeTrainFlops: number | null,
  inferFlopsPerToken: number,
  res: { curve: CurvePoint[]; last: BrierEvaluation; validLoss: number | null; seconds: number },
  speed: { rate: number; tokens: number },
  ae: { accuracyMu: number; accuracySample: number } | null,
  runDir: string,
): ExperimentRow {
  const e = res.last;
  return {
    model, family, K, params, aeParams, steps, tokensPerStep,
    trainFlops: steps * tokensPerStep * trainFlopsPerToken,
    aeTrainFlops, inferFlopsPerToken,
    brierLM: e.brierLM, brierLMLower: e.interval?.lower ?? null, brierLMUpper: e.interval?.upper ?? null,
    brier: e.brier, brierStdError: e.stdError, protocol: e.protocol,
    tokensPerSecond: speed.rate, generatedTokens: speed.tokens,
    validLoss: res.validLoss, aeAccuracyMu: ae?.accuracyMu ?? null, aeAccuracySample: ae?.accuracySample ?? null,
    trainSeconds: res.seconds, curve: res.curve, runDir,
  };
}

/** UTF-8 bytes of the held-out documents per held-out token (BOS included), to translate token counts. */
function meanBytesPerToken(docs: readonly { readonly text: string }[], tokens: number): number {
  let bytes = 0;
  for (const d of docs) bytes += utf8Bytes(d.text).length;
  return bytes / tokens;
}

/** The tokenizer line of RESULTS.md. */
function describeTokenizer(kind: TokenizerKind, V: number, merges: number, bytesPerToken: number): string {
  if (kind === 'byte') return `byte (V = ${V}: 256 bytes and PAD, BOS, EOS, MASK)`;
  return `BPE, ${merges} merges asked for, V = ${V} ids (specials included), learned once from the training split and shared by every model (tokenizer.json in each run folder); ${bytesPerToken.toFixed(2)} bytes per held-out token`;
}

function setupLines(o: Options, ks: readonly number[], ffn: number, baselineSteps: number, aeSteps: number, tokensPerStep: number, evalBlocks: number, tokenizerName: string, V: number): string[] {
  return [
    `data: the embedded Austen corpus, ${tokenizerName} (V = ${V}), BOS per document; ${100 * VALID_FRACTION}% of each novel (trailing chapters) held out`,
    `shared backbone: d ${o.dim}, ${o.layers} layers, ${o.heads} heads, SwiGLU ${ffn}; the baseline adds an untied ${o.dim} x ${V} output projection, CALM adds the input compression MLP and an energy head (2 blocks, noise 32, N = ${o.samples} samples, M = ${o.targetSamples} targets)`,
    `training blocks of ${o.block} tokens (CALM: ${o.block}/K chunk positions; baseline: ${o.block} token positions), ${o.batch} blocks = ${tokensPerStep} tokens per step for every LM; AdamW (0.9, 0.95), wd 0.1, clip 1, cosine schedule with warmup; lr 3e-3 (baseline) / ${CALM_LR} (CALM), Linear weights N(0, 1/fan_in) for CALM (calm-model.ts); CALM trains with energy-score exponent α = ${CALM_RUN_DEFAULTS.energyExponent} and every held-out energy loss is scored at α = 1`,
    `matched compute: the baseline trains ${baselineSteps} steps (budget ${o.budget}); each CALM gets steps = ${baselineSteps} x (baseline train FLOPs/token) / (its train FLOPs/token), both from flops.ts (6 x matmul MACs incl. the energy head N times and the frozen AE encoder for targets, + attention), so LM training FLOPs match to rounding; autoencoder training FLOPs are listed separately and not included`,
    `autoencoders: one per K (${ks.join(', ')}), d_ae ${o.aeHidden}, latent l = ${o.aeLatent}K, ${aeSteps} steps of 128 chunks (peak lr 5e-3), regularisation beta ${o.aeBeta}${o.aeBeta === 1e-3 ? ' (the reference\'s)' : ' (reference 1e-3)'}, KL floor 0.5, dropouts 0.15 as in the reference`,
    `evaluation: the same ${evalBlocks} held-out blocks of ${o.block} tokens for every model ("same tokens" of context); BrierLM at ${o.evalPoints} checkpoints per run; 95% interval by the delta method over the per-position spread`,
    `generation speed: temperature 1, batch 1, KV cache, ${o.genTokens} new tokens from a BOS prompt, repeated for at least 2 s; same backbone, same machine, one process`,
  ];
}

function standingNotes(kind: TokenizerKind, bytesPerToken: number): string[] {
  const bpe = kind === 'bpe'
    ? [`Tokens are BPE tokens (${bytesPerToken.toFixed(2)} bytes each on average): blocks, chunks (K tokens), Brier-n n-grams and the reference tables all count BPE tokens, so these BrierLM values are not comparable with a byte-level run's (Brier-4 here scores about ${(4 * bytesPerToken).toFixed(0)} bytes of text, against 4 bytes there). Compare the models of this run with each other only.`]
    : [];
  return [
    ...bpe,
    'Scale caveat (CALM.md §10.3): at this size and budget CALM is expected to trail an AR baseline of the same backbone; the paper needed hundreds of billions of tokens for CALM to cross over. These numbers test the pipeline and the compute accounting, not the paper\'s headline claim.',
    'The baseline is scored at every token position (§6.4) and CALM at chunk starts (§6.2/§6.3); both estimate the same per-n-gram Brier score, over different position sets, on the same blocks.',
    'Generation tokens/s on a shared 2-core machine is noisy; compare models of this run only.',
  ];
}
