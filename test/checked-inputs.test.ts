/**
 * Every file read back is checked (config.json, state.json, tokenizer.json, safetensors), errors name the
 * file and the field; the CLI refuses absurd flags and prompts before any work; generation is bounded;
 * small API misuses give clear errors.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Tensor } from '../src/autograd/tensor.js';
import { Autoencoder } from '../src/calm/autoencoder.js';
import { CalmModel } from '../src/calm/calm-model.js';
import { generateCalm } from '../src/calm/generate.js';
import { checkPrompt } from '../src/cli/options.js';
import { readRunConfig } from '../src/calm/runs/run-config.js';
import { saveCheckpoint, type JsonValue } from '../src/nn/checkpoint.js';
import { ByteTokenizer } from '../src/nn/data/tokenizer.js';
import { loadSafetensors } from '../src/nn/io/safetensors.js';
import { createLmTask } from '../src/nn/train/lm-task.js';
import { train } from '../src/nn/train/trainer.js';
import { generate, TransformerLM } from '../src/nn/transformer-lm.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';

const execFileP = promisify(execFile);
const calmJs = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'calm.js');

async function calm(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [calmJs, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function tmpDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `calm-inputs-${name}-`));
}

const LM = { vocabSize: 260, dim: 8, nLayers: 1, nHeads: 2, ffnHidden: 8 };

/** A config.json of a tiny transformer run (as `calm train` writes it). */
function transformerConfig(): Record<string, unknown> {
  return {
    model: 'transformer', version: 1, lm: { ...LM },
    data: { tokenizer: 'byte', merges: 0, seqLen: 8, batchSize: 2, validFraction: 0.05, validBlocks: 2, seed: 1 },
    train: { steps: 2, lr: 0.01, minLr: 0.001, warmupSteps: 0, schedule: 'constant', weightDecay: 0, clip: 1, evalEvery: 2, checkpointEvery: 2 },
    unigramValidLoss: null,
  };
}

/** A tiny trained transformer run folder (2 steps through the real trainer). */
async function transformerRun(): Promise<string> {
  const dir = tmpDir('lm');
  const model = new TransformerLM(LM, { rng: new Rng(1) });
  const tokens = Int32Array.from({ length: 200 }, (_, i) => 97 + (i % 20));
  const task = createLmTask({ model, trainTokens: tokens, validTokens: tokens.slice(0, 40), seqLen: 8, batchSize: 2, seed: 2, validBlocks: 2 });
  await train(task, { outDir: dir, steps: 2, lr: 0.01, warmupSteps: 0, schedule: 'constant', weightDecay: 0, clip: 1, evalEvery: 2, checkpointEvery: 2, resume: false, config: transformerConfig() as JsonValue, quiet: true });
  return dir;
}

