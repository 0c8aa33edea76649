/**
 * safetensors: an 8-byte little-endian header length N, N bytes of JSON header
 * { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: {...} }, then the data.
 *
 * Reading validates the header (offsets in range, no overlap, dtype × shape = byte length) and reads
 * each tensor straight from the file into the caller's buffer (f32, or f16/bf16 bits kept as stored) or through a
 * bounded scratch chunk (f16/bf16 → f32), so a model is never held twice. Writing is atomic (temp file + rename).
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { writeChunksAtomic } from "../util/atomic.ts";

export type Dtype = "F32" | "F16" | "BF16" | "F64" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";
const DTYPE_BYTES: Record<Dtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
/** dtypes we can turn into f32 */
const FLOAT_DTYPES = new Set<Dtype>(["F32", "F16", "BF16", "F64"]);

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** absolute byte offset of the data in the file */
  offset: number;
  byteLength: number;
}

export class SafetensorsError extends Error {
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}`);
    this.name = "SafetensorsError";
  }
}

const MAX_HEADER = 100 * 1024 * 1024;

/** Parse and validate a safetensors header. */
export function readSafetensorsHeader(path: string): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    throw new SafetensorsError(path, "file not found or not readable");
  }
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw new SafetensorsError(path, `truncated: ${size} bytes, a safetensors file starts with an 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > MAX_HEADER || 8 + headerLen > size) {
      throw new SafetensorsError(path, `truncated or not safetensors: header length ${headerLen} but file has ${size} bytes`);
    }
    const headerBuf = Buffer.alloc(headerLen);
    readSync(fd, headerBuf, 0, headerLen, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(headerBuf.toString("utf8"));
    } catch {
      throw new SafetensorsError(path, "header is not valid JSON (not a safetensors file?)");
    }
    const dataStart = 8 + headerLen;
    const dataLen = size - dataStart;
    const tensors = new Map<string, TensorInfo>();
    const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
    const spans: [number, number, string][] = [];
    for (const [name, raw] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const info = raw as { dtype?: string; shape?: unknown; data_offsets?: unknown };
      if (!info || typeof info.dtype !== "string" || !(info.dtype in DTYPE_BYTES)) {
        throw new SafetensorsError(path, `tensor '${name}' has unknown dtype ${JSON.stringify(info?.dtype)}`);
      }
      const dtype = info.dtype as Dtype;
      if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isInteger(d) && d >= 0)) {
        throw new SafetensorsError(path, `tensor '${name}' has an invalid shape ${JSON.stringify(info.shape)}`);
      }
      const offs = info.data_offsets;
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[1] < offs[0]) {
        throw new SafetensorsError(path, `tensor '${name}' has invalid data_offsets ${JSON.stringify(offs)}`);
      }
      const [begin, end] = offs as [number, number];
      if (end > dataLen) throw new SafetensorsError(path, `tensor '${name}' data_offsets [${begin}, ${end}] run past the end of the data (${dataLen} bytes; file truncated?)`);
      const shape = info.shape as number[];
      const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
      if (end - begin !== expected) {
        throw new SafetensorsError(path, `tensor '${name}': ${dtype} × [${shape.join(", ")}] needs ${expected} bytes but data_offsets give ${end - begin}`);
      }
      spans.push([begin, end, name]);
      tensors.set(name, { name, dtype, shape, offset: dataStart + begin, byteLength: end - begin });
    }
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) {
      if (spans[i][0] < spans[i - 1][1]) throw new SafetensorsError(path, `tensors '${spans[i - 1][2]}' and '${spans[i][2]}' overlap`);
    }
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

/** f16 bits → f32 value */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** f16 bits → f32 value, for all 65,536 bit patterns */
export const F16_TO_F32 = (() => {
  const t = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = f16ToF32(i);
  return t;
})();

const SCRATCH_BYTES = 16 * 1024 * 1024;

/**
 * Read a float tensor into `out` (length = number of elements) as f32. f32 data is read straight
 * into `out`; f16/bf16/f64 go through a 16 MiB scratch chunk.
 */
