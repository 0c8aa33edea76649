/** `quirky datasets ...`: a thin layer over src/datasets. */
import { Command, Option } from "commander";
import { writeChunksAtomic } from "../util/atomic.ts";
import { progressBar } from "../util/progress.ts";
import { DEFAULTS } from "../defaults.ts";
import { generateBase, needsSource, writeDataset, difficultyFromModels, type CreateOptions } from "../datasets/create.ts";
import { DATASET_NAMES, isDatasetName, type DatasetName } from "../datasets/schema.ts";
import { datasetFolders, formatSummary, summarizeFolder } from "../datasets/summary.ts";

/** `--source authors=books.csv` (per dataset) or a plain `--source PATH` (one dataset). */
function perDataset(values: string[] | undefined, names: DatasetName[], flag: string): Map<DatasetName, string> {
  const out = new Map<DatasetName, string>();
  for (const v of values ?? []) {
    const m = /^([a-z]+)=(.+)$/.exec(v);
    if (m && isDatasetName(m[1])) out.set(m[1], m[2]);
    else if (names.length === 1) out.set(names[0], v);
    else throw new Error(`${flag} ${v}: with several datasets, write ${flag} NAME=PATH (e.g. ${flag} nli=snli/)`);
  }
  return out;
}

function parseNames(arg: string): DatasetName[] {
  if (arg === "all") return [...DATASET_NAMES];
  const names = arg.split(",");
  for (const n of names) if (!isDatasetName(n)) throw new Error(`unknown dataset '${n}'; expected 'all' or one of ${DATASET_NAMES.join(", ")}`);
  return names as DatasetName[];
}

