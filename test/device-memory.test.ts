/**
 * Device memory (device.ts): the budget from vulkaninfo's device-local heap or $QUIRKY_DEVICE_MEMORY, the decision to
 * stream a model's blocks through the device when its weights do not fit, and, on lavapipe (skipped without an
 * adapter, as in device-webgpu.test.ts), that a device-streamed model computes what a resident one does.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  chosenDevice,
  DEVICE_ACTIVATION_RESERVE,
  deviceMemory,
  deviceStreaming,
  deviceWeightBytes,
  parseMemorySize,
  parseVulkanMemory,
  probeWebGpu,
  streamBackwardOnDevice,
  vulkanDevices,
} from "../src/model/device.ts";
import { parseConfig } from "../src/model/config.ts";
import { loadModel, randomModel, saveModel } from "../src/model/load.ts";
import { weightBytes } from "../src/model/params.ts";
import { Transformer } from "../src/model/transformer.ts";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import { writeDataset } from "../src/datasets/create.ts";
import { runConfig, validateRunConfig } from "../src/pipeline/run.ts";
import { adapterHasF16 } from "../src/model/webgpu.ts";
import { ROOT, tempDir, TINY_NEOX } from "./helpers.ts";

const GiB = 2 ** 30;
const NEOX = { model_type: "gpt_neox", vocab_size: 61, hidden_size: 32, num_hidden_layers: 3, num_attention_heads: 4, intermediate_size: 80, rotary_pct: 0.5, rotary_emb_base: 10000, layer_norm_eps: 1e-5, use_parallel_residual: true, max_position_embeddings: 128 };

/** Run `fn` with $QUIRKY_DEVICE_MEMORY set (or unset), restoring it after. */
async function withBudget<T>(value: string | undefined, fn: () => T | Promise<T>): Promise<T> {
  const before = process.env.QUIRKY_DEVICE_MEMORY;
  if (value === undefined) delete process.env.QUIRKY_DEVICE_MEMORY;
  else process.env.QUIRKY_DEVICE_MEMORY = value;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.QUIRKY_DEVICE_MEMORY;
    else process.env.QUIRKY_DEVICE_MEMORY = before;
  }
}

test("the decision: weights + reserve that fit stay on the device, those that do not stream, an unknown budget keeps them", () => {
  const fits = deviceStreaming({ total: 10 * GiB, held: GiB, budget: 12 * GiB, from: "QUIRKY_DEVICE_MEMORY" });
  assert.equal(fits.streamed, false);
  assert.equal(fits.why, "10.00 GiB of weights as they go up + 2.00 GiB for activations fit in 12.00 GiB of device memory (QUIRKY_DEVICE_MEMORY)");
  const over = deviceStreaming({ total: 10 * GiB + 1, held: GiB, budget: 12 * GiB });
  assert.equal(over.streamed, true);
  assert.match(over.why, /^10\.00 GiB of weights as they go up \+ 2\.00 GiB for activations do not fit in 12\.00 GiB of device memory$/);
  const tight = deviceStreaming({ total: 10 * GiB, held: 1.5 * GiB, budget: 3 * GiB });
  assert.equal(tight.streamed, true);
  assert.match(tight.why, /even one block and the unembedding \(1\.50 GiB\) \+ the reserve do not fit: it may run out of device memory/);
  const unknown = deviceStreaming({ total: 100 * GiB, held: GiB, budget: undefined });
  assert.equal(unknown.streamed, false);
  assert.match(unknown.why, /memory is unknown/);
  assert.equal(deviceStreaming({ total: 100, held: 10, budget: 150, reserve: 50 }).streamed, false);
  assert.equal(deviceStreaming({ total: 101, held: 10, budget: 150, reserve: 50 }).streamed, true);
  assert.equal(DEVICE_ACTIVATION_RESERVE, 2 * GiB);
});

