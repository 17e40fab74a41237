/**
 * `calm train`: trains the baseline Transformer LM on the embedded corpus (CALM.md §3.3 data layout); the
 * run itself is src/nn/train/transformer-run.ts. `--model calm` is handed to commands/train-calm.ts by
 * calm.ts. Defaults finish in a few minutes on two cores.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readRunKind, resumedRunConfig } from '../../calm/runs/run-config.js';
import { ByteTokenizer } from '../../nn/data/tokenizer.js';
import { LIMITS } from '../../nn/train/train-config.js';
import { loadRunTokenizer, trainTransformer, TRANSFORMER_RUN_DEFAULTS as D, transformerRunConfig } from '../../nn/train/transformer-run.js';
import { kebab, UsageError } from '../args.js';
import { defineCommand } from '../command.js';
import { backboneOptions, checkHeads, runControl, runFolderOptions, selectBackend, stepsOption, trainingOptions } from '../options.js';

/** Options that keep their meaning when a run is resumed (the rest come from its config.json). */
const RESUME_OPTIONS: ReadonlySet<string> = new Set(['model', 'out', 'resume', 'backend', 'steps', 'quiet', 'onNonfinite']);

export const { specs, help, run } = defineCommand({
  name: 'calm train',
  summary: 'Train the baseline Transformer language model on the embedded Austen corpus (byte tokens by default); --model calm trains CALM instead (see calm train --model calm --help).',
  options: {
    model: { type: 'string', choices: ['transformer', 'calm'], default: 'transformer', description: 'which model to train' },
    ...runFolderOptions('runs/transformer', 'checkpoint/, metrics.jsonl, loss.svg, config.json'),
    steps: stepsOption(D.steps),
    batch: { type: 'number', integer: true, min: 1, max: LIMITS.batch, default: D.batch, description: 'sequences per batch' },
    seq: { type: 'number', integer: true, min: 2, max: LIMITS.seq, default: D.seq, description: 'tokens per sequence' },
    ...backboneOptions(D, { dim: 'model width d', ffn: 'SwiGLU hidden width (0: about 2.7 x dim, multiple of 8, CALM.md §10.1)' }),
    tokenizer: { type: 'string', choices: ['byte', 'bpe'], default: D.tokenizer, description: 'tokenizer' },
    merges: { type: 'number', integer: true, min: 1, max: LIMITS.vocab - 260, default: D.merges, description: 'BPE merges (with --tokenizer bpe)' },
    ...trainingOptions(D, 'seed of the initial weights and the data order', {
      validBlocks: 'fixed held-out sequences per evaluation',
    }),
  },
  async run(o, { explicit }) {
    const configPath = path.join(o.out, 'config.json');
    const resuming = o.resume && fs.existsSync(configPath);
    if (!resuming) checkHeads('calm train', o.dim, o.heads);
    const ignored = [...explicit].filter((k) => !RESUME_OPTIONS.has(k));
    if (resuming && ignored.length > 0) {
      process.stderr.write(`note: ${ignored.map((k) => `--${kebab(k)}`).join(', ')} ignored on resume (the run's saved ${configPath} is used)\n`);
    }
    const backend = await selectBackend(o.backend);
    const kind = resuming ? readRunKind(o.out) : 'transformer';
    if (kind !== 'transformer') throw new UsageError(`calm train: ${configPath} is a '${kind}' run; resume it with ${kind === 'calm' ? '--model calm' : 'calm train-ae'}`);
    const saved = resuming ? resumedRunConfig(o.out, 'transformer', o.steps) : null;
    const config = saved ?? transformerRunConfig(o);
    const tokenizer = saved === null ? new ByteTokenizer() : loadRunTokenizer(o.out, saved);
    const { summary, unigram } = await trainTransformer(config, tokenizer, o.out, { ...runControl(o), backend });
    const valid = summary.finalValid.validLoss;
    process.stdout.write(
      `${summary.interrupted === true ? 'stopped' : 'finished'} at step ${summary.steps} in ${summary.seconds.toFixed(1)} s: ` +
        `train loss ${summary.finalTrainLoss.toFixed(4)}, valid loss ${valid === undefined ? 'n/a' : valid.toFixed(4)} nats/token ` +
        `(unigram baseline ${unigram.toFixed(4)}); outputs in ${o.out}\n`,
    );
    if (summary.interrupted === true) process.exitCode = 130;
  },
});