const collect = (v: string, prev: string[] = []) => [...prev, v];
const int = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} must be a non-negative integer, got '${v}'`);
  return n;
};

export function datasetsCommand(): Command {
  const cmd = new Command("datasets").description("generate, load and inspect the 12 quirky datasets");

  cmd
    .command("create")
    .description("generate quirky datasets into OUT/<name>/ ({train,validation,test}.parquet + meta.json)")
    .argument("<names>", `'all', or comma-separated names: ${DATASET_NAMES.join(", ")}`)
    .requiredOption("--out <dir>", "output folder")
    .option("--seed <n>", "random seed", int("--seed"), DEFAULTS.seed)
    .option("--base-examples <n>", "arithmetic: base examples per crosstab cell (default: 100000; squaring 50000)", int("--base-examples"))
    .option("--max-digits <n>", "arithmetic: operand digits (default: 4; multiplication 3, squaring 5)", int("--max-digits"))
    .option("--distinct-operands", "arithmetic: draw every operand tuple once for the whole dataset, so no test row's operands are seen in training (the reference reuses tuples across its four crosstab cells)")
    .option("--source <path>", "source file(s) for authors (goodreads CSV), sentiment (amazon_polarity parquet), nli (SNLI parquet), sciq (SciQ parquet), cities (optional SimpleMaps CSV); repeat as NAME=PATH for several datasets", collect)
    .option("--difficulties <file>", "precomputed difficulties for sentiment/nli/sciq (CSV/JSONL: id,difficulty or id,model,log_odds); NAME=FILE for several", collect)
    .option("--difficulty-models <dirs>", "sentiment/nli/sciq: score the few-shot prompts here with these model folders (comma-separated; difficulty = mean loss over the suite, as the reference); resumable, scores kept in OUT/.difficulty-cache", (v: string) => v.split(",").filter(Boolean))
    .option("--difficulty-batch-size <n>", "prompts per forward pass when scoring difficulty", int("--difficulty-batch-size"), 8)
    .option("--n-validation <n>", "validation rows (default: the reference's per-dataset size)", int("--n-validation"))
    .option("--n-test <n>", "test rows (default: the reference's per-dataset size)", int("--n-test"))
    .addOption(new Option("--format <format>", "file format").choices(["parquet", "jsonl", "both"]).default("parquet"))
    .option("--skip-missing", "skip datasets whose source or difficulties were not given, instead of failing")
    .option("--force", "regenerate datasets that already exist with the same settings")
    .action(async (namesArg: string, o) => {
      const names = parseNames(namesArg);
      const sources = perDataset(o.source, names, "--source");
      const difficulties = perDataset(o.difficulties, names, "--difficulties");
      const models: string[] | undefined = o.difficultyModels?.length ? o.difficultyModels : undefined;
      const needsScores = (n: DatasetName) => difficultyFromModels(n) && !difficulties.has(n) && !models;
      const missing = names.filter((n) => (needsSource(n) && !sources.has(n)) || needsScores(n));
      if (missing.length > 0 && !o.skipMissing) {
        throw new Error(
          `missing inputs for ${missing.join(", ")}: ` +
            missing.map((n) => `${n} needs ${[needsSource(n) && !sources.has(n) ? "--source" : "", needsScores(n) ? "--difficulties FILE or --difficulty-models M1,M2,..." : ""].filter(Boolean).join(" and ")}`).join("; ") +
            ` (see 'quirky datasets create --help'); or pass --skip-missing`,
        );
      }
      for (const name of names) {
        if (missing.includes(name)) {
          console.error(`skipped ${name}: no ${needsSource(name) && !sources.has(name) ? "--source" : "--difficulties or --difficulty-models"} given`);
          continue;
        }
        const bar = progressBar(name);
        const t0 = performance.now();
        const opts: CreateOptions = {
          seed: o.seed,
          baseExamples: o.baseExamples,
          maxDigits: o.maxDigits,
          distinctOperands: o.distinctOperands === true,
          source: sources.get(name),
          difficulties: difficulties.get(name),
          difficultyModels: difficulties.has(name) ? undefined : models,
          difficultyBatchSize: o.difficultyBatchSize,
          nValidation: o.nValidation,
          nTest: o.nTest,
          onProgress: (stage, d, t) => bar.update(d, t, stage),
        };
        try {
          const r = await writeDataset(o.out, name, { ...opts, format: o.format, force: o.force });
          bar.stop();
          const c = r.meta.counts;
          console.log(`${r.status === "skipped" ? "exists " : "created"} ${r.dir}: train ${c.train}, validation ${c.validation}, test ${c.test} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
        } finally {
          bar.stop();
        }
      }
    });

  cmd
    .command("show")
    .description("counts, Alice × Bob label crosstab and difficulty histogram of dataset folder(s)")
    .argument("<dir>", "a dataset folder (ours or a downloaded EleutherAI/quirky_*_raw snapshot), or a folder of them")
    .option("--json", "print JSON instead of text")
    .action(async (dir: string, o) => {
      for (const folder of datasetFolders(dir)) {
        const s = await summarizeFolder(folder);
        console.log(o.json ? JSON.stringify(s) : formatSummary(s));
      }
    });

  cmd
    .command("prompts")
    .description("write the base examples' scoring prompts (sentiment/nli/sciq) as JSONL: id, prompt, choices, label — score them with your models to make a --difficulties file")
    .argument("<name>", "sentiment, nli or sciq")
    .requiredOption("--source <path>", "the dataset's source file(s)")
    .requiredOption("--out <file>", "output JSONL file")
    .option("--seed <n>", "random seed (must match the one given to create)", int("--seed"), DEFAULTS.seed)
    .action(async (name: string, o) => {
      if (!isDatasetName(name) || !difficultyFromModels(name)) throw new Error(`'${name}' has no model-scored prompts; expected sentiment, nli or sciq`);
      const base = await generateBase(name, { source: o.source, seed: o.seed });
      writeChunksAtomic(o.out, base.map((ex) => JSON.stringify({ id: ex.prompt!.id, prompt: ex.prompt!.text, choices: ex.prompt!.choices, label: ex.prompt!.label }) + "\n"));
      console.log(`wrote ${base.length} prompts to ${o.out}`);
    });
  return cmd;
}

