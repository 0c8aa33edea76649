/**
 * One transformer block's backward pass as one onnxruntime graph: the block's forward recomputed from its input x
 * (block.ts's graph, recording its intermediates inside the graph), then the gradient of everything from dy, the
 * gradient at its output. What a checkpointed training step runs per block, on the CPU or on the WebGPU device.
 *
 *   linear     y = x·Wᵀ + b (+ (x·Aᵀ)·(sB)ᵀ)   dx = dy·W (+ dxa·A),  dW = dyᵀ·x,  db = Σ_rows dy
 *                                               dxa = dy·(sB),  d(sB) = dyᵀ·(x·Aᵀ),  dA = dxaᵀ·x
 *   norm       x̂ = (x − μ)·rstd, y = x̂·w + b   dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), dx̂ = dy·w
 *              (RMSNorm: x̂ = x·rstd, no mean term);  dw = Σ_rows dy·x̂,  db = Σ_rows dy
 *   activation dx = dy·act'(x)                      gated: act(g)·u ⇒ dg = dy·u·act'(g), du = dy·act(g)
 *   attention  ctx = P·V, P = softmax(Q·Kᵀ/√D + mask) ⊙ qmask
 *              dV = Σ_g Pᵀ·dctx, dP = dctx·Vᵀ, dS = P⊙(dP − rowsum(dP⊙P))/√D, dQ = dS·K, dK = Σ_g dSᵀ·Q
 *              (P carries the query mask: a padding query's row of P is 0, so is its dS)
 *   rotary     a rotation by θ per pair of dims; its transpose is the rotation by −θ: RotaryEmbedding with −sin
 *   residual   parallel:   dx = dy + norm1ᵀ(attnᵀ(dy)) + norm2ᵀ(mlpᵀ(dy))
 *              sequential: dmid = dy + norm2ᵀ(mlpᵀ(dy));  dx = dmid + norm1ᵀ(attnᵀ(dmid))
 *
 * Outputs: dx (N, C), and per parameter `d_<input name>` (d_w_qkv, d_b_o, d_n1w, …) when weight gradients are
 * asked, and d_lora_a_<p>, d_lora_b_<p> for every projection with a LoRA update (the latter with respect to the fed
 * s·B: the caller multiplies by s). No cache: training sees whole sequences (Tk = T).
 */
import ort from "onnxruntime-node";
import { onnxModel, type AttrValue, type OnnxNode } from "./onnx.ts";
import { activationNodes, blockFeeds, blockGraphParts, hostTensor, PROJECTIONS, type BlockFeeds, type BlockGraph, type BlockSpec, type Projection, type TapeOutput } from "./block.ts";
import { session } from "./matmul.ts";

/** The input dimensions of each projection's weight (out, in), as named in the block graph. */
const PROJ_DIMS: Record<Projection, [string, string]> = { qkv: ["W", "C"], o: ["C", "HD"], up: ["U", "C"], down: ["C", "F"] };

/** The graph parameters whose gradients a backward graph with weight gradients outputs, with their shapes. */
export function weightGradNames(s: BlockSpec): [string, string[]][] {
  const out: [string, string[]][] = [["n1w", ["C"]], ["n2w", ["C"]]];
  if (s.layernorm) out.push(["n1b", ["C"]], ["n2b", ["C"]]);
  for (const p of Object.keys(PROJ_DIMS) as Projection[]) {
    out.push([`w_${p}`, PROJ_DIMS[p]]);
    if (s.bias[p]) out.push([`b_${p}`, [PROJ_DIMS[p][0]]]);
  }
  return out;
}