test("the weights as they go up: blocks and unembedding, f16 at 2 bytes only with shader-f16, bf16 as f32", () => {
  const cfg = parseConfig(NEOX);
  const f32 = deviceWeightBytes(cfg, "F32", true);
  const host = weightBytes(cfg, "F32");
  const head = cfg.vocabSize * cfg.dModel * 4;
  // the host's count less the embedding (V×C) and the final norm (2C), f32 (the unembedding is untied here: its own V×C)
  assert.equal(f32.total, host.total - 4 * (cfg.vocabSize * cfg.dModel + 2 * cfg.dModel));
  assert.equal(f32.held, host.block + head);
  assert.equal(f32.total - f32.held, (cfg.nLayers - 1) * host.block);
  assert.equal(f32.blocks, cfg.nLayers * host.block);
  assert.deepEqual(deviceWeightBytes(cfg, "F16", false), f32);
  assert.deepEqual(deviceWeightBytes(cfg, "BF16", true), f32);
  const f16 = deviceWeightBytes(cfg, "F16", true);
  // matrices halve, vectors (norms, biases) stay f32
  const host16 = weightBytes(cfg, "F16");
  assert.equal(f16.held, host16.block + head / 2);
  assert.ok(f16.total < f32.total && f16.total > f32.total / 2);
});

test("QUIRKY_DEVICE_MEMORY: bytes or a binary suffix; anything else is a clear error", async () => {
  assert.equal(parseMemorySize("8589934592"), 8 * GiB);
  assert.equal(parseMemorySize("8GiB"), 8 * GiB);
  assert.equal(parseMemorySize("8g"), 8 * GiB);
  assert.equal(parseMemorySize(" 512MiB "), 512 * 2 ** 20);
  assert.equal(parseMemorySize("1.5GiB"), 1.5 * GiB);
  assert.equal(parseMemorySize("64KiB"), 65536);
  for (const bad of ["", "x", "0", "-1", "1.5", "8 GB", "8GiBs", "1e9"]) {
    assert.throws(() => parseMemorySize(bad), /^Error: QUIRKY_DEVICE_MEMORY: '.*' is not a memory size: give bytes \(8589934592\) or a number with KiB, MiB, GiB or TiB/, bad);
  }
  await withBudget("3GiB", () => {
    assert.deepEqual(deviceMemory(), { bytes: 3 * GiB, from: "QUIRKY_DEVICE_MEMORY" });
    assert.equal(deviceMemory()?.bytes, 3 * GiB);
  });
  await withBudget("lots", () => assert.throws(() => deviceMemory(), /QUIRKY_DEVICE_MEMORY: 'lots' is not a memory size/));
});

test("vulkaninfo's memory: this machine's lavapipe output (captured), and the device Dawn picks of several", () => {
  const lavapipe = parseVulkanMemory(readFileSync(join(ROOT, "test/fixtures/vulkaninfo/lavapipe.txt"), "utf8"));
  assert.deepEqual(lavapipe, [{ gpu: 0, name: "llvmpipe (LLVM 15.0.6, 256 bits)", type: "PHYSICAL_DEVICE_TYPE_CPU", size: 25276157952, budget: 25276157952 }]);
  // two devices in vulkaninfo's format (made up from the lavapipe output): a discrete GPU with a host heap, its VRAM and
  // a small device-local BAR heap, without a budget line; then lavapipe
  const heap = (i: number, size: number, local: boolean) =>
    `\tmemoryHeaps[${i}]:\n\t\tsize   = ${size} (0x${size.toString(16)}) (x GiB)\n\t\tflags: count = ${+local}\n${local ? "\t\t\tMEMORY_HEAP_DEVICE_LOCAL_BIT\n" : "\t\t\tNone\n"}`;
  const gpu = (n: number, type: string, name: string, heaps: string) =>
    `GPU${n}:\nVkPhysicalDeviceProperties:\n---------------------------\n\tdeviceType        = ${type}\n\tdeviceName        = ${name}\n\n` +
    `VkPhysicalDeviceMemoryProperties:\n=================================\nmemoryHeaps: count = 3\n${heaps}memoryTypes: count = 1\n\tmemoryTypes[0]:\n\t\theapIndex     = 0\n\n`;
  const two =
    "Device Properties and Extensions:\n=================================\n" +
    gpu(0, "PHYSICAL_DEVICE_TYPE_CPU", "llvmpipe", heap(0, 64 * GiB, true)) +
    gpu(1, "PHYSICAL_DEVICE_TYPE_DISCRETE_GPU", "NVIDIA H100", heap(0, 128 * GiB, false) + heap(1, 80 * GiB, true) + heap(2, 2 ** 28, true));
  const devices = parseVulkanMemory(two);
  assert.deepEqual(devices.map((d) => [d.gpu, d.type, d.size, d.budget]), [
    [0, "PHYSICAL_DEVICE_TYPE_CPU", 64 * GiB, undefined],
    [1, "PHYSICAL_DEVICE_TYPE_DISCRETE_GPU", 80 * GiB, undefined],
  ]);
  assert.equal(chosenDevice(devices)?.name, "NVIDIA H100");
  assert.equal(chosenDevice([]), undefined);
  assert.deepEqual(parseVulkanMemory("ERROR: [Loader Message] vkCreateInstance failed"), []);
});

