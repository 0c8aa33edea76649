/**
 * `quirky run CONFIG`: every stage for every (model, dataset) of a config file — datasets, the standard grid,
 * anomaly detection, interventions, tables and the report — skipping what is done, resuming what was
 * interrupted, and splitting the grid across SLURM array tasks with `--shard i/n`.
 *
 * Units of work are (model, dataset, reporter); unit k belongs to shard k mod n. The finishing steps (anomaly,
 * interventions, tables, report) run in whichever shard finds every unit done, so shards run one after the
 * other — or at the same time — leave exactly the files one unsharded run leaves.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { writeDataset, type CreateOptions } from "../datasets/create.ts";
import { isDatasetName, type DatasetName } from "../datasets/schema.ts";
import { datasetNameOf, loadExamples } from "../extract/examples.ts";
import { loadModel } from "../model/load.ts";
import { mergeLora, readPeftAdapter } from "../model/lora.ts";
import { loadTokenizer } from "../model/tokenizer.ts";
import type { Transformer } from "../model/transformer.ts";
import { anomalyFromRoot } from "../analysis/anomaly.ts";
import { ALL_REPORTERS, runGrid, standardGrid } from "../analysis/grid.ts";
import { interventionExperiment, probesFromRoot, writeInterventionResults } from "../analysis/intervene.ts";
import { experimentRoots, pgrTables, summarizeRoot } from "../analysis/summary.ts";
import { metricsFile, randomFile, testDirOf, type GridReporter } from "../analysis/transfer.ts";
import { renderReport } from "../report/index.ts";

export interface RunConfig {
  /** experiments folder (results go to out/<model>/<dataset>/, datasets to out/datasets/, the report to out/report/) */
  out: string;
  models: { path: string; adapter?: string; name?: string }[];
  /** a dataset folder, or a dataset to create: { create: "addition", options: {...} } */
  datasets: ({ path: string } | { create: DatasetName; options?: CreateOptions & { source?: string } })[];
  reporters?: GridReporter[];
  maxTrain?: number;
  maxTest?: number;
  method?: "first" | "random";
  batchSize?: number;
  randomSamples?: number;
  seed?: number;
  /** probe whose per-layer outputs feed anomaly detection (false: skip) */
  anomaly?: { reporter: string } | false;
  /** probe to intervene with (false: skip) */
  interventions?: { reporter: string; train: string; test: string; maxExamples?: number } | false;
  report?: boolean;
}

export class ConfigFileError extends Error {}

