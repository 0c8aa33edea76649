/**
 * The forward pass on onnxruntime's WebGPU provider: the same block graphs as block.ts, with the weights on the device.
 *
 *   weights      each block's graph holds its norms, projections and biases as initializers (bytes handed over as
 *                onnxruntime external data, views of our own buffers): uploaded once, when the block's session is
 *                made at the model's first forward, and kept there (a streamed model's are dropped after each use).
 *                f16 matrices stay f16 on the device (a Cast node widens them, exactly, in each run) when the adapter
 *                has shader-f16; bf16 (no WebGPU type) and f16 without it go up as their exact f32.
 *   activations  each block's output y and its keys and values stay on the device (preferredOutputLocation
 *                "gpu-buffer") and go into the next block, or into the continuation's block as its past, as they are;
 *                the masks and rotary tables go up once per forward. What comes back from each block is its output
 *                at the rows asked for (taps' rows and those that get logits, picked by a product on the device);
 *                the final norm runs on those rows on the host, as on the CPU (it is row by row), and their logits
 *                on the device (the unembedding is there). A hook, which may edit the whole (B,T,C) activation, takes
 *                it to the host and its edit goes back up with the next block's input.
 *   LoRA         unmerged updates are inputs (rank × width: small), so attaching or changing one needs no new session.
 *   training     each block's backward graph (block-backward.ts) holds a second copy of its weights; dx stays on the
 *                device between blocks, the weights' and LoRA gradients come back. The loss (headLoss) runs on the
 *                device from the rows that get logits: only nll, ∂L/∂h and ∂L/∂U come back, never the (M, V) logits.
 *
 * Downloads go through a one-node Identity session whose output is on the CPU: onnxruntime-node 1.30's own
 * `Tensor.getData()` on a gpu-buffer tensor aborts the process (C++ exception thrown as a `char const*`).
 */
import ort from "onnxruntime-node";
import type { ModelConfig } from "./config.ts";
import { blockGraphParts, PROJECTIONS, type BlockGraph, type BlockSpec, type Projection } from "./block.ts";
import { blockBackwardGraphParts } from "./block-backward.ts";
import { webgpuSession } from "./device.ts";
import { onnxModel, type ExternalInitializer, type OnnxNode } from "./onnx.ts";
import { addInPlace } from "./layers.ts";
import { Half, type LayerParams, type Weight } from "./params.ts";

/** A tensor where the WebGPU provider left it (or a host tensor we hand it). */
export type DeviceTensor = ort.Tensor;

const dims = (d: number[]) => d.reduce((a, b) => a * b, 1);

/** Whether the adapter runs f16 kernels: a Cast from f16 with the CPU fallback switched off either builds or not. */
let f16Probe: Promise<boolean> | undefined;
export function adapterHasF16(): Promise<boolean> {
  f16Probe ??= (async () => {
    const g = onnxModel([{ op: "Cast", inputs: ["h"], outputs: ["f"], attrs: { to: 1 } }], [["h", [1]]], [["f", [1]]], "float16");
    try {
      const s = await ort.InferenceSession.create(g, { executionProviders: ["webgpu"], extra: { session: { disable_cpu_ep_fallback: "1" } } });
      await s.release();
      return true;
    } catch {
      return false;
    }
  })();
  return f16Probe;
}

/** Identity sessions that move a tensor of a given rank onto the device ("gpu-buffer") or back ("cpu"). */
const movers = new Map<string, Promise<ort.InferenceSession>>();
function mover(rank: number, to: "gpu-buffer" | "cpu"): Promise<ort.InferenceSession> {
  const key = `${rank}:${to}`;
  let s = movers.get(key);
  if (!s) {
    const d = Array.from({ length: rank }, (_, i) => `d${i}`);
    s = webgpuSession(onnxModel([{ op: "Identity", inputs: ["x"], outputs: ["y"] }], [["x", d]], [["y", d]]), { outputs: { y: to } });
    movers.set(key, s);
  }
  return s;
}

/** A host array onto the device, once (for what every block reads: masks, rotary tables). */
export async function upload(data: Float32Array, shape: number[]): Promise<DeviceTensor> {
  const s = await mover(shape.length, "gpu-buffer");
  return (await s.run({ x: new ort.Tensor("float32", data.subarray(0, dims(shape)), shape) })).y;
}

/**
 * A device tensor copied into memory of the movers' sessions, which live as long as the process. A session's outputs
 * must not outlive it (freeing one after its session is gone crashes onnxruntime), so whatever outlives a forward
 * (a cache's keys and values) or a released session (a streamed block's outputs) is moved first.
 */
