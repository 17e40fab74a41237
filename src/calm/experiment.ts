/**
 * The compute-matched K ablation of CALM against the discrete Transformer baseline (CALM.md §8.3, §8.4,
 * §10.3), the parts that need no training: how many steps each model gets for the same training FLOPs,
 * the result rows, and their rendering as RESULTS.md, results.json and a BrierLM-vs-FLOPs SVG.
 * The runs themselves are driven by `runExperiment` (src/calm/runs/experiment-run.ts, `calm experiment`).
 */
import { formatDrawQuality, type DrawQuality } from './draw-quality.js';
import { lineChartSvg } from '../nn/io/svg-plot.js';
import type { BrierProtocol } from './evaluate.js';

/**
 * Steps that give a model the training FLOPs of the baseline: every model sees the same tokens per step,
 * so steps = baselineSteps · (baseline train FLOPs/token) / (model train FLOPs/token), rounded, at least
 * `minSteps`. FLOPs per token come from flops.ts (CALM.md §8.3 conventions).
 */
export function matchedSteps(baselineSteps: number, baselineTrainFlopsPerToken: number, trainFlopsPerToken: number, minSteps = 3): number {
  if (!(baselineSteps > 0) || !(baselineTrainFlopsPerToken > 0) || !(trainFlopsPerToken > 0)) {
    throw new RangeError(`matchedSteps: needs positive inputs, got ${baselineSteps}, ${baselineTrainFlopsPerToken}, ${trainFlopsPerToken}`);
  }
  return Math.max(minSteps, Math.round((baselineSteps * baselineTrainFlopsPerToken) / trainFlopsPerToken));
}

/** The step counts at which a run is paused and evaluated: `points` evenly spaced, the last = steps. */
export function evaluationSteps(steps: number, points: number): number[] {
  const out: number[] = [];
  for (let i = 1; i <= points; i++) {
    const s = Math.max(1, Math.round((i * steps) / points));
    if (out.length === 0 || s > out[out.length - 1]) out.push(s);
  }
  return out;
}

/** One point of a BrierLM-vs-training-compute curve. */
export interface CurvePoint {
  readonly step: number;
  readonly trainFlops: number;
  readonly brierLM: number;
  readonly lower: number | null;
  readonly upper: number | null;
}

/** One model of the experiment (a row of RESULTS.md and an object of results.json). */
export interface ExperimentRow {
  /** e.g. 'CALM K=4' or 'Transformer'. */
  readonly model: string;
  readonly family: 'calm' | 'transformer';
  readonly K: number;
  /** LM parameters (countParams; CALM without its autoencoder). */
  readonly params: number;
  /** Autoencoder parameters (CALM only). */
  readonly aeParams: number | null;
  readonly steps: number;
  readonly tokensPerStep: number;
  /** LM training FLOPs = steps · tokensPerStep · train FLOPs/token (flops.ts). */
  readonly trainFlops: number;
  /** The autoencoder's own training FLOPs (CALM only; not part of trainFlops). */
  readonly aeTrainFlops: number | null;
  readonly inferFlopsPerToken: number;
  readonly brierLM: number;
  readonly brierLMLower: number | null;
  readonly brierLMUpper: number | null;
  /** Mean Brier-1..4 and their standard errors. */
  readonly brier: number[];
  readonly brierStdError: number[];
  readonly protocol: BrierProtocol;
  /** Generation speed at temperature 1, batch 1, KV cache, on this machine. */
  readonly tokensPerSecond: number;
  readonly generatedTokens: number;
  /** Held-out loss from the trainer (energy loss for CALM, cross-entropy nats/token for the Transformer). */
  readonly validLoss: number | null;
  /** Autoencoder held-out token accuracy decoding μ and a posterior sample (CALM only). */
  readonly aeAccuracyMu: number | null;
  readonly aeAccuracySample: number | null;
  readonly trainSeconds: number;
  readonly curve: readonly CurvePoint[];
  readonly runDir: string;
  /** CALM only: held-out energy loss on the evaluation blocks, and the share of the chunk-unigram → chunk-bigram gap it closes. */
  readonly energyLoss?: number | null;
  readonly gapClosed?: number | null;
  /** CALM with K ≥ 4 only: decoded draws against the training chunks (draw-quality.ts). */
  readonly drawQuality?: DrawQuality | null;
}

/** A reference model scored on the same held-out blocks (count tables of training chunks, exact BrierLM). */
export interface ReferenceRow {
  readonly name: string;
  readonly brierLM: number;
  readonly lower: number | null;
  readonly upper: number | null;
  readonly brier: number[];
  readonly energyLoss: number;
  readonly note: string;
}

