/**
 * The parameters of a model, as views into per-group buffers (llm.c style, one buffer set per block), named with
 * the Hugging Face tensor names so checkpoints and PEFT adapters map onto them without translation tables.
 *
 * Groups: 0 the embedding, 1..L the blocks, L+1 the final norm and unembedding. Each group holds its matrices in
 * one buffer, f32 or, for a 16-bit checkpoint, the f16/bf16 bits as stored (upcast exactly, per product), and its
 * vectors (norms, biases: < 0.1% of the weights) in an f32 buffer. A streamed model has two block groups, windows
 * that the blocks take turns in (block l in window l mod 2), filled from disk as the forward pass reaches them.
 *
 * Linear layers that read the same input are laid out next to each other (Llama's q/k/v and gate/up),
 * so one matrix product computes them together.
 */
import type { ModelConfig } from "./config.ts";
import { embeddingForward } from "./layers.ts";
import { F16_TO_F32 } from "./safetensors.ts";

export interface ParamSpec {
  name: string;
  shape: number[];
}

/** How the matrices of a model are held: f32, or the bits of an f16/bf16 checkpoint. */
export type MatrixDtype = "F32" | "F16" | "BF16";

/** f16 or bf16 values held as their 16 bits; every 16-bit value has an exact f32 (upcast below). */
export class Half {
  constructor(
    readonly dtype: "F16" | "BF16",
    readonly bits: Uint16Array,
  ) {}

  get length(): number {
    return this.bits.length;
  }

  subarray(begin: number, end: number): Half {
    return new Half(this.dtype, this.bits.subarray(begin, end));
  }

  /** out[i] = value of element begin + i, for i < out.length (exact). */
  upcastInto(out: Float32Array, begin = 0): Float32Array {
    const n = out.length;
    const src = this.bits.subarray(begin, begin + n);
    if (src.length !== n) throw new RangeError(`upcast: elements [${begin}, ${begin + n}) outside a tensor of ${this.length}`);
    if (this.dtype === "BF16") {
      // bf16 is the top half of an f32
      const u32 = new Uint32Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) u32[i] = src[i] << 16;
    } else {
      const table = F16_TO_F32; // a local: an imported binding may be a getter in the loop
      for (let i = 0; i < n; i++) out[i] = table[src[i]];
    }
    return out;
  }
}

/** A weight matrix as held in memory. */
export type Weight = Float32Array | Half;

/** The f32 values of a weight: the array itself, or a fresh upcast copy. */
export function toF32(w: Weight): Float32Array {
  return w instanceof Half ? w.upcastInto(new Float32Array(w.length)) : w;
}

/** A linear layer y = x·wᵀ + b; `w` is (out, in). */
export interface Linear<W extends Weight = Weight> {
  /** module path, e.g. model.layers.0.self_attn.q_proj */
  name: string;
  w: W;
  b?: Float32Array;
  inDim: number;
  outDim: number;
}

/** Linear layers computed by one product: their weights are contiguous, so `w` views them all. */
export interface FusedLinear<W extends Weight = Weight> {
  parts: Linear<W>[];
  w: W;
  b?: Float32Array;
  inDim: number;
  outDim: number;
}

export interface Norm {
  w: Float32Array;
  b?: Float32Array;
}

export interface LayerParams<W extends Weight = Weight> {
  ln1: Norm;
  ln2: Norm;
  /** GPT-NeoX: [query_key_value]; Llama/Mistral: [q_proj, k_proj, v_proj] */
  qkv: FusedLinear<W>;
  o: Linear<W>;
  /** GPT-NeoX: [dense_h_to_4h]; Llama/Mistral: [gate_proj, up_proj] */
  up: FusedLinear<W>;
  down: Linear<W>;
}

/** The memory of one group: its matrices in one buffer, its vectors (norms, biases) in another. */
export interface ParamBuffers<W extends Weight = Weight> {
  matrices: W;
  vectors: Float32Array;
}

