/**
 * Forward checks of every primitive of the op table (`src/tensor/ops`) on one backend against the CPU
 * reference backend, on the same host data. Pure TypeScript with no Node import, so it runs in the
 * browser playground's worker (`?opcheck=1`, test/play-browser.test.ts runs it on WebGL2) as well as
 * under Node. Inputs include transposed, sliced and broadcast views, so the strided paths run too.
 */
import { OPS, type OpName } from '../tensor/ops/index.js';
import { UNARY, UNARY_OPS } from '../tensor/ops/unary.js';
import { BINARY_OPS } from '../tensor/ops/binary.js';
import type { Backend } from '../tensor/backend.js';
import { cpuBackend } from '../tensor/device.js';
import { normRows, normRowsBackward, rope, siluBackward, siluMul, siluMulBackward, softmaxCrossEntropy, softmaxCrossEntropyBackward, softmaxRows } from '../tensor/fused.js';
import { memoryScope } from '../tensor/memory.js';
import { NDArray } from '../tensor/ndarray.js';
import { Rng } from '../tensor/random.js';

/** One case's outcome: the largest error relative to the tolerance (ok when ≤ 1). */
export interface OpCheckResult {
  readonly op: OpName;
  readonly label: string;
  readonly ok: boolean;
  readonly maxAbsErr: number;
  readonly detail: string;
}

type Make = (arr: (shape: number[], lo?: number, hi?: number, int?: boolean) => NDArray) => NDArray;
interface Case {
  readonly op: OpName;
  readonly label: string;
  readonly build: Make;
  /**
   * A looser absolute tolerance where the device's own function is less exact: SwiftShader's WebGL sin
   * and cos are off by up to 1.9e-4 on [-2, 2] (measured; calm-ts computes RoPE's tables on the host, so models
   * do not see this).
   */
  readonly atol?: number;
}

function cases(): Case[] {
  const list: Case[] = [];
  for (const op of UNARY_OPS) {
    const [lo, hi] = UNARY[op].gradcheck; // a range where the op is defined
    list.push({ op, label: 'transposed [5, 7]', build: (a) => a([7, 5], lo, hi).transpose().unary(op), ...(op === 'sin' || op === 'cos' ? { atol: 5e-4 } : {}) });
  }
  for (const op of BINARY_OPS) {
    // pow on a positive base; division away from 0; comparisons on small ints so that ties occur
    const int = /^(eq|ne|lt|le|gt|ge)$/.test(op);
    const lo = op === 'pow' || op === 'div' ? 0.5 : -2;
    list.push({ op, label: 'broadcast [3, 1, 4] with [5, 1]', build: (a) => a([3, 1, 4], lo, 2, int).binary(op, a([5, 1], lo, 2, int)) });
  }
  list.push(
    { op: 'copy', label: 'contiguous() of a permuted slice', build: (a) => a([4, 6, 5]).permute([2, 0, 1]).sliceAxis(2, 1, 6, 2).contiguous() },
    { op: 'fill', label: 'zeros [9]', build: (a) => NDArray.zeros([9], 'float32', a([1]).backend).add(a([9])) },
    { op: 'cast', label: 'float → int32 truncates toward zero', build: (a) => a([13], -5, 5).cast('int32') },
    { op: 'where', label: 'broadcast condition', build: (a) => NDArray.where(a([4, 1], -1, 1).gt(0), a([4, 5]), a([5])) },
    { op: 'concat', label: 'axis 1 of views', build: (a) => NDArray.concat([a([3, 2]), a([2, 3]).transpose(), a([3, 4]).sliceAxis(1, 0, 4, 3)], 1) },
    { op: 'unslice', label: 'pad [3, 4] by (1, 2), (0, 3)', build: (a) => a([3, 4]).pad([[1, 2], [0, 3]]) },
    { op: 'reduce', label: 'sum over axes 0, 2 of a permuted view', build: (a) => a([3, 4, 5]).permute([1, 0, 2]).sum([0, 2]) },
    { op: 'reduce', label: 'max, keepdims', build: (a) => a([6, 7]).max(1, true) },
    { op: 'reduce', label: 'argmax', build: (a) => a([5, 9]).argmax(-1) },
    { op: 'matmul', label: '[2, 5, 7] @ [7, 3] (batch broadcast)', build: (a) => a([2, 5, 7]).matmul(a([7, 3])) },
    { op: 'matmul', label: 'transposed operands [9, 33]ᵀ @ [9, 17]', build: (a) => a([9, 33]).transpose().matmul(a([9, 17])) },
    { op: 'gather', label: 'rows of an embedding table', build: (a) => a([10, 6]).gather(a([7], 0, 10, true).cast('int32'), 0) },
    { op: 'scatterAdd', label: 'repeated indices', build: (a) => a([7, 3]).scatterAdd(NDArray.fromData(Int32Array.from([0, 2, 2, 5, 0, 1, 2]), [7], 'int32', a([1]).backend), 0, 6) },
    { op: 'softmaxRows', label: 'rows of a transposed view', build: (a) => softmaxRows(a([6, 4], -3, 3).transpose()) },
    { op: 'siluMul', label: 'broadcast second operand', build: (a) => siluMul(a([4, 5]), a([5]).broadcastTo([4, 5])) },
    // The backward entries of the differentiable fused ops (src/autograd/fused.ts), on made-up saved values.
    { op: 'siluBackward', label: 'x, sigmoid(x), g [4, 5]', build: (a) => { const x = a([4, 5]); return siluBackward(x, x.unary('sigmoid'), a([4, 5])); } },
    { op: 'siluMulBackward', label: 'a, b, sigmoid(a), g [3, 4] (both gradients)', build: (a) => {
      const x = a([3, 4]);
      const [da, db] = siluMulBackward(x, a([3, 4]), x.unary('sigmoid'), a([3, 4]));
      return NDArray.concat([da, db], 0);
    } },
    { op: 'normRows', label: 'LayerNorm rows [5, 6] with gain and bias', build: (a) => normRows(a([5, 6]), a([6], 0.5, 1.5), a([6]), 1e-6, true).y },
    { op: 'normRowsBackward', label: 'RMSNorm rows [4, 6]: dx, dw, db', build: (a) => {
      const x = a([4, 6]);
      const w = a([6], 0.5, 1.5);
      const { stats } = normRows(x, w, a([6]), 1e-6, false);
      const { dx, dw, db } = normRowsBackward(x, w, stats, a([4, 6]), 1e-6, false);
      return NDArray.concat([dx.reshape([24]), dw, db], 0);
    } },
    { op: 'softmaxCrossEntropy', label: 'logits [5, 7] and targets', build: (a) => {
      const { loss, probs } = softmaxCrossEntropy(a([5, 7], -3, 3), a([5], 0, 7, true).cast('int32'));
      return NDArray.concat([loss, probs.reshape([35])], 0);
    } },
    { op: 'softmaxCrossEntropyBackward', label: 'probs [5, 7], targets, g [5]', build: (a) => {
      const { probs } = softmaxCrossEntropy(a([5, 7], -3, 3), a([5], 0, 7, true).cast('int32'));
      return softmaxCrossEntropyBackward(probs, a([5], 0, 7, true).cast('int32'), a([5]));
    } },
    { op: 'rope', label: 'x a permuted [2, 2, 3, 6] view, tables [3, 3], and the inverse', build: (a) => {
      const x = a([2, 3, 2, 6]).permute([0, 2, 1, 3]);
      const cos = a([3, 3]), sin = a([3, 3]);
      return NDArray.concat([rope(x, cos, sin), rope(x, cos, sin, true)], 0);
    } },
  );
  return list;
}

