/**
 * Model configuration: a Hugging Face config.json (GPT-NeoX, Llama, Mistral) turned into the one
 * config object the engine reads.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { RopeScaling } from "./rope.ts";

export type Architecture = "gpt_neox" | "llama" | "mistral";
export type Activation = "gelu" | "gelu_new" | "relu" | "silu";

export interface ModelConfig {
  arch: Architecture;
  vocabSize: number;
  /** C: residual width */
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** grouped-query attention: heads of K and V (= nHeads without GQA) */
  nKvHeads: number;
  headDim: number;
  /** MLP hidden width */
  dFF: number;
  /** "layernorm" (GPT-NeoX, with bias) or "rmsnorm" (Llama, Mistral) */
  norm: "layernorm" | "rmsnorm";
  normEps: number;
  /** dims of each head that are rotated (GPT-NeoX: rotary_pct × headDim) */
  rotaryDims: number;
  ropeTheta: number;
  /** rope_scaling "linear" or "llama3" (see rope.ts); null for plain rotary embeddings */
  ropeScaling: RopeScaling | null;
  /** GPT-NeoX: x + attn(ln1 x) + mlp(ln2 x) */
  parallelResidual: boolean;
  /** Llama/Mistral: gate/up/down (SwiGLU); GPT-NeoX: up/down */
  gatedMlp: boolean;
  activation: Activation;
  attentionBias: boolean;
  mlpBias: boolean;
  /** Mistral: query i sees keys j with i − W < j ≤ i */
  slidingWindow: number | null;
  tieWordEmbeddings: boolean;
  maxPositions: number;
  /** what this model is called: the folder config.json was read from and its _name_or_path (for adapters' base_model_name_or_path) */
  modelNames: string[];
}