export function readTensorInto(path: string, info: TensorInfo, out: Float32Array): void {
  const n = info.shape.reduce((a, b) => a * b, 1);
  if (out.length !== n) throw new Error(`${path}: tensor '${info.name}' has ${n} elements, buffer ${out.length}`);
  if (!FLOAT_DTYPES.has(info.dtype)) throw new SafetensorsError(path, `tensor '${info.name}' is ${info.dtype}, expected a float dtype (F32, F16, BF16)`);
  if (!littleEndian()) throw new Error("big-endian hosts are not supported");
  const fd = openSync(path, "r");
  try {
    if (info.dtype === "F32") {
      readFully(fd, new Uint8Array(out.buffer, out.byteOffset, out.byteLength), info.offset, path);
      return;
    }
    const bytesPer = DTYPE_BYTES[info.dtype];
    const chunkElems = Math.floor(SCRATCH_BYTES / bytesPer);
    const scratch = Buffer.alloc(Math.min(n, chunkElems) * bytesPer);
    for (let start = 0; start < n; start += chunkElems) {
      const count = Math.min(chunkElems, n - start);
      const view = scratch.subarray(0, count * bytesPer);
      readFully(fd, view, info.offset + start * bytesPer, path);
      widenInto(info.dtype, view, out.subarray(start, start + count));
    }
  } finally {
    closeSync(fd);
  }
}

/** out = the f32 values of `bytes`, which hold out.length values of a float dtype (exact for F16, BF16). */
export function widenInto(dtype: Dtype, bytes: Uint8Array, out: Float32Array): void {
  const count = out.length;
  if (dtype === "F32") {
    new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes.subarray(0, count * 4));
  } else if (dtype === "F16") {
    const u16 = typedView(Uint16Array, bytes, count);
    for (let i = 0; i < count; i++) out[i] = F16_TO_F32[u16[i]];
  } else if (dtype === "BF16") {
    const u16 = typedView(Uint16Array, bytes, count);
    const u32 = new Uint32Array(out.buffer, out.byteOffset, count);
    for (let i = 0; i < count; i++) u32[i] = u16[i] << 16;
  } else if (dtype === "F64") {
    const f64 = typedView(Float64Array, bytes, count);
    for (let i = 0; i < count; i++) out[i] = f64[i];
  } else throw new Error(`cannot widen ${dtype} to f32`);
}

/** `count` elements of `bytes` as a typed array: a view when the bytes are aligned for it, else a copy. */
function typedView<T>(ctor: { new (buf: ArrayBufferLike, offset: number, length: number): T; BYTES_PER_ELEMENT: number }, bytes: Uint8Array, count: number): T {
  const size = ctor.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % size === 0) return new ctor(bytes.buffer, bytes.byteOffset, count);
  return new ctor(bytes.slice(0, count * size).buffer, 0, count);
}

/** Read an F16 or BF16 tensor's bits as stored into `out` (length = number of elements). */
export function readTensorBits(path: string, info: TensorInfo, out: Uint16Array): void {
  if (info.dtype !== "F16" && info.dtype !== "BF16") throw new SafetensorsError(path, `tensor '${info.name}' is ${info.dtype}, expected F16 or BF16`);
  if (out.byteLength !== info.byteLength) throw new Error(`${path}: tensor '${info.name}' has ${info.byteLength / 2} elements, buffer ${out.length}`);
  const fd = openSync(path, "r");
  try {
    readFully(fd, new Uint8Array(out.buffer, out.byteOffset, out.byteLength), info.offset, path);
  } finally {
    closeSync(fd);
  }
}

/** Read a tensor's bytes as stored into `dst` (dst.length = its byte length), without blocking the event loop. */
export async function readTensorBytesAsync(file: FileHandle, path: string, info: TensorInfo, dst: Uint8Array): Promise<void> {
  if (dst.length !== info.byteLength) throw new Error(`${path}: tensor '${info.name}' has ${info.byteLength} bytes, buffer ${dst.length}`);
  let done = 0;
  while (done < dst.length) {
    const { bytesRead } = await file.read(dst, done, Math.min(dst.length - done, 1 << 30), info.offset + done);
    if (bytesRead === 0) throw new SafetensorsError(path, "unexpected end of file (truncated)");
    done += bytesRead;
  }
}

function readFully(fd: number, dst: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < dst.length) {
    const n = readSync(fd, dst, done, Math.min(dst.length - done, 1 << 30), position + done);
    if (n === 0) throw new SafetensorsError(path, "unexpected end of file (truncated)");
    done += n;
  }
}

function littleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

/** Read one float tensor as a new Float32Array. */
export function readTensor(path: string, info: TensorInfo): Float32Array {
  const out = new Float32Array(info.shape.reduce((a, b) => a * b, 1));
  readTensorInto(path, info, out);
  return out;
}

