/** Whether operations record the graph for backpropagation. */

let enabled = true;

/** True when new operations record their inputs for `backward()`. */
export function isGradEnabled(): boolean {
  return enabled;
}

/** Runs `fn` without recording the graph (inference, optimiser updates, metrics). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with graph recording switched on or off, restoring the previous mode afterwards. */
export function withGradMode<T>(on: boolean, fn: () => T): T {
  const previous = enabled;
  enabled = on;
  try {
    return fn();
  } finally {
    enabled = previous;
  }
}
