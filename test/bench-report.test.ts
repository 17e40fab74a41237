// bench/report.ts: rows measured on another machine (bench/device.sh) sit beside this machine's rows
// without ratio columns that would compare two machines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderMarkdown, type BenchRow } from '../bench/report.js';

const rows: BenchRow[] = [
  { case: 'matmul', size: 256, impl: 'calm-ts-cpu', medianMs: 2 },
  { case: 'matmul', size: 256, impl: 'tfjs-wasm', medianMs: 4 },
  { case: 'matmul', size: 256, impl: 'calm-ts-gpujs-webgpu-nvidia', medianMs: 1, machine: 'GPU host' },
  { case: 'matmul', size: 256, impl: 'pytorch-cuda-f32', medianMs: 0.1, machine: 'GPU host' },
];

test('renderMarkdown: ratio columns only for peers measured on this machine', () => {
  const md = renderMarkdown(rows, { matmul: 'home section', 'matmul@-nvidia': 'device section', 'add@-nvidia': 'other case' });
  const header = md.split('\n').find((l) => l.startsWith('| size |'));
  assert.ok(header);
  assert.deepEqual(
    header.split('|').map((c) => c.trim()).filter((c) => c !== ''),
    ['size', 'calm-ts-cpu', 'tfjs-wasm', 'calm-ts-gpujs-webgpu-nvidia', 'pytorch-cuda-f32', 'tfjs-wasm / calm-ts-cpu'],
  );
  assert.match(md, /\| 256 \| 2\.000 \| 4\.000 \| 1\.000 \| 0\.100 \| 2\.00 \|/);
  assert.match(md, /Columns calm-ts-gpujs-webgpu-nvidia, pytorch-cuda-f32: measured on another machine, GPU host;/);
  // The case's own section and the device run's both appear; another case's does not.
  assert.ok(md.indexOf('home section') < md.indexOf('device section'));
  assert.ok(!md.includes('other case'));
});
