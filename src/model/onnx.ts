/**
 * Tiny ONNX graphs for onnxruntime-node, encoded by hand (ONNX is protobuf; these graphs need only a
 * handful of fields, so a 40-line encoder beats a protobuf dependency).
 */
const utf8 = new TextEncoder();

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const fieldVarint = (field: number, v: number) => [...varint(field << 3), ...varint(v)];
const fieldBytes = (field: number, bytes: number[]) => [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
const fieldString = (field: number, s: string) => fieldBytes(field, [...utf8.encode(s)]);

/** onnx.TensorProto.DataType of the graphs' tensors */
export type ElemType = "float32" | "float64";
const ELEM: Record<ElemType, number> = { float32: 1, float64: 11 };

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
  /** integer and integer-list attributes */
  attrs?: Record<string, number | number[]>;
}

function node(n: OnnxNode): number[] {
  const attr = (name: string, v: number | number[]) =>
    typeof v === "number"
      ? [...fieldString(1, name), ...fieldVarint(3, v), ...fieldVarint(20, 2 /* INT */)]
      : [...fieldString(1, name), ...v.flatMap((x) => fieldVarint(8, x)), ...fieldVarint(20, 7 /* INTS */)];
  return [
    ...n.inputs.flatMap((i) => fieldString(1, i)),
    ...n.outputs.flatMap((o) => fieldString(2, o)),
    ...fieldString(4, n.op),
    ...Object.entries(n.attrs ?? {}).flatMap(([k, v]) => fieldBytes(5, attr(k, v))),
  ];
}

/** A ModelProto (IR 8, opset 17) whose inputs and outputs are all of one element type (default float32). */
export function onnxModel(
  nodes: OnnxNode[],
  inputs: [string, (string | number)[]][],
  outputs: [string, (string | number)[]][],
  elem: ElemType = "float32",
): Uint8Array {
  const graph = [
    ...nodes.flatMap((n) => fieldBytes(1, node(n))),
    ...fieldString(2, "quirky"),
    ...inputs.flatMap(([name, dims]) => fieldBytes(11, valueInfo(name, dims, elem))),
    ...outputs.flatMap(([name, dims]) => fieldBytes(12, valueInfo(name, dims, elem))),
  ];
  return new Uint8Array([...fieldVarint(1, 8), ...fieldBytes(8, fieldVarint(2, 17)), ...fieldBytes(7, graph)]);
}
