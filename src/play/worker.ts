/**
 * The playground's compute worker (a module Web Worker started by play/app.js). calm-ts runs here,
 * never on the page's thread: the Backend calls are synchronous and, on gpu.js, sleep on Atomics.wait
 * while the nested gpu.js worker runs the kernel (src/tensor/gpujs/browser-backend.ts).
 *
 * Messages in: `init` (pick a backend), `train` (AE steps on the page's corpus slice), `stop`,
 * `reconstruct` (a sentence through the AE, with Gaussian noise of a given σ added to the latent),
 * `opcheck` (every op on the chosen backend against the CPU reference, src/play/opcheck.ts),
 * `gradcheck` (the gradient suite's cases against the CPU float64 reference; its module, which lives in
 * scripts/ beside the case list, is imported by URL),
 * `load-pretrained` (the small AE + CALM shipped in play/pretrained/), `generate` (CALM text with the
 * temperature sampler of CALM.md §7, reporting the sampler calls it spent).
 * Messages out: `backend`, `step`, `done`, `reconstruction`, `opcheck`, `pretrained`, `generated`, `error`.
 */
import { noGrad } from '../autograd/grad-mode.js';
import { Tensor } from '../autograd/tensor.js';
import { Autoencoder, defaultRegularisation, type AutoencoderConfig } from '../calm/autoencoder.js';
import { CalmModel, type CalmConfig } from '../calm/calm-model.js';
import { generateCalm } from '../calm/generate.js';
import { decodeSafetensors } from '../nn/io/safetensors.js';
import { ByteTokenizer } from '../nn/data/tokenizer.js';
import { AdamW, clipGradNorm } from '../nn/optim.js';
import type { Backend } from '../tensor/backend.js';
import { cpuBackend, getBackend, setBackend } from '../tensor/device.js';
import { checkOpsAgainstCpu } from './opcheck.js';
import { BrowserGpujsBackend, type WebWorkerLike } from '../tensor/gpujs/browser-backend.js';
import { memoryScope } from '../tensor/memory.js';
import { NDArray } from '../tensor/ndarray.js';
import { Rng } from '../tensor/random.js';

/** What this file needs of a worker's global scope (the project compiles without the DOM library). */
interface Scope {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  navigator: { gpu?: { requestAdapter(): Promise<unknown> } };
  OffscreenCanvas?: new (w: number, h: number) => { getContext(kind: string): unknown };
  crossOriginIsolated?: boolean;
}
declare const Worker: new (url: URL, options: { type: 'module' }) => WebWorkerLike;
const scope = globalThis as unknown as Scope;

type Choice = 'auto' | 'webgpu' | 'webgl2' | 'cpu';
export type PlayRequest =
  | { kind: 'init'; prefer: Choice; gpuScript: string }
  | { kind: 'train'; corpus: string; steps: number; batch: number; lr: number; seed: number }
  | { kind: 'stop' }
  | { kind: 'reconstruct'; text: string; noise: number; seed: number; model?: 'live' | 'pretrained' }
  | { kind: 'opcheck' }
  | { kind: 'gradcheck'; module: string }
  | { kind: 'load-pretrained'; base: string }
  | { kind: 'generate'; prompt: string; temperature: number; maxTokens: number; seed: number };

const tokenizer = new ByteTokenizer();
// Small enough to train in a browser tab in seconds per hundred steps, large enough to reconstruct text.
const config: AutoencoderConfig = { vocabSize: tokenizer.vocabSize, K: 4, hidden: 64, intermediate: 160, latent: 32, encoderLayers: 2, decoderLayers: 2 };
const reg = defaultRegularisation(tokenizer.mask);
let model: Autoencoder | null = null;
let optimizer: AdamW | null = null;
let stopRequested = false;
let step = 0;

