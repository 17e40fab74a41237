/**
 * The bits of a short training run, for tests that change how the engine manages memory (storage reuse,
 * the kernels' heap) and must leave every trained number alone: a digest of the losses and every
 * parameter's bits, and four memory-scoped steps of a small Transformer LM.
 */
import type { Tensor } from '../../src/autograd/tensor.js';
import { AdamW } from '../../src/nn/optim.js';
import { TransformerLM } from '../../src/nn/transformer-lm.js';
import { memoryScope } from '../../src/tensor/memory.js';
import { Rng } from '../../src/tensor/random.js';

/** Losses and parameters' bits as one string. */
export function trainingDigest(losses: readonly number[], params: Iterable<[string, Tensor]>): string {
  const parts = losses.map((l) => l.toString());
  for (const [name, p] of params) {
    const data = p.toTypedArray();
    parts.push(name, Buffer.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).toString('hex'));
  }
  return parts.join('|');
}

/** Four steps of a 1-layer d64 Transformer on random tokens (fixed seeds), each in a memory scope; their digest. */
export function transformerRunDigest(): string {
  const model = new TransformerLM({ vocabSize: 64, dim: 64, nLayers: 1, nHeads: 4, ffnHidden: 176 }, { rng: new Rng(3) });
  const optimizer = new AdamW(model.namedParameters(), { lr: 1e-3 });
  const rng = new Rng(4);
  const losses: number[] = [];
  for (let step = 0; step < 4; step++) {
    const blocks = new Int32Array(8 * 33);
    for (let i = 0; i < blocks.length; i++) blocks[i] = rng.int(64);
    losses.push(memoryScope(() => {
      const loss = model.loss(blocks, 8);
      loss.backward();
      optimizer.step();
      optimizer.zeroGrad();
      return loss.item();
    }));
  }
  return trainingDigest(losses, model.namedParameters());
}