/** Everything RESULTS.md says about how the numbers were made. */
export interface ExperimentMeta {
  readonly command: string;
  readonly date: string;
  readonly machine: string;
  readonly wallSeconds: number;
  readonly loadAverage: { readonly start: number[]; readonly end: number[] };
  /** The tokens every model of the run reads and is scored on, in words ("byte (V = 260)", ...). */
  readonly tokenizer?: string;
  readonly setup: string[];
}

/** The BrierLM-vs-training-FLOPs chart: one curve per model (log x). */
export function brierVsFlopsSvg(rows: readonly ExperimentRow[], references: readonly ReferenceRow[] = []): string {
  const xs = rows.flatMap((r) => r.curve.map((p) => p.trainFlops));
  const span: [number, number] = xs.length === 0 ? [1, 10] : [Math.min(...xs), Math.max(...xs)];
  return lineChartSvg({
    title: 'BrierLM vs training compute (held-out split)',
    xLabel: 'LM training FLOPs (log scale)',
    yLabel: 'BrierLM (x100)',
    logX: true,
    series: [
      ...rows.map((r) => ({ name: r.model, points: r.curve.map((p) => [p.trainFlops, p.brierLM] as const) })),
      // Reference levels: flat lines across the plotted compute range.
      ...references.map((ref) => ({ name: `${ref.name} (reference)`, points: span.map((x) => [x, ref.brierLM] as const) })),
    ],
  });
}

const sci = (x: number): string => x.toExponential(2);
const fixed = (x: number | null, digits: number): string => (x === null || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits));
const interval = (r: { brierLM: number; lower: number | null; upper: number | null }): string =>
  r.lower === null || r.upper === null ? `${fixed(r.brierLM, 2)} (CI n/a)` : `${fixed(r.brierLM, 2)} [${fixed(r.lower, 2)}, ${fixed(r.upper, 2)}]`;

/** Plain sentences comparing each CALM with the baseline, derived from the numbers only. */
export function findings(rows: readonly ExperimentRow[]): string[] {
  const base = rows.find((r) => r.family === 'transformer');
  const out: string[] = [];
  if (base === undefined) return ['No baseline in this run.'];
  const best = [...rows].sort((a, b) => b.brierLM - a.brierLM)[0];
  out.push(`Best BrierLM: ${best.model} at ${fixed(best.brierLM, 2)}.`);
  for (const r of rows) {
    if (r.family !== 'calm') continue;
    const overlap =
      r.brierLMLower !== null && r.brierLMUpper !== null && base.brierLMLower !== null && base.brierLMUpper !== null
        ? r.brierLMUpper >= base.brierLMLower && base.brierLMUpper >= r.brierLMLower
        : null;
    const verdict =
      overlap === true
        ? 'the 95% intervals overlap, so this run does not separate them'
        : r.brierLM < base.brierLM
          ? 'trails the baseline'
          : 'is ahead of the baseline';
    const speed = base.tokensPerSecond > 0 ? ` Generation: ${fixed(r.tokensPerSecond, 0)} tokens/s vs ${fixed(base.tokensPerSecond, 0)} (x${fixed(r.tokensPerSecond / base.tokensPerSecond, 2)}).` : '';
    out.push(
      `${r.model}: BrierLM ${fixed(r.brierLM, 2)} vs ${fixed(base.brierLM, 2)} for the baseline at ${fixed(r.trainFlops / base.trainFlops, 2)}x its training FLOPs; ${verdict}.` +
        ` Inference FLOPs/token x${fixed(r.inferFlopsPerToken / base.inferFlopsPerToken, 2)}.${speed}`,
    );
  }
  for (const r of rows) {
    if (r.aeAccuracyMu !== null && r.aeAccuracyMu < 0.99) {
      out.push(
        `${r.model}: its autoencoder reconstructs only ${fixed(100 * r.aeAccuracyMu, 1)}% of held-out tokens from mu (target >= 99.9%, CALM.md §10.2); ` +
          'AE errors cap every downstream metric, so this CALM number says more about the undertrained AE than about CALM. Train the AEs longer (--ae-steps, --budget) first.',
      );
    }
    if (r.brier.some((b) => b === -1)) {
      out.push(`${r.model}: some Brier-n equals -1 exactly: the two decoded samples always agree and are always wrong, i.e. the decoded chunks have collapsed to one output (the head's samples, or the AE decoder mapping all of them to the same tokens).`);
    }
  }
  return out;
}

