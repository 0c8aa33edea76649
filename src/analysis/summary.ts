/**
 * Tables from finished transfers.
 *
 * Per (model, dataset) root: every transfer's per-layer AUROC against Alice's / Bob's / the context's labels on
 * all / agree / disagree examples, the LM's own output, the EIL (chosen on the train distribution's own test
 * examples, all of them, against its training labels, as the paper's bar chart does) and the AUROC there.
 *
 * Across models and datasets: PGR tables AE→BH (floor B→BH, ceiling A→AH, EIL on AE→AE) and A→B (floor B→B,
 * ceiling A→A, EIL on A→A), against Alice's labels on all examples; floor and ceiling are final-layer LogR.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { earliestInformativeLayer, pgrTable, type PgrCell } from "./eil.ts";
import { bySubset, type LabelColumn, type MetricTable, type Subset } from "./metrics.ts";
import { readTransferMetrics, type TransferMetrics } from "./transfer.ts";
import { standardGrid } from "./grid.ts";
import { FITTED_REPORTER_NAMES, REPORTERS } from "../probes/reporter.ts";

const value = (t: MetricTable, col: LabelColumn, subset: Subset) => t[col][subset]?.value ?? NaN;

export interface TransferSummary {
  reporter: string;
  train: string;
  test: string;
  /** AUROC per layer, by label column and subset */
  curves: Record<LabelColumn, Record<Subset, number[]>>;
  lm: Record<LabelColumn, Record<Subset, number>>;
  eil: number | null;
  atEil: Record<LabelColumn, Record<Subset, number>> | null;
}

const curvesOf = (m: TransferMetrics): TransferSummary["curves"] => bySubset((col, s) => m.layers.map((t) => value(t, col, s)));

const lmOf = (m: TransferMetrics): TransferSummary["lm"] => bySubset((col, s) => value(m.lm, col, s));

/** Every finished transfer of one (model, dataset) root, with EIL and AUROC at EIL. */
export function summarizeRoot(root: string): TransferSummary[] {
  const out: TransferSummary[] = [];
  for (const spec of standardGrid()) {
    if (spec.reporter === "random") continue;
    const id = readTransferMetrics(root, spec.train, spec.train, spec.reporter, spec.labelCol);
    let eil: number | null = null;
    if (id) {
      const curve = id.layers.map((t) => value(t, spec.labelCol, "all"));
      if (curve.every(Number.isFinite)) eil = earliestInformativeLayer(curve);
    }
    for (const test of spec.tests) {
      const m = readTransferMetrics(root, spec.train, test, spec.reporter, spec.labelCol);
      if (!m) continue;
      const curves = curvesOf(m);
      const atEil = eil === null ? null : bySubset((col, s) => curves[col][s][eil]);
      out.push({ reporter: spec.reporter, train: spec.train, test, curves, lm: lmOf(m), eil, atEil });
    }
  }
  return out;
}

/** The model's own output as a classifier: AUROC of its log-odds on the prompts of each character. */
export interface LmOutputAurocs {
  /** Alice's prompts (test split of A) against Alice's labels */
  aliceVsAlice: number;
  /** Bob's prompts (test split of B) against Bob's labels */
  bobVsBob: number;
  /** Bob's prompts where Alice and Bob disagree, against Alice's labels (the truth) */
  bobDisagreeVsAlice: number;
}

/**
 * The LM-output AUROCs of one (model, dataset), from its summaries: every transfer tested on a distribution
 * records the same `lm` metrics (they depend on the test states only), so any transfer tested on A or B will do.
 * NaN where no transfer was tested there.
 */
export function lmOutputAurocs(transfers: TransferSummary[]): LmOutputAurocs {
  const lm = (test: string) => transfers.find((t) => t.test === test)?.lm;
  const a = lm("A");
  const b = lm("B");
  const n = (v: unknown) => (typeof v === "number" ? v : NaN); // JSON writes NaN as null
  return { aliceVsAlice: n(a?.label.all), bobVsBob: n(b?.label.all), bobDisagreeVsAlice: n(b?.alice.disagree) };
}

