/**
 * The demo of `calm demo` (`npm run demo`): the whole CALM pipeline in minutes on a laptop CPU. Trains the autoencoder
 * and reports its accuracy and robustness (CALM.md §10.2), trains a small CALM against it (§3-4), and
 * continues a few prompts (§5). Leaves a run folder with checkpoints, metrics, plots, report.md and
 * report.json.
 */
import * as path from 'node:path';
import type { JsonValue } from '../../nn/checkpoint.js';
import { loadCorpus, splitCorpus } from '../../nn/data/corpus.js';
import { knownWordFraction, vocabularyOf } from '../../nn/data/words.js';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../../nn/io/atomic.js';
import { OPTIMISER_DEFAULTS } from '../../nn/train/train-config.js';
import { Rng } from '../../tensor/random.js';
import { calmHeldOutReport, formatCalmReport, formatEvaluation } from '../evaluate.js';
import { generateCalm } from '../generate.js';
import { evenBlocks } from '../tasks.js';
import { AUTOENCODER_RECIPE, AUTOENCODER_RUN_DEFAULTS, autoencoderRunConfig, formatRobustness, trainAutoencoder } from './autoencoder-run.js';
import { CALM_RUN_DEFAULTS, calmRunConfig, trainCalm } from './calm-run.js';

/** The settings of `calm demo` (its flags; the defaults are in its option specs). */
export interface DemoOptions {
  aeSteps: number;
  calmSteps: number;
  maxTokens: number;
  evalBlocks: number;
  seed: number;
  quiet: boolean;
}

const PROMPTS = ['It is a truth universally acknowledged', 'Elizabeth looked at her sister and', 'The weather at Hartfield was'];

/**
 * Runs the demo into `outDir`: progress on stderr, samples on stdout, report.md and report.json in the folder.
 */
