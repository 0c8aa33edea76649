/**
 * The hooked transformer: GPT-NeoX (Pythia), Llama and Mistral, forward pass with padding masks, a KV
 * cache and hook points on the residual stream. Read it top to bottom:
 *
 *   x = embed(tokens)                                          hook_embed
 *   for each block i:                                          blocks.i.hook_resid_pre
 *     a = attn(norm1(x))
 *     parallel (GPT-NeoX):  x = x + a + mlp(norm2(x))
 *     sequential:           x = x + a;  x = x + mlp(norm2(x))
 *                                                              blocks.i.hook_resid_post
 *   h = norm_final(x)                                          ln_final.hook_normalized
 *   logits = h · unembedᵀ   (only at the positions asked for)
 *
 * Batches are left-padded: row b's real tokens are the last ones; positions count real tokens only,
 * so an example gives the same result alone or inside a padded batch.
 */
import ort from "onnxruntime-node";
import type { ModelConfig } from "./config.ts";
import {
  activationForward,
  addInPlace,
  gatedActivationForward,
  layernormForward,
  causalSoftmaxForward,
  rmsnormForward,
  ropeForward,
  ropeTables,
} from "./layers.ts";
import { bmm, gemm, linear, oneProduct, withF32 } from "./matmul.ts";
import { attentionMask, PROJECTIONS, runBlock, type BlockFeeds, type BlockSpec, type Projection } from "./block.ts";
import { runBlockBackward } from "./block-backward.ts";
import { qkvLayout, type Activation, type BlockGradients, type LayerTape, type NormTape, type ResidualGradient, type Tape } from "./activations.ts";
import { allocParams, embedRows, toF32, type FusedLinear, type LayerParams, type Linear, type ModelParams, type Norm, type Weight } from "./params.ts";
import { resolveDevice, streamBackwardOnDevice, streamOnDevice, type Device, type DeviceChoice } from "./device.ts";
import { adapterHasF16, download, persist, release, upload, WebGpuModel, type DeviceTensor } from "./webgpu.ts";

/** A hook reads, and may edit in place, an activation of shape (B,T,C). */
export type Hook = (x: Float32Array, shape: { B: number; T: number; C: number }) => void;
/** Hook point names: hook_embed, blocks.{i}.hook_resid_pre, blocks.{i}.hook_resid_post, ln_final.hook_normalized */
export type Hooks = Record<string, Hook>;

/** A low-rank update of one linear layer: Δw = scale · B · A, A (r, in), B (out, r). */
export interface LoraDelta {
  A: Float32Array;
  B: Float32Array;
  r: number;
  scale: number;
}

/** Keys and values of the positions seen so far; immutable (a forward with a cache returns a new one). */
export interface KVCache {
  B: number;
  /** cached positions per row (padding included) */
  T: number;
  /** per layer: K and V, (B, Hkv, T, D), rotary applied to K */
  k: Float32Array[];
  v: Float32Array[];
  /** (B, T): 1 for real tokens, 0 for padding */
  mask: Uint8Array;
  /** (B): position id the next real token of each row gets */
  nextPos: Int32Array;
  /** on the WebGPU device: per layer K and V as the device holds them (then k and v are empty) */
  device?: { k: DeviceTensor[]; v: DeviceTensor[] };
}

/** A device cache's tensors are freed when the cache is collected (it is immutable and may be continued many times). */
const deviceCaches = new FinalizationRegistry<DeviceTensor[]>((ts) => ts.forEach(release));

export interface ForwardInput {
  /** (B, T) token ids, left-padded */
  tokens: Int32Array;
  B: number;
  T: number;
  /** (B, T): 1 real, 0 padding; default all real */
  mask?: Uint8Array;
  /** continue these positions */
  cache?: KVCache;
}

/**
 * Read-only taps: at hook points blocks.{i}.hook_resid_post and ln_final.hook_normalized, `read[name]` gets the rows
 * at the flat positions `rows` (b·T + t), (M, C) for M = rows.length, after that point's hook if any. What extraction
 * stores: on a device only these rows come back, where a hook needs the whole (B,T,C) activation on the host.
 */
export interface Taps {
  rows: Int32Array;
  read: Record<string, (rows: Float32Array) => void>;
}

/** out (M, C) = x's rows at `rows` */
function gatherRows(x: Float32Array, rows: Int32Array, C: number, out = new Float32Array(rows.length * C)): Float32Array {
  for (let i = 0; i < rows.length; i++) out.set(x.subarray(rows[i] * C, rows[i] * C + C), i * C);
  return out;
}

export interface ForwardOptions {
  hooks?: Hooks;
  taps?: Taps;
  /** which positions get logits: every position, the last of each row (default), none, or the given flat positions b·T + t */
  logits?: "all" | "last" | "none" | Int32Array;
  /** return the KV cache for a continuation */
  returnCache?: boolean;
  /** record what the backward pass needs (returned as `tape`; see src/train/backward.ts) */
  tape?: boolean;
  /** with tape: an earlier forward's tape the caller is done with, whose buffers this one may overwrite */
  reuseTape?: Tape;
  /**
   * with tape: keep only each block's input; the backward pass runs each block's backward graph, which recomputes the
   * block from it (one more forward's work, no block's intermediates kept: what makes LoRA on large models fit).
   * On the device every block is checkpointed.
   */
  checkpoint?: boolean;
  /**
   * with tape: record the final hidden rows at the logit positions but compute no logits (headLoss in
   * train/loss.ts computes them a few rows at a time); `logits` comes back empty
   */
  headless?: boolean;
}

export interface ForwardOutput {
  /** (B, T, V) for "all"; (B, V) for "last"; empty for "none" and for a headless tape */
  logits: Float32Array;
  cache?: KVCache;
  /** with opts.tape */
  tape?: Tape;
}


