/**
 * The matrix-product layer: every large matrix product of the engine runs on onnxruntime-node (CPU).
 *
 *   gemm:  Y = op(A) · op(B) (+ bias),  op(X) = X or Xᵀ      A is (M,K) after op, B is (K,N) after op
 *   bmm:   Y[b] = A[b] · B[b]                                A is (Bt,M,K), B is (Bt,K,N)
 *
 * f32 weights stay in our Float32Arrays; onnxruntime reads them in place. 16-bit weights (f16/bf16 bits, see
 * params.ts) are upcast exactly into a pooled f32 scratch just before their product, at most WEIGHT_CHUNK values
 * at a time: a large linear runs as products over slices of its output rows. f32 weights take the same slices, so
 * a 16-bit model and its f32 upcast multiply the same values in the same shapes: bit-identical results.
 * One session per graph shape (transposes, bias), with symbolic dimensions, is built once and reused.
 */
import { availableParallelism } from "node:os";
import ort from "onnxruntime-node";
import { onnxModel } from "./onnx.ts";
import { Half, type Weight } from "./params.ts";

export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
  /** (N): added to every row */
  bias?: Float32Array;
  /** write the result here instead of a new array, (M,N) */
  out?: Float32Array;
}

// onnxruntime's default counts physical cores, which leaves one of two hyperthreads idle: ask for all of them
/** Threads onnxruntime uses inside one product: every core the OS gives us, or $QUIRKY_THREADS. */
const threads = Number(process.env.QUIRKY_THREADS) || availableParallelism();

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/** $QUIRKY_ORT_PROFILE=PREFIX: every session records each run's kernels, written to PREFIX_<date>.json by endProfiling. */
const profilePrefix = process.env.QUIRKY_ORT_PROFILE;

/** Write the profiles of every session so far (with $QUIRKY_ORT_PROFILE; Chrome trace format, one file per session). */
export async function endProfiling(): Promise<void> {
  for (const s of sessions.values()) (await s).endProfiling();
}

/**
 * The onnxruntime session of a graph, built once per key (shared by every product layer). `arena`: keep the graph's
 * intermediate tensors in an arena reused across runs (worth it for graphs with many intermediates, such as a
 * block: fresh allocations of megabytes each run cost page faults); single products write to our buffers.
 */
export function session(key: string, build: () => Uint8Array, arena = false): Promise<ort.InferenceSession> {
  let s = sessions.get(key);
  if (!s) {
    s = ort.InferenceSession.create(build(), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
      enableCpuMemArena: arena,
      // idle workers sleep instead of spinning: several sessions (blocks, products, probes) share two cores
      extra: { session: { intra_op: { allow_spinning: "0" } } },
      ...(profilePrefix ? { enableProfiling: true, profileFilePrefix: profilePrefix } : {}),
    });
    sessions.set(key, s);
  }
  return s;
}

function gemmSession(transA: boolean, transB: boolean, bias: boolean): Promise<ort.InferenceSession> {
  const key = `gemm:${+transA}${+transB}${+bias}`;
  return session(key, () =>
    onnxModel(
      [{ op: "Gemm", inputs: bias ? ["A", "B", "C"] : ["A", "B"], outputs: ["Y"], attrs: { transA: +transA, transB: +transB } }],
      [
        ["A", transA ? ["K", "M"] : ["M", "K"]],
        ["B", transB ? ["N", "K"] : ["K", "N"]],
        ...(bias ? [["C", ["N"]] as [string, string[]]] : []),
      ],
      [["Y", ["M", "N"]]],
    ),
  );
}

/** Y (M,N) = op(A) · op(B) + bias; a 16-bit B is upcast first (whole: this is the backward pass's path). */
export async function gemm(a: Float32Array, b: Weight, M: number, K: number, N: number, opts: GemmOptions = {}): Promise<Float32Array> {
  const { transA = false, transB = false, bias } = opts;
  if (a.length < M * K || b.length < K * N) throw new Error(`gemm: operands too small for (${M}×${K})·(${K}×${N})`);
  const wide = b instanceof Half ? borrow(K * N) : undefined; // pooled: the backward pass upcasts a weight per product
  try {
    const bf = b instanceof Half ? b.subarray(0, K * N).upcastInto(wide!.subarray(0, K * N)) : b;
    const s = await gemmSession(transA, transB, bias !== undefined);
    const out = opts.out ?? new Float32Array(M * N);
    const feeds: Record<string, ort.Tensor> = {
      A: new ort.Tensor("float32", a.subarray(0, M * K), transA ? [K, M] : [M, K]),
      B: new ort.Tensor("float32", bf.subarray(0, K * N), transB ? [N, K] : [K, N]),
    };
    if (bias) feeds.C = new ort.Tensor("float32", bias, [N]);
    await s.run(feeds, { Y: new ort.Tensor("float32", out.subarray(0, M * N), [M, N]) });
    return out;
  } finally {
    if (wide) giveBack(wide);
  }
}

/** Largest weight slice one product reads (values): 64 MiB of f32 scratch for a 16-bit weight. */
export const WEIGHT_CHUNK = 1 << 24;
let weightChunk = WEIGHT_CHUNK;

