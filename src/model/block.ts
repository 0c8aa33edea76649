/**
 * One transformer block as one onnxruntime graph: the inference path of the forward pass. Every step of the block
 * (norms, projections, rotary, attention, activation, residual adds) runs inside onnxruntime, vectorised and on
 * every core, in one call per block; the JavaScript of transformer.ts only walks the blocks and runs the hooks.
 *
 *   h1 = norm1(x)
 *   q, k, v = split(h1 · Wqkvᵀ + b)                    (B,T,H,D), (B,T,Hkv,D), (B,T,Hkv,D)
 *   q, k = rotary(q), rotary(k)                         over the first R dims of each head, rotate-half
 *   K, V = [past K | k], [past V | v]                   (B,Hkv,Tk,D)
 *   P = softmax(q·Kᵀ/√D + mask) ⊙ query mask            (B,Hkv,g,T,Tk); q grouped by K/V head, g = H/Hkv
 *   attn = merge(P·V) · Woᵀ + b                         (N,C)
 *   parallel:    y = x + attn + mlp(norm2(x))
 *   sequential:  x' = x + attn;  y = x' + mlp(norm2(x'))
 *   mlp(h) = act(h · Wupᵀ + b) · Wdownᵀ + b             gated: act(gate) ⊙ up
 *
 * with unmerged LoRA updates (h·Aᵀ)·(s·B)ᵀ added to the projections that have one. The mask is additive: 0 where a
 * query sees a key, −1e9 elsewhere (exp underflows to exactly 0), so real rows equal a masked softmax; padding
 * queries see nothing and get zeros, as in layers.ts's causalSoftmaxForward, whose rule `attentionMask` encodes.
 * The graph's outputs are identical in shape and meaning to the per-layer path of transformer.ts (used for training,
 * where the backward pass needs every intermediate, and for weights too large for one product).
 */
import ort from "onnxruntime-node";
import type { ModelConfig } from "./config.ts";
import { onnxModel, type AttrValue, type OnnxNode } from "./onnx.ts";
import { session } from "./matmul.ts";

/** What shapes one block graph: the architecture, which optional pieces are present. */
export interface BlockSpec {
  layernorm: boolean;
  parallel: boolean;
  gated: boolean;
  activation: ModelConfig["activation"];
  H: number;
  Hkv: number;
  D: number;
  /** rotary dims per head */
  R: number;
  neox: boolean;
  eps: number;
  /** which projections have a bias, which a LoRA update */
  bias: Record<Projection, boolean>;
  lora: Record<Projection, boolean>;
  /** past keys and values come in */
  past: boolean;
  /** keys and values go out (for a cache) */
  keepKV: boolean;
  /** every intermediate the backward pass reads goes out too (TAPE_OUTPUTS) */
  tape: boolean;
}

/**
 * What a block graph records for the backward pass (LayerTape in activations.ts), by output name: norm inputs,
 * outputs and statistics, attention operands and probabilities, the up projection before and after its activation.
 */
export const TAPE_OUTPUTS = ["ln1_inp", "ln1_out", "ln1_mean", "ln1_rstd", "Q", "K", "V", "P", "merged", "ln2_inp", "ln2_out", "ln2_mean", "ln2_rstd", "up", "act"] as const;
export type TapeOutput = (typeof TAPE_OUTPUTS)[number];

/** The shape of each tape entry, in the block's dimensions: names in the graph ("N", "T", …), sizes when run. */
function tapeShapes<D extends string | number>(s: BlockSpec, d: Record<"N" | "C" | "B" | "T" | "Tk" | "U" | "F", D>): Record<TapeOutput, (D | number)[]> {
  const { H, Hkv, D: hd } = s;
  const g = H / Hkv;
  const stat = [d.N, 1];
  return {
    ln1_inp: [d.N, d.C], ln1_out: [d.N, d.C], ln1_mean: stat, ln1_rstd: stat, Q: [d.B, Hkv, g, d.T, hd], K: [d.B, Hkv, d.Tk, hd], V: [d.B, Hkv, d.Tk, hd],
    P: [d.B, Hkv, g, d.T, d.Tk], merged: [d.N, H * hd], ln2_inp: [d.N, d.C], ln2_out: [d.N, d.C], ln2_mean: stat, ln2_rstd: stat, up: [d.N, d.U], act: [d.N, d.F],
  };
}

