/**
 * How many memory scopes are open (memory.ts opens and closes them). The CPU backend reads it: heap
 * blocks (accel/heap.ts) made outside a scope may take only a small share of the heap's budget, because
 * a scope releases what it made when it closes, while outside one only the collector does, and its
 * finalisers wait for the event loop. A module of its own so that the tensor layer's backend need not
 * import memory.ts, which imports the NDArray class above it.
 */
let depth = 0;

export function openScopes(): number {
  return depth;
}

/** memory.ts: a scope opened (+1) or closed (−1). */
export function scopeOpened(delta: 1 | -1): void {
  depth += delta;
}