/** Where a streamed model's blocks come from: `fetch(l)` resolves once block l's weights are in its window. */
export interface BlockStream {
  fetch(l: number): Promise<void>;
}

export class Transformer<W extends Weight = Weight> {
  readonly cfg: ModelConfig;
  private weights: ModelParams<W>;
  /** a streamed model's source of blocks (see params.ts: windows) */
  readonly stream?: BlockStream;
  /** unmerged LoRA updates by module path (e.g. gpt_neox.layers.3.attention.query_key_value) */
  readonly lora = new Map<string, LoraDelta>();
  /** activation buffers (ACTIVATIONS), allocated once per size and reused by every forward (llm.c style) */
  private readonly workspace = new Map<Activation, Float32Array>();
  private readonly gradBuffers = new Map<string, Float32Array>();
  private busy = false;
  /** while recording a tape every buffer is fresh (the tape keeps them) */
  private taping = false;
  /** where the forward pass runs (device.ts): resolved at the first forward; its WebGPU sessions, when there */
  private readonly deviceChoice: DeviceChoice;
  private gpu?: Promise<WebGpuModel | undefined>;

  constructor(cfg: ModelConfig, params: ModelParams<W>, stream?: BlockStream, device: DeviceChoice = "cpu") {
    if (params.streamed !== (stream !== undefined)) throw new Error("a streamed model needs its block stream, a resident one none");
    this.cfg = cfg;
    this.weights = params;
    this.stream = stream;
    this.deviceChoice = device;
  }

  /** The device the forward pass runs on (an error naming what to install for webgpu without an adapter). */
  async device(): Promise<Device> {
    return (await this.onDevice()) ? "webgpu" : "cpu";
  }

  private onDevice(): Promise<WebGpuModel | undefined> {
    // streamed on the device when streamed from disk, or when the weights do not fit in the device's memory (device.ts)
    // and training's backward graphs (a second copy of the blocks) take turns there when both copies do not fit
    const model = async () => {
      const f16 = await adapterHasF16();
      const { dtype } = this.weights;
      return new WebGpuModel(this.cfg, this.stream !== undefined || streamOnDevice(this.cfg, dtype, f16), () => streamBackwardOnDevice(this.cfg, dtype, f16));
    };
    this.gpu ??= resolveDevice(this.deviceChoice).then((d) => (d === "webgpu" ? model() : undefined));
    return this.gpu;
  }

  /** Free the model's device sessions and the weights they hold (before another model goes up); used again, they are remade. */
  async release(): Promise<void> {
    await (await this.gpu?.catch(() => undefined))?.release();
  }

  /** Say that the weights were edited in place (a merged adapter): the device's copies are dropped, uploaded again when next used. */
  async weightsChanged(): Promise<void> {
    await this.release();
  }

  get params(): ModelParams<W> {
    return this.weights;
  }

  /**
   * Hold the weights as f32 from now on (training updates weights in f32): a 16-bit model's are upcast (exact)
   * into fresh buffers. Returns the f32 parameters; a streamed model cannot be widened.
   */
  widenWeights(): ModelParams<Float32Array> {
    const p = this.weights;
    if (p.streamed) throw new Error("this model's weights are streamed from disk; load it with weights: \"resident\" (QUIRKY_WEIGHTS=resident) to train it");
    if (p.dtype === "F32") return p as ModelParams<Float32Array>;
    const wide = allocParams(this.cfg);
    for (const [name, t] of p.tensors) wide.tensors.get(name)!.data.set(toF32(t.data));
    this.weights = wide as ModelParams as ModelParams<W>;
    // the device's sessions go, and what it decided from the weights' size (streaming) is decided again for f32
    void this.release().catch(() => {});
    this.gpu = undefined;
    return wide;
  }

  /** A reusable activation buffer of n floats (contents undefined). */
  private buf(name: Activation, n: number): Float32Array {
    if (this.taping) return new Float32Array(n);
    let b = this.workspace.get(name);
    if (!b || b.length < n) {
      b = new Float32Array(n);
      this.workspace.set(name, b);
    }
    return b.subarray(0, n);
  }

  async forward(input: ForwardInput, opts: ForwardOptions = {}): Promise<ForwardOutput> {
    // the workspace is shared: one forward at a time per model
    if (this.busy) throw new Error("Transformer.forward is already running on this model; await it before the next call");
    if (opts.tape && this.stream) throw new Error("a streamed model cannot record a tape for training: its blocks leave memory after the forward pass; load it with weights: \"resident\"");
    this.busy = true;
    this.taping = opts.tape === true;
    try {
      return await this.forwardImpl(input, opts);
    } finally {
      this.busy = false;
      this.taping = false;
    }
  }

  private async forwardImpl(input: ForwardInput, opts: ForwardOptions): Promise<ForwardOutput> {
    const { cfg, params } = this;
    const { B, T, tokens } = input;
    const C = cfg.dModel;
    const N = B * T;
    if (tokens.length !== N) throw new Error(`forward: ${tokens.length} tokens for B=${B}, T=${T}`);
    for (let i = 0; i < N; i++) {
      if (!(tokens[i] >= 0 && tokens[i] < cfg.vocabSize)) throw new Error(`forward: token id ${tokens[i]} outside the vocabulary (${cfg.vocabSize})`);
    }
    const mask = input.mask ?? new Uint8Array(N).fill(1);
    const cache = input.cache;
    if (cache && cache.B !== B) throw new Error(`forward: cache has batch ${cache.B}, input ${B}`);
    const Tpast = cache?.T ?? 0;
    const Tk = Tpast + T;

    // positions count real tokens only (left padding gets position 0, never attended)
    const positions = new Int32Array(N);
    const nextPos = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      let p = cache ? cache.nextPos[b] : 0;
      for (let t = 0; t < T; t++) {
        positions[b * T + t] = mask[b * T + t] ? p : 0;
        if (mask[b * T + t]) p++;
      }
      nextPos[b] = p;
    }
    // key mask over cached + new positions, (B, Tk)
    const keyMask = new Uint8Array(B * Tk);
    const keyPos = new Int32Array(B * Tk);
    for (let b = 0; b < B; b++) {
      if (cache) keyMask.set(cache.mask.subarray(b * Tpast, (b + 1) * Tpast), b * Tk);
      keyMask.set(mask.subarray(b * T, (b + 1) * T), b * Tk + Tpast);
      let p = nextPos[b];
      for (let j = Tk - 1; j >= 0; j--) keyPos[b * Tk + j] = keyMask[b * Tk + j] ? --p : -1;
    }

