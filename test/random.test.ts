/** Rng.normalArray's fast loop gives exactly the stream of Rng.normal() calls, spare included. */
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
