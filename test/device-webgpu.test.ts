/**
 * The forward pass on onnxruntime's WebGPU provider against the CPU provider's (itself tested against llama.cpp and
 * Hugging Face): every architecture, with and without LoRA, f32, f16 and bf16 weights, resident and streamed, on what
 * extraction reads — the residual after every block at every position, the final norm, the last-position logits,
 * and a contrast pair continued from the prompt's KV cache.
 *
 * Runs on Mesa's lavapipe without a GPU (scripts/system-deps.sh installs it). Without an adapter the tests skip,
 * saying so — except under CI=true, where they run and fail with the device's error line.
 *
 * Tolerance: both providers compute in f32 from the same f32 values (16-bit weights are widened exactly on either
 * side), so they differ only in the order of the sums inside products, softmax and norms: a few f32 ulps per sum,
 * ~1e-6 relative here. We allow 1e-4 · max(1, max|CPU value|) for every value; a wrong mask, rotary table, cache or
 * missing LoRA update moves values by 1e-2 or more (the LoRA case checks its update is that large).
 */
import { test } from "node:test";
import ort from "onnxruntime-node";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadModel, randomModel, saveModel } from "../src/model/load.ts";
import { attachLora, type LoraAdapter } from "../src/model/lora.ts";
import { probeWebGpu, resolveDevice } from "../src/model/device.ts";
import type { Transformer } from "../src/model/transformer.ts";
import { Rng } from "../src/util/rng.ts";
import { readSafetensors } from "../src/model/safetensors.ts";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import { writeDataset } from "../src/datasets/create.ts";
import { validateRunConfig } from "../src/pipeline/run.ts";
import { ROOT, runCli, tempDir } from "./helpers.ts";

const adapter = await probeWebGpu();
const skip = !adapter.available && process.env.CI !== "true" ? `no WebGPU adapter (${adapter.error}); install lavapipe: bash scripts/system-deps.sh` : false;

const NEOX = { model_type: "gpt_neox", vocab_size: 61, hidden_size: 32, num_hidden_layers: 3, num_attention_heads: 4, intermediate_size: 80, rotary_pct: 0.5, rotary_emb_base: 10000, layer_norm_eps: 1e-5, use_parallel_residual: true, max_position_embeddings: 128 };
const LLAMA = { model_type: "llama", vocab_size: 61, hidden_size: 32, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 72, rms_norm_eps: 1e-6, rope_theta: 10000, max_position_embeddings: 128 };

