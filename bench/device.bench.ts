/**
 * Benchmark: the WebGPU device against the CPU, in the same run, on random Pythia-410m-, 1.4b- and 6.9b-shaped models
 * with 16-bit (f16) weights made on the spot, batch 16 prompts × 48 tokens.
 *
 * Prints the adapter (Vulkan's view: vulkaninfo --summary; onnxruntime's: whether a WebGPU session runs, and whether
 * it has f16 kernels), then per shape:
 *   extract tokens/s   what extraction does per batch: the prompt's forward with a tap on every block's output and
 *                      the final norm (the last positions' rows come back), logits at the last position and the KV
 *                      cache, then the two contrast-pair tokens continued from the cache
 *   forward tokens/s   the prompt's forward alone, logits at the last position
 *   max |Δlogit|       webgpu vs cpu, relative to the largest logit (same weights, same batch)
 *   peak device MiB    nvidia-smi's memory.used, sampled through the run, less its value before (NVIDIA only); on
 *                      lavapipe the "device" is host memory: the process's peak RSS is shown instead
 * and, when PyTorch with CUDA is importable, HF transformers' GPTNeoXForCausalLM forward (f16) on the same card and
 * batch (bench/torch_device.py); without it, the forward's achieved FLOP/s as a fraction of the card's dense f32 peak
 * (a table of known cards: our graphs compute in f32). Each shape runs in its own process.
 * Then a LoRA training step on the 410m shape (f16 base, frozen; rank 8, alpha 16 on query_key_value, dense_h_to_4h
 * and dense_4h_to_h, as the paper; the quirky SFT loss: cross-entropy at the last position; every block
 * checkpointed, its backward graph on the device; AdamW on the host), on WebGPU and the CPU in the same run, and with
 * CUDA, the same step in PyTorch (HF model in f16, unmerged f32 adapters, torch.optim.AdamW) on the same card.
 *
 *   npm run bench:device                 (the lent GPU machine: under 5 minutes)
 *   npm run bench:device -- --quick      (lavapipe: the same rows on cut-down shapes — 2 blocks, 1 for 6.9b;
 *                                         batch 2 × 16 — so a dry run prints every row in minutes; or QUIRKY_BENCH_QUICK=1)
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseConfig, type ModelConfig } from "../src/model/config.ts";
import { probeWebGpu, vulkanDevices } from "../src/model/device.ts";
import { allocParams, Half, numParams } from "../src/model/params.ts";
import { Transformer, type Taps } from "../src/model/transformer.ts";
import { Rng } from "../src/util/rng.ts";
import { linearModules } from "../src/model/lora.ts";
import { backward, type LoraGrad } from "../src/train/backward.ts";
import { headLoss } from "../src/train/loss.ts";
import { AdamW, type ParamGroup } from "../src/train/optim.ts";
import { forwardFlops, medianSeconds } from "./timing.ts";

const pythia = (hidden: number, layers: number, heads: number) => ({
  model_type: "gpt_neox", vocab_size: 50304, hidden_size: hidden, num_hidden_layers: layers, num_attention_heads: heads,
  intermediate_size: 4 * hidden, rotary_pct: 0.25, max_position_embeddings: 2048, use_parallel_residual: true,
});
const SHAPES: Record<string, Record<string, unknown>> = {
  "410m": pythia(1024, 24, 16),
  "1.4b": pythia(2048, 24, 16),
  "6.9b": { ...pythia(4096, 32, 32), vocab_size: 50432 },
};
const quick = process.argv.includes("--quick") || process.env.QUIRKY_BENCH_QUICK === "1";
const QUICK_LAYERS: Record<string, number> = { "410m": 2, "1.4b": 2, "6.9b": 1 };
const [B, T] = quick ? [2, 16] : [16, 48];
const reps = quick ? 2 : 3;

/** Dense f32 (non-tensor-core) peaks of known cards, TFLOP/s, by a name fragment Vulkan reports. */
const F32_PEAK: [RegExp, number][] = [
  [/H200/i, 67],
  [/H100.*PCIe/i, 51],
  [/H100/i, 67],
  [/A100/i, 19.5],
  [/L40S/i, 91.6],
  [/L4\b/i, 30.3],
];

const here = fileURLToPath(import.meta.url);
const childAt = process.argv.indexOf("--child");

