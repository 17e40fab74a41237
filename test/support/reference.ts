/**
 * Independent float64 references shared by the op test files: the elementwise definitions (each op
 * table entry's `math`, a one-line scalar formula kept apart from its loops and kernels), row-major
 * index arithmetic, and a tolerance check that reports the position.
 */
import assert from 'node:assert/strict';
import { BINARY, BINARY_OPS, UNARY, UNARY_OPS, type BinaryOp, type UnaryOp } from '../../src/tensor/ops/index.js';
import type { Shape } from '../../src/tensor/shape.js';

/** The scalar definition of each unary op (the `math` of its op-table entry, written with Math). */
export const UNARY_REF = Object.fromEntries(UNARY_OPS.map((op) => [op, UNARY[op].math])) as Record<UnaryOp, (x: number) => number>;

/** The scalar definition of each binary op (the `math` of its op-table entry). */
export const BINARY_REF = Object.fromEntries(BINARY_OPS.map((op) => [op, BINARY[op].math])) as Record<BinaryOp, (a: number, b: number) => number>;

/** Multi-index of flat position i in a row-major shape (all zeros for an empty shape). */
export function unravel(i: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    idx[a] = shape[a] === 0 ? 0 : i % shape[a];
    i = shape[a] === 0 ? 0 : Math.floor(i / shape[a]);
  }
  return idx;
}

/** Flat row-major position of a multi-index. */
export function ravel(idx: readonly number[], shape: Shape): number {
  let p = 0;
  for (let a = 0; a < shape.length; a++) p = p * shape[a] + idx[a];
  return p;
}

/** Asserts |actual - expected| <= atol + rtol |expected| elementwise (NaN must match NaN). */
export function close(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `${what}[${i}]: expected NaN, got ${a}`);
      continue;
    }
    if (a === e) continue;
    assert.ok(Math.abs(a - e) <= atol + rtol * Math.abs(e), `${what}[${i}]: ${a} vs ${e}`);
  }
}
