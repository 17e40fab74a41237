/** Rng: normalArray gives exactly the stream of normal() calls, and the stream itself is pinned. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/tensor/random.js';

test('normalArray equals normal() one by one, across odd sizes and a pending spare', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    const fast = new Rng(42);
    const slow = new Rng(42);
    for (const size of [0, 1, 2, 3, 7, 1, 0, 64, 5]) {
      const got = fast.normalArray(size, 0.5, 2, dtype);
      const want = dtype === 'float32' ? new Float32Array(size) : new Float64Array(size);
      for (let i = 0; i < size; i++) want[i] = 0.5 + 2 * slow.normal();
      assert.deepEqual(got, want, `${dtype} size ${size}`);
      assert.deepEqual(fast.getState(), slow.getState(), `${dtype} state after size ${size}`);
    }
  }
});

test('the stream is pinned: values recorded from the implementation before the state moved to an Int32Array', () => {
  const r = new Rng(2025);
  assert.deepEqual([r.nextUint32(), r.nextUint32(), r.nextUint32()], [3242873931, 3052759240, 290932308]);
  assert.deepEqual(Array.from(r.normalArray(3, 0, 1, 'float64')), [1.0160523113941453, -1.317070757428727, 0.26451322408182276]);
  assert.equal(r.fork().nextUint32(), 2156105397);
  assert.deepEqual(r.getState(), { s: [495172026, 519468839, 4190514968, 1634147588], spareNormal: -0.5459039552712088 });
});
