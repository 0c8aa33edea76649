/**
 * The engine's activations, declared: the forward pass's reusable buffers (its workspace), what a forward records for
 * its backward (the tape, with shapes; train/backward.ts reads it), and the one layout of the fused q/k/v projection
 * that forward and backward both use.
 */
import type { ModelConfig } from "./config.ts";

/**
 * The forward pass's activation buffers by name (llm.c's ActivationTensors): each grows to the largest batch seen and
 * is reused by every forward. N = B·T rows; W = q/k/v width; Tk = cached + new positions; g = H / Hkv.
 */
export const ACTIVATIONS = {
  x: "(N, C) residual stream",
  xNext: "(N, C) residual stream after a block run as one graph (it and x take turns)",
  h: "(N, C) normalised residual",
  qkv: "(N, W) fused q/k/v projections, rotary applied",
  Q: "(B, H, T, D) queries, grouped by K/V head",
  K: "(B, Hkv, Tk, D) keys",
  V: "(B, Hkv, Tk, D) values",
  scores: "(B·Hkv, g·T, Tk) attention scores, then probabilities",
  ctx: "(B·Hkv, g·T, D) attention output per head",
  merged: "(N, H·D) heads side by side, input of the output projection",
  attn: "(N, C) attention block output",
  up: "(N, F) or (N, 2F) up (and gate) projection",
  act: "(N, F) activation, input of the down projection",
  mlp: "(N, C) MLP block output",
} as const;
export type Activation = keyof typeof ACTIVATIONS;

/** Statistics of one norm application: its input, output and per-row mean (LayerNorm) and 1/std. */
export interface NormTape {
  inp: Float32Array;
  out: Float32Array;
  mean: Float32Array;
  rstd: Float32Array;
}

export interface LayerTape {
  ln1: NormTape;
  /** (B·Hkv, g·T, D), (B·Hkv, Tk, D), (B·Hkv, Tk, D) */
  Q: Float32Array;
  K: Float32Array;
  V: Float32Array;
  /** (B·Hkv, g·T, Tk) attention probabilities */
  P: Float32Array;
  /** (N, H·D) input of the output projection */
  merged: Float32Array;
  ln2: NormTape;
  /** (N, F) or (N, 2F): the up projection before the activation */
  up: Float32Array;
  /** (N, F): input of the down projection */
  act: Float32Array;
}

/** A gradient at the residual stream (N, C): a host array, or a tensor left on the device the forward ran on (opaque above src/model). */
export type ResidualGradient = Float32Array | object;

/** One block's gradients from its backward graph: weights (when asked) by their place in the layer, LoRA by module. */
export interface BlockGradients {
  dx: ResidualGradient;
  weights?: { ln1: { w: Float32Array; b?: Float32Array }; ln2: { w: Float32Array; b?: Float32Array } } & Record<"qkv" | "o" | "up" | "down", { w: Float32Array; b?: Float32Array }>;
  /** dA (r, in) and dB (out, r) of each LoRA update in the block, by module path */
  lora: Map<string, { A: Float32Array; B: Float32Array }>;
}

/** Everything a forward pass recorded for its backward pass. */
export interface Tape {
  B: number;
  T: number;
  tokens: Int32Array;
  keyMask: Uint8Array;
  keyPos: Int32Array;
  rope: { cos: Float32Array; sin: Float32Array };
  /** per block; a checkpointed block has none here: its backward is `blockBackward`, from its saved input */
  layers: (LayerTape | undefined)[];
  /** checkpointed blocks' inputs (N, C), by block (host arrays; a later forward may take them again) */
  inputs?: Map<number, Float32Array>;
  /**
   * A checkpointed block's backward as one graph (block-backward.ts) that recomputes the block from its saved input,
   * on the device that ran the forward: dy at block l's output → dx at its input and the block's gradients.
   */
  blockBackward?: (l: number, dy: ResidualGradient, weightGrads: boolean) => Promise<BlockGradients>;
  /** a residual gradient (N, C) as a host array */
  gradientToHost?: (d: ResidualGradient) => Promise<Float32Array>;
  /**
   * The training loss at the logit positions (loss.ts's headLoss) computed on the device that ran the forward, from
   * hRows there; a CPU forward has none (headLoss computes it on the host).
   */
  headLoss?: (targets: Int32Array, coef: Float32Array, opts: { gradUnembed?: Float32Array; chunk?: number }) => Promise<{ nll: Float32Array; dh: Float32Array }>;
  /** free what the tape holds on a device (the backward pass calls it when done) */
  release?: () => void;
  lnFinal: NormTape;
  /** flat positions that got logits, and the final hidden rows there (M, C) */
  logitPositions: Int32Array;
  hRows: Float32Array;
}

/**
 * Where head hd's q, k and v start within a row of the fused qkv projection (W wide). GPT-NeoX interleaves them per
 * head, (H, 3, D); Llama and Mistral lay out [q (H·D) | k (Hkv·D) | v (Hkv·D)]. `rope(f)` applies a rotary
 * function (forward or backward) to the queries and keys in place, with the layout's strides.
 */
export function qkvLayout(cfg: ModelConfig) {
  const { nHeads: H, nKvHeads: Hkv, headDim: D, rotaryDims: R } = cfg;
  const neox = cfg.arch === "gpt_neox";
  const W = neox ? 3 * H * D : (H + 2 * Hkv) * D;
  type Rotary = (x: Float32Array, cos: Float32Array, sin: Float32Array, N: number, heads: number, D: number, R: number, stride: number, offset: number, headStride: number) => void;
  return {
    W,
    q: (hd: number) => (neox ? hd * 3 * D : hd * D),
    k: (hd: number) => (neox ? hd * 3 * D + D : H * D + hd * D),
    v: (hd: number) => (neox ? hd * 3 * D + 2 * D : H * D + Hkv * D + hd * D),
    rope(f: Rotary, x: Float32Array, rope: { cos: Float32Array; sin: Float32Array }, N: number): void {
      if (R === 0) return;
      f(x, rope.cos, rope.sin, N, H, D, R, W, 0, neox ? 3 * D : D); // queries
      f(x, rope.cos, rope.sin, N, neox ? H : Hkv, D, R, W, neox ? D : H * D, neox ? 3 * D : D); // keys
    },
  };
}
