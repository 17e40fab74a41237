// The playground page: UI only. calm-ts runs in the compute worker (dist/src/play/worker.js), so the page
// never freezes; this file sends it messages and draws what comes back. `window.playState` exposes the
// same numbers to the browser test (test/play-browser.test.ts).
// URL options: ?backend=auto|webgpu|webgl2|cpu  &train=N (start N steps at once)  &batch=B
//              &opcheck=1 (check every op on the chosen backend against the CPU reference first)
//              &gradcheck=1 (the gradient suite's cases against the CPU float64 reference)
//              &generate=1 (load the pretrained pair and generate from the default prompt)  &temperature=T
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const state = (window.playState = { backend: null, adapter: null, tried: [], losses: [], liveBuffers: [], done: false, reconstruction: null, opcheck: null, gradcheck: null, pretrained: null, generated: null, error: null });

const worker = new Worker('/dist/src/play/worker.js', { type: 'module' });
worker.addEventListener('error', (e) => showError(`worker failed: ${e.message}`));
worker.postMessage({ kind: 'init', prefer: params.get('backend') ?? 'auto', gpuScript: '/gpu.js/gpu-browser.js' });

function showError(message) {
  state.error = message;
  $('status').textContent = `error: ${message}`;
}

worker.addEventListener('message', (event) => {
  const m = event.data;
  if (m.kind === 'backend') {
    Object.assign(state, { backend: m.name, adapter: m.adapter, tried: m.tried });
    $('backend').dataset.backend = m.name;
    $('backend').textContent = `Backend: ${m.name} — ${m.adapter}`;
    if (m.tried.length > 0) $('backend').title = `not used: ${m.tried.join('; ')}`;
    $('train').disabled = false;
    if (params.get('opcheck') === '1') worker.postMessage({ kind: 'opcheck' });
    if (params.get('gradcheck') === '1') worker.postMessage({ kind: 'gradcheck', module: '/dist/scripts/backend-gradcheck.js' });
    $('load').disabled = false;
    if (params.get('generate') === '1') loadPretrained();
    const n = Number(params.get('train'));
    if (n > 0) startTraining(n);
  } else if (m.kind === 'step') {
    state.losses.push(m.loss);
    state.liveBuffers.push(m.liveBuffers);
    $('status').dataset.step = String(m.step);
    $('status').textContent = `step ${m.step} · loss ${m.loss.toFixed(3)} · token CE ${m.ce.toFixed(3)} nats · ${m.ms.toFixed(0)} ms/step · ${m.liveBuffers} device buffers`;
    drawCurve();
    if (m.step % 25 === 0) requestReconstruction();
  } else if (m.kind === 'done') {
    state.done = true;
    $('train').disabled = false;
    $('stop').disabled = true;
    requestReconstruction();
  } else if (m.kind === 'reconstruction') {
    state.reconstruction = m;
    $('recon').dataset.accuracy = String(m.accuracy);
    $('recon').textContent = `${m.text}\n\n${(100 * m.accuracy).toFixed(1)} % of bytes right at σ = ${m.noise.toFixed(2)}`;
  } else if (m.kind === 'opcheck') {
    state.opcheck = m.results;
    const failed = m.results.filter((r) => !r.ok);
    $('opcheck').textContent = `${m.results.length - failed.length} of ${m.results.length} op checks agree with the CPU reference on ${m.backend}` +
      failed.map((r) => `\nFAIL ${r.op} (${r.label}): ${r.detail}`).join('');
  } else if (m.kind === 'gradcheck') {
    state.gradcheck = m.results;
    const failed = m.results.filter((r) => !r.ok);
    $('gradcheck').textContent = `${m.results.length - failed.length} of ${m.results.length} gradient cases agree with the CPU float64 reference on ${m.backend}` +
      failed.map((r) => `\nFAIL ${r.op} (${r.label}): ${r.detail}`).join('');
  } else if (m.kind === 'pretrained') {
    state.pretrained = m;
    $('pretrained-status').textContent = `loaded: autoencoder ${m.aeParams.toLocaleString('en')} parameters (d ${m.autoencoder.hidden}, latent ${m.autoencoder.latent}), CALM ${m.calmParams.toLocaleString('en')} (d ${m.calm.d}, ${m.calm.layers} layers)`;
    $('generate').disabled = false;
    $('use-pretrained').disabled = false;
    if (params.get('generate') === '1') generate();
  } else if (m.kind === 'generated') {
    state.generated = m;
    $('generated').dataset.samplerCalls = String(m.samplerCalls);
    $('generated').textContent = `${m.prompt}${m.text}\n\n${m.chunks} chunks, ${m.samplerCalls} sampler calls at T = ${m.temperature.toFixed(2)}${m.stoppedAtEos ? ', stopped at EOS' : ''}, ${(m.ms / 1000).toFixed(1)} s`;
    $('generate').disabled = false;
  } else if (m.kind === 'error') {
    showError(m.message);
  }
});

