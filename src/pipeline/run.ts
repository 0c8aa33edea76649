/**
 * `quirky run CONFIG`: every stage for every (model, dataset) of a config file — datasets, the standard grid,
 * anomaly detection, interventions, tables and the report — skipping what is done, resuming what was
 * interrupted, and splitting the grid across SLURM array tasks with `--shard i/n`.
 *
 * Units of work are (model, dataset, reporter); unit k belongs to shard k mod n. Extractions are shared by a
 * dataset's units: each shard takes the ones no other process is extracting (a lock per states folder) and waits
 * for the rest. The finishing steps (anomaly, interventions, tables, report) run in the shard that, holding the
 * finish lock, finds every unit done; so shards run one after the other — or at the same time — leave exactly the
 * files one unsharded run leaves. Every result records what it was computed from, and one computed from other
 * inputs or settings is refused (or, with `force`, recomputed), never reused.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { DEFAULTS } from "../defaults.ts";
import { removeStaleTemps } from "../util/atomic.ts";
import { tryLock, withLock } from "../util/lock.ts";
import { writeDataset, type CreateOptions } from "../datasets/create.ts";
import { DISTRIBUTIONS, isDatasetName, type DatasetName, type Distribution } from "../datasets/schema.ts";
import type { TemplateMethod } from "../datasets/templatize.ts";
import { datasetNameOf, loadExamples } from "../extract/examples.ts";
import { modelName, openModel, sourceFingerprint, type ModelSource } from "../model/source.ts";
import { DEVICE_CHOICES, type DeviceChoice } from "../model/device.ts";
import type { TextTokenizer } from "../model/tokenizer.ts";
import type { Transformer } from "../model/transformer.ts";
import { DETECTORS, anomalyFromRoot, type DetectorName } from "../analysis/anomaly.ts";
import { extractForGrid, planExtractions, reporterDone, standardGrid, transferOptions, type GridOptions, type PlannedExtraction } from "../analysis/grid.ts";
import { anomalyControl } from "../analysis/anomaly-control.ts";
import { runIntervention } from "../analysis/intervene.ts";
import { experimentRoots, writeTables } from "../analysis/summary.ts";
import { runTransfer } from "../analysis/transfer.ts";
import { writeRunInfo } from "../analysis/run-info.ts";
import { REPORTER_NAMES, REPORTERS, type ReporterName } from "../probes/reporter.ts";
import { renderReport } from "../report/index.ts";

export interface RunConfig {
  /** experiments folder (results go to out/<model>/<dataset>/, datasets to out/datasets/, the report to out/report/) */
  out: string;
  /** `datasets`: run this model on these datasets only (by name), as a zoo pairs each adapter with its dataset; default all.
   * `control`: the same model without its quirk (for an adapter: the base alone), on which anomaly detection is run
   * again as its no-quirk control (analysis/anomaly-control.ts) */
  models: (ModelSource & { datasets?: DatasetName[]; control?: ModelSource })[];
  /** a dataset folder, or a dataset to create: { create: "addition", options: {...} } */
  datasets: ({ path: string } | { create: DatasetName; options?: CreateOptions })[];
  reporters?: ReporterName[];
  maxTrain?: number;
  maxTest?: number;
  method?: TemplateMethod;
  batchSize?: number;
  randomSamples?: number;
  seed?: number;
  /** probes whose per-layer outputs feed anomaly detection, one result per reporter (default: every fitted reporter
   * of the run, as the reference's run_anomaly.py loops over them; false: skip) */
  anomaly?: { reporters?: string[]; detectors?: DetectorName[]; bootstrap?: number } | false;
  /** probe to intervene with (false: skip) */
  interventions?: { reporter: string; train: string; test: string; maxExamples?: number } | false;
  report?: boolean;
  /** where the models' forward passes run: cpu, webgpu or auto (default: $QUIRKY_DEVICE, else cpu) */
  device?: DeviceChoice;
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

