/** `quirky run`, `quirky slurm` and `quirky demo`: thin layers over src/pipeline. */
import { Command } from "commander";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { parseShard, readRunConfig, runConfig, slurmScript, validateRunConfig } from "../pipeline/run.ts";
import { summarizeRoot } from "../analysis/summary.ts";
import { writeDataset } from "../datasets/create.ts";
import { DEFAULT_MODEL, DEMO_DATASET, REPO_ROOT } from "../pipeline/default.ts";

/** One rewriting status line on a terminal; nothing when stderr is a file or a pipe. */
const status = (m: string) => {
  if (process.stderr.isTTY) process.stderr.write(`\r${m.slice(0, 100).padEnd(100)}`);
};

export function runCommands(): Command[] {
  const run = new Command("run")
    .description("run every stage for the models and datasets of a config file; resumable; --shard i/n (or SLURM array variables) splits the grid")
    .argument("<config>", "JSON config: { out, models: [{path, adapter?}], datasets: [{path} | {create, options}], reporters?, maxTrain?, maxTest?, ... }")
    .option("--shard <i/n>", "run only every n-th unit of work, starting at i (default: SLURM_ARRAY_TASK_ID/COUNT when set)")
    .action(async (config: string, o) => {
      const cfg = readRunConfig(config);
      const shard = parseShard(o.shard);
      const r = await runConfig(cfg, shard, status);
      status("");
      console.log(`shard ${shard.index}/${shard.count}: ${r.mine} of ${r.units} units${r.finished ? `; all done — tables and report in ${cfg.out}` : "; other shards still have work"}`);
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
      readRunConfig(config); // validate before writing anything
      writeFileAtomic(o.out, slurmScript(config, Number(o.tasks), { cpus: Number(o.cpus), mem: o.mem, time: o.time, partition: o.partition }));
      console.log(`wrote ${o.out}: sbatch ${o.out}`);
    });

  const demo = new Command("demo")
    .description("from nothing to the paper's findings on the embedded default: dataset, quirky model, extraction, every reporter, anomaly detection, an intervention, the report")
    .option("--out <dir>", "output folder", "quirky-demo")
    .option("--model <dir>", "use this model instead of the embedded default (a folder with config.json, model.safetensors, tokenizer.json)")
    .option("--retrain", "train the default model first (scripts/train-default.sh, about 80 minutes on 2 cores)")
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
      const cfg = validateRunConfig({ out, models: [{ path: model, name: "quirky-default" }], datasets: [{ path: data.dir }], maxTrain: Number(o.maxTrain), maxTest: Number(o.maxTest), randomSamples: 200 }, "demo");
      const t0 = performance.now();
      await runConfig(cfg, undefined, status);
      status("");
      printDemoSummary(join(out, "quirky-default", "addition"));
      console.log(`report: ${join(out, "report", "index.html")}  (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    });
  return [run, slurm, demo];
}

/** The findings at a glance: Alice-trained probes on Bob's disagreements vs the model's own output. */
export function printDemoSummary(root: string): void {
  const rows = summarizeRoot(root);
  const lm = (train: string, test: string) => rows.find((r) => r.train === train && r.test === test && r.reporter === "lr")?.lm;
  const a = lm("A", "A");
  const b = lm("B", "B");
  if (a && b) {
    console.log("\nthe model's own output (AUROC of its log-odds)");
    console.log(`  Alice's prompts vs Alice's labels        ${a.label.all.toFixed(3)}`);
    console.log(`  Bob's prompts vs Bob's labels            ${b.label.all.toFixed(3)}`);
    console.log(`  Bob's disagreements vs Alice's labels    ${b.alice.disagree.toFixed(3)}`);
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
    const a = JSON.parse(readFileSync(anomalyFile, "utf8")) as { results: { method: string; auroc: number; lo: number; hi: number }[] };
    for (const r of a.results) console.log(`anomaly ${r.method.padEnd(24)} AUROC ${r.auroc.toFixed(3)} [${r.lo.toFixed(3)}, ${r.hi.toFixed(3)}]`);
  }
}
