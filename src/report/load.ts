/**
 * Reading an experiments folder for the report.
 *
 *   EXP/pgr.json                                              PGR tables (quirky tables)
 *   EXP/<model>/<dataset>/summary.json                        TransferSummary[] (quirky grid / quirky tables)
 *   EXP/<model>/<dataset>/<test>/test/<train>_random_aucs_against_<col>.json   random-direction baseline
 *   EXP/<model>/<dataset>/anomaly_<reporter>.json             anomaly detection AUROCs
 *   EXP/<model>/<dataset>/control/anomaly_<reporter>.json     the same on the model without its quirk (its control)
 *   EXP/<model>/<dataset>/intervention_<reporter>.json        intervention curves
 *   EXP/<model>/<dataset>/<dist>/<split>/meta.json            extracted states: model, adapter, rows, settings
 *   EXP/<model>/<dataset>/run-info.json                       quirky version, dataset settings, grid settings
 *
 * Every file is optional on its own (the figure that needs it is skipped), but a folder with none of them is an
 * error, and so is a file that is present but not what its name says.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { TransferSummary, PgrResult } from "../analysis/summary.ts";
import type { RandomBaselineResult } from "../probes/random-baseline.ts";
import { RUN_INFO_FILE, type RunInfo } from "../analysis/run-info.ts";
import { CONTROL_DIR } from "../analysis/anomaly-control.ts";
import { sortReporters } from "./figures/vega.ts";

export interface RunSummary {
  model: string;
  dataset: string;
  root: string;
  transfers: TransferSummary[];
}

export interface RandomBaselineRun {
  model: string;
  dataset: string;
  train: string;
  test: string;
  labelCol: string;
  layers: RandomBaselineResult[];
}

export interface AnomalyResult {
  detector: string;
  auroc: number;
  lo: number;
  hi: number;
  nNormal: number;
  nAnomalous: number;
}

export interface AnomalyRun {
  model: string;
  dataset: string;
  reporter: string;
  results: AnomalyResult[];
  /** the same detectors on the model without its quirk (`control/anomaly_<reporter>.json`), where the run has one */
  control?: AnomalyResult[];
}

export interface InterventionRun {
  model: string;
  dataset: string;
  reporter: string;
  layers: { layer: number; clean: { alice: number; bob: number }; intervened: { alice: number; bob: number } }[];
}

/** What one extracted states folder records about how it was made (its meta.json, without the per-example arrays). */
export interface StatesRecord {
  distribution: string;
  split: string;
  n: number;
  layers: number;
  d: number;
  model: string;
  adapter: string | null;
  /** content fingerprint of the model's and adapter's files (provenance.inputs.model) */
  modelFingerprint: string | null;
  settings: Record<string, unknown>;
}

/** How the results of one (model, dataset) were made: its states' records and run-info.json (null if absent). */
export interface RunProvenance {
  model: string;
  dataset: string;
  states: StatesRecord[];
  runInfo: RunInfo | null;
}

export interface ExperimentData {
  expDir: string;
  models: string[];
  datasets: string[];
  runs: RunSummary[];
  pgr: PgrResult[] | null;
  random: RandomBaselineRun[];
  anomaly: AnomalyRun[];
  intervention: InterventionRun[];
  provenance: RunProvenance[];
}