const TOP_KEYS = ["out", "models", "datasets", "reporters", "maxTrain", "maxTest", "method", "batchSize", "randomSamples", "seed", "anomaly", "interventions", "report", "device"];
const MODEL_KEYS = ["path", "adapter", "name", "datasets", "control"];
const CONTROL_KEYS = ["path", "adapter"];
const CREATE_OPTION_KEYS = ["seed", "baseExamples", "maxDigits", "distinctOperands", "source", "difficulties", "nValidation", "nTest"];
const ANOMALY_KEYS = ["reporters", "reporter", "detectors", "bootstrap"];
const INTERVENTION_KEYS = ["reporter", "train", "test", "maxExamples"];
/** the distributions the grid fits hidden-state reporters on */
const FITTED_ON = ["A", "B", "AE"];

/**
 * Validate a parsed config: every key at every level is known (unknown ones are listed with the known camelCase
 * names), values have their types and ranges, and cross references hold (anomaly and intervention reporters are
 * in `reporters`, model names are unique).
 */
export function validateRunConfig(raw: unknown, where: string, base = "."): RunConfig {
  const fail = (msg: string): never => {
    throw new ConfigFileError(`${where}: ${msg}`);
  };
  const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);
  const keys = (o: Record<string, unknown>, known: string[], at: string) => {
    for (const k of Object.keys(o)) if (!known.includes(k)) fail(`unknown key '${k}'${at ? ` in ${at}` : ""} (known: ${known.join(", ")})`);
  };
  const int = (v: unknown, at: string, min: number) => {
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= min)) fail(`'${at}' must be ${min === 0 ? "a whole number ≥ 0" : "a positive integer"}, got ${JSON.stringify(v)}`);
    return v as number | undefined;
  };
  const str = (v: unknown, at: string, what: string) => {
    if (v !== undefined && (typeof v !== "string" || v === "")) fail(`'${at}' must be ${what}, got ${JSON.stringify(v)}`);
    return v as string | undefined;
  };
  const abs = (p: string) => (isAbsolute(p) ? p : join(base, p));

  if (!isObject(raw)) return fail("expected a JSON object with out, models and datasets");
  const c = raw;
  keys(c, TOP_KEYS, "");
  if (typeof c.out !== "string" || c.out === "") fail("'out' must be a folder path");
  if (!Array.isArray(c.models) || c.models.length === 0) fail("'models' must be a non-empty list of { path, adapter?, name? }");
  /** a model folder and its optional adapter, paths made absolute */
  const source = (o: Record<string, unknown>, at: string): ModelSource => {
    const path = str(o.path, `${at}.path`, "a Hugging Face model folder") ?? fail(`${at} needs a 'path' (a Hugging Face model folder)`);
    const adapter = str(o.adapter, `${at}.adapter`, "a PEFT adapter folder");
    return { path: abs(path), ...(adapter ? { adapter: abs(adapter) } : {}) };
  };
  const models = (c.models as unknown[]).map((m, i): RunConfig["models"][number] => {
    if (!isObject(m)) return fail(`models[${i}] must be an object { path, adapter?, name? }`);
    keys(m, MODEL_KEYS, `models[${i}]`);
    const model = source(m, `models[${i}]`);
    const name = str(m.name, `models[${i}].name`, "a folder name");
    if (name !== undefined && !/^[\w.+-]+$/.test(name)) fail(`models[${i}].name '${name}' must be a plain folder name (letters, digits, . _ + -)`);
    const only = m.datasets;
    if (only !== undefined && (!Array.isArray(only) || only.length === 0 || !only.every((n) => typeof n === "string" && isDatasetName(n)))) {
      fail(`models[${i}].datasets must be a non-empty list of dataset names, got ${JSON.stringify(only)}`);
    }
    const cm = m.control;
    if (cm !== undefined && !isObject(cm)) fail(`models[${i}].control must be an object { path, adapter? }: the model without its quirk`);
    if (isObject(cm)) keys(cm, CONTROL_KEYS, `models[${i}].control`);
    const control = isObject(cm) ? source(cm, `models[${i}].control`) : undefined;
    return {
      ...model,
      ...(name ? { name } : {}),
      ...(only ? { datasets: only as DatasetName[] } : {}),
      ...(control ? { control } : {}),
    };
  });
  const names = models.map(modelName);
  names.forEach((n, i) => {
    const j = names.indexOf(n);
    if (j !== i) fail(`models[${j}] and models[${i}] would both write results to '${n}/': give them different 'name's`);
  });
  if (!Array.isArray(c.datasets) || c.datasets.length === 0) fail("'datasets' must be a non-empty list of { path } or { create: NAME, options? }");
  const datasets = (c.datasets as unknown[]).map((d, i): RunConfig["datasets"][number] => {
    if (!isObject(d)) return fail(`datasets[${i}] must be an object { path } or { create, options? }`);
    if (d.path !== undefined) {
      keys(d, ["path"], `datasets[${i}]`);
      return { path: abs(str(d.path, `datasets[${i}].path`, "a dataset folder")!) };
    }
    if (d.create === undefined) return fail(`datasets[${i}] needs 'path' or 'create'`);
    keys(d, ["create", "options"], `datasets[${i}]`);
    if (typeof d.create !== "string" || !isDatasetName(d.create)) fail(`datasets[${i}].create: unknown dataset ${JSON.stringify(d.create)}`);
    const o = d.options ?? {};
    if (!isObject(o)) fail(`datasets[${i}].options must be an object`);
    const opts = o as Record<string, unknown>;
    keys(opts, CREATE_OPTION_KEYS, `datasets[${i}].options`);
    int(opts.seed, `datasets[${i}].options.seed`, 0);
    for (const k of ["baseExamples", "maxDigits", "nValidation", "nTest"]) int(opts[k], `datasets[${i}].options.${k}`, 1);
    if (opts.distinctOperands !== undefined && typeof opts.distinctOperands !== "boolean") fail(`datasets[${i}].options.distinctOperands must be true or false`);
    for (const k of ["source", "difficulties"]) if (opts[k] !== undefined) opts[k] = abs(str(opts[k], `datasets[${i}].options.${k}`, "a file or folder path")!);
    return { create: d.create as DatasetName, options: opts as CreateOptions };
  });
  const created = datasets.flatMap((d) => ("create" in d ? [d.create] : []));
  created.forEach((n, i) => {
    if (created.indexOf(n) !== i) fail(`datasets: '${n}' is created twice (results of both would go to <model>/${n}/)`);
  });
  let reporters: ReporterName[] = [...REPORTER_NAMES];
  if (c.reporters !== undefined) {
    if (!Array.isArray(c.reporters) || c.reporters.length === 0) fail("'reporters' must be a non-empty list");
    for (const r of c.reporters as unknown[]) if (!(REPORTER_NAMES as unknown[]).includes(r)) fail(`unknown reporter '${String(r)}' (known: ${REPORTER_NAMES.join(", ")})`);
    reporters = [...new Set(c.reporters as ReporterName[])];
  }
  for (const k of ["maxTrain", "maxTest", "batchSize", "randomSamples"]) int(c[k], k, 1);
  int(c.seed, "seed", 0);
  if (c.method !== undefined && !["first", "random", "all"].includes(c.method as string)) fail(`'method' must be 'first', 'random' or 'all', got ${JSON.stringify(c.method)}`);
  if (c.report !== undefined && typeof c.report !== "boolean") fail("'report' must be true or false");
  if (c.device !== undefined && !(DEVICE_CHOICES as unknown[]).includes(c.device)) fail(`'device' must be one of ${DEVICE_CHOICES.join(", ")}, got ${JSON.stringify(c.device)}`);

  /** an optional section: false (skip the stage), absent (its default) or an object with known keys */
  const section = (v: unknown, at: string, known: string[]): Record<string, unknown> | false | undefined => {
    if (v === false || v === undefined) return v;
    if (!isObject(v)) return fail(`'${at}' must be false or { ${known.join(", ")} }`);
    keys(v, known, at);
    return v;
  };
  const oneOf = (v: string, allowed: readonly string[], what: string) => {
    if (!allowed.includes(v)) fail(`${what} (${allowed.join(", ")})`);
    return v;
  };

  const a = section(c.anomaly, "anomaly", ANOMALY_KEYS);
  const fitted = reporters.filter((r) => REPORTERS[r].fitted);
  let anomaly: RunConfig["anomaly"] = a === false || (a === undefined && fitted.length === 0) ? false : undefined; // default: every fitted reporter
  if (a) {
    if (a.reporter !== undefined && a.reporters !== undefined) fail("give 'anomaly.reporters' (a list) or 'anomaly.reporter' (one name), not both");
    if (a.reporters !== undefined && (!Array.isArray(a.reporters) || a.reporters.length === 0)) fail("'anomaly.reporters' must be a non-empty list of reporter names");
    const chosen = a.reporter !== undefined ? [str(a.reporter, "anomaly.reporter", "a reporter name")!] : (a.reporters as unknown[] | undefined)?.map(String);
    for (const r of chosen ?? []) oneOf(r, fitted, `anomaly reporter '${r}' must be one of the fitted reporters the run computes`);
    if (!chosen && fitted.length === 0) fail("anomaly detection needs a fitted reporter (lr, mean-diff, lda, ...) among the run's reporters");
    if (a.detectors !== undefined && (!Array.isArray(a.detectors) || a.detectors.length === 0)) fail("'anomaly.detectors' must be a non-empty list");
    for (const m of (a.detectors ?? []) as string[]) oneOf(String(m), DETECTORS, `anomaly.detectors: unknown detector '${m}'`);
    int(a.bootstrap, "anomaly.bootstrap", 1);
    anomaly = { ...(chosen ? { reporters: [...new Set(chosen)] } : {}), ...(a.detectors ? { detectors: a.detectors as DetectorName[] } : {}), ...(a.bootstrap ? { bootstrap: a.bootstrap as number } : {}) };
  }

  const v = section(c.interventions, "interventions", INTERVENTION_KEYS);
  let interventions: RunConfig["interventions"] = v === false || (v === undefined && !reporters.includes("mean-diff")) ? false : undefined; // the default uses mean-diff
  if (v) {
    const reporter = str(v.reporter, "interventions.reporter", "a reporter name") ?? "mean-diff";
    oneOf(reporter, REPORTER_NAMES.filter((r) => REPORTERS[r].steerable), `interventions.reporter '${reporter}' must read the residual stream`);
    oneOf(reporter, reporters, `interventions.reporter '${reporter}' is not among the run's reporters`);
    const train = oneOf(str(v.train, "interventions.train", "a distribution") ?? "A", FITTED_ON, `interventions.train '${v.train}' must be a distribution the grid fits on`);
    const test = oneOf(str(v.test, "interventions.test", "a distribution") ?? "B", DISTRIBUTIONS, `interventions.test '${v.test}' must be one of the distributions`);
    int(v.maxExamples, "interventions.maxExamples", 1);
    interventions = { reporter, train, test, ...(v.maxExamples ? { maxExamples: v.maxExamples as number } : {}) };
  }

  return {
    out: abs(c.out as string),
    models,
    datasets,
    reporters,
    ...(c.maxTrain !== undefined ? { maxTrain: c.maxTrain as number } : {}),
    ...(c.maxTest !== undefined ? { maxTest: c.maxTest as number } : {}),
    ...(c.method !== undefined ? { method: c.method as TemplateMethod } : {}),
    ...(c.batchSize !== undefined ? { batchSize: c.batchSize as number } : {}),
    ...(c.randomSamples !== undefined ? { randomSamples: c.randomSamples as number } : {}),
    ...(c.seed !== undefined ? { seed: c.seed as number } : {}),
    ...(anomaly !== undefined ? { anomaly } : {}),
    ...(interventions !== undefined ? { interventions } : {}),
    ...(c.report !== undefined ? { report: c.report as boolean } : {}),
    ...(c.device !== undefined ? { device: c.device as DeviceChoice } : {}),
  };
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

