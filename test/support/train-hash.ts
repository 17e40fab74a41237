/**
 * Run by test/threads.test.ts in a child process (with CALM_THREADS set): three training steps of a
 * small Transformer LM whose matmuls are large enough to be split over the thread pool, then prints
 * the losses and every parameter's float32 bits as one hex digest.
 */
import { createHash } from 'node:crypto';
import { AdamW } from '../../src/nn/optim.js';
import { TransformerLM } from '../../src/nn/transformer-lm.js';
import { Rng } from '../../src/tensor/random.js';

const batch = 16; // 1024 rows: the head's 1024 x 64 x 256 product reaches the pool's split
const seq = 64;
const model = new TransformerLM({ vocabSize: 256, dim: 64, nLayers: 1, nHeads: 4, ffnHidden: 176 }, { rng: new Rng(3) });
const optimizer = new AdamW(model.namedParameters(), { lr: 1e-3 });
const rng = new Rng(4);
const hash = createHash('sha256');
for (let step = 0; step < 3; step++) {
  const blocks = new Int32Array(batch * (seq + 1));
  for (let i = 0; i < blocks.length; i++) blocks[i] = rng.int(256);
  const loss = model.loss(blocks, batch);
  hash.update(String(loss.item()));
  loss.backward();
  optimizer.step();
  optimizer.zeroGrad();
}
for (const [name, p] of model.namedParameters()) {
  hash.update(name);
  const data = p.toTypedArray();
  hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}
process.stdout.write(hash.digest('hex'));
