/**
 * Inputs and calm-ts outputs for scripts/reference_check.py, which runs the same inputs through PyTorch
 * modules built from the reference's architecture and compares.
 *
 *   node dist/scripts/reference-fixture.js --make-run DIR          a tiny CALM run with random weights
 *   node dist/scripts/reference-fixture.js --run DIR --out FILE    the fixture of a CALM run (safetensors)
 *
 * The fixture holds: `ae.ids` [C, K] → `ae.mu`, `ae.log_sigma` [C, l] and `ae.logits` [C, K, V] (decoding μ);
 * `head.h` [P, d], `head.noise` [P, S, n_noise] → `head.out` [P, S, l]; `calm.ids` [B, T·K] → `calm.hidden`
 * [B, T, d] (final-normed backbone states). Everything is float32 on the CPU backend.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { noGrad } from '../src/autograd/grad-mode.js';
import { Tensor } from '../src/autograd/tensor.js';
import { Autoencoder, type AutoencoderConfig } from '../src/calm/autoencoder.js';
import { CalmModel, type CalmConfig } from '../src/calm/calm-model.js';
import { saveCheckpoint, type JsonValue } from '../src/nn/checkpoint.js';
import { ByteTokenizer } from '../src/nn/data/tokenizer.js';
import { ensureDir, writeJsonAtomic } from '../src/nn/io/atomic.js';
import { saveSafetensors, type NamedArray } from '../src/nn/io/safetensors.js';
import type { Module } from '../src/nn/module.js';
import { CHECKPOINT } from '../src/nn/train/run-folder.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';
import { AUTOENCODER_SUBDIR, loadCalmRun, type CalmRunConfig } from '../src/calm/runs/calm-run.js';

/**
 * Adds N(0, scale²) noise to every parameter. Freshly initialised models have unit norm gains, zero
 * biases and a zero output layer in the head, which would let a swapped gain/bias or a wrong transpose of
 * a square matrix pass unnoticed.
 */
export function perturbParameters(model: Module, rng: Rng, scale = 0.05): void {
  for (const [, p] of model.namedParameters()) {
    const data = Float32Array.from(p.toTypedArray());
    for (let i = 0; i < data.length; i++) data[i] += scale * rng.normal();
    (p as unknown as { assign(d: NDArray): void }).assign(NDArray.fromData(data, p.shape, 'float32'));
  }
}

/** Writes a tiny CALM run folder (config.json, checkpoint/, autoencoder/) with random weights. */
export function makeTinyCalmRun(dir: string, seed = 7): CalmRunConfig {
  const tokenizer = new ByteTokenizer();
  const aeConfig: AutoencoderConfig = { vocabSize: tokenizer.vocabSize, K: 4, hidden: 32, intermediate: 80, latent: 16, encoderLayers: 4, decoderLayers: 4 };
  const calm: CalmConfig = { vocabSize: tokenizer.vocabSize, d: 32, ffn: 96, layers: 2, heads: 4, K: 4, latent: aeConfig.latent, headBlocks: 2, noiseDim: 8, nSamples: 4, init: 'fan-in' };
  const config: CalmRunConfig = {
    model: 'calm', version: 1, tokenizer: 'byte', calm, autoencoder: aeConfig, autoencoderRun: path.resolve(dir, AUTOENCODER_SUBDIR),
    data: { blockChunks: 8, batchSize: 2, targetSamples: 16, targets: 'posterior', validBlocks: 2, brierBlocks: 2, validFraction: 0.05, seed },
    train: { steps: 1, lr: 1e-3, minLr: 1e-4, warmupSteps: 0, schedule: 'cosine', weightDecay: 0.1, clip: 1, evalEvery: 1, checkpointEvery: 1 },
  };
  const rng = new Rng(seed);
  const autoencoder = new Autoencoder(aeConfig, { rng });
  const model = new CalmModel(calm, { rng });
  perturbParameters(autoencoder, rng);
  perturbParameters(model, rng);
  ensureDir(dir);
  writeJsonAtomic(path.join(dir, 'config.json'), config);
  saveCheckpoint(path.join(dir, AUTOENCODER_SUBDIR), { model: autoencoder, extra: { config: aeConfig } as unknown as JsonValue });
  saveCheckpoint(path.join(dir, CHECKPOINT), { model, extra: { step: 1 } });
  return config;
}

function named(t: Tensor): NamedArray {
  return { dtype: t.dtype, shape: [...t.shape], data: t.toTypedArray() };
}

function ids(shape: number[], vocab: number, rng: Rng): Tensor {
  const data = new Int32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = rng.int(vocab); // every id, specials (PAD/BOS/EOS/MASK) included
  return new Tensor(NDArray.fromData(data, shape, 'int32'));
}

/** Runs the run's models on fixed random inputs and writes inputs and outputs to `file`. */
export function writeFixture(runDir: string, file: string, seed = 11): void {
  const { config, model, autoencoder } = loadCalmRun(runDir);
  const rng = new Rng(seed);
  const { K, vocabSize, latent } = config.autoencoder;
  const tensors: Record<string, NamedArray> = {};
  noGrad(() => {
    const aeIds = ids([6, K], vocabSize, rng);
    const { mu, logSigma } = autoencoder.encode(aeIds);
    Object.assign(tensors, { 'ae.ids': named(aeIds), 'ae.mu': named(mu), 'ae.log_sigma': named(logSigma), 'ae.logits': named(autoencoder.decode(mu)) });

    const h = Tensor.randn([5, config.calm.d], rng); // [P, d]
    const noise = model.head.drawNoise([5], 3, rng); // [P, S, n_noise]
    const out = model.head.forward(h, noise); // [P, S, l]
    if (out.shape[2] !== latent) throw new Error('writeFixture: head output does not match the latent size');
    Object.assign(tensors, { 'head.h': named(h), 'head.noise': named(noise), 'head.out': named(out) });

    const calmIds = ids([2, 3 * K], vocabSize, rng);
    Object.assign(tensors, { 'calm.ids': named(calmIds), 'calm.hidden': named(model.hidden(calmIds)) });
  });
  saveSafetensors(file, tensors, { source: 'calm-ts scripts/reference-fixture.ts' });
}

function main(argv: string[]): void {
  const arg = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const make = arg('--make-run');
  const run = arg('--run');
  const out = arg('--out');
  if (make !== undefined) {
    makeTinyCalmRun(make);
    process.stdout.write(`reference-fixture: wrote a tiny CALM run with random weights to ${make}\n`);
  } else if (run !== undefined && out !== undefined) {
    writeFixture(run, out);
    process.stdout.write(`reference-fixture: wrote ${out}\n`);
  } else {
    process.stderr.write('usage: reference-fixture --make-run DIR | --run DIR --out FILE\n');
    process.exitCode = 2;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