/** Dataset folders of the config, creating those that must be created (one shard at a time per dataset). */
async function datasetDirs(cfg: RunConfig, log: (m: string) => void): Promise<string[]> {
  const out: string[] = [];
  for (const d of cfg.datasets) {
    if ("path" in d) {
      if (!existsSync(d.path)) throw new ConfigFileError(`${d.path}: dataset folder not found`);
      out.push(d.path);
      continue;
    }
    const dir = join(cfg.out, "datasets");
    const made = await withLock(join(dir, `.${d.create}.lock`), () => writeDataset(dir, d.create, d.options), () => log(`waiting for another shard creating ${d.create}`));
    out.push(made.dir);
  }
  const names = out.map(datasetNameOf);
  names.forEach((n, i) => {
    if (names.indexOf(n) !== i) throw new ConfigFileError(`datasets[${names.indexOf(n)}] and datasets[${i}] are both '${n}': their results would share <model>/${n}/`);
  });
  return out;
}

export interface RunResult {
  units: number;
  mine: number;
  /** every unit is done and the tables and report are written (by this shard or another) */
  finished: boolean;
}

/** Run (this shard's part of) a config; with `force`, results computed from other inputs are recomputed instead of refused. */
export async function runConfig(cfg: RunConfig, shard: Shard = { index: 0, count: 1 }, log: (m: string) => void = () => {}, opts: { force?: boolean } = {}): Promise<RunResult> {
  removeStaleTemps(cfg.out); // leftovers of killed runs
  const dsDirs = await datasetDirs(cfg, log);
  const reporters = cfg.reporters ?? REPORTER_NAMES;
  const fingerprints = cfg.models.map(sourceFingerprint);
  // one model in memory at a time: a run's models, or a model's no-quirk control
  let opened: { key: string; model: Transformer; tokenizer: TextTokenizer } | undefined;
  const openSource = async (key: string, src: ModelSource, what: string) => {
    if (opened?.key !== key) {
      const previous = opened?.model;
      opened = undefined; // let the previous model go before loading the next, its device sessions first
      await previous?.release();
      log(`loading ${what}`);
      opened = { key, ...(await openModel({ ...src, device: cfg.device ?? src.device })) };
    }
    return opened;
  };
  const open = (m: number) => openSource(`model ${m}`, cfg.models[m], modelName(cfg.models[m]));
  const grid = (m: number, d: number, only?: ReporterName[]): GridOptions => ({
    open: () => open(m),
    modelFingerprint: fingerprints[m],
    modelName: modelName(cfg.models[m]),
    adapterName: cfg.models[m].adapter ?? null,
    datasetDir: dsDirs[d],
    root: join(cfg.out, modelName(cfg.models[m]), datasetNameOf(dsDirs[d])),
    reporters: only ?? reporters,
    maxTrain: cfg.maxTrain,
    maxTest: cfg.maxTest,
    method: cfg.method,
    batchSize: cfg.batchSize,
    randomSamples: cfg.randomSamples,
    seed: cfg.seed ?? DEFAULTS.seed,
    force: opts.force,
    onProgress: (msg, done, total) => log(done !== undefined && total !== undefined ? `${msg} ${done}/${total}` : msg),
    warn: log,
  });
  /** the model's no-quirk control on the same dataset and settings (results under the quirky experiment's root) */
  const controlFingerprints = new Map<string, string>(); // one hash of a control's files, however many models share it
  const controlGrid = (m: number, d: number): GridOptions | undefined => {
    const control = cfg.models[m].control;
    if (!control) return undefined;
    const key = `control ${control.path} ${control.adapter ?? ""}`;
    if (!controlFingerprints.has(key)) controlFingerprints.set(key, sourceFingerprint(control));
    return {
      ...grid(m, d),
      open: () => openSource(key, control, `${modelName(control)} (the no-quirk control of ${modelName(cfg.models[m])})`),
      modelFingerprint: controlFingerprints.get(key)!,
      modelName: modelName(control),
      adapterName: control.adapter ?? null,
    };
  };
  const plans = new Map<string, PlannedExtraction[]>();
  const planOf = async (m: number, d: number) => {
    const key = `${m}/${d}`;
    if (!plans.has(key)) plans.set(key, await planExtractions(grid(m, d)));
    return plans.get(key)!;
  };

  const dsNames = dsDirs.map(datasetNameOf);
  cfg.models.forEach((mc, m) => {
    const unknown = (mc.datasets ?? []).filter((n) => !dsNames.includes(n));
    if (unknown.length) throw new ConfigFileError(`models[${m}].datasets: ${unknown.join(", ")} not among the config's datasets (${dsNames.join(", ")})`);
  });
  /** the (model, dataset) pairs the run computes */
  const pairs: { m: number; d: number }[] = [];
  cfg.models.forEach((mc, m) => dsNames.forEach((n, d) => (!mc.datasets || mc.datasets.includes(n)) && pairs.push({ m, d })));
  const units: { m: number; d: number; reporter: ReporterName }[] = [];
  for (const { m, d } of pairs) for (const reporter of reporters) units.push({ m, d, reporter });
  const mine = units.filter((_, k) => k % shard.count === shard.index);
  for (const u of mine) {
    const g = grid(u.m, u.d, [u.reporter]);
    if (reporterDone(g, await planOf(u.m, u.d), u.reporter)) continue;
    log(`grid ${g.modelName} × ${datasetNameOf(dsDirs[u.d])} × ${u.reporter}`);
    // extract everything the dataset's units need, shared with the other shards, then this unit's transfers
    await extractForGrid(grid(u.m, u.d), await planOf(u.m, u.d), shard);
    for (const spec of standardGrid([u.reporter])) await runTransfer(g.root, spec, transferOptions(g));
  }

  const allDone = async () => {
    for (const u of units) if (!reporterDone(grid(u.m, u.d, [u.reporter]), await planOf(u.m, u.d), u.reporter)) return false;
    return true;
  };
  if (!(await allDone())) return { units: units.length, mine: mine.length, finished: false };
  // the finishing steps: one shard, which checks again holding the lock (a shard that wrote the last unit sees it)
  const lock = tryLock(join(cfg.out, ".finish.lock"));
  if (!lock) {
    log("another shard is writing the tables and the report");
    return { units: units.length, mine: mine.length, finished: true };
  }
  try {
    if (!(await allDone())) return { units: units.length, mine: mine.length, finished: false };
    for (const { m, d } of pairs) await finishRoot(cfg, grid(m, d), log, opts.force, cfg.anomaly !== false ? controlGrid(m, d) : undefined);
    writeTables(cfg.out);
    if (cfg.report !== false && experimentRoots(cfg.out).length > 0) await renderReport(cfg.out, join(cfg.out, "report"));
  } finally {
    lock.release();
  }
  return { units: units.length, mine: mine.length, finished: true };
}

