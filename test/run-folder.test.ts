/**
 * Crash safety of run folders: the checkpoint swap under every pair of crash points, findCheckpoint on
 * half-deleted and leftover folders, the run lock, stale temporary files, the append-only metrics log,
 * and the resume errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { Tensor } from '../src/autograd/tensor.js';
import { loadCheckpoint, readCheckpointState, saveCheckpoint, type JsonValue } from '../src/nn/checkpoint.js';
import { setFsHook } from '../src/nn/io/fs-layer.js';
import { currentRecords, readMetrics } from '../src/nn/io/metrics.js';
import { Linear } from '../src/nn/linear.js';
import { AdamW } from '../src/nn/optim.js';
import { commitCheckpoint, findCheckpoint, lockRunFolder } from '../src/nn/train/run-folder.js';
import { train, type TrainOptions, type TrainTask } from '../src/nn/train/trainer.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';

// The crash tests make thousands of fsync calls: on a RAM file system they cost nothing.
const scratch = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();

function tmpDir(name: string): string {
  return fs.mkdtempSync(path.join(scratch, `calm-runfolder-${name}-`));
}

/** A tiny regression task (a 3x2 linear layer) whose state is a step counter, cheap enough to train thousands of times. */
function tinyTask(seed = 1): TrainTask & { model: Linear } {
  const model = new Linear(3, 2, { rng: new Rng(seed) });
  const rng = new Rng(seed + 7);
  let draws = 0;
  const batch = (): Tensor => {
    draws++;
    return Tensor.randn([4, 3], rng);
  };
  return {
    name: 'tiny',
    model,
    trainStep() {
      const x = batch();
      const y = model.forward(x).sub(x.sum(-1, true));
      return { loss: y.mul(y).mean(), tokens: 4 };
    },
    evaluate() {
      return { validLoss: 0 };
    },
    state() {
      return { draws, rng: rng.getState() } as unknown as JsonValue;
    },
    loadState(s) {
      const st = s as { draws: number; rng: number[] };
      draws = st.draws;
      rng.setState(st.rng as unknown as Parameters<Rng['setState']>[0]);
    },
  };
}

function options(outDir: string, extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    outDir, steps: 2, lr: 1e-2, warmupSteps: 0, schedule: 'constant', weightDecay: 0, clip: 1,
    evalEvery: 1000, checkpointEvery: 2, resume: false, config: { test: 'run-folder' }, quiet: true, ...extra,
  };
}

/** Thrown by the injected crash; every file-system call after it fails too (the process is dead). */
class Crash extends Error {}

/** Runs `fn` with a crash injected before file-system call number `at` (0-based); returns whether it crashed. */
function withCrashAt(at: number, fn: () => void): boolean {
  let calls = 0;
  let crashed = false;
  setFsHook(() => {
    if (crashed || calls++ === at) {
      crashed = true;
      throw new Crash(`injected crash at call ${at}`);
    }
  });
  try {
    fn();
  } catch (err) {
    if (!crashed) throw err;
  } finally {
    setFsHook(null);
  }
  return crashed;
}

/** Saves a checkpoint for `step` whose weight `weight` is filled with `step` (so a load can be checked against its state.json). */
function saveMarked(outDir: string, task: TrainTask & { model: Linear }, optimizer: AdamW, step: number): void {
  task.model.weight.assign(NDArray.fromData(new Float32Array(6).fill(step), [3, 2], 'float32'));
  const extra = { step, task: task.state(), trainer: { version: 1 } } as unknown as JsonValue;
  commitCheckpoint(outDir, (dir) => saveCheckpoint(dir, { model: task.model, optimizer, extra }));
}

/** The newest complete checkpoint must load, and its weights must be the ones of its recorded step. */
function assertLoadable(outDir: string, allowed: readonly number[], where: string): void {
  const dir = findCheckpoint(outDir);
  assert.notEqual(dir, null, `${where}: no complete checkpoint left`);
  const probe = tinyTask();
  const opt = new AdamW(probe.model.namedParameters(), { lr: 1e-2 });
  const { extra } = loadCheckpoint(dir as string, { model: probe.model, optimizer: opt });
  const step = (extra as { step: number }).step;
  assert.ok(allowed.includes(step), `${where}: checkpoint at step ${step}, expected one of ${allowed.join(', ')}`);
  assert.deepEqual([...probe.model.weight.toTypedArray()], new Array(6).fill(step), `${where}: weights do not belong to step ${step}`);
}

