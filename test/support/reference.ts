/**
 * Independent float64 references shared by the op test files: elementwise definitions written
 * directly with Math, row-major index arithmetic, and a tolerance check that reports the position.
 */
import assert from 'node:assert/strict';
import type { BinaryOp, UnaryOp } from '../../src/tensor/backend.js';
import type { Shape } from '../../src/tensor/shape.js';

export const UNARY_REF: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  reciprocal: (x) => 1 / x,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  abs: Math.abs,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : x), // keeps NaN
};

export const BINARY_REF: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  maximum: Math.max, // NaN-propagating, like the backends
  minimum: Math.min,
  eq: (a, b) => Number(a === b),
  ne: (a, b) => Number(a !== b),
  lt: (a, b) => Number(a < b),
  le: (a, b) => Number(a <= b),
  gt: (a, b) => Number(a > b),
  ge: (a, b) => Number(a >= b),
};

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
