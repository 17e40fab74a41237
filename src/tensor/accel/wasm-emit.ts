/**
 * A minimal WebAssembly emitter: enough of the binary format (WebAssembly core spec §5 plus the SIMD proposal)
 * to write small numeric modules from TypeScript, so no toolchain is needed. Used by the matmul
 * kernel (wasm-matmul.ts) and the elementwise/reduction kernels (wasm-elementwise.ts).
 */

/** Value types. */
export const T = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b, func: 0x60, void: 0x40 } as const;
const SECTION = { type: 1, import: 2, function: 3, memory: 5, export: 7, code: 10 } as const;
const EXPORT = { func: 0x00, memory: 0x02 } as const;
/** Core opcodes used. */
export const OP = {
  block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, brIf: 0x0d, call: 0x10,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Load: 0x28, f32Load: 0x2a, f64Load: 0x2b, f32Store: 0x38, f64Store: 0x39, f64Const: 0x44,
  f64Sqrt: 0x9f, f64Sub: 0xa1, f64Mul: 0xa2, f64Div: 0xa3, f64ConvertI32U: 0xb8, f64PromoteF32: 0xbb,
  i32Const: 0x41, i32Eqz: 0x45, i32GtS: 0x4a, i32GtU: 0x4b, i32LtU: 0x49, i32GeU: 0x4f, i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c, i32And: 0x71, i32Shl: 0x74,
  f32Add: 0x92, f32Sub: 0x93, f32Mul: 0x94, f32Div: 0x95, f32Max: 0x97, f64Add: 0xa0, f32DemoteF64: 0xb6,
  select: 0x1b, simd: 0xfd, atomic: 0xfe,
} as const;
/** Atomic opcodes used (after the 0xfe prefix). */
export const ATOMIC = { i32RmwAdd: 0x1e } as const;
/** SIMD opcodes used (after the 0xfd prefix). */
export const SIMD = {
  v128Load: 0x00, load32Splat: 0x09, v128Store: 0x0b, v128Const: 0x0c, i8x16Shuffle: 0x0d,
  f32x4Splat: 0x13,
  f32x4ExtractLane: 0x1f, f64x2ExtractLane: 0x21, f32x4Lt: 0x43, f32x4Ge: 0x46, v128AndNot: 0x4f, v128Bitselect: 0x52,
  i32x4Shl: 0xab, i32x4Add: 0xae,
  f32x4Max: 0xe9, f32x4Pmax: 0xeb,
  f32x4DemoteF64x2Zero: 0x5e, f64x2PromoteLowF32x4: 0x5f,
  f32x4Abs: 0xe0, f32x4Neg: 0xe1, f32x4Sqrt: 0xe3,
  f32x4Add: 0xe4, f32x4Sub: 0xe5, f32x4Mul: 0xe6, f32x4Div: 0xe7,
  f64x2Add: 0xf0, f64x2Sub: 0xf1, f64x2Mul: 0xf2,
} as const;
/** i8x16.shuffle lanes moving the high two f32 of a vector into the low half. */
export const HIGH_HALF = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
/** i8x16.shuffle lanes joining the low halves (two f32 each) of two vectors. */
export const LOW_HALVES = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

/**
 * Pushes the float64 pair of lanes 0-1 (or, with `high`, 2-3) of the float32 vector in local `v`:
 * how the float64 kernels widen a float32 vector half by half.
 */
export function pushF64Half(c: Code, v: number, high: boolean): Code {
  c.get(v);
  if (high) c.get(v).simd(SIMD.i8x16Shuffle).op(...HIGH_HALF);
  return c.simd(SIMD.f64x2PromoteLowF32x4);
}

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (for i32.const). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

function utf8(s: string): number[] {
  return [...uleb(s.length), ...Array.from(Buffer.from(s, 'utf8'))];
}

