/**
 * `calm generate`: samples a continuation of a prompt from a trained Transformer checkpoint (KV-cached).
 * CALM runs are handed to commands/generate-calm.ts by calm.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadTransformerRun, readRunKind } from '../../calm/runs/run-config.js';
import { LIMITS } from '../../nn/train/train-config.js';
import { generate } from '../../nn/transformer-lm.js';
import { Rng } from '../../tensor/random.js';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';
import { checkPrompt, generationOptions, seedAndBackendOptions, selectBackend } from '../options.js';

export const { specs, help, run } = defineCommand({
  name: 'calm generate',
  summary: 'Continue a prompt with a trained model. CALM runs are handed to the CALM generator (options --method and --pool; see calm generate --checkpoint CALM_RUN --help).',
  options: {
    ...generationOptions({
      checkpoint: 'run folder written by calm train (holding config.json and checkpoint/)',
      prompt: 'text to continue (a BOS token is put in front)',
      maxTokens: 'tokens to generate',
      maxContext: 'most tokens the model attends over (0: the sequence length it was trained on)',
    }),
    temperature: { type: 'number', min: 0, default: 0.8, description: 'softmax temperature (0: greedy)' },
    topK: { type: 'number', integer: true, min: 0, max: LIMITS.vocab, default: 0, description: 'sample among the k most likely tokens (0: all)' },
    ...seedAndBackendOptions('sampling seed', 0),
  },
  async run(o) {
    if (o.checkpoint === undefined) throw new UsageError('calm generate: --checkpoint DIR is required (see calm generate --help)');
    checkPrompt(o.prompt);
    const runDir = o.checkpoint;
    const configPath = path.join(runDir, 'config.json');
    if (!fs.existsSync(configPath)) throw new UsageError(`calm generate: ${configPath} not found; --checkpoint must name a run folder written by calm train`);
    const kind = readRunKind(runDir);
    if (kind !== 'transformer') throw new UsageError(`calm generate: ${configPath} describes a '${kind}' run; generate from a 'transformer' or 'calm' run`);
    await selectBackend(o.backend);
    const { config: run, tokenizer, model } = loadTransformerRun(runDir, 'calm generate');
    const prompt = [tokenizer.bos, ...tokenizer.encode(o.prompt)];
    const maxContext = o.maxContext > 0 ? o.maxContext : run.data.seqLen;
    if (prompt.length > maxContext) process.stderr.write(`note: the prompt is ${prompt.length} tokens; the model sees its last ${maxContext} (--max-context)\n`);
    const ids = generate(model, prompt, {
      maxTokens: o.maxTokens, temperature: o.temperature, topK: o.topK, rng: new Rng(o.seed), maxContext: Math.max(2, maxContext),
      banned: [tokenizer.pad, tokenizer.eos, tokenizer.mask], stopId: tokenizer.bos,
    });
    process.stdout.write(`${o.prompt}${tokenizer.decode(ids)}\n`);
  },
});