/** Read and validate a run config (JSON); relative paths are relative to the config file. */
export function readRunConfig(path: string): RunConfig {
  if (!existsSync(path)) throw new ConfigFileError(`${path}: config file not found`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new ConfigFileError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  return validateRunConfig(raw, path, dirname(resolve(path)));
}

export function validateRunConfig(raw: unknown, where: string, base = "."): RunConfig {
  const fail = (msg: string): never => {
    throw new ConfigFileError(`${where}: ${msg}`);
  };
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) fail("expected a JSON object with out, models and datasets");
  const c = raw as Record<string, unknown>;
  const known = ["out", "models", "datasets", "reporters", "maxTrain", "maxTest", "method", "batchSize", "randomSamples", "seed", "anomaly", "interventions", "report"];
  for (const k of Object.keys(c)) if (!known.includes(k)) fail(`unknown key '${k}' (known: ${known.join(", ")})`);
  if (typeof c.out !== "string") fail("'out' must be a folder path");
  const abs = (p: string) => (isAbsolute(p) ? p : join(base, p));
  if (!Array.isArray(c.models) || c.models.length === 0) fail("'models' must be a non-empty list of { path, adapter?, name? }");
  const models = (c.models as Record<string, unknown>[]).map((m, i) => {
    if (!m || typeof m.path !== "string") fail(`models[${i}] needs a 'path' (a Hugging Face model folder)`);
    if (m.adapter !== undefined && typeof m.adapter !== "string") fail(`models[${i}].adapter must be a folder path`);
    return { path: abs(m.path as string), adapter: m.adapter ? abs(m.adapter as string) : undefined, name: m.name as string | undefined };
  });
  if (!Array.isArray(c.datasets) || c.datasets.length === 0) fail("'datasets' must be a non-empty list of { path } or { create: NAME, options? }");
  const datasets = (c.datasets as Record<string, unknown>[]).map((d, i) => {
    if (d && typeof d.path === "string") return { path: abs(d.path) };
    if (d && typeof d.create === "string") {
      if (!isDatasetName(d.create)) fail(`datasets[${i}].create: unknown dataset '${d.create}'`);
      return { create: d.create as DatasetName, options: (d.options ?? {}) as CreateOptions };
    }
    return fail(`datasets[${i}] needs 'path' or 'create'`);
  });
  if (c.reporters !== undefined) {
    if (!Array.isArray(c.reporters)) fail("'reporters' must be a list");
    for (const r of c.reporters as string[]) if (!(ALL_REPORTERS as string[]).includes(r)) fail(`unknown reporter '${r}' (known: ${ALL_REPORTERS.join(", ")})`);
  }
  for (const k of ["maxTrain", "maxTest", "batchSize", "randomSamples", "seed"]) {
    if (c[k] !== undefined && !(Number.isInteger(c[k]) && (c[k] as number) > 0)) fail(`'${k}' must be a positive integer`);
  }
  if (c.method !== undefined && c.method !== "first" && c.method !== "random") fail("'method' must be 'first' or 'random'");
  return { ...(c as unknown as RunConfig), out: abs(c.out as string), models, datasets };
}

export interface Shard {
  index: number;
  count: number;
}

/**
 * `i/n`, or the SLURM array variables (index = SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of
 * SLURM_ARRAY_TASK_COUNT shards), or the whole run. A task outside 0..n−1 is an error, never an empty shard.
 */
export function parseShard(spec: string | undefined, env: NodeJS.ProcessEnv = process.env): Shard {
  if (spec !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
    if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new Error(`--shard ${spec}: expected i/n with 0 ≤ i < n, e.g. 0/4`);
    return { index: Number(m[1]), count: Number(m[2]) };
  }
  if (env.SLURM_ARRAY_TASK_ID === undefined) return { index: 0, count: 1 };
  const whole = (name: string, fallback?: number) => {
    const v = env[name];
    if (v === undefined && fallback !== undefined) return fallback;
    if (v === undefined || !/^\d+$/.test(v)) throw new Error(`${name}=${v ?? "(unset)"}: expected a whole number from SLURM (or pass --shard i/n)`);
    return Number(v);
  };
  const id = whole("SLURM_ARRAY_TASK_ID");
  const count = whole("SLURM_ARRAY_TASK_COUNT");
  const min = whole("SLURM_ARRAY_TASK_MIN", 0);
  if (count < 1 || id - min < 0 || id - min >= count) {
    throw new Error(`SLURM array task ${id} (lowest ${min}, ${count} tasks) is not one of shards 0..${count - 1}: submit the array as --array=0-${count - 1}, as quirky slurm writes it`);
  }
  return { index: id - min, count };
}

const modelName = (m: RunConfig["models"][number]) => m.name ?? (m.adapter ? `${basename(m.path)}__${basename(m.adapter)}` : basename(m.path));

async function loadOne(m: RunConfig["models"][number]): Promise<Transformer> {
  const model = loadModel(m.path);
  if (m.adapter) await mergeLora(model, readPeftAdapter(m.adapter, model));
  return model;
}

/** Dataset folders of the config (creating those that must be created). */
async function datasetDirs(cfg: RunConfig): Promise<string[]> {
  const out: string[] = [];
  for (const d of cfg.datasets) {
    if ("path" in d) out.push(d.path);
    else out.push((await writeDataset(join(cfg.out, "datasets"), d.create, d.options)).dir);
  }
  return out;
}

function unitDone(root: string, reporter: GridReporter): boolean {
  return standardGrid([reporter]).every((s) =>
    s.tests.every((t) => existsSync(join(testDirOf(root, t), s.reporter === "random" ? randomFile(s.train, s.labelCol) : metricsFile(s.train, s.reporter)))),
  );
}

