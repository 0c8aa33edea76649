/**
 * PEFT LoRA adapters: adapter_config.json + adapter_model.safetensors, read and written in the format of
 * Python's `peft`, applied unmerged (y += scale · x·Aᵀ·Bᵀ) or merged (W += scale · B·A), scale = lora_alpha / r
 * (lora_alpha / √r with use_rslora).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { gemm } from "./matmul.ts";
import type { Linear } from "./params.ts";
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
export function linearModules(model: Transformer): Map<string, Linear> {
  const out = new Map<string, Linear>();
  for (const layer of model.params.layers) {
    for (const l of [...layer.qkv.parts, layer.o, ...layer.up.parts, layer.down]) out.set(l.name, l);
  }
  return out;
}

/** Does PEFT's target_modules (+ layers_to_transform) select this module path? */
export function isTargeted(path: string, config: Pick<PeftLoraConfig, "target_modules" | "layers_to_transform">): boolean {
  const t = config.target_modules;
  const hit = typeof t === "string" ? new RegExp(`^(?:${t})$`).test(path) : t.some((m) => path === m || path.endsWith(`.${m}`));
  if (!hit) return false;
  const layers = config.layers_to_transform;
  if (layers == null) return true;
  const m = /\.layers\.(\d+)\./.exec(path);
  if (!m) return false;
  return (Array.isArray(layers) ? layers : [layers]).includes(Number(m[1]));
}

export function loraScale(config: PeftLoraConfig): number {
  return config.use_rslora ? config.lora_alpha / Math.sqrt(config.r) : config.lora_alpha / config.r;
}

/** Read a PEFT adapter folder and check it against the model. */
export function readPeftAdapter(dir: string, model: Transformer, warn: (m: string) => void = (m) => console.warn(m)): LoraAdapter {
  const cfgPath = join(dir, "adapter_config.json");
  const wPath = join(dir, "adapter_model.safetensors");
  if (!existsSync(cfgPath)) throw new AdapterError(cfgPath, "file not found (a PEFT adapter folder has adapter_config.json and adapter_model.safetensors)");
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

/** Merge the adapter into the weights: W += scale · B·A (then the model no longer needs it). */
export async function mergeLora(model: Transformer, adapter: LoraAdapter): Promise<void> {
  const modules = linearModules(model);
  for (const [path, d] of adapter.deltas) {
    const lin = modules.get(path)!;
    const ba = await gemm(d.B, d.A, lin.outDim, d.r, lin.inDim);
    for (let i = 0; i < lin.w.length; i++) lin.w[i] += d.scale * ba[i];
  }
}

/** Write the adapter in PEFT's format (loadable by `PeftModel.from_pretrained`). */
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
  const config: PeftLoraConfig = {
    task_type: "CAUSAL_LM",
    base_model_name_or_path: baseModel,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    lora_dropout: 0,
    modules_to_save: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    use_rslora: false,
    ...adapter.config,
    peft_type: "LORA",
  };
  writeFileAtomic(join(dir, "adapter_config.json"), JSON.stringify(config, null, 2) + "\n");
}
