/**
 * The parameters of a model, as views into one Float32Array (llm.c style), named with the Hugging Face
 * tensor names so checkpoints and PEFT adapters map onto them without translation tables.
 *
 * Linear layers that read the same input are laid out next to each other (Llama's q/k/v and gate/up),
 * so one matrix product computes them together.
 */
import type { ModelConfig } from "./config.ts";

export interface ParamSpec {
  name: string;
  shape: number[];
}

/** A linear layer y = x·wᵀ + b; `w` is (out, in). */
export interface Linear {
  /** module path, e.g. model.layers.0.self_attn.q_proj */
  name: string;
  w: Float32Array;
  b?: Float32Array;
  inDim: number;
  outDim: number;
}

/** Linear layers computed by one product: their weights are contiguous, so `w` views them all. */
export interface FusedLinear {
  parts: Linear[];
  w: Float32Array;
  b?: Float32Array;
  inDim: number;
  outDim: number;
}

export interface Norm {
  w: Float32Array;
  b?: Float32Array;
}

export interface LayerParams {
  ln1: Norm;
  ln2: Norm;
  /** GPT-NeoX: [query_key_value]; Llama/Mistral: [q_proj, k_proj, v_proj] */
  qkv: FusedLinear;
  o: Linear;
  /** GPT-NeoX: [dense_h_to_4h]; Llama/Mistral: [gate_proj, up_proj] */
  up: FusedLinear;
  down: Linear;
}

export interface ModelParams {
  /** every parameter, in one buffer */
  buffer: Float32Array;
  /** HF tensor name → view */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  embed: Float32Array;
  layers: LayerParams[];
  lnFinal: Norm;
  /** (V, C); the embedding itself when tied */
  unembed: Float32Array;
}

/** The tensors of a model in buffer order (Hugging Face names and shapes). */
export function paramSpecs(cfg: ModelConfig): ParamSpec[] {
  const { dModel: C, dFF: F, vocabSize: V, nHeads: H, nKvHeads: Hkv, headDim: D } = cfg;
  const specs: ParamSpec[] = [];
  const add = (name: string, ...shape: number[]) => specs.push({ name, shape });
  if (cfg.arch === "gpt_neox") {
    add("gpt_neox.embed_in.weight", V, C);
    for (let i = 0; i < cfg.nLayers; i++) {
      const p = `gpt_neox.layers.${i}`;
      add(`${p}.input_layernorm.weight`, C);
      add(`${p}.input_layernorm.bias`, C);
      add(`${p}.post_attention_layernorm.weight`, C);
      add(`${p}.post_attention_layernorm.bias`, C);
      add(`${p}.attention.query_key_value.weight`, 3 * H * D, C);
      if (cfg.attentionBias) add(`${p}.attention.query_key_value.bias`, 3 * H * D);
      add(`${p}.attention.dense.weight`, C, H * D);
      if (cfg.attentionBias) add(`${p}.attention.dense.bias`, C);
      add(`${p}.mlp.dense_h_to_4h.weight`, F, C);
      add(`${p}.mlp.dense_h_to_4h.bias`, F);
      add(`${p}.mlp.dense_4h_to_h.weight`, C, F);
      add(`${p}.mlp.dense_4h_to_h.bias`, C);
    }
    add("gpt_neox.final_layer_norm.weight", C);
    add("gpt_neox.final_layer_norm.bias", C);
    if (!cfg.tieWordEmbeddings) add("embed_out.weight", V, C);
    return specs;
  }
  add("model.embed_tokens.weight", V, C);
  for (let i = 0; i < cfg.nLayers; i++) {
    const p = `model.layers.${i}`;
    add(`${p}.input_layernorm.weight`, C);
    add(`${p}.post_attention_layernorm.weight`, C);
    // q, k, v weights contiguous (one product), then their biases contiguous
    add(`${p}.self_attn.q_proj.weight`, H * D, C);
    add(`${p}.self_attn.k_proj.weight`, Hkv * D, C);
    add(`${p}.self_attn.v_proj.weight`, Hkv * D, C);
    if (cfg.attentionBias) {
      add(`${p}.self_attn.q_proj.bias`, H * D);
      add(`${p}.self_attn.k_proj.bias`, Hkv * D);
      add(`${p}.self_attn.v_proj.bias`, Hkv * D);
    }
    add(`${p}.self_attn.o_proj.weight`, C, H * D);
    if (cfg.attentionBias) add(`${p}.self_attn.o_proj.bias`, C);
    add(`${p}.mlp.gate_proj.weight`, F, C);
    add(`${p}.mlp.up_proj.weight`, F, C);
    if (cfg.mlpBias) {
      add(`${p}.mlp.gate_proj.bias`, F);
      add(`${p}.mlp.up_proj.bias`, F);
    }
    add(`${p}.mlp.down_proj.weight`, C, F);
    if (cfg.mlpBias) add(`${p}.mlp.down_proj.bias`, C);
  }
  add("model.norm.weight", C);
  if (!cfg.tieWordEmbeddings) add("lm_head.weight", V, C);
  return specs;
}

