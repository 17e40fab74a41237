/** `calm generate`: samples a continuation of a prompt from a trained checkpoint (KV-cached). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadCheckpoint } from '../../nn/checkpoint.js';
import { generate, TransformerLM } from '../../nn/transformer-lm.js';
import { findCheckpoint } from '../../nn/train/trainer.js';
import { Rng } from '../../tensor/random.js';
import { useBackend } from '../../tensor/select.js';
import { formatHelp, parseArgs, UsageError } from '../args.js';
import { loadCommand } from '../calm.js';
import { loadRunTokenizer, type TransformerRunConfig } from './transformer-config.js';

export const specs = {
  checkpoint: { type: 'string', description: 'run folder written by calm train (holding config.json and checkpoint/)' },
  prompt: { type: 'string', default: '', description: 'text to continue (a BOS token is put in front)' },
  maxTokens: { type: 'number', integer: true, min: 0, default: 200, description: 'tokens to generate' },
  temperature: { type: 'number', min: 0, default: 0.8, description: 'softmax temperature (0: greedy)' },
  topK: { type: 'number', integer: true, min: 0, default: 0, description: 'sample among the k most likely tokens (0: all)' },
  seed: { type: 'number', integer: true, min: 0, default: 0, description: 'sampling seed' },
  backend: { type: 'string', default: 'cpu', choices: ['cpu', 'auto', 'gpujs-webgpu', 'gpujs-webasm', 'gpujs-cpu'], description: 'compute backend' },
} as const;

export const help = formatHelp('calm generate', 'Continue a prompt with a trained model. CALM runs are handed to the CALM generator.', specs);

export async function run(argv: string[]): Promise<void> {
  const { options: o, help: wantHelp } = parseArgs('calm generate', specs, argv);
  if (wantHelp) {
    process.stdout.write(help);
    return;
  }
  if (o.checkpoint === undefined) throw new UsageError('calm generate: --checkpoint DIR is required (see calm generate --help)');
  const runDir = o.checkpoint;
  const configPath = path.join(runDir, 'config.json');
  if (!fs.existsSync(configPath)) throw new UsageError(`calm generate: ${configPath} not found; --checkpoint must name a run folder written by calm train`);
  const config = JSON.parse(fs.readFileSync(configPath, 'utf8')) as { model?: unknown };
  if (config.model === 'calm') {
    const mod = await loadCommand('./commands/generate-calm.js');
    if (mod === null) throw new UsageError('calm generate: CALM generation is not available yet (commands/generate-calm.js is not built)');
    await mod.run(argv);
    return;
  }
  if (config.model !== 'transformer') throw new Error(`calm generate: ${configPath} names model ${JSON.stringify(config.model)}; expected 'transformer' or 'calm'`);
  const run = config as TransformerRunConfig;
  await useBackend(o.backend, (note) => process.stderr.write(`${note}\n`));
  const dir = findCheckpoint(runDir);
  if (dir === null) throw new Error(`calm generate: no checkpoint in ${runDir} (train first, or wait for the first checkpoint)`);
  const tokenizer = loadRunTokenizer(runDir, run);
  const model = new TransformerLM(run.lm, { rng: new Rng(0) }); // weights are replaced by the checkpoint's
  loadCheckpoint(dir, { model });
  const prompt = [tokenizer.bos, ...tokenizer.encode(o.prompt)];
  const ids = generate(model, prompt, {
    maxTokens: o.maxTokens, temperature: o.temperature, topK: o.topK, rng: new Rng(o.seed),
    banned: [tokenizer.pad, tokenizer.eos, tokenizer.mask], stopId: tokenizer.bos,
  });
  process.stdout.write(`${o.prompt}${tokenizer.decode(ids)}\n`);
}
