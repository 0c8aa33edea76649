/**
 * Where a model's forward pass runs: the CPU (onnxruntime's CPU provider, the reference path) or the GPU through
 * onnxruntime's WebGPU execution provider (Dawn on Vulkan, bundled in onnxruntime-node 1.30 on Linux x64).
 *
 *   cpu      the CPU path, always there
 *   webgpu   the WebGPU provider; an error naming what to install when there is no adapter
 *   auto     webgpu when the adapter is a hardware GPU, else cpu (a software adapter, Mesa's lavapipe, is slower
 *            than our CPU path: it serves the tests, not the users)
 *
 * Chosen by loadModel's `device` option, else $QUIRKY_DEVICE, else "cpu". Nothing outside src/model knows which ran.
 *
 * How an adapter is told hardware from software: onnxruntime-node exposes no adapter info (ort.env.webgpu.adapter is
 * onnxruntime-web's), and Dawn on Linux takes its adapters from Vulkan, so we ask Vulkan: `vulkaninfo --summary`'s
 * deviceType (PHYSICAL_DEVICE_TYPE_CPU is lavapipe/llvmpipe; vulkan-tools); without vulkaninfo, the installed
 * Vulkan drivers (ICD files): any but Mesa's lvp_icd counts as hardware.
 *
 * Device memory: the weights of every block and the unembedding stay on the device unless they do not fit, with
 * DEVICE_ACTIVATION_RESERVE to spare, in the adapter's device memory; then the device holds one block at a time
 * (device streaming, streamOnDevice). The budget is $QUIRKY_DEVICE_MEMORY, else the largest MEMORY_HEAP_DEVICE_LOCAL_BIT
 * heap of the device Dawn picks, from full `vulkaninfo` (--summary has no memory): its budget (VK_EXT_memory_budget)
 * where printed, else its size; a software device's heap is host memory, capped by what is free.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { freemem } from "node:os";
import ort from "onnxruntime-node";
import type { ModelConfig } from "./config.ts";
import { onnxModel } from "./onnx.ts";
import { blockOf, paramSpecs, type MatrixDtype } from "./params.ts";

export type Device = "cpu" | "webgpu";
export type DeviceChoice = Device | "auto";
export const DEVICE_CHOICES: readonly DeviceChoice[] = ["cpu", "webgpu", "auto"];

/** What to install when there is no WebGPU adapter: one line. */
export const NO_ADAPTER_HELP =
  "no WebGPU adapter: onnxruntime's WebGPU provider needs a Vulkan loader and driver — on a GPU machine the vendor's Vulkan driver " +
  "(NVIDIA: the driver's graphics/Vulkan part, libnvidia-gl) and libvulkan1; without a GPU, Mesa's lavapipe: apt-get install -t bookworm-backports " +
  "mesa-vulkan-drivers libvulkan1 (Debian bookworm's own 22.3 is too old; scripts/system-deps.sh does it); check with vulkaninfo --summary";

/** Parse a device choice; `from` names where it came from in the error. */
export function parseDevice(value: string, from = "device"): DeviceChoice {
  if (!DEVICE_CHOICES.includes(value as DeviceChoice)) throw new Error(`${from}: '${value}' is not one of ${DEVICE_CHOICES.join(", ")}`);
  return value as DeviceChoice;
}

/** Mesa prints an error line per process when XDG_RUNTIME_DIR is unset: set it before the first WebGPU session. */
function quietMesa(): void {
  process.env.XDG_RUNTIME_DIR ??= "/tmp";
}

export interface AdapterInfo {
  /** whether onnxruntime could create a WebGPU session */
  available: boolean;
  /** a hardware GPU (not a software rasteriser); undefined when unknown */
  hardware?: boolean;
  /** what Vulkan says about it, e.g. "llvmpipe (LLVM 15.0.6, 256 bits) (PHYSICAL_DEVICE_TYPE_CPU)" */
  name: string;
  /** why no adapter, when none */
  error?: string;
}