export async function runDemo(o: DemoOptions, outDir: string): Promise<void> {
  const started = performance.now();
  const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(0)} s`;
  const say = (line: string): void => void process.stderr.write(`${line}\n`);
  ensureDir(outDir);
  say(`calm demo: run folder ${outDir}`);

  // 1. Autoencoder (CALM.md §2): the train-ae defaults with the demo's recipe (AUTOENCODER_RECIPE).
  say(`\n[1/3] training the autoencoder (${o.aeSteps} steps) ...`);
  const aeConfig = autoencoderRunConfig({ ...AUTOENCODER_RUN_DEFAULTS, ...OPTIMISER_DEFAULTS, ...AUTOENCODER_RECIPE, steps: o.aeSteps, seed: o.seed });
  const aeDir = path.join(outDir, 'autoencoder');
  const ae = await trainAutoencoder(aeConfig, aeDir, { resume: false, quiet: o.quiet, log: say });
  for (const line of formatRobustness(ae.report)) say(`  ${line}`);
  say(`  autoencoder done at ${elapsed()}`);

  // 2. CALM (CALM.md §3-4) against the frozen AE.
  say(`\n[2/3] training CALM (${o.calmSteps} steps) against the frozen autoencoder ...`);
  const calmOptions = { ...CALM_RUN_DEFAULTS, ...OPTIMISER_DEFAULTS, steps: o.calmSteps, evalEvery: 200, checkpointEvery: 200, seed: o.seed };
  const calmConfig = calmRunConfig(calmOptions, aeConfig.autoencoder, aeDir, aeConfig.tokenizer);
  const calmDir = path.join(outDir, 'calm');
  const calmStarted = performance.now();
  const calm = await trainCalm(calmConfig, ae.model, calmDir, { resume: false, quiet: o.quiet, log: say, tokenizer: ae.tokenizer });
  const calmSeconds = (performance.now() - calmStarted) / 1000;
  say(`  CALM trained at ${elapsed()}; scoring ${o.evalBlocks} held-out blocks against the chunk-unigram and chunk-bigram tables ...`);
  const lmTokens = calm.tokens;
  const blockSize = calmConfig.data.blockChunks * calmConfig.calm.K;
  const held = evenBlocks(lmTokens.valid, blockSize, o.evalBlocks);
  const evalRng = new Rng(o.seed + 200);
  const heldOut = calmHeldOutReport(calm.model, ae.model, held.ids, blockSize, {
    trainTokens: lmTokens.train, targetSamples: calmConfig.data.targetSamples, targets: calmConfig.data.targets, rng: evalRng, seed: o.seed + 200,
    tables: calm.referenceTables,
  });
  for (const line of [...formatEvaluation(heldOut.brier), ...formatCalmReport(heldOut)]) say(`  ${line}`);
  say(`  CALM evaluated at ${elapsed()}`);

  // 3. Generation (CALM.md §5).
  say('\n[3/3] generating ...');
  const tokenizer = ae.tokenizer;
  const samples: { prompt: string; temperature: number; text: string; chunks: number; samplerCalls: number }[] = [];
  const rng = new Rng(o.seed + 100);
  const runs: [string, number][] = [1, 0.5].flatMap((temperature) => PROMPTS.map((p): [string, number] => [p, temperature]));
  for (const [prompt, temperature] of runs) {
    const r = generateCalm(calm.model, ae.model, [tokenizer.bos, ...tokenizer.encode(prompt)], {
      maxNewTokens: o.maxTokens, rng, eos: tokenizer.eos, pad: tokenizer.pad, temperature, poolSize: 32,
    });
    const text = tokenizer.decode(r.tokens);
    samples.push({ prompt, temperature, text, chunks: r.chunks, samplerCalls: r.samplerCalls });
    process.stdout.write(`\n--- T = ${temperature} (${r.samplerCalls} sampler calls)\n${prompt}|${text}\n`);
  }

  // How English the T = 0.5 samples are: the share of their words that occur in the training split.
  const split = splitCorpus(loadCorpus(), calmConfig.data.validFraction);
  const vocabulary = vocabularyOf(split.train.map((d) => d.text).join('\n'));
  const lowTemperature = knownWordFraction(samples.filter((x) => x.temperature === 0.5).map((x) => x.text).join(' '), vocabulary);
  say(`\nwords of the T = 0.5 samples found in the training split: ${lowTemperature.known} of ${lowTemperature.words}`);

  const seconds = (performance.now() - started) / 1000;
  const report = {
    seconds,
    autoencoder: { ...ae.report, accuracyMu: ae.report.accuracyMu, accuracySample: ae.report.accuracySample, seconds: ae.seconds, steps: ae.summary.steps, config: aeConfig.autoencoder },
    calm: { finalValid: calm.summary.finalValid, steps: calm.summary.steps, seconds: calmSeconds, parameters: calm.model.numParameters(), config: calmConfig.calm, train: calmConfig.train, data: calmConfig.data },
    heldOut: { ...heldOut, blocks: held.count, blockSize },
    samples,
    knownWordsAtT05: lowTemperature,
  };
  writeJsonAtomic(path.join(outDir, 'report.json'), report as unknown as JsonValue);
  const pct = (x: number): string => `${(100 * x).toFixed(3)} %`;
  const md = [
    '# CALM demo',
    '',
    `Total time ${seconds.toFixed(0)} s.`,
    '',
    '## Autoencoder (CALM.md §2, targets §10.2)',
    '',
    `${ae.summary.steps} steps in ${ae.seconds.toFixed(0)} s; K ${aeConfig.autoencoder.K}, hidden ${aeConfig.autoencoder.hidden}, latent ${aeConfig.autoencoder.latent}.`,
    '',
    '| metric | value |',
    '|---|---|',
    `| accuracy decoding μ (target ≥ 99.9 %) | ${pct(ae.report.accuracyMu)} |`,
    `| accuracy decoding a posterior sample (target ≥ 99.5 %) | ${pct(ae.report.accuracySample)} |`,
    ...Object.entries(ae.report.accuracyNoise).map(([s, a]) => `| accuracy with N(0, ${s}²) noise on μ | ${pct(a)} |`),
    `| mean σ | ${ae.report.meanSigma.toFixed(4)} |`,
    `| latent dims at the KL floor | ${ae.report.dimsAtKlFloor} of ${ae.report.latent} |`,
    '',
    '![autoencoder loss](autoencoder/loss.svg)',
    '',
    '## CALM (CALM.md §3-4)',
    '',
    `${calm.summary.steps} steps in ${calmSeconds.toFixed(0)} s, ${calm.model.numParameters().toLocaleString('en')} parameters. Held-out, ${held.count} blocks of ${blockSize} tokens:`,
    '',
    '```',
    ...formatEvaluation(heldOut.brier),
    ...formatCalmReport(heldOut),
    '```',
    '',
    '![CALM loss](calm/loss.svg)',
    '',
    '## Samples (CALM.md §5)',
    '',
    ...samples.flatMap((s) => [`**T = ${s.temperature}**, ${s.samplerCalls} sampler calls:`, '', '```', `${s.prompt}|${s.text}`, '```', '']),
    `Words of the T = 0.5 samples found in the training split: ${lowTemperature.known} of ${lowTemperature.words} (${(100 * lowTemperature.fraction).toFixed(1)} %).`,
  ].join('\n');
  writeFileAtomic(path.join(outDir, 'report.md'), `${md}\n`);
  say(`\ncalm demo finished in ${seconds.toFixed(0)} s; report in ${path.join(outDir, 'report.md')}`);
}
