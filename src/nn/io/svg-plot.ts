/**
 * A dependency-free SVG line chart for training reports: loss curves (step vs loss) and BrierLM against
 * training FLOPs (log x). Points that are NaN, infinite, or non-positive on a log axis are skipped.
 */

/** One named line of `[x, y]` points. */
export type ChartSeries = { name: string; points: readonly (readonly [number, number])[] };

/** Options for {@link lineChartSvg}. */
export type LineChartOptions = {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  logX?: boolean;
  logY?: boolean;
  /** Total width in pixels (default 720). */
  width?: number;
  /** Total height in pixels (default 420). */
  height?: number;
};

/** A computed axis: its (possibly widened) domain and tick values. */
export type Axis = { lo: number; hi: number; ticks: number[]; log: boolean };

// Tableau-10: distinct hues that stay readable when printed.
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const MARGIN = { left: 72, right: 160, top: 40, bottom: 56 };

/** Renders a self-contained SVG document with axes, "nice" ticks, labels and a legend. */
export function lineChartSvg(options: LineChartOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 420;
  const logX = options.logX ?? false;
  const logY = options.logY ?? false;
  if (!(width > MARGIN.left + MARGIN.right + 10) || !(height > MARGIN.top + MARGIN.bottom + 10)) {
    throw new Error(`lineChartSvg: chart size ${width}x${height} is too small for axes and legend`);
  }
  const usable = options.series.map((s) => s.points.filter(([x, y]) => isPlottable(x, logX) && isPlottable(y, logY)));
  const xs = usable.flatMap((pts) => pts.map((p) => p[0]));
  const ys = usable.flatMap((pts) => pts.map((p) => p[1]));
  const xAxis = niceAxis(xs, logX);
  const yAxis = niceAxis(ys, logY);

  const plot = { x0: MARGIN.left, x1: width - MARGIN.right, y0: height - MARGIN.bottom, y1: MARGIN.top };
  const px = (x: number): number => plot.x0 + axisFraction(xAxis, x) * (plot.x1 - plot.x0);
  const py = (y: number): number => plot.y0 + axisFraction(yAxis, y) * (plot.y1 - plot.y0);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${fmt(width / 2)}" y="22" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`);

  // Grid lines and tick labels.
  for (const t of xAxis.ticks) {
    const x = fmt(px(t));
    out.push(`<line x1="${x}" y1="${plot.y1}" x2="${x}" y2="${plot.y0}" stroke="#e5e5e5"/>`);
    out.push(
      `<text class="tick-x" data-value="${t}" x="${x}" y="${plot.y0 + 16}" text-anchor="middle">${tickLabel(t, xAxis)}</text>`,
    );
  }
  for (const t of yAxis.ticks) {
    const y = fmt(py(t));
    out.push(`<line x1="${plot.x0}" y1="${y}" x2="${plot.x1}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(
      `<text class="tick-y" data-value="${t}" x="${plot.x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">` +
        `${tickLabel(t, yAxis)}</text>`,
    );
  }
  out.push(`<rect x="${plot.x0}" y="${plot.y1}" width="${plot.x1 - plot.x0}" height="${plot.y0 - plot.y1}" fill="none" stroke="#333"/>`);
  out.push(
    `<text x="${fmt((plot.x0 + plot.x1) / 2)}" y="${height - 14}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
  );
  const yMid = fmt((plot.y0 + plot.y1) / 2);
  out.push(`<text x="18" y="${yMid}" text-anchor="middle" transform="rotate(-90 18 ${yMid})">${escapeXml(options.yLabel)}</text>`);
  if (xs.length === 0) {
    out.push(`<text x="${fmt((plot.x0 + plot.x1) / 2)}" y="${yMid}" text-anchor="middle" fill="#888">no data</text>`);
  }

  // One polyline per series that has points; a lone point also gets a marker so it is visible.
  options.series.forEach((series, i) => {
    const pts = usable[i];
    if (pts.length === 0) return;
    const colour = seriesColour(i);
    const coords = pts.map(([x, y]) => `${fmt(px(x))},${fmt(py(y))}`).join(' ');
    out.push(
      `<polyline class="series" data-name="${escapeXml(series.name)}" fill="none" stroke="${colour}" stroke-width="1.8" ` +
        `points="${coords}"/>`,
    );
    if (pts.length === 1) out.push(`<circle cx="${fmt(px(pts[0][0]))}" cy="${fmt(py(pts[0][1]))}" r="3" fill="${colour}"/>`);
  });

  // Legend to the right of the plot; empty series are listed but marked.
  options.series.forEach((series, i) => {
    const y = plot.y1 + 10 + i * 18;
    const x = plot.x1 + 12;
    out.push(`<line x1="${x}" y1="${y}" x2="${x + 20}" y2="${y}" stroke="${seriesColour(i)}" stroke-width="2.5"/>`);
    const label = usable[i].length === 0 ? `${series.name} (no data)` : series.name;
    out.push(`<text x="${x + 26}" y="${y}" dominant-baseline="middle">${escapeXml(label)}</text>`);
  });

  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/**
 * Chooses an axis covering `values`: on a linear axis, 1/2/5 x 10^k steps with the domain widened to whole
 * steps; on a log axis, whole decades with a tick at each power of ten (thinned to at most ~8 ticks).
 */
export function niceAxis(values: readonly number[], log: boolean): Axis {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (log) {
    if (min === Infinity) return { lo: 1, hi: 10, ticks: [1, 10], log };
    let loExp = Math.floor(Math.log10(min));
    let hiExp = Math.ceil(Math.log10(max));
    if (powerOfTen(loExp) > min) loExp -= 1; // guard against log10 rounding
    if (powerOfTen(hiExp) < max) hiExp += 1;
    if (hiExp === loExp) hiExp += 1; // all values at one power of ten: show the decade above it
    const every = Math.max(1, Math.ceil((hiExp - loExp) / 8));
    hiExp = loExp + Math.ceil((hiExp - loExp) / every) * every; // end the axis on a tick
    const ticks: number[] = [];
    for (let k = loExp; k <= hiExp; k += every) ticks.push(powerOfTen(k));
    return { lo: powerOfTen(loExp), hi: powerOfTen(hiExp), ticks, log };
  }
  if (min === Infinity) return { lo: 0, hi: 1, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1], log };
  // Differences below ~1e-9 relative (or subnormal ones) cannot be labelled distinctly; widen them as if
  // the values were constant.
  const scale = Math.max(Math.abs(min), Math.abs(max));
  if (max - min <= scale * 1e-9 || max - min < 1e-290) {
    const pad = scale > 1e-290 ? scale * 0.1 : 1;
    min -= pad;
    max += pad;
  }
  const step = niceStep((max - min) / 5);
  let lo = cleanFloat(Math.floor(min / step) * step);
  if (lo > min) lo = cleanFloat(lo - step);
  const ticks: number[] = [lo];
  while (Number.isFinite(step) && ticks[ticks.length - 1] < max) ticks.push(cleanFloat(lo + ticks.length * step));
  // Near the top of the double range the nice domain can overflow; fall back to the data's own extent.
  if (!ticks.every(Number.isFinite) || ticks.length < 2) return { lo: min, hi: max, ticks: [min, max], log };
  return { lo: ticks[0], hi: ticks[ticks.length - 1], ticks, log };
}

/** Escapes the five XML special characters. */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

// Log axes take 1e-300..1e300 so that the enclosing powers of ten are themselves representable doubles.
function isPlottable(v: number, log: boolean): boolean {
  return Number.isFinite(v) && (!log || (v >= 1e-300 && v <= 1e300));
}

function axisFraction(axis: Axis, v: number): number {
  if (axis.log) return (Math.log10(v) - Math.log10(axis.lo)) / (Math.log10(axis.hi) - Math.log10(axis.lo));
  // Halved so that a domain spanning most of the double range does not overflow to Infinity.
  return (v * 0.5 - axis.lo * 0.5) / (axis.hi * 0.5 - axis.lo * 0.5);
}

function niceStep(raw: number): number {
  const magnitude = powerOfTen(Math.floor(Math.log10(raw)));
  const r = raw / magnitude;
  const mult = r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10;
  return cleanFloat(mult * magnitude);
}

// 10 ** k is exact for k >= 0 in range; for negative k, 1 / 10 ** -k gives the closest double to 1e-k.
function powerOfTen(k: number): number {
  return k >= 0 ? 10 ** k : 1 / 10 ** -k;
}

function cleanFloat(v: number): number {
  return Number(v.toPrecision(12));
}

function tickLabel(v: number, axis: Axis): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (axis.log) {
    const k = Math.round(Math.log10(v));
    return k >= -3 && k <= 4 ? String(v) : `1e${k}`;
  }
  if (abs >= 1e6 || abs < 1e-4) return v.toExponential(Math.max(0, significantDigits(v) - 1));
  return String(v);
}

function significantDigits(v: number): number {
  return v.toExponential().split('e')[0].replace('-', '').replace('.', '').length;
}

function seriesColour(i: number): string {
  if (i < PALETTE.length) return PALETTE[i];
  const hue = Math.round((i * 137.508) % 360); // golden angle keeps later hues apart
  return `hsl(${hue}, 65%, 45%)`;
}

function fmt(v: number): string {
  return String(Math.round(v * 100) / 100);
}