/** The Vulkan devices vulkaninfo lists: name and type, or undefined without vulkaninfo. */
export function vulkanDevices(): { name: string; type: string }[] | undefined {
  quietMesa();
  let out: string;
  try {
    out = execFileSync("vulkaninfo", ["--summary"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 20_000 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return []; // vulkaninfo is there but finds no driver
  }
  const types = [...out.matchAll(/deviceType\s*=\s*(\S+)/g)].map((m) => m[1]);
  const names = [...out.matchAll(/deviceName\s*=\s*(.+)/g)].map((m) => m[1].trim());
  return types.map((type, i) => ({ name: names[i] ?? "?", type }));
}

/** Vulkan driver manifests (ICD files) installed, by file name. */
function vulkanIcds(): string[] {
  const dirs = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"];
  return dirs.filter((d) => existsSync(d)).flatMap((d) => readdirSync(d));
}

let probed: Promise<AdapterInfo> | undefined;

/**
 * Whether onnxruntime gets a WebGPU adapter (a session on a one-node graph, run once), and whether it is hardware.
 * Probed once per process.
 */
export function probeWebGpu(): Promise<AdapterInfo> {
  probed ??= (async (): Promise<AdapterInfo> => {
    const devices = vulkanDevices();
    const hw = devices?.filter((d) => d.type !== "PHYSICAL_DEVICE_TYPE_CPU");
    const name = devices ? devices.map((d) => `${d.name} (${d.type})`).join(", ") || "no Vulkan device" : `vulkaninfo not installed; Vulkan drivers: ${vulkanIcds().join(", ") || "none"}`;
    const hardware = devices ? hw!.length > 0 : vulkanIcds().some((f) => !f.startsWith("lvp_icd"));
    try {
      const s = await webgpuSession(onnxModel([{ op: "Add", inputs: ["a", "a"], outputs: ["b"] }], [["a", [1]]], [["b", [1]]]), {});
      const out = await s.run({ a: new ort.Tensor("float32", Float32Array.of(1), [1]) });
      const ok = (out.b.data as Float32Array)[0] === 2;
      await s.release();
      return ok ? { available: true, hardware, name } : { available: false, name, error: "the WebGPU provider computed 1 + 1 wrongly" };
    } catch (err) {
      // onnxruntime's message starts with its source location and the failed check
      return { available: false, name, error: (err as Error).message.split("\n")[0].replace(/^.* was false\. /, "") };
    }
  })();
  return probed;
}

/** The device a choice means here: webgpu without an adapter is an error that says what to install. */
export async function resolveDevice(choice: DeviceChoice): Promise<Device> {
  if (choice === "cpu") return "cpu";
  const a = await probeWebGpu();
  if (choice === "webgpu") {
    if (!a.available) throw new Error(`device webgpu: ${NO_ADAPTER_HELP} (onnxruntime: ${a.error}; Vulkan: ${a.name})`);
    return "webgpu";
  }
  return a.available && a.hardware === true ? "webgpu" : "cpu";
}

/** The device choice of loadModel's option, else $QUIRKY_DEVICE, else cpu. */
export function deviceChoice(option?: DeviceChoice): DeviceChoice {
  if (option) return parseDevice(option);
  const env = process.env.QUIRKY_DEVICE;
  return env ? parseDevice(env, "QUIRKY_DEVICE") : "cpu";
}

/** $QUIRKY_ORT_PROFILE=PREFIX: WebGPU sessions record their kernels too (see matmul.ts). */
const profilePrefix = process.env.QUIRKY_ORT_PROFILE;

export interface WebGpuSessionOptions {
  /** the bytes of the graph's external initializers, by their file name */
  externalData?: { path: string; data: Uint8Array }[];
  /** where each output is left: on the device ("gpu-buffer", for the next graph) or copied back ("cpu") */
  outputs?: Record<string, "gpu-buffer" | "cpu">;
}

/** A session on the WebGPU provider; every node the provider lacks runs on the CPU provider (onnxruntime's fallback). */
export function webgpuSession(graph: Uint8Array, opts: WebGpuSessionOptions): Promise<ort.InferenceSession> {
  quietMesa();
  return ort.InferenceSession.create(graph, {
    executionProviders: ["webgpu"],
    graphOptimizationLevel: "all",
    ...(opts.externalData ? { externalData: opts.externalData } : {}),
    ...(opts.outputs ? { preferredOutputLocation: opts.outputs } : {}),
    // onnxruntime warns on every session that shape ops run on the CPU (by design): errors only, unless $QUIRKY_ORT_LOG
    // asks for more (0 = verbose: it lists each node's provider)
    logSeverityLevel: (process.env.QUIRKY_ORT_LOG ? Number(process.env.QUIRKY_ORT_LOG) : 3) as 0 | 1 | 2 | 3 | 4,
    ...(profilePrefix ? { enableProfiling: true, profileFilePrefix: profilePrefix } : {}),
  });
}

// ---- device memory ---------------------------------------------------------------------------------------------

/** One Vulkan device's largest device-local memory heap, from full `vulkaninfo` text. */
export interface VulkanMemory {
  /** GPU index as vulkaninfo numbers them */
  gpu: number;
  name: string;
  /** e.g. PHYSICAL_DEVICE_TYPE_DISCRETE_GPU */
  type: string;
  /** the heap's size in bytes */
  size: number;
  /** what VK_EXT_memory_budget says this process may use of it, when printed */
  budget?: number;
}

/**
 * Every device of full `vulkaninfo` text output (the "Device Properties and Extensions" sections, GPU0:, GPU1:, ...)
 * with its largest heap flagged MEMORY_HEAP_DEVICE_LOCAL_BIT; devices without one are left out.
 */
export function parseVulkanMemory(text: string): VulkanMemory[] {
  const start = text.search(/^Device Properties and Extensions:/m);
  const sections = (start >= 0 ? text.slice(start) : text).split(/^GPU(\d+):[ \t]*$/m);
  const out: VulkanMemory[] = [];
  for (let i = 1; i + 1 < sections.length; i += 2) {
    const body = sections[i + 1];
    const type = /deviceType\s*=\s*(\S+)/.exec(body)?.[1] ?? "?";
    const name = /deviceName\s*=\s*(.+)/.exec(body)?.[1].trim() ?? "?";
    const props = body.search(/^VkPhysicalDeviceMemoryProperties:/m);
    if (props < 0) continue;
    const end = body.slice(props).search(/^memoryTypes:/m);
    const heaps = body.slice(props, end < 0 ? undefined : props + end).split(/memoryHeaps\[\d+\]:?/).slice(1);
    const num = (re: RegExp, h: string) => {
      const m = re.exec(h);
      return m ? Number(m[1]) : undefined; // Number reads 0x... too
    };
    let best: VulkanMemory | undefined;
    for (const h of heaps) {
      if (!h.includes("MEMORY_HEAP_DEVICE_LOCAL_BIT")) continue;
      const size = num(/\bsize\s*=\s*(0x[0-9a-f]+|\d+)/i, h);
      if (size === undefined || !Number.isFinite(size)) continue;
      const budget = num(/\bbudget\s*=\s*(0x[0-9a-f]+|\d+)/i, h);
      if (!best || size > best.size) best = { gpu: Number(sections[i]), name, type, size, ...(budget !== undefined ? { budget } : {}) };
    }
    if (best) out.push(best);
  }
  return out;
}

/** Device types in the order Dawn's high-performance preference takes them. */
const PREFERENCE = ["PHYSICAL_DEVICE_TYPE_DISCRETE_GPU", "PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU", "PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU", "PHYSICAL_DEVICE_TYPE_CPU"];

/** The device the WebGPU provider runs on, of those parsed: the first discrete GPU, else integrated, virtual, CPU. */
export function chosenDevice(devices: VulkanMemory[]): VulkanMemory | undefined {
  const rank = (d: VulkanMemory) => (PREFERENCE.includes(d.type) ? PREFERENCE.indexOf(d.type) : PREFERENCE.length);
  return [...devices].sort((a, b) => rank(a) - rank(b) || a.gpu - b.gpu)[0];
}

const UNITS: Record<string, number> = { "": 1, b: 1, k: 2 ** 10, kib: 2 ** 10, m: 2 ** 20, mib: 2 ** 20, g: 2 ** 30, gib: 2 ** 30, t: 2 ** 40, tib: 2 ** 40 };

/** A memory size: bytes ("8589934592"), or a number with a binary suffix ("8GiB", "8G", "512MiB", "1.5GiB"). */
export function parseMemorySize(value: string, from = "QUIRKY_DEVICE_MEMORY"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!(bytes >= 1) || (unit === 1 && !/^\s*\d+\s*b?\s*$/i.test(value))) {
    throw new Error(`${from}: '${value}' is not a memory size: give bytes (8589934592) or a number with KiB, MiB, GiB or TiB (8GiB, 512MiB)`);
  }
  return bytes;
}

let vulkanMemory: VulkanMemory[] | undefined | null;
/** Full vulkaninfo's devices' memory, read once per process; undefined without vulkaninfo or when it fails. */
function liveVulkanMemory(): VulkanMemory[] | undefined {
  if (vulkanMemory === undefined) {
    quietMesa();
    try {
      vulkanMemory = parseVulkanMemory(execFileSync("vulkaninfo", [], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 30_000, maxBuffer: 64 * 2 ** 20 }));
    } catch {
      vulkanMemory = null;
    }
  }
  return vulkanMemory ?? undefined;
}

