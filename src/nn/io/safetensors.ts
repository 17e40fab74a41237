/**
 * The safetensors file format (https://github.com/huggingface/safetensors):
 *
 *   [8 bytes: header length N, unsigned little-endian]
 *   [N bytes: UTF-8 JSON header, space-padded so N is a multiple of 8]
 *   [data buffer: raw little-endian tensor bytes]
 *
 * The header maps each tensor name to `{ dtype, shape, data_offsets: [begin, end] }` (offsets relative to
 * the data buffer) plus an optional `"__metadata__": { string: string }`. Tensors are laid out without gaps.
 *
 * Layout choice: tensors are written sorted by name (the reference implementation sorts by dtype alignment
 * first, then name). Any order is valid to readers; sorting by name makes the bytes deterministic.
 */
import { type DType, type TypedArray, bytesPerElement, dtypeOfTyped } from '../../tensor/dtype.js';
import { readRegularFile, writeFileAtomic } from './atomic.js';

/** A tensor as plain data: its dtype, its shape and its elements in row-major order. */
export type NamedArray = { dtype: DType; shape: number[]; data: TypedArray };

/** What a safetensors file holds: named tensors and string metadata. */
export type SafetensorsContents = {
  tensors: Record<string, NamedArray>;
  metadata: Record<string, string>;
};

const METADATA_KEY = '__metadata__';
const MAX_HEADER_BYTES = 100_000_000;
const MAX_RANK = 16;
const FILE_DTYPE: Record<DType, string> = { float32: 'F32', float64: 'F64', int32: 'I32' };
const DTYPE_FROM_FILE: Record<string, DType> = { F32: 'float32', F64: 'float64', I32: 'int32' };

/** True when this machine stores numbers little-endian, so typed-array bytes can be copied as they are. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Serialises `tensors` (and optional string `metadata`) into safetensors bytes. */
export function encodeSafetensors(
  tensors: Record<string, NamedArray>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) setOwn(header, METADATA_KEY, checkedMetadata(metadata));

  let offset = 0;
  for (const name of names) {
    const { dtype, shape, data } = checkedTensor(name, tensors[name]);
    const byteLength = data.length * bytesPerElement(dtype);
    setOwn(header, name, { dtype: FILE_DTYPE[dtype], shape, data_offsets: [offset, offset + byteLength] });
    offset += byteLength;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8; // padded like the reference implementation
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);

  const dataStart = 8 + headerLength;
  for (const name of names) {
    const entry = header[name] as { data_offsets: [number, number] };
    writeLittleEndian(tensors[name].data, out, dataStart + entry.data_offsets[0], HOST_IS_LITTLE_ENDIAN);
  }
  return out;
}

/**
 * Parses safetensors bytes, validating the header against the data. `source` (a file path) is named in
 * every error. The returned arrays are fresh copies, independent of `bytes`.
 */
export function decodeSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsContents {
  const fail = (why: string): never => {
    throw new Error(`decodeSafetensors: ${source}: ${why}`);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(bytes.length - 8)) {
    fail(`header length ${declared} exceeds the ${bytes.length - 8} bytes after the length field`);
  }
  // The reference implementation's bound: a header past 100 MB is corruption, not a model.
  if (declared > BigInt(MAX_HEADER_BYTES)) fail(`header length ${declared} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  const headerLength = Number(declared);
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;

  let parsed: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart));
    parsed = JSON.parse(text);
  } catch (err) {
    fail(`header is not valid UTF-8 JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isPlainObject(parsed)) fail('header is not a JSON object');
  const header = parsed as Record<string, unknown>;

  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (!isPlainObject(raw)) fail(`"${METADATA_KEY}" is not an object`);
      for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof value !== 'string') fail(`metadata "${key}" is not a string`);
        setOwn(metadata, key, value as string);
      }
      continue;
    }
    if (!isPlainObject(raw)) fail(`tensor "${name}" entry is not an object`);
    const info = raw as Record<string, unknown>;
    const dtype =
      typeof info.dtype === 'string' && Object.hasOwn(DTYPE_FROM_FILE, info.dtype) ? DTYPE_FROM_FILE[info.dtype] : undefined;
    if (dtype === undefined) {
      fail(`tensor "${name}" has unsupported dtype ${JSON.stringify(info.dtype)} (expected F32, F64 or I32)`);
    }
    if (!isIntList(info.shape)) {
      fail(`tensor "${name}" shape ${JSON.stringify(info.shape)} is not a list of non-negative integers`);
    }
    const offsets = info.data_offsets;
    if (!isIntList(offsets) || offsets.length !== 2 || offsets[0] > offsets[1]) {
      fail(`tensor "${name}" data_offsets ${JSON.stringify(offsets)} is not [begin, end] with begin <= end`);
    }
    const shape = info.shape as number[];
    if (shape.length > MAX_RANK) fail(`tensor "${name}" has rank ${shape.length}, over the limit of ${MAX_RANK}`);
    const [begin, end] = offsets as number[];
    const expectedBytes = shape.reduce((a, b) => a * b, 1) * bytesPerElement(dtype as DType);
    if (end - begin !== expectedBytes) {
      fail(
        `tensor "${name}" data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape ` +
          `[${shape.join(', ')}] of ${info.dtype as string} needs ${expectedBytes}`,
      );
    }
    entries.push({ name, dtype: dtype as DType, shape, begin, end });
  }

  // The tensors must tile the data buffer exactly: no overlap, no gap, nothing missing, nothing left over.
  const ordered = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const entry of ordered) {
    if (entry.begin < cursor) fail(`tensor "${entry.name}" data_offsets overlap the previous tensor`);
    if (entry.begin > cursor) fail(`gap in the data buffer before tensor "${entry.name}" (${cursor}..${entry.begin})`);
    if (entry.end > dataLength) {
      fail(`tensor "${entry.name}" ends at byte ${entry.end} but the data buffer has ${dataLength} (truncated file?)`);
    }
    cursor = entry.end;
  }
  if (cursor !== dataLength) fail(`${dataLength - cursor} trailing bytes after the last tensor`);

  const tensors: Record<string, NamedArray> = {};
  for (const { name, dtype, shape, begin, end } of entries) {
    const data = readLittleEndian(dtype, bytes.subarray(dataStart + begin, dataStart + end), HOST_IS_LITTLE_ENDIAN);
    setOwn(tensors, name, { dtype, shape: [...shape], data });
  }
  return { tensors, metadata };
}

