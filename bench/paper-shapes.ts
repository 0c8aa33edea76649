/**
 * Random models with the exact configs of the paper's base models (Pythia 410m–12b, Llama-2-7b, Mistral-7B-v0.1),
 * in Hugging Face layout: config.json (the published one's fields), sharded 16-bit safetensors of at most 2 GB each +
 * model.safetensors.index.json, and a character-level tokenizer.json (src/model/char-tokenizer.ts; its ids are a
 * prefix of the vocabulary). Written streaming: one 16 MiB piece of weights is in memory at a time.
 *
 * Weights are random 16-bit values with uniform sign and mantissa and magnitude in [2⁻⁹, 2⁻⁵) (the ≈0.02 scale of
 * initialised and trained weights); norm weights 1, biases 0.
 *
 *   node --import tsx bench/paper-shapes.ts <out-dir> [pythia-410m pythia-1.4b pythia-6.9b pythia-12b llama-2-7b mistral-7b]
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import { parseConfig } from "../src/model/config.ts";
import { paramSpecs, type ParamSpec } from "../src/model/params.ts";
import { writeSafetensorsStream } from "../src/model/safetensors.ts";
import { writeFileAtomic } from "../src/util/atomic.ts";

const pythia = (hidden: number, layers: number, heads: number, vocab: number) => ({
  architectures: ["GPTNeoXForCausalLM"],
  bos_token_id: 0,
  eos_token_id: 0,
  hidden_act: "gelu",
  hidden_size: hidden,
  initializer_range: 0.02,
  intermediate_size: 4 * hidden,
  layer_norm_eps: 1e-5,
  max_position_embeddings: 2048,
  model_type: "gpt_neox",
  num_attention_heads: heads,
  num_hidden_layers: layers,
  rotary_emb_base: 10000,
  rotary_pct: 0.25,
  tie_word_embeddings: false,
  torch_dtype: "float16",
  use_cache: true,
  use_parallel_residual: true,
  vocab_size: vocab,
});

/** The published config.json of each model (EleutherAI/pythia-*, meta-llama/Llama-2-7b-hf, mistralai/Mistral-7B-v0.1). */
export const PAPER_SHAPES: Record<string, { config: Record<string, unknown>; dtype: "F16" | "BF16" }> = {
  "pythia-410m": { config: pythia(1024, 24, 16, 50304), dtype: "F16" },
  "pythia-1.4b": { config: pythia(2048, 24, 16, 50304), dtype: "F16" },
  "pythia-6.9b": { config: pythia(4096, 32, 32, 50432), dtype: "F16" },
  "pythia-12b": { config: pythia(5120, 36, 40, 50688), dtype: "F16" },
  "llama-2-7b": {
    config: {
      architectures: ["LlamaForCausalLM"],
      bos_token_id: 1,
      eos_token_id: 2,
      hidden_act: "silu",
      hidden_size: 4096,
      initializer_range: 0.02,
      intermediate_size: 11008,
      max_position_embeddings: 4096,
      model_type: "llama",
      num_attention_heads: 32,
      num_hidden_layers: 32,
      num_key_value_heads: 32,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_scaling: null,
      tie_word_embeddings: false,
      torch_dtype: "float16",
      use_cache: true,
      vocab_size: 32000,
    },
    dtype: "F16",
  },
  "mistral-7b": {
    config: {
      architectures: ["MistralForCausalLM"],
      bos_token_id: 1,
      eos_token_id: 2,
      hidden_act: "silu",
      hidden_size: 4096,
      initializer_range: 0.02,
      intermediate_size: 14336,
      max_position_embeddings: 32768,
      model_type: "mistral",
      num_attention_heads: 32,
      num_hidden_layers: 32,
      num_key_value_heads: 8,
      rms_norm_eps: 1e-5,
      rope_theta: 10000.0,
      sliding_window: 4096,
      tie_word_embeddings: false,
      torch_dtype: "bfloat16",
      use_cache: true,
      vocab_size: 32000,
    },
    dtype: "BF16",
  },
};

const SHARD_BYTES = 2e9;
const PIECE = 1 << 23; // values per piece: 16 MiB of 16-bit weights