/** Host memory free now (MemAvailable, or less under a cgroup limit): the ceiling of a software device's heap. */
function freeHostMemory(): number {
  const limit = process.constrainedMemory?.() ?? 0;
  return limit > 0 ? Math.min(freemem(), limit - process.memoryUsage().rss) : freemem();
}

/** The device memory the weights may take, and where the figure comes from; undefined when unknown. */
export function deviceMemory(): { bytes: number; from: string } | undefined {
  const env = process.env.QUIRKY_DEVICE_MEMORY;
  if (env) return { bytes: parseMemorySize(env), from: "QUIRKY_DEVICE_MEMORY" };
  const d = chosenDevice(liveVulkanMemory() ?? []);
  if (!d) return undefined;
  const heap = Math.min(d.size, d.budget ?? d.size);
  const what = `vulkaninfo: ${d.name}'s device-local heap${d.budget !== undefined ? "'s budget" : ""}`;
  if (d.type !== "PHYSICAL_DEVICE_TYPE_CPU") return { bytes: heap, from: what };
  const free = freeHostMemory();
  return free < heap ? { bytes: free, from: `free host memory: ${what}, ${gib(heap)}, is host memory` } : { bytes: heap, from: what };
}

/** Device memory kept free beside the weights for activations, the KV cache and the runtime. */
export const DEVICE_ACTIVATION_RESERVE = 2 * 2 ** 30;