export function numParams(cfg: ModelConfig): number {
  return paramSpecs(cfg).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

/** Allocate the buffer (zeros) and build the views. */
export function allocParams(cfg: ModelConfig, buffer?: Float32Array): ModelParams {
  const specs = paramSpecs(cfg);
  const total = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  const buf = buffer ?? new Float32Array(total);
  if (buf.length !== total) throw new Error(`parameter buffer has ${buf.length} floats, the model needs ${total}`);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  let off = 0;
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    tensors.set(s.name, { shape: s.shape, data: buf.subarray(off, off + n) });
    off += n;
  }
  return viewsOf(cfg, buf, tensors);
}

function viewsOf(cfg: ModelConfig, buffer: Float32Array, tensors: ModelParams["tensors"]): ModelParams {
  const t = (name: string) => tensors.get(name)!.data;
  const opt = (name: string) => tensors.get(name)?.data;
  const lin = (name: string): Linear => {
    const { shape, data } = tensors.get(`${name}.weight`)!;
    return { name, w: data, b: opt(`${name}.bias`), outDim: shape[0], inDim: shape[1] };
  };
  /** contiguous linears → one view over their weights (and biases) */
  const fuse = (parts: Linear[]): FusedLinear => {
    const first = parts[0].w;
    const outDim = parts.reduce((n, p) => n + p.outDim, 0);
    const w = new Float32Array(first.buffer, first.byteOffset, outDim * parts[0].inDim);
    let b: Float32Array | undefined;
    if (parts[0].b) b = new Float32Array(parts[0].b.buffer, parts[0].b.byteOffset, outDim);
    for (let i = 1; i < parts.length; i++) {
      if (parts[i].w.byteOffset !== parts[i - 1].w.byteOffset + parts[i - 1].w.byteLength) throw new Error("fused weights are not contiguous");
    }
    return { parts, w, b, inDim: parts[0].inDim, outDim };
  };
  const norm = (name: string): Norm => ({ w: t(`${name}.weight`), b: opt(`${name}.bias`) });
  const layers: LayerParams[] = [];
  for (let i = 0; i < cfg.nLayers; i++) {
    if (cfg.arch === "gpt_neox") {
      const p = `gpt_neox.layers.${i}`;
      layers.push({
        ln1: norm(`${p}.input_layernorm`),
        ln2: norm(`${p}.post_attention_layernorm`),
        qkv: fuse([lin(`${p}.attention.query_key_value`)]),
        o: lin(`${p}.attention.dense`),
        up: fuse([lin(`${p}.mlp.dense_h_to_4h`)]),
        down: lin(`${p}.mlp.dense_4h_to_h`),
      });
    } else {
      const p = `model.layers.${i}`;
      layers.push({
        ln1: norm(`${p}.input_layernorm`),
        ln2: norm(`${p}.post_attention_layernorm`),
        qkv: fuse([lin(`${p}.self_attn.q_proj`), lin(`${p}.self_attn.k_proj`), lin(`${p}.self_attn.v_proj`)]),
        o: lin(`${p}.self_attn.o_proj`),
        up: fuse([lin(`${p}.mlp.gate_proj`), lin(`${p}.mlp.up_proj`)]),
        down: lin(`${p}.mlp.down_proj`),
      });
    }
  }
  const neox = cfg.arch === "gpt_neox";
  const embed = t(neox ? "gpt_neox.embed_in.weight" : "model.embed_tokens.weight");
  return {
    buffer,
    tensors,
    embed,
    layers,
    lnFinal: norm(neox ? "gpt_neox.final_layer_norm" : "model.norm"),
    unembed: cfg.tieWordEmbeddings ? embed : t(neox ? "embed_out.weight" : "lm_head.weight"),
  };
}