export interface ModelParams<W extends Weight = Weight> {
  dtype: MatrixDtype;
  /** true: the block groups are two windows filled from disk (see Transformer's weight stream) */
  streamed: boolean;
  /** the buffers every view points into: embedding, blocks (or the two windows), final norm + unembedding */
  groups: ParamBuffers<W>[];
  /** HF tensor name → view (a streamed model's block tensors show whatever block their window holds) */
  tensors: Map<string, { shape: number[]; data: W | Float32Array }>;
  embed: W;
  layers: LayerParams<W>[];
  lnFinal: Norm;
  /** (V, C); the embedding itself when tied */
  unembed: W;
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

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function numParams(cfg: ModelConfig): number {
  return paramSpecs(cfg).reduce((n, s) => n + numel(s.shape), 0);
}

/** Which block a tensor belongs to, or -1 (embedding, final norm, unembedding). */
export function blockOf(name: string): number {
  const m = /\.layers\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : -1;
}

const isEmbedding = (name: string) => name === "gpt_neox.embed_in.weight" || name === "model.embed_tokens.weight";

/** Group of a tensor: 0 embedding, 1 + block (streamed: 1 + block mod 2, a window), last the final norm + unembedding. */
function groupOf(cfg: ModelConfig, name: string, streamed: boolean): number {
  const l = blockOf(name);
  if (l >= 0) return 1 + (streamed ? l % 2 : l);
  return isEmbedding(name) ? 0 : streamed ? 3 : cfg.nLayers + 1;
}

/** The bytes the weights take in memory, matrices as `dtype`, vectors as f32; `block` of one block alone. */
export function weightBytes(cfg: ModelConfig, dtype: MatrixDtype): { total: number; block: number } {
  const per = dtype === "F32" ? 4 : 2;
  let total = 0;
  let block = 0;
  for (const s of paramSpecs(cfg)) {
    const bytes = numel(s.shape) * (s.shape.length === 2 ? per : 4);
    total += bytes;
    if (blockOf(s.name) === 0) block += bytes;
  }
  return { total, block };
}

/**
 * Allocate the buffers (zeros) and build the views. Matrices are held as `dtype`; `streamed` gives two block
 * windows instead of one group per block.
 */
export function allocParams(cfg: ModelConfig): ModelParams<Float32Array>;
export function allocParams(cfg: ModelConfig, dtype: MatrixDtype, streamed?: boolean): ModelParams;
export function allocParams(cfg: ModelConfig, dtype: MatrixDtype = "F32", streamed = false): ModelParams {
  const specs = paramSpecs(cfg);
  const nGroups = streamed ? 4 : cfg.nLayers + 2;
  const matrixLen = new Array<number>(nGroups).fill(0);
  const vectorLen = new Array<number>(nGroups).fill(0);
  const place: { group: number; matrix: boolean; offset: number; n: number }[] = [];
  // streamed: blocks l ≥ 2 reuse the offsets of block l mod 2, whose window they share
  const offsets = new Map<string, number>();
  for (const s of specs) {
    const group = groupOf(cfg, s.name, streamed);
    const matrix = s.shape.length === 2;
    const lens = matrix ? matrixLen : vectorLen;
    const n = numel(s.shape);
    const l = blockOf(s.name);
    let offset: number;
    if (streamed && l >= 2) offset = offsets.get(s.name.replace(`.layers.${l}.`, `.layers.${l % 2}.`))!;
    else {
      offset = lens[group];
      lens[group] += n;
      offsets.set(s.name, offset);
    }
    place.push({ group, matrix, offset, n });
  }
  const groups: ParamBuffers[] = matrixLen.map((m, g) => ({
    matrices: dtype === "F32" ? new Float32Array(m) : new Half(dtype, new Uint16Array(m)),
    vectors: new Float32Array(vectorLen[g]),
  }));
  const tensors = new Map<string, { shape: number[]; data: Weight }>();
  specs.forEach((s, i) => {
    const { group, matrix, offset, n } = place[i];
    const buf = matrix ? groups[group].matrices : groups[group].vectors;
    tensors.set(s.name, { shape: s.shape, data: buf.subarray(offset, offset + n) });
  });
  return viewsOf(cfg, dtype, streamed, groups, tensors);
}

/** A weight view of `n` elements starting where `first` starts (contiguous tensors seen as one). */
function extend<W extends Weight>(first: W, n: number): W {
  if (first instanceof Half) return new Half(first.dtype, new Uint16Array(first.bits.buffer, first.bits.byteOffset, n)) as W;
  return new Float32Array(first.buffer, first.byteOffset, n) as W;
}

const byteRange = (w: Weight) => (w instanceof Half ? [w.bits.byteOffset, w.bits.byteLength] : [w.byteOffset, w.byteLength]);

function viewsOf(cfg: ModelConfig, dtype: MatrixDtype, streamed: boolean, groups: ParamBuffers[], tensors: Map<string, { shape: number[]; data: Weight }>): ModelParams {
  const vec = (name: string) => tensors.get(name)!.data as Float32Array;
  const opt = (name: string) => tensors.get(name)?.data as Float32Array | undefined;
  const lin = (name: string): Linear => {
    const { shape, data } = tensors.get(`${name}.weight`)!;
    return { name, w: data, b: opt(`${name}.bias`), outDim: shape[0], inDim: shape[1] };
  };
  /** contiguous linears → one view over their weights (and biases) */
  const fuse = (parts: Linear[]): FusedLinear => {
    const outDim = parts.reduce((n, p) => n + p.outDim, 0);
    for (let i = 1; i < parts.length; i++) {
      const [prevOff, prevLen] = byteRange(parts[i - 1].w);
      if (byteRange(parts[i].w)[0] !== prevOff + prevLen) throw new Error("fused weights are not contiguous");
    }
    const w = extend(parts[0].w, outDim * parts[0].inDim);
    const b = parts[0].b ? extend(parts[0].b, outDim) : undefined;
    return { parts, w, b, inDim: parts[0].inDim, outDim };
  };
  const norm = (name: string): Norm => ({ w: vec(`${name}.weight`), b: opt(`${name}.bias`) });
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
  const embed = tensors.get(neox ? "gpt_neox.embed_in.weight" : "model.embed_tokens.weight")!.data;
  return {
    dtype,
    streamed,
    groups,
    tensors,
    embed,
    layers,
    lnFinal: norm(neox ? "gpt_neox.final_layer_norm" : "model.norm"),
    unembed: cfg.tieWordEmbeddings ? embed : tensors.get(neox ? "embed_out.weight" : "lm_head.weight")!.data,
  };
}

/** out (N,C) = rows of the embedding (V,C) at `tokens` (N), upcast when 16-bit. */
export function embedRows(out: Float32Array, tokens: Int32Array, embed: Weight, C: number): void {
  if (!(embed instanceof Half)) return embeddingForward(out, tokens, embed, C);
  for (let n = 0; n < tokens.length; n++) {
    embed.upcastInto(out.subarray(n * C, n * C + C), tokens[n] * C);
  }
}