/** Writes `tensors` to `filePath` in safetensors format, atomically; returns the file's size in bytes. */
export function saveSafetensors(
  filePath: string,
  tensors: Record<string, NamedArray>,
  metadata?: Record<string, string>,
): number {
  const bytes = encodeSafetensors(tensors, metadata);
  writeFileAtomic(filePath, bytes);
  return bytes.length;
}

/** Reads and validates the safetensors file at `filePath`. */
export function loadSafetensors(filePath: string): SafetensorsContents {
  // Only a regular file is read (a FIFO or a link to /dev/zero is refused), and no more than the bound.
  return decodeSafetensors(readRegularFile(filePath, 'loadSafetensors'), filePath);
}

/**
 * Copies `data` into `out` at `offset` as little-endian bytes. On a little-endian host the bytes are copied
 * as they are; otherwise each element goes through a DataView. @internal (exported for tests of both paths)
 */
export function writeLittleEndian(data: TypedArray, out: Uint8Array, offset: number, hostIsLittle: boolean): void {
  if (hostIsLittle) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset + offset, data.byteLength);
  if (data instanceof Float32Array) for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  else if (data instanceof Float64Array) for (let i = 0; i < data.length; i++) view.setFloat64(i * 8, data[i], true);
  else for (let i = 0; i < data.length; i++) view.setInt32(i * 4, data[i], true);
}

/**
 * Reads little-endian `bytes` into a fresh typed array of `dtype`. The copy also fixes alignment: a tensor's
 * offset inside a file need not be a multiple of its element size. @internal (exported for tests)
 */
export function readLittleEndian(dtype: DType, bytes: Uint8Array, hostIsLittle: boolean): TypedArray {
  const count = bytes.length / bytesPerElement(dtype);
  if (hostIsLittle) {
    // Copy into a fresh, aligned buffer (Buffer#slice would share memory, so copy explicitly).
    const copy = new Uint8Array(bytes.length);
    copy.set(bytes);
    const buffer = copy.buffer;
    if (dtype === 'float32') return new Float32Array(buffer, 0, count);
    if (dtype === 'float64') return new Float64Array(buffer, 0, count);
    return new Int32Array(buffer, 0, count);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'float32') {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  if (dtype === 'float64') {
    const out = new Float64Array(count);
    for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
    return out;
  }
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
  return out;
}

function checkedTensor(name: string, tensor: NamedArray | undefined): NamedArray {
  const fail = (why: string): never => {
    throw new Error(`encodeSafetensors: tensor "${name}": ${why}`);
  };
  if (name === METADATA_KEY) fail(`the name "${METADATA_KEY}" is reserved for metadata`);
  if (tensor === undefined) fail('is undefined');
  const { dtype, shape, data } = tensor as NamedArray;
  if (!Object.hasOwn(FILE_DTYPE, dtype)) fail(`unsupported dtype '${String(dtype)}'`);
  if (!isIntList(shape)) fail(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  let actual: DType;
  try {
    actual = dtypeOfTyped(data);
  } catch {
    return fail(`data is not a Float32Array, Float64Array or Int32Array`);
  }
  if (actual !== dtype) fail(`dtype '${dtype}' but data is a ${data.constructor.name}`);
  const size = shape.reduce((a, b) => a * b, 1);
  if (data.length !== size) fail(`shape [${shape.join(', ')}] needs ${size} elements but data has ${data.length}`);
  return { dtype, shape: [...shape], data };
}

function checkedMetadata(metadata: Record<string, string>): Record<string, string> {
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') {
      throw new Error(`encodeSafetensors: metadata "${key}" must be a string, got ${typeof value}`);
    }
  }
  const copy: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) setOwn(copy, key, value);
  return copy;
}

// Defines an own property even for names like "__proto__", which plain assignment would treat specially.
function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIntList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((v) => Number.isSafeInteger(v) && (v as number) >= 0);
}
