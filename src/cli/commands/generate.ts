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
import { LIMITS, readRunConfig, readRunKind } from './run-config.js';
import { loadRunTokenizer, type TransformerRunConfig } from './transformer-config.js';

/** Longest --prompt accepted, in characters. */
export const MAX_PROMPT_CHARS = 1_000_000;
/** Most tokens one call generates. */
export const MAX_NEW_TOKENS = 1_000_000;

export const specs = {
  checkpoint: { type: 'string', description: 'run folder written by calm train (holding config.json and checkpoint/)' },
  prompt: { type: 'string', default: '', description: 'text to continue (a BOS token is put in front)' },
  maxTokens: { type: 'number', integer: true, min: 0, max: MAX_NEW_TOKENS, default: 200, description: 'tokens to generate' },
  maxContext: { type: 'number', integer: true, min: 0, max: LIMITS.seq * 16, default: 0, description: 'most tokens the model attends over (0: the sequence length it was trained on)' },
  temperature: { type: 'number', min: 0, default: 0.8, description: 'softmax temperature (0: greedy)' },
  topK: { type: 'number', integer: true, min: 0, max: LIMITS.vocab, default: 0, description: 'sample among the k most likely tokens (0: all)' },
  seed: { type: 'number', integer: true, min: 0, default: 0, description: 'sampling seed' },
  backend: { type: 'string', default: 'cpu', choices: ['cpu', 'auto', 'gpujs-webgpu', 'gpujs-webasm', 'gpujs-cpu'], description: 'compute backend' },
} as const;

export const help = formatHelp('calm generate', 'Continue a prompt with a trained model. CALM runs are handed to the CALM generator (options --method and --pool; see calm generate --checkpoint CALM_RUN --help).', specs);

/** The value of `--checkpoint` in argv, read before the options are parsed (they depend on the run's kind). */
function checkpointArg(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--checkpoint') return argv[i + 1];
    if (argv[i].startsWith('--checkpoint=')) return argv[i].slice('--checkpoint='.length);
  }
  return undefined;
}

/** Refuses prompts no model here could use (the context cap keeps only the last tokens of long ones). */
export function checkPrompt(prompt: string): void {
  if (prompt.length > MAX_PROMPT_CHARS) throw new UsageError(`calm generate: --prompt is ${prompt.length.toLocaleString('en')} characters, over the limit of ${MAX_PROMPT_CHARS.toLocaleString('en')}`);
}

export async function run(argv: string[]): Promise<void> {
  // A CALM run has its own options (--method, --pool): hand it over before checking the transformer's.
  const dirArg = checkpointArg(argv);
  if (dirArg !== undefined && fs.existsSync(path.join(dirArg, 'config.json')) && readRunKind(dirArg) === 'calm') {
    const mod = await loadCommand('./commands/generate-calm.js');
    if (mod === null) throw new UsageError('calm generate: CALM generation is not available yet (commands/generate-calm.js is not built)');
    await mod.run(argv);
    return;
  }
  const { options: o, help: wantHelp } = parseArgs('calm generate', specs, argv);
  if (wantHelp) {
    process.stdout.write(help);
    return;
  }
  if (o.checkpoint === undefined) throw new UsageError('calm generate: --checkpoint DIR is required (see calm generate --help)');
  checkPrompt(o.prompt);
  const runDir = o.checkpoint;
  const configPath = path.join(runDir, 'config.json');
  if (!fs.existsSync(configPath)) throw new UsageError(`calm generate: ${configPath} not found; --checkpoint must name a run folder written by calm train`);
  const kind = readRunKind(runDir);
  if (kind !== 'transformer') throw new UsageError(`calm generate: ${configPath} describes a '${kind}' run; generate from a 'transformer' or 'calm' run`);
  const run: TransformerRunConfig = readRunConfig(runDir, 'transformer');
  await useBackend(o.backend, (note) => process.stderr.write(`${note}\n`));
  const dir = findCheckpoint(runDir, { weightsOnly: true });
  if (dir === null) throw new Error(`calm generate: no checkpoint in ${runDir} (train first, or wait for the first checkpoint)`);
  const tokenizer = loadRunTokenizer(runDir, run);
  const model = new TransformerLM(run.lm, { rng: new Rng(0) }); // weights are replaced by the checkpoint's
  loadCheckpoint(dir, { model });
  const prompt = [tokenizer.bos, ...tokenizer.encode(o.prompt)];
  const maxContext = o.maxContext > 0 ? o.maxContext : run.data.seqLen;
  if (prompt.length > maxContext) process.stderr.write(`note: the prompt is ${prompt.length} tokens; the model sees its last ${maxContext} (--max-context)\n`);
  const ids = generate(model, prompt, {
    maxTokens: o.maxTokens, temperature: o.temperature, topK: o.topK, rng: new Rng(o.seed), maxContext: Math.max(2, maxContext),
    banned: [tokenizer.pad, tokenizer.eos, tokenizer.mask], stopId: tokenizer.bos,
  });
  process.stdout.write(`${o.prompt}${tokenizer.decode(ids)}\n`);
}
