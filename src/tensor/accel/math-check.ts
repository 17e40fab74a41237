/**
 * The WebAssembly ports of fdlibm's exp, log, sin and cos (wasm-cross-entropy.ts, wasm-normal.ts)
 * give the reference loops' numbers only because this V8's Math.exp/log/sin/cos are fdlibm too
 * (Node 20; later V8s may take sin and cos from elsewhere). Before a port is used, it is run on a
 * fixed spread of inputs and compared with Math bit for bit; on any difference the acceleration
 * stays off and the reference JavaScript runs, so results never depend on which path ran.
 */

/** `count` deterministic inputs spread over [lo, hi), with irregular spacing (a low-discrepancy walk). */
export function probeInputs(count: number, lo: number, hi: number): Float64Array {
  const xs = new Float64Array(count);
  const golden = 0.6180339887498949;
  for (let i = 0; i < count; i++) xs[i] = lo + (hi - lo) * ((i * golden + 0.1234567) % 1);
  return xs;
}

/** Whether `got[i * stride + at]` equals `f(inputs[i])` for every i (Object.is: the sign of zero counts). */
export function agreesWithMath(inputs: Float64Array, got: Float64Array, f: (x: number) => number, stride = 1, at = 0): boolean {
  for (let i = 0; i < inputs.length; i++) if (!Object.is(got[i * stride + at], f(inputs[i]))) return false;
  return true;
}