export class ConfigError extends Error {
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}`);
    this.name = "ConfigError";
  }
}

const ARCHS: Record<string, Architecture> = {
  gpt_neox: "gpt_neox",
  GPTNeoXForCausalLM: "gpt_neox",
  llama: "llama",
  LlamaForCausalLM: "llama",
  mistral: "mistral",
  MistralForCausalLM: "mistral",
};

const ACTIVATIONS: Record<string, Activation> = {
  gelu: "gelu",
  gelu_new: "gelu_new",
  gelu_fast: "gelu_new",
  gelu_pytorch_tanh: "gelu_new",
  relu: "relu",
  silu: "silu",
  swish: "silu",
};

export function readConfig(path: string): ModelConfig {
  if (!existsSync(path)) throw new ConfigError(path, "file not found (a model folder needs config.json)");
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ConfigError(path, `not valid JSON (${(err as Error).message})`);
  }
  const cfg = parseConfig(raw, path);
  const dir = dirname(resolve(path));
  // a Hugging Face cache snapshot (…/models--ORG--NAME/snapshots/HASH) is also called ORG/NAME
  const cached = /[\\/]models--([^\\/]+?)--([^\\/]+)[\\/]snapshots[\\/][^\\/]+$/.exec(dir);
  cfg.modelNames.unshift(dir, ...(cached ? [`${cached[1]}/${cached[2]}`] : []));
  return cfg;
}

/** Normalize a Hugging Face config object; `where` names it in errors. */
export function parseConfig(raw: unknown, where = "config.json"): ModelConfig {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new ConfigError(where, "expected a JSON object");
  const c = raw as Record<string, unknown>;
  const type = String(c.model_type ?? (Array.isArray(c.architectures) ? c.architectures[0] : ""));
  const arch = ARCHS[type];
  if (!arch) {
    throw new ConfigError(where, `unsupported architecture '${type || "(none)"}'; supported: gpt_neox (Pythia), llama, mistral`);
  }
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (!Number.isInteger(v) || (v as number) <= 0) throw new ConfigError(where, `'${key}' must be a positive integer, got ${JSON.stringify(c[key])}`);
    return v as number;
  };
  const num = (key: string, fallback: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v)) throw new ConfigError(where, `'${key}' must be a number, got ${JSON.stringify(c[key])}`);
    return v;
  };
  const actName = String(c.hidden_act ?? (arch === "gpt_neox" ? "gelu" : "silu"));
  const activation = ACTIVATIONS[actName];
  if (!activation) throw new ConfigError(where, `unsupported hidden_act '${actName}'; supported: ${Object.keys(ACTIVATIONS).join(", ")}`);
  const ropeScaling = parseRopeScaling(c, where);
  const modelNames = typeof c._name_or_path === "string" && c._name_or_path !== "" ? [c._name_or_path] : [];

  const dModel = int("hidden_size");
  const nHeads = int("num_attention_heads");
  if (dModel % nHeads !== 0 && c.head_dim === undefined) throw new ConfigError(where, `hidden_size ${dModel} is not divisible by num_attention_heads ${nHeads}`);
  const headDim = int("head_dim", dModel / nHeads);
  const nKvHeads = arch === "gpt_neox" ? nHeads : int("num_key_value_heads", nHeads);
  if (nHeads % nKvHeads !== 0) throw new ConfigError(where, `num_attention_heads ${nHeads} is not a multiple of num_key_value_heads ${nKvHeads}`);

  const shared = { arch, vocabSize: int("vocab_size"), dModel, nLayers: int("num_hidden_layers"), nHeads, nKvHeads, headDim, activation, ropeScaling, modelNames };
  if (arch === "gpt_neox") {
    // Hugging Face's GPTNeoXConfig default: rotary on a quarter of each head
    const rotaryPct = num("rotary_pct", 0.25);
    if (rotaryPct < 0 || rotaryPct > 1) throw new ConfigError(where, `rotary_pct must be in [0, 1], got ${rotaryPct}`);
    return {
      ...shared,
      dFF: int("intermediate_size", 4 * dModel),
      norm: "layernorm",
      normEps: num("layer_norm_eps", 1e-5),
      rotaryDims: Math.trunc(headDim * rotaryPct),
      ropeTheta: num("rotary_emb_base", num("rope_theta", 10000)),
      parallelResidual: c.use_parallel_residual !== false,
      gatedMlp: false,
      attentionBias: c.attention_bias !== false,
      mlpBias: true,
      slidingWindow: null,
      tieWordEmbeddings: c.tie_word_embeddings === true,
      maxPositions: int("max_position_embeddings", 2048),
    };
  }
  return {
    ...shared,
    dFF: int("intermediate_size"),
    norm: "rmsnorm",
    normEps: num("rms_norm_eps", 1e-6),
    rotaryDims: headDim,
    ropeTheta: num("rope_theta", 10000),
    parallelResidual: false,
    gatedMlp: true,
    attentionBias: c.attention_bias === true,
    mlpBias: c.mlp_bias === true,
    slidingWindow: arch === "mistral" && c.sliding_window != null ? int("sliding_window") : null,
    tieWordEmbeddings: c.tie_word_embeddings === true,
    maxPositions: int("max_position_embeddings", 4096),
  };
}

/**
 * config.json's rope_scaling as transformers reads it: the type from "rope_type" (or the older "type"); "default"
 * or none is plain RoPE; llama3's original_max_position_embeddings defaults to max_position_embeddings.
 */
function parseRopeScaling(c: Record<string, unknown>, where: string): RopeScaling | null {
  const rs = c.rope_scaling;
  if (rs == null) return null;
  if (typeof rs !== "object" || Array.isArray(rs)) throw new ConfigError(where, `rope_scaling must be an object, got ${JSON.stringify(rs)}`);
  const r = rs as Record<string, unknown>;
  const type = r.rope_type ?? r.type ?? "default";
  const factor = (key: string, fallback?: unknown): number => {
    const v = r[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new ConfigError(where, `rope_scaling.${key} must be a positive number, got ${JSON.stringify(r[key])}`);
    return v;
  };
  switch (type) {
    case "default":
      return null;
    case "linear":
      return { type: "linear", factor: factor("factor") };
    case "llama3": {
      const s = {
        type: "llama3",
        factor: factor("factor"),
        lowFreqFactor: factor("low_freq_factor"),
        highFreqFactor: factor("high_freq_factor"),
        originalMaxPositions: factor("original_max_position_embeddings", c.max_position_embeddings),
      } as const;
      if (s.highFreqFactor <= s.lowFreqFactor) {
        throw new ConfigError(where, `rope_scaling.high_freq_factor (${s.highFreqFactor}) must be larger than low_freq_factor (${s.lowFreqFactor})`);
      }
      return s;
    }
    default:
      throw new ConfigError(where, `rope_scaling type ${JSON.stringify(type)} is not supported (supported: linear, llama3)`);
  }
}

/** config.json's rope_scaling for a parsed one. */
function toHfRopeScaling(s: RopeScaling | null): Record<string, unknown> {
  if (!s) return {};
  // "type" for linear, as transformers 4.36 validates it; "rope_type" for llama3, as Llama-3.1's config.json has it
  if (s.type === "linear") return { rope_scaling: { type: "linear", factor: s.factor } };
  return {
    rope_scaling: {
      rope_type: "llama3",
      factor: s.factor,
      low_freq_factor: s.lowFreqFactor,
      high_freq_factor: s.highFreqFactor,
      original_max_position_embeddings: s.originalMaxPositions,
    },
  };
}

/** The config.json a Hugging Face loader expects for this config (for checkpoints we write). */
export function toHfConfig(cfg: ModelConfig): Record<string, unknown> {
  if (cfg.arch === "gpt_neox") {
    return {
      architectures: ["GPTNeoXForCausalLM"],
      model_type: "gpt_neox",
      vocab_size: cfg.vocabSize,
      hidden_size: cfg.dModel,
      num_hidden_layers: cfg.nLayers,
      num_attention_heads: cfg.nHeads,
      intermediate_size: cfg.dFF,
      hidden_act: cfg.activation === "gelu_new" ? "gelu_new" : cfg.activation,
      rotary_pct: cfg.rotaryDims / cfg.headDim,
      rotary_emb_base: cfg.ropeTheta,
      ...toHfRopeScaling(cfg.ropeScaling),
      layer_norm_eps: cfg.normEps,
      use_parallel_residual: cfg.parallelResidual,
      attention_bias: cfg.attentionBias,
      max_position_embeddings: cfg.maxPositions,
      tie_word_embeddings: cfg.tieWordEmbeddings,
      torch_dtype: "float32",
    };
  }
  return {
    architectures: [cfg.arch === "llama" ? "LlamaForCausalLM" : "MistralForCausalLM"],
    model_type: cfg.arch,
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.dModel,
    num_hidden_layers: cfg.nLayers,
    num_attention_heads: cfg.nHeads,
    num_key_value_heads: cfg.nKvHeads,
    head_dim: cfg.headDim,
    intermediate_size: cfg.dFF,
    hidden_act: cfg.activation,
    rms_norm_eps: cfg.normEps,
    rope_theta: cfg.ropeTheta,
    ...toHfRopeScaling(cfg.ropeScaling),
    attention_bias: cfg.attentionBias,
    mlp_bias: cfg.mlpBias,
    max_position_embeddings: cfg.maxPositions,
    tie_word_embeddings: cfg.tieWordEmbeddings,
    ...(cfg.arch === "mistral" ? { sliding_window: cfg.slidingWindow } : {}),
    torch_dtype: "float32",
  };
}
