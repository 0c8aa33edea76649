/**
 * Transfer experiments: fit a reporter on one distribution's states, layer by layer, and evaluate it on others.
 *
 *   <root>/<train>/validation/   states the reporter is fitted on (≤ 4000 examples by default)
 *   <root>/<test>/test/          states it is evaluated on (≤ 1000); outputs go here:
 *       <train>_<reporter>_log_odds.safetensors   [L, n] probe log-odds
 *       <train>_<reporter>_metrics.json           per layer (and for the LM's own output): AUROC against
 *                                                  label / alice / bob on all / agree / disagree examples
 *       <train>_random_aucs_against_<col>.json     for the random baseline
 *
 * Every output is written atomically and skipped when present, so a killed grid resumes.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { writeSafetensors } from "../model/safetensors.ts";
import { readLayer, readLmLogOdds, readStatesMeta, type StatesMeta } from "../extract/states.ts";
import { evalRandomBaseline, fitReporter, reporterFromJSON, type Reporter, type ReporterName } from "../probes/index.ts";

/** A reporter of the grid: one of the fitted probes, or the random-direction baseline. */
export type GridReporter = ReporterName | "random";
import { metricTable, type LabelColumn, type MetricTable } from "./metrics.ts";

export const PAIR_REPORTERS = new Set<GridReporter>(["lr-on-pair", "mean-diff-on-pair", "ccs", "crc"]);

export interface TransferSpec {
  reporter: GridReporter;
  train: string;
  tests: string[];
  /** which labels the reporter is fitted against */
  labelCol: LabelColumn;
}

export interface TransferMetrics {
  reporter: GridReporter;
  train: string;
  test: string;
  labelCol: LabelColumn;
  layers: MetricTable[];
  lm: MetricTable;
}

export const trainDirOf = (root: string, dist: string) => join(root, dist, "validation");
export const testDirOf = (root: string, dist: string) => join(root, dist, "test");
export const metricsFile = (train: string, reporter: string) => `${train}_${reporter}_metrics.json`;
export const randomFile = (train: string, col: LabelColumn) => `${train}_random_aucs_against_${col}.json`;

function labelsOf(meta: StatesMeta, col: LabelColumn): Uint8Array {
  return Uint8Array.from(col === "label" ? meta.labels : col === "alice" ? meta.alice_labels : meta.bob_labels);
}

function checkFinite(m: { data: Float32Array; rows: number; cols: number }, dir: string, layer: number): void {
  for (let i = 0; i < m.data.length; i++) {
    if (!Number.isFinite(m.data[i])) throw new Error(`${dir}: non-finite activation at layer ${layer}, row ${Math.floor(i / m.cols)} (value ${m.data[i]})`);
  }
}

function checkCompatible(train: StatesMeta, test: StatesMeta, trainDir: string, testDir: string): void {
  if (train.layers !== test.layers) throw new Error(`${testDir}: ${test.layers} layers, but the reporter was trained on ${train.layers} (${trainDir}); extract both with the same model`);
  if (train.d !== test.d) throw new Error(`${testDir}: hidden width ${test.d}, but the reporter was trained on width ${train.d} (${trainDir})`);
  if (train.model !== test.model || train.adapter !== test.adapter) throw new Error(`${testDir}: extracted with ${test.model}${test.adapter ? ` + ${test.adapter}` : ""}, train states with ${train.model}${train.adapter ? ` + ${train.adapter}` : ""}`);
}

/** Fit (or reload) one reporter per layer on the train distribution. */
async function fitOrLoad(root: string, spec: TransferSpec & { reporter: ReporterName }, seed: number, onLayer?: (l: number, L: number) => void): Promise<Reporter[]> {
  const dir = trainDirOf(root, spec.train);
  const file = join(dir, `${spec.reporter}_reporters_${spec.labelCol}.json`);
  if (existsSync(file)) return (JSON.parse(readFileSync(file, "utf8")) as unknown[]).map(reporterFromJSON);
  const meta = readStatesMeta(dir);
  const y = labelsOf(meta, spec.labelCol);
  const kind = PAIR_REPORTERS.has(spec.reporter) ? "pair" : "hiddens";
  const reporters: Reporter[] = [];
  for (let l = 0; l < meta.layers; l++) {
    onLayer?.(l, meta.layers);
    const x = readLayer(dir, kind, l);
    checkFinite(x, dir, l);
    reporters.push(await fitReporter(spec.reporter, x, y, { seed: seed + l }));
  }
  writeFileAtomic(file, JSON.stringify(reporters.map((r) => r.toJSON())));
  return reporters;
}