interface Case {
  name: string;
  config: Record<string, unknown>;
  dtype: "F32" | "F16" | "BF16";
  lora?: string[];
  weights?: "resident" | "stream";
}
const CASES: Case[] = [
  { name: "gpt-neox parallel", config: NEOX, dtype: "F32" },
  { name: "gpt-neox parallel + LoRA", config: NEOX, dtype: "F16", lora: ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"] },
  { name: "gpt-neox sequential", config: { ...NEOX, use_parallel_residual: false, hidden_act: "relu" }, dtype: "BF16" },
  { name: "llama GQA", config: LLAMA, dtype: "F16" },
  { name: "llama GQA + LoRA", config: LLAMA, dtype: "F32", lora: ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"] },
  { name: "mistral sliding window", config: { ...LLAMA, model_type: "mistral", sliding_window: 3 }, dtype: "BF16" },
  { name: "llama3 rope scaling", config: { ...LLAMA, rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 } }, dtype: "F32" },
  { name: "gpt-neox streamed", config: NEOX, dtype: "F16", weights: "stream" },
];

function randomAdapter(m: Transformer, targets: string[]): LoraAdapter {
  const rng = new Rng(5);
  const a: LoraAdapter = { config: { peft_type: "LORA", r: 2, lora_alpha: 4, target_modules: targets }, deltas: new Map() };
  for (const layer of m.params.layers) {
    for (const lin of [...layer.qkv.parts, layer.o, ...layer.up.parts, layer.down]) {
      if (!targets.some((s) => lin.name.endsWith(`.${s}`))) continue;
      const A = Float32Array.from({ length: 2 * lin.inDim }, () => rng.normal() * 0.3);
      const B = Float32Array.from({ length: lin.outDim * 2 }, () => rng.normal() * 0.3);
      a.deltas.set(lin.name, { r: 2, scale: 2, A, B });
    }
  }
  return a;
}

/**
 * What extraction reads: every block's output and the final norm at every position, logits, a pair continued from the
 * cache; read by hooks (the whole activation comes to the host) or by taps (only the rows asked for come back).
 */
async function observe(m: Transformer, via: "hooks" | "taps" = "hooks"): Promise<Record<string, Float32Array>> {
  const L = m.cfg.nLayers;
  const B = 3;
  const T = 7;
  // left-padded prompts of 7, 5 and 2 tokens
  const lens = [7, 5, 2];
  const mask = Uint8Array.from({ length: B * T }, (_, i) => +(i % T >= T - lens[Math.floor(i / T)]));
  const tokens = Int32Array.from({ length: B * T }, (_, i) => (mask[i] ? (i * 13 + 5) % 61 : 0));
  const seen: Record<string, Float32Array> = {};
  const capture = (prefix: string, n: number) => {
    const read: Record<string, (x: Float32Array) => void> = {};
    for (let l = 0; l < L; l++) read[`blocks.${l}.hook_resid_post`] = (x) => void (seen[`${prefix} block ${l}`] = x.slice());
    read["ln_final.hook_normalized"] = (x) => void (seen[`${prefix} final norm`] = x.slice());
    // taps of every row, in order: the same arrays the hooks see
    return via === "hooks" ? { hooks: read } : { taps: { rows: Int32Array.from({ length: n }, (_, i) => i), read } };
  };
  const prompt = await m.forward({ tokens, B, T, mask }, { ...capture("prompt", B * T), logits: "last", returnCache: true });
  seen["log-odds"] = Float32Array.from({ length: B }, (_, b) => prompt.logits[b * 61 + 7] - prompt.logits[b * 61 + 3]);
  seen["prompt logits"] = prompt.logits;
  for (const choice of [7, 3]) {
    const next = await m.forward({ tokens: Int32Array.from({ length: B }, () => choice), B, T: 1, cache: prompt.cache }, { ...capture(`pair ${choice}`, B), logits: "last" });
    seen[`pair ${choice} logits`] = next.logits;
  }
  return seen;
}

function worst(cpu: Record<string, Float32Array>, gpu: Record<string, Float32Array>): { abs: number; rel: number; where: string; scale: number } {
  let abs = 0, rel = 0, where = "", scale = 0;
  for (const [k, a] of Object.entries(cpu)) {
    const b = gpu[k];
    assert.ok(b && b.length === a.length, `${k}: ${b?.length} values on webgpu, ${a.length} on the cpu`);
    const s = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let i = 0; i < a.length; i++) {
      assert.ok(Number.isFinite(b[i]), `${k}[${i}] is ${b[i]} on webgpu`);
      const d = Math.abs(a[i] - b[i]) / Math.max(1, s);
      if (d > rel) [rel, where, abs, scale] = [d, `${k}[${i}]`, Math.abs(a[i] - b[i]), s];
    }
  }
  return { abs, rel, where, scale };
}

const TOL = 1e-4;

test("webgpu matches the cpu provider: states, pair states and log-odds, every architecture ± LoRA, f32/f16/bf16, streamed", { skip }, async (t) => {
  const dir = tempDir(t);
  for (const c of CASES) {
    const folder = join(dir, c.name.replace(/\W+/g, "-"));
    saveModel(randomModel(c.config, 3, 0.3), folder, c.dtype);
    const load = (device: "cpu" | "webgpu") => loadModel(folder, { device, weights: c.weights ?? "resident", log: () => {} });
    const cpu = load("cpu");
    const gpu = load("webgpu");
    assert.equal(await gpu.device(), "webgpu");
    assert.equal(cpu.params.dtype, c.dtype);
    let base: Record<string, Float32Array> | undefined;
    if (c.lora) {
      base = await observe(cpu);
      const a = randomAdapter(cpu, c.lora);
      attachLora(cpu, a);
      attachLora(gpu, a);
    }
    const ref = await observe(cpu);
    for (const via of ["hooks", "taps"] as const) {
      const w = worst(ref, await observe(gpu, via));
      t.diagnostic(`${c.name} (${c.dtype.toLowerCase()}${c.weights === "stream" ? ", streamed" : ""}, ${via}): max |webgpu − cpu| ${w.abs.toExponential(2)} at ${w.where} (values up to ${w.scale.toFixed(2)}), relative ${w.rel.toExponential(2)}`);
      assert.ok(w.rel <= TOL, `${c.name} (${via}): webgpu − cpu = ${w.abs} at ${w.where}, over ${TOL} · max(1, ${w.scale})`);
    }
    if (c === CASES[0]) assert.equal(worst(ref, await observe(cpu, "taps")).abs, 0, "taps on the cpu read what hooks read");
    if (base) {
      const moved = worst(base, ref);
      assert.ok(moved.rel > 100 * TOL, `${c.name}: the LoRA update moves the outputs by only ${moved.rel}`);
    }
  }
});

