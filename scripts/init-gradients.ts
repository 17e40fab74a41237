/**
 * Gradient norms per parameter group of a CALM a few steps after initialisation, under each
 * initialisation rule: `node dist/scripts/init-gradients.js [d]`. Shows why fan-in initialisation is
 * the default (calm-model.ts, calmInit): under the reference's fixed 0.02 at small d, almost
 * nothing reaches the backbone.
 */
import { pathToFileURL } from 'node:url';
import { Tensor } from '../src/autograd/tensor.js';
import { Autoencoder } from '../src/calm/autoencoder.js';
import { CalmModel, widthAwareInitStd } from '../src/calm/calm-model.js';
import type { CalmConfig } from '../src/calm/calm-model.js';
import { calmParamGroup } from '../src/calm/tasks.js';
import { AdamW, gradNormsByGroup } from '../src/nn/optim.js';
import { NDArray } from '../src/tensor/ndarray.js';
import { Rng } from '../src/tensor/random.js';

/**
 * Gradient norms by group ('input', 'backbone', 'head') of a byte-level CALM of width d after `steps`
 * AdamW steps on random printable bytes, against a random (untrained) autoencoder. At step 0 only the
 * head's zero-initialised output layer has a gradient, hence the few steps.
 */
export function gradNormsAfterInit(d: number, init: CalmConfig['init'], steps = 5): Record<string, number> {
  const ae = new Autoencoder({ vocabSize: 260, K: 4, hidden: 64, intermediate: 160, latent: 32, encoderLayers: 2, decoderLayers: 2 }, { rng: new Rng(3) });
  ae.eval();
  const data = new Rng(5);
  const ids = new Tensor(NDArray.fromData(Int32Array.from({ length: 4 * 64 }, () => 32 + data.int(90)), [4, 64], 'int32')); // [4, 16 chunks · 4]
  const config: CalmConfig = { vocabSize: 260, d, ffn: Math.round((2.7 * d) / 8) * 8, layers: 2, heads: 4, K: 4, latent: 32, headBlocks: 2, noiseDim: 16, nSamples: 4, init };
  const model = new CalmModel(config, { rng: new Rng(1) });
  const named = model.namedParameters();
  const optimizer = new AdamW(named, { lr: 1e-3, betas: [0.9, 0.95], weightDecay: 0.1 });
  const rng = new Rng(2);
  for (let step = 0; step < steps; step++) {
    optimizer.zeroGrad();
    model.loss(ids, ae, rng, 16).loss.backward();
    optimizer.step();
  }
  optimizer.zeroGrad();
  model.loss(ids, ae, rng, 16).loss.backward();
  return gradNormsByGroup(named, calmParamGroup);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const d = Number(process.argv[2] ?? 64);
  for (const init of [0.02, widthAwareInitStd(d), undefined] as const) {
    const norms = gradNormsAfterInit(d, init);
    const fmt = Object.entries(norms).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ');
    console.log(`d ${d}, init ${init === undefined ? 'fan-in (default)' : `N(0, ${init.toFixed(3)}²)`}: gradient norms ${fmt}`);
  }
}
