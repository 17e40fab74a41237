/** The op profiler (src/tensor/profile.ts): counts per op and phase, bytes, totals, and the table. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor } from '../src/autograd/index.js';
import { profile } from '../src/tensor/profile.js';

test('profile counts ops by phase with bytes, and prints a table', () => {
  const x = Tensor.fromData(new Float32Array(1000).fill(0.5), [10, 100]).requireGrad();
  const { result, report } = profile(() => {
    const loss = x.exp().mul(x).sum();
    loss.backward();
    return loss.item();
  });
  assert.ok(Math.abs(result - 1000 * 0.5 * Math.exp(0.5)) < 1e-2);
  const row = (op: string, phase: string) => report.stats.find((r) => r.op === op && r.phase === phase);
  assert.equal(row('exp', 'forward')?.calls, 1);
  assert.equal(row('exp', 'forward')?.bytes, 4000);
  assert.equal(row('reduce.sum', 'forward')?.calls, 1);
  assert.ok((row('mul', 'backward')?.calls ?? 0) >= 2, 'the backward multiplications are counted as backward');
  assert.ok(report.opMs <= report.wallMs + 1e-9);
  const table = report.table(5);
  assert.match(table, /^op\s+phase\s+calls\s+total ms/);
  assert.match(table, /wall [\d.]+ ms; in ops [\d.]+ ms \(forward [\d.]+, backward [\d.]+\)/);
  assert.equal(table.split('\n').length, 2 + 5 + 2);
});

test('profile: async functions, no nesting, and nothing recorded outside', async () => {
  const { report } = await profile(async () => {
    await Promise.resolve();
    Tensor.fromData([1, 2], [2]).exp();
  });
  assert.equal(report.stats.find((r) => r.op === 'exp')?.calls, 1);
  assert.throws(() => profile(() => profile(() => 0)), /do not nest/);
  const after = profile(() => 0).report;
  assert.equal(after.stats.length, 0);
});