test("a merged adapter reaches the device: weights edited after the first forward are uploaded again", { skip }, async (t) => {
  const dir = tempDir(t);
  saveModel(randomModel(NEOX, 4, 0.3), dir, "F32");
  const cpu = loadModel(dir, { device: "cpu" });
  const gpu = loadModel(dir, { device: "webgpu" });
  const tokens = Int32Array.of(1, 2, 3, 4, 5);
  await gpu.forward({ tokens, B: 1, T: 5 }); // the block sessions hold the weights as they were
  const { mergeLora } = await import("../src/model/lora.ts");
  const a = randomAdapter(cpu, ["query_key_value", "dense_4h_to_h"]);
  await mergeLora(cpu, a);
  await mergeLora(gpu, a);
  const ref = (await cpu.forward({ tokens, B: 1, T: 5 })).logits;
  const got = (await gpu.forward({ tokens, B: 1, T: 5 })).logits;
  const w = worst({ logits: ref }, { logits: got });
  assert.ok(w.rel <= TOL, `after mergeLora: webgpu − cpu = ${w.abs}`);
});

test("auto takes webgpu only on a hardware adapter", { skip }, async (t) => {
  assert.equal(await resolveDevice("auto"), adapter.available && adapter.hardware ? "webgpu" : "cpu");
  t.diagnostic(`adapter: ${adapter.name}, hardware: ${adapter.hardware}`);
});

/**
 * Training on the device: the forward keeps each block's input there and each block's backward graph runs there
 * (dx left on the device between blocks). Its gradients against the CPU's JS backward over a full tape (backward.ts,
 * itself checked against finite differences): every architecture, every parameter kind (full training, f32) and every
 * LoRA update (LoRA training, also on 16-bit weights held 16-bit on the device), same tolerance as the states.
 */