/** The tape entries a graph outputs: all but the block's input x, which the caller has (ln1's input; ln2's too when parallel). */
function tapeOutputs(s: BlockSpec): TapeOutput[] {
  return TAPE_OUTPUTS.filter((t) => t !== "ln1_inp" && !(t === "ln2_inp" && s.parallel));
}

export type Projection = "qkv" | "o" | "up" | "down";
export const PROJECTIONS: Projection[] = ["qkv", "o", "up", "down"];

/**
 * The additive attention mask (B, 1, 1, T, Tk) and the query mask (B, 1, 1, T, 1) of the rule in
 * causalSoftmaxForward: query t of row b (key index Tpast + t) sees key j when j ≤ Tpast + t, key j is real, and
 * (sliding window W) keyPos(query) − keyPos(j) < W; a padding query sees nothing (its output is zeros).
 */
export function attentionMask(B: number, T: number, Tk: number, keyMask: Uint8Array, keyPos: Int32Array, window: number | null): { bias: Float32Array; query: Float32Array } {
  const Tpast = Tk - T;
  const bias = new Float32Array(B * T * Tk).fill(-1e9);
  const query = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    const km = b * Tk;
    for (let t = 0; t < T; t++) {
      const qi = Tpast + t;
      if (!keyMask[km + qi]) continue;
      query[b * T + t] = 1;
      const minPos = window === null ? -Infinity : keyPos[km + qi] - window + 1;
      const o = (b * T + t) * Tk;
      for (let j = 0; j <= qi; j++) if (keyMask[km + j] && keyPos[km + j] >= minPos) bias[o + j] = 0;
    }
  }
  return { bias, query };
}

/** The nodes, inputs and outputs of one block's graph, named as in `runBlock` (device.ts turns weights into initializers). */
export interface BlockGraph {
  nodes: OnnxNode[];
  inputs: [string, (string | number)[]][];
  outputs: [string, (string | number)[]][];
}

/** The ONNX graph of one block (opset 23: Gelu, RotaryEmbedding), inputs and outputs named as in `runBlock`. */
function blockGraph(s: BlockSpec): Uint8Array {
  const { nodes, inputs, outputs } = blockGraphParts(s);
  return onnxModel(nodes, inputs, outputs, "float32", 23);
}

/** act(x) as nodes of a graph being built: `one` adds a node and returns its output's name. */
export function activationNodes(kind: ModelConfig["activation"], x: string, one: (type: string, inputs: string[], attrs?: Record<string, AttrValue>) => string): string {
  switch (kind) {
    case "gelu":
      return one("Gelu", [x]);
    case "gelu_new":
      return one("Gelu", [x], { approximate: { string: "tanh" } });
    case "relu":
      return one("Relu", [x]);
    case "silu":
      return one("Mul", [x, one("Sigmoid", [x])]);
  }
}