if (childAt < 0) {
  console.log(`device benchmark${quick ? " (--quick: cut-down shapes)" : ""}: batch ${B} × ${T} tokens, f16 weights, node ${process.version}`);
  let vk = "vulkaninfo not installed";
  try {
    vk = execFileSync("vulkaninfo", ["--summary"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? "/tmp" } })
      .split("\n")
      .filter((l) => /deviceName|deviceType|driverName|driverInfo|apiVersion/.test(l))
      .map((l) => l.trim())
      .join("; ");
  } catch (err) {
    vk = `vulkaninfo failed: ${(err as Error).message.split("\n")[0]}`;
  }
  console.log(`vulkan: ${vk || "no device"}`);
  const a = await probeWebGpu();
  console.log(`onnxruntime webgpu: ${a.available ? "adapter found" : `NO ADAPTER (${a.error})`}; ${a.name}; hardware: ${a.hardware}`);
  const gpuName = (vulkanDevices() ?? []).find((d) => d.type !== "PHYSICAL_DEVICE_TYPE_CPU")?.name;
  const torchCuda = spawnSync("/usr/bin/python3", ["-c", "import torch, transformers; print(torch.cuda.is_available())"], { encoding: "utf8" });
  const cuda = torchCuda.status === 0 && torchCuda.stdout.trim() === "True";
  console.log(`PyTorch + transformers with CUDA: ${cuda ? "yes" : `no (${torchCuda.status === 0 ? "torch.cuda.is_available() is False" : (torchCuda.stderr.trim().split("\n").pop() ?? "not importable")})`}`);
  if (!a.available) process.exit(1);
  const peak = gpuName ? F32_PEAK.find(([re]) => re.test(gpuName))?.[1] : undefined;
  console.log(
    "model   layers   weights MiB   webgpu extract tok/s   cpu extract tok/s   webgpu/cpu   webgpu forward tok/s   cpu forward tok/s   webgpu/cpu   max |Δlogit|/max|logit|   peak device MiB   " +
      (cuda ? "HF torch cuda forward tok/s   webgpu/torch" : "forward TFLOP/s   of f32 peak"),
  );
  let loraRow = "";
  for (const size of Object.keys(SHAPES)) {
    const r = spawnSync(process.execPath, [...process.execArgv, here, "--child", size, ...(quick ? ["--quick"] : [])], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 26 });
    if (r.status !== 0) {
      console.log(`${size.padEnd(7)} failed (exit ${r.status}, signal ${r.signal})`);
      continue;
    }
    const m = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, number>;
    const tps = (s: number) => Math.round((B * T) / s).toString();
    let last = `${"-".padStart(15)}   ${"-".padStart(12)}`;
    if (cuda) {
      const py = spawnSync("/usr/bin/python3", [fileURLToPath(new URL("torch_device.py", import.meta.url)), JSON.stringify(m.hf), String(B), String(T), String(reps)], { encoding: "utf8" });
      if (py.status === 0) {
        const t = JSON.parse(py.stdout.trim().split("\n").pop()!) as { seconds: number };
        last = `${tps(t.seconds).padStart(27)}   ${(t.seconds / m.gpuForwardS).toFixed(2).padStart(11)}×`;
      } else last = `torch failed: ${py.stderr.trim().split("\n").pop()}`;
    } else if (peak) {
      const tf = m.flops / m.gpuForwardS / 1e12;
      last = `${tf.toFixed(2).padStart(15)}   ${((100 * tf) / peak).toFixed(1).padStart(11)}%`;
    } else if (m.flops) last = `${(m.flops / m.gpuForwardS / 1e12).toFixed(3).padStart(15)}   ${"n/a".padStart(12)}`;
    const device = m.deviceBytes >= 0 ? (m.deviceBytes / 2 ** 20).toFixed(0) : `${(m.rss / 2 ** 20).toFixed(0)} (host RSS)`;
    if (m.gpuLoraS) {
      let torchLora = ""; // without CUDA: no PyTorch column
      if (cuda) {
        const py = spawnSync("/usr/bin/python3", [fileURLToPath(new URL("torch_device.py", import.meta.url)), JSON.stringify(m.hf), String(B), String(T), String(reps), "lora"], { encoding: "utf8" });
        if (py.status === 0) {
          const t = JSON.parse(py.stdout.trim().split("\n").pop()!) as { seconds: number };
          torchLora = `${(t.seconds * 1000).toFixed(1).padStart(23)}   ${(t.seconds / m.gpuLoraS).toFixed(2).padStart(11)}×`;
        } else torchLora = `torch failed: ${py.stderr.trim().split("\n").pop()}`;
      }
      loraRow = `${size.padEnd(7)} ${String(m.layers).padStart(6)} ${(m.gpuLoraS * 1000).toFixed(1).padStart(18)} ${(m.cpuLoraS * 1000).toFixed(1).padStart(15)} ${(m.cpuLoraS / m.gpuLoraS).toFixed(2).padStart(11)}× ${m.loraLossDiff.toExponential(1).padStart(22)}   ${torchLora}`;
    }
    console.log(
      `${size.padEnd(7)} ${String(m.layers).padStart(6)} ${(m.weightBytes / 2 ** 20).toFixed(0).padStart(13)} ${tps(m.gpuExtractS).padStart(22)} ${tps(m.cpuExtractS).padStart(19)} ${(m.cpuExtractS / m.gpuExtractS).toFixed(2).padStart(11)}× ${tps(m.gpuForwardS).padStart(22)} ${tps(m.cpuForwardS).padStart(19)} ${(m.cpuForwardS / m.gpuForwardS).toFixed(2).padStart(11)}× ${m.logitDiff.toExponential(1).padStart(25)} ${device.padStart(17)}   ${last}`,
    );
  }
  if (loraRow) {
    console.log(`\nLoRA step: f16 base (frozen), rank 8 on query_key_value, dense_h_to_4h, dense_4h_to_h, loss at the last position, batch ${B} × ${T}, AdamW`);
    console.log(`model   layers   webgpu step ms   cpu step ms   webgpu/cpu   |Δ first-step loss|   ${cuda ? "HF torch cuda step ms   webgpu/torch" : ""}`);
    console.log(loraRow);
  }
  process.exit(0);
}