function startTraining(steps) {
  state.done = false;
  $('train').disabled = true;
  $('stop').disabled = false;
  fetch('/corpus-slice.txt')
    .then((r) => r.text())
    .then((corpus) => worker.postMessage({ kind: 'train', corpus, steps, batch: Number(params.get('batch') ?? $('batch').value), lr: Number($('lr').value), seed: 1 }))
    .catch((e) => showError(`corpus: ${e.message}`));
}

function requestReconstruction() {
  const noise = Number($('noise').value);
  $('noise-value').textContent = noise.toFixed(2);
  worker.postMessage({ kind: 'reconstruct', text: $('sentence').value, noise, seed: 7, model: $('use-pretrained').checked ? 'pretrained' : 'live' });
}

function loadPretrained() {
  $('load').disabled = true;
  $('pretrained-status').textContent = 'loading…';
  worker.postMessage({ kind: 'load-pretrained', base: '/play/pretrained/' });
}

function generate() {
  $('generate').disabled = true;
  $('generated').textContent = 'generating…';
  worker.postMessage({ kind: 'generate', prompt: $('prompt').value, temperature: Number($('temperature').value), maxTokens: Number($('max-tokens').value), seed: Date.now() % 100000 });
}

/** Loss per step on a log scale, so the fast early fall and the slow tail both show. */
function drawCurve() {
  const canvas = $('curve');
  const g = canvas.getContext('2d');
  const { width: w, height: h } = canvas;
  const pad = 36;
  g.clearRect(0, 0, w, h);
  const ys = state.losses.filter((v) => Number.isFinite(v) && v > 0).map(Math.log10);
  if (ys.length < 2) return;
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  const span = Math.max(hi - lo, 1e-6);
  g.strokeStyle = '#999';
  g.strokeRect(pad, 8, w - pad - 8, h - pad - 8);
  g.fillStyle = '#555';
  g.font = '11px sans-serif';
  g.fillText(`${10 ** hi < 100 ? (10 ** hi).toFixed(2) : (10 ** hi).toFixed(0)}`, 2, 16);
  g.fillText(`${(10 ** lo).toFixed(2)}`, 2, h - pad);
  g.fillText(`step ${ys.length}`, w - 60, h - 10);
  g.fillText('loss (log scale)', pad + 6, h - 10);
  g.strokeStyle = '#c0392b';
  g.beginPath();
  ys.forEach((y, i) => {
    const x = pad + ((w - pad - 8) * i) / (ys.length - 1);
    const yy = 8 + (h - pad - 8) * (1 - (y - lo) / span);
    if (i === 0) g.moveTo(x, yy);
    else g.lineTo(x, yy);
  });
  g.stroke();
}

$('train').disabled = true;
$('train').addEventListener('click', () => startTraining(Number($('steps').value)));
$('stop').addEventListener('click', () => worker.postMessage({ kind: 'stop' }));
$('noise').addEventListener('input', requestReconstruction);
$('sentence').addEventListener('change', requestReconstruction);
$('use-pretrained').addEventListener('change', requestReconstruction);
$('load').disabled = true;
if (params.get('temperature') !== null) $('temperature').value = params.get('temperature');
$('temperature-value').textContent = Number($('temperature').value).toFixed(2);
$('load').addEventListener('click', loadPretrained);
$('generate').addEventListener('click', generate);
$('temperature').addEventListener('input', () => ($('temperature-value').textContent = Number($('temperature').value).toFixed(2)));
