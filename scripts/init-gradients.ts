/**
 * Gradient norms per parameter group at initialisation, for a CALM of the demo's size under each
 * initialisation rule: `node dist/scripts/init-gradients.js [d]`.
 */
import { Tensor } from '../src/autograd/tensor.js';
import { Autoencoder } from '../src/calm/autoencoder.js';
import { CalmModel } from '../src/calm/calm-model.js';
import type { CalmConfig } from '../src/calm/flops.js';
import { AdamW } from '../src/nn/optim.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';

const d = Number(process.argv[2] ?? 64);
const ae = new Autoencoder({ vocabSize: 260, K: 4, hidden: 128, intermediate: 352, latent: 128, encoderLayers: 2, decoderLayers: 2 }, { rng: new Rng(3) });
ae.eval();
const data = new Rng(5);
const ids = new Tensor(NDArray.fromData(Int32Array.from({ length: 8 * 64 }, () => 32 + data.int(90)), [8, 64], 'int32'));
for (const init of [0.02, 'fan-in', undefined] as const) {
  const config: CalmConfig = { vocabSize: 260, d, ffn: Math.round((2.7 * d) / 8) * 8, layers: 2, heads: 4, K: 4, latent: 128, headBlocks: 2, noiseDim: 32, nSamples: 4, init };
  const model = new CalmModel(config, { rng: new Rng(1) });
  // At step 0 the head's output layer is exactly zero, so only it gets a gradient; take a few steps first.
  const opt = new AdamW(model.namedParameters(), { lr: 1e-3, betas: [0.9, 0.95], weightDecay: 0.1 });
  const rng = new Rng(2);
  let loss = model.loss(ids, ae, rng, 32).loss;
  for (let step = 0; step < 5; step++) {
    opt.zeroGrad();
    loss.backward();
    opt.step();
    loss = model.loss(ids, ae, rng, 32).loss;
  }
  opt.zeroGrad();
  loss.backward();
  const groups: Record<string, number> = {};
  for (const [name, p] of model.namedParameters()) {
    const group = name.startsWith('head.') ? 'head' : name.startsWith('backbone.') ? 'backbone' : 'input';
    const g = p.grad?.toTypedArray() ?? new Float32Array();
    let s = 0;
    for (const v of g) s += v * v;
    groups[group] = (groups[group] ?? 0) + s;
  }
  const fmt = Object.entries(groups).map(([k, v]) => `${k} ${Math.sqrt(v).toExponential(2)}`).join(', ');
  console.log(`init ${init ?? 'width-aware'}: loss ${loss.item().toFixed(4)}; grad norms ${fmt}`);
}