// one shape, in its own process
const size = process.argv[childAt + 1];
const hf = { ...SHAPES[size], ...(quick ? { num_hidden_layers: QUICK_LAYERS[size] } : {}) };
const cfg: ModelConfig = parseConfig(hf);

/** nvidia-smi's memory.used (MiB) sampled every 200 ms; -1 without nvidia-smi. */
function sampleDeviceMemory(): { stop: () => Promise<number> } {
  const q = () => {
    try {
      return Number(execFileSync("nvidia-smi", ["--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"], { encoding: "utf8" }).trim());
    } catch {
      return NaN;
    }
  };
  const before = q();
  if (!Number.isFinite(before)) return { stop: async () => -1 };
  let peak = before;
  // a child process polls, so that our own synchronous work does not stall the sampling
  const p = spawn("nvidia-smi", ["--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0", "-lms", "200"], { stdio: ["ignore", "pipe", "ignore"] });
  p.stdout.on("data", (d: Buffer) => {
    for (const line of d.toString().split("\n")) if (line.trim()) peak = Math.max(peak, Number(line));
  });
  return {
    stop: async () => {
      p.kill();
      return (peak - before) * 2 ** 20;
    },
  };
}

/** Random f16 weights: |w| in [2⁻⁹, 2⁻⁵), random sign and mantissa, tiled from a 1 Mi-value block (fast for 7B); norms 1, biases 0. */
function randomF16Params(c: ModelConfig) {
  const params = allocParams(c, "F16");
  const rng = new Rng(1, "device-bench");
  const block = Uint16Array.from({ length: 1 << 20 }, () => ((rng.random() < 0.5 ? 0x8000 : 0) | ((6 + rng.int(0, 3)) << 10) | rng.int(0, 1023)));
  for (const g of params.groups) {
    const bits = (g.matrices as Half).bits;
    for (let i = 0; i < bits.length; i += block.length) bits.set(block.subarray(0, Math.min(block.length, bits.length - i)), i);
  }
  for (const [name, t] of params.tensors) if (!(t.data instanceof Half)) t.data.fill(/norm|layernorm/.test(name) && name.endsWith("weight") ? 1 : 0);
  return params;
}

const params = randomF16Params(cfg);
const rng = new Rng(2, "tokens");
const tokens = Int32Array.from({ length: B * T }, () => rng.int(0, cfg.vocabSize - 1));
const pairs = [Int32Array.from({ length: B }, () => rng.int(0, cfg.vocabSize - 1)), Int32Array.from({ length: B }, () => rng.int(0, cfg.vocabSize - 1))];
const { dModel: C, nLayers: L } = cfg;
const flops = forwardFlops(cfg, B, T);