/** The bits of 1.0 */
const ONE = { F16: 0x3c00, BF16: 0x3f80 };

/**
 * Random 16-bit values for a tensor, in pieces (one buffer, refilled: the writer consumes each piece before the next).
 * Matrices: sign, 2 exponent bits and the mantissa from xorshift32; norm weights 1; biases 0.
 */
function* tensorBits(spec: ParamSpec, dtype: "F16" | "BF16", state: { s: number }): Generator<Uint16Array> {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const buf = new Uint16Array(Math.min(n, PIECE));
  const matrix = spec.shape.length === 2;
  const isNormWeight = !matrix && spec.name.endsWith(".weight");
  // magnitude 2^(e − bias) · (1 + m) with e − bias ∈ [−9, −6]
  const [expBase, mantBits] = dtype === "F16" ? [6, 10] : [118, 7];
  const mantMask = (1 << mantBits) - 1;
  for (let start = 0; start < n; start += PIECE) {
    const count = Math.min(PIECE, n - start);
    const piece = buf.subarray(0, count);
    if (!matrix) piece.fill(isNormWeight ? ONE[dtype] : 0);
    else {
      let s = state.s;
      for (let i = 0; i < count; i++) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        piece[i] = ((s >>> 31) << 15) | ((expBase + ((s >>> 29) & 3)) << mantBits) | (s & mantMask);
      }
      state.s = s;
    }
    yield piece;
  }
}

/** Write a random model of a paper shape into `dir` (config.json last, so a half-written folder does not load). */
export function writePaperShape(dir: string, shape: string, seed = 1): { bytes: number; shards: number } {
  const entry = PAPER_SHAPES[shape];
  if (!entry) throw new Error(`unknown shape '${shape}'; expected one of ${Object.keys(PAPER_SHAPES).join(", ")}`);
  const { config, dtype } = entry;
  const specs = paramSpecs(parseConfig(config, shape));
  // shards in parameter order, each at most SHARD_BYTES (a larger tensor gets one to itself)
  const shards: ParamSpec[][] = [[]];
  let inShard = 0;
  for (const s of specs) {
    const bytes = s.shape.reduce((a, b) => a * b, 1) * 2;
    if (inShard > 0 && inShard + bytes > SHARD_BYTES) {
      shards.push([]);
      inShard = 0;
    }
    shards[shards.length - 1].push(s);
    inShard += bytes;
  }
  mkdirSync(dir, { recursive: true });
  const name = (i: number) => `model-${String(i + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`;
  const weightMap: Record<string, string> = {};
  const state = { s: (seed * 2654435761) >>> 0 || 1 };
  let total = 0;
  shards.forEach((shard, i) => {
    writeSafetensorsStream(
      join(dir, name(i)),
      shard.map((s) => ({ ...s, dtype })),
      (function* () {
        for (const s of shard) yield* tensorBits(s, dtype, state);
      })(),
      { format: "pt" },
    );
    for (const s of shard) {
      weightMap[s.name] = name(i);
      total += s.shape.reduce((a, b) => a * b, 1) * 2;
    }
  });
  writeFileAtomic(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + "\n");
  writeCharTokenizer(join(dir, "tokenizer.json"));
  writeFileAtomic(join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  return { bytes: total, shards: shards.length };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [out, ...names] = process.argv.slice(2);
  if (!out) {
    console.error(`usage: node --import tsx bench/paper-shapes.ts <out-dir> [${Object.keys(PAPER_SHAPES).join(" ")}]`);
    process.exit(2);
  }
  for (const shape of names.length ? names : Object.keys(PAPER_SHAPES)) {
    const dir = join(out, shape);
    if (existsSync(join(dir, "config.json"))) {
      console.log(`${shape}: ${dir} exists, kept`);
      continue;
    }
    const t = performance.now();
    const { bytes, shards } = writePaperShape(dir, shape);
    console.log(`${shape}: ${(bytes / 2 ** 30).toFixed(2)} GiB of ${PAPER_SHAPES[shape].dtype} weights in ${shards} shards, written in ${((performance.now() - t) / 1000).toFixed(0)} s → ${dir}`);
  }
}
