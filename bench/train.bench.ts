/**
 * Benchmark: training throughput of the embedded default's shape (GPT-NeoX, 4 layers, d = 128, 4 heads,
 * character-level vocabulary of 98) on batches of 128 quirky-addition prompts: forward with tape, backward of
 * every parameter, AdamW update. Prints tokens/s and achieved GFLOP/s (matrix products of forward + backward)
 * next to the ceiling measured in the same run: onnxruntime's products alone on exactly those shapes.
 * When Debian's python3-torch is importable, the same step in PyTorch (bench/torch_train.py: same weights, batch,
 * loss at every position, AdamW settings), measured first in the same run: its tokens/s, quirky's speed relative to
 * it, and both first-step losses (they must agree). Step times are medians. Then, in its own process, a LoRA step at
 * the 410m shape next to PyTorch's (bench/train-lora.ts): tokens/s and peak memory against the base weights.
 * PyTorch runs under the same C allocator settings as quirky (src/util/allocator.ts; they speed it up too).
 *
 *   npm run bench:train [-- --batch 128 --steps 5 --no-lora]
 */
import "./tuned-allocator.ts"; // first: this process, run again with the CLI's allocator settings
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomModel } from "../src/model/load.ts";
import { hasTorch, runTorch, torchThreads, writeTorchInputs } from "./torch.ts";
import { allocParams } from "../src/model/params.ts";
import { gemm, bmm } from "../src/model/matmul.ts";
import { backward } from "../src/train/backward.ts";
import { headLoss } from "../src/train/loss.ts";
import { AdamW } from "../src/train/optim.ts";
import type { Tape } from "../src/model/activations.ts";
import { Rng } from "../src/util/rng.ts";

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : d;
};
const B = arg("batch", 128);
const steps = arg("steps", 5);
const T = 40; // "12 + 34 = 46. Alice:" style prompts are ~20–45 characters

const config = JSON.parse(readFileSync(fileURLToPath(new URL("../models/tiny-neox.json", import.meta.url)), "utf8"));
const model = randomModel(config, 1, 0.02);
const cfg = model.cfg;
const grads = allocParams(cfg);
const opt = new AdamW(
  model.params.groups.flatMap((g, i) => [
    { params: g.matrices, grads: grads.groups[i].matrices, decay: true },
    { params: g.vectors, grads: grads.groups[i].vectors, decay: true },
  ]),
  { lr: 1e-3 },
);
const rng = new Rng(2, "bench");
const tokens = Int32Array.from({ length: B * T }, () => rng.int(2, 97));
const meanCoef = new Float32Array(B * T).fill(1 / (B * T));
const positions = Int32Array.from({ length: B * T }, (_, i) => i); // answer + next-token loss everywhere
const targets = Int32Array.from({ length: B * T }, () => rng.int(2, 97));