/**
 * Anomaly detection (and its no-quirk control, when the model names one) and interventions of one finished
 * (model, dataset), and its run-info.json for the report.
 */
async function finishRoot(cfg: RunConfig, g: GridOptions, log: (m: string) => void, force?: boolean, control?: GridOptions): Promise<void> {
  writeRunInfo(g);
  if (cfg.anomaly !== false) {
    const a = cfg.anomaly ?? {};
    const reporters = (a.reporters ?? (cfg.reporters ?? REPORTER_NAMES).filter((r) => REPORTERS[r].fitted)) as ReporterName[];
    const settings = { seed: cfg.seed ?? DEFAULTS.seed, bootstrap: a.bootstrap, force };
    for (const reporter of reporters) anomalyFromRoot(g.root, reporter, a.detectors, settings);
    if (control) {
      log(`anomaly control ${g.modelName} × ${datasetNameOf(g.datasetDir)}: ${control.modelName} without the quirk`);
      await anomalyControl(control, reporters, a.detectors, settings);
    }
  }
  if (cfg.interventions !== false) {
    const iv = cfg.interventions ?? { reporter: "mean-diff", train: "A", test: "B" };
    const { examples } = await loadExamples(g.datasetDir, {
      distribution: iv.test as Distribution,
      split: "test",
      method: cfg.method ?? DEFAULTS.method,
      seed: cfg.seed ?? DEFAULTS.seed,
      maxExamples: iv.maxExamples ?? cfg.maxTest ?? DEFAULTS.maxTest,
    });
    log(`interventions ${g.modelName} × ${datasetNameOf(g.datasetDir)}`);
    await runIntervention({ root: g.root, open: g.open, modelFingerprint: g.modelFingerprint, examples, reporter: iv.reporter, train: iv.train, batchSize: cfg.batchSize, force });
  }
}
