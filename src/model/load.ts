/**
 * Loading and saving checkpoints in Hugging Face layout: config.json + model.safetensors (or sharded
 * with model.safetensors.index.json) + tokenizer.json.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { Rng } from "../util/rng.ts";
import { parseConfig, readConfig, toHfConfig, type ModelConfig } from "./config.ts";
import { allocParams, type ModelParams } from "./params.ts";
import { readSafetensorsHeader, readTensorInto, SafetensorsError, writeSafetensors, type TensorInfo, type TensorToWrite } from "./safetensors.ts";
import { Transformer } from "./transformer.ts";

/** Tensors that Hugging Face checkpoints carry but that are not parameters (recomputed buffers). */
const BUFFER_SUFFIXES = [".attention.bias", ".attention.masked_bias", ".rotary_emb.inv_freq"];

/** Where each tensor of a checkpoint folder lives: model.safetensors, or the shards of an index file. */
export function checkpointTensors(dir: string): Map<string, { file: string; info: TensorInfo }> {
  const single = join(dir, "model.safetensors");
  const index = join(dir, "model.safetensors.index.json");
  const out = new Map<string, { file: string; info: TensorInfo }>();
  if (existsSync(single)) {
    for (const info of readSafetensorsHeader(single).tensors.values()) out.set(info.name, { file: single, info });
    return out;
  }
  if (existsSync(index)) {
    let weightMap: Record<string, string>;
    try {
      weightMap = JSON.parse(readFileSync(index, "utf8")).weight_map;
    } catch (err) {
      throw new SafetensorsError(index, `not a valid index file (${(err as Error).message})`);
    }
    if (!weightMap || typeof weightMap !== "object") throw new SafetensorsError(index, "has no weight_map");
    const headers = new Map<string, Map<string, TensorInfo>>();
    for (const [name, shard] of Object.entries(weightMap)) {
      const file = join(dirname(index), shard);
      if (!headers.has(file)) headers.set(file, readSafetensorsHeader(file).tensors);
      const info = headers.get(file)!.get(name);
      if (!info) throw new SafetensorsError(file, `the index says it holds '${name}', but it does not`);
      out.set(name, { file, info });
    }
    return out;
  }
  const bin = existsSync(join(dir, "pytorch_model.bin")) ? " (pytorch_model.bin found: convert it to safetensors first)" : "";
  throw new SafetensorsError(dir, `no model.safetensors or model.safetensors.index.json${bin}`);
}

/** Read a checkpoint's weights into a fresh parameter buffer (each tensor read once, in place). */
export function loadParams(cfg: ModelConfig, dir: string): ModelParams {
  const found = checkpointTensors(dir);
  const params = allocParams(cfg);
  for (const [name, { shape, data }] of params.tensors) {
    const hit = found.get(name);
    if (!hit) throw new SafetensorsError(dir, `missing tensor '${name}' (expected for ${cfg.arch} with this config.json)`);
    if (hit.info.shape.join() !== shape.join()) {
      throw new SafetensorsError(hit.file, `tensor '${name}' has shape [${hit.info.shape}], config.json implies [${shape}]`);
    }
    readTensorInto(hit.file, hit.info, data);
  }
  for (const name of found.keys()) {
    if (!params.tensors.has(name) && !BUFFER_SUFFIXES.some((s) => name.endsWith(s))) {
      if (name === "lm_head.weight" || name === "embed_out.weight") continue; // tied checkpoints may store a copy
      throw new SafetensorsError(found.get(name)!.file, `unexpected tensor '${name}' for ${cfg.arch} (does config.json match the weights?)`);
    }
  }
  return params;
}

/** Load config.json + weights from a Hugging Face model folder. */
export function loadModel(dir: string): Transformer {
  const cfg = readConfig(join(dir, "config.json"));
  return new Transformer(cfg, loadParams(cfg, dir));
}

/** Write a checkpoint folder (config.json + model.safetensors); dtype of the stored weights. */
export function saveModel(model: Transformer, dir: string, dtype: TensorToWrite["dtype"] = "F32"): void {
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of model.params.tensors) tensors.set(name, { shape: t.shape, data: t.data, dtype });
  writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt" });
  writeFileAtomic(join(dir, "config.json"), JSON.stringify(toHfConfig(model.cfg), null, 2) + "\n");
}

/**
 * A randomly initialised model (GPT-2 style: N(0, std) weights, unit norms, zero biases) for tests,
 * benchmarks and training from scratch.
 */
export function randomModel(config: ModelConfig | Record<string, unknown>, seed = 0, std = 0.02): Transformer {
  const cfg = "arch" in config ? (config as ModelConfig) : parseConfig(config);
  const params = allocParams(cfg);
  const rng = new Rng(seed, "init");
  for (const [name, { data }] of params.tensors) {
    if (/(layernorm|layer_norm|\.norm)\.weight$/.test(name)) data.fill(1);
    else if (name.endsWith(".bias")) data.fill(0);
    else for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
  }
  return new Transformer(cfg, params);
}

/**
 * The model with `count` more blocks on top that start as the identity (their attention and MLP output projections
 * are zero, the rest randomly initialised), so its outputs are unchanged until those blocks are trained. The
 * embedded default teaches the quirk to such blocks, keeping every block of the truthful model as it was.
 */
export function appendIdentityBlocks(model: Transformer, count: number, seed = 0, std = 0.02): Transformer {
  if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`appendIdentityBlocks: count must be a positive integer, got ${count}`);
  const cfg = { ...model.cfg, nLayers: model.cfg.nLayers + count };
  const grown = randomModel(cfg, seed, std);
  for (const [name, t] of model.params.tensors) grown.params.tensors.get(name)!.data.set(t.data);
  for (let l = model.cfg.nLayers; l < cfg.nLayers; l++) {
    const block = grown.params.layers[l];
    for (const lin of [block.o, block.down]) {
      lin.w.fill(0);
      lin.b?.fill(0);
    }
  }
  return grown;
}