export function blockBackwardGraphParts(spec: BlockSpec, weightGrads: boolean): BlockGraph {
  const s: BlockSpec = { ...spec, past: false, keepKV: false, tape: true };
  const fwd = blockGraphParts(s);
  const nodes: OnnxNode[] = [...fwd.nodes];
  let next = 0;
  /** a node; its output is `out` when named (a graph output written in place), else a fresh name */
  const one = (type: string, inputs: string[], attrs?: Record<string, AttrValue>, out?: string): string => {
    const o = out ?? `g${next++}`;
    nodes.push({ op: type, inputs, outputs: [o], attrs });
    return o;
  };
  const split = (x: string, n: number): string[] => {
    const outs = Array.from({ length: n }, () => `g${next++}`);
    nodes.push({ op: "Split", inputs: [x], outputs: outs, attrs: { axis: -1, num_outputs: n } });
    return outs;
  };
  const ints = (v: number[]) => one("Constant", [], { value_ints: v });
  const float = (v: number) => one("Constant", [], { value_float: { float: v } });
  const mul = (a: string, b: string) => one("Mul", [a, b]);
  const add = (a: string, b: string, out?: string) => one("Add", [a, b], undefined, out);
  const sub = (a: string, b: string) => one("Sub", [a, b]);
  const sumRows = (x: string, out: string) => one("ReduceSum", [x, ints([0])], { keepdims: 0 }, out);
  const meanLast = (x: string) => one("ReduceMean", [x, ints([-1])], { keepdims: 1 });
  const swapLast = (x: string, rank: number) => one("Transpose", [x], { perm: [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2] });

  const outputs: [string, (string | number)[]][] = [["dx", ["N", "C"]]];
  const gradOut = (name: string, dims: string[]) => {
    outputs.push([`d_${name}`, dims]);
    return `d_${name}`;
  };
  const wantGrad = new Map(weightGrads ? weightGradNames(s) : []);
  /** the forward's recording of t inside this graph: the block input itself for ln1's input (and ln2's when parallel) */
  const tape = (t: TapeOutput) => (t === "ln1_inp" || (t === "ln2_inp" && s.parallel) ? "x" : `tape_${t}`);
  const { H, Hkv, D, R } = s;
  const g = H / Hkv;
  const BT = one("Concat", [one("Shape", ["mask"], { start: 0, end: 1 }), one("Shape", ["mask"], { start: 3, end: 4 })], { axis: 0 });
  const reshape = (x: string, tail: number[]) => one("Reshape", [x, one("Concat", [BT, ints(tail)], { axis: 0 })]);

  /** dy (N, out) at projection p's output, x (N, in) its input → dx (N, in); parameter gradients as outputs */
  const linearBack = (p: Projection, x: string, dy: string): string => {
    const [outDim, inDim] = PROJ_DIMS[p];
    let dx = one("Gemm", [dy, `w_${p}`]);
    if (wantGrad.has(`w_${p}`)) one("Gemm", [dy, x], { transA: 1 }, gradOut(`w_${p}`, [outDim, inDim]));
    if (wantGrad.has(`b_${p}`)) sumRows(dy, gradOut(`b_${p}`, [outDim]));
    if (s.lora[p]) {
      const r = `r_${p}`;
      const xa = one("Gemm", [x, `lora_a_${p}`], { transB: 1 }); // (N, r)
      one("Gemm", [dy, xa], { transA: 1 }, gradOut(`lora_b_${p}`, [outDim, r])); // (out, r)
      const dxa = one("Gemm", [dy, `lora_b_${p}`]); // (N, r)
      one("Gemm", [dxa, x], { transA: 1 }, gradOut(`lora_a_${p}`, [r, inDim])); // (r, in)
      dx = one("Gemm", [dxa, `lora_a_${p}`, dx]); // dx + dxa·A
    }
    return dx;
  };

  /** dout (N, C) at norm `which`'s output → its contribution to the gradient at the norm's input */
  const normBack = (which: 1 | 2, dout: string): string => {
    const inp = tape(`ln${which}_inp`);
    const rstd = tape(`ln${which}_rstd`);
    const xhat = s.layernorm ? mul(sub(inp, tape(`ln${which}_mean`)), rstd) : mul(inp, rstd);
    if (wantGrad.has(`n${which}w`)) sumRows(mul(dout, xhat), gradOut(`n${which}w`, ["C"]));
    if (wantGrad.has(`n${which}b`)) sumRows(dout, gradOut(`n${which}b`, ["C"]));
    const dxhat = mul(dout, `n${which}w`);
    let inner = sub(dxhat, mul(xhat, meanLast(mul(dxhat, xhat))));
    if (s.layernorm) inner = sub(inner, meanLast(dxhat));
    return mul(inner, rstd);
  };

  const GELU_TANH_C = Math.sqrt(2 / Math.PI);
  const act = (x: string) => activationNodes(s.activation, x, one);
  /** act'(x), elementwise */
  const actGrad = (x: string): string => {
    switch (s.activation) {
      case "gelu": {
        // Φ(x) + x·φ(x)
        const cdf = mul(add(one("Erf", [mul(x, float(Math.SQRT1_2))]), float(1)), float(0.5));
        const pdf = mul(one("Exp", [mul(mul(x, x), float(-0.5))]), float(1 / Math.sqrt(2 * Math.PI)));
        return add(cdf, mul(x, pdf));
      }
      case "gelu_new": {
        // ½(1 + t) + ½x(1 − t²)·c(1 + 3·0.044715x²), t = tanh(c(x + 0.044715x³))
        const x2 = mul(x, x);
        const t = one("Tanh", [mul(mul(x, add(mul(x2, float(0.044715)), float(1))), float(GELU_TANH_C))]);
        const left = mul(add(t, float(1)), float(0.5));
        const right = mul(mul(mul(x, sub(float(1), mul(t, t))), float(0.5 * GELU_TANH_C)), add(mul(x2, float(3 * 0.044715)), float(1)));
        return add(left, right);
      }
      case "relu":
        return one("Cast", [one("Greater", [x, float(0)])], { to: 1 });
      case "silu": {
        const sg = one("Sigmoid", [x]);
        return mul(sg, add(float(1), mul(x, sub(float(1), sg))));
      }
    }
  };

  const mlpBack = (dOut: string): string => {
    const dact = linearBack("down", tape("act"), dOut);
    let dup: string;
    if (!s.gated) dup = mul(dact, actGrad(tape("up")));
    else {
      const [gate, u] = split(tape("up"), 2);
      dup = one("Concat", [mul(mul(dact, u), actGrad(gate)), mul(dact, act(gate))], { axis: -1 });
    }
    return linearBack("up", tape("ln2_out"), dup);
  };

  const attnBack = (dOut: string): string => {
    const dmerged = linearBack("o", tape("merged"), dOut); // (N, H·D)
    const dctx = one("Transpose", [reshape(dmerged, [Hkv, g, D])], { perm: [0, 2, 3, 1, 4] }); // (B,Hkv,g,T,D)
    const [P, Q, K, V] = [tape("P"), tape("Q"), tape("K"), tape("V")];
    const dP = one("MatMul", [dctx, swapLast(one("Unsqueeze", [V, ints([2])]), 5)]); // (B,Hkv,g,T,Tk)
    const dV = one("ReduceSum", [one("MatMul", [swapLast(P, 5), dctx]), ints([2])], { keepdims: 0 }); // (B,Hkv,Tk,D)
    const dS = mul(mul(P, sub(dP, one("ReduceSum", [mul(dP, P), ints([-1])], { keepdims: 1 }))), float(1 / Math.sqrt(D)));
    const dQ = one("MatMul", [dS, one("Unsqueeze", [K, ints([2])])]); // (B,Hkv,g,T,D)
    const dK = one("ReduceSum", [one("MatMul", [swapLast(dS, 5), Q]), ints([2])], { keepdims: 0 }); // (B,Hkv,Tk,D)
    // back to (B, T, heads·D), the layout rotary saw
    let dq = reshape(one("Transpose", [dQ], { perm: [0, 3, 1, 2, 4] }), [H * D]);
    let dk = reshape(one("Transpose", [dK], { perm: [0, 2, 1, 3] }), [Hkv * D]);
    const dv = reshape(one("Transpose", [dV], { perm: [0, 2, 1, 3] }), [Hkv * D]);
    if (R > 0) {
      const negSin = one("Neg", ["sin"]);
      const unrotate = (x: string, heads: number) => one("RotaryEmbedding", [x, "cos", negSin], { num_heads: heads, rotary_embedding_dim: R, interleaved: 0 });
      [dq, dk] = [unrotate(dq, H), unrotate(dk, Hkv)];
    }
    // the fused projection's layout: per head [q | k | v] (GPT-NeoX), or [all q | all k | all v]
    const dqkv = s.neox
      ? one("Reshape", [one("Concat", [reshape(dq, [H, D]), reshape(dk, [H, D]), reshape(dv, [H, D])], { axis: -1 }), ints([-1, 3 * H * D])])
      : one("Reshape", [one("Concat", [dq, dk, dv], { axis: -1 }), ints([-1, (H + 2 * Hkv) * D])]);
    return linearBack("qkv", tape("ln1_out"), dqkv);
  };

  if (s.parallel) {
    add(add("dy", normBack(2, mlpBack("dy"))), normBack(1, attnBack("dy")), "dx");
  } else {
    const dmid = add("dy", normBack(2, mlpBack("dy")));
    add(dmid, normBack(1, attnBack(dmid)), "dx");
  }
  const kept = prune(nodes, outputs.map(([n]) => n));
  // only the inputs the gradients read (a bias of the recomputed output, e.g., is not): an unused weight would be an
  // unused initializer on the device, which onnxruntime warns about
  const used = new Set(kept.flatMap((n) => n.inputs));
  const inputs = [...fwd.inputs, ["dy", ["N", "C"]] as [string, (string | number)[]]].filter(([n]) => used.has(n));
  return { nodes: kept, inputs, outputs };
}

