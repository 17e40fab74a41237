/**
 * The gpu.js backend's worker thread. The main thread posts one request at a time on `port` and
 * blocks on `signal` (Atomics.wait); this thread runs the request, posts the reply, then flips the
 * signal so the main thread can take the reply with receiveMessageOnPort. This is how a synchronous
 * Backend drives gpu.js's webgpu kernels, whose calls and readbacks are Promises.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { Engine } from './engine.js';
import type { Reply, Request } from './protocol.js';

const { port, signal } = workerData as { port: MessagePort; signal: Int32Array };
let engine: Engine | null = null;

function answer(reply: Reply): void {
  port.postMessage(reply);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}

port.on('message', (req: Request) => {
  void (async () => {
    try {
      if (req.kind === 'init') {
        engine = await Engine.create(req.mode);
        answer({ ok: true, stats: engine.stats() });
        return;
      }
      if (engine === null) throw new Error('gpujs worker: request before init');
      const data = await engine.handle(req);
      answer(req.kind === 'stats' ? { ok: true, stats: engine.stats() } : { ok: true, data });
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      answer({ ok: false, name: e.name, message: e.message });
    }
  })();
});
