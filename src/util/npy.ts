/**
 * NumPy's `.npy` format (numpy/lib/format.py), read and written byte for byte as `np.save` writes it:
 *
 *   "\x93NUMPY" major minor   header length (uint16 LE for version 1, uint32 LE for 2 and 3)
 *   "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"   padded with spaces and '\n' to a multiple of 64
 *   the data, C order
 *
 * Reading takes little-endian (or byte-order-free) numbers, booleans, and fixed-width strings ('<U', '|S'); every
 * malformed or unsupported file is one error naming the file and what is wrong. numpy has no bfloat16 of its own
 * (ml_dtypes stores it as raw '|V2' bytes): bf16 states come in through safetensors.
 */
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "./atomic.ts";
import { F16_TO_F32 } from "../model/safetensors.ts";

export type NpyNumeric = "f2" | "f4" | "f8" | "i1" | "i2" | "i4" | "i8" | "u1" | "u2" | "u4" | "u8" | "b1";

export type NpyArray =
  | { kind: "number"; dtype: NpyNumeric; shape: number[]; data: ArrayLike<number> }
  | { kind: "string"; dtype: string; shape: number[]; data: string[] };

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const ALIGN = 64;
/** np.save leaves room in the header for the first axis to grow to this many digits */
const GROWTH_AXIS_MAX_DIGITS = 21;
const BYTES: Record<NpyNumeric, number> = { f2: 2, f4: 4, f8: 8, i1: 1, i2: 2, i4: 4, i8: 8, u1: 1, u2: 2, u4: 4, u8: 8, b1: 1 };

export class NpyError extends Error {}

const fail = (path: string, problem: string): never => {
  throw new NpyError(`${path}: ${problem}`);
};

/** Parse the header dict numpy writes: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } */
function parseHeader(path: string, text: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr':\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    return fail(path, `not a plain .npy array header (${JSON.stringify(text.trim().slice(0, 80))}; structured dtypes are not supported)`);
  }
  const shape = shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (!shape.every((s) => Number.isSafeInteger(s) && s >= 0)) fail(path, `invalid shape (${shapeText})`);
  return { descr, fortran: fortran === "True", shape };
}

/** Read a .npy file. */
export function readNpy(path: string): NpyArray {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch {
    return fail(path, "file not found or not readable");
  }
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) fail(path, "not a .npy file (it does not start with \\x93NUMPY)");
  const major = buf[6];
  if (major !== 1 && major !== 2 && major !== 3) fail(path, `unknown .npy version ${major}.${buf[7]}`);
  const lenBytes = major === 1 ? 2 : 4;
  if (buf.length < 8 + lenBytes) fail(path, "truncated inside the header");
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const dataStart = 8 + lenBytes + headerLen;
  if (dataStart > buf.length) fail(path, `truncated: the header says ${headerLen} bytes, the file ends before them`);
  const { descr, fortran, shape } = parseHeader(path, buf.subarray(8 + lenBytes, dataStart).toString(major === 3 ? "utf8" : "latin1"));
  if (fortran && shape.length > 1) fail(path, "Fortran-ordered array; save it with np.ascontiguousarray(x) first");
  const count = shape.reduce((a, b) => a * b, 1);
  const body = buf.subarray(dataStart);

  const str = /^([<|=])([US])(\d+)$/.exec(descr);
  if (str) {
    const width = Number(str[3]);
    const item = str[2] === "U" ? 4 * width : width;
    if (body.length !== count * item) fail(path, `truncated or padded: ${descr} × (${shape.join(", ")}) needs ${count * item} data bytes, the file has ${body.length}`);
    const data: string[] = [];
    for (let i = 0; i < count; i++) {
      const raw = body.subarray(i * item, (i + 1) * item);
      let s = "";
      if (str[2] === "U") for (let k = 0; k < width; k++) {
        const cp = raw.readUInt32LE(4 * k);
        if (cp === 0) break;
        s += String.fromCodePoint(cp);
      }
      else s = raw.toString("latin1").replace(/\0+$/, "");
      data.push(s);
    }
    return { kind: "string", dtype: descr, shape, data };
  }

  const num = /^([<|=])([fiub])(\d)$/.exec(descr);
  const dtype = num ? (`${num[2]}${num[3]}` as NpyNumeric) : undefined;
  if (!num || !dtype || !(dtype in BYTES)) {
    if (/^>/.test(descr)) fail(path, `big-endian dtype '${descr}'; save it as little-endian (x.astype(x.dtype.newbyteorder('<')))`);
    return fail(path, `unsupported dtype '${descr}' (expected a float, integer, bool or string array${/V2/.test(descr) ? "; bfloat16 states come in through safetensors" : ""})`);
  }
  if (body.length !== count * BYTES[dtype]) fail(path, `truncated or padded: ${descr} × (${shape.join(", ")}) needs ${count * BYTES[dtype]} data bytes, the file has ${body.length}`);
  // copy: the typed views below need an aligned buffer of their own
  const bytes = new Uint8Array(body);
  const ab = bytes.buffer;
  let data: ArrayLike<number>;
  switch (dtype) {
    case "f2": {
      const bits = new Uint16Array(ab);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = F16_TO_F32[bits[i]];
      data = out;
      break;
    }
    case "f4": data = new Float32Array(ab); break;
    case "f8": data = new Float64Array(ab); break;
    case "i1": data = new Int8Array(ab); break;
    case "i2": data = new Int16Array(ab); break;
    case "i4": data = new Int32Array(ab); break;
    case "u1": case "b1": data = bytes; break;
    case "u2": data = new Uint16Array(ab); break;
    case "u4": data = new Uint32Array(ab); break;
    case "i8": case "u8": {
      const big = dtype === "i8" ? new BigInt64Array(ab) : new BigUint64Array(ab);
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) {
        const v = big[i];
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) fail(path, `integer ${v} at element ${i} is too large to hold exactly`);
        out[i] = Number(v);
      }
      data = out;
      break;
    }
  }
  return { kind: "number", dtype, shape, data };
}

