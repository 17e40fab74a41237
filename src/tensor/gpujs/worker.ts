/**
 * The gpu.js backend's worker thread. The main thread posts one request at a time on `port` and
 * blocks on `signal` (Atomics.wait); this thread runs the request, posts the reply, then stores the
 * request's sequence number in the signal and notifies, so the main thread can take the reply with
 * receiveMessageOnPort. This is how a synchronous Backend drives gpu.js's webgpu kernels, whose
 * calls and readbacks are Promises.
 *
 * Why a sequence number and not a flag: a notify that arrives late (after the main thread already
 * saw the flag and moved on to its next request) would wake the next wait before its reply exists.
 * The main thread waits until the signal holds *its* number, so a stale wake-up just waits again.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { Engine } from './engine.js';
import type { Envelope, Reply } from './protocol.js';

const { port, signal } = workerData as { port: MessagePort; signal: Int32Array };
let engine: Engine | null = null;

function answer(reply: Reply): void {
  port.postMessage(reply);
  Atomics.store(signal, 0, reply.seq);
  Atomics.notify(signal, 0);
}

port.on('message', ({ seq, req }: Envelope) => {
  void (async () => {
    try {
      if (req.kind === 'init') {
        engine = await Engine.create(req.mode);
        answer({ seq, ok: true, stats: engine.stats() });
        return;
      }
      if (engine === null) throw new Error('gpujs worker: request before init');
      const data = await engine.handle(req);
      answer(req.kind === 'stats' ? { seq, ok: true, stats: engine.stats() } : { seq, ok: true, data });
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      answer({ seq, ok: false, name: e.name, message: e.message });
    }
  })();
});
