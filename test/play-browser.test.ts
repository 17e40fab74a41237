/**
 * The playground in a real browser: Debian's Chromium (headless, WebGL2 through SwiftShader), driven
 * over the DevTools protocol by playwright-core — no browser download. Loads the page from the play
 * server, checks the reported backend, runs every op of the op table and every gradient case on WebGL2
 * against the CPU reference, trains 50 autoencoder steps and asserts that the loss falls, generates from the shipped
 * pretrained checkpoint (play/pretrained/), and saves screenshots to test-output/play/ (or
 * $CALM_TEST_OUTPUT/play/).
 *
 * Without Chromium (or CALM_CHROMIUM) the browser cases are skipped, unless CALM_REQUIRE_BROWSER=1 (CI
 * sets it), which makes a missing browser a failure.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { allOps, checkOpsAgainstCpu, coveredOps } from '../src/play/opcheck.js';
import { cpuBackend } from '../src/tensor/device.js';
import { rewriteNodeImports, startPlayServer } from '../scripts/play-server.js';
import { checkGradientsAgainstCpu } from '../scripts/backend-gradcheck.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const outDir = path.join(process.env.CALM_TEST_OUTPUT ?? path.join(root, 'test-output'), 'play');
const chromiumPath = process.env.CALM_CHROMIUM ?? '/usr/bin/chromium';
const requireBrowser = process.env.CALM_REQUIRE_BROWSER === '1';
const noBrowser = fs.existsSync(chromiumPath) ? null : `no Chromium at ${chromiumPath} (apt-get install chromium, or set CALM_CHROMIUM)`;
const skip = requireBrowser ? false : (noBrowser ?? false);

function get(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    }).on('error', reject);
  });
}

describe('playground server and op check (Node)', () => {
  test('node: imports are rewritten to the browser shims, other imports are left alone', () => {
    const src = "import { createRequire } from 'node:module';\nimport * as fs from \"node:fs\";\nconst m = await import('node:path');\nimport { x } from './node:odd.js';";
    const out = rewriteNodeImports(src);
    assert.match(out, /from '\/play\/shims\/node-module\.js'/);
    assert.match(out, /from "\/play\/shims\/node-fs\.js"/);
    assert.match(out, /import\('\/play\/shims\/node-path\.js'\)/);
    assert.match(out, /'\.\/node:odd\.js'/);
  });

  test('the server sends COOP/COEP, serves the build with rewritten imports, and refuses ../', async () => {
    const { url, close } = await startPlayServer(0);
    try {
      const page = await get(url);
      assert.equal(page.status, 200);
      assert.equal(page.headers['cross-origin-opener-policy'], 'same-origin');
      assert.equal(page.headers['cross-origin-embedder-policy'], 'require-corp');
      const engine = await get(`${url}dist/src/tensor/gpujs/engine.js`);
      assert.equal(engine.status, 200);
      assert.doesNotMatch(engine.body, /from 'node:/);
      assert.equal((await get(`${url}dist/..%2Fpackage.json`)).status, 404);
      assert.match((await get(`${url}corpus-slice.txt`)).body, /^It is a truth universally acknowledged/);
    } finally {
      await close();
    }
  });

  test('the op check covers every op of the table and passes on the CPU backend itself', () => {
    assert.deepEqual(allOps().filter((op) => !coveredOps().has(op)), []);
    const failed = checkOpsAgainstCpu(cpuBackend()).filter((r) => !r.ok);
    assert.deepEqual(failed, []);
  });

  test('the browser gradient check passes on the CPU backend in float32', () => {
    const results = checkGradientsAgainstCpu(cpuBackend());
    assert.ok(results.length > 100, `${results.length} cases`);
    assert.deepEqual(results.filter((r) => !r.ok), []);
  });
});

describe('playground in headless Chromium (WebGL2)', { skip }, () => {
  type Browser = { newPage(): Promise<Page>; close(): Promise<void> };
  type Page = {
    goto(url: string): Promise<unknown>;
    waitForFunction(fn: string, arg: unknown, options: { timeout: number }): Promise<unknown>;
    evaluate<T>(expr: string): Promise<T>;
    screenshot(options: { path: string; fullPage: boolean }): Promise<unknown>;
    on(event: 'pageerror', fn: (e: Error) => void): void;
  };
  let browser: Browser;
  let server: { url: string; close: () => Promise<void> };
  const pageErrors: string[] = [];

  before(async () => {
    assert.equal(noBrowser, null, `${noBrowser} (required by CALM_REQUIRE_BROWSER=1)`);
    const { chromium } = (await import('playwright-core')) as unknown as { chromium: { launch(o: unknown): Promise<Browser> } };
    // SwiftShader gives WebGL2 without a GPU; --no-sandbox because CI runs as root.
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'] });
    server = await startPlayServer(0);
    fs.mkdirSync(outDir, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function open(query: string): Promise<Page> {
    const page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${server.url}?${query}`);
    await page.waitForFunction('window.playState.backend !== null || window.playState.error !== null', null, { timeout: 120_000 });
    return page;
  }

  /** Opens the page with `?backend=webgl2&<check>=1` and returns the check's per-case results (playState[check]). */
  async function webgl2Check(check: 'opcheck' | 'gradcheck', timeout: number): Promise<{ op: string; label: string; ok: boolean; detail: string }[]> {
    const page = await open(`backend=webgl2&${check}=1`);
    assert.equal(await page.evaluate('window.playState.backend'), 'gpujs-webgl2');
    await page.waitForFunction(`window.playState.${check} !== null || window.playState.error !== null`, null, { timeout });
    const results = await page.evaluate<{ op: string; label: string; ok: boolean; detail: string }[] | null>(`window.playState.${check}`);
    assert.ok(results !== null, String(await page.evaluate('window.playState.error')));
    return results;
  }

  const failures = (results: { op: string; label: string; ok: boolean; detail: string }[]): string[] => results.filter((r) => !r.ok).map((r) => `${r.op} (${r.label}): ${r.detail}`);

  test('every op on WebGL2 agrees with the CPU reference', { timeout: 300_000 }, async () => {
    const results = await webgl2Check('opcheck', 240_000);
    assert.deepEqual(allOps().filter((op) => !results.some((r) => r.op === op)), [], 'every op ran');
    assert.deepEqual(failures(results), []);
  });

  test('every gradient case on WebGL2 agrees with the CPU float64 reference', { timeout: 300_000 }, async () => {
    const results = await webgl2Check('gradcheck', 280_000);
    assert.ok(results.length > 100, `${results.length} cases`);
    assert.deepEqual(failures(results), []);
  });

  test('picks WebGL2, trains 50 autoencoder steps with a falling loss, reconstructs, screenshots', { timeout: 600_000 }, async () => {
    const page = await open('backend=auto&train=50&batch=32');
    const backend = await page.evaluate<string>('window.playState.backend');
    const adapter = await page.evaluate<string>('window.playState.adapter');
    // Headless Chromium offers navigator.gpu but no adapter, so auto falls through to WebGL2.
    assert.equal(backend, 'gpujs-webgl2', `backend ${backend} (${adapter})`);
    assert.match(adapter, /^WebGL2 /);
    assert.match(await page.evaluate<string>("document.getElementById('backend').textContent"), /gpujs-webgl2/);
    await page.waitForFunction('window.playState.done || window.playState.error !== null', null, { timeout: 540_000 });
    assert.equal(await page.evaluate('window.playState.error'), null);
    const losses = await page.evaluate<number[]>('window.playState.losses');
    assert.equal(losses.length, 50);
    assert.ok(losses.every(Number.isFinite), 'finite losses');
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(losses.slice(0, 5));
    const last = mean(losses.slice(-10));
    assert.ok(last < 0.85 * first, `loss fell from ${first.toFixed(3)} (first 5) to only ${last.toFixed(3)} (last 10)`);
    // memoryScope frees each step's temporaries: the buffers held after a step stay the same (weights + moments).
    const live = await page.evaluate<number[]>('window.playState.liveBuffers');
    assert.equal(live[49], live[9], `device buffers after steps 10 and 50: ${live[9]}, ${live[49]}`);
    await page.waitForFunction('window.playState.reconstruction !== null', null, { timeout: 60_000 });
    const rec = await page.evaluate<{ text: string; accuracy: number }>('window.playState.reconstruction');
    assert.ok(rec.accuracy >= 0 && rec.accuracy <= 1);
    const shot = path.join(outDir, 'playground-webgl2.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 10_000, 'a screenshot with content');
    console.log(`# play: ${backend} (${adapter}); loss ${first.toFixed(2)} -> ${last.toFixed(2)}; screenshot ${shot}`);
    assert.deepEqual(pageErrors, []);
  });

  test('generates from the shipped pretrained checkpoint on WebGL2, at T = 0.5 with more sampler calls than chunks', { timeout: 300_000 }, async () => {
    const page = await open('backend=webgl2&generate=1&temperature=0.5');
    await page.waitForFunction('window.playState.generated !== null || window.playState.error !== null', null, { timeout: 280_000 });
    assert.equal(await page.evaluate('window.playState.error'), null);
    const g = await page.evaluate<{ text: string; chunks: number; samplerCalls: number; temperature: number }>('window.playState.generated');
    assert.equal(g.temperature, 0.5);
    assert.ok(g.chunks >= 1 && g.text.length > 0, `generated ${JSON.stringify(g)}`);
    // At T = 1/2 the batch sampler (CALM.md §7.2) draws a pool of head samples for every chunk.
    assert.ok(g.samplerCalls > g.chunks, `sampler calls ${g.samplerCalls} for ${g.chunks} chunks`);
    await page.screenshot({ path: path.join(outDir, 'playground-generate.png'), fullPage: true });
    console.log(`# play: generated ${JSON.stringify(g.text.slice(0, 80))}… (${g.chunks} chunks, ${g.samplerCalls} sampler calls)`);
    assert.deepEqual(pageErrors, []);
  });
});
