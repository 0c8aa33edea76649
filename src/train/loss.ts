/**
 * The language-model loss: cross-entropy of the next-token logits at some positions against their targets.
 *
 *   z_i = h_i · Uᵀ                                  (V)   h_i the final normalised hidden row, U the unembedding
 *   nll_i = logsumexp(z_i) − z_i[y_i]
 *   L = Σ_i c_i · nll_i                                   c_i a per-row coefficient (1/M for a mean)
 *   ∂L/∂z_i = c_i · (softmax(z_i) − onehot(y_i)),   ∂L/∂h_i = ∂L/∂z_i · U,   ∂L/∂U = Σ_i (∂L/∂z_i)ᵀ · h_i
 *
 * `headLoss` is the training path: it computes z a few rows at a time and keeps only ∂L/∂h, so the (M, V) logits of a
 * batch (103 MB for 512 positions of Pythia's 50,304-token vocabulary) never exist whole, twice over with their
 * gradient. `crossEntropy` is the plain version over given logits (in f64, in JavaScript) for evaluation and tests.
 */
import { gemm, session } from "../model/matmul.ts";
import { onnxModel } from "../model/onnx.ts";
import { addInPlace } from "../model/layers.ts";
import { Half } from "../model/params.ts";
import type { Tape } from "../model/activations.ts";
import { scratchOf } from "./backward.ts";
import type { Transformer } from "../model/transformer.ts";
import ort from "onnxruntime-node";

/**
 * Mean cross-entropy of logits (M,V) against targets (M), each row weighted (default 1; the mean divides by
 * the weights' sum). Returns the loss and dloss/dlogits.
 */
export function crossEntropy(logits: Float32Array, targets: Int32Array, V: number, weights?: Float32Array): { loss: number; dlogits: Float32Array } {
  const M = targets.length;
  const dlogits = new Float32Array(M * V);
  let total = 0;
  let wsum = 0;
  for (let i = 0; i < M; i++) wsum += weights ? weights[i] : 1;
  if (wsum === 0) return { loss: 0, dlogits };
  const e = new Float64Array(V); // exp(logit − max) of a row, computed once
  for (let i = 0; i < M; i++) {
    const w = weights ? weights[i] : 1;
    const o = i * V;
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (logits[o + v] > max) max = logits[o + v];
    let sum = 0;
    for (let v = 0; v < V; v++) sum += e[v] = Math.exp(logits[o + v] - max);
    total += w * (max + Math.log(sum) - logits[o + targets[i]]);
    // softmax · w / wsum, minus w / wsum at the target
    const k = w / (sum * wsum);
    for (let v = 0; v < V; v++) dlogits[o + v] = e[v] * k;
    dlogits[o + targets[i]] -= w / wsum;
  }
  return { loss: total / wsum, dlogits };
}

/** Logit values headLoss holds at once on the host, by default (4 MiB of f32; 20 rows of a 50k vocabulary). */
const HEAD_CHUNK = 1 << 20;

export interface HeadLossOptions {
  /** add ∂L/∂U (V, C) into this gradient of the unembedding */
  gradUnembed?: Float32Array;
  /** logit values held at once (default 2²⁰ on the host, 2²⁴ on a device); rows go through in groups of ⌊chunk / V⌋, at least one */
  chunk?: number;
}

/**
 * nll (m, 1) and dz (m, V) = c · (softmax(z) − onehot(y)) of logits z (m, V), targets y (m, 1) (as floats, exact
 * below 2²⁴) and coefficients c (m, 1), in one onnxruntime graph: vectorised exp and log over every logit.
 */