/** A CALM run folder (config.json, checkpoint/, autoencoder/) with untrained tiny models. */
function calmRun(): string {
  const dir = tmpDir('calm');
  const ae = { vocabSize: 260, K: 4, hidden: 8, intermediate: 20, latent: 5, encoderLayers: 2, decoderLayers: 2 };
  const calmConfig = { vocabSize: 260, d: 8, ffn: 16, layers: 1, heads: 2, K: 4, latent: 5, headBlocks: 1, noiseDim: 3, nSamples: 2 };
  const config = {
    model: 'calm', version: 1, tokenizer: 'byte', calm: calmConfig, autoencoder: ae, autoencoderRun: '/nowhere',
    data: { blockChunks: 4, batchSize: 2, targetSamples: 2, validBlocks: 1, validFraction: 0.05, seed: 1 },
    train: { steps: 1, lr: 0.01, minLr: 0.001, warmupSteps: 0, schedule: 'constant', weightDecay: 0, clip: 1, evalEvery: 1, checkpointEvery: 1 },
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  saveCheckpoint(path.join(dir, 'checkpoint'), { model: new CalmModel(calmConfig, { rng: new Rng(1) }), extra: { step: 1, task: null, trainer: { version: 1 } } });
  saveCheckpoint(path.join(dir, 'autoencoder'), { model: new Autoencoder(ae, { rng: new Rng(2) }), extra: { config: ae } });
  return dir;
}

describe('run files are checked, naming file and field', () => {
  test('config.json: absurd sizes, wrong types, missing fields, invalid JSON, null', () => {
    const dir = tmpDir('config');
    const file = path.join(dir, 'config.json');
    const write = (value: unknown): void => fs.writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
    const refuses = (pattern: RegExp): void => assert.throws(() => readRunConfig(dir, 'transformer'), (e: Error) => e.message.includes(file) && pattern.test(e.message), pattern.source);
    const c = transformerConfig();
    write({ ...c, lm: { ...LM, nLayers: 1e9 } });
    refuses(/lm\.nLayers: Invalid value: Expected <=64 but received 1000000000/);
    write({ ...c, lm: { ...LM, dim: '8' } });
    refuses(/lm\.dim: Invalid type: Expected number but received "8"/);
    write({ ...c, data: { ...(c.data as object), seqLen: undefined } });
    refuses(/data\.seqLen: /);
    write({ ...c, train: { ...(c.train as object), lr: 0 } });
    refuses(/train\.lr: Invalid value: Expected >0/);
    write({ ...c, lm: { ...LM, dim: 4096, nLayers: 64, ffnHidden: 16384 } });
    refuses(/lm: the model would have [\d,]+ parameters, over the limit/);
    write('{"model": "transformer", oops}');
    refuses(/not valid JSON/);
    write('null');
    refuses(/Expected Object but received null/);
    write({ ...c, model: 'calm' });
    assert.throws(() => readRunConfig(dir, 'transformer'), /describes a 'calm' run, not a 'transformer' run/);
  });

  test('state.json: a negative or non-integer trainer step and a bad format are refused on resume', async () => {
    const dir = await transformerRun();
    const statePath = path.join(dir, 'checkpoint', 'state.json');
    const state = JSON.parse(fs.readFileSync(statePath, 'utf8')) as { extra: { step: number }; format: string };
    const resume = (): Promise<unknown> => {
      const model = new TransformerLM(LM, { rng: new Rng(1) });
      const tokens = Int32Array.from({ length: 200 }, (_, i) => 97 + (i % 20));
      const task = createLmTask({ model, trainTokens: tokens, validTokens: tokens.slice(0, 40), seqLen: 8, batchSize: 2, seed: 2, validBlocks: 2 });
      return train(task, { outDir: dir, steps: 4, lr: 0.01, warmupSteps: 0, schedule: 'constant', weightDecay: 0, clip: 1, evalEvery: 2, checkpointEvery: 2, resume: true, config: transformerConfig() as JsonValue, quiet: true });
    };
    fs.writeFileSync(statePath, JSON.stringify({ ...state, extra: { ...state.extra, step: -3 } }));
    await assert.rejects(resume(), (e: Error) => e.message.includes(statePath) && /step: Invalid value: Expected >=0 but received -3/.test(e.message));
    fs.writeFileSync(statePath, JSON.stringify({ ...state, extra: { ...state.extra, step: 1e15 } }));
    await assert.rejects(resume(), /at step 1000000000000000, past the 4 steps asked for/);
    fs.writeFileSync(statePath, JSON.stringify({ ...state, optimizerStep: 'two' }));
    assert.doesNotThrow(() => readRunConfig(dir, 'transformer')); // config is fine ...
    await assert.rejects(resume()); // ... but the checkpoint is not
  });

  test('an all-zero RNG state is refused', () => {
    assert.throws(() => new Rng(1).setState({ s: [0, 0, 0, 0], spareNormal: null }), /all-zero state is invalid/);
    assert.throws(() => new Rng(1).setState({ s: [1, 2, 3] as unknown as [number, number, number, number], spareNormal: null }), /expected \{ s: \[4 uint32 words\]/);
  });

  test('only regular files are read: a link to /dev/zero and a FIFO are refused without hanging', () => {
    const dir = tmpDir('special');
    const link = path.join(dir, 'model.safetensors');
    fs.symlinkSync('/dev/zero', link);
    assert.throws(() => loadSafetensors(link), /is not a regular file \(a character device\)/);
    const fifo = path.join(dir, 'fifo.safetensors');
    if (spawnSync('mkfifo', [fifo]).status === 0) {
      // In a child with a timeout: before the fix this read blocked forever.
      const probe = `import('${path.join(path.dirname(calmJs), '..', 'nn', 'io', 'safetensors.js')}').then((m) => { try { m.loadSafetensors(${JSON.stringify(fifo)}); } catch (e) { console.log(e.message); } })`;
      const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.signal, null, 'reading a FIFO hung');
      assert.match(r.stdout, /is not a regular file \(a FIFO\)/);
    }
  });

  test('a broken tokenizer.json names the file', async () => {
    const dir = await transformerRun();
    const config = { ...transformerConfig(), data: { ...(transformerConfig().data as object), tokenizer: 'bpe', merges: 1 } };
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({ type: 'bpe', version: 1, pretokenizer: 'x', merges: [[1, 2, 3]] }));
    const r = await calm(['generate', '--checkpoint', dir, '--max-tokens', '2']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tokenizer\.json: merges\.0\.2: Invalid type/);
  });
});