/** Tries WebGPU, then WebGL2 (each in a nested gpu.js worker), then calm-ts's CPU backend; reports what failed. */
async function pickBackend(prefer: Choice, gpuScript: string): Promise<{ name: string; adapter: string; tried: string[] }> {
  const tried: string[] = [];
  const order: ('webgpu' | 'webgl2')[] = prefer === 'auto' ? ['webgpu', 'webgl2'] : prefer === 'cpu' ? [] : [prefer];
  if (scope.crossOriginIsolated === false && order.length > 0) tried.push('gpu.js needs SharedArrayBuffer: the page is not cross-origin isolated');
  else {
    for (const mode of order) {
      if (mode === 'webgpu' && scope.navigator.gpu === undefined) {
        tried.push('webgpu: navigator.gpu is missing');
        continue;
      }
      try {
        const backend = await BrowserGpujsBackend.start(mode, () => new Worker(new URL('../tensor/gpujs/browser-worker.js', import.meta.url), { type: 'module' }), gpuScript);
        setBackend(backend);
        return { name: backend.name, adapter: backend.adapter, tried };
      } catch (err) {
        tried.push(err instanceof Error ? err.message : String(err));
      }
    }
  }
  setBackend(cpuBackend());
  return { name: 'cpu', adapter: 'calm-ts CPU reference backend (JavaScript)', tried };
}

/** AE training chunks of the corpus slice: per paragraph BOS + bytes + EOS, PAD to a multiple of K (CALM.md §2.8). */
function chunksOf(corpus: string, K: number): Int32Array {
  const ids: number[] = [];
  for (const paragraph of corpus.split(/\n\s*\n/)) {
    const text = paragraph.replace(/\s+/g, ' ').trim();
    if (text === '') continue;
    ids.push(tokenizer.bos, ...tokenizer.encode(text), tokenizer.eos);
    while (ids.length % K !== 0) ids.push(tokenizer.pad);
  }
  return Int32Array.from(ids);
}

function ensureModel(seed: number): Autoencoder {
  if (model === null) {
    model = new Autoencoder(config, { rng: new Rng(seed) });
    optimizer = new AdamW(model.namedParameters(), { lr: 3e-3, weightDecay: 0.1 });
  }
  return model;
}

/** The shipped pretrained pair (play/pretrained/, trained with the CLI by scripts/play-pretrained.sh). */
let pretrained: { ae: Autoencoder; calm: CalmModel; blockChunks: number } | null = null;

async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Loads config.json (a calm-ts CALM run config) and the two weight files from `base`. */
async function loadPretrained(base: string): Promise<void> {
  const res = await fetch(`${base}config.json`);
  if (!res.ok) throw new Error(`${base}config.json: HTTP ${res.status}`);
  const config = (await res.json()) as { calm: CalmConfig; autoencoder: AutoencoderConfig; data: { blockChunks: number } };
  const ae = new Autoencoder(config.autoencoder, { rng: new Rng(0) }); // weights replaced below
  ae.loadStateDict(decodeSafetensors(await fetchBytes(`${base}autoencoder.safetensors`), `${base}autoencoder.safetensors`).tensors);
  const calm = new CalmModel(config.calm, { rng: new Rng(0) });
  calm.loadStateDict(decodeSafetensors(await fetchBytes(`${base}calm.safetensors`), `${base}calm.safetensors`).tensors);
  ae.eval();
  calm.eval();
  pretrained = { ae, calm, blockChunks: config.data.blockChunks };
  scope.postMessage({ kind: 'pretrained', aeParams: ae.numParameters(), calmParams: calm.numParameters(), calm: config.calm, autoencoder: config.autoencoder });
}

/** CALM generation (CALM.md §5) from the pretrained pair; temperature acts on whole chunks (§7). */
function generate(req: Extract<PlayRequest, { kind: 'generate' }>): void {
  if (pretrained === null) throw new Error('generate: load the pretrained checkpoint first');
  const { ae, calm, blockChunks } = pretrained;
  const t0 = performance.now();
  const r = memoryScope(() =>
    generateCalm(calm, ae, [tokenizer.bos, ...tokenizer.encode(req.prompt)], {
      maxNewTokens: req.maxTokens, rng: new Rng(req.seed), eos: tokenizer.eos, pad: tokenizer.pad, temperature: req.temperature, maxContextChunks: blockChunks,
    }),
  );
  const text = tokenizer.decode(r.tokens.filter((id) => id < 256)); // specials (EOS, PAD) are not text
  scope.postMessage({ kind: 'generated', prompt: req.prompt, text, chunks: r.chunks, samplerCalls: r.samplerCalls, stoppedAtEos: r.stoppedAtEos, ms: performance.now() - t0, temperature: req.temperature });
}

