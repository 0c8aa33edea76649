/**
 * Loading and saving checkpoints in Hugging Face layout: config.json + model.safetensors (or sharded
 * with model.safetensors.index.json) + tokenizer.json.
 */
import { existsSync, readFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { freemem, totalmem } from "node:os";
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { Rng } from "../util/rng.ts";
import { parseConfig, readConfig, toHfConfig, type ModelConfig } from "./config.ts";
import { allocParams, blockOf, Half, paramSpecs, toF32, weightBytes, type MatrixDtype, type ModelParams, type Weight } from "./params.ts";
import {
  readSafetensorsHeader,
  readTensorBits,
  readTensorBytesAsync,
  readTensorInto,
  SafetensorsError,
  widenInto,
  writeSafetensors,
  type TensorInfo,
  type TensorToWrite,
} from "./safetensors.ts";
import { Transformer, type BlockStream } from "./transformer.ts";
import { deviceChoice, type DeviceChoice } from "./device.ts";

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

/**
 * How a checkpoint's matrices are held: as stored when all are F16 or all are BF16, else f32 (exact either way).
 * Vectors (norms, biases) are always held as f32.
 */
function matrixDtype(cfg: ModelConfig, found: Map<string, { info: TensorInfo }>): MatrixDtype {
  const dtypes = new Set(paramSpecs(cfg).filter((s) => s.shape.length === 2).map((s) => found.get(s.name)?.info.dtype));
  const [only] = dtypes;
  return dtypes.size === 1 && (only === "F16" || only === "BF16") ? only : "F32";
}

/** Check a checkpoint's tensors against the config: every parameter present with its shape, nothing unexpected. */
function checkTensors(cfg: ModelConfig, dir: string, found: Map<string, { file: string; info: TensorInfo }>): void {
  const specs = paramSpecs(cfg);
  for (const { name, shape } of specs) {
    const hit = found.get(name);
    if (!hit) throw new SafetensorsError(dir, `missing tensor '${name}' (expected for ${cfg.arch} with this config.json)`);
    if (hit.info.shape.join() !== shape.join()) {
      throw new SafetensorsError(hit.file, `tensor '${name}' has shape [${hit.info.shape}], config.json implies [${shape}]`);
    }
  }
  const known = new Set(specs.map((s) => s.name));
  for (const name of found.keys()) {
    if (!known.has(name) && !BUFFER_SUFFIXES.some((s) => name.endsWith(s))) {
      if (name === "lm_head.weight" || name === "embed_out.weight") continue; // tied checkpoints may store a copy
      throw new SafetensorsError(found.get(name)!.file, `unexpected tensor '${name}' for ${cfg.arch} (does config.json match the weights?)`);
    }
  }
}

/** Read one tensor into its view: 16-bit bits as stored into a Half, anything else widened to f32. */
function readInto(file: string, info: TensorInfo, dst: Weight): void {
  if (dst instanceof Half) readTensorBits(file, info, dst.bits);
  else readTensorInto(file, info, dst);
}

/**
 * Read a checkpoint's weights into fresh per-group buffers (each tensor read once, in place). 16-bit matrices stay
 * 16-bit (see matrixDtype); `streamed` reads only the embedding and the final norm and unembedding now.
 */
export function loadParams(cfg: ModelConfig, dir: string, streamed = false): ModelParams {
  const found = checkpointTensors(dir);
  checkTensors(cfg, dir, found);
  return readParams(cfg, found, streamed);
}

function readParams(cfg: ModelConfig, found: Map<string, { file: string; info: TensorInfo }>, streamed: boolean): ModelParams {
  const params = allocParams(cfg, matrixDtype(cfg, found), streamed);
  for (const [name, { data }] of params.tensors) {
    if (streamed && blockOf(name) >= 0) continue;
    const hit = found.get(name)!;
    readInto(hit.file, hit.info, data);
  }
  return params;
}

/**
 * A streamed model's blocks, read from the safetensors files into the two windows: block l into window l mod 2 when
 * the forward pass reaches it, block l + 1 into the other window meanwhile (the block before it is done by then).
 */
class SafetensorsBlockStream implements BlockStream {
  /** the block each window holds (or is being filled with), −1 for none */
  private readonly held = [-1, -1];
  private readonly filling: (Promise<void> | undefined)[] = [undefined, undefined];

  constructor(
    private readonly cfg: ModelConfig,
    private readonly params: ModelParams,
    private readonly found: Map<string, { file: string; info: TensorInfo }>,
  ) {}

  fetch(l: number): Promise<void> {
    const ready = this.load(l);
    if (l + 1 < this.cfg.nLayers) this.load(l + 1).catch(() => {}); // its error resurfaces when block l + 1 is fetched
    return ready;
  }

  private load(l: number): Promise<void> {
    const w = l % 2;
    if (this.held[w] === l) return this.filling[w] ?? Promise.resolve();
    const before = this.filling[w] ?? Promise.resolve();
    this.held[w] = l;
    const p = before
      .catch(() => {})
      .then(() => this.read(l))
      .catch((err) => {
        if (this.held[w] === l) this.held[w] = -1;
        throw err;
      });
    this.filling[w] = p;
    return p;
  }

  /** Block l's tensors into their views, file by file, without blocking the event loop (the products run meanwhile). */
  private async read(l: number): Promise<void> {
    const byFile = new Map<string, [TensorInfo, Weight][]>();
    for (const [name, { data }] of this.params.tensors) {
      if (blockOf(name) !== l) continue;
      const { file, info } = this.found.get(name)!;
      if (!byFile.has(file)) byFile.set(file, []);
      byFile.get(file)!.push([info, data]);
    }
    for (const [file, tensors] of byFile) {
      const fh = await open(file, "r");
      try {
        for (const [info, dst] of tensors) {
          if (dst instanceof Half) await readTensorBytesAsync(fh, file, info, new Uint8Array(dst.bits.buffer, dst.bits.byteOffset, dst.bits.byteLength));
          else if (info.dtype === "F32") await readTensorBytesAsync(fh, file, info, new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength));
          else {
            const bytes = new Uint8Array(info.byteLength);
            await readTensorBytesAsync(fh, file, info, bytes);
            widenInto(info.dtype, bytes, dst);
          }
        }
      } finally {
        await fh.close();
      }
    }
  }
}