    const rope = ropeTables(positions, cfg.rotaryDims, cfg.ropeTheta, cfg.ropeScaling);
    const shape = { B, T, C };
    const taps = opts.taps;
    if (taps) {
      for (const name of Object.keys(taps.read)) if (!/^(blocks\.\d+\.hook_resid_post|ln_final\.hook_normalized)$/.test(name)) throw new Error(`forward: taps read blocks.{i}.hook_resid_post and ln_final.hook_normalized, not ${name}`);
      for (const r of taps.rows) if (!(r >= 0 && r < N)) throw new Error(`forward: tap row ${r} outside 0..${N - 1}`);
    }
    const hookOnly = (name: string, x: Float32Array) => opts.hooks?.[name]?.(x, shape);
    const hook = (name: string, x: Float32Array) => {
      hookOnly(name, x);
      taps?.read[name]?.(gatherRows(x, taps.rows, C));
    };
    if (this.deviceChoice !== "cpu") {
      const gpu = await this.onDevice();
      if (gpu) {
        if (opts.tape && cache) throw new Error("forward: a tape (training) sees whole sequences, not a continuation of a cache");
        const logits = opts.logits ?? "last";
        const tape = opts.tape ? { headless: opts.headless === true } : undefined;
        return this.forwardOnDevice(gpu, input, { logits, returnCache: opts.returnCache === true, hook: hookOnly, has: (n) => opts.hooks?.[n] !== undefined, taps, tape }, { keyMask, keyPos, nextPos, rope, Tk });
      }
    }

    // x is (N,C)
    const record = opts.tape === true;
    const checkpoint = record && opts.checkpoint === true;
    // a spent tape's block input of this size, to take again (its pages are in memory already)
    const spentInput = (l: number) => {
      const b = checkpoint ? opts.reuseTape?.inputs?.get(l) : undefined;
      return b?.length === N * C ? b : undefined;
    };
    const x0 = spentInput(0) ?? this.buf("x", N * C);
    embedRows(x0, tokens, params.embed, C);
    hook("hook_embed", x0);

    const layerTapes: (LayerTape | undefined)[] = [];
    const newK: Float32Array[] = [];
    const newV: Float32Array[] = [];
    const h = this.buf("h", N * C);
    const keepKV = opts.returnCache === true || record; // the per-layer path keeps K and V for a cache or a tape
    let x = x0;
    let inX0 = true; // whether x is the workspace's "x" (else "xNext")
    let graphMask: ReturnType<typeof attentionMask> | undefined;
    const checkpoints = new Map<number, Float32Array>(); // block → its input, for blocks recomputed in the backward pass
    for (let l = 0; l < cfg.nLayers; l++) {
      await this.stream?.fetch(l);
      const layer = params.layers[l];
      hook(`blocks.${l}.hook_resid_pre`, x);
      if (wholeProducts(layer)) {
        // the whole block in one onnxruntime graph (block.ts), recording what the backward pass needs when taping
        graphMask ??= attentionMask(B, T, Tk, keyMask, keyPos, cfg.slidingWindow);
        const y = spentInput(l + 1) ?? this.buf(inX0 ? "xNext" : "x", N * C);
        inX0 = !inX0;
        // a checkpointed block records nothing now: its backward graph recomputes it from its input
        const kv = await this.block(l, x, y, B, T, rope, graphMask, cache, opts.returnCache === true, record && !checkpoint, checkpoint ? undefined : opts.reuseTape?.layers[l]);
        newK.push(kv.tape?.K ?? kv.K);
        newV.push(kv.tape?.V ?? kv.V);
        layerTapes.push(kv.tape);
        if (checkpoint) checkpoints.set(l, x); // while taping, this forward's own buffer (fresh, or a spent tape's): it stays as it was
        x = y;
        hook(`blocks.${l}.hook_resid_post`, x);
        continue;
      }
      const ln1 = this.norm(h, x, layer.ln1, N, record);
      const attn = await this.attention(l, h, B, T, rope, keyMask, keyPos, cache, keepKV);
      newK.push(attn.k);
      newV.push(attn.v);
      let ln2: NormTape | undefined;
      let mlp: Awaited<ReturnType<typeof this.mlp>>;
      if (cfg.parallelResidual) {
        ln2 = this.norm(h, x, layer.ln2, N, record);
        mlp = await this.mlp(l, h, N, record);
        addInPlace(x, attn.out);
        addInPlace(x, mlp.out);
      } else {
        addInPlace(x, attn.out);
        ln2 = this.norm(h, x, layer.ln2, N, record);
        mlp = await this.mlp(l, h, N, record);
        addInPlace(x, mlp.out);
      }
      if (ln1 && ln2 && attn.tape && mlp.tape) layerTapes.push({ ln1, ...attn.tape, ln2, ...mlp.tape });
      hook(`blocks.${l}.hook_resid_post`, x);
    }
    const lnFinal = this.norm(h, x, params.lnFinal, N, record);
    hook("ln_final.hook_normalized", h);