const yieldToMessages = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

async function train(req: Extract<PlayRequest, { kind: 'train' }>): Promise<void> {
  const ae = ensureModel(req.seed);
  const opt = optimizer!;
  const { K } = config;
  const chunks = chunksOf(req.corpus, K);
  const count = chunks.length / K;
  const rng = new Rng(req.seed + step);
  const params = ae.parameters();
  stopRequested = false;
  ae.train();
  for (let i = 0; i < req.steps && !stopRequested; i++) {
    const t0 = performance.now();
    opt.lr = req.lr;
    const batch = new Int32Array(req.batch * K);
    for (let b = 0; b < req.batch; b++) {
      const at = rng.int(count) * K;
      batch.set(chunks.subarray(at, at + K), b * K);
    }
    // Every step's temporaries are device buffers on gpu.js: free them when the step ends (GPU memory stays flat).
    const { loss, ce } = memoryScope(() => {
      const out = ae.loss(new Tensor(NDArray.fromData(batch, [req.batch, K], 'int32')), reg, rng);
      const value = out.loss.item();
      out.loss.backward();
      clipGradNorm(params, 1);
      if (Number.isFinite(value)) opt.step();
      opt.zeroGrad();
      return { loss: value, ce: out.ce };
    });
    step++;
    scope.postMessage({ kind: 'step', step, loss, ce, ms: performance.now() - t0, liveBuffers: getBackend().liveBuffers() });
    await yieldToMessages(); // lets `stop` and `reconstruct` in between steps
  }
  scope.postMessage({ kind: 'done', step });
}

/** Encodes the text chunk by chunk, adds N(0, noise²) to μ, decodes by argmax (CALM.md §2.9 robustness). */
function reconstruct(req: Extract<PlayRequest, { kind: 'reconstruct' }>): void {
  const usePretrained = req.model === 'pretrained';
  if (usePretrained && pretrained === null) throw new Error('reconstruct: load the pretrained checkpoint first');
  const ae = usePretrained ? pretrained!.ae : ensureModel(0);
  const { K } = ae.config;
  const ids = tokenizer.encode(req.text);
  while (ids.length % K !== 0 || ids.length === 0) ids.push(tokenizer.pad);
  const c = ids.length / K;
  ae.eval();
  const out = memoryScope(() =>
    noGrad(() => {
      const { mu } = ae.encode(new Tensor(NDArray.fromData(Int32Array.from(ids), [c, K], 'int32')));
      const z = req.noise > 0 ? mu.add(Tensor.randn(mu.shape, new Rng(req.seed)).mul(req.noise)) : mu;
      return Array.from(ae.decodeTokens(z).toTypedArray());
    }),
  );
  let same = 0;
  for (let i = 0; i < ids.length; i++) if (out[i] === ids[i]) same++;
  const text = tokenizer.decode(out.map((id) => (id < 256 ? id : 0x3f))); // specials shown as '?'
  scope.postMessage({ kind: 'reconstruction', text, accuracy: same / ids.length, noise: req.noise, model: usePretrained ? 'pretrained' : 'live' });
  if (!usePretrained) ae.train();
}

scope.addEventListener('message', (event) => {
  const req = event.data as PlayRequest;
  void (async () => {
    try {
      if (req.kind === 'init') scope.postMessage({ kind: 'backend', ...(await pickBackend(req.prefer, req.gpuScript)) });
      else if (req.kind === 'train') await train(req);
      else if (req.kind === 'stop') stopRequested = true;
      else if (req.kind === 'reconstruct') reconstruct(req);
      else if (req.kind === 'load-pretrained') await loadPretrained(req.base);
      else if (req.kind === 'generate') generate(req);
      else if (req.kind === 'gradcheck') {
        const { checkGradientsAgainstCpu } = (await import(req.module)) as { checkGradientsAgainstCpu: (be: Backend) => unknown[] };
        scope.postMessage({ kind: 'gradcheck', backend: getBackend().name, results: checkGradientsAgainstCpu(getBackend()) });
      } else if (req.kind === 'opcheck') scope.postMessage({ kind: 'opcheck', backend: getBackend().name, results: checkOpsAgainstCpu(getBackend()) });
    } catch (err) {
      scope.postMessage({ kind: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  })();
});
