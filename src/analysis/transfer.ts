/**
 * Transfer experiments: fit a reporter on one distribution's states, layer by layer, and evaluate it on others.
 *
 *   <root>/<train>/validation/   states the reporter is fitted on (≤ 4000 examples by default), and the fitted
 *       <reporter>_reporters_<col>.json              reporters (one per layer) fitted against label column <col>
 *   <root>/<test>/test/          states it is evaluated on (≤ 1000); outputs go here:
 *       <train>_<reporter>[_against_<col>]_log_odds.safetensors   [L, n] probe log-odds
 *       <train>_<reporter>[_against_<col>]_metrics.json           per layer (and for the LM's own output): AUROC
 *                                                    against label / alice / bob on all / agree / disagree examples
 *       <train>_random_aucs_against_<col>.json        for the random baseline: per layer, mean and quantiles on
 *                                                    all test examples, and under `subsets` on agree / disagree
 *   (`_against_<col>` only when fitted against alice's or bob's labels instead of each context's own.)
 *
 * Every output records its provenance (the states' fingerprints and the settings it was computed with) and is
 * reused only when that matches; it is written atomically, so a killed grid resumes.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULTS } from "../defaults.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { provenance, reuseCached, type Provenance } from "../util/provenance.ts";
import { readSafetensorsHeader, writeSafetensors } from "../model/safetensors.ts";
import { readLayer, readLmLogOddsIfAny, readStatesMeta, type StatesMeta } from "../extract/states.ts";
import { evalRandomBaseline, fitReporter, reporterFromJSON, usesPairs, type Reporter, type ReporterName } from "../probes/index.ts";
import { bySubset, metricTable, subsetMask, type LabelColumn, type MetricTable } from "./metrics.ts";
import type { RandomBaselineResult } from "../probes/random-baseline.ts";

export interface TransferSpec {
  reporter: ReporterName;
  train: string;
  tests: string[];
  /** which labels the reporter is fitted against */
  labelCol: LabelColumn;
}

export interface TransferMetrics {
  reporter: ReporterName;
  train: string;
  test: string;
  labelCol: LabelColumn;
  layers: MetricTable[];
  lm: MetricTable;
  provenance: Provenance;
}

export interface TransferOptions {
  /** layer l's reporter is fitted with seed + l */
  seed?: number;
  /** random directions of the random baseline */
  randomSamples?: number;
  /** recompute outputs computed from other inputs instead of refusing */
  force?: boolean;
  onProgress?: (msg: string) => void;
}

export const trainDirOf = (root: string, dist: string) => join(root, dist, "validation");
export const testDirOf = (root: string, dist: string) => join(root, dist, "test");
const stem = (train: string, reporter: string, col: LabelColumn) => (col === "label" ? `${train}_${reporter}` : `${train}_${reporter}_against_${col}`);
export const metricsFile = (train: string, reporter: string, col: LabelColumn = "label") => `${stem(train, reporter, col)}_metrics.json`;
export const logOddsFile = (train: string, reporter: string, col: LabelColumn = "label") => `${stem(train, reporter, col)}_log_odds.safetensors`;
export const randomFile = (train: string, col: LabelColumn) => `${train}_random_aucs_against_${col}.json`;
export const reportersFile = (reporter: string, col: LabelColumn) => `${reporter}_reporters_${col}.json`;

function labelsOf(meta: StatesMeta, col: LabelColumn): Uint8Array {
  return Uint8Array.from(col === "label" ? meta.labels : col === "alice" ? meta.alice_labels : meta.bob_labels);
}

/** Throws `<what>, row <r> (value <v>)` at the first non-finite value of a (rows, cols) array. */
function checkFinite(data: ArrayLike<number>, cols: number, what: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new Error(`${what}, row ${Math.floor(i / cols)} (value ${data[i]})`);
  }
}

function checkCompatible(train: StatesMeta, test: StatesMeta, trainDir: string, testDir: string): void {
  if (train.layers !== test.layers) throw new Error(`${testDir}: ${test.layers} layers, but the reporter was trained on ${train.layers} (${trainDir}); extract both with the same model`);
  if (train.d !== test.d) throw new Error(`${testDir}: hidden width ${test.d}, but the reporter was trained on width ${train.d} (${trainDir})`);
  if (train.model !== test.model || train.adapter !== test.adapter) throw new Error(`${testDir}: extracted with ${test.model}${test.adapter ? ` + ${test.adapter}` : ""}, train states with ${train.model}${train.adapter ? ` + ${train.adapter}` : ""}`);
}

/** The provenance a JSON output records: null when the file is absent, undefined when it records none. */
export function recordedProvenance(path: string): Provenance | undefined | null {
  if (!existsSync(path)) return null;
  try {
    return (JSON.parse(readFileSync(path, "utf8")) as { provenance?: Provenance }).provenance;
  } catch {
    return undefined; // unreadable: treated as computed from unknown inputs
  }
}