const hasVulkaninfo = spawnSync("vulkaninfo", ["--help"], { stdio: "ignore" }).error === undefined;

test("the live vulkaninfo: a device-local heap for the device --summary lists, and a budget no larger", { skip: hasVulkaninfo ? false : "vulkaninfo not installed" }, async (t) => {
  const out = spawnSync("vulkaninfo", [], { encoding: "utf8", env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? "/tmp" }, maxBuffer: 64 * 2 ** 20 }).stdout;
  const devices = parseVulkanMemory(out);
  const listed = vulkanDevices() ?? [];
  t.diagnostic(`vulkaninfo: ${devices.map((d) => `GPU${d.gpu} ${d.name} (${d.type}): ${(d.size / GiB).toFixed(2)} GiB, budget ${d.budget === undefined ? "not printed" : (d.budget / GiB).toFixed(2) + " GiB"}`).join("; ") || "no device"}`);
  assert.deepEqual(devices.map((d) => d.type), listed.map((d) => d.type), "a device-local heap for every device --summary lists");
  for (const d of devices) assert.ok(d.size > 0 && (d.budget ?? d.size) <= d.size, `${d.name}: size ${d.size}, budget ${d.budget}`);
  await withBudget(undefined, () => {
    const mem = deviceMemory();
    t.diagnostic(`budget: ${mem ? `${(mem.bytes / GiB).toFixed(2)} GiB from ${mem.from}` : "unknown"}`);
    if (devices.length) assert.ok(mem && mem.bytes > 0 && mem.bytes <= chosenDevice(devices)!.size, JSON.stringify(mem));
  });
});

const adapter = await probeWebGpu();
const skip = !adapter.available && process.env.CI !== "true" ? `no WebGPU adapter (${adapter.error}); install lavapipe: bash scripts/system-deps.sh` : false;

/** The block sessions a model holds on the device (WebGpuModel's, private: read here to see the weights left). */
async function sessionsOnDevice(m: Transformer): Promise<number> {
  const gpu = await (m as unknown as { gpu?: Promise<{ blocks: Map<number, unknown> } | undefined> }).gpu;
  return gpu?.blocks.size ?? 0;
}

/** Last-position log-odds of tokens 7 vs 3 on left-padded prompts, and again after one more token from the cache. */
async function logOdds(m: Transformer): Promise<number[]> {
  const B = 3, T = 7, V = 61;
  const lens = [7, 5, 2];
  const mask = Uint8Array.from({ length: B * T }, (_, i) => +(i % T >= T - lens[Math.floor(i / T)]));
  const tokens = Int32Array.from({ length: B * T }, (_, i) => (mask[i] ? (i * 13 + 5) % V : 0));
  const prompt = await m.forward({ tokens, B, T, mask }, { logits: "last", returnCache: true });
  const next = await m.forward({ tokens: Int32Array.from({ length: B }, () => 7), B, T: 1, cache: prompt.cache }, { logits: "last" });
  return [prompt.logits, next.logits].flatMap((l) => Array.from({ length: B }, (_, b) => l[b * V + 7] - l[b * V + 3]));
}

