/** `quirky extract | transfer | grid | tables | intervene | anomaly`: thin layers over src/extract and src/analysis. */
import { Command, Option } from "commander";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DEFAULTS } from "../defaults.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { progressBar, statusLine } from "../util/progress.ts";
import { DISTRIBUTIONS, type Distribution, type Split } from "../datasets/schema.ts";
import { loadExamples } from "../extract/examples.ts";
import { extractStates } from "../extract/extract.ts";
import { modelName, openModel, sourceFingerprint, type ModelSource } from "../model/source.ts";
import { DEVICE_CHOICES } from "../model/device.ts";
import { runGrid, runGridOnStates } from "../analysis/grid.ts";
import { REPORTERS, REPORTER_NAMES, type ReporterName } from "../probes/reporter.ts";
import { logOddsFile, runTransfer } from "../analysis/transfer.ts";
import { summarizeRoot, writeTables } from "../analysis/summary.ts";
import { runIntervention } from "../analysis/intervene.ts";
import { DETECTORS, anomalyFromRoot, type DetectorName } from "../analysis/anomaly.ts";
import type { LabelColumn } from "../analysis/metrics.ts";

const positiveInt = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer, got '${v}'`);
  return n;
};

const wholeNumber = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new Error(`${flag} must be a whole number ≥ 0, got '${v}'`);
  return n;
};

function parseDist(v: string): Distribution {
  if (!(DISTRIBUTIONS as readonly string[]).includes(v)) throw new Error(`unknown distribution '${v}'; expected one of ${DISTRIBUTIONS.join(", ")}`);
  return v as Distribution;
}

export function parseReporters(v: string): ReporterName[] {
  const names = v.split(",");
  for (const n of names) if (!(REPORTER_NAMES as string[]).includes(n)) throw new Error(`unknown reporter '${n}'; expected ${REPORTER_NAMES.join(", ")}`);
  return names as ReporterName[];
}

/** --device: where the model's forward pass runs (src/model/device.ts) */
export const deviceOption = (what = "the model runs") =>
  new Option("--device <device>", `where ${what}: cpu, webgpu (onnxruntime's WebGPU provider) or auto (webgpu on a hardware GPU, else cpu); default $QUIRKY_DEVICE, else cpu`).choices([...DEVICE_CHOICES]);

const FORCE_HELP = "recompute results that were computed from other inputs or settings (without it, they are refused)";

export function experimentCommands(): Command[] {
  const extract = new Command("extract")
    .description("run a model over one distribution of a quirky dataset and store per-layer states, contrast-pair states and LM log-odds")
    .requiredOption("--model <dir>", "Hugging Face model folder (config.json, model.safetensors, tokenizer.json)")
    .option("--adapter <dir>", "PEFT LoRA adapter folder, merged into the model")
    .requiredOption("--dataset <dir>", "quirky dataset folder (from 'quirky datasets create' or a downloaded EleutherAI/quirky_*_raw)")
    .option("--distribution <code>", `one of ${DISTRIBUTIONS.join(", ")}`, parseDist, "A" as Distribution)
    .addOption(new Option("--split <split>", "dataset split").choices(["train", "validation", "test"]).default("validation"))
    .requiredOption("--out <dir>", "output folder (states.safetensors + meta.json)")
    .option("--max-examples <n>", "at most this many examples", positiveInt("--max-examples"))
    .addOption(new Option("--method <method>", "templatization").choices(["first", "random", "all"]).default("first"))
    .option("--standardized", "use the standardized templates")
    .addOption(new Option("--weights <mode>", "keep the weights in memory, stream them from disk block by block, or choose by free memory (sets QUIRKY_WEIGHTS)").choices(["resident", "stream", "auto"]))
    .option("--batch-size <n>", "prompts per forward pass", positiveInt("--batch-size"), DEFAULTS.batchSize)
    .addOption(deviceOption())
    .option("--seed <n>", "shuffle/template seed", wholeNumber("--seed"), DEFAULTS.seed)
    .option("--force", FORCE_HELP)
    .action(async (o) => {
      if (o.weights) process.env.QUIRKY_WEIGHTS = o.weights; // loadModel reads it
      const src: ModelSource = { path: o.model, adapter: o.adapter, device: o.device };
      const { dataset, examples } = await loadExamples(o.dataset, { distribution: o.distribution, split: o.split as Split, method: o.method, standardized: o.standardized, seed: o.seed, maxExamples: o.maxExamples });
      const { model, tokenizer } = await openModel(src);
      const bar = progressBar(`extract ${o.distribution}/${o.split}`);
      const status = await extractStates({
        model,
        tokenizer,
        examples,
        outDir: o.out,
        batchSize: o.batchSize,
        modelFingerprint: sourceFingerprint(src),
        force: o.force,
        info: { model: modelName(src), adapter: o.adapter ?? null, dataset, distribution: o.distribution, split: o.split, settings: { method: o.method, standardized: !!o.standardized, seed: o.seed, maxExamples: o.maxExamples ?? null } },
        onProgress: (d, t) => bar.update(d, t),
        warn: (m) => process.stderr.write(`${m}\n`),
      });
      bar.stop();
      console.log(`${status} ${examples.length} examples → ${o.out}`);
    });

  const transfer = new Command("transfer")
    .description("fit a reporter per layer on one distribution's validation states and evaluate it on others' test states")
    .requiredOption("--root <dir>", "results folder of one model and dataset, holding <dist>/validation and <dist>/test states")
    .requiredOption("--reporter <name>", REPORTER_NAMES.join(", "))
    .requiredOption("--train <dist>", "distribution to fit on", parseDist)
    .requiredOption("--test <dists>", "comma-separated distributions to evaluate on")
    .addOption(new Option("--label-col <col>", "labels to fit against").choices(["label", "alice", "bob"]).default("label"))
    .option("--random-samples <n>", "random directions (reporter 'random')", positiveInt("--random-samples"), DEFAULTS.randomSamples)
    .option("--seed <n>", "seed", wholeNumber("--seed"), DEFAULTS.seed)
    .option("--force", FORCE_HELP)
    .action(async (o) => {
      const reporters = parseReporters(o.reporter);
      if (reporters.length !== 1) throw new Error(`--reporter takes one reporter, got '${o.reporter}'`);
      const reporter = reporters[0];
      const tests = String(o.test).split(",").map(parseDist);
      const status = statusLine();
      await runTransfer(o.root, { reporter, train: o.train, tests, labelCol: o.labelCol as LabelColumn }, { seed: o.seed, randomSamples: o.randomSamples, force: o.force, onProgress: (m) => status(m) });
      status.end();
      console.log(`done: ${reporter} ${o.train} → ${tests.join(", ")} in ${o.root}`);
    });

  const grid = new Command("grid")
    .description("the reference's standard grid for one model and dataset: extraction and every transfer, resumable; or, with --root, the transfers on states already there (imported)")
    .option("--model <dir>", "Hugging Face model folder")
    .option("--adapter <dir>", "PEFT LoRA adapter folder, merged into the model")
    .option("--dataset <dir>", "quirky dataset folder")
    .option("--out <dir>", "experiments folder; results go to OUT/<model>/<dataset>/")
    .option("--root <dir>", "instead of --model/--dataset/--out: a results folder holding states (from 'quirky import'); runs every transfer on them, no model needed")
    .option("--reporters <list>", "comma-separated reporters (default: all eight)", parseReporters)
    .option("--max-train <n>", "validation examples per train distribution", positiveInt("--max-train"), DEFAULTS.maxTrain)
    .option("--max-test <n>", "test examples per test distribution", positiveInt("--max-test"), DEFAULTS.maxTest)
    .addOption(new Option("--method <method>", "templatization").choices(["first", "random", "all"]).default(DEFAULTS.method))
    .option("--batch-size <n>", "prompts per forward pass", positiveInt("--batch-size"), DEFAULTS.batchSize)
    .option("--random-samples <n>", "random directions for the random baseline", positiveInt("--random-samples"), DEFAULTS.randomSamples)
    .addOption(deviceOption())
    .option("--seed <n>", "seed", wholeNumber("--seed"), DEFAULTS.seed)
    .option("--force", FORCE_HELP)
    .action(async (o) => {
      const status = statusLine();
      if (o.root) {
        if (o.model || o.dataset || o.out || o.adapter) throw new Error("--root runs the grid on states already there; it takes no --model, --adapter, --dataset or --out");
        await runGridOnStates(o.root, { reporters: o.reporters, seed: o.seed, randomSamples: o.randomSamples, force: o.force, onProgress: (m) => status(m) });
        status.end();
        const summary = summarizeRoot(o.root);
        writeFileAtomic(join(o.root, "summary.json"), JSON.stringify(summary, null, 1) + "\n");
        console.log(`grid done: ${o.root} (${summary.length} transfers; summary.json)`);
        return;
      }
      for (const flag of ["model", "dataset", "out"]) if (!o[flag]) throw new Error(`required option '--${flag} <dir>' not specified (or --root DIR for states already there)`);
      const src: ModelSource = { path: o.model, adapter: o.adapter, device: o.device };
      const datasetName = (await loadExamples(o.dataset, { distribution: "all", split: "test", maxExamples: 1 })).dataset;
      const root = join(o.out, modelName(src), datasetName);
      const bar = progressBar("grid");
      await runGrid({
        open: () => openModel(src), modelFingerprint: sourceFingerprint(src), modelName: modelName(src), adapterName: o.adapter ?? null, datasetDir: o.dataset, root,
        reporters: o.reporters, maxTrain: o.maxTrain, maxTest: o.maxTest, method: o.method, batchSize: o.batchSize,
        randomSamples: o.randomSamples, seed: o.seed, force: o.force,
        onProgress: (m, d, t) => (d !== undefined && t !== undefined ? bar.update(d, t, m) : status(m)),
        warn: (m) => process.stderr.write(`${m}\n`),
      });
      bar.stop();
      status.end();
      const summary = summarizeRoot(root);
      writeFileAtomic(join(root, "summary.json"), JSON.stringify(summary, null, 1) + "\n");
      console.log(`grid done: ${root} (${summary.length} transfers; summary.json)`);
    });

  const tables = new Command("tables")
    .description("PGR tables (AE→BH, A→B) and per-run summaries over an experiments folder")
    .argument("<dir>", "experiments folder (OUT of 'quirky grid')")
    .option("--json", "print JSON")
    .action((dir: string, o) => {
      const t = writeTables(dir);
      if (o.json) console.log(JSON.stringify(t));
      else for (const r of t) console.log(`${r.transfer.padEnd(7)} ${r.reporter.padEnd(18)} AUROC ${r.overall.auroc.toFixed(3)}  floor ${r.overall.floor.toFixed(3)}  ceiling ${r.overall.ceiling.toFixed(3)}  PGR ${r.overall.pgr.toFixed(2)}`);
    });
  const intervene = new Command("intervene")
    .description("reflect the last residual state across each layer's probe direction and measure the output's AUROC against Alice's and Bob's labels")
    .requiredOption("--model <dir>", "Hugging Face model folder")
    .option("--adapter <dir>", "PEFT LoRA adapter folder, merged into the model")
    .requiredOption("--dataset <dir>", "quirky dataset folder")
    .requiredOption("--root <dir>", "results folder of this model and dataset (from 'quirky grid'), holding the fitted probes")
    .option("--reporter <name>", "lr, mean-diff or lda", "mean-diff")
    .option("--train <dist>", "distribution the probe was fitted on", parseDist, "A" as Distribution)
    .option("--test <dist>", "examples to intervene on (the test split)", parseDist, "B" as Distribution)
    .option("--max-examples <n>", "examples", positiveInt("--max-examples"), DEFAULTS.maxTest)
    .option("--layers <list>", "comma-separated layers (default: all)")
    .addOption(deviceOption())
    .option("--batch-size <n>", "prompts per forward pass", positiveInt("--batch-size"), DEFAULTS.batchSize)
    .option("--seed <n>", "seed", wholeNumber("--seed"), DEFAULTS.seed)
    .option("--force", FORCE_HELP)
    .action(async (o) => {
      const src: ModelSource = { path: o.model, adapter: o.adapter, device: o.device };
      const { examples } = await loadExamples(o.dataset, { distribution: o.test, split: "test", method: DEFAULTS.method, seed: o.seed, maxExamples: o.maxExamples });
      const layers = o.layers ? String(o.layers).split(",").map(wholeNumber("--layers")) : undefined;
      const bar = progressBar("intervene");
      const r = await runIntervention({
        root: o.root, open: () => openModel(src), modelFingerprint: sourceFingerprint(src), examples, reporter: o.reporter, train: o.train, layers,
        batchSize: o.batchSize, force: o.force, onProgress: (d, t) => bar.update(d, t),
      });
      bar.stop();
      console.log(`${r.reused ? "unchanged" : "wrote"} ${r.path}`);
      for (const l of r.layers) console.log(`layer ${l.layer}: AUROC vs Alice ${l.clean.alice.toFixed(3)} → ${l.intervened.alice.toFixed(3)}, vs Bob ${l.clean.bob.toFixed(3)} → ${l.intervened.bob.toFixed(3)}`);
    });
  const anomaly = new Command("anomaly")
    .description("anomaly detection on per-layer probe log-odds: fit on AE test outputs, score AH (normal) vs BH (anomalous)")
    .requiredOption("--root <dir>", "results folder of one model and dataset (from 'quirky grid')")
    .option("--reporter <names>", "whose AE→AE,AH,BH log-odds are the features: a name, a comma-separated list, or 'all' (every reporter fitted on AE in --root)", "lr")
    .option("--detectors <list>", `comma-separated: ${DETECTORS.join(", ")} (default: all)`)
    .option("--bootstrap <n>", "bootstrap samples for the 95% interval", positiveInt("--bootstrap"), DEFAULTS.bootstrap)
    .option("--seed <n>", "seed", wholeNumber("--seed"), DEFAULTS.seed)
    .option("--force", FORCE_HELP)
    .action((o) => {
      const detectors = o.detectors ? (String(o.detectors).split(",") as DetectorName[]) : undefined;
      const reporters =
        o.reporter === "all"
          ? REPORTER_NAMES.filter((r) => REPORTERS[r].fitted && existsSync(join(o.root, "AE", "test", logOddsFile("AE", r))))
          : String(o.reporter).split(",").map((r) => r.trim()).filter(Boolean);
      if (reporters.length === 0) throw new Error(`${o.root}: no reporter's AE log-odds found (AE/test/AE_<reporter>_log_odds.safetensors); run the grid first`);
      for (const reporter of reporters) {
        const { path, results, reused } = anomalyFromRoot(o.root, reporter, detectors, { seed: o.seed, bootstrap: o.bootstrap, force: o.force });
        if (reporters.length > 1) console.log(`${reporter}:`);
        for (const r of results) console.log(`${r.detector.padEnd(24)} AUROC ${r.auroc.toFixed(3)} [${r.lo.toFixed(3)}, ${r.hi.toFixed(3)}]  (${r.nNormal} AH vs ${r.nAnomalous} BH)`);
        console.log(`${reused ? "unchanged" : "wrote"} ${path}`);
      }
    });
  return [extract, transfer, grid, tables, intervene, anomaly];
}