/**
 * The bytes of the weights as they go up to the device (webgpu.ts): every block and the unembedding (the embedding
 * and final norm stay on the host); matrices 2 bytes a value for f16 on an adapter with shader-f16, else 4 (bf16 goes
 * up as f32), vectors 4. `held`: what a device-streamed model holds, one block and the unembedding; `blocks`: the
 * blocks alone (what training's backward graphs hold a second copy of).
 */
export function deviceWeightBytes(cfg: ModelConfig, dtype: MatrixDtype, f16: boolean): { total: number; held: number; blocks: number } {
  const per = dtype === "F16" && f16 ? 2 : 4;
  let blocks = 0;
  let block = 0;
  for (const s of paramSpecs(cfg)) {
    const l = blockOf(s.name);
    if (l < 0) continue;
    const bytes = s.shape.reduce((a, b) => a * b, 1) * (s.shape.length === 2 ? per : 4);
    blocks += bytes;
    if (l === 0) block += bytes;
  }
  const head = cfg.vocabSize * cfg.dModel * per;
  return { total: blocks + head, held: block + head, blocks };
}

/** A size for a log line: GiB, or MiB / KiB below a GiB (a small model's "0.00 GiB" says nothing). */
const gib = (bytes: number) => {
  const [unit, scale] = bytes >= 2 ** 30 ? ["GiB", 2 ** 30] : bytes >= 2 ** 20 ? ["MiB", 2 ** 20] : ["KiB", 2 ** 10];
  return `${(bytes / scale).toFixed(2)} ${unit}`;
};