test("on lavapipe: a model over the device budget streams its blocks through the device, says so, and gives the resident run's log-odds", { skip }, async (t) => {
  const dir = tempDir(t);
  saveModel(randomModel(NEOX, 3, 0.3), dir, "F16");
  const lines: string[] = [];
  const write = process.stderr.write;
  const capture = async <T>(fn: () => Promise<T>): Promise<T> => {
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      lines.push(String(chunk));
      return (write as (...a: unknown[]) => boolean).call(process.stderr, chunk, ...rest);
    }) as typeof process.stderr.write;
    try {
      return await fn();
    } finally {
      process.stderr.write = write;
    }
  };
  const load = () => loadModel(dir, { device: "webgpu", weights: "resident", log: () => {} });

  // resident: 3 GiB holds this model's few KiB with the 2 GiB reserve; every block's session stays
  const resident = load();
  const ref = await withBudget("3GiB", () => capture(() => logOdds(resident)));
  assert.deepEqual(lines.filter((l) => l.includes("streamed on the device")), []);
  assert.equal(await sessionsOnDevice(resident), NEOX.num_hidden_layers);

  // the host holds every weight, the device one block at a time: with room for one block and the unembedding beside
  // the reserve, and with 1 GiB (not even the reserve: said, and it runs here all the same)
  const cfg = parseConfig(NEOX);
  const { held, total } = deviceWeightBytes(cfg, "F16", await adapterHasF16());
  assert.ok(held < total);
  for (const budget of [String(DEVICE_ACTIVATION_RESERVE + held), "1GiB"]) {
    lines.length = 0;
    const streamed = load();
    assert.equal(streamed.params.streamed, false);
    const got = await withBudget(budget, () => capture(() => logOdds(streamed)));
    const said = lines.filter((l) => l.includes("streamed on the device"));
    t.diagnostic(said.join("").trim());
    assert.equal(said.length, 1, lines.join(""));
    assert.match(said[0], /^quirky: weights streamed on the device block by block \(held in memory, uploaded per block each forward\): \d+\.\d\d KiB of weights as they go up \+ 2\.00 GiB for activations do not fit in [12]\.00 GiB of device memory \(QUIRKY_DEVICE_MEMORY\)/);
    assert.equal(said[0].includes("even one block"), budget === "1GiB", said[0]);
    assert.equal(await sessionsOnDevice(streamed), 0, "a device-streamed model leaves no block session on the device");
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ref[i] - got[i]));
    t.diagnostic(`QUIRKY_DEVICE_MEMORY=${budget}: log-odds max |device-streamed − resident| = ${worst.toExponential(2)} over ${ref.length}`);
    assert.ok(worst <= 1e-5, `device-streamed log-odds differ from the resident run's by ${worst}`);
    await streamed.release();
  }

  // release(): the resident model's sessions leave the device; used again, they are remade and compute the same
  await resident.release();
  assert.equal(await sessionsOnDevice(resident), 0);
  const again = await withBudget("3GiB", () => logOdds(resident));
  assert.deepEqual(again, ref);
  await resident.release();
  // a bad budget is the forward's error on webgpu
  await withBudget("8 GB", () => assert.rejects(load().forward({ tokens: Int32Array.of(1, 2), B: 1, T: 2 }), /QUIRKY_DEVICE_MEMORY: '8 GB' is not a memory size/));
});

test("quirky run releases a model's device sessions before it loads the next (two models never on the device at once)", { skip }, async (t) => {
  const dir = tempDir(t);
  const modelDir = join(dir, "tiny");
  saveModel(randomModel(TINY_NEOX, 1, 0.2), modelDir);
  writeCharTokenizer(join(modelDir, "tokenizer.json"));
  const data = await writeDataset(join(dir, "data"), "addition", { baseExamples: 300, maxDigits: 2, nValidation: 300, nTest: 300 });
  const cfg = validateRunConfig({
    out: join(dir, "exp"), device: "webgpu", reporters: ["lr"], maxTrain: 32, maxTest: 24, batchSize: 16, randomSamples: 10, anomaly: false, interventions: false, report: false,
    models: [{ path: modelDir, name: "first" }, { path: modelDir, name: "second" }],
    datasets: [{ path: data.dir }],
  }, "test");
  const events: string[] = [];
  const release = Transformer.prototype.release;
  Transformer.prototype.release = async function (this: Transformer) {
    const before = await sessionsOnDevice(this);
    await release.call(this);
    events.push(`release (${before} block sessions → ${await sessionsOnDevice(this)})`);
  };
  try {
    assert.ok((await runConfig(cfg, undefined, (m) => m.startsWith("loading") && events.push(m))).finished);
  } finally {
    Transformer.prototype.release = release;
  }
  t.diagnostic(events.join("; "));
  assert.deepEqual(events, ["loading first", `release (${TINY_NEOX.num_hidden_layers} block sessions → 0)`, "loading second"]);
});