/** The fingerprint a log-odds file records in its safetensors metadata (null: absent). */
function recordedLogOdds(path: string): Provenance | undefined | null {
  if (!existsSync(path)) return null;
  const fp = readSafetensorsHeader(path).metadata.fingerprint;
  return fp ? { fingerprint: fp, inputs: {} } : undefined;
}

/** What a fitted reporter stack depends on: the train states, the reporter, its label column and seed. */
function reportersProvenance(trainMeta: StatesMeta, spec: TransferSpec, seed: number): Provenance {
  return provenance({ states: trainMeta.provenance.fingerprint, reporter: spec.reporter, labelCol: spec.labelCol, seed });
}

/** What one test's outputs depend on: the reporters (or, for the random baseline, its settings) and the test states. */
function testProvenance(trainMeta: StatesMeta, testMeta: StatesMeta, spec: TransferSpec, opts: TransferOptions): Provenance {
  const seed = opts.seed ?? DEFAULTS.seed;
  if (spec.reporter === "random") {
    return provenance({ train: trainMeta.provenance.fingerprint, test: testMeta.provenance.fingerprint, reporter: "random", labelCol: spec.labelCol, seed, samples: opts.randomSamples ?? DEFAULTS.randomSamples });
  }
  return provenance({ reporters: reportersProvenance(trainMeta, spec, seed).fingerprint, test: testMeta.provenance.fingerprint });
}

/** The files one transfer writes per test distribution, with the provenance each must record to count as done. */
export function transferOutputs(root: string, spec: TransferSpec, opts: TransferOptions = {}): { test: string; files: { path: string; wanted: Provenance; logOdds: boolean }[] }[] {
  const trainMeta = readStatesMeta(trainDirOf(root, spec.train));
  return spec.tests.map((test) => {
    const dir = testDirOf(root, test);
    const wanted = testProvenance(trainMeta, readStatesMeta(dir), spec, opts);
    if (spec.reporter === "random") return { test, files: [{ path: join(dir, randomFile(spec.train, spec.labelCol)), wanted, logOdds: false }] };
    return {
      test,
      files: [
        { path: join(dir, metricsFile(spec.train, spec.reporter, spec.labelCol)), wanted, logOdds: false },
        { path: join(dir, logOddsFile(spec.train, spec.reporter, spec.labelCol)), wanted, logOdds: true },
      ],
    };
  });
}

/** Whether every output of the transfer exists and was computed from the current states and settings. */
export function transferDone(root: string, spec: TransferSpec, opts: TransferOptions = {}): boolean {
  for (const d of [spec.train, ...spec.tests]) if (!existsSync(join(d === spec.train ? trainDirOf(root, d) : testDirOf(root, d), "meta.json"))) return false;
  return transferOutputs(root, spec, opts).every((t) => t.files.every((f) => (f.logOdds ? recordedLogOdds(f.path) : recordedProvenance(f.path))?.fingerprint === f.wanted.fingerprint));
}

/** Fit (or reload) one reporter per layer on the train distribution. */
async function fitOrLoad(root: string, spec: TransferSpec, trainMeta: StatesMeta, opts: TransferOptions): Promise<Reporter[]> {
  const dir = trainDirOf(root, spec.train);
  const file = join(dir, reportersFile(spec.reporter, spec.labelCol));
  const seed = opts.seed ?? DEFAULTS.seed;
  const wanted = reportersProvenance(trainMeta, spec, seed);
  if (reuseCached(file, recordedProvenance(file), wanted, opts.force)) {
    return (JSON.parse(readFileSync(file, "utf8")) as { reporters: unknown[] }).reporters.map(reporterFromJSON);
  }
  const y = labelsOf(trainMeta, spec.labelCol);
  const kind = usesPairs(spec.reporter) ? "pair" : "hiddens";
  const reporters: Reporter[] = [];
  for (let l = 0; l < trainMeta.layers; l++) {
    opts.onProgress?.(`fit ${spec.reporter} on ${spec.train} layer ${l + 1}/${trainMeta.layers}`);
    const x = readLayer(dir, kind, l);
    checkFinite(x.data, x.cols, `${dir}: non-finite activation at layer ${l}`);
    reporters.push(await fitReporter(spec.reporter, x, y, { seed: seed + l }));
  }
  writeFileAtomic(file, JSON.stringify({ provenance: wanted, reporters: reporters.map((r) => r.toJSON()) }));
  return reporters;
}