function crossEntropySession(): Promise<ort.InferenceSession> {
  return session(
    "cross-entropy",
    () =>
      onnxModel(
        [
          { op: "LogSoftmax", inputs: ["z"], outputs: ["logp"], attrs: { axis: -1 } },
          { op: "Cast", inputs: ["y"], outputs: ["yi"], attrs: { to: 7 } },
          { op: "GatherElements", inputs: ["logp", "yi"], outputs: ["picked"], attrs: { axis: 1 } },
          { op: "Neg", inputs: ["picked"], outputs: ["nll"] },
          { op: "Exp", inputs: ["logp"], outputs: ["p"] },
          { op: "Mul", inputs: ["p", "c"], outputs: ["pc"] },
          { op: "Neg", inputs: ["c"], outputs: ["negc"] },
          { op: "ScatterElements", inputs: ["pc", "yi", "negc"], outputs: ["dz"], attrs: { axis: 1, reduction: { string: "add" } } },
        ],
        [["z", ["m", "V"]], ["y", ["m", 1]], ["c", ["m", 1]]],
        [["nll", ["m", 1]], ["dz", ["m", "V"]]],
        "float32",
        23,
      ),
    true,
  );
}

/**
 * The loss L = Σ c_i · nll_i at the positions a forward pass recorded (tape.logitPositions, tape.hRows: run it with
 * `headless` so it computes no logits itself), against `targets` (M) with coefficients `coef` (M). Returns each
 * row's nll and ∂L/∂h (M, C), the input of `backward`.
 */
export async function headLoss(model: Transformer, tape: Tape, targets: Int32Array, coef: Float32Array, opts: HeadLossOptions = {}): Promise<{ nll: Float32Array; dh: Float32Array }> {
  const { gradUnembed, chunk = HEAD_CHUNK } = opts;
  const { dModel: C, vocabSize: V } = model.cfg;
  const M = tape.logitPositions.length;
  if (targets.length !== M || coef.length !== M) throw new Error(`headLoss: ${M} positions but ${targets.length} targets and ${coef.length} coefficients`);
  for (const y of targets) if (!(y >= 0 && y < V)) throw new Error(`headLoss: target ${y} outside the vocabulary 0..${V - 1}`);
  // a forward on a device computes its loss there (only nll, ∂L/∂h and ∂L/∂U come back)
  if (tape.headLoss) return tape.headLoss(targets, coef, opts);
  const w = model.params.unembed;
  const U = w instanceof Half ? w.upcastInto(new Float32Array(V * C)) : w; // (V, C), f32 for the products
  const rows = Math.max(1, Math.min(M, Math.floor(chunk / V)));
  // kept between steps in the model's training buffers (backward.ts): no fresh megabytes per step
  const ws = scratchOf(model);
  const z = ws.get("logits", rows * V);
  const dz = ws.get("dlogits", rows * V);
  const dU = gradUnembed ? ws.get("dW", V * C) : undefined;
  const nll = new Float32Array(M);
  const dh = new Float32Array(M * C);
  const yf = Float32Array.from(targets);
  const ce = await crossEntropySession();
  for (let r0 = 0; r0 < M; r0 += rows) {
    const m = Math.min(rows, M - r0);
    const h = tape.hRows.subarray(r0 * C, (r0 + m) * C); // (m, C)
    await gemm(h, U, m, C, V, { transB: true, out: z }); // z (m, V) = h · Uᵀ
    await ce.run(
      { z: new ort.Tensor("float32", z.subarray(0, m * V), [m, V]), y: new ort.Tensor("float32", yf.subarray(r0, r0 + m), [m, 1]), c: new ort.Tensor("float32", coef.subarray(r0, r0 + m), [m, 1]) },
      { nll: new ort.Tensor("float32", nll.subarray(r0, r0 + m), [m, 1]), dz: new ort.Tensor("float32", dz.subarray(0, m * V), [m, V]) },
    );
    await gemm(dz, U, m, V, C, { out: dh.subarray(r0 * C, (r0 + m) * C) }); // ∂L/∂h (m, C) = dz · U
    if (dU) addInPlace(gradUnembed!, await gemm(dz, h, V, m, C, { transA: true, out: dU })); // ∂L/∂U (V, C) += dzᵀ · h
  }
  return { nll, dh };
}