export async function persist(t: DeviceTensor): Promise<DeviceTensor> {
  const s = await mover(t.dims.length, "gpu-buffer");
  const y = (await s.run({ x: t })).y;
  release(t);
  return y;
}

/** A device tensor's values into `out` (its size). */
export async function download(t: DeviceTensor, out: Float32Array): Promise<Float32Array> {
  const s = await mover(t.dims.length, "cpu");
  await s.run({ x: t }, { y: new ort.Tensor("float32", out.subarray(0, dims([...t.dims])), [...t.dims]) });
  return out;
}

/** Free a tensor's device memory (host tensors: nothing to do). */
export function release(t: DeviceTensor | Float32Array | undefined): void {
  if (t && !(t instanceof Float32Array) && t.location === "gpu-buffer") t.dispose();
}

/** The graph's weight inputs as initializers: f16 bits as they are (then a Cast node), everything else as f32. */
function withWeights(
  g: ReturnType<typeof blockGraphParts>,
  weights: Map<string, Weight>,
  f16: boolean,
): { graph: Uint8Array; externalData: { path: string; data: Uint8Array }[] } {
  const inits: ExternalInitializer[] = [];
  const casts: OnnxNode[] = [];
  const externalData: { path: string; data: Uint8Array }[] = [];
  const inputs = g.inputs.filter(([name, shape]) => {
    const w = weights.get(name);
    if (!w) return true;
    const sizes = shape.map((d) => {
      if (typeof d !== "number") throw new Error(`webgpu: weight ${name} has a symbolic dimension; give the block its sizes`);
      return d;
    });
    const half = w instanceof Half && w.dtype === "F16" && f16;
    const bytes = half ? new Uint8Array(w.bits.buffer, w.bits.byteOffset, w.bits.byteLength) : toBytes(w);
    const file = `${name}.bin`;
    inits.push({ name: half ? `${name}_f16` : name, dims: sizes, elem: half ? "float16" : "float32", file, offset: 0, length: bytes.byteLength });
    if (half) casts.push({ op: "Cast", inputs: [`${name}_f16`], outputs: [name], attrs: { to: 1 } });
    externalData.push({ path: file, data: bytes });
    return false;
  });
  return { graph: onnxModel([...casts, ...g.nodes], inputs, g.outputs, "float32", 23, inits), externalData };
}

/** f32 bytes of a weight (a 16-bit one upcast, exact). */
function toBytes(w: Weight | Float32Array): Uint8Array {
  const f = w instanceof Half ? w.upcastInto(new Float32Array(w.length)) : w;
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
}

/** Logit values headLoss holds at once on the device, by default (64 MiB of f32; 333 rows of a 50k vocabulary). */
const DEVICE_HEAD_CHUNK = 1 << 24;

/**
 * The loss graph of WebGpuModel.headLoss: inputs h (m, C), y (m, 1) targets as floats (exact below 2²⁴), c (m, 1),
 * and the initializers w = U (V, C), iota (V) = 0..V−1; outputs nll (m, 1), dh (m, C) and, withDU, du (V, C).
 * With s = z − max(z) and Σ = Σ_v exp(s): nll = log Σ − s[y], p = exp(s) / Σ (LogSoftmax has no WebGPU kernel; this is
 * its stable form in kernels that do). The one-hot rows are iota == y (no gather or scatter).
 */
export function headLossGraph(V: number, C: number, withDU: boolean): BlockGraph {
  const nodes: OnnxNode[] = [
    { op: "Gemm", inputs: ["h", "w"], outputs: ["z"], attrs: { transB: 1 } },
    { op: "Constant", inputs: [], outputs: ["axis1"], attrs: { value_ints: [1] } },
    { op: "ReduceMax", inputs: ["z", "axis1"], outputs: ["zmax"], attrs: { keepdims: 1 } },
    { op: "Sub", inputs: ["z", "zmax"], outputs: ["s"] },
    { op: "Exp", inputs: ["s"], outputs: ["e"] },
    { op: "ReduceSum", inputs: ["e", "axis1"], outputs: ["sum"], attrs: { keepdims: 1 } },
    { op: "Div", inputs: ["e", "sum"], outputs: ["p"] },
    { op: "Equal", inputs: ["y", "iota"], outputs: ["hit"] },
    { op: "Cast", inputs: ["hit"], outputs: ["onehot"], attrs: { to: 1 } },
    { op: "Mul", inputs: ["s", "onehot"], outputs: ["picked"] },
    { op: "ReduceSum", inputs: ["picked", "axis1"], outputs: ["s_y"], attrs: { keepdims: 1 } },
    { op: "Log", inputs: ["sum"], outputs: ["logsum"] },
    { op: "Sub", inputs: ["logsum", "s_y"], outputs: ["nll"] },
    { op: "Sub", inputs: ["p", "onehot"], outputs: ["p_minus_y"] },
    { op: "Mul", inputs: ["p_minus_y", "c"], outputs: ["dz"] },
    { op: "MatMul", inputs: ["dz", "w"], outputs: ["dh"] },
  ];
  const outputs: [string, (string | number)[]][] = [["nll", ["m", 1]], ["dh", ["m", C]]];
  if (withDU) {
    nodes.push({ op: "Gemm", inputs: ["dz", "h"], outputs: ["du"], attrs: { transA: 1 } });
    outputs.push(["du", [V, C]]);
  }
  return { nodes, inputs: [["h", ["m", C]], ["y", ["m", 1]], ["c", ["m", 1]], ["w", [V, C]], ["iota", [V]]], outputs };
}

