/** `quirky extract | transfer | grid | tables`: thin layers over src/extract and src/analysis. */
import { Command, Option } from "commander";
import { basename, join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { progressBar } from "../util/progress.ts";
import { DISTRIBUTIONS, type Distribution, type Split } from "../datasets/schema.ts";
import { loadExamples } from "../extract/examples.ts";
import { extractStates } from "../extract/extract.ts";
import { loadModel } from "../model/load.ts";
import { mergeLora, readPeftAdapter } from "../model/lora.ts";
import { loadTokenizer } from "../model/tokenizer.ts";
import type { Transformer } from "../model/transformer.ts";
import { ALL_REPORTERS, runGrid } from "../analysis/grid.ts";
import { runTransfer } from "../analysis/transfer.ts";
import { experimentRoots, pgrTables, summarizeRoot } from "../analysis/summary.ts";
import { interventionExperiment, probesFromRoot, writeInterventionResults } from "../analysis/intervene.ts";
import { ANOMALY_METHODS, anomalyFromRoot, type AnomalyMethod } from "../analysis/anomaly.ts";
import type { GridReporter } from "../analysis/transfer.ts";
import type { LabelColumn } from "../analysis/metrics.ts";

/** A model folder, with a PEFT adapter merged in when given. */
export async function loadModelAndAdapter(modelDir: string, adapterDir?: string): Promise<{ model: Transformer; name: string }> {
  const model = loadModel(modelDir);
  if (adapterDir) await mergeLora(model, readPeftAdapter(adapterDir, model));
  const name = adapterDir ? `${basename(modelDir)}__${basename(adapterDir)}` : basename(modelDir);
  return { model, name };
}

const positiveInt = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} must be a positive integer, got '${v}'`);
  return n;
};

function parseDist(v: string): Distribution {
  if (!(DISTRIBUTIONS as readonly string[]).includes(v)) throw new Error(`unknown distribution '${v}'; expected one of ${DISTRIBUTIONS.join(", ")}`);
  return v as Distribution;
}

function parseReporters(v: string): GridReporter[] {
  const names = v.split(",");
  for (const n of names) if (!(ALL_REPORTERS as string[]).includes(n)) throw new Error(`unknown reporter '${n}'; expected ${ALL_REPORTERS.join(", ")}`);
  return names as GridReporter[];
}

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
    .option("--batch-size <n>", "prompts per forward pass", positiveInt("--batch-size"), 16)
    .option("--seed <n>", "shuffle/template seed", positiveInt("--seed"), 633)
    .action(async (o) => {
      if (o.weights) process.env.QUIRKY_WEIGHTS = o.weights; // loadModel reads it
      const { model, name } = await loadModelAndAdapter(o.model, o.adapter);
      const tokenizer = loadTokenizer(o.model);
      const { dataset, examples } = await loadExamples(o.dataset, { distribution: o.distribution, split: o.split as Split, method: o.method, standardized: o.standardized, seed: o.seed, maxExamples: o.maxExamples });
      const bar = progressBar(`extract ${o.distribution}/${o.split}`);
      const status = await extractStates({
        model,
        tokenizer,
        examples,
        outDir: o.out,
        batchSize: o.batchSize,
        info: { model: name, adapter: o.adapter ?? null, dataset, distribution: o.distribution, split: o.split, settings: { method: o.method, standardized: !!o.standardized, seed: o.seed } },
        onProgress: (d, t) => bar.update(d, t),
      });
      bar.stop();
      console.log(`${status} ${examples.length} examples → ${o.out}`);
    });

  const transfer = new Command("transfer")
    .description("fit a reporter per layer on one distribution's validation states and evaluate it on others' test states")
    .requiredOption("--root <dir>", "results folder of one model and dataset, holding <dist>/validation and <dist>/test states")
    .requiredOption("--reporter <name>", ALL_REPORTERS.join(", "))
    .requiredOption("--train <dist>", "distribution to fit on", parseDist)
    .requiredOption("--test <dists>", "comma-separated distributions to evaluate on")
    .addOption(new Option("--label-col <col>", "labels to fit against").choices(["label", "alice", "bob"]).default("label"))
    .option("--seed <n>", "seed", positiveInt("--seed"), 633)
    .action(async (o) => {
      const [reporter] = parseReporters(o.reporter);
      const tests = String(o.test).split(",").map(parseDist);
      await runTransfer(o.root, { reporter, train: o.train, tests, labelCol: o.labelCol as LabelColumn }, { seed: o.seed, onProgress: (m) => { if (process.stderr.isTTY) process.stderr.write(`\r${m}          `); } });
      console.log(`done: ${reporter} ${o.train} → ${tests.join(", ")} in ${o.root}`);
    });

  const grid = new Command("grid")
    .description("the reference's standard grid for one model and dataset: extraction and every transfer, resumable")
    .requiredOption("--model <dir>", "Hugging Face model folder")
    .option("--adapter <dir>", "PEFT LoRA adapter folder, merged into the model")
    .requiredOption("--dataset <dir>", "quirky dataset folder")
    .requiredOption("--out <dir>", "experiments folder; results go to OUT/<model>/<dataset>/")
    .option("--reporters <list>", "comma-separated reporters (default: all eight)", parseReporters)
    .option("--max-train <n>", "validation examples per train distribution", positiveInt("--max-train"), 4000)
    .option("--max-test <n>", "test examples per test distribution", positiveInt("--max-test"), 1000)
    .addOption(new Option("--method <method>", "templatization").choices(["first", "random", "all"]).default("first"))
    .option("--batch-size <n>", "prompts per forward pass", positiveInt("--batch-size"), 16)
    .option("--random-samples <n>", "random directions for the random baseline", positiveInt("--random-samples"), 1000)
    .option("--seed <n>", "seed", positiveInt("--seed"), 633)
    .action(async (o) => {
      const { model, name } = await loadModelAndAdapter(o.model, o.adapter);
      const tokenizer = loadTokenizer(o.model);
      const datasetName = (await loadExamples(o.dataset, { distribution: "all", split: "test", maxExamples: 1 })).dataset;
      const root = join(o.out, name, datasetName);
      const bar = progressBar("grid");
      await runGrid({
        model, tokenizer, modelName: name, adapterName: o.adapter ?? null, datasetDir: o.dataset, root,
        reporters: o.reporters, maxTrain: o.maxTrain, maxTest: o.maxTest, method: o.method, batchSize: o.batchSize,
        randomSamples: o.randomSamples, seed: o.seed,
        onProgress: (m, d, t) => {
          if (d !== undefined && t !== undefined) bar.update(d, t, m);
          else if (process.stderr.isTTY) process.stderr.write(`\r${m}          `);
        },
      });
      bar.stop();
      const summary = summarizeRoot(root);
      writeFileAtomic(join(root, "summary.json"), JSON.stringify(summary, null, 1) + "\n");
      console.log(`grid done: ${root} (${summary.length} transfers; summary.json)`);
    });

  const tables = new Command("tables")
    .description("PGR tables (AE→BH, A→B) and per-run summaries over an experiments folder")
    .argument("<dir>", "experiments folder (OUT of 'quirky grid')")
    .option("--json", "print JSON")
    .action((dir: string, o) => {
      for (const { root } of experimentRoots(dir)) writeFileAtomic(join(root, "summary.json"), JSON.stringify(summarizeRoot(root), null, 1) + "\n");
      const t = pgrTables(dir);
      writeFileAtomic(join(dir, "pgr.json"), JSON.stringify(t, null, 1) + "\n");
      const csv = ["transfer,reporter,dataset,auroc,floor,ceiling,pgr", ...t.flatMap((r) => [...Object.entries(r.perDataset).map(([ds, v]) => [r.transfer, r.reporter, ds, v.auroc, v.floor, v.ceiling, v.pgr].join(",")), [r.transfer, r.reporter, "avg", r.overall.auroc, r.overall.floor, r.overall.ceiling, r.overall.pgr].join(",")])];
      writeFileAtomic(join(dir, "pgr.csv"), csv.join("\n") + "\n");
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
    .option("--max-examples <n>", "examples", positiveInt("--max-examples"), 1000)
    .option("--layers <list>", "comma-separated layers (default: all)")
    .option("--seed <n>", "seed", positiveInt("--seed"), 633)
    .action(async (o) => {
      const { model } = await loadModelAndAdapter(o.model, o.adapter);
      const tokenizer = loadTokenizer(o.model);
      const { examples } = await loadExamples(o.dataset, { distribution: o.test, split: "test", method: "first", seed: o.seed, maxExamples: o.maxExamples });
      let probes = probesFromRoot(o.root, o.reporter, o.train);
      if (o.layers) {
        const keep = String(o.layers).split(",").map(Number);
        probes = probes.filter((p) => keep.includes(p.layer));
      }
      const bar = progressBar("intervene");
      const layers = await interventionExperiment(model, tokenizer, examples, probes, (d, t) => bar.update(d, t));
      bar.stop();
      console.log(`wrote ${writeInterventionResults(o.root, o.reporter, layers)}`);
      for (const r of layers) console.log(`layer ${r.layer}: AUROC vs Alice ${r.clean.alice.toFixed(3)} → ${r.intervened.alice.toFixed(3)}, vs Bob ${r.clean.bob.toFixed(3)} → ${r.intervened.bob.toFixed(3)}`);
    });
  const anomaly = new Command("anomaly")
    .description("anomaly detection on per-layer probe log-odds: fit on AE test outputs, score AH (normal) vs BH (anomalous)")
    .requiredOption("--root <dir>", "results folder of one model and dataset (from 'quirky grid')")
    .option("--reporter <name>", "whose AE→AE,AH,BH log-odds are the features", "lr")
    .option("--methods <list>", `comma-separated: ${ANOMALY_METHODS.join(", ")} (default: all)`)
    .option("--bootstrap <n>", "bootstrap samples for the 95% interval", positiveInt("--bootstrap"), 1000)
    .option("--seed <n>", "seed", positiveInt("--seed"), 633)
    .action((o) => {
      const methods = o.methods ? (String(o.methods).split(",") as AnomalyMethod[]) : undefined;
      for (const m of methods ?? []) if (!ANOMALY_METHODS.includes(m)) throw new Error(`unknown method '${m}'; expected ${ANOMALY_METHODS.join(", ")}`);
      const { path, results } = anomalyFromRoot(o.root, o.reporter, methods, { seed: o.seed, bootstrap: o.bootstrap });
      for (const r of results) console.log(`${r.method.padEnd(24)} AUROC ${r.auroc.toFixed(3)} [${r.lo.toFixed(3)}, ${r.hi.toFixed(3)}]  (${r.nNormal} AH vs ${r.nAnomalous} BH)`);
      console.log(`wrote ${path}`);
    });
  return [extract, transfer, grid, tables, intervene, anomaly];
}
