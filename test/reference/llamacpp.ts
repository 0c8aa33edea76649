/**
 * Independent reference for the transformer forward pass: llama.cpp, through the npm package `node-llama-cpp` (v3,
 * CPU prebuilt binary `@node-llama-cpp/linux-x64`; nothing is downloaded or built at install or run time).
 *
 * `writeGguf` converts a Hugging Face-style model (config.json object + tensors with HF names and shapes) into an F32
 * GGUF v3 file the way llama.cpp's `convert_hf_to_gguf.py` (conversion/gptneox.py, conversion/llama.py) does:
 * - tensor renaming to GGUF names (token_embd, blk.N.attn_norm / attn_qkv / attn_q ... / ffn_up / ffn_down, output_norm,
 *   output), dims written innermost first (an HF [out, in] weight becomes ne = [in, out]), same row-major bytes;
 * - GPT-NeoX: HF's fused query_key_value rows, laid out per head as [n_head, 3, head_dim], are re-ordered to
 *   [3, n_head, head_dim] (all Q, then all K, then all V), because llama.cpp slices Q/K/V as contiguous views;
 * - Llama: q_proj / k_proj rows are permuted per head from HF's rotate-half layout to the interleaved-pair layout that
 *   llama.cpp's LLAMA_ROPE_TYPE_NORM expects (LlamaModel.permute; k_proj uses num_key_value_heads);
 * - arch metadata (`gptneox.*` / `llama.*`) plus a minimal 'gpt2' BPE vocabulary: one distinct token per id, every
 *   token NORMAL, an empty merges array, bos = eos = 0.
 * `llamaCppLastLogProbs` feeds token ids directly (no text tokenization) and returns llama.cpp's log-probabilities at the last
 * position of each sequence.
 *
 * llama.cpp settings used: CPU only, F32 weights, F32 KV cache (node-llama-cpp's default F16 cache alone moves logits
 * by ~2e-3 and probabilities by ~1e-4), flash attention off, each sequence evaluated in a single batch (batch = context
 * size, a multiple of 256), 2 threads, a fresh KV history per sequence.
 *
 * Known numerical difference (choose tolerances accordingly): llama.cpp's CPU GELU (used by gptneox) is the tanh
 * approximation read from a table indexed by the input rounded to fp16, with an fp16 result (GGML_GELU_FP16 in
 * ggml-cpu/vec.h), whereas HF's "gelu" is the exact erf form. Measured against a float64 HF-semantics forward pass on
 * tiny random models (vocab 64, hidden 32, 2 layers, 4 heads, weights ~N(0, 0.2), sequences of 1-300 tokens), the max
 * abs difference of softmax probabilities was ~1.2e-4 (parallel residual) and ~4.5e-5 (sequential) for gpt_neox with
 * exact GELU (~1e-7 / ~1e-5 when the reference mimics ggml's GELU), and ~1e-7 for llama (GQA 4/2 and MHA).
 * Llama (RMSNorm, SiLU, RoPE, softmax) agrees to f32 round-off.
 *
 * The first call in a process loads the native backend (~2-3 s); each later call takes ~0.1 s for tiny models.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ControlledEvaluateInputItem, Token } from "node-llama-cpp";

export interface RefTensor {
  shape: number[];
  data: Float32Array;
} // row-major, Hugging Face shapes (nn.Linear weight is [out, in])

export interface RefModel {
  arch: "gpt_neox" | "llama"; // "llama" also used for Mistral-style configs without sliding window
  config: Record<string, unknown>; // a Hugging Face config.json object
  tensors: Map<string, RefTensor>; // Hugging Face tensor names
}

// ---------------------------------------------------------------------------------------------------------------
// GGUF writer
// ---------------------------------------------------------------------------------------------------------------

const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
const GGUF_VERSION = 3;
const ALIGNMENT = 32;

/** GGUF metadata value types. */
const GT = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
type GT = typeof GT;
const GGML_TYPE_F32 = 0;
const LLAMA_FTYPE_ALL_F32 = 0;
const TOKEN_TYPE_NORMAL = 1;

