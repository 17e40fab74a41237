/**
 * `npm run play`: serves the browser playground (play/) on localhost, with calm-ts loaded as the ES
 * modules tsc writes to dist/ — no bundler. Two things make those modules load in a browser:
 *  - imports of `node:*` built-ins are rewritten to small shims in play/shims/ (only `node:module` is
 *    reached, by the gpu.js engine's Node-only path, which the browser never calls);
 *  - every response carries COOP/COEP, so the page is cross-origin isolated and SharedArrayBuffer,
 *    which the browser gpu.js backend blocks on, exists.
 * Nothing is fetched from the network: gpu.js's browser build comes from node_modules, the corpus
 * slice from data/austen.
 *
 *   node dist/scripts/play-server.js [--port N]      (N = 0 picks a free port)
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.md': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.safetensors': 'application/octet-stream',
};

/** URL prefixes and the folders they serve. Source and docs are served for the page's "source" links. */
const MOUNTS: readonly (readonly [string, string])[] = [
  ['/play/', 'play'],
  ['/dist/', 'dist'],
  ['/src/', 'src'],
  ['/docs/', 'docs'],
  ['/gpu.js/', 'node_modules/gpu.js/dist'],
];

/** The corpus slice the page trains on: a stretch of Pride and Prejudice (data/austen, public domain). */
function corpusSlice(): string {
  const text = gunzipSync(fs.readFileSync(path.join(ROOT, 'data', 'austen', 'prideprejudice.txt.gz'))).toString('utf8');
  const start = text.indexOf('It is a truth universally acknowledged');
  return text.slice(Math.max(0, start), Math.max(0, start) + 60_000);
}

/** Rewrites `node:x` import specifiers to /play/shims/node-x.js. */
export function rewriteNodeImports(source: string): string {
  return source.replace(/((?:from|import)\s*\(?\s*)(['"])node:([a-z_]+)\2/g, (_m, lead: string, q: string, name: string) => `${lead}${q}/play/shims/node-${name}.js${q}`);
}

function resolveFile(urlPath: string): string | null {
  if (urlPath === '/' || urlPath === '/index.html') return path.join(ROOT, 'play', 'index.html');
  if (urlPath === '/README.md') return path.join(ROOT, 'README.md');
  for (const [prefix, dir] of MOUNTS) {
    if (!urlPath.startsWith(prefix)) continue;
    const base = path.join(ROOT, dir);
    const file = path.resolve(base, `.${decodeURIComponent(urlPath.slice(prefix.length - 1))}`);
    return file.startsWith(base + path.sep) ? file : null; // no escaping the mount with ../
  }
  return null;
}

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  // Cross-origin isolation (SharedArrayBuffer) for every response, the page and its workers alike.
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  res.setHeader('Cache-Control', 'no-store');
  const urlPath = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (urlPath === '/corpus-slice.txt') {
    res.writeHead(200, { 'Content-Type': TYPES['.txt'] }).end(corpusSlice());
    return;
  }
  const file = resolveFile(urlPath);
  let body: Buffer;
  try {
    if (file === null || !fs.statSync(file).isFile()) throw new Error('not a file');
    body = fs.readFileSync(file);
  } catch {
    res.writeHead(404, { 'Content-Type': TYPES['.txt'] }).end(`not found: ${urlPath}\n`);
    return;
  }
  const ext = path.extname(file);
  const out = ext === '.js' && file.startsWith(path.join(ROOT, 'dist') + path.sep) ? rewriteNodeImports(body.toString('utf8')) : body;
  res.writeHead(200, { 'Content-Type': TYPES[ext] ?? 'application/octet-stream' }).end(out);
}

/** Starts the server on 127.0.0.1; resolves with its address and a close function. */
export function startPlayServer(port = 8737): Promise<{ url: string; close: () => Promise<void> }> {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'play', 'worker.js'))) {
    throw new Error(`play server: ${path.join(ROOT, 'dist')} has no build; run npm run build first`);
  }
  const server = http.createServer(handle);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const actual = typeof address === 'object' && address !== null ? address.port : port;
      resolve({ url: `http://127.0.0.1:${actual}/`, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

async function main(argv: string[]): Promise<void> {
  const i = argv.indexOf('--port');
  const port = i >= 0 ? Number(argv[i + 1]) : Number(process.env.PORT ?? 8737);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`play server: --port must be an integer in [0, 65535], got ${argv[i + 1]}`);
  const { url } = await startPlayServer(port);
  process.stdout.write(`calm-ts playground: ${url}  (Ctrl-C to stop)\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
