import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { kebab, parseArgs, UsageError } from '../src/cli/args.js';
import { formatHelp } from '../src/cli/help.js';
import { COMMANDS, loadCommand, main } from '../src/cli/calm.js';
import { defineCommand } from '../src/cli/command.js';

const run = promisify(execFile);
const calmJs = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'calm.js');

const specs = {
  steps: { type: 'number', integer: true, min: 1, default: 10, description: 'optimiser steps' },
  lr: { type: 'number', min: 0, default: 0.001, description: 'learning rate' },
  tokenizer: { type: 'string', choices: ['byte', 'bpe'], default: 'byte', description: 'tokenizer' },
  out: { type: 'string', description: 'output folder' },
  maxTokens: { type: 'number', integer: true, default: 5, description: 'tokens' },
  resume: { type: 'boolean', description: 'resume' },
} as const;

async function calm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [calmJs, ...args], { encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('parseArgs', () => {
  test('defaults, both value forms, kebab-case names and flags', () => {
    const none = parseArgs('calm x', specs, []);
    assert.deepEqual(none.options, { steps: 10, lr: 0.001, tokenizer: 'byte', out: undefined, maxTokens: 5, resume: false });
    assert.equal(none.help, false);
    const { options, explicit } = parseArgs('calm x', specs, ['--steps', '20', '--lr=3e-4', '--tokenizer', 'bpe', '--max-tokens', '7', '--resume', '--out', 'd']);
    assert.deepEqual(options, { steps: 20, lr: 3e-4, tokenizer: 'bpe', out: 'd', maxTokens: 7, resume: true });
    assert.deepEqual([...explicit].sort(), ['lr', 'maxTokens', 'out', 'resume', 'steps', 'tokenizer']);
    assert.equal(parseArgs('calm x', specs, ['--resume', '--no-resume']).options.resume, false);
    assert.equal(parseArgs('calm x', specs, ['-h']).help, true);
    assert.equal(kebab('checkpointEvery'), 'checkpoint-every');
  });

  test('refuses unknown options and bad values with messages naming them', () => {
    const refuses = (argv: string[], pattern: RegExp): void => assert.throws(() => parseArgs('calm x', specs, argv), (e: unknown) => e instanceof UsageError && pattern.test(e.message));
    refuses(['--stepz', '3'], /^calm x: unknown option --stepz \(known options: --steps, --lr, /);
    refuses(['--steps', 'ten'], /calm x: invalid value "ten" for --steps: expected a number/);
    refuses(['--steps', '2.5'], /invalid value "2.5" for --steps: expected an integer/);
    refuses(['--steps', '0'], /invalid value "0" for --steps: must be >= 1/);
    refuses(['--lr', ''], /invalid value "" for --lr: expected a number/);
    refuses(['--tokenizer', 'wordpiece'], /invalid value "wordpiece" for --tokenizer: expected one of byte, bpe/);
    refuses(['--resume=maybe'], /invalid value "maybe" for --resume: expected true or false/);
    refuses(['--steps'], /option --steps needs a value/);
    refuses(['--out', '--lr'], /option --out needs a value/);
    refuses(['stray'], /unexpected argument "stray"/);
    refuses(['--no-steps'], /unknown option --no-steps/);
  });

  test('help lists every option with its default and choices', () => {
    const text = formatHelp('calm x', 'Does x.', specs);
    assert.match(text, /^Usage: calm x \[options\]\n\nDoes x\.\n/);
    assert.match(text, /--steps <number> +optimiser steps \(default: 10\)/);
    assert.match(text, /--lr <number> +learning rate \(default: 0.001\)/);
    assert.match(text, /--tokenizer <byte\|bpe> +tokenizer \(default: byte\)/);
    assert.match(text, /--max-tokens <number> +tokens \(default: 5\)/);
    assert.match(text, /--out <string> +output folder\n/);
    assert.match(text, /--resume +resume\n/);
    assert.match(text, /--help +Show this help/);
  });
});

describe('defineCommand', () => {
  /** Runs `fn` with process.stdout.write captured; returns what it wrote. */
  async function captureStdout(fn: () => Promise<void>): Promise<string> {
    const write = process.stdout.write;
    let text = '';
    process.stdout.write = ((chunk: string | Uint8Array) => {
      text += String(chunk);
      return true;
    }) as typeof process.stdout.write;
    try {
      await fn();
    } finally {
      process.stdout.write = write;
    }
    return text;
  }

  const calls: { options: unknown; explicit: string[]; argv: readonly string[] }[] = [];
  const command = defineCommand({
    name: 'calm x --mode y',
    usageName: 'calm x (mode y)',
    summary: 'Does x.',
    options: { steps: { type: 'number', integer: true, min: 1, default: 10, description: 'optimiser steps' }, quiet: { type: 'boolean', description: 'no bar' } },
    async run(options, { explicit, argv }) {
      calls.push({ options, explicit: [...explicit], argv });
    },
  });

  test('runs with the parsed options, what was explicit and the raw arguments', async () => {
    calls.length = 0;
    assert.equal(await captureStdout(() => command.run(['--steps', '3'])), '');
    assert.deepEqual(calls, [{ options: { steps: 3, quiet: false }, explicit: ['steps'], argv: ['--steps', '3'] }]);
  });

  test('--help prints the help (usage line from usageName) and does not run', async () => {
    calls.length = 0;
    const printed = await captureStdout(() => command.run(['--steps', '3', '--help']));
    assert.equal(printed, command.help);
    assert.match(printed, /^Usage: calm x \(mode y\) \[options\]\n\nDoes x\.\n/);
    assert.match(printed, /--steps <number> +optimiser steps \(default: 10\)/);
    assert.deepEqual(calls, []);
  });

  test('refusals name the command by its name, before running', async () => {
    calls.length = 0;
    await assert.rejects(command.run(['--steps', '0']), (e: unknown) => e instanceof UsageError && e.message === 'calm x --mode y: invalid value "0" for --steps: must be >= 1 (see calm x --mode y --help)');
    assert.deepEqual(calls, []);
  });

  // Pinned from the commands before they were declared with defineCommand and shared option sets: the
  // flags and their order (--help and the unknown-option message list them in this order).
  const FLAGS: Record<string, string> = {
    train: 'model out resume backend steps batch seq dim layers heads ffn tokenizer merges lr min-lr warmup schedule weight-decay clip on-nonfinite eval-every checkpoint-every valid-blocks valid-fraction seed quiet',
    'train-calm': 'autoencoder tokenizer out resume backend steps batch chunks dim layers heads ffn head-blocks head-dim noise-dim init energy-exponent samples target-samples targets lr min-lr warmup schedule weight-decay clip on-nonfinite eval-every checkpoint-every valid-blocks brier-blocks valid-fraction seed quiet',
    'train-ae': 'out resume backend steps batch k hidden latent layers beta kl-floor token-dropout latent-dropout tokenizer merges lr min-lr warmup schedule weight-decay clip on-nonfinite eval-every checkpoint-every valid-chunks report-chunks valid-fraction seed quiet',
    generate: 'checkpoint prompt max-tokens max-context temperature top-k seed backend',
    'generate-calm': 'checkpoint prompt max-tokens max-context temperature method pool top-k seed backend',
    eval: 'checkpoint split block-size blocks seed backend',
    demo: 'out ae-steps calm-steps max-tokens eval-blocks seed backend quiet',
    experiment: 'out budget ks baseline-steps ae-steps ae-latent ae-beta ae-hidden dim layers heads block batch samples target-samples eval-blocks eval-points gen-tokens tokenizer merges seed backend quiet',
    export: 'checkpoint format out',
    import: 'reference out',
    info: 'backend',
  };

  test('every command module keeps its flags, in order, in its help', async () => {
    const modules = new Set([...Object.values(COMMANDS).map((c) => c.module), './commands/train-calm.js', './commands/generate-calm.js']);
    assert.deepEqual([...modules].map((m) => m.replace(/^\.\/commands\/|\.js$/g, '')).sort(), Object.keys(FLAGS).sort());
    for (const name of Object.keys(FLAGS)) {
      const mod = (await loadCommand(`./commands/${name}.js`)) as { help: string; specs: Record<string, unknown> } | null;
      assert.ok(mod !== null, name);
      assert.equal(Object.keys(mod.specs).map(kebab).join(' '), FLAGS[name], name);
      const listed = [...mod.help.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]).join(' ');
      assert.equal(listed, `${FLAGS[name]} help`, name);
    }
  });
});

describe('calm command table', () => {
  test('lists the commands; unknown commands and missing modules are clear errors', async () => {
    for (const name of ['train', 'generate', 'info', 'train-ae', 'eval', 'demo', 'experiment']) assert.ok(Object.hasOwn(COMMANDS, name), name);
    await assert.rejects(main(['frobnicate']), (e: unknown) => e instanceof UsageError && /unknown command 'frobnicate'/.test(e.message));
    assert.equal(await loadCommand('./commands/no-such-command.js'), null);
    assert.equal(typeof (await loadCommand('./commands/info.js'))?.run, 'function');
  });

  test('the calm binary: help, info, refusals before any work', async () => {
    const top = await calm(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /Usage: calm <command>/);
    const info = await calm(['info']);
    assert.equal(info.code, 0);
    assert.match(info.stdout, /^calm-ts \d+\.\d+\.\d+\nNode\.js v\d+/);
    assert.match(info.stdout, /backend: cpu/);
    const trainHelp = await calm(['train', '--help']);
    assert.match(trainHelp.stdout, /--steps <number> +optimiser steps \(default: \d+\)/);
    const bad = await calm(['train', '--steps', 'many', '--out', path.join(os.tmpdir(), 'never-created')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /calm train: invalid value "many" for --steps: expected a number/);
    assert.ok(!fs.existsSync(path.join(os.tmpdir(), 'never-created')));
    const unknown = await calm(['generate', '--prompt', 'x', '--tempreature', '1']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /calm generate: unknown option --tempreature/);
  });

  test('train a tiny model for a few steps, then generate deterministically from its checkpoint', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'calm-cli-'));
    const trained = await calm(['train', '--out', out, '--steps', '3', '--dim', '16', '--layers', '1', '--heads', '2', '--seq', '16', '--batch', '4', '--valid-blocks', '4', '--eval-every', '3', '--quiet']);
    assert.equal(trained.code, 0, trained.stderr);
    assert.match(trained.stdout, /finished at step 3 .*valid loss \d+\.\d+ nats\/token \(unigram baseline \d+\.\d+\)/);
    for (const f of ['config.json', 'metrics.jsonl', 'loss.svg', 'checkpoint/state.json']) assert.ok(fs.existsSync(path.join(out, f)), f);
    const args = ['generate', '--checkpoint', out, '--prompt', 'It is', '--max-tokens', '12', '--seed', '3'];
    const a = await calm(args);
    const b = await calm(args);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^It is/);
    assert.equal(a.stdout, b.stdout);
  });
});
