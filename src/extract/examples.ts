/**
 * The examples an extraction runs over, as the reference picks them: a split of a quirky dataset, filtered
 * to a distribution (A, BH, …), shuffled with a seed, templatized, and cut to at most `maxExamples`.
 */
import { basename, join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { readQuirkySplit } from "../datasets/io.ts";
import { isDatasetName, type DatasetName, type Distribution, type Split } from "../datasets/schema.ts";
import { filterDistribution, templatize, type TemplateMethod, type TemplatizedExample } from "../datasets/templatize.ts";
import { DEFAULTS } from "../defaults.ts";
import { Rng } from "../util/rng.ts";

export interface ExampleOptions {
  distribution: Distribution;
  split: Split;
  /** the paper's experiments use "first" */
  method?: TemplateMethod;
  standardized?: boolean;
  seed?: number;
  maxExamples?: number;
  /** which dataset's templates (default: from meta.json or the folder name) */
  datasetName?: DatasetName;
}

/** The dataset a folder holds: meta.json's name, or a folder named <name> or quirky_<name>_raw. */
export function datasetNameOf(dir: string): DatasetName {
  const meta = join(dir, "meta.json");
  if (existsSync(meta)) {
    const name = JSON.parse(readFileSync(meta, "utf8")).name;
    if (isDatasetName(name)) return name;
  }
  const folder = basename(dir).replace(/^quirky_/, "").replace(/_raw$/, "");
  if (isDatasetName(folder)) return folder;
  throw new Error(`${dir}: cannot tell which quirky dataset this is (no meta.json, folder name '${basename(dir)}'); pass the dataset name`);
}

export async function loadExamples(datasetDir: string, opts: ExampleOptions): Promise<{ dataset: DatasetName; examples: TemplatizedExample[] }> {
  const dataset = opts.datasetName ?? datasetNameOf(datasetDir);
  const rows = filterDistribution(await readQuirkySplit(datasetDir, opts.split), opts.distribution);
  if (rows.length === 0) throw new Error(`${datasetDir}: split '${opts.split}' has no rows in distribution ${opts.distribution}`);
  new Rng(opts.seed ?? DEFAULTS.seed, `examples:${opts.distribution}:${opts.split}`).shuffle(rows);
  const picked = rows.slice(0, opts.maxExamples ?? rows.length);
  return { dataset, examples: templatize(picked, dataset, { method: opts.method ?? "first", standardized: opts.standardized, seed: opts.seed }) };
}