/** What can be written: f32/f64/i64 numbers, or fixed-width unicode strings (width: the longest, at least 1). */
export type NpyToWrite =
  | { dtype: "f4"; shape: number[]; data: Float32Array }
  | { dtype: "f8"; shape: number[]; data: Float64Array | number[] }
  | { dtype: "i8"; shape: number[]; data: ArrayLike<number> }
  | { dtype: "U"; shape: number[]; data: string[] };

/** The bytes np.save writes for this array (header version 1, or 2 when the header outgrows 64 KiB). */
export function encodeNpy(a: NpyToWrite): Buffer {
  const count = a.shape.reduce((x, y) => x * y, 1);
  if (count !== a.data.length) throw new Error(`encodeNpy: shape (${a.shape.join(", ")}) has ${count} elements, data ${a.data.length}`);
  const width = a.dtype === "U" ? Math.max(1, ...a.data.map((s) => [...s].length)) : 0;
  const descr = a.dtype === "U" ? `<U${width}` : `<${a.dtype}`;
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  if (a.shape.length > 0) header += " ".repeat(GROWTH_AXIS_MAX_DIGITS - String(a.shape[0]).length);
  const version = header.length + 1 + 10 > 65535 ? 2 : 1;
  const prefix = version === 1 ? 10 : 12;
  const pad = ALIGN - ((prefix + header.length + 1) % ALIGN);
  const head = Buffer.alloc(prefix);
  MAGIC.copy(head);
  head[6] = version;
  head[7] = 0;
  if (version === 1) head.writeUInt16LE(header.length + 1 + pad, 8);
  else head.writeUInt32LE(header.length + 1 + pad, 8);
  let body: Buffer;
  if (a.dtype === "f4") body = Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  else if (a.dtype === "f8") body = Buffer.from(Float64Array.from(a.data).buffer);
  else if (a.dtype === "i8") body = Buffer.from(BigInt64Array.from(Array.from(a.data, (v) => BigInt(v))).buffer);
  else {
    body = Buffer.alloc(count * 4 * width);
    a.data.forEach((s, i) => [...s].forEach((ch, k) => body.writeUInt32LE(ch.codePointAt(0)!, (i * width + k) * 4)));
  }
  return Buffer.concat([head, Buffer.from(header + " ".repeat(pad) + "\n", "latin1"), body]);
}

/** Write a .npy file atomically. */
export function writeNpy(path: string, a: NpyToWrite): void {
  writeFileAtomic(path, encodeNpy(a));
}