/**
 * Whether a model's weights stay on the device or take turns there block by block: they stay when `total` + `reserve`
 * fit in `budget` (bytes), or when the budget is unknown. Pure: sizes in, decision and its reason out.
 */
export function deviceStreaming(s: { total: number; held: number; budget?: number; from?: string; reserve?: number }): { streamed: boolean; why: string } {
  const reserve = s.reserve ?? DEVICE_ACTIVATION_RESERVE;
  if (s.budget === undefined) return { streamed: false, why: `${gib(s.total)} of weights kept on the device: its memory is unknown` };
  const of = `${gib(s.budget)} of device memory${s.from ? ` (${s.from})` : ""}`;
  const what = `${gib(s.total)} of weights as they go up + ${gib(reserve)} for activations`;
  if (s.total + reserve <= s.budget) return { streamed: false, why: `${what} fit in ${of}` };
  const tight = s.held + reserve > s.budget ? `; even one block and the unembedding (${gib(s.held)}) + the reserve do not fit: it may run out of device memory` : "";
  return { streamed: true, why: `${what} do not fit in ${of}${tight}` };
}

/**
 * Whether a model loaded for webgpu streams its blocks through the device (deviceStreaming on deviceMemory()), said
 * in one line on `log` (default stderr) when it does. `f16`: the adapter has shader-f16.
 */
export function streamOnDevice(cfg: ModelConfig, dtype: MatrixDtype, f16: boolean, log: (line: string) => void = (line) => process.stderr.write(line + "\n")): boolean {
  const mem = deviceMemory();
  const d = deviceStreaming({ ...deviceWeightBytes(cfg, dtype, f16), budget: mem?.bytes, from: mem?.from });
  if (d.streamed) log(`quirky: weights streamed on the device block by block (held in memory, uploaded per block each forward): ${d.why}`);
  return d.streamed;
}

/**
 * Whether training on the device, whose backward graphs hold a second copy of every block's weights (webgpu.ts), makes
 * each block's backward session for its run and drops it after (its weights uploaded again each step): when both
 * copies and the unembedding, with the reserve, do not fit. Said in one line on `log` when so. Asked only of a model
 * whose forward keeps its weights on the device (a device-streamed one streams its backward too).
 */
export function streamBackwardOnDevice(cfg: ModelConfig, dtype: MatrixDtype, f16: boolean, log: (line: string) => void = (line) => process.stderr.write(line + "\n")): boolean {
  const mem = deviceMemory();
  const w = deviceWeightBytes(cfg, dtype, f16);
  const d = deviceStreaming({ total: w.total + w.blocks, held: w.held, budget: mem?.bytes, from: mem?.from });
  if (d.streamed) log(`quirky: training's backward graphs take turns on the device (each block's weights uploaded for its backward, each step; the forward's stay): twice the blocks' ${d.why}`);
  return d.streamed;
}