/** A session of a head graph (the logits', the loss's): the unembedding as its initializer w, and `extra` beside it; every output copied back. */
async function headSession(g: BlockGraph, unembed: Weight, extra: Record<string, Float32Array> = {}): Promise<ort.InferenceSession> {
  const { graph, externalData } = withWeights(g, new Map<string, Weight>([["w", unembed], ...Object.entries(extra)]), await adapterHasF16());
  return webgpuSession(graph, { externalData, outputs: Object.fromEntries(g.outputs.map(([n]) => [n, "cpu" as const])) });
}

/** What a block's device graph reads each run. */
export interface DeviceBlockFeeds {
  /** (N, C), on the device or the host */
  x: DeviceTensor | Float32Array;
  /** (B,1,1,T,Tk), (B,1,1,T,1), (B,T,R/2) ×2, (M, N) the rows that come back: uploaded once per forward */
  mask: DeviceTensor;
  sel: DeviceTensor;
  qmask: DeviceTensor;
  cos?: DeviceTensor;
  sin?: DeviceTensor;
  /** (B, Hkv, P, D) keys and values of the cached positions (P = 0 without a cache) */
  pastK: DeviceTensor;
  pastV: DeviceTensor;
  lora: Partial<Record<Projection, { A: Float32Array; B: Float32Array; r: number }>>;
}

/**
 * One model's sessions on the device: a block graph per layer (its weights inside), the unembedding, the loss. Its tensors stay
 * within a forward, except a returned cache's, which are persisted (moved to the movers' memory).
 */
export class WebGpuModel {
  private readonly blocks = new Map<number, { key: string; session: Promise<ort.InferenceSession> }>();
  private readonly backwards = new Map<number, { key: string; session: Promise<ort.InferenceSession> }>();
  private head?: Promise<ort.InferenceSession>;
  /** the loss graphs (headLoss): [without, with] the unembedding's gradient */
  private losses: (Promise<ort.InferenceSession> | undefined)[] = [];

  /** whether a block's backward session leaves the device after its run (decided at the first backward) */
  private backwardStreamed?: boolean;

  constructor(
    private readonly cfg: ModelConfig,
    /** a streamed model: a block's weights leave the device after its run */
    private readonly streamed: boolean,
    /** whether the backward graphs' second copy of the weights does not fit beside the forward's (device.ts) */
    private readonly streamBackward: () => boolean = () => false,
  ) {}

  /** Drop every session (the weights changed, or the model is done with). */
  async release(): Promise<void> {
    const all = [...this.blocks.values(), ...this.backwards.values()].map((b) => b.session);
    if (this.head) all.push(this.head);
    for (const l of this.losses) if (l) all.push(l);
    this.blocks.clear();
    this.backwards.clear();
    this.head = undefined;
    this.losses = [];
    for (const s of all) await (await s).release();
  }

