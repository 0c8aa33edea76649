/**
 * Benchmark: the forward pass on random Pythia-70m-, 410m- and 1.4b-shaped models, batch 16 prompts × 48
 * tokens, logits only at the last position (what extraction needs).
 *
 * Prints tokens/s and achieved GFLOP/s next to the ceiling measured in the same process: onnxruntime's
 * matrix products alone, on exactly the shapes the forward pass multiplies; and peak memory (RSS growth)
 * next to the size of the weights. Targets: forward ≥ 60% of the ceiling, peak memory ≤ 1.3× weights. Then the
 * same forward with the weights held as bf16 (as a 16-bit checkpoint is: upcast per product slice), its tokens/s
 * and its time relative to f32; peak memory is measured before the bf16 copy exists. When Debian's python3-torch is
 * importable, the same forward in PyTorch (bench/torch_neox.py: a minimal GPT-NeoX, same weights, same batch, same
 * thread count), its tokens/s, quirky's speed relative to it, and the largest logit difference between the two
 * (relative to the largest logit).
 *
 *   npm run bench:engine                  (every size, each in its own process)
 *   npm run bench:engine -- --only 70m
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { saveModel } from "../src/model/load.ts";
import { parseConfig } from "../src/model/config.ts";
import { Transformer } from "../src/model/transformer.ts";
import { allocParams, Half, numParams } from "../src/model/params.ts";
import { bmm, linear } from "../src/model/matmul.ts";
import { Rng } from "../src/util/rng.ts";

const SHAPES: Record<string, Record<string, unknown>> = {
  "70m": { model_type: "gpt_neox", vocab_size: 50304, hidden_size: 512, num_hidden_layers: 6, num_attention_heads: 8, intermediate_size: 2048, rotary_pct: 0.25, max_position_embeddings: 2048 },
  "410m": { model_type: "gpt_neox", vocab_size: 50304, hidden_size: 1024, num_hidden_layers: 24, num_attention_heads: 16, intermediate_size: 4096, rotary_pct: 0.25, max_position_embeddings: 2048 },
  "1.4b": { model_type: "gpt_neox", vocab_size: 50304, hidden_size: 2048, num_hidden_layers: 24, num_attention_heads: 16, intermediate_size: 8192, rotary_pct: 0.25, max_position_embeddings: 2048 },
};
const B = 16;
const T = 48;

const only = process.argv.indexOf("--only");
if (only < 0) {
  console.log(`forward pass, batch ${B} × ${T} tokens, logits at the last position; node ${process.version}`);
  console.log("model   tokens/s   forward GFLOP/s   ceiling GFLOP/s   forward/ceiling   weights MiB   peak MiB   peak/weights   bf16-held tokens/s   bf16/f32 time   PyTorch tokens/s   quirky/PyTorch   max |Δlogit| / max |logit|");
  for (const size of Object.keys(SHAPES)) {
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), "--only", size], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    process.stdout.write(r.stdout);
  }
  process.exit(0);
}

const size = process.argv[only + 1];
const cfg = parseConfig(SHAPES[size]);
const rssBefore = process.memoryUsage().rss;
const params = allocParams(cfg);
const rng = new Rng(1, "bench");
for (const g of params.groups) for (const buf of [g.matrices, g.vectors]) for (let i = 0; i < buf.length; i++) buf[i] = (rng.random() - 0.5) * 0.04;
const model = new Transformer(cfg, params);
const weightBytes = numParams(cfg) * 4;

const tokens = Int32Array.from({ length: B * T }, () => rng.int(0, cfg.vocabSize - 1));
const M = B * T;
const { dModel: C, dFF: F, nHeads: H, headDim: D, vocabSize: V, nLayers: L } = cfg;
const flops = L * (2 * M * C * 3 * C + 2 * M * C * C + 2 * 2 * M * C * F + 2 * 2 * B * H * T * T * D) + 2 * B * C * V;

async function time(fn: () => Promise<unknown>, reps: number): Promise<number> {
  await fn(); // warm-up
  const t = performance.now();
  for (let i = 0; i < reps; i++) await fn();
  return (performance.now() - t) / 1000 / reps;
}

const reps = size === "70m" ? 5 : size === "410m" ? 3 : 2;
const forwardS = await time(() => model.forward({ tokens, B, T }, { logits: "last" }), reps);

// the ceiling: the same products, alone
// inputs like the forward pass's: random, not zeros
const rand = (n: number) => Float32Array.from({ length: n }, () => rng.random() - 0.5);
const x = rand(M * Math.max(C, F));
const w = params.layers[0];
const q = rand(B * H * T * D);
const p = rand(B * H * T * T);
const last = rand(B * C);
// outputs preallocated, as the forward pass's workspace does
const y = new Float32Array(M * Math.max(3 * C, F));
const ctx = new Float32Array(B * H * T * D);
const logits = new Float32Array(B * V);
const ceilingS = await time(async () => {
  for (let l = 0; l < L; l++) {
    const layer = params.layers[l] ?? w;
    await linear(x, layer.qkv.w, M, C, 3 * C, layer.qkv.b, y);
    await bmm(q, q, B * H, T, D, T, true, p);
    await bmm(p, q, B * H, T, T, D, false, ctx);
    await linear(x, layer.o.w, M, C, C, layer.o.b, y);
    await linear(x, layer.up.w, M, C, F, layer.up.b, y);
    await linear(x, layer.down.w, M, F, C, layer.down.b, y);
  }
  await linear(last, params.unembed, B, C, V, undefined, logits);
}, reps);

const peak = process.resourceUsage().maxRSS * 1024 - rssBefore;

// the same weights held as bf16 bits (rounded to nearest even), as a bf16 checkpoint is loaded
const half = allocParams(cfg, "BF16");
for (const [name, t] of params.tensors) {
  const dst = half.tensors.get(name)!.data;
  if (dst instanceof Half) {
    const u32 = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
    for (let i = 0; i < u32.length; i++) dst.bits[i] = (u32[i] + 0x7fff + ((u32[i] >>> 16) & 1)) >>> 16;
  } else dst.set(t.data);
}
const halfS = await time(() => new Transformer(cfg, half).forward({ tokens, B, T }, { logits: "last" }), reps);

// PyTorch on the same weights and batch, when Debian's python3-torch is importable
let torchCols = `${"-".padStart(18)} ${"-".padStart(16)} ${"-".padStart(22)}`;
if (spawnSync("/usr/bin/python3", ["-c", "import torch"]).status === 0 && cfg.arch === "gpt_neox") {
  const dir = mkdtempSync(join(tmpdir(), "quirky-bench-torch-"));
  try {
    saveModel(model, dir);
    writeFileSync(join(dir, "tokens.bin"), new Uint8Array(tokens.buffer));
    const threads = Number(process.env.QUIRKY_THREADS) || availableParallelism(); // as onnxruntime's sessions
    const py = spawnSync("/usr/bin/python3", [fileURLToPath(new URL("torch_neox.py", import.meta.url)), dir, join(dir, "tokens.bin"), String(B), String(T), String(reps), String(threads)], { encoding: "utf8", maxBuffer: 1 << 30 });
    if (py.status !== 0) throw new Error(`bench/torch_neox.py failed: ${py.stderr}`);
    const ref = JSON.parse(py.stdout) as { seconds: number; logits: number[] };
    const ours = (await model.forward({ tokens, B, T }, { logits: "last" })).logits;
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < ours.length; i++) {
      diff = Math.max(diff, Math.abs(ours[i] - ref.logits[i]));
      scale = Math.max(scale, Math.abs(ref.logits[i]));
    }
    torchCols = `${Math.round(M / ref.seconds).toString().padStart(18)} ${(ref.seconds / forwardS).toFixed(2).padStart(15)}× ${(diff / scale).toExponential(1).padStart(22)}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const mib = (b: number) => (b / 2 ** 20).toFixed(0);
console.log(
  `${size.padEnd(7)} ${Math.round(M / forwardS).toString().padStart(8)} ${(flops / forwardS / 1e9).toFixed(1).padStart(17)} ${(flops / ceilingS / 1e9).toFixed(1).padStart(17)} ${((100 * ceilingS) / forwardS).toFixed(0).padStart(16)}% ${mib(weightBytes).padStart(13)} ${mib(peak).padStart(10)} ${(peak / weightBytes).toFixed(2).padStart(14)}× ${Math.round(M / halfS).toString().padStart(20)} ${(halfS / forwardS).toFixed(2).padStart(15)}× ${torchCols}`,
);
