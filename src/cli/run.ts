/** `quirky run`, `quirky slurm` and `quirky demo`: thin layers over src/pipeline. */
import { DEFAULTS } from "../defaults.ts";
import { Command } from "commander";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { parseShard, readRunConfig, runConfig, validateRunConfig } from "../pipeline/run.ts";
import { positiveCount, slurmScript } from "../pipeline/slurm.ts";
import { experimentRoots, lmOutputAurocs, summarizeRoot, type PgrResult } from "../analysis/summary.ts";
import { PAPER_SHORT, paperAnomaly, paperPgr } from "../report/paper.ts";
import { readAnomalyResults } from "../report/load.ts";
import { randomMedian, type RandomBaselineResult } from "../probes/random-baseline.ts";
import { randomFile } from "../analysis/transfer.ts";
import { controlRoot } from "../analysis/anomaly-control.ts";
import { ZOO_DIR, zooRunConfig } from "../pipeline/zoo.ts";
import { formatDuration, statusLine } from "../util/progress.ts";
import { writeDataset } from "../datasets/create.ts";
import { DEMO_DATASET, REPO_ROOT } from "../pipeline/default.ts";
import { deviceOption } from "./experiments.ts";

export function runCommands(): Command[] {
  const run = new Command("run")
    .description("run every stage for the models and datasets of a config file; resumable; --shard i/n (or SLURM array variables) splits the grid")
    .argument("<config>", "JSON config: { out, models: [{path, adapter?, name?, datasets?, control?: {path, adapter?}}], datasets: [{path} | {create, options}], reporters?, maxTrain?, maxTest?, ... } (control: the model without its quirk, on which anomaly detection runs again as its no-quirk control)")
    .option("--shard <i/n>", "run only every n-th unit of work, starting at i (default: SLURM_ARRAY_TASK_ID/COUNT when set)")
    .option("--force", "recompute results that were computed from other inputs or settings (without it, they are refused)")
    .addOption(deviceOption("the models run (overrides the config's 'device')"))
    .action(async (config: string, o) => {
      const cfg = { ...readRunConfig(config), ...(o.device ? { device: o.device } : {}) };
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
      printAnomalySummary(cfg.out);
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
    .description("from nothing to the paper's findings on the embedded model zoo (a truthful base model and a LoRA quirk per arithmetic dataset): datasets, extraction, every reporter, anomaly detection, an intervention, PGR averaged over datasets beside the paper's, the report")
    .option("--out <dir>", "output folder", "quirky-demo")
    .option("--zoo <dir>", "a model zoo folder (base/ and adapters/<dataset>/)", ZOO_DIR)
    .option("--model <dir>", "one model instead of the zoo, on 2-digit addition (the older single-model default is models/default)")
    .option("--retrain", "make the zoo first (scripts/train-zoo.ts, about two hours on 2 cores), into OUT/zoo")
    .option("--datasets <names>", "comma-separated zoo datasets to run, e.g. addition (default: every adapter in the zoo)")
    .option("--max-train <n>", "examples per training distribution", "1000")
    .option("--max-test <n>", "examples per test distribution", "500")
    .addOption(deviceOption("the models run"))
    .action(async (o) => {
      const out = resolve(o.out);
      const sizes = { maxTrain: Number(o.maxTrain), maxTest: Number(o.maxTest) };
      let cfg;
      if (o.model) {
        if (o.datasets) throw new Error("--datasets picks zoo adapters; --model runs one model on 2-digit addition");
        const model = resolve(o.model);
        if (!existsSync(join(model, "model.safetensors"))) throw new Error(`${model}: no model here (a folder with config.json, model.safetensors, tokenizer.json)`);
        const data = await writeDataset(join(out, "datasets"), "addition", DEMO_DATASET);
        cfg = validateRunConfig({ out, models: [{ path: model, name: "quirky-default" }], datasets: [{ path: data.dir }], ...sizes, randomSamples: DEFAULTS.randomSamples }, "demo");
      } else {
        let zoo = resolve(o.zoo);
        if (o.retrain) {
          zoo = join(out, "zoo");
          const r = spawnSync(process.execPath, ["--import", "tsx", join(REPO_ROOT, "scripts", "train-zoo.ts"), zoo], { stdio: "inherit", cwd: REPO_ROOT });
          if (r.status !== 0) throw new Error("making the zoo failed (see above)");
        }
        cfg = zooRunConfig(out, { zoo, ...sizes, ...(o.datasets ? { datasets: String(o.datasets).split(",").map((n) => n.trim()).filter(Boolean) } : {}) });
      }
      if (o.device) cfg = { ...cfg, device: o.device };
      const t0 = performance.now();
      const status = statusLine();
      await runConfig(cfg, undefined, status);
      status.end();
      for (const { model, dataset, root } of experimentRoots(out)) {
        console.log(`\n== ${model} × ${dataset} ==`);
        printDemoSummary(root);
      }
      printPgrSummary(out);
      printAnomalySummary(out);
      console.log(`report: ${join(out, "report", "index.html")}  (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    });
  return [run, slurm, demo];
}

/** PGR averaged over datasets (pgr.json), beside the paper's where it publishes one. */
export function printPgrSummary(out: string): void {
  const tables = JSON.parse(readFileSync(join(out, "pgr.json"), "utf8")) as PgrResult[];
  console.log(`\nPGR, averaged over ${new Set(tables.flatMap((t) => Object.keys(t.perDataset))).size} dataset(s) (paper: ${PAPER_SHORT})`);
  console.log("transfer  reporter            ours    paper");
  for (const t of tables) {
    const paper = paperPgr(t.transfer, t.reporter);
    console.log(`${t.transfer.padEnd(9)} ${t.reporter.padEnd(19)} ${t.overall.pgr.toFixed(2).padStart(5)}   ${paper === undefined ? "  —" : paper.toFixed(2).padStart(5)}`);
  }
}

/**
 * Mahalanobis anomaly AUROC per reporter, averaged over the experiments of a run, plain and with the diagonal
 * subtracted, beside the no-quirk control's (where the run has one)
 * and the paper's average for that probe (figures.ipynb cell 31, the plain variant).
 */
export function printAnomalySummary(out: string): void {
  const byReporter = new Map<string, { plain: number[]; minusDiag: number[]; control: number[] }>();
  const roots = experimentRoots(out);
  for (const { root } of roots) {
    for (const a of readAnomalyResults(root)) {
      const e = byReporter.get(a.reporter) ?? { plain: [], minusDiag: [], control: [] };
      for (const r of a.results) {
        if (r.detector === "mahalanobis") e.plain.push(r.auroc);
        else if (r.detector === "mahalanobis-minus-diag") e.minusDiag.push(r.auroc);
      }
      byReporter.set(a.reporter, e);
    }
    for (const a of readAnomalyResults(controlRoot(root))) {
      const v = a.results.find((r) => r.detector === "mahalanobis")?.auroc;
      if (v !== undefined) byReporter.get(a.reporter)?.control.push(v);
    }
  }
  if (![...byReporter.values()].some((e) => e.plain.length)) return;
  const mean = (v: number[]) => (v.length ? (v.reduce((x, y) => x + y, 0) / v.length).toFixed(2) : "—").padStart(5);
  console.log(`
Mahalanobis anomaly AUROC (AH vs BH), averaged over ${roots.length} experiment(s), by the reporter whose per-layer outputs are the features`);
  console.log(`(paper: ${PAPER_SHORT}, Mahalanobis on each probe's outputs averaged over its datasets, the plain variant)`);
  const controlled = [...byReporter.values()].some((e) => e.control.length);
  if (controlled) console.log("(no-quirk control: the same detector on the model without its quirk, where Bob's prompts are not anomalous; 0.5 is ideal, and the quirky model's AUROC shows the quirk only by how far it rises above it)");
  console.log(`reporter            ours   minus diagonal${controlled ? "   no-quirk control" : ""}   paper`);
  for (const [reporter, { plain, minusDiag, control }] of byReporter)
    if (plain.length)
      console.log(
        `${reporter.padEnd(19)} ${mean(plain)}   ${mean(minusDiag)}${controlled ? `            ${mean(control)}` : ""}   ${paperAnomaly(reporter)?.toFixed(2) ?? "  —"}${plain.length < roots.length ? `   (${plain.length} of ${roots.length} experiments)` : ""}`,
      );
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
  // the finding set beside what holds by construction: random directions, signed on AE, on Bob's hard disagreements
  const lr = rows.find((r) => r.reporter === "lr" && r.train === "AE" && r.test === "BH");
  const randomPath = join(root, "BH", "test", randomFile("AE", "alice"));
  if (lr && existsSync(randomPath)) {
    const random = JSON.parse(readFileSync(randomPath, "utf8")) as { layers: RandomBaselineResult[] };
    console.log("\nAE→BH, against Alice's labels on Bob's disagreements, by layer");
    console.log(`  LogR                        ${lr.curves.alice.disagree.map((v) => v.toFixed(3)).join(" ")}`);
    console.log(`  random directions (median)  ${random.layers.map((l) => randomMedian(l.subsets?.disagree).toFixed(3)).join(" ")}`);
  }
  const anomaly = readAnomalyResults(root);
  const lrAnomaly = anomaly.find((a) => a.reporter === "lr");
  for (const r of lrAnomaly?.results ?? []) console.log(`anomaly ${r.detector.padEnd(24)} AUROC ${r.auroc.toFixed(3)} [${r.lo.toFixed(3)}, ${r.hi.toFixed(3)}]  (LogR outputs)`);
  const control = readAnomalyResults(controlRoot(root)).find((a) => a.reporter === "lr")?.results.find((r) => r.detector === "mahalanobis");
  if (control) console.log(`anomaly mahalanobis, no-quirk control AUROC ${control.auroc.toFixed(3)} [${control.lo.toFixed(3)}, ${control.hi.toFixed(3)}]  (LogR outputs, the model without its quirk)`);
  const maha = anomaly.flatMap((a) => a.results.filter((r) => r.detector === "mahalanobis").map((r) => `${a.reporter} ${r.auroc.toFixed(3)}`));
  if (maha.length > 1) console.log(`anomaly mahalanobis by reporter    ${maha.join("  ")}`);
}