describe('checkpoint protocol', () => {
  test('any two crashes, at any file-system call of two consecutive saves, leave a loadable checkpoint that resumes', async () => {
    // The base: a real run with a checkpoint at step 2, then marked checkpoints at 4 (first crash) and 6 (second).
    const base = tmpDir('base');
    const task = tinyTask();
    await train(task, options(base));
    const optimizer = new AdamW(task.model.namedParameters(), { lr: 1e-2 });
    loadCheckpoint(path.join(base, 'checkpoint'), { model: task.model, optimizer });
    saveMarked(base, task, optimizer, 2);

    let pairs = 0;
    const work = tmpDir('work');
    for (let i = 0; ; i++) {
      const afterFirst = path.join(work, `first-${i}`);
      fs.cpSync(base, afterFirst, { recursive: true });
      const crashed = withCrashAt(i, () => saveMarked(afterFirst, task, optimizer, 4));
      assertLoadable(afterFirst, crashed ? [2, 4] : [4], `crash before call ${i} of the first save`);
      for (let j = 0; ; j++) {
        const dir = path.join(work, `pair-${i}-${j}`);
        fs.cpSync(afterFirst, dir, { recursive: true });
        const crashedAgain = withCrashAt(j, () => saveMarked(dir, task, optimizer, 6));
        const where = `crash before call ${i} of the first save and call ${j} of the second`;
        assertLoadable(dir, crashedAgain ? [2, 4, 6] : [6], where);
        // Resume: the trainer recovers the folder and trains on from whichever checkpoint survived.
        const resumed = await train(tinyTask(9), options(dir, { resume: true, steps: 7 }));
        assert.equal(resumed.steps, 7, where);
        assert.equal((readCheckpointState(path.join(dir, 'checkpoint')).extra as { step: number }).step, 7, where);
        fs.rmSync(dir, { recursive: true, force: true });
        pairs++;
        if (!crashedAgain) break;
      }
      fs.rmSync(afterFirst, { recursive: true, force: true });
      if (!crashed) break;
    }
    console.log(`crash pairs: ${pairs}`);
    assert.ok(pairs > 400, `only ${pairs} crash pairs were tried`); // about 40 calls per save
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(base, { recursive: true, force: true });
  });

  test('findCheckpoint refuses half-deleted folders and takes a complete checkpoint.tmp', async () => {
    const dir = tmpDir('find');
    const task = tinyTask();
    await train(task, options(dir, { steps: 4 }));
    const final = path.join(dir, 'checkpoint');
    assert.equal(findCheckpoint(dir), final);
    // A complete, newer checkpoint.tmp (a crash between the renames of a save) wins.
    const optimizer = new AdamW(task.model.namedParameters(), { lr: 1e-2 });
    saveCheckpoint(path.join(dir, 'checkpoint.tmp'), { model: task.model, optimizer, extra: { step: 6, task: task.state(), trainer: { version: 1 } } as unknown as JsonValue });
    assert.equal(findCheckpoint(dir), path.join(dir, 'checkpoint.tmp'));
    // Half deleted: state.json is there but a weight file is gone, or cut short.
    fs.rmSync(path.join(dir, 'checkpoint.tmp', 'model.safetensors'));
    assert.equal(findCheckpoint(dir), final);
    fs.truncateSync(path.join(final, 'optimizer.safetensors'), 100);
    assert.equal(findCheckpoint(dir), null);
  });
});