    const { logits, positions: logitPositions, rows: hRows } = await this.unembed(h, B, T, opts.logits ?? "last", record && opts.headless === true);
    const out: ForwardOutput = { logits };
    if (opts.returnCache) out.cache = { B, T: Tk, k: newK, v: newV, mask: keyMask, nextPos };
    if (lnFinal) {
      out.tape = { B, T, tokens, keyMask, keyPos, rope, layers: layerTapes, lnFinal, logitPositions, hRows };
      if (checkpoints.size > 0) {
        out.tape.inputs = checkpoints;
        const mask = graphMask!;
        out.tape.blockBackward = async (l, dy, weightGrads) => {
          const x = checkpoints.get(l);
          if (!x) throw new Error(`block ${l} was not checkpointed`);
          if (!(dy instanceof Float32Array)) throw new Error("blockBackward: a CPU forward's gradient is a host array");
          return this.blockBackward(l, x, dy, B, T, rope, mask, weightGrads);
        };
        out.tape.gradientToHost = async (d) => d as Float32Array;
      }
    }
    return out;
  }

  /**
   * The forward pass on the WebGPU device (webgpu.ts): the embedding on the host, then every block on the device with
   * the residual stream left there between blocks; it comes to the host only for a hook (whose edits go back up with
   * the next block's input) and at the end, for the final norm (as on the CPU) and the rows that get logits.
   * With a tape (training), every block is checkpointed: its input stays on the device for its backward graph, the
   * final residual comes to the host whole, the final norm runs there as on the CPU, and the loss (the head's product
   * and its gradient) goes back to the device with the rows that get logits (tape.headLoss).
   */
  private async forwardOnDevice(
    gpu: WebGpuModel,
    input: ForwardInput,
    o: { logits: "all" | "last" | "none" | Int32Array; returnCache: boolean; hook: (name: string, x: Float32Array) => void; has: (name: string) => boolean; taps?: Taps; tape?: { headless: boolean } },
    m: { keyMask: Uint8Array; keyPos: Int32Array; nextPos: Int32Array; rope: { cos: Float32Array; sin: Float32Array }; Tk: number },
  ): Promise<ForwardOutput> {
    const { cfg, params } = this;
    const { B, T, tokens, cache } = input;
    const { dModel: C, nKvHeads: Hkv, headDim: D, rotaryDims: R } = cfg;
    const N = B * T;
    if (cache && !cache.device) throw new Error("forward: this cache was made on the CPU; continue it on the device it came from");
    const mask = attentionMask(B, T, m.Tk, m.keyMask, m.keyPos, cfg.slidingWindow);
    // the rows that come back from every block (M, C): the taps' rows, then those that get logits; sel (M, N) picks them
    const tapRows = o.taps?.rows ?? new Int32Array(0);
    const logitRows = logitPositions(o.logits, B, T);
    const rows = Int32Array.from([...tapRows, ...logitRows]);
    const M = Math.max(1, rows.length); // a graph output of no rows: one unused row instead
    const sel = new Float32Array(M * N);
    rows.forEach((r, i) => (sel[i * N + r] = 1));
    // what every block reads goes up once: masks, rotary tables; an empty past when there is no cache
    const fixed = {
      mask: await upload(mask.bias, [B, 1, 1, T, m.Tk]),
      qmask: await upload(mask.query, [B, 1, 1, T, 1]),
      cos: R > 0 ? await upload(m.rope.cos, [B, T, R / 2]) : undefined,
      sin: R > 0 ? await upload(m.rope.sin, [B, T, R / 2]) : undefined,
      sel: await upload(sel, [M, N]),
    };
    const tap = (name: string, at: Float32Array) => o.taps?.read[name]?.(at.subarray(0, tapRows.length * C));
    const noPast = new ort.Tensor("float32", new Float32Array(0), [B, Hkv, 0, D]);
    let x: DeviceTensor | Float32Array = this.buf("x", N * C);
    embedRows(x, tokens, params.embed, C);
    o.hook("hook_embed", x);
    let host = 0; // which workspace buffer the next download fills
    const toHost = async (t: DeviceTensor | Float32Array) => {
      if (t instanceof Float32Array) return t;
      const out = await download(t, this.buf(host++ % 2 ? "xNext" : "x", N * C));
      release(t);
      return out;
    };
    const newK: DeviceTensor[] = [];
    const newV: DeviceTensor[] = [];
    let lastRows: Float32Array = new Float32Array(0); // the last block's output at `rows`
    const inputs = new Map<number, DeviceTensor | Float32Array>(); // with a tape: each block's input, for its backward graph
    let kept = false; // whether a tape holds `fixed` and `inputs` (released by it, when its backward is done)
    try {
      for (let l = 0; l < cfg.nLayers; l++) {
        await this.stream?.fetch(l);
        const layer = params.layers[l];
        if (o.has(`blocks.${l}.hook_resid_pre`)) o.hook(`blocks.${l}.hook_resid_pre`, (x = await toHost(x)));
        // one graph (one upload of the weights) for prompts and continuations: no cache is an empty past
        const { spec, lora } = this.blockSpec(l, { past: true, keepKV: true, tape: false });
        const past = cache?.device;
        const out = await gpu.block(l, spec, layer, { x, ...fixed, pastK: past?.k[l] ?? noPast, pastV: past?.v[l] ?? noPast, lora }, B, T);
        if (o.tape) inputs.set(l, x);
        else release(x);
        x = out.y;
        lastRows = out.rows;
        // keys and values for a cache outlive this forward: moved to lasting memory (a streamed block's already are)
        const keep = o.returnCache && !this.stream;
        newK.push(keep ? await persist(out.K) : out.K);
        newV.push(keep ? await persist(out.V) : out.V);
        const post = `blocks.${l}.hook_resid_post`;
        if (o.has(post)) {
          o.hook(post, (x = await toHost(x)));
          lastRows = gatherRows(x, rows, C); // the hook may have edited them
        }
        tap(post, lastRows);
      }
      if (o.tape) {
        const out = await this.deviceTape(gpu, input, await toHost(x), o.logits, o.tape.headless, inputs, fixed, m, (h) => {
          o.hook("ln_final.hook_normalized", h);
          tap("ln_final.hook_normalized", gatherRows(h, rows, C));
        });
        [...newK, ...newV].forEach(release);
        kept = true;
        return out;
      }
      let logits: Float32Array = new Float32Array(0);
      if (o.has("ln_final.hook_normalized")) {
        // the whole final residual to the host, as on the CPU
        const h = this.buf("h", N * C);
        this.norm(h, await toHost(x), params.lnFinal, N, false);
        o.hook("ln_final.hook_normalized", h);
        lastRows = gatherRows(h, rows, C);
        tap("ln_final.hook_normalized", lastRows);
        if (logitRows.length > 0) logits = await gpu.logits(lastRows.subarray(tapRows.length * C), logitRows.length, params.unembed);
      } else {
        // the norm is row by row: the rows that came back are all it needs
        release(x);
        const h = new Float32Array(rows.length * C);
        this.norm(h, lastRows, params.lnFinal, rows.length, false);
        tap("ln_final.hook_normalized", h);
        if (logitRows.length > 0) logits = await gpu.logits(h.subarray(tapRows.length * C), logitRows.length, params.unembed);
      }
      const out: ForwardOutput = { logits };
      if (o.returnCache) {
        out.cache = { B, T: m.Tk, k: [], v: [], mask: m.keyMask, nextPos: m.nextPos, device: { k: newK, v: newV } };
        deviceCaches.register(out.cache, [...newK, ...newV]);
      } else [...newK, ...newV].forEach(release);
      return out;
    } finally {
      if (!kept) {
        Object.values(fixed).forEach(release);
        inputs.forEach(release);
      }
    }
  }

  /**
   * The tape of a forward on the device: the final norm on the host, from the final residual xFinal (N,C), and the
   * head (logits, or the training loss: tape.headLoss) on the device; every block checkpointed, its backward graph run
   * on the device from its input there, dx left there.
   */
  private async deviceTape(
    gpu: WebGpuModel,
    input: ForwardInput,
    xFinal: Float32Array,
    which: "all" | "last" | "none" | Int32Array,
    headless: boolean,
    inputs: Map<number, DeviceTensor | Float32Array>,
    fixed: { mask: DeviceTensor; qmask: DeviceTensor; cos?: DeviceTensor; sin?: DeviceTensor; sel: DeviceTensor },
    m: { keyMask: Uint8Array; keyPos: Int32Array; rope: { cos: Float32Array; sin: Float32Array } },
    hook: (h: Float32Array) => void,
  ): Promise<ForwardOutput> {
    const { cfg, params } = this;
    const { B, T, tokens } = input;
    const N = B * T;
    const h = this.buf("h", N * cfg.dModel);
    const lnFinal = this.norm(h, xFinal, params.lnFinal, N, true)!;
    hook(h);
    const { logits, positions, rows: hRows } = await this.unembed(h, B, T, which, headless, gpu);
    const tape: Tape = { B, T, tokens, keyMask: m.keyMask, keyPos: m.keyPos, rope: m.rope, layers: new Array(cfg.nLayers).fill(undefined), lnFinal, logitPositions: positions, hRows };
    tape.blockBackward = async (l, dy, weightGrads) => {
      const x = inputs.get(l);
      if (!x) throw new Error(`block ${l}'s input is not on the tape (its backward ran already)`);
      const { spec, lora } = this.blockSpec(l, { past: false, keepKV: false, tape: true });
      const r = await gpu.blockBackward(l, spec, params.layers[l], { x, ...fixed, lora }, dy as DeviceTensor | Float32Array, B, T, weightGrads);
      // each block's backward runs once: its input and the gradient it was given are spent
      inputs.delete(l);
      release(x);
      if (!(dy instanceof Float32Array)) release(dy as DeviceTensor);
      return this.blockGradients(l, spec, r.dx, (n) => r.grads.get(`d_${n}`));
    };
    tape.headLoss = (targets, coef, opts) => gpu.headLoss(hRows, targets, coef, params.unembed, opts);
    tape.gradientToHost = async (d) => {
      if (d instanceof Float32Array) return d;
      const out = await download(d as DeviceTensor, new Float32Array(N * cfg.dModel));
      release(d as DeviceTensor);
      return out;
    };
    tape.release = () => {
      inputs.forEach(release);
      inputs.clear();
      Object.values(fixed).forEach(release);
    };
    return { logits, tape };
  }

  /** y (N,C) = block l of x (N,C), as one graph; returns the block's keys and values when keepKV (else empty). */
  private async block(
    l: number,
    x: Float32Array,
    y: Float32Array,
    B: number,
    T: number,
    rope: { cos: Float32Array; sin: Float32Array },
    mask: { bias: Float32Array; query: Float32Array },
    cache: KVCache | undefined,
    keepKV: boolean,
    record: boolean,
    reuse?: LayerTape,
  ): Promise<{ K: Float32Array; V: Float32Array; tape?: LayerTape }> {
    const { cfg } = this;
    const layer = this.params.layers[l];
    const { spec, lin, lora: loras } = this.blockSpec(l, { past: cache !== undefined, keepKV, tape: record });
    const Tk = T + (cache?.T ?? 0);
    const kv = keepKV && !record ? { K: new Float32Array(B * cfg.nKvHeads * Tk * cfg.headDim), V: new Float32Array(B * cfg.nKvHeads * Tk * cfg.headDim) } : { K: new Float32Array(0), V: new Float32Array(0) };
    const again = reuse && { ...reuse, ln1_inp: reuse.ln1.inp, ln1_out: reuse.ln1.out, ln1_mean: reuse.ln1.mean, ln1_rstd: reuse.ln1.rstd, ln2_inp: reuse.ln2.inp, ln2_out: reuse.ln2.out, ln2_mean: reuse.ln2.mean, ln2_rstd: reuse.ln2.rstd };
    const rec = await this.withBlockFeeds(l, lin, loras, x, rope, mask, cache, (feeds) => runBlock(spec, feeds, B, T, y, keepKV ? kv : undefined, again));
    if (!rec) return kv;
    const norm = (i: 1 | 2): NormTape => ({ inp: rec[`ln${i}_inp`], out: rec[`ln${i}_out`], mean: rec[`ln${i}_mean`], rstd: rec[`ln${i}_rstd`] });
    return { ...kv, tape: { ln1: norm(1), Q: rec.Q, K: rec.K, V: rec.V, P: rec.P, merged: rec.merged, ln2: norm(2), up: rec.up, act: rec.act } };
  }

  /** Block l's feeds (block.ts's BlockFeeds, its matrices as f32 for the call) handed to `run`. */
  private withBlockFeeds<R>(
    l: number,
    lin: Record<Projection, Linear | FusedLinear>,
    loras: Record<Projection, { A: Float32Array; B: Float32Array; r: number } | undefined>,
    x: Float32Array,
    rope: { cos: Float32Array; sin: Float32Array },
    mask: { bias: Float32Array; query: Float32Array },
    cache: KVCache | undefined,
    run: (feeds: BlockFeeds) => Promise<R>,
  ): Promise<R> {
    const layer = this.params.layers[l];
    return withF32(
      PROJECTIONS.map((p) => lin[p].w),
      async ([wqkv, wo, wup, wdown]) => {
        const w = { qkv: wqkv, o: wo, up: wup, down: wdown };
        const proj = (p: Projection) => ({ w: w[p], out: lin[p].outDim, in: lin[p].inDim, b: lin[p].b, lora: loras[p] });
        return run({
          x,
          norm1: layer.ln1,
          norm2: layer.ln2,
          proj: { qkv: proj("qkv"), o: proj("o"), up: proj("up"), down: proj("down") },
          rope,
          mask,
          past: cache ? { k: cache.k[l], v: cache.v[l], T: cache.T } : undefined,
        });
      },
    );
  }

  /**
   * Block l's backward on the CPU, as one graph (block-backward.ts) that recomputes the block from its input x (N,C):
   * dy (N,C) at its output → dx (N,C) at its input, its weights' gradients (when asked) and its LoRA updates'.
   */
  private async blockBackward(
    l: number,
    x: Float32Array,
    dy: Float32Array,
    B: number,
    T: number,
    rope: { cos: Float32Array; sin: Float32Array },
    mask: { bias: Float32Array; query: Float32Array },
    weightGrads: boolean,
  ): Promise<BlockGradients> {
    const { spec, lin, lora } = this.blockSpec(l, { past: false, keepKV: false, tape: true });
    // dx alternates between two buffers: block l's dy is block l + 1's dx
    const into = (name: string, n: number) => this.gradBuffer(name === "dx" ? `dx${l % 2}` : name, n);
    const outs = await this.withBlockFeeds(l, lin, lora, x, rope, mask, undefined, (feeds) => runBlockBackward(spec, feeds, dy, B, T, weightGrads, into));
    return this.blockGradients(l, spec, outs.get("dx")!, (n) => outs.get(`d_${n}`));
  }

  /** A backward graph's outputs as the layer's gradients; a combined LoRA update's split into its parts' (see combinedLora). */
  private blockGradients(l: number, spec: BlockSpec, dx: ResidualGradient, grad: (name: string) => Float32Array | undefined): BlockGradients {
    const layer = this.params.layers[l];
    const wb = (p: string) => ({ w: grad(`w_${p}`)!, b: grad(`b_${p}`) });
    const weights = grad("w_qkv")
      ? { ln1: { w: grad("n1w")!, b: grad("n1b") }, ln2: { w: grad("n2w")!, b: grad("n2b") }, qkv: wb("qkv"), o: wb("o"), up: wb("up"), down: wb("down") }
      : undefined;
    const lora = new Map<string, { A: Float32Array; B: Float32Array }>();
    const parts: Record<Projection, Linear[]> = { qkv: layer.qkv.parts, o: [layer.o], up: layer.up.parts, down: [layer.down] };
    for (const p of PROJECTIONS) {
      if (!spec.lora[p]) continue;
      const dA = grad(`lora_a_${p}`)!; // (Σr, in): the parts' A stacked
      const dSB = grad(`lora_b_${p}`)!; // (out, Σr), with respect to the fed s·B
      const inDim = layer[p].inDim;
      const R = dA.length / inDim;
      let r0 = 0;
      let row = 0;
      for (const part of parts[p]) {
        const d = this.lora.get(part.name);
        if (d) {
          const A = dA.slice(r0 * inDim, (r0 + d.r) * inDim);
          const Bg = new Float32Array(part.outDim * d.r);
          for (let o = 0; o < part.outDim; o++) for (let j = 0; j < d.r; j++) Bg[o * d.r + j] = d.scale * dSB[(row + o) * R + r0 + j];
          lora.set(part.name, { A, B: Bg });
          r0 += d.r;
        }
        row += part.outDim;
      }
    }
    return { dx, weights, lora };
  }

  /** A reusable buffer of the backward graphs' outputs (contents: the last run's). */
  private gradBuffer(name: string, n: number): Float32Array {
    let b = this.gradBuffers.get(name);
    if (!b || b.length < n) this.gradBuffers.set(name, (b = new Float32Array(n)));
    return b.subarray(0, n);
  }

  /**
   * The LoRA updates of a group of linears computed as one product, as one update of rank Σr: A (Σr, in) stacks the
   * parts' A; B (out, Σr) holds each part's s·B in its rows and rank columns, zeros elsewhere.
   */
  /** Block l's graph spec (one per architecture and flags), its projections and their combined LoRA updates. */
  private blockSpec(l: number, flags: Pick<BlockSpec, "past" | "keepKV" | "tape">) {
    const { cfg } = this;
    const layer = this.params.layers[l];
    const lin = { qkv: layer.qkv, o: layer.o, up: layer.up, down: layer.down };
    const lora = { qkv: this.combinedLora(layer.qkv.parts, layer.qkv), o: this.combinedLora([layer.o], layer.o), up: this.combinedLora(layer.up.parts, layer.up), down: this.combinedLora([layer.down], layer.down) };
    const each = (f: (p: Projection) => boolean) => ({ qkv: f("qkv"), o: f("o"), up: f("up"), down: f("down") });
    const spec: BlockSpec = {
      layernorm: cfg.norm === "layernorm",
      parallel: cfg.parallelResidual,
      gated: cfg.gatedMlp,
      activation: cfg.activation,
      H: cfg.nHeads,
      Hkv: cfg.nKvHeads,
      D: cfg.headDim,
      R: cfg.rotaryDims,
      neox: cfg.arch === "gpt_neox",
      eps: cfg.normEps,
      bias: each((p) => lin[p].b !== undefined),
      lora: each((p) => lora[p] !== undefined),
      ...flags,
    };
    return { spec, lin, lora };
  }

  private combinedLora(parts: Linear[], f: { inDim: number; outDim: number }): { A: Float32Array; B: Float32Array; r: number } | undefined {
    const deltas = parts.map((p) => this.lora.get(p.name));
    if (deltas.every((d) => d === undefined)) return undefined;
    const r = deltas.reduce((s, d) => s + (d?.r ?? 0), 0);
    const A = new Float32Array(r * f.inDim);
    const B = new Float32Array(f.outDim * r);
    let r0 = 0;
    let row = 0;
    parts.forEach((part, i) => {
      const d = deltas[i];
      if (d) {
        A.set(d.A.subarray(0, d.r * f.inDim), r0 * f.inDim);
        for (let o = 0; o < part.outDim; o++) for (let j = 0; j < d.r; j++) B[(row + o) * r + r0 + j] = d.scale * d.B[o * d.r + j];
        r0 += d.r;
      }
      row += part.outDim;
    });
    return { A, B, r };
  }

  /** out = norm(inp); when recording, returns copies of input and output and the row statistics */
  private norm(out: Float32Array, inp: Float32Array, n: Norm, N: number, record: boolean): NormTape | undefined {
    const mean = new Float32Array(record ? N : 0);
    const rstd = new Float32Array(record ? N : 0);
    if (this.cfg.norm === "layernorm") layernormForward(out, inp, n.w, n.b, N, this.cfg.dModel, this.cfg.normEps, record ? mean : undefined, record ? rstd : undefined);
    else rmsnormForward(out, inp, n.w, N, this.cfg.dModel, this.cfg.normEps, record ? rstd : undefined);
    return record ? { inp: inp.slice(), out: out.slice(), mean, rstd } : undefined;
  }

  /** y (N, out) = x · wᵀ + b for a fused group of linears, plus their unmerged LoRA updates. */
  private async fusedLinear(f: FusedLinear, x: Float32Array, N: number, out: Activation): Promise<Float32Array> {
    const y = await linear(x, f.w, N, f.inDim, f.outDim, f.b, this.buf(out, N * f.outDim));
    let col = 0;
    for (const part of f.parts) {
      const d = this.lora.get(part.name);
      if (d) await addLoraDelta(y, x, d, N, part.inDim, part.outDim, f.outDim, col);
      col += part.outDim;
    }
    return y;
  }

  private async plainLinear(lin: Linear, x: Float32Array, N: number, out: Activation): Promise<Float32Array> {
    const y = await linear(x, lin.w, N, lin.inDim, lin.outDim, lin.b, this.buf(out, N * lin.outDim));
    const d = this.lora.get(lin.name);
    if (d) await addLoraDelta(y, x, d, N, lin.inDim, lin.outDim, lin.outDim, 0);
    return y;
  }

  /**
   * Causal self-attention of layer l over h (N,C). Queries are grouped by their K/V head so grouped-query
   * attention needs no copies of K and V: q is arranged (B, Hkv, g·T, D) with g = H / Hkv.
   */
  private async attention(
    l: number,
    h: Float32Array,
    B: number,
    T: number,
    rope: { cos: Float32Array; sin: Float32Array },
    keyMask: Uint8Array,
    keyPos: Int32Array,
    cache: KVCache | undefined,
    keepKV: boolean,
  ): Promise<{ out: Float32Array; k: Float32Array; v: Float32Array; tape?: Pick<LayerTape, "Q" | "K" | "V" | "P" | "merged"> }> {
    const { cfg } = this;
    const { nHeads: H, nKvHeads: Hkv, headDim: D } = cfg;
    const g = H / Hkv;
    const N = B * T;
    const layout = qkvLayout(cfg);
    const qkv = await this.fusedLinear(this.params.layers[l].qkv, h, N, "qkv"); // (N, W)
    const W = layout.W;
    layout.rope(ropeForward, qkv, rope, N);

    // K, V: (B, Hkv, Tk, D) = cached then new;  Q: (B, Hkv, g, T, D) = (B, H, T, D)
    const Tpast = cache?.T ?? 0;
    const Tk = Tpast + T;
    // K and V go into the returned cache, so they get their own memory then
    const K = keepKV ? new Float32Array(B * Hkv * Tk * D) : this.buf("K", B * Hkv * Tk * D);
    const V = keepKV ? new Float32Array(B * Hkv * Tk * D) : this.buf("V", B * Hkv * Tk * D);
    const Q = this.buf("Q", B * H * T * D);
    for (let b = 0; b < B; b++) {
      for (let hd = 0; hd < Hkv; hd++) {
        const dst = (b * Hkv + hd) * Tk * D;
        if (cache) {
          const src = (b * Hkv + hd) * Tpast * D;
          K.set(cache.k[l].subarray(src, src + Tpast * D), dst);
          V.set(cache.v[l].subarray(src, src + Tpast * D), dst);
        }
        const ko = layout.k(hd);
        const vo = layout.v(hd);
        for (let t = 0; t < T; t++) {
          const row = (b * T + t) * W;
          const o = dst + (Tpast + t) * D;
          for (let i = 0; i < D; i++) {
            K[o + i] = qkv[row + ko + i];
            V[o + i] = qkv[row + vo + i];
          }
        }
      }
      for (let hd = 0; hd < H; hd++) {
        const qo = layout.q(hd);
        for (let t = 0; t < T; t++) {
          const row = (b * T + t) * W;
          const o = ((b * H + hd) * T + t) * D;
          for (let i = 0; i < D; i++) Q[o + i] = qkv[row + qo + i];
        }
      }
    }
    // scores (B·Hkv, g·T, Tk) = Q · Kᵀ, masked softmax
    const rows = g * T;
    const scores = await bmm(Q, K, B * Hkv, rows, D, Tk, true, this.buf("scores", B * Hkv * rows * Tk));
    causalSoftmaxForward(scores, B * Hkv * rows, T, Tk, Hkv * rows, 1 / Math.sqrt(D), keyMask, keyPos, cfg.slidingWindow);
    // (B·Hkv, g·T, D) = P · V, then back to (N, H·D)
    const ctx = await bmm(scores, V, B * Hkv, rows, Tk, D, false, this.buf("ctx", B * Hkv * rows * D));
    const merged = this.buf("merged", N * H * D);
    for (let b = 0; b < B; b++) {
      for (let hd = 0; hd < H; hd++) {
        for (let t = 0; t < T; t++) {
          const src = ((b * H + hd) * T + t) * D;
          const dst = (b * T + t) * H * D + hd * D;
          for (let i = 0; i < D; i++) merged[dst + i] = ctx[src + i];
        }
      }
    }
    const out = await this.plainLinear(this.params.layers[l].o, merged, N, "attn");
    return { out, k: K, v: V, tape: this.taping ? { Q, K, V, P: scores, merged } : undefined };
  }

  private async mlp(l: number, h: Float32Array, N: number, record: boolean): Promise<{ out: Float32Array; tape?: Pick<LayerTape, "up" | "act"> }> {
    const { cfg } = this;
    const layer = this.params.layers[l];
    const up = await this.fusedLinear(layer.up, h, N, "up");
    let act: Float32Array;
    let upBefore = up;
    if (cfg.gatedMlp) {
      act = this.buf("act", N * cfg.dFF);
      gatedActivationForward(act, up, N, cfg.dFF, cfg.activation);
    } else {
      if (record) upBefore = up.slice(); // the activation runs in place
      activationForward(up, cfg.activation);
      act = up;
    }
    const out = await this.plainLinear(layer.down, act, N, "mlp");
    return { out, tape: record ? { up: upBefore, act } : undefined };
  }

  /** logits (M, V) at the asked-for flat positions, with those positions and the final hidden rows there (M, C) */
  private async unembed(h: Float32Array, B: number, T: number, which: "all" | "last" | "none" | Int32Array, rowsOnly: boolean, gpu?: WebGpuModel): Promise<{ logits: Float32Array; positions: Int32Array; rows: Float32Array }> {
    const { dModel: C, vocabSize: V } = this.cfg;
    const positions = logitPositions(which, B, T);
    const M = positions.length;
    const rows = new Float32Array(M * C);
    for (let i = 0; i < M; i++) {
      if (!(positions[i] >= 0 && positions[i] < B * T)) throw new Error(`forward: logit position ${positions[i]} outside 0..${B * T - 1}`);
      rows.set(h.subarray(positions[i] * C, positions[i] * C + C), i * C);
    }
    const product = () => (gpu ? gpu.logits(rows, M, this.params.unembed) : linear(rows, this.params.unembed, M, C, V));
    return { logits: M === 0 || rowsOnly ? new Float32Array(0) : await product(), positions, rows };
  }
}

