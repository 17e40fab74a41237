import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../src/nn/io/atomic.js';
import {
  type NamedArray,
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  readLittleEndian,
  saveSafetensors,
  writeLittleEndian,
} from '../src/nn/io/safetensors.js';
import { lineChartSvg, niceAxis } from '../src/nn/io/svg-plot.js';
import { ProgressBar, type ProgressStream, formatDuration, formatEta } from '../src/nn/io/progress.js';
import { MetricsLog, type MetricsRecord, readMetrics } from '../src/nn/io/metrics.js';
import type { TypedArray } from '../src/tensor/dtype.js';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'calm-io-test-'));
process.on('exit', () => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let tmpCounter = 0;
function tmpDir(): string {
  const dir = path.join(tmpRoot, `case-${tmpCounter++}`);
  fs.mkdirSync(dir);
  return dir;
}

function bytesOf(data: TypedArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Builds a safetensors file by hand (independently of the encoder): length, padded header, data. */
function handBuiltFile(header: string, data: number[] | Uint8Array): Uint8Array {
  const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
  const out = new Uint8Array(8 + padded.length + data.length);
  let n = padded.length;
  for (let i = 0; i < 8; i++) {
    out[i] = n & 0xff;
    n = Math.floor(n / 256);
  }
  for (let i = 0; i < padded.length; i++) out[8 + i] = padded.charCodeAt(i); // ASCII only in these tests
  out.set(data, 8 + padded.length);
  return out;
}

describe('atomic writes', () => {
  test('writes, overwrites and leaves no temporary files', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'out.bin');
    writeFileAtomic(file, 'first version, longer');
    writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    assert.deepEqual([...fs.readFileSync(file)], [1, 2, 3]);
    assert.deepEqual(fs.readdirSync(dir), ['out.bin']);
  });

  test('writeJsonAtomic writes pretty JSON with a trailing newline', () => {
    const file = path.join(tmpDir(), 'config.json');
    writeJsonAtomic(file, { a: 1, b: [true] });
    assert.equal(fs.readFileSync(file, 'utf8'), '{\n  "a": 1,\n  "b": [\n    true\n  ]\n}\n');
    assert.throws(() => writeJsonAtomic(file, undefined), /writeJsonAtomic.*config\.json/);
  });

  test('errors name the path and clean up', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'missing-dir', 'x.txt');
    assert.throws(() => writeFileAtomic(file, 'x'), (err: Error) => err.message.includes(file));
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  test('ensureDir creates nested directories and is idempotent', () => {
    const nested = path.join(tmpDir(), 'a', 'b', 'c');
    ensureDir(nested);
    ensureDir(nested);
    assert.ok(fs.statSync(nested).isDirectory());
  });
});