type KV =
  | { key: string; type: GT["UINT32"] | GT["INT32"] | GT["FLOAT32"]; value: number }
  | { key: string; type: GT["BOOL"]; value: boolean }
  | { key: string; type: GT["STRING"]; value: string }
  | { key: string; type: GT["ARRAY"]; elem: GT["STRING"]; value: string[] }
  | { key: string; type: GT["ARRAY"]; elem: GT["INT32"] | GT["FLOAT32"]; value: number[] };

interface OutTensor {
  name: string;
  /** GGUF dims, innermost first (the reverse of the row-major shape). */
  ne: number[];
  data: Float32Array;
}

class ByteWriter {
  private buf = Buffer.alloc(1 << 16);
  len = 0;
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = Buffer.alloc(cap);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf.writeUInt8(v, this.len);
    this.len += 1;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.len);
    this.len += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v, this.len);
    this.len += 4;
  }
  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.len);
    this.len += 4;
  }
  u64(v: number): void {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.len);
    this.len += 8;
  }
  str(s: string): void {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.bytes(b);
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  padTo(alignment: number): void {
    while (this.len % alignment !== 0) this.u8(0);
  }
  result(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

function writeKV(w: ByteWriter, kv: KV): void {
  w.str(kv.key);
  w.u32(kv.type);
  switch (kv.type) {
    case GT.UINT32:
      w.u32(kv.value);
      break;
    case GT.INT32:
      w.i32(kv.value);
      break;
    case GT.FLOAT32:
      w.f32(kv.value);
      break;
    case GT.BOOL:
      w.u8(kv.value ? 1 : 0);
      break;
    case GT.STRING:
      w.str(kv.value);
      break;
    case GT.ARRAY:
      w.u32(kv.elem);
      w.u64(kv.value.length);
      if (kv.elem === GT.STRING) for (const s of kv.value as string[]) w.str(s);
      else if (kv.elem === GT.INT32) for (const v of kv.value as number[]) w.i32(v);
      else for (const v of kv.value as number[]) w.f32(v);
      break;
  }
}

/** Serialises a GGUF v3 file: header, metadata KV, tensor infos, padding, 32-byte aligned tensor data. */
function encodeGguf(kvs: KV[], tensors: OutTensor[]): Buffer {
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(kvs.length);
  for (const kv of kvs) writeKV(w, kv);
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    w.str(t.name);
    w.u32(t.ne.length);
    for (const d of t.ne) w.u64(d);
    w.u32(GGML_TYPE_F32);
    w.u64(offset);
    offsets.push(offset);
    offset += Math.ceil((t.data.length * 4) / ALIGNMENT) * ALIGNMENT;
  }
  w.padTo(ALIGNMENT);
  const dataStart = w.len;
  tensors.forEach((t, i) => {
    while (w.len < dataStart + offsets[i]!) w.u8(0);
    const le = Buffer.alloc(t.data.length * 4);
    for (let j = 0; j < t.data.length; j++) le.writeFloatLE(t.data[j]!, j * 4);
    w.bytes(le);
  });
  w.padTo(ALIGNMENT);
  return w.result();
}

// ---------------------------------------------------------------------------------------------------------------
// HF -> GGUF conversion (mirrors llama.cpp convert_hf_to_gguf.py / conversion/{gptneox,llama}.py)
// ---------------------------------------------------------------------------------------------------------------

function num(config: Record<string, unknown>, ...keys: string[]): number {
  for (const k of keys) {
    const v = config[k];
    if (typeof v === "number") return v;
  }
  throw new Error(`config lacks a number for ${keys.join(" / ")}`);
}

function optNum(config: Record<string, unknown>, key: string): number | undefined {
  const v = config[key];
  return typeof v === "number" ? v : undefined;
}

/** GPT-2's bytes_to_unicode(): printable stand-ins for the 256 byte values. */
function byteToUnicode(): string[] {
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    out[b] = printable ? String.fromCodePoint(b) : String.fromCodePoint(256 + n++);
  }
  return out;
}