// PyTorch first, on the initial weights (bench/torch_train.py: the same model, batch, loss and optimizer settings)
let torch: { seconds: number; first_loss: number; torch: string } | undefined;
if (hasTorch()) {
  const dir = mkdtempSync(join(tmpdir(), "quirky-bench-train-"));
  try {
    writeTorchInputs(dir, model, tokens, targets);
    const { lr, weightDecay, beta1, beta2, eps } = opt.cfg;
    torch = runTorch("torch_train.py", [dir, join(dir, "tokens.bin"), join(dir, "targets.bin"), B, T, steps, torchThreads(), lr, weightDecay, beta1, beta2, eps]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const times: number[] = [];
let firstLoss = NaN;
let spent: Tape | undefined;
async function step(): Promise<void> {
  const t0 = performance.now();
  const { tape } = await model.forward({ tokens, B, T }, { logits: positions, tape: true, headless: true, reuseTape: spent });
  const { nll, dh } = await headLoss(model, tape!, targets, meanCoef, { gradUnembed: grads.unembed });
  const loss = nll.reduce((a, l) => a + l, 0) / nll.length;
  if (Number.isNaN(firstLoss)) firstLoss = loss;
  await backward(model, tape!, { dh }, { grads });
  spent = tape; // as quirky train does: the next forward records into this tape's buffers
  opt.update(opt.cfg.lr);
  opt.zeroGrad();
  times.push((performance.now() - t0) / 1000);
}

const { dModel: C, dFF: F, nHeads: H, headDim: D, vocabSize: V, nLayers: L } = cfg;
const N = B * T;
const fwd = L * (2 * N * C * 3 * C + 2 * N * C * C + 4 * N * C * F + 4 * B * H * T * T * D) + 2 * N * C * V;
const flops = 3 * fwd; // backward: two products per forward product

await step(); // warm-up
times.length = 0;
for (let i = 0; i < steps; i++) await step();
const stepS = times.sort((a, b) => a - b)[Math.floor(steps / 2)]; // the median, as PyTorch's

// ceiling: every product of forward + backward alone
const x = Float32Array.from({ length: N * Math.max(3 * C, F, V) }, () => rng.random());
const y = new Float32Array(N * Math.max(3 * C, F, V));
const wC = Float32Array.from({ length: Math.max(3 * C, F, V) * Math.max(C, F) }, () => rng.random());
const att = Float32Array.from({ length: B * H * T * Math.max(T, D) }, () => rng.random());
const att2 = new Float32Array(B * H * T * Math.max(T, D));
async function products(): Promise<void> {
  for (let l = 0; l < L; l++) {
    for (const [K, Nn] of [[C, 3 * C], [C, C], [C, F], [F, C]]) {
      await gemm(x, wC, N, K, Nn, { transB: true, out: y }); // forward
      await gemm(x, wC, N, Nn, K, { out: y }); // dx
      await gemm(x, x, Nn, N, K, { transA: true, out: wC }); // dW
    }
    await bmm(att, att, B * H, T, D, T, true, att2); // QKᵀ
    await bmm(att, att, B * H, T, T, D, false, att2); // PV
    for (let k = 0; k < 4; k++) await bmm(att, att, B * H, T, T, D, false, att2); // dV, dP, dQ, dK
  }
  await gemm(x, wC, N, C, V, { transB: true, out: y });
  await gemm(x, wC, N, V, C, { out: y });
  await gemm(x, x, V, N, C, { transA: true, out: wC });
}
await products();
const t = performance.now();
for (let i = 0; i < steps; i++) await products();
const ceilS = (performance.now() - t) / 1000 / steps;

console.log(`training step, GPT-NeoX 4×128, batch ${B} × ${T} tokens, full backward + AdamW; node ${process.version}`);
console.log(`tokens/s ${Math.round(N / stepS)}   step ${(stepS * 1000).toFixed(0)} ms   achieved ${(flops / stepS / 1e9).toFixed(2)} GFLOP/s   ceiling ${(flops / ceilS / 1e9).toFixed(2)} GFLOP/s   ratio ${((100 * ceilS) / stepS).toFixed(0)}%`);
if (torch) {
  console.log(`PyTorch ${torch.torch}: tokens/s ${Math.round(N / torch.seconds)}   step ${(torch.seconds * 1000).toFixed(0)} ms   quirky/PyTorch ${(torch.seconds / stepS).toFixed(2)}×   first-step loss: quirky ${firstLoss.toFixed(6)}, PyTorch ${torch.first_loss.toFixed(6)}`);
} else console.log("PyTorch: not importable from /usr/bin/python3 (Debian's python3-torch); no comparison");

// the LoRA step at a real size, in its own process (its peak memory is its own): bench/train-lora.ts
if (!process.argv.includes("--no-lora")) {
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(new URL("train-lora.ts", import.meta.url))], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 24 });
  if (child.status !== 0) throw new Error(`bench/train-lora.ts failed (exit ${child.status})`);
  const r = JSON.parse(child.stdout.trim().split("\n").pop()!) as { seconds: number; firstLoss: number; peak: number; weightBytes: number; tokens: number; torch?: { seconds: number; first_loss: number; peak_rss: number } };
  const gib = (b: number) => (b / 2 ** 30).toFixed(2);
  console.log(`\nLoRA step, Pythia-410m shape (f32 base, frozen), rank 8 on query_key_value, dense_h_to_4h, dense_4h_to_h, batch 8 × 64, blocks checkpointed`);
  console.log(`tokens/s ${Math.round(r.tokens / r.seconds)}   step ${r.seconds.toFixed(2)} s   peak RSS growth ${gib(r.peak)} GiB = ${(r.peak / r.weightBytes).toFixed(2)}× the base weights (${gib(r.weightBytes)} GiB)`);
  if (r.torch) {
    console.log(`PyTorch: tokens/s ${Math.round(r.tokens / r.torch.seconds)}   step ${r.torch.seconds.toFixed(2)} s   quirky/PyTorch ${(r.torch.seconds / r.seconds).toFixed(2)}×   peak RSS ${gib(r.torch.peak_rss)} GiB   first-step loss: quirky ${r.firstLoss.toFixed(6)}, PyTorch ${r.torch.first_loss.toFixed(6)}`);
  } else console.log("PyTorch: not importable; no comparison");
}