test("webgpu gradients match the cpu backward: every architecture, every parameter and LoRA update, f32 and f16", { skip }, async (t) => {
  const { allocParams } = await import("../src/model/params.ts");
  const { backward } = await import("../src/train/backward.ts");
  const { crossEntropy, headLoss } = await import("../src/train/loss.ts");
  const dir = tempDir(t);
  const B = 2;
  const T = 6;
  const mask = Uint8Array.from({ length: B * T }, (_, i) => +(i >= 2)); // row 0 left-padded by 2
  const tokens = Int32Array.from({ length: B * T }, (_, i) => (mask[i] ? (i * 7 + 3) % 61 : 0));
  const positions = Int32Array.of(5, 3, 11, 8);
  const targets = Int32Array.of(2, 4, 10, 1);
  // the last case streams its blocks through the device (a budget of 1 KiB): forward and backward sessions leave after each use
  const TRAIN: Case[] = [CASES[0], { ...CASES[2], dtype: "F32" }, CASES[4], { ...CASES[5], dtype: "F32" }, CASES[6], { ...CASES[1], dtype: "F16" }, { ...CASES[4], name: "llama GQA, streamed on the device" }];
  const before = process.env.QUIRKY_DEVICE_MEMORY;
  t.after(() => (before === undefined ? delete process.env.QUIRKY_DEVICE_MEMORY : (process.env.QUIRKY_DEVICE_MEMORY = before)));
  for (const c of TRAIN) {
    if (c === TRAIN[TRAIN.length - 1]) process.env.QUIRKY_DEVICE_MEMORY = "1KiB";
    const folder = join(dir, c.name.replace(/\W+/g, "-"));
    saveModel(randomModel(c.config, 3, 0.3), folder, c.dtype);
    const full = c.dtype === "F32"; // 16-bit weights: LoRA training (full training widens them to f32 first)
    const grads: Float32Array[][] = [];
    const losses: number[] = [];
    for (const device of ["cpu", "webgpu"] as const) {
      const m = loadModel(folder, { device, log: () => {} });
      attachLora(m, randomAdapter(m, ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]));
      const g = full ? allocParams(m.cfg) : undefined;
      const loraGrads = new Map([...m.lora].map(([name, d]) => [name, { A: new Float32Array(d.A.length), B: new Float32Array(d.B.length) }]));
      if (device === "cpu") {
        // the reference: logits on the host, their cross-entropy in f64 JavaScript, the head's backward in backward.ts
        const { logits, tape } = await m.forward({ tokens, B, T, mask }, { logits: positions, tape: true });
        const ce = crossEntropy(logits, targets, m.cfg.vocabSize);
        losses.push(ce.loss);
        await backward(m, tape!, { dlogits: ce.dlogits }, { grads: g, loraGrads });
      } else {
        // the training path: the loss and the head's gradients on the device, two rows at a time (∂L/∂U summed over groups)
        const { tape } = await m.forward({ tokens, B, T, mask }, { logits: positions, tape: true, headless: true });
        assert.ok(tape!.headLoss, "a forward on webgpu computes its loss on the device");
        const coef = new Float32Array(positions.length).fill(1 / positions.length);
        const { nll, dh } = await headLoss(m, tape!, targets, coef, { gradUnembed: g?.unembed, chunk: 2 * m.cfg.vocabSize });
        losses.push(nll.reduce((a, b) => a + b, 0) / nll.length);
        await backward(m, tape!, { dh }, { grads: g, loraGrads });
      }
      grads.push([...(g ? g.groups.flatMap((x) => [x.matrices as Float32Array, x.vectors]) : []), ...[...loraGrads.values()].flatMap((x) => [x.A, x.B])]);
    }
    const [cpu, gpu] = grads;
    assert.ok(Math.abs(losses[0] - losses[1]) <= TOL * Math.max(1, losses[0]), `${c.name}: loss ${losses[1]} on webgpu, ${losses[0]} on the cpu`);
    let worstRel = 0;
    cpu.forEach((a, i) => {
      if (a.length === 0) return;
      // relative to the buffer's largest gradient (gradients are small: max(1, ·) would hide errors)
      const scale = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      let diff = 0;
      for (let k = 0; k < a.length; k++) diff = Math.max(diff, Math.abs(a[k] - gpu[i][k]));
      worstRel = Math.max(worstRel, diff / scale);
      assert.ok(scale > 0, `${c.name}: gradient buffer ${i} is all zeros`);
      assert.ok(diff <= TOL * scale, `${c.name}: gradient buffer ${i}: max |webgpu − cpu| ${diff} over ${TOL} · ${scale}`);
    });
    t.diagnostic(`${c.name} (${c.dtype.toLowerCase()}, ${full ? "every parameter + LoRA" : "LoRA"}): ${cpu.length} gradient buffers, max |webgpu − cpu| / max |cpu| ${worstRel.toExponential(2)}; loss |Δ| ${Math.abs(losses[0] - losses[1]).toExponential(2)}`);
  }
});

test("the training loss graph runs wholly on the WebGPU provider (no node falls back to the CPU)", { skip }, async () => {
  const { headLossGraph } = await import("../src/model/webgpu.ts");
  const { onnxModel } = await import("../src/model/onnx.ts");
  // with and without ∂L/∂U; with the fallback switched off, a node without a WebGPU kernel (LogSoftmax has none) fails the build
  for (const withDU of [false, true]) {
    const g = headLossGraph(61, 32, withDU);
    const s = await ort.InferenceSession.create(onnxModel(g.nodes, g.inputs, g.outputs, "float32", 23), { executionProviders: ["webgpu"], extra: { session: { disable_cpu_ep_fallback: "1" } } });
    await s.release();
  }
});

test("webgpu without an adapter is one line naming what to install", () => {
  // no Vulkan driver visible: the loader reads only this (missing) manifest
  const code = `import { loadModel, randomModel, saveModel } from ${JSON.stringify(join(ROOT, "src/model/load.ts"))};
    import { mkdtempSync } from "node:fs"; import { tmpdir } from "node:os"; import { join } from "node:path";
    const dir = mkdtempSync(join(tmpdir(), "quirky-nogpu-")); saveModel(randomModel(${JSON.stringify(NEOX)}), dir);
    try { await loadModel(dir, { device: "webgpu" }).forward({ tokens: Int32Array.of(1), B: 1, T: 1 }); console.log("ran"); }
    catch (e) { console.log(e.message); }`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    encoding: "utf8",
    cwd: ROOT,
    env: { ...process.env, VK_ICD_FILENAMES: "/nonexistent/icd.json", VK_DRIVER_FILES: "/nonexistent/icd.json" },
  });
  const out = r.stdout.trim();
  assert.equal(out.split("\n").length, 1, out);
  assert.match(out, /^device webgpu: no WebGPU adapter: .*mesa-vulkan-drivers libvulkan1/);
});