/** The nodes that the named outputs depend on (the recomputed forward's output y and the rest go). */
function prune(nodes: OnnxNode[], outputs: string[]): OnnxNode[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.outputs.forEach((o) => producer.set(o, i)));
  const keep = new Set<number>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const i = producer.get(stack.pop()!);
    if (i === undefined || keep.has(i)) continue;
    keep.add(i);
    stack.push(...nodes[i].inputs);
  }
  return nodes.filter((_, i) => keep.has(i));
}

/** The CPU session of a backward graph, built once per spec. */
function blockBackwardSession(s: BlockSpec, weightGrads: boolean): Promise<ort.InferenceSession> {
  return session(`block-backward:${JSON.stringify(s)}:${weightGrads}`, () => {
    const { nodes, inputs, outputs } = blockBackwardGraphParts(s, weightGrads);
    return onnxModel(nodes, inputs, outputs, "float32", 23);
  }, true);
}

/** The sizes of a backward graph's outputs for these feeds: dx, then every `d_` gradient, by output name. */
export function backwardOutputDims(s: BlockSpec, f: Pick<BlockFeeds, "proj">, N: number, C: number, weightGrads: boolean): Map<string, number[]> {
  const size: Record<string, number> = { C, W: f.proj.qkv.out, HD: f.proj.o.in, U: f.proj.up.out, F: f.proj.down.in };
  const out = new Map<string, number[]>([["dx", [N, C]]]);
  if (weightGrads) for (const [name, dims] of weightGradNames(s)) out.set(`d_${name}`, dims.map((d) => size[d]));
  for (const p of PROJECTIONS) {
    if (!s.lora[p]) continue;
    const { out: o, in: i, lora } = f.proj[p];
    out.set(`d_lora_a_${p}`, [lora!.r, i]);
    out.set(`d_lora_b_${p}`, [o, lora!.r]);
  }
  return out;
}

