/**
 * CALM with BPE tokens (README "CALM in calm-ts"): `calm train-ae --tokenizer bpe` learns the tokenizer and
 * keeps it as tokenizer.json, `calm train --model calm` takes it over from the autoencoder, `calm eval` and
 * `calm generate` read it back; mismatched tokenizer files are refused naming the files; configs written
 * before BPE support still load as byte runs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readRunConfig } from '../src/calm/runs/run-config.js';
import { BpeTokenizer } from '../src/nn/data/bpe.js';

const execFileP = promisify(execFile);
const calmJs = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'calm.js');

async function calm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [calmJs, ...args], { encoding: 'utf8', timeout: 240_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const MERGES = 24;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'calm-bpe-'));
const aeDir = path.join(work, 'ae');
const calmDir = path.join(work, 'calm');
const readJson = (file: string): Record<string, unknown> => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;

// Tiny sizes and a handful of steps: the test checks the plumbing, not what the models learn.
const AE_ARGS = ['train-ae', '--tokenizer', 'bpe', '--merges', String(MERGES), '--steps', '2', '--batch', '8', '--hidden', '8', '--latent', '8', '--valid-chunks', '16', '--report-chunks', '64', '--eval-every', '2', '--checkpoint-every', '2', '--quiet'];
const CALM_ARGS = ['--steps', '2', '--batch', '2', '--chunks', '4', '--dim', '8', '--heads', '2', '--layers', '1', '--head-blocks', '1', '--noise-dim', '4', '--target-samples', '2', '--valid-blocks', '2', '--brier-blocks', '2', '--eval-every', '2', '--checkpoint-every', '2', '--quiet'];

describe('CALM with BPE tokens, end to end through the calm binary', () => {
  before(async () => {
    const ae = await calm([...AE_ARGS, '--out', aeDir]);
    assert.equal(ae.code, 0, ae.stderr);
    assert.match(ae.stdout, /accuracy decoding mu: +\d+\.\d+ %/);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  test('train-ae learns the BPE on the training split and records it: tokenizer.json, vocabulary and MASK id', () => {
    const config = readRunConfig(aeDir, 'autoencoder');
    assert.equal(config.tokenizer, 'bpe');
    assert.equal(config.merges, MERGES);
    const tokenizer = BpeTokenizer.fromJSON(readJson(path.join(aeDir, 'tokenizer.json')));
    assert.equal(tokenizer.numMerges, MERGES); // the corpus has far more than 24 frequent pairs
    assert.equal(config.autoencoder.vocabSize, 256 + MERGES + 4);
    assert.equal(config.regularisation.maskId, 256 + MERGES + 3); // PAD, BOS, EOS, MASK after the merges
    assert.ok(fs.existsSync(path.join(aeDir, 'robustness.json')));
  });

  test('train --model calm takes the autoencoder\'s tokenizer; eval and generate read it back', async () => {
    const trained = await calm(['train', '--model', 'calm', '--autoencoder', aeDir, '--out', calmDir, ...CALM_ARGS]);
    assert.equal(trained.code, 0, trained.stderr);
    const config = readRunConfig(calmDir, 'calm');
    assert.equal(config.tokenizer, 'bpe');
    assert.equal(config.calm.vocabSize, 256 + MERGES + 4);
    assert.equal(fs.readFileSync(path.join(calmDir, 'tokenizer.json'), 'utf8'), fs.readFileSync(path.join(aeDir, 'tokenizer.json'), 'utf8'));

    const evaluated = await calm(['eval', '--checkpoint', calmDir, '--blocks', '4']);
    assert.equal(evaluated.code, 0, evaluated.stderr);
    assert.match(evaluated.stdout, /BrierLM: \d+\.\d+/);
    assert.match(evaluated.stdout, /chunk-unigram table: energy loss \d+\.\d+/);
    assert.match(evaluated.stdout, /tokens: BPE, V = 284; .*not comparable with byte-level BrierLM/);
    const record = readJson(path.join(calmDir, 'eval.json'));
    assert.deepEqual(record.tokenizer, { kind: 'bpe', vocabSize: 284 });
    // The evaluation blocks are BPE ids: 4 blocks of the training length, 4 chunks of K = 4 tokens.
    assert.deepEqual({ blocks: (record.evaluation as { protocol: { blocks: number } }).protocol.blocks, blockSize: (record.evaluation as { protocol: { blockSize: number } }).protocol.blockSize }, { blocks: 4, blockSize: 16 });

    const args = ['generate', '--checkpoint', calmDir, '--prompt', 'It is', '--max-tokens', '8', '--seed', '3'];
    const a = await calm(args);
    const b = await calm(args);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^It is/);
    assert.equal(a.stdout, b.stdout);
  });

  test('a --tokenizer that differs from the autoencoder\'s is refused, naming the autoencoder\'s config.json', async () => {
    const out = path.join(work, 'refused');
    const r = await calm(['train', '--model', 'calm', '--autoencoder', aeDir, '--out', out, '--tokenizer', 'byte', ...CALM_ARGS]);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.includes(`--tokenizer byte does not match the autoencoder's tokenizer 'bpe' (${path.join(aeDir, 'config.json')})`), r.stderr);
    assert.ok(!fs.existsSync(out));
  });

  test('an autoencoder folder whose tokenizer.json is another run\'s is refused, naming both files', async () => {
    const other = path.join(work, 'ae-other');
    fs.cpSync(aeDir, other, { recursive: true });
    const merges = BpeTokenizer.fromJSON(readJson(path.join(aeDir, 'tokenizer.json'))).toJSON().merges.slice(0, 10);
    fs.writeFileSync(path.join(other, 'tokenizer.json'), JSON.stringify({ ...BpeTokenizer.fromJSON(readJson(path.join(aeDir, 'tokenizer.json'))).toJSON(), merges }));
    const out = path.join(work, 'refused-2');
    const r = await calm(['train', '--model', 'calm', '--autoencoder', other, '--out', out, ...CALM_ARGS]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`${path.join(other, 'tokenizer.json')} (270 ids, MASK 269) does not match ${path.join(other, 'config.json')} (vocabSize 284, maskId 283)`), r.stderr);
    assert.ok(!fs.existsSync(out));
  });

  test('export to the reference layout (byte-level only) refuses a BPE run', async () => {
    const out = path.join(work, 'exported');
    const r = await calm(['export', '--checkpoint', calmDir, '--format', 'reference', '--out', out]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`${path.join(calmDir, 'config.json')} uses a 'bpe' tokenizer; the reference layout is written for byte-level runs only`), r.stderr);
    assert.ok(!fs.existsSync(out));
  });

  test('a CALM folder without its tokenizer.json cannot be evaluated; the error names the missing file', async () => {
    const copy = path.join(work, 'calm-copy');
    fs.cpSync(calmDir, copy, { recursive: true });
    fs.rmSync(path.join(copy, 'tokenizer.json'));
    const r = await calm(['eval', '--checkpoint', copy, '--blocks', '2']);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`${path.join(copy, 'tokenizer.json')} is missing (${path.join(copy, 'config.json')} says tokenizer 'bpe')`), r.stderr);
  });
});

describe('run configs written before BPE support', () => {
  test('AE and CALM configs without a tokenizer field load as byte runs', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'calm-bpe-old-'));
    try {
      const ae = { vocabSize: 260, K: 4, hidden: 8, intermediate: 20, latent: 8, encoderLayers: 2, decoderLayers: 2 };
      const train = { steps: 2, lr: 0.01, minLr: 0.001, warmupSteps: 0, schedule: 'constant', weightDecay: 0, clip: 1, evalEvery: 2, checkpointEvery: 2 };
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
        model: 'autoencoder', version: 1, autoencoder: ae,
        regularisation: { beta: 0.001, klFloor: 0.5, tokenDropout: 0.15, latentDropout: 0.15, maskId: 259 },
        data: { batchSize: 8, validFraction: 0.05, validChunks: 16, reportChunks: 64, seed: 1 }, train,
      }));
      const read = readRunConfig(dir, 'autoencoder');
      assert.equal(read.tokenizer, 'byte');
      assert.equal(read.merges, undefined);
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
        model: 'calm', version: 1, autoencoder: ae, autoencoderRun: dir,
        calm: { vocabSize: 260, d: 8, ffn: 16, layers: 1, heads: 2, K: 4, latent: 8, headBlocks: 1, noiseDim: 4, nSamples: 2 },
        data: { blockChunks: 4, batchSize: 2, targetSamples: 2, validBlocks: 2, validFraction: 0.05, seed: 1 }, train,
      }));
      assert.equal(readRunConfig(dir, 'calm').tokenizer, 'byte');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
