/**
 * The backward pass: one backward per forward layer kind (src/model/layers.ts), matrix products on
 * onnxruntime, driven by the tape a forward pass recorded. Gradients accumulate (+=) into f32 buffers laid out
 * like the parameters (`allocParams(cfg)`), with the same names and views.
 *
 *   linear   y = x·Wᵀ + b          dx += dy·W,   dW += dyᵀ·x,   db += Σ_rows dy
 *   LoRA     y += s·(x·Aᵀ)·Bᵀ       dB += s·dyᵀ·(x·Aᵀ),   dA += (s·dy·B)ᵀ·x,   dx += s·dy·B·A
 *   attention S = Q·Kᵀ, P = softmax(S/√D), ctx = P·V
 *            dV = Pᵀ·dctx, dP = dctx·Vᵀ, dS = P⊙(dP − rowsum(dP⊙P))/√D, dQ = dS·K, dK = dSᵀ·Q
 */
import type { ModelConfig } from "../model/config.ts";
import { activationBackward, addInPlace, gatedActivationBackward, layernormBackward, rmsnormBackward, ropeBackward, softmaxBackward } from "../model/layers.ts";
import ort from "onnxruntime-node";
import { bmm, gemm, linear, session } from "../model/matmul.ts";
import { onnxModel, type OnnxNode } from "../model/onnx.ts";
import type { FusedLinear, LayerParams, Linear, ModelParams, Norm, Weight } from "../model/params.ts";
import type { LoraDelta, Transformer } from "../model/transformer.ts";
import { qkvLayout, type BlockGradients, type LayerTape, type NormTape, type ResidualGradient, type Tape } from "../model/activations.ts";

export interface LoraGrad {
  A: Float32Array;
  B: Float32Array;
}

export interface BackwardOptions {
  /** gradients of the base weights, as views of a gradient buffer (omit to train LoRA only) */
  grads?: ModelParams<Float32Array>;
  /** gradients of LoRA parameters by module path */
  loraGrads?: Map<string, LoraGrad>;
  /** layers below this one have nothing to train: the backward pass stops there (default 0) */
  lowestLayer?: number;
}

function addTo(dst: Float32Array | undefined, src: Float32Array): void {
  if (dst) addInPlace(dst, src);
}

/**
 * The backward pass's buffers by role (llm.c's grad activations), each grown to the largest size asked and reused by
 * every block (they share shapes) and every step: no garbage of megabytes per block for the collector (buffers that
 * outlive a step would reach V8's old generation, collected only by its rare full collections, so memory would
 * creep), and no fresh pages. A buffer's contents are whatever its last user left: callers overwrite or zero it.
 */
export class Scratch {
  private readonly bufs = new Map<string, Float32Array>();
  get(role: string, n: number): Float32Array {
    let b = this.bufs.get(role);
    if (!b || b.length < n) this.bufs.set(role, (b = new Float32Array(n)));
    return b.subarray(0, n);
  }
  zeroed(role: string, n: number): Float32Array {
    return this.get(role, n).fill(0);
  }
}
/** One Scratch per model: its training steps run one at a time (its forward's workspace already requires it). */
const scratches = new WeakMap<Transformer, Scratch>();
export function scratchOf(model: Transformer): Scratch {
  let ws = scratches.get(model);
  if (!ws) scratches.set(model, (ws = new Scratch()));
  return ws;
}

let ones = new Float32Array(0);
/** db += Σ over the N rows of dy (N, width), as the product 1ᵀ·dy */
async function addColumnSums(db: Float32Array, dy: Float32Array, N: number, width: number, ws: Scratch): Promise<void> {
  if (ones.length < N) ones = new Float32Array(N).fill(1);
  addInPlace(db, await gemm(ones, dy, 1, N, width, { out: ws.get("colsum", width) }));
}

/**
 * What the backward pass starts from: the loss's gradient at the logits (M, V), or already at the final hidden rows
 * (M, C) that produced them (headLoss in loss.ts, which has taken the unembedding's part).
 */