/** The ops that have at least one case (a test asserts this is all of them). */
export function coveredOps(): Set<OpName> {
  return new Set(cases().map((c) => c.op));
}

export function allOps(): OpName[] {
  return Object.keys(OPS) as OpName[];
}

/**
 * Runs every case on `backend` and on the CPU backend with the same inputs (float32; ints where the case
 * asks) and compares elementwise: |got − want| ≤ atol + rtol·|want|. gpu.js stores float32 and its
 * transcendental functions are the GPU's, hence the float32-level tolerance.
 */
export function checkOpsAgainstCpu(backend: Backend, options: { rtol?: number; atol?: number; seed?: number } = {}): OpCheckResult[] {
  const rtol = options.rtol ?? 2e-5;
  const atol = options.atol ?? 2e-6;
  const cpu = cpuBackend();
  const out: OpCheckResult[] = [];
  cases().forEach((c, index) => {
    const run = (be: Backend): { data: number[]; shape: readonly number[]; dtype: string } => {
      const rng = new Rng((options.seed ?? 1) * 1000 + index); // the same draws on both backends
      const arr = (shape: number[], lo = -2, hi = 2, int = false): NDArray => {
        const n = shape.reduce((p, q) => p * q, 1);
        const data = new Float32Array(n);
        for (let i = 0; i < n; i++) data[i] = int ? Math.floor(lo + (hi - lo) * rng.uniform()) : lo + (hi - lo) * rng.uniform();
        return NDArray.fromData(data, shape, 'float32', be);
      };
      return memoryScope(() => {
        const r = c.build(arr);
        return { data: Array.from(r.toTypedArray()), shape: r.shape, dtype: r.dtype };
      });
    };
    try {
      const want = run(cpu);
      const got = run(backend);
      let worst = 0;
      let where = -1;
      let ok = got.shape.join() === want.shape.join() && got.dtype === want.dtype;
      for (let i = 0; i < want.data.length && ok; i++) {
        const err = Math.abs(got.data[i] - want.data[i]);
        if (!(err <= (c.atol ?? atol) + rtol * Math.abs(want.data[i])) && !(Number.isNaN(got.data[i]) && Number.isNaN(want.data[i]))) ok = false;
        if (err > worst || Number.isNaN(err)) {
          worst = err;
          where = i;
        }
      }
      const detail = ok ? `max |err| ${worst.toExponential(2)}` : `at ${where}: got ${got.data[where]} want ${want.data[where]} (shape ${got.shape.join('x')} ${got.dtype} vs ${want.shape.join('x')} ${want.dtype})`;
      out.push({ op: c.op, label: c.label, ok, maxAbsErr: worst, detail });
    } catch (err) {
      out.push({ op: c.op, label: c.label, ok: false, maxAbsErr: NaN, detail: `threw: ${err instanceof Error ? err.message : String(err)}` });
    }
  });
  return out;
}
