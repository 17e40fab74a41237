/**
 * CALM generation (CALM.md §5): a KV cache over chunk positions, one energy-head sample per step decoded
 * by the frozen AE decoder (argmax per position) into K tokens that are re-embedded as the next input.
 * Temperature acts on whole chunks through the sample-only algorithms of §7.
 */
import { noGrad } from '../autograd/grad-mode.js';
import { Tensor } from '../autograd/tensor.js';
import { NDArray } from '../tensor/ndarray.js';
import type { Rng } from '../tensor/random.js';
import { checkAutoencoderMatch, type Autoencoder } from './autoencoder.js';
import type { CalmModel } from './calm-model.js';
import { batchTemperatureSample, exactTemperatureSample, splitInverseTemperature } from './temperature.js';

/** Options of {@link generateCalm}. */
export interface CalmGenerateOptions {
  /** Length limit: at most this many new tokens (whole chunks are generated, the last one cut). */
  readonly maxNewTokens: number;
  readonly rng: Rng;
  /** End-of-document id: a chunk containing it ends generation (the chunk is kept, §5 step 6). */
  readonly eos: number;
  /** Padding id used to left-pad prompts to a multiple of K. */
  readonly pad: number;
  /** Chunk-level temperature in (0, 1] (default 1: one head sample per step). */
  readonly temperature?: number;
  /** 'batch' (Algorithm 2, needs 1/T integer; the default when it is) or 'exact' (Algorithm 1). */
  readonly method?: 'batch' | 'exact';
  /** Pool size of Algorithm 2 (default 64). */
  readonly poolSize?: number;
  /** Sampler-call cap of Algorithm 1 (default 20,000). */
  readonly maxCalls?: number;
  /** Reuse keys/values of earlier positions (default true); false recomputes the whole sequence each step. */
  readonly useCache?: boolean;
  /**
   * Most chunk positions the backbone attends over (default: unbounded; use the trained block length). A
   * longer prompt keeps only its last chunks; a full context restarts from its last half, so memory stays bounded.
   */
  readonly maxContextChunks?: number;
  /** Prompt chunks fed per forward pass while filling the cache (default 16). */
  readonly prefillChunks?: number;
}

/** What {@link generateCalm} produced. */
export interface CalmGenerateResult {
  /** The new tokens (prompt and its padding excluded), at most maxNewTokens. */
  readonly tokens: number[];
  /** Number of PAD ids put in front of the prompt. */
  readonly promptPadding: number;
  /** Chunks generated. */
  readonly chunks: number;
  /** Head samples spent (1 per chunk at T = 1). */
  readonly samplerCalls: number;
  /** True when a chunk contained EOS. */
  readonly stoppedAtEos: boolean;
}

/**
 * Left-pads `prompt` with PAD to a multiple of K. Deviation (CALM.md §5 step 1, §11.11): the reference
 * appends PAD after the prompt; the LM never sees PAD in training, so we keep the prompt's last chunk
 * adjacent to the continuation and put the padding in front instead.
 */
export function leftPadPrompt(prompt: readonly number[], K: number, pad: number): number[] {
  const padding = (K - (prompt.length % K)) % K;
  return [...new Array<number>(padding).fill(pad), ...prompt];
}