export function blockGraphParts(s: BlockSpec): BlockGraph {
  const nodes: OnnxNode[] = [];
  let next = 0;
  const op = (type: string, inputs: string[], attrs?: Record<string, AttrValue>, outputs = 1): string[] => {
    const outs = Array.from({ length: outputs }, () => `t${next++}`);
    nodes.push({ op: type, inputs, outputs: outs, attrs });
    return outs;
  };
  const one = (type: string, inputs: string[], attrs?: Record<string, AttrValue>) => op(type, inputs, attrs)[0];
  const ints = (v: number[]) => one("Constant", [], { value_ints: v });
  const float = (v: number) => one("Constant", [], { value_float: { float: v } });
  const name = (out: string, from: string) => nodes.push({ op: "Identity", inputs: [from], outputs: [out] });

  const { H, Hkv, D, R } = s;
  const g = H / Hkv;
  const inputs: [string, (string | number)[]][] = [["x", ["N", "C"]], ["mask", ["B", 1, 1, "T", "Tk"]], ["qmask", ["B", 1, 1, "T", 1]]];
  const input = (n: string, dims: (string | number)[]) => (inputs.push([n, dims]), n);

  // B and T from the mask's shape: reshapes between (N, ·) and (B, T, ·)
  const BT = one("Concat", [one("Shape", ["mask"], { start: 0, end: 1 }), one("Shape", ["mask"], { start: 3, end: 4 })], { axis: 0 });
  const reshape = (x: string, tail: number[]) => one("Reshape", [x, one("Concat", [BT, ints(tail)], { axis: 0 })]);

  const tape: Partial<Record<TapeOutput, string>> = {};
  const norm = (x: string, which: 1 | 2) => {
    const w = input(`n${which}w`, ["C"]);
    let out: string, mean: string | undefined, rstd: string;
    if (s.layernorm) [out, mean, rstd] = op("LayerNormalization", [x, w, input(`n${which}b`, ["C"])], { axis: -1, epsilon: { float: s.eps } }, 3);
    else {
      // RMSNorm: x · 1/sqrt(mean(x²) + eps) · w
      const ms = one("ReduceMean", [one("Mul", [x, x]), ints([-1])], { keepdims: 1 });
      rstd = one("Reciprocal", [one("Sqrt", [one("Add", [ms, float(s.eps)])])]);
      out = one("Mul", [one("Mul", [x, rstd]), w]);
    }
    Object.assign(tape, which === 1 ? { ln1_inp: x, ln1_out: out, ln1_mean: mean, ln1_rstd: rstd } : { ln2_inp: x, ln2_out: out, ln2_mean: mean, ln2_rstd: rstd });
    return out;
  };
  /**
   * y = x·wᵀ + b (+ LoRA). With `onto` (a residual), y = onto + x·wᵀ (+ LoRA): the product accumulates onto it inside
   * the Gemm, and the bias, if any, is left to the caller (returned as `bias`), who may add several at once.
   */
  const linearOnto = (x: string, p: Projection, outDim: string, inDim: string, onto?: string) => {
    const w = input(`w_${p}`, [outDim, inDim]);
    const b = s.bias[p] ? input(`b_${p}`, [outDim]) : undefined;
    let y = one("Gemm", onto ? [x, w, onto] : b ? [x, w, b] : [x, w], { transB: 1 });
    if (s.lora[p]) {
      const xa = one("Gemm", [x, input(`lora_a_${p}`, [`r_${p}`, inDim])], { transB: 1 });
      y = one("Add", [y, one("Gemm", [xa, input(`lora_b_${p}`, [outDim, `r_${p}`])], { transB: 1 })]);
    }
    return { y, bias: onto ? b : undefined };
  };
  const linear = (x: string, p: Projection, outDim: string, inDim: string) => linearOnto(x, p, outDim, inDim).y;
  const activation = (x: string) => activationNodes(s.activation, x, one);

  // attention: q, k, v as (B, T, heads·D), rotary on q and k (ONNX RotaryEmbedding: rotate-half over the first R
  // dims of each head, cos/sin given per position, (B, T, R/2)), then head-major
  const qkv = linear(norm("x", 1), "qkv", "W", "C");
  let q: string, k: string, v: string;
  if (s.neox) [q, k, v] = op("Split", [reshape(qkv, [H, 3 * D])], { axis: -1, num_outputs: 3 }, 3).map((t) => reshape(t, [H * D]));
  else [q, k, v] = op("Split", [reshape(qkv, [-1]), ints([H * D, Hkv * D, Hkv * D])], { axis: -1 }, 3);
  if (R > 0) {
    const cos = input("cos", ["B", "T", R / 2]);
    const sin = input("sin", ["B", "T", R / 2]);
    const rotate = (x: string, heads: number) => one("RotaryEmbedding", [x, cos, sin], { num_heads: heads, rotary_embedding_dim: R, interleaved: 0 });
    [q, k] = [rotate(q, H), rotate(k, Hkv)];
  }
  const Q = one("Transpose", [reshape(q, [Hkv, g, D])], { perm: [0, 2, 3, 1, 4] }); // (B,Hkv,g,T,D)
  let K = one("Transpose", [reshape(k, [Hkv, D])], { perm: [0, 2, 1, 3] }); // (B,Hkv,T,D)
  let V = one("Transpose", [reshape(v, [Hkv, D])], { perm: [0, 2, 1, 3] });
  if (s.past) {
    K = one("Concat", [input("past_k", ["B", Hkv, "P", D]), K], { axis: 2 });
    V = one("Concat", [input("past_v", ["B", Hkv, "P", D]), V], { axis: 2 });
  }
  const Kt = one("Unsqueeze", [one("Transpose", [K], { perm: [0, 1, 3, 2] }), ints([2])]); // (B,Hkv,1,D,Tk)
  const scores = one("Add", [one("Mul", [one("MatMul", [Q, Kt]), float(1 / Math.sqrt(D))]), "mask"]);
  const P = one("Mul", [one("Softmax", [scores], { axis: -1 }), "qmask"]); // (B,Hkv,g,T,Tk)
  const ctx = one("MatMul", [P, one("Unsqueeze", [V, ints([2])])]); // (B,Hkv,g,T,D)
  const merged = one("Reshape", [one("Transpose", [ctx], { perm: [0, 3, 1, 2, 4] }), ints([-1, H * D])]);

  // MLP and residual: the output and down projections accumulate onto the residual stream inside their Gemms
  const mlpAct = (h: string) => {
    const up = linear(h, "up", "U", "C");
    tape.up = up;
    if (!s.gated) return (tape.act = activation(up));
    const [gate, u] = op("Split", [up], { axis: -1, num_outputs: 2 }, 2);
    return (tape.act = one("Mul", [activation(gate), u]));
  };
  const withBias = (t: { y: string; bias?: string }) => (t.bias ? one("Add", [t.y, t.bias]) : t.y);
  const outputs: [string, (string | number)[]][] = [["y", ["N", "C"]]];
  if (s.parallel) {
    // y = x + attn + mlp, the two biases added together in one pass
    const act = mlpAct(norm("x", 2));
    const mid = linearOnto(merged, "o", "C", "HD", "x");
    const out = linearOnto(act, "down", "C", "F", mid.y);
    const biases = [mid.bias, out.bias].filter((b): b is string => b !== undefined);
    name("y", biases.length === 0 ? out.y : one("Add", [out.y, biases.length === 1 ? biases[0] : one("Add", biases)]));
  } else {
    const mid = withBias(linearOnto(merged, "o", "C", "HD", "x"));
    name("y", withBias(linearOnto(mlpAct(norm(mid, 2)), "down", "C", "F", mid)));
  }
  if (s.keepKV && !s.tape) {
    name("k_out", K);
    name("v_out", V);
    outputs.push(["k_out", ["B", Hkv, "Tk", D]], ["v_out", ["B", Hkv, "Tk", D]]);
  }
  if (s.tape) {
    Object.assign(tape, { Q, K, V, P, merged });
    const dims = tapeShapes(s, { N: "N", C: "C", B: "B", T: "T", Tk: "Tk", U: "U", F: "F" });
    // an RMSNorm has no mean: a zero column stands for it
    if (!s.layernorm) Object.assign(tape, { ln1_mean: one("Mul", [tape.ln1_rstd!, float(0)]), ln2_mean: one("Mul", [tape.ln2_rstd!, float(0)]) });
    for (const t of tapeOutputs(s)) {
      const from = tape[t]!;
      // the intermediate itself becomes the output (renamed), so its kernel writes into the caller's buffer: no copy
      for (const n of nodes) {
        n.inputs = n.inputs.map((i) => (i === from ? `tape_${t}` : i));
        n.outputs = n.outputs.map((o) => (o === from ? `tape_${t}` : o));
      }
      outputs.push([`tape_${t}`, dims[t]]);
    }
  }
  return { nodes, inputs, outputs };
}

