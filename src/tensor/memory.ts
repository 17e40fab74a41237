/**
 * Memory scopes: deterministic release of device buffers without a `dispose()` per temporary.
 *
 * Why: every op returns a fresh buffer, and autograd keeps forward values alive through the graph
 * (backward closures capture them). On the CPU the garbage collector reclaims them eventually; on a
 * gpu.js backend each one is a device buffer in a worker, and the FinalizationRegistry backstop in
 * `ndarray.ts` runs whenever the collector decides, which under memory pressure on the device is
 * too late. `memoryScope` is TensorFlow.js's `tidy` for calm-ts:
 *
 *   const loss = memoryScope(() => {
 *     const l = model.forward(x).sub(y).pow(2).mean();
 *     l.backward();
 *     return l.item();            // numbers, or the arrays/tensors you want to keep
 *   });
 *
 * Design:
 * - `ndarray.ts` calls one hook (`setCreationHook`) from the NDArray constructor; while a scope is
 *   open the hook records every array created (results, views, scalar constants). Nothing else in
 *   the tensor layer knows about scopes, and with no scope open the hook is null (no cost).
 * - When `fn` returns, every recorded array is disposed except those reachable from the return
 *   value and those passed to {@link keep}. Reachable means: the value itself, or through arrays,
 *   Maps, Sets and the own enumerable properties of objects (so a returned `Tensor` keeps its
 *   `data` and `grad`, and `{ loss, grads }` keeps both). Closures are not walked: a returned graph
 *   keeps its inputs but not the values its backward closures captured, so call `backward` inside
 *   the scope and return gradients, not graphs.
 * - Disposing a view releases only that view's reference: storage shared with an array created
 *   before the scope (or returned from it) stays alive (`Storage` is reference counted).
 * - Scopes nest: arrays that survive an inner scope (returned) are handed to the enclosing scope,
 *   which disposes them unless it returns them too. `keep` exempts an array from every scope: use it
 *   for state that outlives the step, such as parameters replaced by an optimizer inside the scope.
 * - If `fn` throws, everything recorded is disposed and the error propagates.
 * - `fn` must be synchronous: an async function would let unrelated work run inside the scope.
 */
import { NDArray, setCreationHook } from './ndarray.js';
import { scopeOpened } from './scope-depth.js';

const scopes: NDArray[][] = [];
const kept = new WeakSet<NDArray>();

function record(array: NDArray): void {
  scopes[scopes.length - 1].push(array);
}

/** Exempts `array` from disposal by every open and future memory scope; returns it. */
export function keep<T extends NDArray>(array: T): T {
  kept.add(array);
  return array;
}

/** How many memory scopes are open (for tests). */
export function scopeDepth(): number {
  return scopes.length;
}

/** Every NDArray reachable from `value` through arrays, Maps, Sets and enumerable properties. */
function reachableArrays(value: unknown, found: Set<NDArray>, seen: Set<object>): void {
  if (value === null || typeof value !== 'object') return;
  if (value instanceof NDArray) {
    found.add(value);
    return;
  }
  if (seen.has(value)) return;
  seen.add(value);
  if (ArrayBuffer.isView(value)) return;
  if (value instanceof Map) {
    for (const [k, v] of value) {
      reachableArrays(k, found, seen);
      reachableArrays(v, found, seen);
    }
    return;
  }
  if (value instanceof Set || Array.isArray(value)) {
    for (const v of value) reachableArrays(v, found, seen);
    return;
  }
  for (const v of Object.values(value)) reachableArrays(v, found, seen);
}

/**
 * Runs `fn`, then disposes every NDArray created during it that is neither reachable from its
 * return value nor passed to {@link keep}. See the file header for the exact rules.
 */
export function memoryScope<T>(fn: () => T): T {
  const created: NDArray[] = [];
  scopes.push(created);
  scopeOpened(1);
  const previousHook = setCreationHook(record);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    closeScope(created, new Set(), previousHook);
    throw err;
  }
  if (result instanceof Promise) {
    closeScope(created, new Set(), previousHook);
    throw new TypeError('memoryScope: fn returned a Promise; scopes only track synchronous work');
  }
  const survivors = new Set<NDArray>();
  reachableArrays(result, survivors, new Set());
  closeScope(created, survivors, previousHook);
  return result;
}

function closeScope(
  created: NDArray[],
  survivors: ReadonlySet<NDArray>,
  previousHook: ((array: NDArray) => void) | null,
): void {
  scopes.pop();
  scopeOpened(-1);
  setCreationHook(scopes.length > 0 ? record : previousHook);
  const parent = scopes.length > 0 ? scopes[scopes.length - 1] : null;
  for (const a of created) {
    if (kept.has(a) || a.isDisposed) continue;
    if (survivors.has(a)) parent?.push(a);
    else a.dispose();
  }
}
