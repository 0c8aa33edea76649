/**
 * Float64 matrix products on onnxruntime-node's CPU provider (ONNX `Gemm` in double precision):
 *
 *   Y (M,N) = op(A) · op(B) (+ C),   op(X) = X or Xᵀ,  A is (M,K) after op, B is (K,N) after op, C is (M,N)
 *
 * The probes keep their statistics (means, covariances, solves) in float64; onnxruntime's double GEMM
 * runs about 20× faster than a JavaScript loop on two cores, so every product over the n examples
 * goes through here (the graph encoder and session cache are the engine's, src/model/onnx.ts and matmul.ts).
 */
import ort from "onnxruntime-node";
import { session } from "../model/matmul.ts";
import { onnxModel } from "../model/onnx.ts";

/** The double-precision Gemm graph for these transposes (and an added C). */
function gemm64Session(transA: boolean, transB: boolean, withC: boolean): Promise<ort.InferenceSession> {
  return session(`gemm64:${+transA}${+transB}${+withC}`, () =>
    onnxModel(
      [{ op: "Gemm", inputs: withC ? ["A", "B", "C"] : ["A", "B"], outputs: ["Y"], attrs: { transA: +transA, transB: +transB } }],
      [
        ["A", transA ? ["K", "M"] : ["M", "K"]],
        ["B", transB ? ["N", "K"] : ["K", "N"]],
        ...(withC ? [["C", ["M", "N"]] as [string, string[]]] : []),
      ],
      [["Y", ["M", "N"]]],
      "float64",
    ),
  );
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
  const s = await gemm64Session(transA, transB, c !== undefined);
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