/** Set the largest weight slice of one product (tests slice small models with it). */
export function setWeightChunk(values: number): void {
  weightChunk = values;
}

/** Whether a linear with an (out, in) weight runs as one product: its weight fits one slice. */
export function oneProduct(inDim: number, outDim: number): boolean {
  return Math.floor(weightChunk / inDim) >= outDim;
}

/**
 * f32 scratch buffers, each lent to one product at a time (concurrent forwards of different models get their own).
 * Sized WEIGHT_CHUNK or more, so one serves every product; pages never written take no memory.
 */
const scratchPool: Float32Array[] = [];
function borrow(n: number): Float32Array {
  const i = scratchPool.findIndex((b) => b.length >= n);
  return i >= 0 ? scratchPool.splice(i, 1)[0] : new Float32Array(Math.max(n, weightChunk));
}
function giveBack(b: Float32Array): void {
  if (b.length > weightChunk) return; // a whole large weight (an unembedding in the backward pass): not kept
  scratchPool.push(b);
  if (scratchPool.length > 4) scratchPool.sort((a, c) => c.length - a.length).pop();
}

/** fn over the f32 values of each weight: f32 weights as they are, 16-bit ones upcast (exact) into pooled scratch. */
export async function withF32<T>(ws: Weight[], fn: (f32: Float32Array[]) => Promise<T>): Promise<T> {
  const lent: Float32Array[] = [];
  try {
    const f32 = ws.map((w) => {
      if (!(w instanceof Half)) return w;
      const s = borrow(w.length);
      lent.push(s);
      return w.upcastInto(s.subarray(0, w.length));
    });
    return await fn(f32);
  } finally {
    for (const s of lent) giveBack(s);
  }
}

/**
 * A linear layer: y (M,N) = x (M,K) · wᵀ + b, with w (N,K) as nn.Linear stores it. Output rows of w go in slices of
 * at most WEIGHT_CHUNK values; a 16-bit slice is upcast into scratch first.
 */
export async function linear(x: Float32Array, w: Weight, M: number, K: number, N: number, bias?: Float32Array, out?: Float32Array): Promise<Float32Array> {
  const y = out ?? new Float32Array(M * N);
  const rows = Math.max(1, Math.floor(weightChunk / K));
  if (rows >= N && !(w instanceof Half)) return gemm(x, w, M, K, N, { transB: true, bias, out: y });
  if (w.length < N * K) throw new Error(`linear: weight too small for ${N}×${K}`);
  const wf = w instanceof Half ? borrow(Math.min(rows, N) * K) : undefined;
  const part = rows < N ? borrow(M * rows) : undefined;
  try {
    for (let r0 = 0; r0 < N; r0 += rows) {
      const n = Math.min(rows, N - r0);
      // w[r0:r0+n] (n,K) as f32
      const slice = w instanceof Half ? w.upcastInto(wf!.subarray(0, n * K), r0 * K) : w.subarray(r0 * K, (r0 + n) * K);
      if (!part) {
        await gemm(x, slice, M, K, n, { transB: true, bias, out: y });
        continue;
      }
      // y[:, r0:r0+n] = x · sliceᵀ (+ b[r0:r0+n])
      const yp = await gemm(x, slice, M, K, n, { transB: true, bias: bias?.subarray(r0, r0 + n), out: part.subarray(0, M * n) });
      for (let m = 0; m < M; m++) y.set(yp.subarray(m * n, m * n + n), m * N + r0);
    }
  } finally {
    if (wf) giveBack(wf);
    if (part) giveBack(part);
  }
  return y;
}

/**
 * Batched product: Y[b] (M,N) = op(A[b]) · op(B[b]), with op = transpose when asked: A[b] is (M,K), or (K,M)
 * with transA; B[b] is (K,N), or (N,K) with transB.
 */
export async function bmm(a: Float32Array, b: Float32Array, batch: number, M: number, K: number, N: number, transB = false, out?: Float32Array, transA = false): Promise<Float32Array> {
  const s = await session(`bmm:${+transA}${+transB}`, () => {
    const nodes = [];
    if (transA) nodes.push({ op: "Transpose", inputs: ["A"], outputs: ["At"], attrs: { perm: [0, 2, 1] } });
    if (transB) nodes.push({ op: "Transpose", inputs: ["B"], outputs: ["Bt"], attrs: { perm: [0, 2, 1] } });
    nodes.push({ op: "MatMul", inputs: [transA ? "At" : "A", transB ? "Bt" : "B"], outputs: ["Y"] });
    return onnxModel(
      nodes,
      [
        ["A", transA ? ["batch", "K", "M"] : ["batch", "M", "K"]],
        ["B", transB ? ["batch", "N", "K"] : ["batch", "K", "N"]],
      ],
      [["Y", ["batch", "M", "N"]]],
    );
  });
  const y = out ?? new Float32Array(batch * M * N);
  await s.run(
    {
      A: new ort.Tensor("float32", a.subarray(0, batch * M * K), transA ? [batch, K, M] : [batch, M, K]),
      B: new ort.Tensor("float32", b.subarray(0, batch * K * N), transB ? [batch, N, K] : [batch, K, N]),
    },
    { Y: new ort.Tensor("float32", y.subarray(0, batch * M * N), [batch, M, N]) },
  );
  return y;
}