/** RESULTS.md: command, machine, setup, the table, curves, protocol and findings. */
export function resultsMarkdown(rows: readonly ExperimentRow[], meta: ExperimentMeta, notes: readonly string[], references: readonly ReferenceRow[] = []): string {
  const lines: string[] = [];
  lines.push('# CALM vs Transformer at matched training compute (small CPU run)', '');
  lines.push('Produced by `calm experiment`; every number below comes from this run.', '');
  lines.push('```', meta.command, '```', '');
  lines.push(`- date: ${meta.date}`);
  lines.push(`- machine: ${meta.machine}`);
  if (meta.tokenizer !== undefined) lines.push(`- tokenizer: ${meta.tokenizer}`);
  lines.push(`- wall time: ${(meta.wallSeconds / 60).toFixed(1)} min; load average (1 min) at start ${meta.loadAverage.start[0].toFixed(2)}, at end ${meta.loadAverage.end[0].toFixed(2)} (other jobs may have shared the CPUs; speeds are indicative)`);
  lines.push('', '## Setup', '', ...meta.setup.map((s) => `- ${s}`), '');
  lines.push('## Results (held-out split)', '');
  lines.push('| model | K | params (LM) | params (AE) | steps | LM train FLOPs | AE train FLOPs | inference FLOPs/token | BrierLM [95% CI] | Brier-1 | Brier-2 | Brier-3 | Brier-4 | generation tokens/s | AE acc. (mu / sample) |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const ae = r.aeAccuracyMu === null ? '-' : `${fixed(100 * r.aeAccuracyMu, 2)}% / ${fixed(100 * (r.aeAccuracySample ?? NaN), 2)}%`;
    lines.push(
      `| ${r.model} | ${r.K} | ${r.params.toLocaleString('en')} | ${r.aeParams === null ? '-' : r.aeParams.toLocaleString('en')} | ${r.steps} | ${sci(r.trainFlops)} | ${r.aeTrainFlops === null ? '-' : sci(r.aeTrainFlops)} | ${sci(r.inferFlopsPerToken)} | ` +
        `${interval({ brierLM: r.brierLM, lower: r.brierLMLower, upper: r.brierLMUpper })} | ${r.brier.map((b, i) => `${fixed(b, 4)} ± ${fixed(r.brierStdError[i], 4)}`).join(' | ')} | ${fixed(r.tokensPerSecond, 0)} | ${ae} |`,
    );
  }
  if (references.length > 0) {
    lines.push('', '### Reference levels (same held-out blocks)', '');
    lines.push('| reference | BrierLM [95% CI] | Brier-1 | Brier-2 | Brier-3 | Brier-4 | energy loss |', '|---|---|---|---|---|---|---|');
    for (const ref of references) lines.push(`| ${ref.name} | ${interval(ref)} | ${ref.brier.map((b) => fixed(b, 4)).join(' | ')} | ${fixed(ref.energyLoss, 3)} |`);
    lines.push('', references[0].note);
    const gaps = rows.filter((r) => r.gapClosed !== undefined && r.gapClosed !== null);
    if (gaps.length > 0) {
      lines.push('', '| model | held-out energy loss | gap closed (chunk-unigram → chunk-bigram) |', '|---|---|---|');
      for (const r of gaps) {
        const gap = 100 * (r.gapClosed ?? NaN);
        lines.push(`| ${r.model} | ${fixed(r.energyLoss ?? null, 3)} | ${Number.isFinite(gap) ? `${fixed(gap, 1)} %` : 'n/a (the bigram table does not beat the unigram table)'} |`);
      }
    }
    for (const r of rows) if (r.drawQuality !== undefined && r.drawQuality !== null) lines.push('', `${r.model}, ${formatDrawQuality(r.drawQuality)}.`);
  }
  lines.push('', '![BrierLM vs training FLOPs](brierlm-vs-flops.svg)', '');
  lines.push('## Curves (BrierLM at evaluation checkpoints)', '');
  lines.push('| model | step | LM train FLOPs | BrierLM [95% CI] |', '|---|---|---|---|');
  for (const r of rows) for (const p of r.curve) lines.push(`| ${r.model} | ${p.step} | ${sci(p.trainFlops)} | ${interval(p)} |`);
  lines.push('', '## Evaluation protocol', '');
  for (const r of rows) {
    const p = r.protocol;
    lines.push(`- ${r.model}: ${p.estimator}; ${p.blocks} blocks x ${p.blockSize} tokens of the ${p.split} split; ${p.positions} ${p.positionUnit} positions (${p.positionsPerBlock} per block); ${p.samplesPerPosition} samples per position; temperature ${p.temperature}; seed ${p.seed}. ${p.samplingNote}.`);
  }
  lines.push('', '## What this run shows', '', ...findings(rows).map((s) => `- ${s}`), ...notes.map((s) => `- ${s}`), '');
  return `${lines.join('\n')}\n`;
}