/** Minimal 'gpt2' BPE vocabulary: one distinct token per id, no merges (llama.cpp accepts an empty merges array). */
function vocabKVs(vocabSize: number): KV[] {
  const bytes = byteToUnicode();
  const tokens: string[] = [];
  for (let i = 0; i < vocabSize; i++) tokens.push(i < 256 ? bytes[i]! : `<|t${i}|>`);
  return [
    { key: "tokenizer.ggml.model", type: GT.STRING, value: "gpt2" },
    { key: "tokenizer.ggml.pre", type: GT.STRING, value: "default" },
    { key: "tokenizer.ggml.tokens", type: GT.ARRAY, elem: GT.STRING, value: tokens },
    { key: "tokenizer.ggml.token_type", type: GT.ARRAY, elem: GT.INT32, value: tokens.map(() => TOKEN_TYPE_NORMAL) },
    { key: "tokenizer.ggml.merges", type: GT.ARRAY, elem: GT.STRING, value: [] },
    { key: "tokenizer.ggml.bos_token_id", type: GT.UINT32, value: 0 },
    { key: "tokenizer.ggml.eos_token_id", type: GT.UINT32, value: 0 },
    { key: "tokenizer.ggml.add_bos_token", type: GT.BOOL, value: false },
    { key: "tokenizer.ggml.add_eos_token", type: GT.BOOL, value: false },
  ];
}

function getTensor(model: RefModel, name: string, shape: number[]): RefTensor {
  const t = model.tensors.get(name);
  if (!t) throw new Error(`missing tensor ${name}`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw new Error(`tensor ${name} has shape [${t.shape}], expected [${shape}]`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) throw new Error(`tensor ${name} has ${t.data.length} values, expected ${n}`);
  return t;
}

function out(name: string, t: RefTensor, data: Float32Array = t.data): OutTensor {
  return { name, ne: [...t.shape].reverse(), data };
}

/** Re-orders rows: HF GPT-NeoX fused qkv viewed as [n_head, 3, head_dim, ...] -> [3, n_head, head_dim, ...]. */
function neoxQkvToGguf(src: Float32Array, nHead: number, headDim: number, rowLen: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let h = 0; h < nHead; h++)
    for (let c = 0; c < 3; c++)
      for (let d = 0; d < headDim; d++) {
        const from = ((h * 3 + c) * headDim + d) * rowLen;
        const to = ((c * nHead + h) * headDim + d) * rowLen;
        dst.set(src.subarray(from, from + rowLen), to);
      }
  return dst;
}

/** convert_hf_to_gguf's LlamaModel.permute: per head, rows [2, head_dim/2] -> [head_dim/2, 2] (rotate-half -> interleaved). */
function llamaPermute(src: Float32Array, nHead: number, rows: number, rowLen: number): Float32Array {
  const headDim = rows / nHead;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new Error(`cannot permute ${rows} rows for ${nHead} heads`);
  const half = headDim / 2;
  const dst = new Float32Array(src.length);
  for (let h = 0; h < nHead; h++)
    for (let s = 0; s < 2; s++)
      for (let j = 0; j < half; j++) {
        const from = (h * headDim + s * half + j) * rowLen;
        const to = (h * headDim + j * 2 + s) * rowLen;
        dst.set(src.subarray(from, from + rowLen), to);
      }
  return dst;
}