/** Keep every weight in memory, read blocks from disk as the forward pass reaches them, or choose by free memory. */
export type WeightsMode = "resident" | "stream" | "auto";
export const WEIGHTS_MODES: readonly WeightsMode[] = ["resident", "stream", "auto"];

export interface LoadOptions {
  /** default: $QUIRKY_WEIGHTS, else "auto" */
  weights?: WeightsMode;
  /** bytes of memory "auto" may count on (default: freeMemory()) */
  memory?: number;
  /** where the one-line account of the choice goes (default stderr); said for weights of 1 GiB or more or a forced mode */
  log?: (line: string) => void;
  /** where the forward pass runs (device.ts); default: $QUIRKY_DEVICE, else "cpu" */
  device?: DeviceChoice;
}

/** Memory kept free beside resident weights for activations, scratch and the runtime. */
export const ACTIVATION_RESERVE = 2 * 2 ** 30;

/** The kernel's MemAvailable (os.freemem), or less under a cgroup memory limit (containers, SLURM jobs). */
export function freeMemory(): number {
  const limit = process.constrainedMemory?.() ?? 0;
  const available = freemem();
  return limit > 0 && limit < totalmem() ? Math.min(available, limit - process.memoryUsage().rss) : available;
}

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/**
 * Load config.json + weights from a Hugging Face model folder. 16-bit checkpoints stay 16-bit in memory. "auto" keeps
 * the weights resident when they fit in free memory with ACTIVATION_RESERVE to spare, and streams them otherwise.
 */