/** Run one transfer; returns the metrics per test distribution (read back when already done). */
export async function runTransfer(root: string, spec: TransferSpec, opts: { seed?: number; randomSamples?: number; onProgress?: (msg: string) => void } = {}): Promise<void> {
  const seed = opts.seed ?? 0;
  const trainDir = trainDirOf(root, spec.train);
  const trainMeta = readStatesMeta(trainDir);
  for (const test of spec.tests) checkCompatible(trainMeta, readStatesMeta(testDirOf(root, test)), trainDir, testDirOf(root, test));

  if (spec.reporter === "random") {
    const trainY = labelsOf(trainMeta, spec.labelCol);
    for (const test of spec.tests) {
      const testDir = testDirOf(root, test);
      const out = join(testDir, randomFile(spec.train, spec.labelCol));
      if (existsSync(out)) continue;
      const testMeta = readStatesMeta(testDir);
      const testY = labelsOf(testMeta, spec.labelCol);
      const perLayer = [];
      for (let l = 0; l < trainMeta.layers; l++) {
        opts.onProgress?.(`random ${spec.train}→${test} layer ${l + 1}/${trainMeta.layers}`);
        const xtr = readLayer(trainDir, "hiddens", l);
        const xte = readLayer(testDir, "hiddens", l);
        checkFinite(xtr, trainDir, l);
        checkFinite(xte, testDir, l);
        perLayer.push(await evalRandomBaseline(xtr, trainY, xte, testY, { numSamples: opts.randomSamples ?? 1000, seed: seed + l }));
      }
      writeFileAtomic(out, JSON.stringify({ train: spec.train, test, labelCol: spec.labelCol, layers: perLayer }));
    }
    return;
  }

  const pending = spec.tests.filter((t) => !existsSync(join(testDirOf(root, t), metricsFile(spec.train, spec.reporter))));
  if (pending.length === 0) return;
  const reporters = await fitOrLoad(root, { ...spec, reporter: spec.reporter }, seed, (l, L) => opts.onProgress?.(`fit ${spec.reporter} on ${spec.train} layer ${l + 1}/${L}`));
  const kind = PAIR_REPORTERS.has(spec.reporter) ? "pair" : "hiddens";
  for (const test of pending) {
    const testDir = testDirOf(root, test);
    const meta = readStatesMeta(testDir);
    const logOdds = new Float32Array(meta.layers * meta.n);
    const labels = { label: meta.labels, alice: meta.alice_labels, bob: meta.bob_labels };
    const layers: MetricTable[] = [];
    for (let l = 0; l < meta.layers; l++) {
      opts.onProgress?.(`${spec.reporter} ${spec.train}→${test} layer ${l + 1}/${meta.layers}`);
      const x = readLayer(testDir, kind, l);
      checkFinite(x, testDir, l);
      const scores = reporters[l].predict(x);
      logOdds.set(scores, l * meta.n);
      layers.push(metricTable(scores, labels));
    }
    writeSafetensors(join(testDir, `${spec.train}_${spec.reporter}_log_odds.safetensors`), new Map([["log_odds", { shape: [meta.layers, meta.n], data: logOdds }]]));
    const result: TransferMetrics = { reporter: spec.reporter, train: spec.train, test, labelCol: spec.labelCol, layers, lm: metricTable(readLmLogOdds(testDir), labels) };
    writeFileAtomic(join(testDir, metricsFile(spec.train, spec.reporter)), JSON.stringify(result));
  }
}

export function readTransferMetrics(root: string, train: string, test: string, reporter: string): TransferMetrics | undefined {
  const f = join(testDirOf(root, test), metricsFile(train, reporter));
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as TransferMetrics) : undefined;
}
