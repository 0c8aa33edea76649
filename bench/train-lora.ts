/**
 * bench:train's second part, run in its own process so its peak memory is its own: one LoRA training step at a real
 * size. A random Pythia-410m-shaped model (f32, frozen: no gradient buffers), rank-8 LoRA (alpha 16) on
 * query_key_value, dense_h_to_4h and dense_4h_to_h of every block (the paper's settings), batch 8 × 64 tokens, loss
 * at every position, backward into the LoRA parameters, AdamW over them; blocks checkpointed (each block's backward one graph
 * that recomputes it from its input: no block's intermediates kept between the passes). Prints one JSON line: median seconds per step,
 * the first step's loss, peak RSS growth and the base weights' size; and, when Debian's python3-torch is importable,
 * the same step in PyTorch (bench/torch_lora.py: same weights, initial adapters, batch, optimizer settings), after.
 *   node --import tsx bench/train-lora.ts [--no-checkpoint]
 */
import "./tuned-allocator.ts"; // first: this process, run again with the CLI's allocator settings
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../src/model/config.ts";
import { hasTorch, runTorch, torchThreads, writeTorchInputs } from "./torch.ts";
import { linearModules } from "../src/model/lora.ts";
import { allocParams, numParams } from "../src/model/params.ts";
import { writeSafetensors } from "../src/model/safetensors.ts";
import { Transformer } from "../src/model/transformer.ts";
import type { Tape } from "../src/model/activations.ts";
import { backward, type LoraGrad } from "../src/train/backward.ts";
import { headLoss } from "../src/train/loss.ts";
import { AdamW, type ParamGroup } from "../src/train/optim.ts";
import { Rng } from "../src/util/rng.ts";

const B = 8;
const T = 64;
const steps = 5;
const r = 8;
const alpha = 16;
const TARGETS = ["query_key_value", "dense_h_to_4h", "dense_4h_to_h"];

const cfg = parseConfig({ model_type: "gpt_neox", vocab_size: 50304, hidden_size: 1024, num_hidden_layers: 24, num_attention_heads: 16, intermediate_size: 4096, rotary_pct: 0.25, max_position_embeddings: 2048 });
const rssBefore = process.memoryUsage().rss;
const params = allocParams(cfg);
const rng = new Rng(3, "bench-lora");
for (const g of params.groups) for (const buf of [g.matrices, g.vectors]) for (let i = 0; i < buf.length; i++) buf[i] = (rng.random() - 0.5) * 0.04;
const model = new Transformer(cfg, params);
const weightBytes = numParams(cfg) * 4;

// adapters: A ~ U(±1/√in) as PEFT; B small and random (not PEFT's zeros) so the first step already exercises them
const loraGrads = new Map<string, LoraGrad>();
const groups: ParamGroup[] = [];
for (const [name, lin] of linearModules(model)) {
  if (!TARGETS.some((t) => name.endsWith(`.${t}`))) continue;
  const bound = 1 / Math.sqrt(lin.inDim);
  const A = Float32Array.from({ length: r * lin.inDim }, () => (2 * rng.random() - 1) * bound);
  const Bm = Float32Array.from({ length: lin.outDim * r }, () => (2 * rng.random() - 1) * 0.01);
  model.lora.set(name, { A, B: Bm, r, scale: alpha / r });
  const g = { A: new Float32Array(A.length), B: new Float32Array(Bm.length) };
  loraGrads.set(name, g);
  groups.push({ params: A, grads: g.A, decay: true }, { params: Bm, grads: g.B, decay: true });
}
const opt = new AdamW(groups, { lr: 1e-4 });
// PyTorch starts from the same adapters: written now, so no copy of them stays in memory during the steps
const torchDir = hasTorch() ? mkdtempSync(join(tmpdir(), "quirky-bench-lora-")) : undefined;
if (torchDir) {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, d] of model.lora) {
    const lin = linearModules(model).get(name)!;
    tensors.set(`${name}.lora_A`, { shape: [r, lin.inDim], data: d.A });
    tensors.set(`${name}.lora_B`, { shape: [lin.outDim, r], data: d.B });
  }
  writeSafetensors(join(torchDir, "lora.safetensors"), tensors);
}
const tokens = Int32Array.from({ length: B * T }, () => rng.int(0, cfg.vocabSize - 1));
const targets = Int32Array.from({ length: B * T }, () => rng.int(0, cfg.vocabSize - 1));
const meanCoef = new Float32Array(B * T).fill(1 / (B * T));
const positions = Int32Array.from({ length: B * T }, (_, i) => i);

const times: number[] = [];
let firstLoss = NaN;
let spent: Tape | undefined;
async function step(): Promise<void> {
  const t0 = performance.now();
  const { tape } = await model.forward({ tokens, B, T }, { logits: positions, tape: true, headless: true, reuseTape: spent, checkpoint: !process.argv.includes("--no-checkpoint") });
  const { nll, dh } = await headLoss(model, tape!, targets, meanCoef);
  const loss = nll.reduce((a, l) => a + l, 0) / nll.length;
  if (Number.isNaN(firstLoss)) firstLoss = loss;
  await backward(model, tape!, { dh }, { loraGrads });
  spent = tape;
  opt.update(opt.cfg.lr);
  opt.zeroGrad();
  times.push((performance.now() - t0) / 1000);
}
await step(); // warm-up
times.length = 0;
for (let i = 0; i < steps; i++) await step();
const peak = process.resourceUsage().maxRSS * 1024 - rssBefore; // before PyTorch's files are written

// PyTorch after (the steps above leave the base weights as they were; its adapters are the ones written before them)
let torch: { seconds: number; first_loss: number; peak_rss: number } | undefined;
if (torchDir) {
  try {
    writeTorchInputs(torchDir, model, tokens, targets);
    const { lr, weightDecay, beta1, beta2, eps } = opt.cfg;
    torch = runTorch("torch_lora.py", [torchDir, B, T, steps, torchThreads(), alpha / r, lr, weightDecay, beta1, beta2, eps]);
  } finally {
    rmSync(torchDir, { recursive: true, force: true });
  }
}

console.log(JSON.stringify({ seconds: times.sort((a, b) => a - b)[Math.floor(steps / 2)], firstLoss, peak, weightBytes, tokens: B * T, torch }));