function vector(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** Instruction builder for one function body; each method appends one instruction. */
export class Code {
  readonly bytes: number[] = [];
  get(local: number): this { return this.op(OP.localGet, ...uleb(local)); }
  set(local: number): this { return this.op(OP.localSet, ...uleb(local)); }
  tee(local: number): this { return this.op(OP.localTee, ...uleb(local)); }
  i32(value: number): this { return this.op(OP.i32Const, ...sleb(value)); }
  /** `local += delta` (delta a constant). */
  addTo(local: number, delta: number): this { return this.get(local).i32(delta).op(OP.i32Add).set(local); }
  /** f64.const. */
  f64(value: number): this { return this.op(OP.f64Const, ...Array.from(new Uint8Array(Float64Array.of(value).buffer))); }
  /** v128.const 0. */
  zero(): this { return this.simd(SIMD.v128Const).op(...new Array<number>(16).fill(0)); }
  /** v128.const with `value` in all four f32 lanes. */
  f32x4(value: number): this { return this.simd(SIMD.v128Const).op(...Array.from({ length: 4 }, () => Array.from(new Uint8Array(Float32Array.of(value).buffer))).flat()); }
  /** v128.const with `value` in both f64 lanes. */
  f64x2(value: number): this { return this.simd(SIMD.v128Const).op(...Array.from({ length: 2 }, () => Array.from(new Uint8Array(Float64Array.of(value).buffer))).flat()); }
  /** v128.const with `value` in all four i32 lanes. */
  i32x4(value: number): this { return this.simd(SIMD.v128Const).op(...Array.from({ length: 4 }, () => Array.from(new Uint8Array(Int32Array.of(value).buffer))).flat()); }
  /** SIMD instruction; memory ones take (log2 alignment, byte offset). */
  simd(code: number, ...memarg: number[]): this { return this.op(OP.simd, ...uleb(code), ...memarg.flatMap(uleb)); }
  op(...bytes: number[]): this {
    for (const b of bytes) this.bytes.push(b);
    return this;
  }
}

/** One exported function: i32 parameters, extra locals by type, and its body (without the final `end`). */
export interface WasmFunction {
  readonly name: string;
  readonly params: number;
  readonly locals: readonly (readonly [count: number, type: number])[];
  readonly code: Code;
}

/**
 * A module exporting the given functions (no results) and `memory`: its own (min 1 page, no max),
 * or, with `sharedMaxPages`, a shared memory imported as env.memory (threads share one linear
 * memory: see pool.ts).
 */
export function wasmModule(functions: readonly WasmFunction[], sharedMaxPages?: number): Uint8Array {
  const types = functions.map((f) => [T.func, ...vector(Array.from({ length: f.params }, () => [T.i32])), ...vector([])]);
  const bodies = functions.map((f) => {
    const body = [...vector(f.locals.map(([n, t]) => [...uleb(n), t])), ...f.code.bytes, OP.end];
    return [...uleb(body.length), ...body];
  });
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(SECTION.type, vector(types)),
    // limits flag 0x03: shared, with a maximum (the threads proposal requires one).
    ...(sharedMaxPages === undefined ? [] : section(SECTION.import, vector([[...utf8('env'), ...utf8('memory'), EXPORT.memory, 0x03, ...uleb(1), ...uleb(sharedMaxPages)]]))),
    ...section(SECTION.function, vector(functions.map((_, i) => uleb(i)))),
    ...(sharedMaxPages === undefined ? section(SECTION.memory, vector([[0x00, ...uleb(1)]])) : []),
    ...section(SECTION.export, vector([...functions.map((f, i) => [...utf8(f.name), EXPORT.func, ...uleb(i)]), [...utf8('memory'), EXPORT.memory, 0]])),
    ...section(SECTION.code, vector(bodies)),
  ];
  return Uint8Array.from(bytes);
}

/** The slice of the WebAssembly JS API used here (lib.dom's types are not in this project). */
export interface WasmMemory { readonly buffer: ArrayBuffer; grow(pages: number): number }
export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> };
}

export function wasmApi(): WasmApi | undefined {
  return (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
}

export const WASM_PAGE = 65536;

/**
 * Grows `memory` to hold at least `bytes`; returns whether it grew. Growing detaches the old buffer, so
 * a caller that gets true must rebuild its typed-array views.
 */
export function reserveBytes(memory: WasmMemory, bytes: number): boolean {
  const have = memory.buffer.byteLength;
  if (bytes <= have) return false;
  memory.grow(Math.ceil((bytes - have) / WASM_PAGE));
  return true;
}