test("training's backward copies take turns on the device when both copies do not fit, and compute the same gradients", async (t) => {
  const cfg = parseConfig(NEOX);
  const w = deviceWeightBytes(cfg, "F32", false);
  // the decision: the forward's weights, the backward's second copy of the blocks and the reserve
  const fits = DEVICE_ACTIVATION_RESERVE + w.total + w.blocks;
  const said: string[] = [];
  assert.equal(await withBudget(String(fits), () => streamBackwardOnDevice(cfg, "F32", false, (l) => said.push(l))), false);
  assert.equal(said.length, 0, said.join(""));
  assert.equal(await withBudget(String(fits - 1), () => streamBackwardOnDevice(cfg, "F32", false, (l) => said.push(l))), true);
  assert.equal(said.length, 1);
  assert.match(said[0], /^quirky: training's backward graphs take turns on the device .*: twice the blocks' \d+\.\d\d KiB of weights as they go up \+ 2\.00 GiB for activations do not fit in 2\.00 GiB of device memory \(QUIRKY_DEVICE_MEMORY\)$/);
  if (skip) return t.skip(skip);

  // on lavapipe: LoRA gradients of one step with the backward sessions kept, then made and dropped per block
  const dir = tempDir(t);
  saveModel(randomModel(NEOX, 3, 0.3), dir);
  const B = 2, T = 5;
  const tokens = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % 61);
  const positions = Int32Array.of(4, 9);
  const { attachLora } = await import("../src/model/lora.ts");
  const { headLoss } = await import("../src/train/loss.ts");
  const { backward } = await import("../src/train/backward.ts");
  const step = async (budget: number) => {
    const m = loadModel(dir, { device: "webgpu", log: () => {} });
    attachLora(m, { config: { peft_type: "LORA", r: 2, lora_alpha: 4, target_modules: ["query_key_value", "dense_4h_to_h"] }, deltas: new Map(m.params.layers.flatMap((layer) => [layer.qkv.parts[0], layer.down].map((lin) => [lin.name, { r: 2, scale: 2, A: Float32Array.from({ length: 2 * lin.inDim }, (_, i) => Math.sin(i) * 0.3), B: Float32Array.from({ length: 2 * lin.outDim }, (_, i) => Math.cos(i) * 0.3) }]))) });
    return withBudget(String(budget), async () => {
      const { tape } = await m.forward({ tokens, B, T }, { logits: positions, tape: true, headless: true });
      const { dh } = await headLoss(m, tape!, Int32Array.of(5, 6), Float32Array.of(0.5, 0.5));
      const loraGrads = new Map([...m.lora].map(([name, d]) => [name, { A: new Float32Array(d.A.length), B: new Float32Array(d.B.length) }]));
      await backward(m, tape!, { dh }, { loraGrads });
      const gpu = await (m as unknown as { gpu: Promise<{ backwards: Map<number, unknown> }> }).gpu;
      const kept = gpu.backwards.size;
      await m.release();
      return { grads: [...loraGrads.values()].flatMap((g) => [...g.A, ...g.B]), kept };
    });
  };
  const both = await step(fits);
  const turns = await step(fits - 1);
  assert.equal(both.kept, NEOX.num_hidden_layers, "with room for both copies every backward session stays");
  assert.equal(turns.kept, 0, "without it each backward session leaves after its block");
  const scale = both.grads.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const worst = both.grads.reduce((m, v, i) => Math.max(m, Math.abs(v - turns.grads[i])), 0);
  t.diagnostic(`LoRA gradients, backward sessions kept vs taking turns: max |Δ| / max ${(worst / scale).toExponential(2)}`);
  assert.ok(scale > 0 && worst <= 1e-6 * scale, `${worst} over ${scale}`);
});