export type HeadGradient = { dlogits: Float32Array } | { dh: Float32Array };

export async function backward(model: Transformer, tape: Tape, head: HeadGradient, opts: BackwardOptions): Promise<void> {
  const cfg = model.cfg;
  const { B, T } = tape;
  const N = B * T;
  const C = cfg.dModel;
  const V = cfg.vocabSize;
  const M = tape.logitPositions.length;
  const g = opts.grads;
  const lowest = opts.lowestLayer ?? 0;
  const ws = scratchOf(model);

  let dhRows: Float32Array;
  if ("dh" in head) dhRows = head.dh;
  else {
    // unembedding: logits (M,V) = hRows (M,C) · Uᵀ
    dhRows = await gemm(head.dlogits, model.params.unembed, M, V, C, { out: ws.get("dhRows", M * C) });
    if (g) addTo(g.unembed, await gemm(head.dlogits, tape.hRows, V, M, C, { transA: true, out: ws.get("dUnembed", V * C) }));
  }
  if (dhRows.length !== M * C) throw new Error(`backward: the head's gradient has ${dhRows.length} values, not ${M} × ${C}`);
  const dh = ws.zeroed("dh", N * C);
  for (let i = 0; i < M; i++) {
    const p = tape.logitPositions[i];
    for (let c = 0; c < C; c++) dh[p * C + c] += dhRows[i * C + c];
  }
  // the residual stream's gradient: dx at a block's output, dIn at its input (two buffers taking turns)
  let dx = ws.zeroed("resid0", N * C);
  let spare = ws.get("resid1", N * C);
  normBackward(cfg, dx, g?.lnFinal, dh, tape.lnFinal, model.params.lnFinal, N);

  // a checkpointed block's gradients come from its backward graph, run where the forward ran: d is the gradient at
  // the current block's output, a host array or the last graph's output (on the device, left there)
  let d: ResidualGradient = dx;
  for (let l = cfg.nLayers - 1; l >= lowest; l--) {
    const gl = g?.layers[l];
    const t = tape.layers[l];
    if (!t) {
      const r = await tape.blockBackward!(l, d, gl !== undefined);
      addBlockGradients(r, gl, opts.loraGrads);
      d = r.dx;
      continue;
    }
    if (d !== dx) dx.set(await tape.gradientToHost!(d));
    const p = model.params.layers[l];
    const dIn = spare;
    dIn.set(dx); // residual
    if (cfg.parallelResidual) {
      // x_out = x_in + attn(ln1 x_in) + mlp(ln2 x_in)
      const dh2 = await mlpBackward(model, l, t, dx, opts, ws);
      normBackward(cfg, dIn, gl?.ln2, dh2, t.ln2, p.ln2, N);
      const dh1 = await attentionBackward(model, l, t, tape, dx, opts, ws);
      normBackward(cfg, dIn, gl?.ln1, dh1, t.ln1, p.ln1, N);
    } else {
      // x_mid = x_in + attn(ln1 x_in);  x_out = x_mid + mlp(ln2 x_mid)
      const dh2 = await mlpBackward(model, l, t, dx, opts, ws);
      normBackward(cfg, dIn, gl?.ln2, dh2, t.ln2, p.ln2, N);
      const dMid = ws.get("dMid", N * C);
      dMid.set(dIn);
      const dh1 = await attentionBackward(model, l, t, tape, dMid, opts, ws);
      normBackward(cfg, dIn, gl?.ln1, dh1, t.ln1, p.ln1, N);
    }
    spare = dx;
    d = dx = dIn;
  }
  // embedding: row tokens[n] of the table receives dx[n]
  if (lowest === 0 && g) {
    if (d !== dx) dx.set(await tape.gradientToHost!(d));
    for (let n = 0; n < N; n++) {
      const o = tape.tokens[n] * C;
      for (let c = 0; c < C; c++) g.embed[o + c] += dx[n * C + c];
    }
  } else if (d !== dx) await tape.gradientToHost!(d); // frees it
  tape.release?.();
}