describe('command line', () => {
  test('size flags have upper bounds naming the flag; --lr 0 and --clip 0 are refused by the parser', async () => {
    for (const [args, pattern] of [
      [['train', '--dim', '1e6'], /invalid value "1e6" for --dim: must be <= 4096/],
      [['train-ae', '--latent', '100000'], /for --latent: must be <= 4096/],
      [['train', '--model', 'calm', '--layers', '1000'], /for --layers: must be <= 64/],
      [['train', '--lr', '0'], /invalid value "0" for --lr: must be > 0/],
      [['train-ae', '--clip', '0'], /invalid value "0" for --clip: must be > 0/],
      [['train', '--on-nonfinite', 'ignore'], /for --on-nonfinite: expected one of stop, skip/],
    ] as const) {
      const r = await calm([...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, pattern);
    }
  });

  test('CALM_BACKEND is honoured (and checked) by every command', async () => {
    const bad = await calm(['info'], { CALM_BACKEND: 'quantum' });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /environment variable CALM_BACKEND: .*expected one of cpu, auto/);
    const good = await calm(['info'], { CALM_BACKEND: 'gpujs-cpu' });
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /backend: gpujs-cpu/);
    const flag = await calm(['info', '--backend', 'cpu'], { CALM_BACKEND: 'gpujs-cpu' });
    assert.match(flag.stdout, /backend: cpu/, 'the flag wins over the variable');
  });

  test('--out /proc/x is refused instead of spinning', async () => {
    const started = Date.now();
    const r = await calm(['train', '--out', '/proc/calm-x/run', '--steps', '1', '--dim', '8', '--heads', '2', '--layers', '1', '--batch', '1', '--seq', '4', '--quiet']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\/proc\/calm-x/);
    assert.ok(Date.now() - started < 50_000);
  });

  test('generate needs no optimiser file; absurd prompts are refused, long ones are capped', async () => {
    const dir = await transformerRun();
    fs.rmSync(path.join(dir, 'checkpoint', 'optimizer.safetensors'));
    const ok = await calm(['generate', '--checkpoint', dir, '--prompt', 'ab'.repeat(10_000), '--max-tokens', '3', '--temperature', '0']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /the prompt is 20001 tokens; the model sees its last 8 \(--max-context\)/);
    // (A single argv string is capped near 128 KiB by Linux, so the bound is checked in-process.)
    assert.throws(() => checkPrompt('x'.repeat(1_000_001)), /--prompt is 1,000,001 characters, over the limit of 1,000,000/);
  });

  test('generate --method batch and --pool reach the CALM generator', async () => {
    const dir = calmRun();
    const r = await calm(['generate', '--checkpoint', dir, '--method', 'batch', '--temperature', '0.5', '--pool', '8', '--max-tokens', '8', '--prompt', 'Hi']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /2 chunks, 16 sampler calls/);
  });
});