/** The session of a block graph, built once per spec. */
export function blockSession(s: BlockSpec): Promise<ort.InferenceSession> {
  return session(`block:${JSON.stringify(s)}`, () => blockGraph(s), true);
}

/** Feeds of one block, all f32 (16-bit weights upcast by the caller). */
export interface BlockFeeds {
  /** (N, C) */
  x: Float32Array;
  norm1: { w: Float32Array; b?: Float32Array };
  norm2: { w: Float32Array; b?: Float32Array };
  /** per projection: weight (out, in), bias (out), LoRA A (r, in) and s·B (out, r) */
  proj: Record<Projection, { w: Float32Array; out: number; in: number; b?: Float32Array; lora?: { A: Float32Array; B: Float32Array; r: number } }>;
  /** (B, T, R/2) */
  rope?: { cos: Float32Array; sin: Float32Array };
  mask: { bias: Float32Array; query: Float32Array };
  past?: { k: Float32Array; v: Float32Array; T: number };
}

/** A host tensor of the first prod(dims) values of data. */
export const hostTensor = (data: Float32Array, dims: number[]) => new ort.Tensor("float32", data.subarray(0, dims.reduce((a, d) => a * d, 1)), dims);

/** The feeds of block graph `s` (and of its backward graph) for a batch of B rows × T new positions. */
export function blockFeeds(s: BlockSpec, f: BlockFeeds, B: number, T: number): Record<string, ort.Tensor> {
  const N = B * T;
  const C = f.x.length / N;
  const Tk = T + (f.past?.T ?? 0);
  const t = hostTensor;
  const feeds: Record<string, ort.Tensor> = {
    x: t(f.x, [N, C]),
    mask: t(f.mask.bias, [B, 1, 1, T, Tk]),
    qmask: t(f.mask.query, [B, 1, 1, T, 1]),
    n1w: t(f.norm1.w, [C]),
    n2w: t(f.norm2.w, [C]),
  };
  if (s.layernorm) {
    feeds.n1b = t(f.norm1.b!, [C]);
    feeds.n2b = t(f.norm2.b!, [C]);
  }
  for (const p of PROJECTIONS) {
    const { w, b, lora, out, in: inDim } = f.proj[p];
    feeds[`w_${p}`] = t(w, [out, inDim]);
    if (s.bias[p]) feeds[`b_${p}`] = t(b!, [out]);
    if (s.lora[p]) {
      feeds[`lora_a_${p}`] = t(lora!.A, [lora!.r, inDim]);
      feeds[`lora_b_${p}`] = t(lora!.B, [out, lora!.r]);
    }
  }
  if (s.R > 0) {
    feeds.cos = t(f.rope!.cos, [B, T, s.R / 2]);
    feeds.sin = t(f.rope!.sin, [B, T, s.R / 2]);
  }
  if (s.past) {
    feeds.past_k = t(f.past!.k, [B, s.Hkv, f.past!.T, s.D]);
    feeds.past_v = t(f.past!.v, [B, s.Hkv, f.past!.T, s.D]);
  }
  return feeds;
}