function gptNeoxToGguf(model: RefModel): { kvs: KV[]; tensors: OutTensor[] } {
  const c = model.config;
  const V = num(c, "vocab_size");
  const H = num(c, "hidden_size");
  const L = num(c, "num_hidden_layers");
  const nHead = num(c, "num_attention_heads");
  const F = num(c, "intermediate_size");
  const headDim = H / nHead;
  const rotaryPct = optNum(c, "rotary_pct") ?? 0.25; // GPTNeoXConfig's default
  const act = c["hidden_act"] ?? "gelu";
  // llama.cpp's gptneox always applies its tanh-form GELU, so "gelu" (erf) and "gelu_new" (tanh) both map onto it
  if (act !== "gelu" && act !== "gelu_new") throw new Error(`gpt_neox hidden_act ${String(act)} unsupported (llama.cpp gptneox uses GELU)`);
  const kvs: KV[] = [
    { key: "general.architecture", type: GT.STRING, value: "gptneox" },
    { key: "general.name", type: GT.STRING, value: "reference" },
    { key: "general.file_type", type: GT.UINT32, value: LLAMA_FTYPE_ALL_F32 },
    { key: "general.alignment", type: GT.UINT32, value: ALIGNMENT },
    { key: "gptneox.vocab_size", type: GT.UINT32, value: V },
    { key: "gptneox.context_length", type: GT.UINT32, value: num(c, "max_position_embeddings") },
    { key: "gptneox.embedding_length", type: GT.UINT32, value: H },
    { key: "gptneox.block_count", type: GT.UINT32, value: L },
    { key: "gptneox.feed_forward_length", type: GT.UINT32, value: F },
    { key: "gptneox.rope.dimension_count", type: GT.UINT32, value: Math.trunc(rotaryPct * headDim) },
    { key: "gptneox.rope.freq_base", type: GT.FLOAT32, value: optNum(c, "rotary_emb_base") ?? optNum(c, "rope_theta") ?? 10000 },
    { key: "gptneox.attention.head_count", type: GT.UINT32, value: nHead },
    { key: "gptneox.attention.layer_norm_epsilon", type: GT.FLOAT32, value: optNum(c, "layer_norm_eps") ?? 1e-5 },
    { key: "gptneox.use_parallel_residual", type: GT.BOOL, value: c["use_parallel_residual"] !== false },
    ...vocabKVs(V),
  ];
  const t: OutTensor[] = [];
  t.push(out("token_embd.weight", getTensor(model, "gpt_neox.embed_in.weight", [V, H])));
  for (let i = 0; i < L; i++) {
    const p = `gpt_neox.layers.${i}.`;
    const b = `blk.${i}.`;
    t.push(out(`${b}attn_norm.weight`, getTensor(model, `${p}input_layernorm.weight`, [H])));
    t.push(out(`${b}attn_norm.bias`, getTensor(model, `${p}input_layernorm.bias`, [H])));
    const qkvW = getTensor(model, `${p}attention.query_key_value.weight`, [3 * H, H]);
    t.push(out(`${b}attn_qkv.weight`, qkvW, neoxQkvToGguf(qkvW.data, nHead, headDim, H)));
    const qkvB = getTensor(model, `${p}attention.query_key_value.bias`, [3 * H]);
    t.push(out(`${b}attn_qkv.bias`, qkvB, neoxQkvToGguf(qkvB.data, nHead, headDim, 1)));
    t.push(out(`${b}attn_output.weight`, getTensor(model, `${p}attention.dense.weight`, [H, H])));
    t.push(out(`${b}attn_output.bias`, getTensor(model, `${p}attention.dense.bias`, [H])));
    t.push(out(`${b}ffn_norm.weight`, getTensor(model, `${p}post_attention_layernorm.weight`, [H])));
    t.push(out(`${b}ffn_norm.bias`, getTensor(model, `${p}post_attention_layernorm.bias`, [H])));
    t.push(out(`${b}ffn_up.weight`, getTensor(model, `${p}mlp.dense_h_to_4h.weight`, [F, H])));
    t.push(out(`${b}ffn_up.bias`, getTensor(model, `${p}mlp.dense_h_to_4h.bias`, [F])));
    t.push(out(`${b}ffn_down.weight`, getTensor(model, `${p}mlp.dense_4h_to_h.weight`, [H, F])));
    t.push(out(`${b}ffn_down.bias`, getTensor(model, `${p}mlp.dense_4h_to_h.bias`, [H])));
  }
  t.push(out("output_norm.weight", getTensor(model, "gpt_neox.final_layer_norm.weight", [H])));
  t.push(out("output_norm.bias", getTensor(model, "gpt_neox.final_layer_norm.bias", [H])));
  t.push(out("output.weight", getTensor(model, "embed_out.weight", [V, H])));
  return { kvs, tensors: t };
}