/** A block graph's gradients added into the layer's gradient views and the LoRA gradients. */
function addBlockGradients(r: BlockGradients, gl: LayerParams<Float32Array> | undefined, loraGrads: Map<string, LoraGrad> | undefined): void {
  if (gl && r.weights) {
    for (const k of ["ln1", "ln2", "qkv", "o", "up", "down"] as const) {
      addTo(gl[k].w, r.weights[k].w);
      if (r.weights[k].b && gl[k].b) addTo(gl[k].b, r.weights[k].b!);
    }
  }
  for (const [name, grad] of r.lora) {
    const lg = loraGrads?.get(name);
    if (lg) {
      addInPlace(lg.A, grad.A);
      addInPlace(lg.B, grad.B);
    }
  }
}

function normBackward(cfg: ModelConfig, dinp: Float32Array, gnorm: Norm | undefined, dout: Float32Array, t: NormTape, n: Norm, N: number): void {
  if (cfg.norm === "layernorm") layernormBackward(dinp, gnorm?.w, gnorm?.b, dout, t.inp, n.w, t.mean, t.rstd, N, cfg.dModel);
  else rmsnormBackward(dinp, gnorm?.w, dout, t.inp, n.w, t.rstd, N, cfg.dModel);
}

/** Backward of a group of linears computed as one product; returns dx (N, in), in the scratch buffer `role`. */
async function linearBackward(
  role: string,
  parts: Linear[],
  w: Weight,
  outDim: number,
  inDim: number,
  gw: Float32Array | undefined,
  gb: Float32Array | undefined,
  x: Float32Array,
  dy: Float32Array,
  N: number,
  model: Transformer,
  opts: BackwardOptions,
  ws: Scratch,
): Promise<Float32Array> {
  const dx = await gemm(dy, w, N, outDim, inDim, { out: ws.get(role, N * inDim) });
  if (gw) addInPlace(gw, await gemm(dy, x, outDim, N, inDim, { transA: true, out: ws.get("dW", outDim * inDim) }));
  if (gb) await addColumnSums(gb, dy, N, outDim, ws);
  let col = 0;
  for (const part of parts) {
    const d: LoraDelta | undefined = model.lora.get(part.name);
    const lg = opts.loraGrads?.get(part.name);
    if (d) {
      // this part's slice of dy, (N, out_part): dy itself when the part is the whole product
      const whole = part.outDim === outDim;
      const dyp = whole ? dy : ws.get("lora_dy", N * part.outDim);
      if (!whole) for (let r = 0; r < N; r++) dyp.set(dy.subarray(r * outDim + col, r * outDim + col + part.outDim), r * part.outDim);
      const h = await linear(x, d.A, N, inDim, d.r, undefined, ws.get("lora_h", N * d.r)); // (N, r) = x·Aᵀ
      const dh = await gemm(dyp, d.B, N, part.outDim, d.r, { out: ws.get("lora_dh", N * d.r) }); // (N, r) = dy·B
      for (let i = 0; i < dh.length; i++) dh[i] *= d.scale;
      if (lg) {
        const gB = await gemm(dyp, h, part.outDim, N, d.r, { transA: true, out: ws.get("lora_gB", part.outDim * d.r) }); // (out, r)
        for (let i = 0; i < gB.length; i++) lg.B[i] += d.scale * gB[i];
        addInPlace(lg.A, await gemm(dh, x, d.r, N, inDim, { transA: true, out: ws.get("lora_gA", d.r * inDim) })); // (r, in)
      }
      addInPlace(dx, await gemm(dh, d.A, N, d.r, inDim, { out: ws.get("lora_dx", N * inDim) })); // (N, in)
    }
    col += part.outDim;
  }
  return dx;
}

const fusedBackward = (role: string, f: FusedLinear, gf: FusedLinear<Float32Array> | undefined, x: Float32Array, dy: Float32Array, N: number, model: Transformer, opts: BackwardOptions, ws: Scratch) =>
  linearBackward(role, f.parts, f.w, f.outDim, f.inDim, gf?.w, gf?.b, x, dy, N, model, opts, ws);