  /**
   * A session of graph `build()` with layer l's weights inside (their sizes filled in for the initializers: the CPU
   * graph leaves them symbolic), kept in `cache` under l while its key is the same; each output left on the device or
   * copied back, as `location` says.
   */
  private layerSession(
    cache: Map<number, { key: string; session: Promise<ort.InferenceSession> }>,
    l: number,
    key: string,
    layer: LayerParams,
    build: () => BlockGraph,
    location: (output: string) => "cpu" | "gpu-buffer",
  ): Promise<ort.InferenceSession> {
    const have = cache.get(l);
    if (have?.key === key) return have.session;
    if (have) have.session.then((s) => s.release());
    const { cfg } = this;
    const session = (async () => {
      const g = build();
      const size: Record<string, number> = { C: cfg.dModel, W: layer.qkv.outDim, HD: layer.o.inDim, U: layer.up.outDim, F: layer.down.inDim };
      g.inputs = g.inputs.map(([n, d]) => [n, /^(n[12][wb]|[wb]_)/.test(n) ? d.map((x) => (typeof x === "string" ? size[x] : x)) : d]);
      const lin = { qkv: layer.qkv, o: layer.o, up: layer.up, down: layer.down };
      const weights = new Map<string, Weight>([["n1w", layer.ln1.w], ["n2w", layer.ln2.w]]);
      if (layer.ln1.b) weights.set("n1b", layer.ln1.b);
      if (layer.ln2.b) weights.set("n2b", layer.ln2.b);
      for (const p of PROJECTIONS) {
        weights.set(`w_${p}`, lin[p].w);
        if (lin[p].b) weights.set(`b_${p}`, lin[p].b!);
      }
      const { graph, externalData } = withWeights(g, weights, await adapterHasF16());
      return webgpuSession(graph, { externalData, outputs: Object.fromEntries(g.outputs.map(([n]) => [n, location(n)])) });
    })();
    cache.set(l, { key, session });
    return session;
  }

  /** The block graph of layer l, made once per spec; rows_out (M, C) = sel (M, N) · y: the rows that come back to the host. */
  private blockSession(l: number, spec: BlockSpec, layer: LayerParams): Promise<ort.InferenceSession> {
    const build = () => {
      const g = blockGraphParts(spec);
      g.nodes.push({ op: "MatMul", inputs: ["sel", "y"], outputs: ["rows_out"] });
      g.inputs.push(["sel", ["M", "N"]]);
      g.outputs.push(["rows_out", ["M", "C"]]);
      return g;
    };
    return this.layerSession(this.blocks, l, JSON.stringify(spec), layer, build, (n) => (n === "rows_out" ? "cpu" : "gpu-buffer"));
  }

  /** The feeds every block graph of layer l reads: its input, masks, rotary tables, LoRA updates (host arrays go up with the run). */
  private feeds(layer: LayerParams, f: Pick<DeviceBlockFeeds, "x" | "mask" | "qmask" | "cos" | "sin" | "lora">, N: number): Record<string, ort.Tensor> {
    const host = (data: Float32Array, shape: number[]) => new ort.Tensor("float32", data.subarray(0, dims(shape)), shape);
    const feeds: Record<string, ort.Tensor> = { x: f.x instanceof Float32Array ? host(f.x, [N, this.cfg.dModel]) : f.x, mask: f.mask, qmask: f.qmask };
    if (f.cos && f.sin) {
      feeds.cos = f.cos;
      feeds.sin = f.sin;
    }
    const lin = { qkv: layer.qkv, o: layer.o, up: layer.up, down: layer.down };
    for (const p of PROJECTIONS) {
      const d = f.lora[p];
      if (!d) continue;
      feeds[`lora_a_${p}`] = host(d.A, [d.r, lin[p].inDim]);
      feeds[`lora_b_${p}`] = host(d.B, [lin[p].outDim, d.r]);
    }
    return feeds;
  }

  /**
   * Block l on the device: y (N,C), and the keys and values of every position so far (B,Hkv,Tk,D), all left there.
   * The caller releases what it is done with.
   */
  async block(l: number, spec: BlockSpec, layer: LayerParams, f: DeviceBlockFeeds, B: number, T: number): Promise<{ y: DeviceTensor; K: DeviceTensor; V: DeviceTensor; rows: Float32Array }> {
    const sess = await this.blockSession(l, spec, layer);
    const feeds = { ...this.feeds(layer, f, B * T), past_k: f.pastK, past_v: f.pastV, sel: f.sel };
    // every output, always: onnxruntime-node refuses a subset that holds a CPU output ("Output count mismatch")
    const out = await sess.run(feeds);
    const rows = out.rows_out.data as Float32Array;
    if (!this.streamed) return { y: out.y, K: out.k_out, V: out.v_out, rows };
    // a streamed model's block leaves the device (the next forward uploads it again); its outputs move out first
    const moved = { y: await persist(out.y), K: await persist(out.k_out), V: await persist(out.v_out), rows };
    this.blocks.delete(l);
    await sess.release();
    return moved;
  }

