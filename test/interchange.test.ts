/**
 * Reference interchange (src/calm/interchange.ts, `calm export --format reference`, `calm import`):
 * export → import gives back the run bit for bit, bad folders are refused naming file and tensor, and the
 * exported weights run in PyTorch modules written from the reference's architecture with the same outputs
 * (scripts/reference_check.py). Without PyTorch that part is skipped, unless CALM_REQUIRE_TORCH=1 (CI sets
 * it), which makes a missing PyTorch a failure.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli/calm.js';
import { AE_TIED, autoencoderNameTable, calmNameTable, transpose2d } from '../src/calm/interchange.js';
import { decodeSafetensors, encodeSafetensors, loadSafetensors } from '../src/nn/io/safetensors.js';
import { makeTinyCalmRun, writeFixture } from '../scripts/reference-fixture.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'calm-interchange-'));
after(() => fs.rmSync(work, { recursive: true, force: true }));

const run = path.join(work, 'run');
const ref = path.join(work, 'ref');
const back = path.join(work, 'back');
makeTinyCalmRun(run);
await main(['export', '--checkpoint', run, '--format', 'reference', '--out', ref]);
await main(['import', '--reference', ref, '--out', back]);

function bytes(file: string): Buffer {
  return fs.readFileSync(file);
}

describe('reference interchange', () => {
  test('export → import is bit-exact: weights, autoencoder and run config', () => {
    for (const part of ['checkpoint', 'autoencoder']) {
      const a = loadSafetensors(path.join(run, part, 'model.safetensors')).tensors;
      const b = loadSafetensors(path.join(back, part, 'model.safetensors')).tensors;
      assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort(), part);
      for (const name of Object.keys(a)) {
        assert.deepEqual(b[name].shape, a[name].shape, `${part} ${name}`);
        assert.ok(Buffer.from(b[name].data.buffer, b[name].data.byteOffset, b[name].data.byteLength).equals(Buffer.from(a[name].data.buffer, a[name].data.byteOffset, a[name].data.byteLength)), `${part} ${name} differs`);
      }
      assert.ok(bytes(path.join(back, part, 'model.safetensors')).equals(bytes(path.join(run, part, 'model.safetensors'))), `${part}/model.safetensors bytes`);
    }
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(back, 'config.json'), 'utf8')), JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8')));
  });

  test('the export uses reference names and [out, in] Linear weights; the tied lm_head is written as a copy', () => {
    const ae = loadSafetensors(path.join(ref, 'autoencoder', 'model.safetensors')).tensors;
    const ours = loadSafetensors(path.join(run, 'autoencoder', 'model.safetensors')).tensors;
    assert.deepEqual(ae['encoder.squeeze_layer.weight'].shape, [32, 4 * 32]); // Linear(K·d → d) as [out, in]
    assert.deepEqual(ours['compress.weight'].shape, [4 * 32, 32]);
    assert.deepEqual(ae['encoder.squeeze_layer.weight'].data, transpose2d(ours['compress.weight'], 'compress').data);
    assert.deepEqual(ae[AE_TIED.ref].data, ae['encoder.embed_tokens.weight'].data);
    const cfg = JSON.parse(fs.readFileSync(path.join(ref, 'calm', 'config.json'), 'utf8'));
    assert.equal(cfg.hidden_size, 32);
    assert.equal(cfg.num_mlp_layers, 2);
    assert.equal(cfg.calm_ts.tokenizer, 'byte');
    const aeCfg = JSON.parse(fs.readFileSync(path.join(ref, 'autoencoder', 'config.json'), 'utf8'));
    assert.equal(aeCfg.calm_ts.mask_id, 259);
  });

  test('every parameter appears once in the tables', () => {
    const config = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8'));
    for (const [table, file] of [[calmNameTable(config.calm), 'checkpoint'], [autoencoderNameTable(config.autoencoder), 'autoencoder']] as const) {
      const names = Object.keys(loadSafetensors(path.join(run, file, 'model.safetensors')).tensors).sort();
      assert.deepEqual(table.map((r) => r.ours).sort(), names);
      assert.equal(new Set(table.map((r) => r.ref)).size, table.length, 'reference names are unique');
    }
  });

  test('import refuses a folder with a missing or an extra tensor, naming the file and the tensor', async () => {
    const broken = path.join(work, 'broken');
    fs.cpSync(ref, broken, { recursive: true });
    const file = path.join(broken, 'calm', 'model.safetensors');
    const { tensors } = decodeSafetensors(bytes(file));
    tensors['generative_head.extra.weight'] = tensors['transformer.norm.weight'];
    delete tensors['embed_proj.3.bias'];
    fs.writeFileSync(file, encodeSafetensors(tensors));
    await assert.rejects(main(['import', '--reference', broken, '--out', path.join(work, 'never')]), (e: Error) =>
      e.message.includes(file) && /missing embed_proj\.3\.bias/.test(e.message) && /unexpected generative_head\.extra\.weight/.test(e.message));
    assert.equal(fs.existsSync(path.join(work, 'never')), false, 'nothing is left under the target name');
  });

  test('import refuses an untied lm_head and export refuses an existing folder', async () => {
    const untied = path.join(work, 'untied');
    fs.cpSync(ref, untied, { recursive: true });
    const file = path.join(untied, 'autoencoder', 'model.safetensors');
    const { tensors } = decodeSafetensors(bytes(file));
    const copy = Float32Array.from(tensors[AE_TIED.ref].data);
    copy[3] += 1;
    tensors[AE_TIED.ref] = { ...tensors[AE_TIED.ref], data: copy };
    fs.writeFileSync(file, encodeSafetensors(tensors));
    await assert.rejects(main(['import', '--reference', untied, '--out', path.join(work, 'never2')]), /decoder\.lm_head\.weight' differs from the embedding/);
    await assert.rejects(main(['export', '--checkpoint', run, '--out', ref]), /exists/);
  });
});

/** A Python that imports torch: CALM_PYTHON, else python3, else Debian's /usr/bin/python3 (pyenv shims may hide it). */
function findTorchPython(): string | null {
  for (const exe of [process.env.CALM_PYTHON, 'python3', '/usr/bin/python3']) {
    if (exe === undefined || exe === '') continue;
    const r = spawnSync(exe, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return exe;
  }
  return null;
}

const python = findTorchPython();
const requireTorch = process.env.CALM_REQUIRE_TORCH === '1';
const noTorch = python === null ? 'PyTorch not importable (apt-get install python3-torch; CALM_PYTHON selects the interpreter)' : null;

describe('export → PyTorch reference architecture (scripts/reference_check.py)', () => {
  const fixture = path.join(work, 'fixture.safetensors');
  const check = (reference: string) =>
    spawnSync(python!, [path.join(root, 'scripts', 'reference_check.py'), '--reference', reference, '--fixture', fixture], { encoding: 'utf8' });

  test('PyTorch is available when CALM_REQUIRE_TORCH=1', () => {
    if (requireTorch) assert.equal(noTorch, null, `${noTorch} (required by CALM_REQUIRE_TORCH=1)`);
  });

  test('latents, logits, energy-head outputs and hidden states agree within 1e-5 relative', { skip: requireTorch ? false : (noTorch ?? false) }, () => {
    assert.ok(python !== null, noTorch ?? '');
    writeFixture(run, fixture);
    const r = check(ref);
    assert.equal(r.status, 0, `reference_check failed:\n${r.stdout}\n${r.stderr}`);
    for (const name of ['ae.mu', 'ae.log_sigma', 'ae.logits', 'head.out', 'calm.hidden']) assert.match(r.stdout, new RegExp(`ok\\s+${name.replace('.', '\\.')}`));
  });

  test('the check fails when a square weight is left untransposed', { skip: requireTorch ? false : (noTorch ?? false) }, () => {
    const wrong = path.join(work, 'wrong');
    fs.cpSync(ref, wrong, { recursive: true });
    const file = path.join(wrong, 'calm', 'model.safetensors');
    const { tensors } = decodeSafetensors(bytes(file));
    tensors['transformer.layers.0.self_attn.q_proj.weight'] = transpose2d(tensors['transformer.layers.0.self_attn.q_proj.weight'], 'q');
    fs.writeFileSync(file, encodeSafetensors(tensors));
    if (!fs.existsSync(fixture)) writeFixture(run, fixture);
    const r = check(wrong);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAIL calm\.hidden/);
    assert.match(r.stdout, /ok\s+ae\.mu/);
  });
});

