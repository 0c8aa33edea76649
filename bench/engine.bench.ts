/**
 * Benchmark: the forward pass on random Pythia-70m-, 410m- and 1.4b-shaped models, batch 16 prompts × 48
 * tokens, logits only at the last position (what extraction needs).
 *
 * Prints tokens/s and achieved GFLOP/s next to the GEMM ceiling: the time the forward's own matrix products take, as
 * onnxruntime's profiler times their kernels (Gemm, MatMul, FusedMatMul) inside the same forwards, in a second
 * process run with $QUIRKY_ORT_PROFILE. forward/ceiling is the share of those forwards' time spent in products:
 * everything else (norms, activation, rotary, softmax, head reshapes, JavaScript between runs) is what the engine
 * adds. Then peak memory (RSS growth) next to the size of the weights; the same forward with the weights held as
 * bf16 (as a 16-bit checkpoint is: upcast per block), its tokens/s and its time relative to f32 (peak memory is
 * measured before the bf16 copy exists). When Debian's python3-torch is importable, the same forward in PyTorch
 * (bench/torch_neox.py: a minimal GPT-NeoX, same weights, same batch, same thread count), its tokens/s, quirky's speed
 * relative to it, and the largest logit difference between the two (relative to the largest logit).
 * Targets (issue 14): forward ≥ 90% of the ceiling and ≥ 1.1× PyTorch; peak memory ≤ 1.3× weights.
 * Times are medians over several forwards (this machine is noisy); PyTorch's is its own median, measured right after.
 *
 *   npm run bench:engine                  (every size, each in its own processes)
 *   npm run bench:engine -- --only 70m
 */
import "./tuned-allocator.ts"; // first: this process, run again with the CLI's allocator settings
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { hasTorch, runTorch, torchThreads, writeTorchInputs } from "./torch.ts";
import { parseConfig } from "../src/model/config.ts";
import { Transformer } from "../src/model/transformer.ts";
import { allocParams, Half, numParams } from "../src/model/params.ts";
import ort from "onnxruntime-node";
import { endProfiling } from "../src/model/matmul.ts";
import { Rng } from "../src/util/rng.ts";
import { forwardFlops, medianSeconds } from "./timing.ts";

const SHAPES: Record<string, Record<string, unknown>> = {
  "70m": { model_type: "gpt_neox", vocab_size: 50304, hidden_size: 512, num_hidden_layers: 6, num_attention_heads: 8, intermediate_size: 2048, rotary_pct: 0.25, max_position_embeddings: 2048 },
  "410m": { model_type: "gpt_neox", vocab_size: 50304, hidden_size: 1024, num_hidden_layers: 24, num_attention_heads: 16, intermediate_size: 4096, rotary_pct: 0.25, max_position_embeddings: 2048 },
  "1.4b": { model_type: "gpt_neox", vocab_size: 50304, hidden_size: 2048, num_hidden_layers: 24, num_attention_heads: 16, intermediate_size: 8192, rotary_pct: 0.25, max_position_embeddings: 2048 },
};
const B = 16;
const T = 48;