/** Read any tensor (float, integer or bool) as f64 numbers: for small tensors such as labels. */
export function readTensorNumbers(path: string, info: TensorInfo): Float64Array {
  if (FLOAT_DTYPES.has(info.dtype)) return Float64Array.from(readTensor(path, info));
  const bytes = new Uint8Array(info.byteLength);
  const fd = openSync(path, "r");
  try {
    readFully(fd, bytes, info.offset, path);
  } finally {
    closeSync(fd);
  }
  const ab = bytes.buffer;
  switch (info.dtype) {
    case "I64": return Float64Array.from(new BigInt64Array(ab), (v) => Number(v));
    case "I32": return Float64Array.from(new Int32Array(ab));
    case "I16": return Float64Array.from(new Int16Array(ab));
    case "I8": return Float64Array.from(new Int8Array(ab));
    default: return Float64Array.from(bytes); // U8, BOOL
  }
}

/** Read every tensor of a file (small files: adapters, tests). */
export function readSafetensors(path: string): Map<string, { shape: number[]; data: Float32Array }> {
  const { tensors } = readSafetensorsHeader(path);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const info of tensors.values()) out.set(info.name, { shape: info.shape, data: readTensor(path, info) });
  return out;
}

export interface TensorToWrite {
  shape: number[];
  data: Float32Array;
  /** stored dtype (default F32) */
  dtype?: "F32" | "F16" | "BF16";
}

/** f32 → f16 bits, round to nearest even */
export function f32ToF16(x: number): number {
  const f32 = new Float32Array([x]);
  const u = new Uint32Array(f32.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** f32 → bf16 bits, round to nearest even */
export function f32ToBf16(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  if ((u & 0x7f800000) === 0x7f800000 && u & 0x7fffff) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

function encodeTensor(t: TensorToWrite): Uint8Array {
  const dtype = t.dtype ?? "F32";
  if (dtype === "F32") return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint16Array(t.data.length);
  const conv = dtype === "F16" ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < t.data.length; i++) out[i] = conv(t.data[i]);
  return new Uint8Array(out.buffer);
}

/** Write tensors as safetensors (names sorted, as the Python library does), atomically. */
export function writeSafetensors(path: string, tensors: Map<string, TensorToWrite>, metadata?: Record<string, string>): void {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new Error(`tensor '${name}': shape [${t.shape}] has ${n} elements, data ${t.data.length}`);
    const bytes = n * DTYPE_BYTES[t.dtype ?? "F32"];
    header[name] = { dtype: t.dtype ?? "F32", shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data to 8 bytes
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeChunksAtomic(path, (function* () {
    yield len;
    yield Buffer.from(json, "utf8");
    for (const name of names) yield encodeTensor(tensors.get(name)!);
  })());
}

/** Read `out.length` f32 values of an F32 tensor starting at element `start` (e.g. one layer of a stack). */
export function readF32Range(path: string, info: TensorInfo, start: number, out: Float32Array): void {
  if (info.dtype !== "F32") throw new SafetensorsError(path, `tensor '${info.name}' is ${info.dtype}; range reads need F32`);
  const n = info.byteLength / 4;
  if (start < 0 || start + out.length > n) throw new SafetensorsError(path, `range [${start}, ${start + out.length}) outside tensor '${info.name}' (${n} values)`);
  const fd = openSync(path, "r");
  try {
    readFully(fd, new Uint8Array(out.buffer, out.byteOffset, out.byteLength), info.offset + start * 4, path);
  } finally {
    closeSync(fd);
  }
}

/**
 * Write a safetensors file whose data arrives in pieces (bounded memory): `specs` fix the header (dtype default F32),
 * `pieces` must yield exactly the tensors' bytes in the order of `specs` (f32 values, or f16/bf16 bits).
 */
export function writeSafetensorsStream(
  path: string,
  specs: { name: string; shape: number[]; dtype?: "F32" | "F16" | "BF16" }[],
  pieces: Iterable<Float32Array | Uint16Array>,
  metadata?: Record<string, string>,
): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const s of specs) {
    const dtype = s.dtype ?? "F32";
    const bytes = s.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
    header[s.name] = { dtype, shape: s.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const total = offset;
  writeChunksAtomic(path, (function* () {
    yield len;
    yield Buffer.from(json, "utf8");
    let written = 0;
    for (const p of pieces) {
      written += p.byteLength;
      yield new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
    }
    if (written !== total) throw new Error(`${path}: wrote ${written} data bytes, the header promises ${total}`);
  })());
}
