/**
 * PEFT LoRA adapters: adapter_config.json + adapter_model.safetensors, read and written in the format of
 * Python's `peft`, applied unmerged (y += scale · x·Aᵀ·Bᵀ) or merged (W += scale · B·A), scale = lora_alpha / r
 * (lora_alpha / √r with use_rslora).
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { gemm } from "./matmul.ts";
import type { Linear, Weight } from "./params.ts";
import { readSafetensors, writeSafetensors, type TensorToWrite } from "./safetensors.ts";
import type { LoraDelta, Transformer } from "./transformer.ts";

export interface PeftLoraConfig {
  peft_type: "LORA";
  r: number;
  lora_alpha: number;
  target_modules: string[] | string;
  fan_in_fan_out?: boolean;
  use_rslora?: boolean;
  layers_to_transform?: number[] | number | null;
  bias?: string;
  [key: string]: unknown;
}

export interface LoraAdapter {
  config: PeftLoraConfig;
  /** module path → update */
  deltas: Map<string, LoraDelta>;
}

export class AdapterError extends Error {
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}`);
    this.name = "AdapterError";
  }
}

const PREFIX = "base_model.model.";

/** Every linear layer of the model by module path. */
export function linearModules<W extends Weight>(model: Transformer<W>): Map<string, Linear<W>> {
  const out = new Map<string, Linear<W>>();
  for (const layer of model.params.layers) {
    for (const l of [...layer.qkv.parts, layer.o, ...layer.up.parts, layer.down]) out.set(l.name, l);
  }
  return out;
}

export function loraScale(config: PeftLoraConfig): number {
  return config.use_rslora ? config.lora_alpha / Math.sqrt(config.r) : config.lora_alpha / config.r;
}

/** The last component of a model path or hub id ("EleutherAI/pythia-410m/" → "pythia-410m"). */
function modelBasename(nameOrPath: string): string {
  return basename(nameOrPath.replace(/[\\/]+$/, ""));
}

/**
 * Read a PEFT adapter folder and check it against the model: the config's r must be the tensors' rank, and a
 * base_model_name_or_path that names another model than the loaded one (by last path component) is warned about.
 */
export function readPeftAdapter(dir: string, model: Transformer, warn: (m: string) => void = (m) => console.warn(m)): LoraAdapter {
  const cfgPath = join(dir, "adapter_config.json");
  const wPath = join(dir, "adapter_model.safetensors");
  if (!existsSync(cfgPath)) throw new AdapterError(cfgPath, "file not found (a PEFT adapter folder has adapter_config.json and adapter_model.safetensors)");
  const binPath = join(dir, "adapter_model.bin");
  if (!existsSync(wPath) && existsSync(binPath)) {
    throw new AdapterError(
      binPath,
      "PyTorch pickle adapters are not read (only adapter_model.safetensors); convert it with: python -c \"import torch; " +
        `from safetensors.torch import save_file; d = '${dir}'; save_file({k: v.contiguous() for k, v in torch.load(d + '/adapter_model.bin', map_location='cpu').items()}, d + '/adapter_model.safetensors')"`,
    );
  }
  let config: PeftLoraConfig;
  try {
    config = JSON.parse(readFileSync(cfgPath, "utf8"));
  } catch (err) {
    throw new AdapterError(cfgPath, `not valid JSON (${(err as Error).message})`);
  }
  if (config.peft_type !== "LORA") throw new AdapterError(cfgPath, `peft_type is ${JSON.stringify(config.peft_type)}; only LORA adapters are supported`);
  if (!Number.isInteger(config.r) || config.r <= 0) throw new AdapterError(cfgPath, `'r' must be a positive integer, got ${JSON.stringify(config.r)}`);
  if (typeof config.lora_alpha !== "number") throw new AdapterError(cfgPath, `'lora_alpha' must be a number, got ${JSON.stringify(config.lora_alpha)}`);
  for (const key of ["rank_pattern", "alpha_pattern"]) {
    const v = config[key] as Record<string, unknown> | undefined;
    if (v && Object.keys(v).length > 0) throw new AdapterError(cfgPath, `${key} is not supported`);
  }
  if (config.bias && config.bias !== "none") throw new AdapterError(cfgPath, `bias '${config.bias}' is not supported (only 'none')`);
  if (config.fan_in_fan_out) warn(`${cfgPath}: fan_in_fan_out is set, but these models use nn.Linear; ignoring it as PEFT does`);
  const base = typeof config.base_model_name_or_path === "string" ? config.base_model_name_or_path : "";
  const names = model.cfg.modelNames.map(modelBasename);
  if (base !== "" && names.length > 0 && !names.includes(modelBasename(base))) {
    warn(`${cfgPath}: base_model_name_or_path is '${base}', but the model loaded is '${model.cfg.modelNames[0]}' (an adapter trained on another model?)`);
  }

  const tensors = readSafetensors(wPath);
  const modules = linearModules(model);
  const scale = loraScale(config);
  const deltas = new Map<string, LoraDelta>();
  for (const [key, t] of tensors) {
    const m = /^(.*)\.lora_([AB])(?:\.default)?\.weight$/.exec(key);
    if (!m) throw new AdapterError(wPath, `unexpected tensor '${key}' (expected <module>.lora_A.weight / lora_B.weight)`);
    if (m[2] === "B") continue;
    const path = m[1].startsWith(PREFIX) ? m[1].slice(PREFIX.length) : m[1];
    const lin = modules.get(path);
    if (!lin) throw new AdapterError(wPath, `adapter targets '${path}', which this model does not have (wrong base model?)`);
    const b = tensors.get(key.replace(".lora_A", ".lora_B"));
    if (!b) throw new AdapterError(wPath, `'${key}' has no matching lora_B`);
    const r = t.shape[0];
    if (r !== config.r) throw new AdapterError(wPath, `'${key}' has rank ${r}, but adapter_config.json says r = ${config.r}`);
    if (t.shape.join() !== [r, lin.inDim].join() || b.shape.join() !== [lin.outDim, r].join()) {
      throw new AdapterError(wPath, `'${path}': lora_A [${t.shape}] / lora_B [${b.shape}] do not fit a ${lin.outDim}×${lin.inDim} layer with rank ${r}`);
    }
    deltas.set(path, { A: t.data, B: b.data, r, scale });
  }
  if (deltas.size === 0) throw new AdapterError(wPath, "holds no LoRA weights");
  return { config, deltas };
}