describe('safetensors', () => {
  test('exact bytes of a one-tensor file', () => {
    const bytes = encodeSafetensors({ a: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) } });
    // Header: 54 characters, padded with 2 spaces to 56 = 0x38.
    const header = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  ';
    const expected = [
      0x38, 0, 0, 0, 0, 0, 0, 0,
      ...[...header].map((c) => c.charCodeAt(0)),
      0x00, 0x00, 0x80, 0x3f, // 1.0f = 0x3f800000, little-endian
      0x00, 0x00, 0x00, 0x40, // 2.0f = 0x40000000
    ];
    assert.equal(header.length, 56);
    assert.deepEqual([...bytes], expected);
  });

  test('exact bytes with two dtypes, sorted names and a scalar', () => {
    const bytes = encodeSafetensors({
      b: { dtype: 'int32', shape: [], data: new Int32Array([-1]) },
      a: { dtype: 'float64', shape: [1], data: new Float64Array([0.5]) },
    });
    const header =
      '{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[],"data_offsets":[8,12]}}';
    const data = [0, 0, 0, 0, 0, 0, 0xe0, 0x3f, 0xff, 0xff, 0xff, 0xff]; // 0.5 = 0x3fe0000000000000; -1
    assert.deepEqual([...bytes], [...handBuiltFile(header, data)]);
  });

  test('metadata is written first and read back', () => {
    const tensors = { w: { dtype: 'int32' as const, shape: [1], data: new Int32Array([7]) } };
    const bytes = encodeSafetensors(tensors, { format: 'calm', step: '12' });
    const header = '{"__metadata__":{"format":"calm","step":"12"},"w":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}';
    assert.deepEqual([...bytes], [...handBuiltFile(header, [7, 0, 0, 0])]);
    assert.deepEqual(decodeSafetensors(bytes).metadata, { format: 'calm', step: '12' });
  });

  test('decodes a hand-built file whose tensors are unaligned and listed out of order', () => {
    // A one-element F32 first puts the F64 at data offset 4, not a multiple of 8.
    const header =
      '{"z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F64","shape":[1,1],"data_offsets":[4,12]}}';
    const data = [0x00, 0x00, 0xc0, 0x3f, 0, 0, 0, 0, 0, 0, 0xf0, 0xbf]; // 1.5f, -1.0
    const { tensors } = decodeSafetensors(handBuiltFile(header, data));
    assert.deepEqual(tensors.z, { dtype: 'float32', shape: [1], data: new Float32Array([1.5]) });
    assert.deepEqual(tensors.a, { dtype: 'float64', shape: [1, 1], data: new Float64Array([-1]) });
  });

  const tensorArb: fc.Arbitrary<NamedArray> = fc
    .tuple(fc.constantFrom('float32' as const, 'float64' as const, 'int32' as const), fc.array(fc.nat(4), { maxLength: 3 }))
    .chain(([dtype, shape]): fc.Arbitrary<NamedArray> => {
      const size = shape.reduce((a, b) => a * b, 1);
      const len = { minLength: size, maxLength: size };
      if (dtype === 'float32') {
        return fc.array(fc.float(), len).map((v) => ({ dtype, shape, data: Float32Array.from(v) as TypedArray }));
      }
      if (dtype === 'float64') {
        return fc.array(fc.double(), len).map((v) => ({ dtype, shape, data: Float64Array.from(v) as TypedArray }));
      }
      return fc
        .array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), len)
        .map((v) => ({ dtype, shape, data: Int32Array.from(v) as TypedArray }));
    });

  test('round trip over random names, shapes, dtypes and metadata', () => {
    const nameArb = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => s !== '__metadata__');
    fc.assert(
      fc.property(
        fc.dictionary(nameArb, tensorArb, { maxKeys: 5 }),
        fc.option(fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), { nil: undefined }),
        (tensors, metadata) => {
          const bytes = encodeSafetensors(tensors, metadata);
          const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
          assert.equal(headerLength % 8, 0);
          const decoded = decodeSafetensors(bytes);
          assert.deepEqual(decoded.metadata, { ...metadata }); // spread: fast-check may give a null prototype
          assert.deepEqual(Object.keys(decoded.tensors).sort(), Object.keys(tensors).sort());
          for (const [name, t] of Object.entries(tensors)) {
            const got = decoded.tensors[name];
            assert.equal(got.dtype, t.dtype);
            assert.deepEqual(got.shape, t.shape);
            assert.equal(got.data.constructor, t.data.constructor);
            // Bytes, not values: NaN payloads and -0 must survive too.
            assert.deepEqual(bytesOf(got.data), bytesOf(t.data));
          }
          // Insertion order does not change the bytes.
          const reversed = Object.fromEntries(Object.entries(tensors).reverse());
          assert.deepEqual(encodeSafetensors(reversed, metadata), bytes);
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });

  test('save and load through a file', () => {
    const file = path.join(tmpDir(), 'ckpt.safetensors');
    const w = { dtype: 'float32' as const, shape: [2, 2], data: new Float32Array([1, -2, 3.5, 0]) };
    saveSafetensors(file, { w }, { note: 'x' });
    const loaded = loadSafetensors(file);
    assert.deepEqual(loaded, { tensors: { w }, metadata: { note: 'x' } });
  });

  test('the big-endian (DataView) path agrees with the direct copy', () => {
    const arrays: TypedArray[] = [
      new Float32Array([1, -0, NaN, 3.25e-30]),
      new Float64Array([Math.PI, -Infinity]),
      new Int32Array([-7, 2 ** 31 - 1]),
    ];
    for (const data of arrays) {
      const direct = new Uint8Array(data.byteLength + 3);
      const viaView = new Uint8Array(data.byteLength + 3);
      writeLittleEndian(data, direct, 3, true);
      writeLittleEndian(data, viaView, 3, false);
      assert.deepEqual(viaView, direct);
      const dtype = data instanceof Float32Array ? 'float32' : data instanceof Float64Array ? 'float64' : 'int32';
      const slice = direct.subarray(3);
      assert.deepEqual(bytesOf(readLittleEndian(dtype, slice, false)), bytesOf(data));
      assert.deepEqual(bytesOf(readLittleEndian(dtype, slice, true)), bytesOf(data));
    }
  });

  test('encode refuses inconsistent tensors', () => {
    const cases: [Record<string, NamedArray>, RegExp][] = [
      [{ a: { dtype: 'float32', shape: [3], data: new Float32Array(2) } }, /"a".*\[3\] needs 3 elements.*has 2/],
      [{ a: { dtype: 'float64', shape: [2], data: new Float32Array(2) } }, /"a".*float64.*Float32Array/],
      [{ a: { dtype: 'int32', shape: [-1], data: new Int32Array(0) } }, /"a".*shape \[-1\]/],
      [{ __metadata__: { dtype: 'int32', shape: [0], data: new Int32Array(0) } }, /reserved/],
    ];
    for (const [tensors, message] of cases) {
      assert.throws(() => encodeSafetensors(tensors), (err: Error) => /encodeSafetensors/.test(err.message) && message.test(err.message));
    }
  });

  describe('load refuses corrupt files, naming the file', () => {
    const valid = handBuiltFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', new Uint8Array(8));
    const withLength = (n: number): Uint8Array => {
      const copy = valid.slice();
      new DataView(copy.buffer).setBigUint64(0, BigInt(n), true);
      return copy;
    };
    const f32 = (shape: string, offsets: string): string => `"dtype":"F32","shape":${shape},"data_offsets":${offsets}`;
    const cases: [string, Uint8Array, RegExp][] = [
      ['short', new Uint8Array([1, 2, 3, 4, 5]), /5 bytes, shorter than/],
      ['long-header', withLength(1000), /header length 1000 exceeds/],
      ['huge-header', withLength(2 ** 53 + 8), /header length \d+ exceeds/],
      ['not-json', handBuiltFile('{"a": nope}', []), /not valid UTF-8 JSON/],
      ['bad-utf8', handBuiltFile('{"\xff":1}', []), /not valid UTF-8 JSON/],
      ['not-object', handBuiltFile('[1,2]', []), /not a JSON object/],
      ['entry-not-object', handBuiltFile('{"a":3}', []), /"a" entry is not an object/],
      ['unknown-dtype', handBuiltFile('{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}', new Uint8Array(4)), /unsupported dtype "F16"/],
      ['proto-dtype', handBuiltFile('{"a":{"dtype":"toString","shape":[],"data_offsets":[0,4]}}', new Uint8Array(4)), /unsupported dtype/],
      ['negative-shape', handBuiltFile(`{"a":{${f32('[-2]', '[0,8]')}}}`, new Uint8Array(8)), /shape \[-2\] is not a list/],
      ['fraction-shape', handBuiltFile(`{"a":{${f32('[1.5]', '[0,6]')}}}`, new Uint8Array(6)), /shape \[1.5\] is not a list/],
      ['string-shape', handBuiltFile(`{"a":{${f32('"2"', '[0,8]')}}}`, new Uint8Array(8)), /shape "2" is not a list/],
      ['bad-offsets', handBuiltFile(`{"a":{${f32('[2]', '[8,0]')}}}`, new Uint8Array(8)), /data_offsets \[8,0\] is not/],
      ['size-mismatch', handBuiltFile(`{"a":{${f32('[2]', '[0,4]')}}}`, new Uint8Array(4)), /span 4 bytes but shape \[2\] of F32 needs 8/],
      ['overlap', handBuiltFile(`{"a":{${f32('[2]', '[0,8]')}},"b":{${f32('[2]', '[4,12]')}}}`, new Uint8Array(12)), /overlap/],
      ['gap', handBuiltFile(`{"a":{${f32('[2]', '[0,8]')}},"b":{${f32('[2]', '[12,20]')}}}`, new Uint8Array(20)), /gap in the data buffer before tensor "b"/],
      ['not-from-zero', handBuiltFile(`{"a":{${f32('[1]', '[4,8]')}}}`, new Uint8Array(8)), /gap in the data buffer before tensor "a"/],
      ['truncated', valid.subarray(0, valid.length - 4), /ends at byte 8 but the data buffer has 4/],
      ['trailing', new Uint8Array([...valid, 0, 0, 0, 0]), /4 trailing bytes/],
      ['bad-metadata', handBuiltFile('{"__metadata__":{"k":1}}', []), /metadata "k" is not a string/],
    ];
    for (const [name, bytes, reason] of cases) {
      test(name, () => {
        const file = path.join(tmpDir(), `${name}.safetensors`);
        fs.writeFileSync(file, bytes);
        assert.throws(
          () => loadSafetensors(file),
          (err: Error) => err.message.includes(file) && reason.test(err.message),
        );
      });
    }

    test('a missing file', () => {
      const file = path.join(tmpDir(), 'absent.safetensors');
      assert.throws(() => loadSafetensors(file), (err: Error) => err.message.includes(file));
    });

    test('the valid base file itself loads', () => {
      assert.deepEqual(decodeSafetensors(valid).tensors.a.data, new Float32Array(2));
    });
  });
});

