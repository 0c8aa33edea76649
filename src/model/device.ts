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
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import ort from "onnxruntime-node";
import { onnxModel } from "./onnx.ts";

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