/**
 * llama.cpp's per-frequency divisors for rope_type llama3 (convert_hf_to_gguf.py, LlamaModel.generate_extra_tensors):
 * 1 for wavelengths below L/high_freq_factor, factor above L/low_freq_factor, 1/((1 − s)/factor + s) between.
 */
function llama3RopeFactors(rs: Record<string, unknown>, base: number, dim: number): Float32Array {
  const factor = Number(rs["factor"]);
  const low = Number(rs["low_freq_factor"]);
  const high = Number(rs["high_freq_factor"]);
  const L = Number(rs["original_max_position_embeddings"]);
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const freq = Math.fround(1 / Math.fround(base ** Math.fround((2 * i) / dim)));
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < L / high) out[i] = 1;
    else if (wavelen > L / low) out[i] = factor;
    else {
      const smooth = (L / wavelen - low) / (high - low);
      out[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}

function llamaToGguf(model: RefModel): { kvs: KV[]; tensors: OutTensor[] } {
  const c = model.config;
  const V = num(c, "vocab_size");
  const H = num(c, "hidden_size");
  const L = num(c, "num_hidden_layers");
  const nHead = num(c, "num_attention_heads");
  const nKv = optNum(c, "num_key_value_heads") ?? nHead;
  const F = num(c, "intermediate_size");
  const headDim = optNum(c, "head_dim") ?? H / nHead;
  const act = c["hidden_act"] ?? "silu";
  if (act !== "silu") throw new Error(`llama hidden_act ${String(act)} unsupported (llama.cpp llama uses SwiGLU)`);
  // rope_scaling as convert_hf_to_gguf.py writes it: linear → rope.scaling.{type,factor}; llama3 → a rope_freqs tensor
  const rs = c["rope_scaling"] as Record<string, unknown> | null | undefined;
  const ropeType = rs == null ? "default" : String(rs["rope_type"] ?? rs["type"] ?? "default");
  if (!["default", "linear", "llama3"].includes(ropeType)) throw new Error(`rope_scaling ${ropeType} is not supported by this helper`);
  if (typeof c["sliding_window"] === "number") throw new Error("sliding_window is not supported by this helper");
  const kvs: KV[] = [
    { key: "general.architecture", type: GT.STRING, value: "llama" },
    { key: "general.name", type: GT.STRING, value: "reference" },
    { key: "general.file_type", type: GT.UINT32, value: LLAMA_FTYPE_ALL_F32 },
    { key: "general.alignment", type: GT.UINT32, value: ALIGNMENT },
    { key: "llama.vocab_size", type: GT.UINT32, value: V },
    { key: "llama.context_length", type: GT.UINT32, value: num(c, "max_position_embeddings") },
    { key: "llama.embedding_length", type: GT.UINT32, value: H },
    { key: "llama.block_count", type: GT.UINT32, value: L },
    { key: "llama.feed_forward_length", type: GT.UINT32, value: F },
    { key: "llama.rope.dimension_count", type: GT.UINT32, value: headDim },
    { key: "llama.rope.freq_base", type: GT.FLOAT32, value: optNum(c, "rope_theta") ?? 10000 },
    { key: "llama.attention.head_count", type: GT.UINT32, value: nHead },
    { key: "llama.attention.head_count_kv", type: GT.UINT32, value: nKv },
    { key: "llama.attention.key_length", type: GT.UINT32, value: headDim },
    { key: "llama.attention.value_length", type: GT.UINT32, value: headDim },
    { key: "llama.attention.layer_norm_rms_epsilon", type: GT.FLOAT32, value: optNum(c, "rms_norm_eps") ?? 1e-6 },
    ...(ropeType === "linear"
      ? [{ key: "llama.rope.scaling.type", type: GT.STRING, value: "linear" }, { key: "llama.rope.scaling.factor", type: GT.FLOAT32, value: Number(rs!["factor"]) }]
      : []),
    ...vocabKVs(V),
  ];
  const t: OutTensor[] = [];
  if (ropeType === "llama3") t.push({ name: "rope_freqs.weight", ne: [headDim / 2], data: llama3RopeFactors(rs!, optNum(c, "rope_theta") ?? 10000, headDim) });
  t.push(out("token_embd.weight", getTensor(model, "model.embed_tokens.weight", [V, H])));
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}.`;
    const b = `blk.${i}.`;
    t.push(out(`${b}attn_norm.weight`, getTensor(model, `${p}input_layernorm.weight`, [H])));
    const q = getTensor(model, `${p}self_attn.q_proj.weight`, [nHead * headDim, H]);
    t.push(out(`${b}attn_q.weight`, q, llamaPermute(q.data, nHead, nHead * headDim, H)));
    const k = getTensor(model, `${p}self_attn.k_proj.weight`, [nKv * headDim, H]);
    t.push(out(`${b}attn_k.weight`, k, llamaPermute(k.data, nKv, nKv * headDim, H)));
    t.push(out(`${b}attn_v.weight`, getTensor(model, `${p}self_attn.v_proj.weight`, [nKv * headDim, H])));
    // Optional attention biases (attention_bias: true); q/k biases get the same permutation as their rows.
    if (model.tensors.has(`${p}self_attn.q_proj.bias`)) {
      const qb = getTensor(model, `${p}self_attn.q_proj.bias`, [nHead * headDim]);
      t.push(out(`${b}attn_q.bias`, qb, llamaPermute(qb.data, nHead, nHead * headDim, 1)));
      const kb = getTensor(model, `${p}self_attn.k_proj.bias`, [nKv * headDim]);
      t.push(out(`${b}attn_k.bias`, kb, llamaPermute(kb.data, nKv, nKv * headDim, 1)));
      t.push(out(`${b}attn_v.bias`, getTensor(model, `${p}self_attn.v_proj.bias`, [nKv * headDim])));
    }
    t.push(out(`${b}attn_output.weight`, getTensor(model, `${p}self_attn.o_proj.weight`, [H, nHead * headDim])));
    t.push(out(`${b}ffn_norm.weight`, getTensor(model, `${p}post_attention_layernorm.weight`, [H])));
    t.push(out(`${b}ffn_gate.weight`, getTensor(model, `${p}mlp.gate_proj.weight`, [F, H])));
    t.push(out(`${b}ffn_up.weight`, getTensor(model, `${p}mlp.up_proj.weight`, [F, H])));
    t.push(out(`${b}ffn_down.weight`, getTensor(model, `${p}mlp.down_proj.weight`, [H, F])));
  }
  t.push(out("output_norm.weight", getTensor(model, "model.norm.weight", [H])));
  // Tied embeddings: llama.cpp falls back to token_embd when output.weight is absent.
  if (model.tensors.has("lm_head.weight")) t.push(out("output.weight", getTensor(model, "lm_head.weight", [V, H])));
  else if (c["tie_word_embeddings"] !== true) throw new Error("missing tensor lm_head.weight");
  return { kvs, tensors: t };
}

/** Encodes the model as an F32 GGUF v3 file in memory. */
export function encodeModelGguf(model: RefModel): Buffer {
  const { kvs, tensors } = model.arch === "gpt_neox" ? gptNeoxToGguf(model) : llamaToGguf(model);
  return encodeGguf(kvs, tensors);
}

/** Writes the model as an F32 GGUF v3 file (pure TypeScript). */
export function writeGguf(path: string, model: RefModel): void {
  writeFileSync(path, encodeModelGguf(model));
}

// ---------------------------------------------------------------------------------------------------------------
// Running llama.cpp
// ---------------------------------------------------------------------------------------------------------------

type NodeLlamaCpp = typeof import("node-llama-cpp");
type Llama = Awaited<ReturnType<NodeLlamaCpp["getLlama"]>>;

let llamaPromise: Promise<Llama> | undefined;

/** One CPU-only llama.cpp instance per process (prebuilt binary only: never builds from source or downloads). */
function getCpuLlama(): Promise<Llama> {
  llamaPromise ??= (async () => {
    const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
    return getLlama({
      gpu: false,
      build: "never",
      skipDownload: true,
      usePrebuiltBinaries: true,
      progressLogs: false,
      logLevel: LlamaLogLevel.error,
      maxThreads: 2,
    });
  })();
  return llamaPromise;
}

/**
 * Writes the model as an F32 GGUF (with a minimal vocabulary so llama.cpp loads it), runs each token sequence
 * through llama.cpp (CPU, f32 weights and KV cache, no flash attention, each sequence in one batch, 2 threads) and
 * returns the log-probabilities (length vocab_size) at the LAST position of each sequence.
 *
 * node-llama-cpp 3.21 (the newest version whose platform packages all resolve in our registry, which `npm ci`
 * needs) exposes the next-token probabilities of every vocabulary id, not raw logits; log-probabilities are
 * logits up to a constant, so softmax comparisons are unaffected.
 */
export async function llamaCppLastLogProbs(model: RefModel, sequences: number[][]): Promise<Float32Array[]> {
  const vocabSize = num(model.config, "vocab_size");
  for (const s of sequences) {
    if (s.length === 0) throw new Error("empty token sequence");
    for (const tok of s)
      if (!Number.isInteger(tok) || tok < 0 || tok >= vocabSize) throw new Error(`token ${tok} outside vocabulary`);
  }
  const dir = mkdtempSync(join(tmpdir(), "llamacpp-ref-"));
  try {
    const modelPath = join(dir, "model.gguf");
    writeGguf(modelPath, model);
    const llama = await getCpuLlama();
    const llamaModel = await llama.loadModel({
      modelPath,
      gpuLayers: 0,
      useMmap: false,
      defaultContextFlashAttention: false,
    });
    try {
      const maxLen = Math.max(...sequences.map((s) => s.length));
      // llama.cpp rounds the context up to a multiple of 256; the batch must hold a whole sequence.
      const contextSize = Math.ceil(maxLen / 256) * 256;
      const context = await llamaModel.createContext({
        contextSize,
        batchSize: contextSize,
        sequences: 1,
        flashAttention: false,
        threads: 2,
        experimentalKvCacheKeyType: "F32",
        experimentalKvCacheValueType: "F32",
      });
      try {
        const sequence = context.getSequence();
        const results: Float32Array[] = [];
        for (const tokens of sequences) {
          await sequence.clearHistory();
          // Probabilities are requested for the last token only; with no sampling options they are the softmax of
          // llama.cpp's raw output logits, one per vocabulary id.
          const input: ControlledEvaluateInputItem[] = tokens.map((tok, i) =>
            i === tokens.length - 1 ? [tok as Token, { generateNext: { probabilities: true } }] : (tok as Token),
          );
          const res = await sequence.controlledEvaluate(input);
          const probs = res[tokens.length - 1]?.next.probabilities;
          if (!probs) throw new Error("llama.cpp returned no probabilities");
          if (probs.size !== vocabSize) throw new Error(`llama.cpp returned ${probs.size} probabilities, expected ${vocabSize}`);
          const row = new Float32Array(vocabSize);
          for (const [tok, v] of probs) row[tok] = Math.log(v);
          results.push(row);
        }
        return results;
      } finally {
        await context.dispose();
      }
    } finally {
      await llamaModel.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