describe('svg line chart', () => {
  /** Checks that tags nest properly: every opened tag is closed in order (self-closing tags allowed). */
  function assertWellFormed(svg: string): void {
    const stack: string[] = [];
    for (const match of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
      const [, closing, name, selfClosing] = match;
      if (selfClosing === '/') continue;
      if (closing === '/') assert.equal(stack.pop(), name, `mismatched </${name}>`);
      else stack.push(name);
    }
    assert.deepEqual(stack, []);
    // Outside tags, every '&' starts an entity and no raw '<' or '>' remains.
    const textOnly = svg.replace(/<[^>]*>/g, '');
    assert.doesNotMatch(textOnly, /&(?!(amp|lt|gt|quot|apos);)|[<>]/);
  }

  function polylines(svg: string): { name: string; points: [number, number][] }[] {
    return [...svg.matchAll(/<polyline[^>]*data-name="([^"]*)"[^>]*points="([^"]*)"/g)].map((m) => ({
      name: m[1],
      points: m[2].split(' ').map((p) => p.split(',').map(Number) as [number, number]),
    }));
  }

  function ticks(svg: string, axis: 'x' | 'y'): number[] {
    return [...svg.matchAll(new RegExp(`class="tick-${axis}" data-value="([^"]*)"`, 'g'))].map((m) => Number(m[1]));
  }

  test('loss curves: one polyline per non-empty series, escaped text, well-formed', () => {
    const svg = lineChartSvg({
      title: 'Loss <train> & "valid"',
      xLabel: "step's",
      yLabel: 'loss',
      series: [
        { name: 'train', points: [[0, 4], [10, 3], [20, NaN], [30, 2.5]] },
        { name: 'valid', points: [[0, 4.2], [30, 2.7]] },
        { name: 'broken', points: [[1, Infinity], [NaN, 2]] },
        { name: 'empty', points: [] },
      ],
    });
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assertWellFormed(svg);
    assert.ok(svg.includes('Loss &lt;train&gt; &amp; &quot;valid&quot;'));
    assert.ok(svg.includes('step&apos;s'));
    const lines = polylines(svg);
    assert.deepEqual(lines.map((l) => l.name), ['train', 'valid']);
    assert.equal(lines[0].points.length, 3); // the NaN point is skipped
    assert.ok(svg.includes('empty (no data)'));
    const strokes = [...svg.matchAll(/<polyline[^>]*stroke="([^"]*)"/g)].map((m) => m[1]);
    assert.notEqual(strokes[0], strokes[1]);
  });

  test('linear ticks are nice: data 0.13..0.87 gives steps of 0.2 from 0 to 1', () => {
    // Range 0.74 / 5 = 0.148, rounded up to the nice step 0.2; domain widened to whole steps.
    assert.deepEqual(niceAxis([0.13, 0.87], false).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
    // Range 950 / 5 = 190 -> step 200; floor(50 / 200) = 0, ceil(1000 / 200) = 5.
    assert.deepEqual(niceAxis([50, 1000], false).ticks, [0, 200, 400, 600, 800, 1000]);
    // Negative values: range 3 / 5 = 0.6 -> step 1.
    assert.deepEqual(niceAxis([-2.5, 0.5], false).ticks, [-3, -2, -1, 0, 1]);
  });

  test('log x axis: ticks are powers of ten covering the data', () => {
    const svg = lineChartSvg({
      title: 'BrierLM vs FLOPs',
      xLabel: 'training FLOPs',
      yLabel: 'BrierLM',
      logX: true,
      series: [{ name: 'CALM', points: [[3e15, 0.1], [2e17, 0.2], [5e18, 0.25], [-1, 0.3], [0, 0.3]] }],
    });
    assertWellFormed(svg);
    const xs = ticks(svg, 'x');
    assert.deepEqual(xs, [1e15, 1e16, 1e17, 1e18, 1e19]);
    assert.equal(polylines(svg)[0].points.length, 3); // x <= 0 cannot sit on a log axis
  });

  test('log ticks stay powers of ten over many decades', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-30, max: 1e30, noNaN: true }), fc.double({ min: 1e-30, max: 1e30, noNaN: true }), (a, b) => {
        const axis = niceAxis([a, b], true);
        for (const t of axis.ticks) {
          const k = Math.round(Math.log10(t));
          assert.ok(Math.abs(t / 10 ** k - 1) < 1e-12, `tick ${t} is not a power of ten`);
        }
        assert.ok(axis.ticks.length >= 2 && axis.ticks.length <= 10);
        assert.ok(axis.lo <= Math.min(a, b) && axis.hi >= Math.max(a, b));
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  test('coordinates map monotonically and stay inside the plot, on linear and log axes', () => {
    const width = 720;
    const height = 420;
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.double({ min: 1e-3, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 30 }),
        fc.boolean(),
        fc.boolean(),
        (values, logX, logY) => {
          const sorted = [...values].sort((a, b) => a - b);
          const points = sorted.map((v, i) => [v, sorted[sorted.length - 1 - i]] as [number, number]); // y decreasing
          const svg = lineChartSvg({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points }], logX, logY, width, height });
          const coords = polylines(svg)[0].points;
          assert.equal(coords.length, points.length);
          for (let i = 1; i < coords.length; i++) {
            assert.ok(coords[i][0] >= coords[i - 1][0], 'x should not decrease');
            assert.ok(coords[i][1] >= coords[i - 1][1], 'decreasing y should move down the screen');
          }
          for (const [x, y] of coords) assert.ok(x >= 0 && x <= width && y >= 0 && y <= height);
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });

  test('never prints NaN or Infinity, whatever the input', () => {
    const pointArb = fc.tuple(fc.double(), fc.double());
    fc.assert(
      fc.property(fc.array(fc.array(pointArb, { maxLength: 6 }), { maxLength: 4 }), fc.boolean(), fc.boolean(), (sets, logX, logY) => {
        const series = sets.map((points, i) => ({ name: `s${i}`, points }));
        const svg = lineChartSvg({ title: 't', xLabel: 'x', yLabel: 'y', series, logX, logY });
        assert.doesNotMatch(svg, /NaN|Infinity/);
        assertWellFormed(svg);
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  test('a single point, a constant series and no series at all render', () => {
    const single = lineChartSvg({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'one', points: [[5, 2]] }] });
    assert.equal(polylines(single).length, 1);
    assert.match(single, /<circle /);
    assert.doesNotMatch(single, /NaN/);
    const empty = lineChartSvg({ title: 't', xLabel: 'x', yLabel: 'y', series: [] });
    assertWellFormed(empty);
    assert.equal(polylines(empty).length, 0);
    assert.match(empty, /no data/);
  });

  test('many series get distinct colours', () => {
    const series = Array.from({ length: 14 }, (_, i) => ({ name: `s${i}`, points: [[0, i], [1, i + 1]] as [number, number][] }));
    const svg = lineChartSvg({ title: 't', xLabel: 'x', yLabel: 'y', series });
    const strokes = [...svg.matchAll(/<polyline[^>]*stroke="([^"]*)"/g)].map((m) => m[1]);
    assert.equal(new Set(strokes).size, 14);
  });
});

describe('progress', () => {
  test('formatDuration', () => {
    const cases: [number, string][] = [
      [0, '0s'],
      [59.4, '59s'],
      [59.6, '1m00s'],
      [65, '1m05s'],
      [3599.4, '59m59s'],
      [3599.6, '1h00m'],
      [7380, '2h03m'],
      [86399, '1d00h'],
      [90000, '1d01h'],
    ];
    for (const [seconds, text] of cases) assert.equal(formatDuration(seconds), text, `${seconds}s`);
    assert.throws(() => formatDuration(-1), /formatDuration.*-1/);
    assert.throws(() => formatDuration(NaN), /formatDuration.*NaN/);
  });

  test('formatEta', () => {
    assert.equal(formatEta(65), '1m05s');
    assert.equal(formatEta(NaN), '--');
    assert.equal(formatEta(Infinity), '--');
    assert.equal(formatEta(-3), '--');
  });

  function fakeStream(isTTY: boolean): ProgressStream & { chunks: string[] } {
    const chunks: string[] = [];
    return { isTTY, chunks, write: (chunk: string) => chunks.push(chunk) };
  }

  test('non-terminal output: full lines at most every interval, plus the final step', () => {
    const stream = fakeStream(false);
    let nowMs = 0;
    const bar = new ProgressBar({ total: 100, label: 'train', stream, now: () => nowMs, barWidth: 10 });
    for (let step = 1; step <= 100; step++) {
      nowMs = step * 1000; // one step per second
      bar.update(step, { loss: 2.5, 'tok/s': 1234 });
    }
    bar.done();
    // Drawn at t = 1, 11, ..., 91 s (every 10 s) and at the final step 100, then the summary.
    assert.equal(stream.chunks.length, 12);
    assert.ok(stream.chunks.every((c) => c.endsWith('\n') && !c.includes('\r')));
    assert.equal(stream.chunks[0], 'train 1/100 [----------]   1% loss=2.500 tok/s=1234 ETA --\n');
    // At step 11: 10 steps in 10 s since the first update, 89 steps left -> 89 s.
    assert.equal(stream.chunks[1], 'train 11/100 [#---------]  11% loss=2.500 tok/s=1234 ETA 1m29s\n');
    assert.equal(stream.chunks[10], 'train 100/100 [##########] 100% loss=2.500 tok/s=1234 ETA 0s\n');
    assert.equal(stream.chunks[11], 'train done in 1m40s\n');
  });

  test('done() flushes a throttled final state once', () => {
    const stream = fakeStream(false);
    let nowMs = 0;
    const bar = new ProgressBar({ total: 10, label: 'eval', stream, now: () => nowMs, intervalSeconds: 5 });
    bar.update(1);
    nowMs = 1000;
    bar.update(4);
    bar.done();
    bar.done();
    assert.equal(stream.chunks.length, 3);
    assert.match(stream.chunks[1], /^eval 4\/10 /);
    assert.throws(() => bar.update(5), /already marked done/);
  });

  test('terminal output redraws in place and erases longer previous lines', () => {
    const stream = fakeStream(true);
    let nowMs = 0;
    const bar = new ProgressBar({ total: 8, label: 't', stream, now: () => nowMs });
    bar.update(0, { note: 'a long first message' });
    nowMs = 300;
    bar.update(1, { note: 'x' });
    nowMs = 350; // within the 0.2 s throttle: not drawn
    bar.update(2, { note: 'y' });
    nowMs = 600;
    bar.update(3);
    bar.done();
    // Drawn at steps 0, 1 and 3; step 2 came 50 ms after a redraw and was throttled away.
    assert.equal(stream.chunks.length, 5);
    const redraws = stream.chunks.slice(0, 3);
    assert.ok(redraws.every((c) => c.startsWith('\r') && !c.includes('\n')));
    assert.match(redraws[0], /^\rt 0\/8 .*note=a long first message ETA --$/);
    assert.match(redraws[1], /^\rt 1\/8 .*note=x ETA 2s +$/); // 1 step in 0.3 s, 7 left -> 2.1 s
    assert.ok(redraws[1].length >= redraws[0].length, 'a shorter line is padded to erase the longer one');
    assert.match(redraws[2], /^\rt 3\/8 /);
    assert.equal(stream.chunks[3], '\n');
    assert.equal(stream.chunks[4], 't done in 1s\n');
  });

  test('invalid arguments are refused', () => {
    assert.throws(() => new ProgressBar({ total: 0, label: 'x', stream: fakeStream(false) }), /ProgressBar.*total.*0/);
    const bar = new ProgressBar({ total: 3, label: 'x', stream: fakeStream(false) });
    assert.throws(() => bar.update(-1), /ProgressBar.update.*-1/);
  });
});

describe('metrics log', () => {
  test('appends one JSON line per record and reads them back, keeping NaN and Infinity', () => {
    const file = path.join(tmpDir(), 'runs', 'deep', 'metrics.jsonl');
    const log = new MetricsLog(file);
    const records: MetricsRecord[] = [
      { step: 1, split: 'train', loss: 2.5 },
      { step: 2, split: 'train', loss: NaN, grads: [Infinity, -Infinity] },
      { step: 2, split: 'valid', brier: { lm: 0.25 } },
    ];
    for (const r of records) log.append(r);
    const text = fs.readFileSync(file, 'utf8');
    assert.equal(text.split('\n').length, 4);
    assert.ok(text.endsWith('\n'));
    assert.deepEqual(readMetrics(file), records);
    // A second log on the same file appends; truncate starts afresh.
    new MetricsLog(file).append({ step: 3 });
    assert.equal(readMetrics(file).length, 4);
    new MetricsLog(file, { truncate: true }).append({ step: 0 });
    assert.deepEqual(readMetrics(file), [{ step: 0 }]);
  });

  test('a bad line is an error naming the file and line', () => {
    const file = path.join(tmpDir(), 'bad.jsonl');
    fs.writeFileSync(file, '{"a":1}\n{"a":\n{"a":3}\n');
    assert.throws(() => readMetrics(file), (err: Error) => err.message.includes(`${file}:2`));
    fs.writeFileSync(file, '{"a":1}\n[1,2]\n');
    assert.throws(() => readMetrics(file), (err: Error) => err.message.includes(`${file}:2`) && /object/.test(err.message));
  });

  test('an incomplete last line is an error unless asked to skip it', () => {
    const file = path.join(tmpDir(), 'cut.jsonl');
    fs.writeFileSync(file, '{"a":1}\n\n{"a":2}\n{"a":');
    assert.throws(() => readMetrics(file), (err: Error) => err.message.includes(`${file}:4`));
    assert.deepEqual(readMetrics(file, { skipIncompleteLastLine: true }), [{ a: 1 }, { a: 2 }]);
  });

  test('a missing file is an error naming it', () => {
    const file = path.join(tmpDir(), 'nope.jsonl');
    assert.throws(() => readMetrics(file), (err: Error) => err.message.includes(file));
  });
});