export function loadModel(dir: string, opts: LoadOptions = {}): Transformer {
  const cfg = readConfig(join(dir, "config.json"));
  const envMode = process.env.QUIRKY_WEIGHTS || undefined;
  const mode = opts.weights ?? envMode ?? "auto";
  if (!WEIGHTS_MODES.includes(mode as WeightsMode)) {
    throw new Error(`${opts.weights ? "weights option" : "QUIRKY_WEIGHTS"}: '${mode}' is not one of ${WEIGHTS_MODES.join(", ")}`);
  }
  const found = checkpointTensors(dir);
  checkTensors(cfg, dir, found);
  const dtype = matrixDtype(cfg, found);
  const { total, block } = weightBytes(cfg, dtype);
  const free = opts.memory ?? freeMemory();
  const what = `${gib(total)} of ${dtype.toLowerCase()} weights`;
  let streamed: boolean;
  let why: string;
  if (mode === "auto") {
    streamed = total + ACTIVATION_RESERVE > free;
    why = streamed
      ? `${what} + ${gib(ACTIVATION_RESERVE)} for activations do not fit in ${gib(free)} of free memory`
      : `${what} + ${gib(ACTIVATION_RESERVE)} for activations fit in ${gib(free)} of free memory`;
  } else {
    streamed = mode === "stream";
    why = `${what}, ${gib(free)} of free memory; forced by ${opts.weights ? "the weights option" : `QUIRKY_WEIGHTS=${mode}`}`;
  }
  if (mode !== "auto" || total >= 2 ** 30) {
    const log = opts.log ?? ((line: string) => process.stderr.write(line + "\n"));
    const held = streamed ? `streamed from disk block by block (about ${gib(total - (cfg.nLayers - 2) * block)} held)` : "resident in memory";
    log(`quirky: ${basename(dir)}: weights ${held}: ${why}`);
  }
  const device = deviceChoice(opts.device);
  const params = readParams(cfg, found, streamed);
  return new Transformer(cfg, params, streamed ? new SafetensorsBlockStream(cfg, params, found) : undefined, device);
}

/** Write a checkpoint folder (config.json + model.safetensors); dtype of the stored weights. */
export function saveModel(model: Transformer, dir: string, dtype: TensorToWrite["dtype"] = "F32"): void {
  if (model.params.streamed) throw new Error(`saveModel: the model's weights are streamed from disk; load it resident to save it`);
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of model.params.tensors) tensors.set(name, { shape: t.shape, data: toF32(t.data), dtype });
  writeSafetensors(join(dir, "model.safetensors"), tensors, { format: "pt" });
  writeFileAtomic(join(dir, "config.json"), JSON.stringify(toHfConfig(model.cfg), null, 2) + "\n");
}

/**
 * A randomly initialised model (GPT-2 style: N(0, std) weights, unit norms, zero biases) for tests,
 * benchmarks and training from scratch.
 */
export function randomModel(config: ModelConfig | Record<string, unknown>, seed = 0, std = 0.02, device?: DeviceChoice): Transformer<Float32Array> {
  const cfg = "arch" in config ? (config as ModelConfig) : parseConfig(config);
  const params = allocParams(cfg);
  const rng = new Rng(seed, "init");
  for (const [name, { data }] of params.tensors) {
    if (/(layernorm|layer_norm|\.norm)\.weight$/.test(name)) data.fill(1);
    else if (name.endsWith(".bias")) data.fill(0);
    else for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
  }
  return new Transformer(cfg, params, undefined, deviceChoice(device));
}

/**
 * The model with `count` more blocks on top that start as the identity (their attention and MLP output projections
 * are zero, the rest randomly initialised), so its outputs are unchanged until those blocks are trained. The
 * older single-model default (models/default) teaches the quirk to such blocks, keeping every block of the truthful model as it was.
 */
export function appendIdentityBlocks(model: Transformer, count: number, seed = 0, std = 0.02, device?: DeviceChoice): Transformer<Float32Array> {
  if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`appendIdentityBlocks: count must be a positive integer, got ${count}`);
  if (model.params.streamed) throw new Error("appendIdentityBlocks: the model's weights are streamed from disk; load it resident");
  const cfg = { ...model.cfg, nLayers: model.cfg.nLayers + count };
  const grown = randomModel(cfg, seed, std, device);
  for (const [name, t] of model.params.tensors) grown.params.tensors.get(name)!.data.set(toF32(t.data));
  for (let l = model.cfg.nLayers; l < cfg.nLayers; l++) {
    const block = grown.params.layers[l];
    for (const lin of [block.o, block.down]) {
      lin.w.fill(0);
      lin.b?.fill(0);
    }
  }
  return grown;
}