/** Continues `prompt` (token ids, at least one) with the CALM model and the frozen autoencoder. */
export function generateCalm(model: CalmModel, autoencoder: Autoencoder, prompt: readonly number[], options: CalmGenerateOptions): CalmGenerateResult {
  const { K, latent } = model.config;
  if (prompt.length === 0) throw new RangeError('generateCalm: the prompt must hold at least one token (e.g. BOS)');
  checkAutoencoderMatch('generateCalm', model.config, autoencoder.config);
  if (!Number.isInteger(options.maxNewTokens) || options.maxNewTokens < 0) throw new RangeError(`generateCalm: maxNewTokens must be a non-negative integer, got ${options.maxNewTokens}`);
  const temperature = options.temperature ?? 1;
  const { alpha } = splitInverseTemperature(temperature, 'generateCalm');
  const method = options.method ?? (alpha === 0 ? 'batch' : 'exact');
  if (method === 'batch' && alpha !== 0) throw new RangeError(`generateCalm: the batch sampler needs 1/T to be an integer, got T = ${temperature}; use method 'exact'`);
  const useCache = options.useCache ?? true;
  const maxContext = options.maxContextChunks ?? Infinity;
  const prefill = options.prefillChunks ?? 16;
  if (!(maxContext === Infinity || (Number.isInteger(maxContext) && maxContext >= 1))) throw new RangeError(`generateCalm: maxContextChunks must be a positive integer, got ${maxContext}`);
  if (!Number.isInteger(prefill) || prefill < 1) throw new RangeError(`generateCalm: prefillChunks must be a positive integer, got ${prefill}`);
  const { rng } = options;
  const wasTraining = model.training;
  model.eval();
  autoencoder.eval();
  try {
    return noGrad(() => {
      const padded = leftPadPrompt(prompt, K, options.pad);
      let sequence = padded.slice(-Math.min(padded.length, maxContext * K)); // whole chunks: padded is a multiple of K
      let caches = useCache ? model.backbone.newCache() : undefined;
      let pending = sequence; // ids not yet fed to the backbone
      const generated: number[] = [];
      let samplerCalls = 0;
      let chunks = 0;
      let stoppedAtEos = false;
      const maxChunks = Math.ceil(options.maxNewTokens / K);

      while (chunks < maxChunks) {
        if (sequence.length > maxContext * K) {
          // Full: restart from the last half of the context (positions from 0 again, as in training).
          sequence = sequence.slice(-Math.ceil(maxContext / 2) * K);
          if (useCache) caches = model.backbone.newCache();
          pending = sequence;
        }
        // With the cache, feed the pending ids in pieces of `prefill` chunks (bounded attention scores);
        // without it, the whole sequence at once. Keep the last chunk's h.
        const input = useCache ? pending : sequence;
        const stride = useCache ? prefill * K : input.length;
        let last: Tensor | null = null;
        for (let at = 0; at < input.length; at += stride) {
          const piece = input.slice(at, at + stride);
          const ids = new Tensor(NDArray.fromData(Int32Array.from(piece), [1, piece.length], 'int32')); // [1, T·K]
          const h = model.hidden(ids, { caches }); // [1, T, d]
          last = h.sliceAxis(1, h.shape[1] - 1).reshape([1, model.config.d]); // [1, d]   h of the last chunk
        }
        if (last === null) throw new Error('generateCalm: nothing to feed the backbone');
        const lastH = last;

        // One sampler call = one head sample decoded to K tokens by argmax (§5 steps 3-4).
        const drawChunks = (count: number): number[][] => {
          const z = model.head.sample(lastH, count, rng).reshape([count, latent]); // [count, l]
          const tokens = autoencoder.decodeTokens(z).toTypedArray(); // [count, K]
          return Array.from({ length: count }, (_, i) => Array.from(tokens.subarray(i * K, (i + 1) * K)));
        };
        const { chunk, calls } = sampleChunk(drawChunks, temperature, method, rng, options);
        samplerCalls += calls;

        chunks++;
        generated.push(...chunk);
        sequence = [...sequence, ...chunk];
        pending = chunk; // re-encoding trick: the discrete tokens are the next input (§5 step 5)
        if (chunk.includes(options.eos)) {
          stoppedAtEos = true; // §5 step 6: an EOS anywhere in the new chunk ends the sequence; the chunk is kept
          break;
        }
      }
      return { tokens: generated.slice(0, options.maxNewTokens), promptPadding: padded.length - prompt.length, chunks, samplerCalls, stoppedAtEos };
    });
  } finally {
    model.train(wasTraining);
  }
}

const chunkKey = (chunk: readonly number[]): string => chunk.join(',');

/** One chunk at `temperature` from a sampler of decoded head samples, and the sampler calls it took (CALM.md §7). */
function sampleChunk(
  drawChunks: (count: number) => number[][],
  temperature: number,
  method: 'batch' | 'exact',
  rng: Rng,
  options: CalmGenerateOptions,
): { chunk: number[]; calls: number } {
  if (temperature === 1) return { chunk: drawChunks(1)[0], calls: 1 };
  if (method === 'batch') {
    const r = batchTemperatureSample(drawChunks, temperature, rng, chunkKey, { poolSize: options.poolSize ?? 64 }); // §7.2
    return { chunk: r.value, calls: r.poolSize };
  }
  // §7.1: the exact sampler asks for one sample at a time; serve them from batches of 32 (they are
  // independent draws, so batching changes the cost, not the distribution; unused ones are not counted).
  const buffer: number[][] = [];
  const single = (): number[] => {
    if (buffer.length === 0) buffer.push(...drawChunks(32));
    return buffer.pop() as number[];
  };
  const result = exactTemperatureSample(single, temperature, rng, chunkKey, { maxCalls: options.maxCalls ?? 20_000 });
  return { chunk: result.value, calls: result.calls };
}
