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
import type { ModelConfig } from "./config.ts";
import {
  activationForward,
  addInPlace,
  embeddingForward,
  gatedActivationForward,
  layernormForward,
  causalSoftmaxForward,
  rmsnormForward,
  ropeForward,
  ropeTables,
} from "./layers.ts";
import { bmm, gemm, linear } from "./matmul.ts";
import type { FusedLinear, Linear, ModelParams, Norm } from "./params.ts";

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
}

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

export interface ForwardOptions {
  hooks?: Hooks;
  /** which positions get logits: every position, the last of each row (default), or none */
  logits?: "all" | "last" | "none";
  /** return the KV cache for a continuation */
  returnCache?: boolean;
}

export interface ForwardOutput {
  /** (B, T, V) for "all"; (B, V) for "last"; empty for "none" */
  logits: Float32Array;
  cache?: KVCache;
}

export class Transformer {
  readonly cfg: ModelConfig;
  readonly params: ModelParams;
  /** unmerged LoRA updates by module path (e.g. gpt_neox.layers.3.attention.query_key_value) */
  readonly lora = new Map<string, LoraDelta>();
  /** activation buffers, allocated once per size and reused by every forward (llm.c style) */
  private readonly workspace = new Map<string, Float32Array>();
  private busy = false;

  constructor(cfg: ModelConfig, params: ModelParams) {
    this.cfg = cfg;
    this.params = params;
  }

  /** A reusable activation buffer of n floats (contents undefined). */
  private buf(name: string, n: number): Float32Array {
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
    this.busy = true;
    try {
      return await this.forwardImpl(input, opts);
    } finally {
      this.busy = false;
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

    const rope = ropeTables(positions, cfg.rotaryDims, cfg.ropeTheta);
    const shape = { B, T, C };
    const hook = (name: string, x: Float32Array) => opts.hooks?.[name]?.(x, shape);

    // x is (N,C)
    const x = this.buf("x", N * C);
    embeddingForward(x, tokens, params.embed, C);
    hook("hook_embed", x);

    const newK: Float32Array[] = [];
    const newV: Float32Array[] = [];
    const h = this.buf("h", N * C);
    for (let l = 0; l < cfg.nLayers; l++) {
      const layer = params.layers[l];
      hook(`blocks.${l}.hook_resid_pre`, x);
      this.norm(h, x, layer.ln1, N);
      const { out: attn, k, v } = await this.attention(l, h, B, T, rope, keyMask, keyPos, cache, opts.returnCache === true);
      newK.push(k);
      newV.push(v);
      if (cfg.parallelResidual) {
        this.norm(h, x, layer.ln2, N);
        const m = await this.mlp(l, h, N);
        addInPlace(x, attn);
        addInPlace(x, m);
      } else {
        addInPlace(x, attn);
        this.norm(h, x, layer.ln2, N);
        addInPlace(x, await this.mlp(l, h, N));
      }
      hook(`blocks.${l}.hook_resid_post`, x);
    }
    this.norm(h, x, params.lnFinal, N);
    hook("ln_final.hook_normalized", h);

    const logits = await this.unembed(h, B, T, opts.logits ?? "last");
    const out: ForwardOutput = { logits };
    if (opts.returnCache) {
      const cacheMask = keyMask;
      out.cache = { B, T: Tk, k: newK, v: newV, mask: cacheMask, nextPos };
    }
    return out;
  }

  private norm(out: Float32Array, inp: Float32Array, n: Norm, N: number): void {
    if (this.cfg.norm === "layernorm") layernormForward(out, inp, n.w, n.b, N, this.cfg.dModel, this.cfg.normEps);
    else rmsnormForward(out, inp, n.w, N, this.cfg.dModel, this.cfg.normEps);
  }

  /** y (N, out) = x · wᵀ + b for a fused group of linears, plus their unmerged LoRA updates. */
  private async fusedLinear(f: FusedLinear, x: Float32Array, N: number, out: string): Promise<Float32Array> {
    const y = await linear(x, f.w, N, f.inDim, f.outDim, f.b, this.buf(out, N * f.outDim));
    let col = 0;
    for (const part of f.parts) {
      const d = this.lora.get(part.name);
      if (d) await addLoraDelta(y, x, d, N, part.inDim, part.outDim, f.outDim, col);
      col += part.outDim;
    }
    return y;
  }

  private async plainLinear(lin: Linear, x: Float32Array, N: number, out: string): Promise<Float32Array> {
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
  ): Promise<{ out: Float32Array; k: Float32Array; v: Float32Array }> {
    const { cfg } = this;
    const { nHeads: H, nKvHeads: Hkv, headDim: D, rotaryDims: R } = cfg;
    const g = H / Hkv;
    const N = B * T;
    const qkv = await this.fusedLinear(this.params.layers[l].qkv, h, N, "qkv");
    const W = qkv.length / N;

    // where head hd's q, k, v start within a row of qkv
    const neox = cfg.arch === "gpt_neox"; // (H, 3, D) per row; Llama: [q (H·D) | k (Hkv·D) | v (Hkv·D)]
    const qOff = (hd: number) => (neox ? hd * 3 * D : hd * D);
    const kOff = (hd: number) => (neox ? hd * 3 * D + D : H * D + hd * D);
    const vOff = (hd: number) => (neox ? hd * 3 * D + 2 * D : H * D + Hkv * D + hd * D);
    if (R > 0) {
      if (neox) {
        ropeForward(qkv, rope.cos, rope.sin, N, H, D, R, W, 0, 3 * D);
        ropeForward(qkv, rope.cos, rope.sin, N, H, D, R, W, D, 3 * D);
      } else {
        ropeForward(qkv, rope.cos, rope.sin, N, H, D, R, W, 0, D);
        ropeForward(qkv, rope.cos, rope.sin, N, Hkv, D, R, W, H * D, D);
      }
    }

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
        const ko = kOff(hd);
        const vo = vOff(hd);
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
        const qo = qOff(hd);
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
    return { out, k: K, v: V };
  }

  private async mlp(l: number, h: Float32Array, N: number): Promise<Float32Array> {
    const { cfg } = this;
    const layer = this.params.layers[l];
    const up = await this.fusedLinear(layer.up, h, N, "up");
    let act: Float32Array;
    if (cfg.gatedMlp) {
      act = this.buf("act", N * cfg.dFF);
      gatedActivationForward(act, up, N, cfg.dFF, cfg.activation);
    } else {
      activationForward(up, cfg.activation);
      act = up;
    }
    return this.plainLinear(layer.down, act, N, "mlp");
  }

  private async unembed(h: Float32Array, B: number, T: number, which: "all" | "last" | "none"): Promise<Float32Array> {
    const { dModel: C, vocabSize: V } = this.cfg;
    if (which === "none") return new Float32Array(0);
    let rows = h;
    let M = B * T;
    if (which === "last") {
      rows = new Float32Array(B * C);
      for (let b = 0; b < B; b++) rows.set(h.subarray((b * T + T - 1) * C, (b * T + T) * C), b * C);
      M = B;
    }
    return linear(rows, this.params.unembed, M, C, V);
  }
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
