/**
 * `calm generate` for CALM runs (CALM.md §5): continues a prompt chunk by chunk with the KV-cached
 * backbone, one energy-head sample per chunk decoded by the frozen autoencoder; `--temperature T < 1`
 * uses the sample-only samplers of §7 on whole chunks. calm.ts hands `calm generate` here for CALM runs.
 */
import { generateCalm } from '../../calm/generate.js';
import { loadCalmRun } from '../../calm/runs/calm-run.js';
import { Rng } from '../../tensor/random.js';
import { UsageError } from '../args.js';
import { defineCommand } from '../command.js';
import { checkPrompt, generationOptions, seedAndBackendOptions, selectBackend } from '../options.js';

export const { specs, help, run } = defineCommand({
  name: 'calm generate',
  usageName: 'calm generate (CALM run)',
  summary: 'Continue a prompt with a trained CALM model and its frozen autoencoder.',
  options: {
    ...generationOptions({
      checkpoint: 'CALM run folder written by calm train --model calm',
      prompt: 'text to continue (a BOS token is put in front; left-padded with PAD to a multiple of K)',
      maxTokens: 'length limit in tokens (whole chunks are generated)',
      maxContext: 'most tokens the backbone attends over, in whole chunks (0: the block length it was trained on)',
    }),
    temperature: { type: 'number', min: 0, max: 1, default: 1, description: 'chunk-level temperature in (0, 1] (CALM.md §7)' },
    method: { type: 'string', choices: ['auto', 'batch', 'exact'], default: 'auto', description: 'temperature sampler: batch (Algorithm 2, 1/T integer) or exact (Algorithm 1); auto picks batch when 1/T is an integer' },
    pool: { type: 'number', integer: true, min: 1, max: 100_000, default: 64, description: 'pool size of the batch sampler' },
    topK: { type: 'number', integer: true, min: 0, default: 0, description: 'ignored for CALM (no logits)' },
    ...seedAndBackendOptions('sampling seed', 0),
  },
  async run(o) {
    if (o.checkpoint === undefined) throw new UsageError('calm generate: --checkpoint DIR is required');
    if (!(o.temperature > 0)) throw new UsageError(`calm generate: --temperature must be in (0, 1] for CALM, got ${o.temperature}`);
    checkPrompt(o.prompt);
    await selectBackend(o.backend);
    const { model, autoencoder, config, tokenizer } = loadCalmRun(o.checkpoint);
    const prompt = [tokenizer.bos, ...tokenizer.encode(o.prompt)];
    const K = config.calm.K;
    const maxContextChunks = o.maxContext > 0 ? Math.max(1, Math.floor(o.maxContext / K)) : config.data.blockChunks;
    if (prompt.length > maxContextChunks * K) process.stderr.write(`note: the prompt is ${prompt.length} tokens; the model sees its last ${maxContextChunks * K} (--max-context)\n`);
    const started = performance.now();
    const r = generateCalm(model, autoencoder, prompt, {
      maxNewTokens: o.maxTokens, rng: new Rng(o.seed), eos: tokenizer.eos, pad: tokenizer.pad, temperature: o.temperature,
      method: o.method === 'batch' || o.method === 'exact' ? o.method : undefined, poolSize: o.pool, maxContextChunks,
    });
    process.stdout.write(`${o.prompt}${tokenizer.decode(r.tokens)}\n`);
    process.stderr.write(`${r.chunks} chunks, ${r.samplerCalls} sampler calls${r.stoppedAtEos ? ', stopped at EOS' : ''}, ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  },
});
