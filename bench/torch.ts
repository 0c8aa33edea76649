/**
 * How the benchmarks hand work to PyTorch (Debian's python3-torch, under /usr/bin/python3): whether it is there, the
 * files its scripts read (model.safetensors + config.json, tokens.bin, targets.bin as int32), and one run of a script
 * in this folder, whose last stdout line is JSON.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { saveModel } from "../src/model/load.ts";
import type { Transformer } from "../src/model/transformer.ts";

const PYTHON = "/usr/bin/python3";

/** Whether Debian's python3-torch is importable. */
export function hasTorch(): boolean {
  return spawnSync(PYTHON, ["-c", "import torch"]).status === 0;
}

/** Threads PyTorch may use: as many as onnxruntime's sessions ($QUIRKY_THREADS, else every core). */
export const torchThreads = (): number => Number(process.env.QUIRKY_THREADS) || availableParallelism();

/** Write the model and token ids (and targets) into dir as the PyTorch scripts read them. */
export function writeTorchInputs(dir: string, model: Transformer, tokens: Int32Array, targets?: Int32Array): void {
  saveModel(model, dir);
  writeFileSync(join(dir, "tokens.bin"), new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength));
  if (targets) writeFileSync(join(dir, "targets.bin"), new Uint8Array(targets.buffer, targets.byteOffset, targets.byteLength));
}

/** Run bench/<script> with these arguments; its printed JSON. */
export function runTorch<T>(script: string, args: (string | number)[]): T {
  const py = spawnSync(PYTHON, [fileURLToPath(new URL(script, import.meta.url)), ...args.map(String)], { encoding: "utf8", maxBuffer: 1 << 30 });
  if (py.status !== 0) throw new Error(`bench/${script} failed: ${py.stderr}`);
  return JSON.parse(py.stdout) as T;
}