/** Use the adapter unmerged: every forward adds scale · x·Aᵀ·Bᵀ to the targeted layers. */
export function attachLora(model: Transformer, adapter: LoraAdapter): void {
  model.lora.clear();
  for (const [path, d] of adapter.deltas) model.lora.set(path, d);
}

/**
 * Merge the adapter into the weights: W += scale · B·A (then the model no longer needs it). Weights held 16-bit or
 * streamed from disk take it unmerged instead (attachLora): rounding W + scale·B·A to 16 bits would lose most of the
 * update, and streamed weights are reread for every forward pass.
 */
export async function mergeLora(model: Transformer, adapter: LoraAdapter): Promise<void> {
  if (model.params.dtype !== "F32" || model.params.streamed) return attachLora(model, adapter);
  const modules = linearModules(model as Transformer<Float32Array>);
  for (const [path, d] of adapter.deltas) {
    const lin = modules.get(path)!;
    const ba = await gemm(d.B, d.A, lin.outDim, d.r, lin.inDim);
    for (let i = 0; i < lin.w.length; i++) lin.w[i] += d.scale * ba[i];
  }
  await model.weightsChanged();
}

/**
 * The fields of PEFT 0.7.1's LoraConfig with those of PeftConfig (v0.7.1: src/peft/tuners/lora/config.py,
 * src/peft/config.py); its `LoraConfig(**adapter_config)` raises TypeError on any other key.
 */
export const PEFT_0_7_1_LORA_FIELDS: ReadonlySet<string> = new Set([
  "peft_type", "auto_mapping", "base_model_name_or_path", "revision", "task_type", "inference_mode",
  "r", "target_modules", "lora_alpha", "lora_dropout", "fan_in_fan_out", "bias", "modules_to_save", "init_lora_weights",
  "layers_to_transform", "layers_pattern", "rank_pattern", "alpha_pattern", "megatron_config", "megatron_core", "loftq_config",
]);

/** Later PEFT's defaults of fields 0.7.1 lacks, where not null or false (v0.20: qalora_group_size). */
const LATER_PEFT_DEFAULTS: Record<string, unknown> = { qalora_group_size: 16 };

/** A field 0.7.1 does not know, holding later PEFT's default: leaving it out means the same to every version. */
function droppableForPeft071(key: string, value: unknown): boolean {
  if (PEFT_0_7_1_LORA_FIELDS.has(key)) return false;
  if (key === "peft_version") return true; // written by later PEFT as a note, read by none
  if (key in LATER_PEFT_DEFAULTS) return JSON.stringify(value) === JSON.stringify(LATER_PEFT_DEFAULTS[key]);
  return value === null || value === false;
}

/**
 * Write the adapter in PEFT's format (loadable by `PeftModel.from_pretrained` from PEFT 0.7.1, the paper's version,
 * on): keys that 0.7.1 does not know are left out when they hold their default (e.g. use_rslora: false).
 */
export function writePeftAdapter(dir: string, adapter: LoraAdapter, model: Transformer, baseModel = ""): void {
  const modules = linearModules(model);
  const tensors = new Map<string, TensorToWrite>();
  for (const [path, d] of adapter.deltas) {
    const lin = modules.get(path);
    if (!lin) throw new Error(`adapter module '${path}' is not in the model`);
    tensors.set(`${PREFIX}${path}.lora_A.weight`, { shape: [d.r, lin.inDim], data: d.A });
    tensors.set(`${PREFIX}${path}.lora_B.weight`, { shape: [lin.outDim, d.r], data: d.B });
  }
  writeSafetensors(join(dir, "adapter_model.safetensors"), tensors, { format: "pt" });
  const full: PeftLoraConfig = {
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModel === "" ? null : baseModel,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    lora_dropout: 0,
    modules_to_save: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    ...adapter.config,
    peft_type: "LORA",
  };
  const config = Object.fromEntries(Object.entries(full).filter(([k, v]) => !droppableForPeft071(k, v)));
  writeFileAtomic(join(dir, "adapter_config.json"), JSON.stringify(config, null, 2) + "\n");
}