describe('run folder', () => {
  test('two runs into one folder: the second is refused while the first holds the lock; a dead owner\'s lock is taken over', async () => {
    const dir = tmpDir('lock');
    const release = lockRunFolder(dir);
    await assert.rejects(train(tinyTask(), options(dir)), (err: Error) => err.message.includes(`in use by process ${process.pid}`) && err.message.includes('run.lock'));
    release();
    // A lock left by a process that has exited.
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(child.stdout);
    fs.writeFileSync(path.join(dir, 'run.lock'), JSON.stringify({ pid: deadPid }));
    const summary = await train(tinyTask(), options(dir));
    assert.equal(summary.steps, 2);
    assert.equal(fs.existsSync(path.join(dir, 'run.lock')), false, 'the lock is released when the run ends');
  });

  test('stale temporary files and trash folders are removed when a run starts', async () => {
    const dir = tmpDir('stale');
    for (const f of ['config.json.tmp-123-4', 'loss.svg.tmp-99-0']) fs.writeFileSync(path.join(dir, f), 'partial');
    fs.mkdirSync(path.join(dir, 'checkpoint.trash-5-1'));
    fs.writeFileSync(path.join(dir, 'keep.tmp-notes'), 'not ours');
    await train(tinyTask(), options(dir));
    assert.deepEqual(fs.readdirSync(dir).sort(), ['checkpoint', 'config.json', 'keep.tmp-notes', 'loss.svg', 'metrics.jsonl']);
  });

  test('--resume without state.json is an error, not a fresh start over the run', async () => {
    const dir = tmpDir('nostate');
    await train(tinyTask(), options(dir, { steps: 4 }));
    fs.rmSync(path.join(dir, 'checkpoint', 'state.json'));
    const before = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8');
    await assert.rejects(train(tinyTask(), options(dir, { resume: true, steps: 6 })), /cannot resume: .* has no complete checkpoint/);
    assert.equal(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8'), before);
  });

  test('--resume with fewer steps than the checkpoint is an error and rewrites nothing', async () => {
    const dir = tmpDir('fewer');
    await train(tinyTask(), options(dir, { steps: 4 }));
    const config = fs.readFileSync(path.join(dir, 'config.json'), 'utf8');
    await assert.rejects(train(tinyTask(), options(dir, { resume: true, steps: 3, config: { changed: true } })), /at step 4, past the 3 steps asked for/);
    assert.equal(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'), config);
  });

  test('a crash at the start of a resume loses no metrics; the resumed log reads as the uninterrupted one', async () => {
    const straight = tmpDir('straight');
    await train(tinyTask(), options(straight, { steps: 6, checkpointEvery: 4 }));
    const dir = tmpDir('crashy');
    // Crash at the first file-system call of the save at step 6: metrics has steps 1..6, the checkpoint step 4.
    let armed = false;
    let crashed = false;
    setFsHook((op, target) => {
      if (crashed || (armed && target.includes('checkpoint'))) {
        crashed = true;
        throw new Crash('injected');
      }
    });
    const task = tinyTask();
    const stepHook = task.trainStep.bind(task);
    let n = 0;
    task.trainStep = (s) => {
      if (++n === 6) armed = true;
      return stepHook(s);
    };
    await assert.rejects(train(task, options(dir, { steps: 6, checkpointEvery: 4 })));
    setFsHook(null);
    const logged = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8');
    assert.equal(logged.trim().split('\n').length, 6);
    // A crash anywhere in the resume, up to its first checkpoint, leaves every logged line in place.
    for (let k = 0; ; k++) {
      let calls = 0;
      let dead = false;
      setFsHook(() => {
        if (dead || calls++ === k) {
          dead = true;
          throw new Crash('injected');
        }
      });
      await train(tinyTask(), options(dir, { resume: true, steps: 6, checkpointEvery: 4 })).catch(() => {});
      setFsHook(null);
      assert.ok(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').startsWith(logged), `crash before call ${k} of the resume lost metrics`);
      if (!dead) break;
      assert.equal(findCheckpoint(dir) !== null, true);
    }
    const raw = readMetrics(path.join(dir, 'metrics.jsonl'));
    assert.deepEqual(raw.slice(0, 6).map((r) => r.step), [1, 2, 3, 4, 5, 6], 'append-only: superseded lines stay in the file');
    const current = currentRecords(raw);
    const reference = readMetrics(path.join(straight, 'metrics.jsonl'));
    assert.deepEqual(current.map((r) => r.step), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(current.map((r) => r.loss), reference.map((r) => r.loss));
  });
});