test("quirky extract --device webgpu stores the states --device cpu stores (bf16 Llama, batches of 5)", { skip }, async (t) => {
  const dir = tempDir(t);
  const ds = (await writeDataset(dir, "addition", { baseExamples: 60, nValidation: 30, nTest: 30 })).dir;
  const model = join(dir, "model");
  saveModel(randomModel({ ...LLAMA, vocab_size: 98 }, 4, 0.3), model, "BF16");
  writeCharTokenizer(join(model, "tokenizer.json"));
  const states: Record<string, Map<string, { data: Float32Array }>> = {};
  for (const device of ["cpu", "webgpu"]) {
    const out = join(dir, `states-${device}`);
    const r = runCli(["extract", "--model", model, "--dataset", ds, "--max-examples", "12", "--batch-size", "5", "--out", out, "--device", device]);
    assert.equal(r.code, 0, r.stderr);
    states[device] = readSafetensors(join(out, "states.safetensors"));
  }
  const names = [...states.cpu.keys()];
  assert.deepEqual([...states.webgpu.keys()], names);
  const w = worst(Object.fromEntries(names.map((n) => [n, states.cpu.get(n)!.data])), Object.fromEntries(names.map((n) => [n, states.webgpu.get(n)!.data])));
  t.diagnostic(`extract: max |webgpu − cpu| ${w.abs.toExponential(2)} at ${w.where}, relative ${w.rel.toExponential(2)}`);
  assert.ok(w.rel <= TOL, `extract: webgpu − cpu = ${w.abs} at ${w.where}`);
  const bad = runCli(["extract", "--model", model, "--dataset", ds, "--out", join(dir, "bad"), "--device", "tpu"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--device.*tpu/);
  // three steps on each device from the same seed: the same losses at every step (each step's loss is computed from
  // the weights the previous steps' gradients made), to the states' tolerance. LoRA, and full training (the bf16
  // weights widened to f32, uploaded again after every step; the unembedding's gradient from the device's loss)
  for (const mode of ["lora", "full"]) {
    const losses: Record<string, number[]> = {};
    for (const device of ["cpu", "webgpu"]) {
      const out = join(dir, `trained-${mode}-${device}`);
      const tr = runCli(["train", "--model", model, "--dataset", ds, "--out", out, "--device", device, "--mode", mode, "--steps", "3", "--batch-size", "4", "--accum-steps", "1", "--lr", mode === "lora" ? "1e-2" : "1e-3", "--max-eval", "8"]);
      assert.equal(tr.code, 0, tr.stderr);
      const curves = JSON.parse(readFileSync(join(out, "training_curves.json"), "utf8")).curves;
      losses[device] = [...curves.train.map((s: { loss: number }) => s.loss), ...curves.eval.map((e: { sets: Record<string, { loss: number }> }) => e.sets.val.loss)];
    }
    t.diagnostic(`train ${mode}: losses cpu ${losses.cpu.map((l) => l.toFixed(6)).join(" ")}, webgpu ${losses.webgpu.map((l) => l.toFixed(6)).join(" ")}`);
    assert.equal(losses.webgpu.length, losses.cpu.length);
    losses.cpu.forEach((l, i) => assert.ok(Math.abs(l - losses.webgpu[i]) <= TOL * Math.max(1, Math.abs(l)), `train ${mode} loss ${i}: cpu ${l}, webgpu ${losses.webgpu[i]}`));
    assert.ok(Math.abs(losses.cpu[0] - losses.cpu[2]) > 10 * TOL, `${mode} training moved the loss`);
  }
});

test("a run config's device is cpu, webgpu or auto", () => {
  const base = { out: "o", models: [{ path: "m" }], datasets: [{ path: "d" }] };
  assert.equal(validateRunConfig({ ...base, device: "webgpu" }, "cfg").device, "webgpu");
  assert.throws(() => validateRunConfig({ ...base, device: "gpu" }, "cfg"), /'device' must be one of cpu, webgpu, auto, got "gpu"/);
});