/** JSON writes NaN as null; read numbers back as NaN so a missing value stays a number. */
export const num = (v: unknown): number => (typeof v === "number" ? v : NaN);

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`${path}: cannot read (${(err as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function invalid(path: string, what: string): never {
  throw new Error(`${path}: not ${what}`);
}

function checkSummary(path: string, v: unknown): TransferSummary[] {
  if (!Array.isArray(v)) invalid(path, "a transfer summary (expected a JSON array of { reporter, train, test, curves, lm, eil, atEil })");
  v.forEach((t, i) => {
    if (!isObj(t) || typeof t.reporter !== "string" || typeof t.train !== "string" || typeof t.test !== "string" || !isObj(t.curves) || !isObj(t.lm)) {
      invalid(path, `a transfer summary (entry ${i} lacks reporter/train/test/curves/lm)`);
    }
    for (const col of ["label", "alice", "bob"]) {
      const c = (t.curves as Record<string, unknown>)[col];
      if (!isObj(c) || !["all", "agree", "disagree"].every((s) => Array.isArray(c[s]))) invalid(path, `a transfer summary (entry ${i}: curves.${col} needs all/agree/disagree arrays)`);
    }
  });
  return v as TransferSummary[];
}

function checkPgr(path: string, v: unknown): PgrResult[] {
  if (!Array.isArray(v)) invalid(path, "a PGR table (expected a JSON array of { transfer, reporter, perDataset, overall })");
  v.forEach((r, i) => {
    if (!isObj(r) || typeof r.transfer !== "string" || typeof r.reporter !== "string" || !isObj(r.perDataset) || !isObj(r.overall)) {
      invalid(path, `a PGR table (entry ${i} lacks transfer/reporter/perDataset/overall)`);
    }
  });
  return v as PgrResult[];
}

function checkRandom(path: string, v: unknown): Omit<RandomBaselineRun, "model" | "dataset"> {
  if (!isObj(v) || !Array.isArray(v.layers)) invalid(path, "a random-baseline result (expected { train, test, labelCol, layers: [{ mean, quantiles }] })");
  v.layers.forEach((l: unknown, i: number) => {
    if (!isObj(l) || !Array.isArray(l.quantiles)) invalid(path, `a random-baseline result (layer ${i} has no quantiles)`);
  });
  return { train: String(v.train), test: String(v.test), labelCol: String(v.labelCol ?? "alice"), layers: v.layers as RandomBaselineResult[] };
}

function checkAnomaly(path: string, v: unknown): Omit<AnomalyRun, "model" | "dataset" | "reporter"> & { reporter?: string } {
  if (!isObj(v) || !Array.isArray(v.results)) invalid(path, "an anomaly-detection result (expected { reporter, results: [{ detector, auroc, lo, hi, nNormal, nAnomalous }] })");
  v.results.forEach((r: unknown, i: number) => {
    if (!isObj(r) || typeof r.detector !== "string") invalid(path, `an anomaly-detection result (result ${i} has no detector)`);
  });
  return { reporter: typeof v.reporter === "string" ? v.reporter : undefined, results: v.results as AnomalyResult[] };
}

const ANOMALY_FILE = /^anomaly_(.+)\.json$/;

/** One anomaly_<reporter>.json, checked; `fallback` names the reporter when the file does not. */
function readAnomalyFile(path: string, fallback: string): { reporter: string; results: AnomalyResult[] } {
  const a = checkAnomaly(path, readJson(path));
  return { reporter: a.reporter ?? fallback, results: a.results };
}

/** The anomaly-detection results of one experiment folder (`<model>/<dataset>/anomaly_<reporter>.json`), checked, in the reporters' table order. */
export function readAnomalyResults(root: string): { reporter: string; results: AnomalyResult[] }[] {
  if (!existsSync(root)) return [];
  const runs = readdirSync(root).flatMap((name) => {
    const m = name.match(ANOMALY_FILE);
    return m ? [readAnomalyFile(join(root, name), m[1])] : [];
  });
  const order = sortReporters(runs.map((r) => r.reporter));
  return runs.sort((a, b) => order.indexOf(a.reporter) - order.indexOf(b.reporter));
}

function checkIntervention(path: string, v: unknown): InterventionRun["layers"] {
  if (!isObj(v) || !Array.isArray(v.layers)) invalid(path, "an intervention result (expected { reporter, layers: [{ layer, clean, intervened }] })");
  v.layers.forEach((l: unknown, i: number) => {
    if (!isObj(l) || typeof l.layer !== "number" || !isObj(l.clean) || !isObj(l.intervened)) invalid(path, `an intervention result (entry ${i} lacks layer/clean/intervened)`);
  });
  return v.layers as InterventionRun["layers"];
}

function checkStates(path: string, v: unknown): StatesRecord | null {
  if (!isObj(v)) invalid(path, "a states meta.json (expected an object)");
  if (v.complete !== true) return null; // an extraction still under way
  if (typeof v.n !== "number" || typeof v.model !== "string") invalid(path, "a states meta.json (no n or model)");
  const inputs = isObj(v.provenance) && isObj(v.provenance.inputs) ? v.provenance.inputs : {};
  return {
    distribution: String(v.distribution),
    split: String(v.split),
    n: v.n,
    layers: num(v.layers),
    d: num(v.d),
    model: v.model,
    adapter: typeof v.adapter === "string" ? v.adapter : null,
    modelFingerprint: typeof inputs.model === "string" ? inputs.model : null,
    settings: isObj(v.settings) ? v.settings : {},
  };
}

function checkRunInfo(path: string, v: unknown): RunInfo {
  if (!isObj(v) || typeof v.quirky !== "string" || !isObj(v.grid) || !(v.dataset === null || isObj(v.dataset))) invalid(path, "a run-info.json (expected { quirky, dataset, grid })");
  return v as unknown as RunInfo;
}

/** pgr.json of an experiments folder, checked (null when there is none). */
export function readPgr(expDir: string): PgrResult[] | null {
  const path = join(expDir, "pgr.json");
  return existsSync(path) ? checkPgr(path, readJson(path)) : null;
}

const isDir = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

const RANDOM_RE = /^(.+)_random_aucs_against_(label|alice|bob)\.json$/;

/** Everything the report can show from an experiments folder; throws a clear error when there is nothing. */
export function loadExperiments(expDir: string): ExperimentData {
  if (!existsSync(expDir)) throw new Error(`${expDir}: no such folder`);
  if (!isDir(expDir)) throw new Error(`${expDir}: not a folder (expected an experiments folder EXP/<model>/<dataset>/…)`);
  const data = emptyData(expDir);
  data.pgr = readPgr(expDir);

  const models = new Set<string>();
  const datasets = new Set<string>();
  for (const { model, dataset } of listRuns(expDir)) {
    if (readRun(expDir, model, dataset, data)) {
      models.add(model);
      datasets.add(dataset);
    }
  }
  if (data.runs.length === 0 && !data.pgr && data.random.length === 0 && data.anomaly.length === 0 && data.intervention.length === 0) {
    throw new Error(
      `${expDir}: no experiment results found. Expected an experiments folder laid out as <model>/<dataset>/summary.json ` +
        `(written by 'quirky grid' or 'quirky tables'), with pgr.json at the top ('quirky tables').`,
    );
  }
  data.models = [...models];
  data.datasets = [...datasets];
  return data;
}

/** The <model>/<dataset> folders of an experiments folder (names only: nothing is read). */
export function listRuns(expDir: string): { model: string; dataset: string }[] {
  const out: { model: string; dataset: string }[] = [];
  for (const model of readdirSync(expDir).sort()) {
    const mdir = join(expDir, model);
    if (model.startsWith(".") || !isDir(mdir)) continue;
    for (const dataset of readdirSync(mdir).sort()) {
      if (!dataset.startsWith(".") && isDir(join(mdir, dataset))) out.push({ model, dataset });
    }
  }
  return out;
}

/** An empty ExperimentData to read runs into. */
export const emptyData = (expDir: string): ExperimentData => ({ expDir, models: [], datasets: [], runs: [], pgr: null, random: [], anomaly: [], intervention: [], provenance: [] });

/**
 * Read one (model, dataset) folder's results into `data` (its summary, random baselines, anomaly and intervention
 * results, provenance); false when it holds none.
 */
export function readRun(expDir: string, model: string, dataset: string, data: ExperimentData): boolean {
  const root = join(expDir, model, dataset);
  let found = false;
  const made: RunProvenance = { model, dataset, states: [], runInfo: null };
  const summaryPath = join(root, "summary.json");
  if (existsSync(summaryPath)) {
    data.runs.push({ model, dataset, root, transfers: checkSummary(summaryPath, readJson(summaryPath)) });
    found = true;
  }
  for (const name of readdirSync(root).sort()) {
    // Vega-Lite specs of a report written inside the experiments folder (the demo's EXP/report/specs/)
    if (name.endsWith(".vl.json")) continue;
    const path = join(root, name);
    let m: RegExpMatchArray | null;
    if ((m = name.match(ANOMALY_FILE))) {
      const controlPath = join(root, CONTROL_DIR, name);
      const control = existsSync(controlPath) ? { control: readAnomalyFile(controlPath, m[1]).results } : {};
      data.anomaly.push({ model, dataset, ...readAnomalyFile(path, m[1]), ...control });
      found = true;
    } else if ((m = name.match(/^intervention_(.+)\.json$/))) {
      const v = readJson(path);
      data.intervention.push({ model, dataset, reporter: isObj(v) && typeof v.reporter === "string" ? v.reporter : m[1], layers: checkIntervention(path, v) });
      found = true;
    } else if (name === RUN_INFO_FILE) {
      made.runInfo = checkRunInfo(path, readJson(path));
    } else if (isDir(path)) {
      // a distribution's folder: its states (validation, test) and, under test/, random baselines
      for (const split of ["validation", "test"]) {
        const meta = join(path, split, "meta.json");
        const rec = existsSync(meta) ? checkStates(meta, readJson(meta)) : null;
        if (rec) made.states.push(rec);
      }
      if (!isDir(join(path, "test"))) continue;
      for (const f of readdirSync(join(path, "test")).sort()) {
        if (!RANDOM_RE.test(f)) continue;
        const p = join(path, "test", f);
        data.random.push({ model, dataset, ...checkRandom(p, readJson(p)) });
        found = true;
      }
    }
  }
  if (found) data.provenance.push(made);
  return found;
}
