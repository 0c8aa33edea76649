/**
 * Makes the quirky model zoo (src/pipeline/zoo.ts, models/zoo/README.md): the datasets, a 6-block GPT-NeoX
 * pretrained from scratch on truthful labels of all five arithmetic datasets at once, grown to 8 blocks and trained on
 * with result examples mixed in, then one LoRA adapter per dataset of ZOO_ADAPTERS (rank 8 on blocks
 * ZOO_ADAPTER_LAYERS) trained on that dataset's quirky labels. Every step is resumable: rerun to continue.
 *   usage: node --import tsx scripts/train-zoo.ts [WORK_DIR] [--only-adapters] [--datasets a,b] [--distribution A] [--speaker-frac x]
 * --distribution and --speaker-frac go to the base's three stages (models/zoo/README.md: a base that keeps who speaks).
 * WORK_DIR (default work/zoo) gets data/, base/ and adapters/<dataset>/; copy base/ and adapters/ to models/zoo to ship.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { writeDataset } from "../src/datasets/create.ts";
import type { ArithmeticName } from "../src/datasets/arithmetic.ts";
import { REPO_ROOT } from "../src/pipeline/default.ts";
import { ZOO_ADAPTER_LAYERS, ZOO_ADAPTERS, ZOO_DATASETS } from "../src/pipeline/zoo.ts";

const { values, positionals } = parseArgs({ allowPositionals: true, options: {
  "only-adapters": { type: "boolean" }, datasets: { type: "string" }, distribution: { type: "string" }, "speaker-frac": { type: "string" },
} });
const work = positionals[0] ?? "work/zoo";
const onlyAdapters = values["only-adapters"] === true;
const names = (values.datasets?.split(",") ?? ZOO_ADAPTERS) as ArithmeticName[];
/** flags for every stage of the base */
const baseFlags = [
  ...(values.distribution ? ["--distribution", values.distribution] : []),
  ...(values["speaker-frac"] ? ["--speaker-frac", values["speaker-frac"]] : []),
];

/** the base model's shape: Pythia's layout (parallel residual, rotary on a quarter of each head), character tokens */
const BASE_CONFIG = {
  model_type: "gpt_neox", vocab_size: 98, hidden_size: 128, num_hidden_layers: 6, num_attention_heads: 4, intermediate_size: 512,
  rotary_pct: 0.25, rotary_emb_base: 10000, layer_norm_eps: 1e-5, use_parallel_residual: true, max_position_embeddings: 256, hidden_act: "gelu",
};

function quirky(cmd: string[]): void {
  console.log(`$ quirky ${cmd.join(" ")}`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "bin", "quirky.js"), ...cmd], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`quirky ${cmd[0]} failed (exit ${r.status})`);
  console.log(`  (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}

mkdirSync(work, { recursive: true });
const dataDir = join(work, "data");
const dirs: Record<string, string> = {};
for (const name of Object.keys(ZOO_DATASETS) as ArithmeticName[]) dirs[name] = (await writeDataset(dataDir, name, ZOO_DATASETS[name])).dir;

// 1–2. the base: truthful labels (both characters labelled by the truth) of every dataset, answer + next-token loss;
// 3,000 steps from scratch (the best validation loss comes at step 2,048 and is kept), then 1,500 more at half the
// rate, keeping the last step (validation loss rises from overconfidence there while AUROC still climbs)
const stage1 = join(work, "base-stage1");
const stage2 = join(work, "base-stage2");
const base = join(work, "base");
const mixture = Object.values(dirs).join(",");
if (!onlyAdapters && !existsSync(join(stage1, "model.safetensors"))) {
  writeFileSync(join(work, "base-config.json"), JSON.stringify(BASE_CONFIG, null, 1) + "\n");
  quirky(["train", "--from-scratch", join(work, "base-config.json"), "--dataset", mixture, "--out", stage1, "--truthful", ...baseFlags,
    "--method", "first", "--steps", "3000", "--batch-size", "128", "--accum-steps", "1", "--lr", "1e-3", "--decay", "cosine", "--warmup", "0.05",
    "--weight-decay", "0.1", "--aux-weight", "1", "--seed", "1", "--max-eval", "500"]);
}
if (!onlyAdapters && !existsSync(join(stage2, "model.safetensors"))) {
  quirky(["train", "--model", stage1, "--dataset", mixture, "--out", stage2, "--mode", "full", "--truthful", ...baseFlags,
    "--method", "first", "--steps", "1500", "--batch-size", "128", "--accum-steps", "1", "--lr", "5e-4", "--decay", "cosine", "--warmup", "0.02",
    "--weight-decay", "0.1", "--aux-weight", "1", "--seed", "2", "--max-eval", "500", "--keep", "last"]);
}

// 3. two identity-initialised blocks on top (8 in all), then every block trained on, with half the examples asking
// the prompt for its true result's first character instead of the answer (--result-frac): without them the answer
// is nearly all the last token carries, and random directions read it as well as probes (models/zoo/README.md)
if (!onlyAdapters && !existsSync(join(base, "model.safetensors"))) {
  quirky(["train", "--model", stage2, "--add-blocks", "2", "--layers", "0,1,2,3,4,5,6,7", "--dataset", mixture, "--out", base, "--mode", "full",
    "--truthful", ...baseFlags, "--result-frac", "0.5", "--method", "first", "--steps", "1500", "--batch-size", "128", "--accum-steps", "1", "--lr", "5e-4",
    "--decay", "cosine", "--warmup", "0.05", "--weight-decay", "0.1", "--aux-weight", "1", "--seed", "3", "--max-eval", "500", "--keep", "last"]);
}

// 4. the quirk: a LoRA adapter per dataset on Bob's labels in Bob's prompts (Alice's in hers), base weights frozen
for (const name of names) {
  const out = join(work, "adapters", name);
  if (existsSync(join(out, "adapter_model.safetensors"))) continue;
  quirky(["train", "--model", base, "--dataset", dirs[name], "--out", out, "--mode", "lora", "--lora-rank", "8", "--lora-alpha", "8",
    "--layers", ZOO_ADAPTER_LAYERS.join(","), "--method", "first", "--steps", "1500", "--batch-size", "64", "--accum-steps", "1", "--lr", "2e-3", "--decay", "cosine", "--warmup", "0.05",
    "--weight-decay", "0", "--seed", "1", "--max-eval", "500"]);
}
console.log(`zoo: ${work} (base/ and adapters/)`);
