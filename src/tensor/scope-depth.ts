/**
 * How many memory scopes are open (memory.ts opens and closes them). The CPU backend reads it: large
 * float32 buffers go to the kernels' heap only while a scope is open, because a scope releases what it
 * made when it closes; outside one, arrays are released only by the collector, whose finalisers run
 * between tasks, so a long synchronous loop would fill the heap with dead blocks (ordinary typed arrays
 * are reclaimed by the collector directly). A module of its own so that the backend need not import
 * memory.ts, which imports the NDArray layer above it.
 */
let depth = 0;

export function openScopes(): number {
  return depth;
}

/** memory.ts: a scope opened (+1) or closed (−1). */
export function scopeOpened(delta: 1 | -1): void {
  depth += delta;
}
