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
import { autoencoderNameTable, calmNameTable, transpose2d } from '../src/calm/interchange.js';
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
    assert.deepEqual(ae['decoder.lm_head_weight'].data, ae['encoder.embed_tokens.weight'].data);
    const cfg = JSON.parse(fs.readFileSync(path.join(ref, 'calm', 'config.json'), 'utf8'));
    assert.equal(cfg.hidden_size, 32);
    assert.equal(cfg.num_mlp_layers, 2);
    assert.equal(cfg.calm_ts.tokenizer, 'byte');
    const aeCfg = JSON.parse(fs.readFileSync(path.join(ref, 'autoencoder', 'config.json'), 'utf8'));
    assert.equal(aeCfg.calm_ts.mask_id, 259);
  });

  // Expected keys and shapes written out from the reference's source (modeling_autoencoder.py,
  // modeling_energy.py; see src/calm/interchange.ts), for the tiny run: d 32, K 4, l 16, 4 AE layers a side,
  // 2 head blocks, noise 8.
  test('the key set is the reference state_dict\'s: flat AE layer lists, lm_head_weight, linears, mlp_generator and ae_model copies', () => {
    const ae = loadSafetensors(path.join(ref, 'autoencoder', 'model.safetensors')).tensors;
    const calm = loadSafetensors(path.join(ref, 'calm', 'model.safetensors')).tensors;
    const ours = loadSafetensors(path.join(run, 'autoencoder', 'model.safetensors')).tensors;
    const aeLayer = (side: string, i: number) => ['layernorm.weight', 'mlp.gate_proj.weight', 'mlp.up_proj.weight', 'mlp.down_proj.weight'].map((n) => `${side}.${side}_layers.${i}.${n}`);
    const aeKeys = [
      'encoder.embed_tokens.weight', ...[0, 1, 2, 3].flatMap((i) => aeLayer('encoder', i)), 'encoder.hidden_to_latent.weight', 'encoder.hidden_to_latent.bias',
      'encoder.squeeze_layer.weight', 'encoder.squeeze_layer.bias', 'encoder.norm.weight',
      'decoder.latent_to_hidden.weight', 'decoder.latent_to_hidden.bias', ...[0, 1, 2, 3].flatMap((i) => aeLayer('decoder', i)),
      'decoder.expand_layer.weight', 'decoder.expand_layer.bias', 'decoder.norm.weight', 'decoder.lm_head_weight',
    ];
    assert.deepEqual(Object.keys(ae).sort(), [...aeKeys].sort());
    // stage 1 of the encoder is reference layers 2-3: calm-ts's post-stage layer 0 is encoder_layers.2
    assert.deepEqual(ae['encoder.encoder_layers.2.layernorm.weight'].data, ours['encoderPost.0.norm.weight'].data);
    assert.deepEqual(ae['decoder.decoder_layers.1.layernorm.weight'].data, ours['decoderPre.1.norm.weight'].data);

    const block = (i: number) => ['in_ln.weight', 'in_ln.bias', ...[0, 2, 4].flatMap((j) => [`linears.${j}.weight`, `linears.${j}.bias`]), 'down_proj.weight', 'down_proj.bias'].map((n) => `mlp_blocks.${i}.${n}`);
    const head = [
      'noise_embd.weight', 'noise_embd.bias', 'hidden_embd.weight', 'hidden_embd.bias', 'norm_hidden.weight', 'norm_hidden.bias', 'norm_noise.weight', 'norm_noise.bias',
      ...block(0), ...block(1), 'final_layer.in_ln.weight', 'final_layer.in_ln.bias', ...[0, 2].flatMap((j) => [`final_layer.linears.${j}.weight`, `final_layer.linears.${j}.bias`]),
    ];
    const llama = (i: number) => ['input_layernorm', 'post_attention_layernorm'].map((n) => `transformer.layers.${i}.${n}.weight`)
      .concat(['q_proj', 'k_proj', 'v_proj', 'o_proj'].map((n) => `transformer.layers.${i}.self_attn.${n}.weight`))
      .concat(['gate_proj', 'up_proj', 'down_proj'].map((n) => `transformer.layers.${i}.mlp.${n}.weight`));
    const calmKeys = [
      ...aeKeys.map((k) => `ae_model.${k}`), 'transformer.embed_tokens.weight', ...llama(0), ...llama(1), 'transformer.norm.weight',
      ...head.map((k) => `mlp_generator.${k}`), ...head.map((k) => `generative_head.${k}`),
      ...[0, 2, 3].flatMap((j) => [`embed_proj.${j}.weight`, `embed_proj.${j}.bias`]),
    ];
    assert.deepEqual(Object.keys(calm).sort(), [...calmKeys].sort());
    assert.deepEqual(calm['generative_head.mlp_blocks.0.linears.0.weight'].shape, [32, 64]); // Linear(2d → d)
    assert.deepEqual(calm['generative_head.mlp_blocks.0.linears.4.weight'].shape, [64, 32]); // Linear(d → 2d)
    assert.deepEqual(calm['generative_head.final_layer.linears.2.weight'].shape, [16, 32]); // Linear(d → l)
    assert.deepEqual(calm['generative_head.noise_embd.weight'].shape, [32, 8]);
    assert.deepEqual(calm['mlp_generator.mlp_blocks.1.down_proj.weight'].data, calm['generative_head.mlp_blocks.1.down_proj.weight'].data);
    assert.deepEqual(calm['ae_model.encoder.squeeze_layer.weight'].data, ae['encoder.squeeze_layer.weight'].data);
  });

  test('config.json fields: model_type energy for CALM, none for the AE, byte special tokens, no tie flag', () => {
    const cfg = JSON.parse(fs.readFileSync(path.join(ref, 'calm', 'config.json'), 'utf8'));
    const aeCfg = JSON.parse(fs.readFileSync(path.join(ref, 'autoencoder', 'config.json'), 'utf8'));
    assert.equal(cfg.model_type, 'energy'); // the reference's train_calm.py builds an EnergyTransformer only for 'energy'
    assert.deepEqual([cfg.pad_token_id, cfg.bos_token_id, cfg.eos_token_id], [256, 257, 258]);
    assert.equal(Object.hasOwn(aeCfg, 'model_type'), false);
    assert.equal(aeCfg.tie_word_embeddings, false);
    for (const k of ['vocab_size', 'hidden_size', 'intermediate_size', 'num_encoder_layers', 'num_decoder_layers', 'latent_size', 'patch_size', 'ae_dropout', 'kl_weight', 'kl_clamp']) assert.ok(Object.hasOwn(aeCfg, k), k);
    for (const k of ['num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'num_mlp_layers', 'noise_size', 'num_samples', 'beta', 'ae_path']) assert.ok(Object.hasOwn(cfg, k), k);
  });

  test('import takes a CALM file without ae_model.* and with the head under mlp_generator.* only', async () => {
    const slim = path.join(work, 'slim');
    fs.cpSync(ref, slim, { recursive: true });
    const file = path.join(slim, 'calm', 'model.safetensors');
    const { tensors } = decodeSafetensors(bytes(file));
    for (const k of Object.keys(tensors)) if (k.startsWith('ae_model.') || k.startsWith('generative_head.')) delete tensors[k];
    fs.writeFileSync(file, encodeSafetensors(tensors));
    const out = path.join(work, 'slim-back');
    await main(['import', '--reference', slim, '--out', out]);
    assert.ok(bytes(path.join(out, 'checkpoint', 'model.safetensors')).equals(bytes(path.join(run, 'checkpoint', 'model.safetensors'))));
  });

  test('import refuses an mlp_generator copy or an ae_model copy that differs', async () => {
    for (const [key, label] of [['mlp_generator.norm_noise.bias', /'mlp_generator\.norm_noise\.bias' differs from 'generative_head\.norm_noise\.bias'/], ['ae_model.decoder.norm.weight', /'ae_model\.decoder\.norm\.weight' differs from 'decoder\.norm\.weight'/]] as const) {
      const bad = path.join(work, `bad-${key}`);
      fs.cpSync(ref, bad, { recursive: true });
      const file = path.join(bad, 'calm', 'model.safetensors');
      const { tensors } = decodeSafetensors(bytes(file));
      const copy = Float32Array.from(tensors[key].data);
      copy[0] += 1;
      tensors[key] = { ...tensors[key], data: copy };
      fs.writeFileSync(file, encodeSafetensors(tensors));
      await assert.rejects(main(['import', '--reference', bad, '--out', path.join(work, `never-${key}`)]), (e: Error) => e.message.includes(file) && label.test(e.message));
    }
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
    const copy = Float32Array.from(tensors['decoder.lm_head_weight'].data);
    copy[3] += 1;
    tensors['decoder.lm_head_weight'] = { ...tensors['decoder.lm_head_weight'], data: copy };
    fs.writeFileSync(file, encodeSafetensors(tensors));
    await assert.rejects(main(['import', '--reference', untied, '--out', path.join(work, 'never2')]), /'decoder\.lm_head_weight' differs from 'encoder\.embed_tokens\.weight'.*tied to the embedding/);
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