export async function runConfig(cfg: RunConfig, shard: Shard = { index: 0, count: 1 }, log: (m: string) => void = () => {}): Promise<{ units: number; mine: number; finished: boolean }> {
  const dsDirs = await datasetDirs(cfg);
  const reporters = cfg.reporters ?? ALL_REPORTERS;
  const units: { m: number; d: number; reporter: GridReporter }[] = [];
  cfg.models.forEach((_, m) => dsDirs.forEach((_, d) => reporters.forEach((reporter) => units.push({ m, d, reporter }))));
  const rootOf = (m: number, d: number) => join(cfg.out, modelName(cfg.models[m]), datasetNameOf(dsDirs[d]));
  const mine = units.filter((_, k) => k % shard.count === shard.index);

  let loaded: { m: number; model: Transformer } | undefined;
  const modelFor = async (m: number) => {
    if (loaded?.m !== m) loaded = { m, model: await loadOne(cfg.models[m]) };
    return loaded.model;
  };
  for (const u of mine) {
    const root = rootOf(u.m, u.d);
    if (unitDone(root, u.reporter)) continue;
    log(`grid ${modelName(cfg.models[u.m])} × ${datasetNameOf(dsDirs[u.d])} × ${u.reporter}`);
    await runGrid({
      model: await modelFor(u.m), tokenizer: loadTokenizer(cfg.models[u.m].path), modelName: modelName(cfg.models[u.m]), adapterName: cfg.models[u.m].adapter ?? null,
      datasetDir: dsDirs[u.d], root, reporters: [u.reporter], maxTrain: cfg.maxTrain, maxTest: cfg.maxTest, method: cfg.method, batchSize: cfg.batchSize,
      randomSamples: cfg.randomSamples, seed: cfg.seed, onProgress: (msg) => log(msg),
    });
  }
  // finish when every unit of every shard is done
  const finished = units.every((u) => unitDone(rootOf(u.m, u.d), u.reporter));
  if (!finished) return { units: units.length, mine: mine.length, finished };
  for (let m = 0; m < cfg.models.length; m++) {
    for (let d = 0; d < dsDirs.length; d++) {
      const root = rootOf(m, d);
      if (cfg.anomaly !== false) {
        const reporter = cfg.anomaly?.reporter ?? "lr";
        if (reporters.includes(reporter as GridReporter) && !existsSync(join(root, `anomaly_${reporter}.json`))) anomalyFromRoot(root, reporter, undefined, { seed: cfg.seed });
      }
      if (cfg.interventions !== false) {
        const iv = cfg.interventions ?? { reporter: "mean-diff", train: "A", test: "B" };
        if (reporters.includes(iv.reporter as GridReporter) && !existsSync(join(root, `intervention_${iv.reporter}.json`))) {
          log(`interventions ${modelName(cfg.models[m])} × ${datasetNameOf(dsDirs[d])}`);
          const model = await modelFor(m);
          const { examples } = await loadExamples(dsDirs[d], { distribution: iv.test as never, split: "test", method: cfg.method ?? "first", seed: cfg.seed ?? 633, maxExamples: iv.maxExamples ?? cfg.maxTest ?? 1000 });
          const results = await interventionExperiment(model, loadTokenizer(cfg.models[m].path), examples, probesFromRoot(root, iv.reporter, iv.train));
          writeInterventionResults(root, iv.reporter, results);
        }
      }
      writeFileAtomic(join(root, "summary.json"), JSON.stringify(summarizeRoot(root), null, 1) + "\n");
    }
  }
  const tables = pgrTables(cfg.out);
  writeFileAtomic(join(cfg.out, "pgr.json"), JSON.stringify(tables, null, 1) + "\n");
  if (cfg.report !== false && experimentRoots(cfg.out).length > 0) await renderReport(cfg.out, join(cfg.out, "report"));
  return { units: units.length, mine: mine.length, finished };
}