/**
 * Run block graph `s` on a batch of B rows × T new positions (Tk = past + T keys); y (N, C) receives the block's
 * output (it must not be x). With s.keepKV, K and V (B, Hkv, Tk, D) receive the keys and values (with s.tape: the tape's
 * K and V are they); with s.tape, returns the recorded intermediates, written into `reuse` (a tape the caller is done
 * with) when its sizes fit, else into fresh arrays; the block's input x is recorded as itself.
 */
export async function runBlock(
  s: BlockSpec,
  f: BlockFeeds,
  B: number,
  T: number,
  y: Float32Array,
  kv?: { K: Float32Array; V: Float32Array },
  reuse?: Record<TapeOutput, Float32Array>,
): Promise<Record<TapeOutput, Float32Array> | undefined> {
  const N = B * T;
  const C = f.x.length / N;
  const Tk = T + (f.past?.T ?? 0);
  const feeds = blockFeeds(s, f, B, T);
  const t = hostTensor;
  const fetches: Record<string, ort.Tensor> = { y: t(y, [N, C]) };
  if (s.keepKV && !s.tape) {
    fetches.k_out = t(kv!.K, [B, s.Hkv, Tk, s.D]);
    fetches.v_out = t(kv!.V, [B, s.Hkv, Tk, s.D]);
  }
  let tape: Record<TapeOutput, Float32Array> | undefined;
  if (s.tape) {
    const dims = tapeShapes(s, { N, C, B, T, Tk, U: f.proj.up.out, F: f.proj.down.in });
    const size = (name: TapeOutput) => dims[name].reduce((a, d) => a * d, 1);
    const outs = tapeOutputs(s);
    // an earlier tape's buffers when they have these sizes: fresh pages cost a fault each, more than the writes
    const into = reuse && outs.every((name) => reuse[name].length === size(name)) ? reuse : undefined;
    tape = Object.fromEntries(TAPE_OUTPUTS.map((name) => [name, outs.includes(name) ? (into?.[name] ?? new Float32Array(size(name))) : f.x])) as Record<TapeOutput, Float32Array>;
    for (const name of outs) fetches[`tape_${name}`] = t(tape[name], dims[name]);
  }
  const sess = await blockSession(s);
  await sess.run(feeds, fetches);
  return tape;
}