/** The flat positions b·T + t that get logits. */
function logitPositions(which: "all" | "last" | "none" | Int32Array, B: number, T: number): Int32Array {
  return which === "none" ? new Int32Array(0) : which === "all" ? Int32Array.from({ length: B * T }, (_, i) => i) : which === "last" ? Int32Array.from({ length: B }, (_, b) => b * T + T - 1) : which;
}

/** Whether every linear of a block runs as one product (its weights within one slice): then the block is one graph. */
function wholeProducts(layer: LayerParams): boolean {
  return [layer.qkv, layer.o, layer.up, layer.down].every((f) => oneProduct(f.inDim, f.outDim));
}

/** y[:, col:col+out] += scale · (x · Aᵀ) · Bᵀ, for y (N, width). */
async function addLoraDelta(y: Float32Array, x: Float32Array, d: LoraDelta, N: number, inDim: number, outDim: number, width: number, col: number): Promise<void> {
  const xa = await linear(x, d.A, N, inDim, d.r); // (N, r)
  const delta = await gemm(xa, d.B, N, d.r, outDim, { transB: true }); // (N, out)
  for (let n = 0; n < N; n++) {
    const yo = n * width + col;
    const dOff = n * outDim;
    for (let i = 0; i < outDim; i++) y[yo + i] += d.scale * delta[dOff + i];
  }
}