/** Run one transfer: every test's outputs that are missing are computed; stale ones refused (or, with force, recomputed). */
export async function runTransfer(root: string, spec: TransferSpec, opts: TransferOptions = {}): Promise<void> {
  const seed = opts.seed ?? DEFAULTS.seed;
  const trainDir = trainDirOf(root, spec.train);
  const trainMeta = readStatesMeta(trainDir);
  for (const test of spec.tests) checkCompatible(trainMeta, readStatesMeta(testDirOf(root, test)), trainDir, testDirOf(root, test));
  if (spec.reporter !== "random") {
    // fitted reporters from other states or settings: refused here, naming the setting, before their outputs are
    const file = join(trainDir, reportersFile(spec.reporter, spec.labelCol));
    reuseCached(file, recordedProvenance(file), reportersProvenance(trainMeta, spec, seed), opts.force);
  }
  const pending = transferOutputs(root, spec, opts).filter((t) =>
    !t.files.every((f) => reuseCached(f.path, f.logOdds ? recordedLogOdds(f.path) : recordedProvenance(f.path), f.wanted, opts.force)),
  );
  if (pending.length === 0) return;

  if (spec.reporter === "random") {
    const trainY = labelsOf(trainMeta, spec.labelCol);
    for (const { test, files } of pending) {
      const testDir = testDirOf(root, test);
      const testMeta = readStatesMeta(testDir);
      const testY = labelsOf(testMeta, spec.labelCol);
      const testLabels = { label: testMeta.labels, alice: testMeta.alice_labels, bob: testMeta.bob_labels };
      const perLayer: RandomBaselineResult[] = []; // per layer; `subsets` holds agree / disagree
      for (let l = 0; l < trainMeta.layers; l++) {
        opts.onProgress?.(`random ${spec.train}→${test} layer ${l + 1}/${trainMeta.layers}`);
        const xtr = readLayer(trainDir, "hiddens", l);
        const xte = readLayer(testDir, "hiddens", l);
        checkFinite(xtr.data, xtr.cols, `${trainDir}: non-finite activation at layer ${l}`);
        checkFinite(xte.data, xte.cols, `${testDir}: non-finite activation at layer ${l}`);
        // the same directions scored on the agree / disagree rows too, so the report can set the median beside probe
        // curves on those subsets
        const rowsOf = (subset: "agree" | "disagree") => subsetMask(testLabels, subset).flatMap((keep, i) => (keep ? [i] : []));
        const subsets = { agree: rowsOf("agree"), disagree: rowsOf("disagree") };
        perLayer.push(await evalRandomBaseline(xtr, trainY, xte, testY, { numSamples: opts.randomSamples ?? DEFAULTS.randomSamples, seed: seed + l, subsets }));
      }
      writeFileAtomic(files[0].path, JSON.stringify({ train: spec.train, test, labelCol: spec.labelCol, layers: perLayer, provenance: files[0].wanted }));
    }
    return;
  }

  const reporters = await fitOrLoad(root, spec, trainMeta, opts);
  const kind = usesPairs(spec.reporter) ? "pair" : "hiddens";
  for (const { test, files } of pending) {
    const testDir = testDirOf(root, test);
    const meta = readStatesMeta(testDir);
    const lmLogOdds = readLmLogOddsIfAny(testDir); // null: imported without the LM's output
    if (lmLogOdds) checkFinite(lmLogOdds, 1, `${testDir}/states.safetensors: non-finite lm_log_odds`);
    const logOdds = new Float32Array(meta.layers * meta.n);
    const labels = { label: meta.labels, alice: meta.alice_labels, bob: meta.bob_labels };
    const layers: MetricTable[] = [];
    for (let l = 0; l < meta.layers; l++) {
      opts.onProgress?.(`${spec.reporter} ${spec.train}→${test} layer ${l + 1}/${meta.layers}`);
      const x = readLayer(testDir, kind, l);
      checkFinite(x.data, x.cols, `${testDir}: non-finite activation at layer ${l}`);
      const scores = reporters[l].predict(x);
      logOdds.set(scores, l * meta.n);
      layers.push(metricTable(scores, labels));
    }
    const wanted = files[0].wanted;
    const result: TransferMetrics = { reporter: spec.reporter, train: spec.train, test, labelCol: spec.labelCol, layers, lm: lmLogOdds ? metricTable(lmLogOdds, labels) : bySubset(() => null), provenance: wanted };
    // log-odds first, metrics last: the metrics file is what marks the test done
    const [metricsPath, logOddsPath] = files.map((f) => f.path);
    writeSafetensors(logOddsPath, new Map([["log_odds", { shape: [meta.layers, meta.n], data: logOdds }]]), { fingerprint: wanted.fingerprint });
    writeFileAtomic(metricsPath, JSON.stringify(result));
  }
}

export function readTransferMetrics(root: string, train: string, test: string, reporter: string, labelCol: LabelColumn = "label"): TransferMetrics | undefined {
  const f = join(testDirOf(root, test), metricsFile(train, reporter, labelCol));
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as TransferMetrics) : undefined;
}