describe('bounded generation', () => {
  const model = new TransformerLM({ vocabSize: 16, dim: 8, nLayers: 1, nHeads: 2, ffnHidden: 8 }, { rng: new Rng(4) });
  const prompt = Array.from({ length: 3000 }, (_, i) => (i * 7) % 16);

  test('a long prompt is cut to the context and fed in chunks: the same ids as feeding its tail at once', () => {
    const capped = generate(model, prompt, { maxTokens: 5, temperature: 0, rng: new Rng(1), maxContext: 32, prefillChunk: 5 });
    const tail = generate(model, prompt.slice(-32), { maxTokens: 5, temperature: 0, rng: new Rng(1), prefillChunk: 64 });
    assert.deepEqual(capped, tail);
  });

  test('generation past the context restarts from the last half of it, and stays within the vocabulary', () => {
    const out = generate(model, [1, 2, 3], { maxTokens: 40, temperature: 1, rng: new Rng(2), maxContext: 8 });
    assert.equal(out.length, 40);
    assert.ok(out.every((id) => Number.isInteger(id) && id >= 0 && id < 16));
    assert.throws(() => generate(model, [1, 99], { maxTokens: 1, rng: new Rng(1) }), /prompt\[1\] = 99 is not a token id in \[0, 16\)/);
  });

  test('CALM: chunked prefill and a context cap', () => {
    const ae = new Autoencoder({ vocabSize: 16, K: 2, hidden: 8, intermediate: 16, latent: 4, encoderLayers: 2, decoderLayers: 2 }, { rng: new Rng(1) });
    const calmModel = new CalmModel({ vocabSize: 16, d: 8, ffn: 16, layers: 1, heads: 2, K: 2, latent: 4, headBlocks: 1, noiseDim: 3, nSamples: 2 }, { rng: new Rng(2) });
    const base = { maxNewTokens: 6, eos: 15, pad: 0 } as const;
    const long = Array.from({ length: 400 }, (_, i) => 1 + (i % 13));
    const a = generateCalm(calmModel, ae, long, { ...base, rng: new Rng(3), maxContextChunks: 8, prefillChunks: 3 });
    const b = generateCalm(calmModel, ae, long.slice(-16), { ...base, rng: new Rng(3), prefillChunks: 100 });
    assert.deepEqual(a.tokens, b.tokens);
    const c = generateCalm(calmModel, ae, [1, 2], { ...base, maxNewTokens: 40, rng: new Rng(4), maxContextChunks: 4 });
    assert.ok(c.chunks > 4 || c.stoppedAtEos);
  });
});

describe('API misuse gives clear errors', () => {
  test('mean on int32, transpose axes on a vector, oneHot out of range, bad dtype, non-tensor operands', () => {
    const ints = new Tensor(NDArray.fromData(Int32Array.of(1, 2), [2], 'int32'));
    assert.throws(() => ints.mean(), /mean: needs a float tensor, got int32 \[2\]/);
    const vec = Tensor.fromData([1, 2, 3]);
    assert.equal(vec.transpose(), vec);
    assert.throws(() => vec.transpose(0, 5), /transpose: axis 5 is out of range/);
    assert.throws(() => Tensor.oneHot(new Tensor(NDArray.fromData(Int32Array.of(0, 3, -1), [3], 'int32')), 3), /oneHot: index 3 at flat position 1 of \[3\] is outside \[0, 3\)/);
    assert.throws(() => Tensor.zeros([2], 'float16' as never), /unknown dtype 'float16'/);
    assert.throws(() => vec.cast('int8' as never), /cast: unknown dtype 'int8'/);
    assert.throws(() => vec.add('1' as never), /add: operand must be a Tensor or a number, got string "1"/);
    assert.throws(() => vec.mul({} as never), /mul: operand must be a Tensor or a number, got a Object/);
    assert.throws(() => vec.matmul([1, 2, 3] as never), /matmul: operand must be a Tensor, got a Array/);
    assert.throws(() => new Tensor([1, 2] as never), /Tensor: data must be an NDArray, got a Array/);
    assert.throws(() => Tensor.concat([vec, 3 as never]), /concat: item 1 must be a Tensor, got number 3/);
  });
});

describe('CALM run configs keep every model field through validation', () => {
  test('headDim, init, targets and brierBlocks survive readRunConfig (a dropped headDim would break loading)', async () => {
    const { specs } = await import('../src/cli/commands/train-calm.js');
    const { calmRunConfig } = await import('../src/calm/runs/calm-run.js');
    const { parseArgs } = await import('../src/cli/args.js');
    const ae = { vocabSize: 260, K: 4, hidden: 16, intermediate: 40, latent: 8, encoderLayers: 2, decoderLayers: 2 };
    const o = parseArgs('calm train --model calm', specs, ['--head-dim', '96', '--init', 'width', '--targets', 'mean', '--brier-blocks', '7']).options;
    const config = calmRunConfig(o, ae, '/tmp/ae');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calm-config-'));
    try {
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, autoencoder: ae }));
      const read = readRunConfig(dir, 'calm');
      assert.equal(read.calm.headDim, 96);
      assert.equal(read.calm.init, 0.08); // 0.02 · sqrt(1024 / 64)
      assert.equal(read.data.targets, 'mean');
      assert.equal(read.data.brierBlocks, 7);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