/** One extraction batch as src/extract runs it: the prompt with a tap per layer (last positions), then both pair tokens on its cache. */
async function extract(m: Transformer): Promise<void> {
  const keep = new Float32Array(L * B * C);
  const read: Taps["read"] = {};
  const take = (l: number) => (rows: Float32Array) => keep.set(rows, l * B * C);
  for (let l = 0; l < L - 1; l++) read[`blocks.${l}.hook_resid_post`] = take(l);
  read["ln_final.hook_normalized"] = take(L - 1);
  const p = await m.forward({ tokens, B, T }, { taps: { rows: Int32Array.from({ length: B }, (_, b) => b * T + T - 1), read }, logits: "last", returnCache: true });
  for (const next of pairs) await m.forward({ tokens: next, B, T: 1, cache: p.cache }, { taps: { rows: Int32Array.from({ length: B }, (_, b) => b), read }, logits: "none" });
}

/**
 * Median seconds of a LoRA training step as quirky train runs one (src/train/sft.ts): the forward with a tape, every
 * block checkpointed; the loss at the last position (headLoss); the backward into the adapters; AdamW over them.
 * The adapters start the same on every model (A as PEFT, B small and random, not zeros, so every product is exercised).
 */
async function loraStepSeconds(m: Transformer): Promise<{ seconds: number; firstLoss: number }> {
  const r = 8;
  const init = new Rng(3, "device-bench-lora");
  const groups: ParamGroup[] = [];
  const loraGrads = new Map<string, LoraGrad>();
  for (const [name, lin] of linearModules(m)) {
    if (!["query_key_value", "dense_h_to_4h", "dense_4h_to_h"].some((t) => name.endsWith(`.${t}`))) continue;
    const bound = 1 / Math.sqrt(lin.inDim);
    const A = Float32Array.from({ length: r * lin.inDim }, () => (2 * init.random() - 1) * bound);
    const Bm = Float32Array.from({ length: lin.outDim * r }, () => (2 * init.random() - 1) * 0.01);
    m.lora.set(name, { A, B: Bm, r, scale: 16 / r });
    const g = { A: new Float32Array(A.length), B: new Float32Array(Bm.length) };
    loraGrads.set(name, g);
    groups.push({ params: A, grads: g.A, decay: true }, { params: Bm, grads: g.B, decay: true });
  }
  const opt = new AdamW(groups, { lr: 1e-4 });
  const last = Int32Array.from({ length: B }, (_, b) => b * T + T - 1);
  const targets = Int32Array.from({ length: B }, (_, b) => tokens[b * T]);
  const coef = new Float32Array(B).fill(1 / B);
  let firstLoss = NaN;
  const seconds = await medianSeconds(async () => {
    const { tape } = await m.forward({ tokens, B, T }, { logits: last, tape: true, headless: true, checkpoint: true });
    const { nll, dh } = await headLoss(m, tape!, targets, coef);
    if (Number.isNaN(firstLoss)) firstLoss = nll.reduce((a, l) => a + l, 0) / B;
    await backward(m, tape!, { dh }, { loraGrads });
    opt.update(opt.cfg.lr);
    opt.zeroGrad();
  }, reps);
  m.lora.clear();
  return { seconds, firstLoss };
}

const forward = (m: Transformer) => m.forward({ tokens, B, T }, { logits: "last" });
const gpu = new Transformer(cfg, params, undefined, "webgpu");
const cpu = new Transformer(cfg, params, undefined, "cpu");
const mem = sampleDeviceMemory();
const gpuForwardS = await medianSeconds(() => forward(gpu), reps);
const gpuExtractS = await medianSeconds(() => extract(gpu), reps);
const loraGpu = size === "410m" ? await loraStepSeconds(gpu) : undefined;
const deviceBytes = await mem.stop();
const gl = (await forward(gpu)).logits;
await gpu.weightsChanged(); // the device's copies go: the CPU's numbers are measured without them in memory
const cpuForwardS = await medianSeconds(() => forward(cpu), reps);
const cpuExtractS = await medianSeconds(() => extract(cpu), reps);
const cl = (await forward(cpu)).logits;
const loraCpu = size === "410m" ? await loraStepSeconds(cpu) : undefined;
let diff = 0;
let scale = 0;
for (let i = 0; i < cl.length; i++) {
  diff = Math.max(diff, Math.abs(gl[i] - cl[i]));
  scale = Math.max(scale, Math.abs(cl[i]));
}
const rss = process.resourceUsage().maxRSS * 1024;
const lora = loraGpu && loraCpu ? { gpuLoraS: loraGpu.seconds, cpuLoraS: loraCpu.seconds, loraLossDiff: Math.abs(loraGpu.firstLoss - loraCpu.firstLoss) } : {};
console.log(JSON.stringify({ layers: L, weightBytes: numParams(cfg) * 2, gpuForwardS, gpuExtractS, cpuForwardS, cpuExtractS, logitDiff: diff / scale, deviceBytes, rss, flops, hf, ...lora }));