const plainBackward = (role: string, lin: Linear, gl: Linear<Float32Array> | undefined, x: Float32Array, dy: Float32Array, N: number, model: Transformer, opts: BackwardOptions, ws: Scratch) =>
  linearBackward(role, [lin], lin.w, lin.outDim, lin.inDim, gl?.w, gl?.b, x, dy, N, model, opts, ws);

/** dOut (N,C) of the MLP's output → gradient at its input (N,C) */
async function mlpBackward(model: Transformer, l: number, t: LayerTape, dOut: Float32Array, opts: BackwardOptions, ws: Scratch): Promise<Float32Array> {
  const cfg = model.cfg;
  const N = t.ln1.rstd.length; // rows: one norm statistic each
  const p = model.params.layers[l];
  const gl = opts.grads?.layers[l];
  const dAct = await plainBackward("dAct", p.down, gl?.down, t.act, dOut, N, model, opts, ws);
  // gated: dUp (N, 2F) is wider than dAct (N, F); otherwise the activation's backward runs in place
  const dUp = cfg.gatedMlp ? ws.get("dUp", t.up.length) : dAct;
  if (cfg.gatedMlp) gatedActivationBackward(dUp, dAct, t.up, N, cfg.dFF, cfg.activation);
  else if (cfg.activation === "gelu") await geluBackward(dUp, dAct, t.up, ws);
  else activationBackward(dUp, dAct, t.up, cfg.activation);
  return fusedBackward("dh2", p.up, gl?.up, t.ln2.out, dUp, N, model, opts, ws);
}

/** Values per run of the GELU backward graph: its intermediates (a few of this size) stay small in its arena. */
const GELU_CHUNK = 1 << 16;

/**
 * dx = dy · GELU'(x),  GELU'(x) = Φ(x) + x·φ(x),  Φ(x) = ½(1 + erf(x/√2)),  φ(x) = exp(−x²/2)/√(2π): the exact
 * derivative of onnxruntime's Gelu in the block graphs, vectorised (erf and exp over millions of values a step).
 */
function geluBackwardSession(): Promise<ort.InferenceSession> {
  const c = (name: string, v: number): OnnxNode => ({ op: "Constant", inputs: [], outputs: [name], attrs: { value_float: { float: v } } });
  return session(
    "gelu-backward",
    () =>
      onnxModel(
        [
          c("one", 1),
          c("inv_sqrt2", Math.SQRT1_2),
          c("half", 0.5),
          c("minus_half", -0.5),
          c("inv_sqrt_2pi", 1 / Math.sqrt(2 * Math.PI)),
          { op: "Mul", inputs: ["x", "inv_sqrt2"], outputs: ["u"] },
          { op: "Erf", inputs: ["u"], outputs: ["erf"] },
          { op: "Add", inputs: ["erf", "one"], outputs: ["erf1"] },
          { op: "Mul", inputs: ["erf1", "half"], outputs: ["cdf"] },
          { op: "Mul", inputs: ["x", "x"], outputs: ["x2"] },
          { op: "Mul", inputs: ["x2", "minus_half"], outputs: ["e"] },
          { op: "Exp", inputs: ["e"], outputs: ["ex"] },
          { op: "Mul", inputs: ["ex", "inv_sqrt_2pi"], outputs: ["pdf"] },
          { op: "Mul", inputs: ["x", "pdf"], outputs: ["xpdf"] },
          { op: "Add", inputs: ["cdf", "xpdf"], outputs: ["grad"] },
          { op: "Mul", inputs: ["dy", "grad"], outputs: ["dx"] },
        ],
        [["dy", ["n"]], ["x", ["n"]]],
        [["dx", ["n"]]],
      ),
    true,
  );
}