const only = process.argv.indexOf("--only");
const here = fileURLToPath(import.meta.url);
/** One size's numbers: each child prints one JSON line. */
function child(size: string, args: string[], env: NodeJS.ProcessEnv = process.env): Record<string, number | string> {
  const r = spawnSync(process.execPath, [...process.execArgv, here, "--only", size, "--child", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`bench child for ${size} ${args.join(" ")} failed (exit ${r.status})`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}
const mib = (b: number) => (b / 2 ** 20).toFixed(0);
if (only < 0 || !process.argv.includes("--child")) {
  const sizes = only < 0 ? Object.keys(SHAPES) : [process.argv[only + 1]];
  console.log(`forward pass, batch ${B} × ${T} tokens, logits at the last position; node ${process.version}`);
  console.log("model   tokens/s   forward GFLOP/s   ceiling GFLOP/s   forward/ceiling   weights MiB   peak MiB   peak/weights   bf16-held tokens/s   bf16/f32 time   PyTorch tokens/s   quirky/PyTorch   max |Δlogit| / max |logit|");
  for (const size of sizes) {
    const m = child(size, []);
    const dir = mkdtempSync(join(tmpdir(), "quirky-bench-profile-"));
    let g: Record<string, number | string>;
    try {
      g = child(size, ["--gemm-share"], { ...process.env, QUIRKY_ORT_PROFILE: join(dir, "ort") });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const n = (k: string) => Number(m[k]);
    const share = Number(g.gemmS) / Number(g.forwardS);
    const torch = m.torchS === undefined ? `${"-".padStart(18)} ${"-".padStart(16)} ${"-".padStart(22)}` : `${Math.round(n("tokens") / n("torchS")).toString().padStart(18)} ${(n("torchS") / n("forwardS")).toFixed(2).padStart(15)}× ${n("logitDiff").toExponential(1).padStart(22)}`;
    console.log(
      `${size.padEnd(7)} ${Math.round(n("tokens") / n("forwardS")).toString().padStart(8)} ${(n("flops") / n("forwardS") / 1e9).toFixed(1).padStart(17)} ${(n("flops") / Number(g.gemmS) / 1e9).toFixed(1).padStart(17)} ${(100 * share).toFixed(0).padStart(16)}% ${mib(n("weightBytes")).padStart(13)} ${mib(n("peak")).padStart(10)} ${(n("peak") / n("weightBytes")).toFixed(2).padStart(14)}× ${Math.round(n("tokens") / n("halfS")).toString().padStart(20)} ${(n("halfS") / n("forwardS")).toFixed(2).padStart(15)}× ${torch}`,
    );
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
const flops = forwardFlops(cfg, B, T);

const reps = size === "70m" ? 9 : size === "410m" ? 5 : 3;
const forward = () => model.forward({ tokens, B, T }, { logits: "last" });

if (process.argv.includes("--gemm-share")) {
  // profiled forwards: the time of the matrix-product kernels within them, next to the forward's time = onnxruntime's
  // runs (model_run, its own clock) + the JavaScript between runs. Left out: the profiler's own cost around each run
  // (about 1 ms per run here, where a run without it costs 0.05 ms beyond its model_run).
  let inRuns = 0;
  type Run = (...args: unknown[]) => Promise<unknown>;
  const proto = (ort.InferenceSession as unknown as { prototype: { run: Run } }).prototype; // the class behind the factory's type
  const run = proto.run;
  proto.run = async function (this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    try {
      return await run.apply(this, args);
    } finally {
      inRuns += performance.now() - t0;
    }
  };
  await forward(); // warm-up: its runs are skipped below
  inRuns = 0;
  const t = performance.now();
  for (let r = 0; r < reps; r++) await forward();
  const outsideS = (performance.now() - t - inRuns) / 1000 / reps;
  await endProfiling();
  const prefix = process.env.QUIRKY_ORT_PROFILE!;
  let gemmUs = 0;
  let runUs = 0;
  for (const file of readdirSync(dirname(prefix)).filter((f) => f.startsWith(basename(prefix)) && f.endsWith(".json"))) {
    type Event = { cat?: string; name: string; ts: number; dur: number; args?: { op_name?: string } };
    const events = JSON.parse(readFileSync(join(dirname(prefix), file), "utf8")) as Event[];
    const runs = events.filter((e) => e.cat === "Session" && e.name === "model_run").sort((a, b) => a.ts - b.ts);
    const from = runs[runs.length / (reps + 1)]?.ts ?? Infinity; // this session's first run after the warm-up forward
    for (const r of runs) if (r.ts >= from) runUs += r.dur;
    for (const e of events) {
      if (e.cat === "Node" && e.name.endsWith("_kernel_time") && e.ts >= from && ["Gemm", "MatMul", "FusedMatMul"].includes(e.args?.op_name ?? "")) gemmUs += e.dur;
    }
  }
  console.log(JSON.stringify({ forwardS: runUs / 1e6 / reps + outsideS, gemmS: gemmUs / 1e6 / reps }));
  process.exit(0);
}

const forwardS = await medianSeconds(forward, reps);
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
const halfModel = new Transformer(cfg, half);
const halfS = await medianSeconds(() => halfModel.forward({ tokens, B, T }, { logits: "last" }), reps);

// PyTorch on the same weights and batch, when Debian's python3-torch is importable
const out: Record<string, number> = { tokens: M, flops, forwardS, halfS, peak, weightBytes };
if (hasTorch() && cfg.arch === "gpt_neox") {
  const dir = mkdtempSync(join(tmpdir(), "quirky-bench-torch-"));
  try {
    writeTorchInputs(dir, model, tokens);
    const ref = runTorch<{ seconds: number; logits: number[] }>("torch_neox.py", [dir, join(dir, "tokens.bin"), B, T, reps, torchThreads()]);
    const ours = (await forward()).logits;
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < ours.length; i++) {
      diff = Math.max(diff, Math.abs(ours[i] - ref.logits[i]));
      scale = Math.max(scale, Math.abs(ref.logits[i]));
    }
    Object.assign(out, { torchS: ref.seconds, logitDiff: diff / scale });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log(JSON.stringify(out));