/**
 * Block `s`'s backward on the CPU for a batch of B rows × T positions: f.x is the block's input, dy (N, C) the
 * gradient at its output. Each output (dx and the `d_` gradients, see backwardOutputDims) is written into the buffer
 * `into(name, size)` gives; returned by name.
 */
export async function runBlockBackward(
  s: BlockSpec,
  f: BlockFeeds,
  dy: Float32Array,
  B: number,
  T: number,
  weightGrads: boolean,
  into: (name: string, size: number) => Float32Array,
): Promise<Map<string, Float32Array>> {
  const N = B * T;
  const C = f.x.length / N;
  const feeds = blockFeeds(s, f, B, T);
  feeds.dy = hostTensor(dy, [N, C]);
  const outs = new Map<string, Float32Array>();
  const fetches: Record<string, ort.Tensor> = {};
  for (const [name, dims] of backwardOutputDims(s, f, N, C, weightGrads)) {
    const buf = into(name, dims.reduce((a, d) => a * d, 1));
    outs.set(name, buf);
    fetches[name] = hostTensor(buf, dims);
  }
  const sess = await blockBackwardSession(s, weightGrads);
  for (const name of Object.keys(feeds)) if (!sess.inputNames.includes(name)) delete feeds[name];
  await sess.run(feeds, fetches);
  return outs;
}
