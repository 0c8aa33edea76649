/**
 * Tiny ONNX graphs for onnxruntime-node, encoded by hand (ONNX is protobuf; these graphs need only a
 * handful of fields, so a 40-line encoder beats a protobuf dependency).
 */
const utf8 = new TextEncoder();

function varint(n: number): number[] {
  if (n < 0) return varintBig(BigInt.asUintN(64, BigInt(n))); // int64 attributes: two's complement, 10 bytes
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
function varintBig(n: bigint): number[] {
  const out: number[] = [];
  while (n > 127n) {
    out.push(Number(n & 127n) | 128);
    n >>= 7n;
  }
  out.push(Number(n));
  return out;
}
const fieldVarint = (field: number, v: number) => [...varint(field << 3), ...varint(v)];
const fieldBytes = (field: number, bytes: number[]) => [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
const fieldString = (field: number, s: string) => fieldBytes(field, [...utf8.encode(s)]);
const fieldFloat = (field: number, v: number) => [...varint((field << 3) | 5), ...new Uint8Array(Float32Array.of(v).buffer)];

/** onnx.TensorProto.DataType of the graphs' tensors */
export type ElemType = "float32" | "float64" | "float16" | "bfloat16";
const ELEM: Record<ElemType, number> = { float32: 1, float64: 11, float16: 10, bfloat16: 16 };

/** Attribute values: an integer, integers, a float ({ float }), or a string ({ string }). */
export type AttrValue = number | number[] | { float: number } | { string: string };

/** ValueInfoProto of a tensor; dims are names (symbolic) or sizes. */
function valueInfo(name: string, dims: (string | number)[], elem: ElemType): number[] {
  const dim = (d: string | number) => fieldBytes(1, typeof d === "number" ? fieldVarint(1, d) : fieldString(2, d));
  const tensorType = [...fieldVarint(1, ELEM[elem]), ...fieldBytes(2, dims.flatMap(dim))];
  return [...fieldString(1, name), ...fieldBytes(2, fieldBytes(1, tensorType))];
}

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
  /** operator domain, e.g. "com.microsoft" (default: the ONNX domain) */
  domain?: string;
}

/** AttributeProto: name 1, f 2, i 3, s 4, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, INTS 7) */
function attribute(name: string, v: AttrValue): number[] {
  const head = fieldString(1, name);
  if (typeof v === "number") return [...head, ...fieldVarint(3, v), ...fieldVarint(20, 2)];
  if (Array.isArray(v)) return [...head, ...v.flatMap((x) => fieldVarint(8, x)), ...fieldVarint(20, 7)];
  if ("float" in v) return [...head, ...fieldFloat(2, v.float), ...fieldVarint(20, 1)];
  return [...head, ...fieldString(4, v.string), ...fieldVarint(20, 3)];
}

function node(n: OnnxNode): number[] {
  return [
    ...n.inputs.flatMap((i) => fieldString(1, i)),
    ...n.outputs.flatMap((o) => fieldString(2, o)),
    ...fieldString(4, n.op),
    ...Object.entries(n.attrs ?? {}).flatMap(([k, v]) => fieldBytes(5, attribute(k, v))),
    ...(n.domain ? fieldString(7, n.domain) : []),
  ];
}

/**
 * An initializer (a constant of the graph) whose bytes live outside the model, in a buffer the session is given
 * (onnxruntime's `externalData: [{ path: file, data }]`): the model itself stays a few kilobytes however large the
 * weights, and onnxruntime uploads them once, when the session is created.
 */
export interface ExternalInitializer {
  name: string;
  dims: number[];
  elem: ElemType;
  /** the external buffer's name, and where the tensor's bytes start in it */
  file: string;
  offset: number;
  length: number;
}

/** TensorProto: dims 1, data_type 2, name 8, external_data 13 (key 1, value 2), data_location 14 (EXTERNAL = 1) */
function initializer(t: ExternalInitializer): number[] {
  const entry = (k: string, v: string) => fieldBytes(13, [...fieldString(1, k), ...fieldString(2, v)]);
  return [
    ...t.dims.flatMap((d) => fieldVarint(1, d)),
    ...fieldVarint(2, ELEM[t.elem]),
    ...fieldString(8, t.name),
    ...entry("location", t.file),
    ...entry("offset", String(t.offset)),
    ...entry("length", String(t.length)),
    ...fieldVarint(14, 1),
  ];
}

/**
 * A ModelProto (IR 8; the ONNX opset `opset`, default 17, and com.microsoft 1) whose inputs and outputs are all of
 * one element type (default float32), with optional external initializers.
 */
export function onnxModel(
  nodes: OnnxNode[],
  inputs: [string, (string | number)[]][],
  outputs: [string, (string | number)[]][],
  elem: ElemType = "float32",
  opset = 17,
  initializers: ExternalInitializer[] = [],
): Uint8Array {
  const graph = [
    ...nodes.flatMap((n) => fieldBytes(1, node(n))),
    ...fieldString(2, "quirky"),
    ...initializers.flatMap((t) => fieldBytes(5, initializer(t))),
    ...inputs.flatMap(([name, dims]) => fieldBytes(11, valueInfo(name, dims, elem))),
    ...outputs.flatMap(([name, dims]) => fieldBytes(12, valueInfo(name, dims, elem))),
  ];
  const opsets = [...fieldBytes(8, fieldVarint(2, opset)), ...fieldBytes(8, [...fieldString(1, "com.microsoft"), ...fieldVarint(2, 1)])];
  return new Uint8Array([...fieldVarint(1, 8), ...opsets, ...fieldBytes(7, graph)]);
}
