/**
 * `npm run gradcheck`: checks every differentiable op against central finite differences in
 * float64 and prints one row per case, then `gradcheck: N passed, M failed`.
 */
import { gradcheck } from '../src/autograd/index.js';
import { fmtShape } from '../src/tensor/shape.js';
import { allCases } from './gradcheck-cases.js';

function main(): void {
  const cases = allCases();
  let passed = 0;
  let failed = 0;
  const rows: string[][] = [['op', 'case', 'inputs', 'mode', 'max abs err', 'max rel err', 'result']];
  for (const c of cases) {
    let row: string[];
    try {
      const r = gradcheck(c.fn, c.inputs, c.options);
      if (r.ok) passed++;
      else failed++;
      row = [c.op, c.label, c.inputs.map((x) => fmtShape(x.shape)).join(' '), r.mode, r.maxAbsError.toExponential(2), r.maxRelError.toExponential(2), r.ok ? 'ok' : `FAIL ${r.message}`];
    } catch (e) {
      failed++;
      row = [c.op, c.label, c.inputs.map((x) => fmtShape(x.shape)).join(' '), '-', '-', '-', `ERROR ${(e as Error).message}`];
    }
    rows.push(row);
  }
  const widths = rows[0].map((_, i) => Math.min(48, Math.max(...rows.map((r) => r[i].length))));
  for (const r of rows) console.log(r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  '));
  console.log(`gradcheck: ${passed} passed, ${failed} failed`);
  if (failed > 0) process.exitCode = 1;
}

main();
