/** `quirky run`, `quirky slurm` and `quirky demo`: thin layers over src/pipeline. */
import { DEFAULTS } from "../defaults.ts";
import { Command } from "commander";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { parseShard, readRunConfig, runConfig, validateRunConfig } from "../pipeline/run.ts";
import { positiveCount, slurmScript } from "../pipeline/slurm.ts";
import { experimentRoots, lmOutputAurocs, summarizeRoot } from "../analysis/summary.ts";
import { formatDuration, statusLine } from "../util/progress.ts";
import { writeDataset } from "../datasets/create.ts";
import { DEFAULT_MODEL, DEMO_DATASET, REPO_ROOT } from "../pipeline/default.ts";

export function runCommands(): Command[] {
  const run = new Command("run")
    .description("run every stage for the models and datasets of a config file; resumable; --shard i/n (or SLURM array variables) splits the grid")
    .argument("<config>", "JSON config: { out, models: [{path, adapter?}], datasets: [{path} | {create, options}], reporters?, maxTrain?, maxTest?, ... }")
    .option("--shard <i/n>", "run only every n-th unit of work, starting at i (default: SLURM_ARRAY_TASK_ID/COUNT when set)")
    .option("--force", "recompute results that were computed from other inputs or settings (without it, they are refused)")
    .action(async (config: string, o) => {
      const cfg = readRunConfig(config);
      const shard = parseShard(o.shard);
      const t0 = performance.now();
      const status = statusLine();
      const r = await runConfig(cfg, shard, status, { force: o.force });
      status.end();
      console.log(`shard ${shard.index}/${shard.count}: ${r.mine} of ${r.units} units in ${formatDuration((performance.now() - t0) / 1000)}${r.finished ? "; all done" : "; other shards still have work"}`);
      if (!r.finished) return;
      for (const { model, dataset, root } of experimentRoots(cfg.out)) {
        console.log(`\n== ${model} × ${dataset} ==`);
        printDemoSummary(root);
      }
      console.log(`\ntables: ${join(cfg.out, "pgr.json")}`);
      if (cfg.report !== false) console.log(`report: ${join(cfg.out, "report", "index.html")}`);
    });

  const slurm = new Command("slurm")
    .description("write an sbatch script that runs a config as a SLURM job array")
    .argument("<config>", "run config (JSON)")
    .option("--tasks <n>", "array tasks", "8")
    .option("--cpus <n>", "CPUs per task", "8")
    .option("--mem <size>", "memory per task", "32G")
    .option("--time <t>", "time limit per task", "24:00:00")
    .option("--partition <name>", "SLURM partition")
    .option("--out <file>", "where to write the script", "quirky.sbatch")
    .action((config: string, o) => {
      // validate everything before writing anything
      const script = slurmScript(config, { tasks: positiveCount("--tasks", o.tasks), cpus: positiveCount("--cpus", o.cpus), mem: o.mem, time: o.time, partition: o.partition });
      readRunConfig(config);
      writeFileAtomic(o.out, script);
      console.log(`wrote ${o.out}: submit with sbatch ${o.out}; each task logs its progress to ${join(dirname(resolve(config)), "quirky-<job>_<task>.log")}`);
    });

  const demo = new Command("demo")
    .description("from nothing to the paper's findings on the embedded default: dataset, quirky model, extraction, every reporter, anomaly detection, an intervention, the report")
    .option("--out <dir>", "output folder", "quirky-demo")
    .option("--model <dir>", "use this model instead of the embedded default (a folder with config.json, model.safetensors, tokenizer.json)")
    .option("--retrain", "train the default model first (scripts/train-default.sh, about 20 minutes on 2 cores)")
    .option("--max-train <n>", "examples per training distribution", "1000")
    .option("--max-test <n>", "examples per test distribution", "500")
    .action(async (o) => {
      const out = resolve(o.out);
      let model = o.model ? resolve(o.model) : DEFAULT_MODEL;
      if (o.retrain) {
        const r = spawnSync("bash", [join(REPO_ROOT, "scripts", "train-default.sh"), join(out, "train")], { stdio: "inherit" });
        if (r.status !== 0) throw new Error("training the default model failed (see above)");
        model = join(out, "train", "quirky");
      }
      if (!existsSync(join(model, "model.safetensors"))) {
        throw new Error(`${model}: no model here. The embedded default is made by 'quirky demo --retrain' (or bash scripts/train-default.sh); or pass --model DIR`);
      }
      // the default model's data: 2-digit addition
      const data = await writeDataset(join(out, "datasets"), "addition", DEMO_DATASET);
      const cfg = validateRunConfig({ out, models: [{ path: model, name: "quirky-default" }], datasets: [{ path: data.dir }], maxTrain: Number(o.maxTrain), maxTest: Number(o.maxTest), randomSamples: DEFAULTS.randomSamples }, "demo");
      const t0 = performance.now();
      const status = statusLine();
      await runConfig(cfg, undefined, status);
      status.end();
      printDemoSummary(join(out, "quirky-default", "addition"));
      console.log(`report: ${join(out, "report", "index.html")}  (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    });
  return [run, slurm, demo];
}

/** The findings at a glance: Alice-trained probes on Bob's disagreements vs the model's own output. */
export function printDemoSummary(root: string): void {
  const rows = summarizeRoot(root);
  const lm = lmOutputAurocs(rows); // the same numbers the report's "model's own output" section shows
  if (Number.isFinite(lm.aliceVsAlice) && Number.isFinite(lm.bobVsBob)) {
    console.log("\nthe model's own output (AUROC of its log-odds)");
    console.log(`  Alice's prompts vs Alice's labels        ${lm.aliceVsAlice.toFixed(3)}`);
    console.log(`  Bob's prompts vs Bob's labels            ${lm.bobVsBob.toFixed(3)}`);
    console.log(`  Bob's disagreements vs Alice's labels    ${lm.bobDisagreeVsAlice.toFixed(3)}`);
  }
  const ab = rows.filter((r) => r.train === "A" && r.test === "B");
  console.log("\nA→B, against Alice's labels on Bob's disagreements (AUROC)");
  console.log("reporter            best layer   at EIL   LM output");
  for (const r of ab) {
    const curve = r.curves.alice.disagree;
    const best = curve.reduce((bi, v, i) => (v > curve[bi] ? i : bi), 0);
    console.log(`${r.reporter.padEnd(19)} ${`${curve[best].toFixed(3)} (L${best})`.padEnd(12)} ${(r.atEil?.alice.disagree ?? NaN).toFixed(3).padEnd(8)} ${r.lm.alice.disagree.toFixed(3)}`);
  }
  const anomalyFile = join(root, "anomaly_lr.json");
  if (existsSync(anomalyFile)) {
    const a = JSON.parse(readFileSync(anomalyFile, "utf8")) as { results: { detector: string; auroc: number; lo: number; hi: number }[] };
    for (const r of a.results) console.log(`anomaly ${r.detector.padEnd(24)} AUROC ${r.auroc.toFixed(3)} [${r.lo.toFixed(3)}, ${r.hi.toFixed(3)}]`);
  }
}
