// Browser stand-in for Node's `node:os`: the CPU backend's thread pool asks how many cores to use. In the
// browser calm-ts already runs in a Web Worker and the pool's worker_threads do not exist, so it uses one.
export function availableParallelism() {
  return 1;
}