/** (model, dataset) roots under an experiments folder: EXP/<model>/<dataset>/ */
export function experimentRoots(expDir: string): { model: string; dataset: string; root: string }[] {
  if (!existsSync(expDir)) throw new Error(`${expDir}: no such folder`);
  const out: { model: string; dataset: string; root: string }[] = [];
  for (const model of readdirSync(expDir).sort()) {
    const mdir = join(expDir, model);
    if (model.startsWith(".") || !statSync(mdir).isDirectory()) continue; // dot entries: temporary folders of writers
    for (const dataset of readdirSync(mdir).sort()) {
      const root = join(mdir, dataset);
      if (!dataset.startsWith(".") && statSync(root).isDirectory() && (existsSync(join(root, "AE")) || existsSync(join(root, "A")))) out.push({ model, dataset, root });
    }
  }
  return out;
}

export interface PgrResult {
  transfer: string;
  reporter: string;
  perDataset: Record<string, { auroc: number; floor: number; ceiling: number; pgr: number }>;
  overall: { auroc: number; floor: number; ceiling: number; pgr: number };
}


/**
 * PGR tables over everything under expDir. `from→to` transfers are read at the EIL of `eilDist→eilDist`
 * (Alice's labels, all examples); floor/ceiling are final-layer LogR AUROCs of the given transfers.
 */
export function pgrTables(expDir: string): PgrResult[] {
  const roots = experimentRoots(expDir);
  const tables: PgrResult[] = [];
  const setups = [
    { name: "AE→BH", from: "AE", to: "BH", eilDist: "AE", floor: ["B", "BH"], ceiling: ["A", "AH"] },
    { name: "A→B", from: "A", to: "B", eilDist: "A", floor: ["B", "B"], ceiling: ["A", "A"] },
  ];
  const finalAlice = (root: string, fr: string, to: string) => {
    const m = readTransferMetrics(root, fr, to, "lr");
    return m ? value(m.layers[m.layers.length - 1], "alice", "all") : undefined;
  };
  for (const setup of setups) {
    for (const reporter of FITTED_REPORTER_NAMES) {
      for (const from of REPORTERS[reporter].unsupervised ? [setup.from, ...(setup.name === "AE→BH" ? ["all"] : [])] : [setup.from]) {
        const cells: Record<string, PgrCell> = {};
        for (const { dataset, root } of roots) {
          const id = readTransferMetrics(root, setup.eilDist, setup.eilDist, reporter);
          const tr = readTransferMetrics(root, from, setup.to, reporter, from === "all" ? "alice" : "label");
          const floor = finalAlice(root, setup.floor[0], setup.floor[1]);
          const ceiling = finalAlice(root, setup.ceiling[0], setup.ceiling[1]);
          if (!id || !tr || floor === undefined || ceiling === undefined) continue;
          const idCurve = id.layers.map((t) => value(t, "alice", "all"));
          if (!idCurve.every(Number.isFinite)) continue;
          const auroc = value(tr.layers[earliestInformativeLayer(idCurve)], "alice", "all");
          if (!Number.isFinite(auroc) || !Number.isFinite(floor) || !Number.isFinite(ceiling)) continue;
          const cell = (cells[dataset] ??= { transfer: [], floor: [], ceiling: [] });
          cell.transfer.push(auroc);
          cell.floor.push(floor);
          cell.ceiling.push(ceiling);
        }
        if (Object.keys(cells).length === 0) continue;
        tables.push({ transfer: from === "all" ? `all→${setup.to}` : setup.name, reporter, ...pgrTable(cells) });
      }
    }
  }
  return tables;
}

/** Write each root's summary.json and the PGR tables (pgr.json, pgr.csv) of an experiments folder; returns the tables. */
export function writeTables(expDir: string): PgrResult[] {
  for (const { root } of experimentRoots(expDir)) writeFileAtomic(join(root, "summary.json"), JSON.stringify(summarizeRoot(root), null, 1) + "\n");
  const tables = pgrTables(expDir);
  writeFileAtomic(join(expDir, "pgr.json"), JSON.stringify(tables, null, 1) + "\n");
  const csv = ["transfer,reporter,dataset,auroc,floor,ceiling,pgr"];
  for (const r of tables) {
    for (const [ds, v] of Object.entries(r.perDataset)) csv.push([r.transfer, r.reporter, ds, v.auroc, v.floor, v.ceiling, v.pgr].join(","));
    csv.push([r.transfer, r.reporter, "avg", r.overall.auroc, r.overall.floor, r.overall.ceiling, r.overall.pgr].join(","));
  }
  writeFileAtomic(join(expDir, "pgr.csv"), csv.join("\n") + "\n");
  return tables;
}
