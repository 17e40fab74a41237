/** File I/O and reporting: atomic writes, safetensors, SVG charts, progress bars and metrics logs. */
export { ensureDir, writeFileAtomic, writeJsonAtomic } from './atomic.js';
export {
  type NamedArray,
  type SafetensorsContents,
  encodeSafetensors,
  decodeSafetensors,
  saveSafetensors,
  loadSafetensors,
} from './safetensors.js';
export { type ChartSeries, type LineChartOptions, type Axis, lineChartSvg, niceAxis, escapeXml } from './svg-plot.js';
export { type ProgressStream, type ProgressBarOptions, ProgressBar, formatDuration, formatEta } from './progress.js';
export { type MetricValue, type MetricsRecord, MetricsLog, readMetrics, currentRecords } from './metrics.js';