/** dinp = dout · GELU'(pre), in chunks; dinp may be dout itself (each chunk is written after it is read). */
async function geluBackward(dinp: Float32Array, dout: Float32Array, pre: Float32Array, ws: Scratch): Promise<void> {
  const s = await geluBackwardSession();
  const out = ws.get("gelu_dx", Math.min(GELU_CHUNK, pre.length));
  const t = (a: Float32Array, i0: number, n: number) => new ort.Tensor("float32", a.subarray(i0, i0 + n), [n]);
  for (let i0 = 0; i0 < pre.length; i0 += GELU_CHUNK) {
    const n = Math.min(GELU_CHUNK, pre.length - i0);
    await s.run({ dy: t(dout, i0, n), x: t(pre, i0, n) }, { dx: t(out, 0, n) });
    dinp.set(out.subarray(0, n), i0);
  }
}

/** dOut (N,C) of the attention's output → gradient at its input (N,C) */
async function attentionBackward(model: Transformer, l: number, t: LayerTape, tape: Tape, dOut: Float32Array, opts: BackwardOptions, ws: Scratch): Promise<Float32Array> {
  const cfg = model.cfg;
  const { B, T } = tape;
  const N = B * T;
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = cfg;
  const g = H / Hkv;
  const rows = g * T;
  const Tk = T; // no cache while training
  const p = model.params.layers[l];
  const gl = opts.grads?.layers[l];

  const dMerged = await plainBackward("dMerged", p.o, gl?.o, t.merged, dOut, N, model, opts, ws);
  // (N, H·D) → dctx (B, H, T, D) = (B·Hkv, g·T, D)
  const dctx = ws.get("dctx", B * H * T * D);
  for (let b = 0; b < B; b++)
    for (let hd = 0; hd < H; hd++)
      for (let tt = 0; tt < T; tt++) {
        const src = (b * T + tt) * H * D + hd * D;
        const dst = ((b * H + hd) * T + tt) * D;
        for (let i = 0; i < D; i++) dctx[dst + i] = dMerged[src + i];
      }
  const dV = await bmm(t.P, dctx, B * Hkv, Tk, rows, D, false, ws.get("dV", B * Hkv * Tk * D), true); // Pᵀ·dctx
  const dS = await bmm(dctx, t.V, B * Hkv, rows, D, Tk, true, ws.get("dS", B * Hkv * rows * Tk)); // dctx·Vᵀ
  softmaxBackward(dS, t.P, B * Hkv * rows, Tk, 1 / Math.sqrt(D));
  const dQ = await bmm(dS, t.K, B * Hkv, rows, Tk, D, false, ws.get("dQ", B * Hkv * rows * D)); // dS·K
  const dK = await bmm(dS, t.Q, B * Hkv, Tk, rows, D, false, ws.get("dK", B * Hkv * Tk * D), true); // dSᵀ·Q

  // scatter into dqkv (N, W), in the forward's layout
  const layout = qkvLayout(cfg);
  const W = layout.W;
  const dqkv = ws.get("dAct", N * W); // every entry written below; the MLP's dAct is spent by now
  for (let b = 0; b < B; b++) {
    for (let hd = 0; hd < H; hd++) {
      const qo = layout.q(hd);
      for (let tt = 0; tt < T; tt++) {
        const src = ((b * H + hd) * T + tt) * D;
        const dst = (b * T + tt) * W + qo;
        for (let i = 0; i < D; i++) dqkv[dst + i] = dQ[src + i];
      }
    }
    for (let hd = 0; hd < Hkv; hd++) {
      const ko = layout.k(hd);
      const vo = layout.v(hd);
      for (let tt = 0; tt < T; tt++) {
        const src = ((b * Hkv + hd) * Tk + tt) * D;
        const row = (b * T + tt) * W;
        for (let i = 0; i < D; i++) {
          dqkv[row + ko + i] = dK[src + i];
          dqkv[row + vo + i] = dV[src + i];
        }
      }
    }
  }
  layout.rope(ropeBackward, dqkv, tape.rope, N);
  return fusedBackward("dh1", p.qkv, gl?.qkv, t.ln1.out, dqkv, N, model, opts, ws);
}
