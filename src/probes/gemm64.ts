/**
 * Float64 matrix products on onnxruntime-node's CPU provider (ONNX `Gemm` in double precision):
 *
 *   Y (M,N) = op(A) · op(B) (+ C),   op(X) = X or Xᵀ,  A is (M,K) after op, B is (K,N) after op, C is (M,N)
 *
 * The probes keep their statistics (means, covariances, solves) in float64; onnxruntime's double GEMM
 * runs about 20× faster than a JavaScript loop on two cores, so every product over the n examples
 * goes through here. (src/model/matmul.ts does the same in float32 for the engine; its graph encoder
 * writes float tensors only, hence this small double-precision twin.)
 */
import { availableParallelism } from "node:os";
import ort from "onnxruntime-node";

const DOUBLE = 11; // onnx.TensorProto.DataType.DOUBLE

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
const fVarint = (field: number, v: number) => [...varint(field << 3), ...varint(v)];
const fBytes = (field: number, bytes: number[]) => [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
const fString = (field: number, s: string) => fBytes(field, [...utf8.encode(s)]);

/** ValueInfoProto of a double tensor with symbolic dims. */
function valueInfo(name: string, dims: string[]): number[] {
  const tensorType = [...fVarint(1, DOUBLE), ...fBytes(2, dims.flatMap((d) => fBytes(1, fString(2, d))))];
  return [...fString(1, name), ...fBytes(2, fBytes(1, tensorType))];
}

/** ModelProto (IR 8, opset 17) with one Gemm node. */
function gemmModel(transA: boolean, transB: boolean, withC: boolean): Uint8Array {
  const attr = (name: string, v: number) => fBytes(5, [...fString(1, name), ...fVarint(3, v), ...fVarint(20, 2)]);
  const inputs = withC ? ["A", "B", "C"] : ["A", "B"];
  const node = [...inputs.flatMap((i) => fString(1, i)), ...fString(2, "Y"), ...fString(4, "Gemm"), ...attr("transA", +transA), ...attr("transB", +transB)];
  const graph = [
    ...fBytes(1, node),
    ...fString(2, "quirky-probes"),
    ...fBytes(11, valueInfo("A", transA ? ["K", "M"] : ["M", "K"])),
    ...fBytes(11, valueInfo("B", transB ? ["N", "K"] : ["K", "N"])),
    ...(withC ? fBytes(11, valueInfo("C", ["M", "N"])) : []),
    ...fBytes(12, valueInfo("Y", ["M", "N"])),
  ];
  return new Uint8Array([...fVarint(1, 8), ...fBytes(8, fVarint(2, 17)), ...fBytes(7, graph)]);
}

const threads = Number(process.env.QUIRKY_THREADS) || availableParallelism();
const sessions = new Map<string, Promise<ort.InferenceSession>>();

function session(transA: boolean, transB: boolean, withC: boolean): Promise<ort.InferenceSession> {
  const key = `${+transA}${+transB}${+withC}`;
  let s = sessions.get(key);
  if (!s) {
    s = ort.InferenceSession.create(gemmModel(transA, transB, withC), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
      enableCpuMemArena: false,
    });
    sessions.set(key, s);
  }
  return s;
}

export interface Gemm64Options {
  transA?: boolean;
  transB?: boolean;
  /** (M,N) added to the product (e.g. a running sum) */
  c?: Float64Array;
  /** write the result here (M,N); may be the same array as `c` */
  out?: Float64Array;
}

/** Y (M,N) = op(A)·op(B) (+ C) in float64. */
export async function gemm64(a: Float64Array, b: Float64Array, M: number, K: number, N: number, opts: Gemm64Options = {}): Promise<Float64Array> {
  const { transA = false, transB = false, c } = opts;
  if (a.length < M * K || b.length < K * N || (c && c.length < M * N)) throw new Error(`gemm64: operands too small for (${M}×${K})·(${K}×${N})`);
  const out = opts.out ?? new Float64Array(M * N);
  if (M === 0 || N === 0) return out;
  if (K === 0) {
    if (c) out.set(c.subarray(0, M * N));
    else out.fill(0, 0, M * N);
    return out;
  }
  const s = await session(transA, transB, c !== undefined);
  const feeds: Record<string, ort.Tensor> = {
    A: new ort.Tensor("float64", a.subarray(0, M * K), transA ? [K, M] : [M, K]),
    B: new ort.Tensor("float64", b.subarray(0, K * N), transB ? [N, K] : [K, N]),
  };
  if (c) feeds.C = new ort.Tensor("float64", c.subarray(0, M * N), [M, N]);
  if (c && c === out) {
    const r = await s.run(feeds);
    out.set((r.Y.data as Float64Array).subarray(0, M * N));
  } else {
    await s.run(feeds, { Y: new ort.Tensor("float64", out.subarray(0, M * N), [M, N]) });
  }
  return out;
}