  /**
   * Block l's backward graph (block-backward.ts) on the device, its weights inside (a second copy beside the forward's:
   * training holds each block's weights twice): x (N,C) the block's input, dy (N,C) the gradient at its output →
   * dx (N,C), left on the device, and the `d_` gradients (weights when asked, LoRA), copied back.
   */
  async blockBackward(
    l: number,
    spec: BlockSpec,
    layer: LayerParams,
    f: Pick<DeviceBlockFeeds, "x" | "mask" | "qmask" | "cos" | "sin" | "lora">,
    dy: DeviceTensor | Float32Array,
    B: number,
    T: number,
    weightGrads: boolean,
  ): Promise<{ dx: DeviceTensor; grads: Map<string, Float32Array> }> {
    const N = B * T;
    const sess = await this.layerSession(this.backwards, l, JSON.stringify([spec, weightGrads]), layer, () => blockBackwardGraphParts(spec, weightGrads), (n) => (n === "dx" ? "gpu-buffer" : "cpu"));
    const feeds = this.feeds(layer, f, N);
    feeds.dy = dy instanceof Float32Array ? new ort.Tensor("float32", dy.subarray(0, N * this.cfg.dModel), [N, this.cfg.dModel]) : dy;
    for (const name of Object.keys(feeds)) if (!sess.inputNames.includes(name)) delete feeds[name];
    const out = await sess.run(feeds);
    const grads = new Map(Object.entries(out).flatMap(([n, t]) => (n === "dx" ? [] : [[n, t.data as Float32Array] as const])));
    if (!this.streamed && !(this.backwardStreamed ??= this.streamBackward())) return { dx: out.dx, grads };
    // streamed: this block's weights leave the device, as after its forward; dx moves out of the session first
    const dx = await persist(out.dx);
    this.backwards.delete(l);
    await sess.release();
    return { dx, grads };
  }

  /**
   * The training loss at M rows on the device (loss.ts's math, one graph per group of rows; the unembedding held as in
   * `logits`): rows h (M, C), targets y (M), coefficients c (M) →
   *   z = h · Uᵀ (m, V);  nll = logsumexp(z) − z[y];  dz = c · (softmax(z) − onehot(y));  dh = dz · U (m, C)
   * and, with gradUnembed (V, C), ∂L/∂U = dzᵀ · h added into it. Only nll, dh and ∂L/∂U come back: the (m, V) logits
   * and their gradient never leave the device. Rows go through in groups of ⌊chunk / V⌋ (at least one).
   */
  async headLoss(rows: Float32Array, targets: Int32Array, coef: Float32Array, unembed: Weight, opts: { gradUnembed?: Float32Array; chunk?: number } = {}): Promise<{ nll: Float32Array; dh: Float32Array }> {
    const { dModel: C, vocabSize: V } = this.cfg;
    const M = targets.length;
    const withDU = opts.gradUnembed !== undefined;
    const key = withDU ? 1 : 0;
    const s = await (this.losses[key] ??= headSession(headLossGraph(V, C, withDU), unembed, { iota: Float32Array.from({ length: V }, (_, v) => v) }));
    const group = Math.max(1, Math.min(M, Math.floor((opts.chunk ?? DEVICE_HEAD_CHUNK) / V)));
    const nll = new Float32Array(M);
    const dh = new Float32Array(M * C);
    const dU = withDU ? new Float32Array(V * C) : undefined;
    const yf = Float32Array.from(targets);
    const t = (data: Float32Array, shape: number[]) => new ort.Tensor("float32", data, shape);
    for (let r0 = 0; r0 < M; r0 += group) {
      const m = Math.min(group, M - r0);
      const fetches: Record<string, ort.Tensor> = { nll: t(nll.subarray(r0, r0 + m), [m, 1]), dh: t(dh.subarray(r0 * C, (r0 + m) * C), [m, C]) };
      if (dU) fetches.du = t(dU, [V, C]);
      await s.run({ h: t(rows.subarray(r0 * C, (r0 + m) * C), [m, C]), y: t(yf.subarray(r0, r0 + m), [m, 1]), c: t(coef.subarray(r0, r0 + m), [m, 1]) }, fetches);
      if (dU) addInPlace(opts.gradUnembed!, dU);
    }
    return { nll, dh };
  }

  /** logits (M, V) = rows (M, C) · unembedᵀ, the unembedding on the device (uploaded at the first call). */
  async logits(rows: Float32Array, M: number, unembed: Weight): Promise<Float32Array> {
    const { dModel: C, vocabSize: V } = this.cfg;
    this.head ??= headSession({ nodes: [{ op: "Gemm", inputs: ["rows", "w"], outputs: ["logits"], attrs: { transB: 1 } }], inputs: [["rows", ["M", C]], ["w", [V, C]]], outputs: [["logits", ["M", V]]] }, unembed);
    const out = new Float32Array(M * V);
    await (await this.head).run({ rows: new ort.Tensor("float32", rows.subarray(0, M * C), [M, C]) }, { logits: new ort.Tensor("float32", out, [M, V]) });
    return out;
  }
}
