// Browser stand-in for Node's `node:worker_threads`: imported by the CPU backend's thread pool, which the
// browser never starts (node-os.js reports one core), so constructing a Worker here is an error that says why.
export class Worker {
  constructor() {
    throw new Error('worker_threads are not available in the browser (node:worker_threads shim, play/shims/node-worker_threads.js)');
  }
}
export const workerData = undefined;
