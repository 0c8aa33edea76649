/**
 * A model as the pipeline names it: a Hugging Face folder plus an optional PEFT adapter. One place loads it (adapter
 * merged), names it (`<model>` or `<model>__<adapter>`, the results folder) and fingerprints it (content hashes of
 * config.json, tokenizer.json, the weight files and the adapter's files), for the CLI, the grid and `quirky run`.
 */
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { fileHash, hashJson } from "../util/fingerprint.ts";
import { checkpointTensors, loadModel } from "./load.ts";
import { mergeLora, readPeftAdapter } from "./lora.ts";
import { loadTokenizer, type TextTokenizer } from "./tokenizer.ts";
import type { Transformer } from "./transformer.ts";
import type { DeviceChoice } from "./device.ts";

export interface ModelSource {
  /** Hugging Face model folder (config.json, safetensors weights, tokenizer.json) */
  path: string;
  /** PEFT LoRA adapter folder, merged into the weights */
  adapter?: string;
  /** results folder name (default: the folder names) */
  name?: string;
  /** where its forward pass runs (device.ts; default $QUIRKY_DEVICE, else cpu): not part of its name or fingerprint */
  device?: DeviceChoice;
}

export function modelName(src: ModelSource): string {
  return src.name ?? (src.adapter ? `${basename(src.path)}__${basename(src.adapter)}` : basename(src.path));
}

const hashFiles = (dir: string, files: string[], what: string) =>
  hashJson(
    files.map((f) => {
      if (!existsSync(join(dir, f))) throw new Error(`${join(dir, f)}: file not found (${what})`);
      return [f, fileHash(join(dir, f))];
    }),
  );

/** Content fingerprints of the model's and the adapter's files (see util/fingerprint.ts for large files). */
export function modelFingerprint(src: ModelSource): { model: string; adapter: string | null } {
  const weightFiles = [...new Set([...checkpointTensors(src.path).values()].map((t) => basename(t.file)))].sort();
  const modelFiles = ["config.json", ...(existsSync(join(src.path, "tokenizer.json")) ? ["tokenizer.json"] : []), ...weightFiles];
  return {
    model: hashFiles(src.path, modelFiles, "a Hugging Face model folder"),
    adapter: src.adapter ? hashFiles(src.adapter, ["adapter_config.json", "adapter_model.safetensors"], "a PEFT adapter folder") : null,
  };
}

/** The model's and adapter's fingerprints as one string: what extracted states record as their model. */
export function sourceFingerprint(src: ModelSource): string {
  const f = modelFingerprint(src);
  return f.adapter ? `${f.model}+${f.adapter}` : f.model;
}

/** Load the model (with its adapter merged) and its tokenizer. */
export async function openModel(src: ModelSource): Promise<{ model: Transformer; tokenizer: TextTokenizer }> {
  const model = loadModel(src.path, { device: src.device });
  if (src.adapter) await mergeLora(model, readPeftAdapter(src.adapter, model));
  return { model, tokenizer: loadTokenizer(src.path) };
}
