/**
 * A synthetic experiments folder with plausible numbers, in the layout and formats the report reads — for tests
 * and demos of the report without running any model.
 *
 * The story it tells is the paper's: a probe's score mixes a truth direction (strong from the middle layers on),
 * a "Bob's label" direction (what probes fitted on Bob's contexts pick up) and the output direction (the
 * context's label, which takes over in late layers). The LM's output follows the context's label. AUROC on a
 * subset is a squashed function of how much of the score points towards the labels in question.
 */
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { Rng } from "../util/rng.ts";
import { earliestInformativeLayer, pgrTable, type PgrCell } from "../analysis/eil.ts";
import { neededExtractions, standardGrid } from "../analysis/grid.ts";
import type { PgrResult, TransferSummary } from "../analysis/summary.ts";
import { bySubset, type LabelColumn } from "../analysis/metrics.ts";
import { quantileSorted, randomBaselineLevels } from "../probes/random-baseline.ts";
import { RUN_INFO_FILE, type RunInfo } from "../analysis/run-info.ts";

export interface SyntheticOptions {
  models?: string[];
  datasets?: string[];
  /** layers per model (one number for all, or per model name) */
  layers?: number | Record<string, number>;
  seed?: number;
  /** which inputs to write (all by default) */
  parts?: Partial<Record<"summary" | "pgr" | "random" | "anomaly" | "intervention" | "provenance", boolean>>;
  /** random directions per layer for the random-baseline quantiles */
  randomSamples?: number;
}

const QUALITY: Record<string, number> = { lr: 1, "mean-diff": 0.93, lda: 0.88, "lr-on-pair": 1, "mean-diff-on-pair": 0.95, ccs: 0.82, crc: 0.9 };
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const clamp = (x: number) => Math.min(0.995, Math.max(0.005, x));
const auc = (g: number) => clamp(0.5 + 0.48 * Math.tanh(1.8 * g));
/** A value per label column and per subset, in the order summary.json lists them. */

function ctx(dist: string): "A" | "B" | "mixed" {
  return dist.startsWith("A") ? "A" : dist.startsWith("B") ? "B" : "mixed";
}

/** The probe's coefficients on (truth, Bob's label, output) at layer fraction f. */
function coefficients(train: string, f: number) {
  const truth = sigmoid((f - 0.25) * 14);
  const out = sigmoid((f - 0.78) * 16) * 0.9;
  const c = ctx(train);
  if (c === "A") return { truth: truth * (1 - out), bob: 0, out };
  if (c === "B") return { truth: 0.15 * truth * (1 - out), bob: 0.85 * truth * (1 - out), out };
  return { truth: truth * (1 - out), bob: 0, out: out * 0.5 };
}

function summaryFor(rng: Rng, reporter: string, train: string, test: string, L: number, dsQuality: number): Omit<TransferSummary, "eil" | "atEil"> {
  const q = QUALITY[reporter] * dsQuality;
  const c = ctx(test);
  const hard = test.endsWith("H") && !train.endsWith("H") ? 0.8 : 1;
  const curves: TransferSummary["curves"] = bySubset((): number[] => []);
  for (let l = 0; l < L; l++) {
    const k = coefficients(train, L === 1 ? 1 : l / (L - 1));
    const t = k.truth * hard * q;
    const b = k.bob * hard * q;
    const o = k.out * q;
    const outAlice = c === "A" ? o : c === "B" ? -o : 0; // output's pull towards Alice's label on disagreements
    const noise = () => (rng.random() - 0.5) * 0.03;
    const agree = auc(t + b + o) + noise();
    const disAlice = auc(t - b + outAlice) + noise();
    const disBob = 1 - disAlice;
    const allAlice = (agree + disAlice) / 2;
    const allBob = (agree + disBob) / 2;
    const ctxIsBob = c === "B";
    const push = (col: LabelColumn, all: number, dis: number) => {
      curves[col].all.push(clamp(all));
      curves[col].agree.push(clamp(agree));
      curves[col].disagree.push(clamp(dis));
    };
    push("alice", allAlice, disAlice);
    push("bob", allBob, disBob);
    if (c === "mixed") push("label", (allAlice + allBob) / 2, 0.5 + noise());
    else push("label", ctxIsBob ? allBob : allAlice, ctxIsBob ? disBob : disAlice);
  }
  const lmQ = 0.96 * dsQuality + 0.03;
  const lmDisAlice = c === "A" ? lmQ : c === "B" ? 1 - lmQ : 0.5;
  const lm: TransferSummary["lm"] = {
    alice: { all: (lmQ + lmDisAlice) / 2, agree: lmQ, disagree: lmDisAlice },
    bob: { all: (lmQ + 1 - lmDisAlice) / 2, agree: lmQ, disagree: 1 - lmDisAlice },
    label: { all: lmQ, agree: lmQ, disagree: c === "mixed" ? 0.5 : lmQ },
  };
  return { reporter, train, test, curves, lm };
}

const writeJson = (path: string, v: unknown) => writeFileAtomic(path, JSON.stringify(v, null, 1) + "\n");

/** Write a synthetic experiments folder under `dir`; returns the files written. */
export function writeSyntheticExperiments(dir: string, opts: SyntheticOptions = {}): string[] {
  const models = opts.models ?? ["pythia-tiny", "mistral-mini"];
  const datasets = opts.datasets ?? ["addition", "capitals", "sciq"];
  const parts = { summary: true, pgr: true, random: true, anomaly: true, intervention: true, provenance: true, ...opts.parts };
  const rng = new Rng(opts.seed ?? 0, "synthetic-report");
  const files: string[] = [];
  const write = (path: string, v: unknown) => {
    writeJson(path, v);
    files.push(path);
  };
  const layersOf = (m: string) => (typeof opts.layers === "number" ? opts.layers : (opts.layers?.[m] ?? 8));
  const all: { model: string; dataset: string; transfers: TransferSummary[] }[] = [];

  for (const model of models) {
    const L = layersOf(model);
    for (const [di, dataset] of datasets.entries()) {
      const root = join(dir, model, dataset);
      const dsQuality = 1 - 0.2 * (di % 4);
      const transfers: TransferSummary[] = [];
      for (const spec of standardGrid()) {
        if (spec.reporter === "random") continue;
        const id = summaryFor(rng, spec.reporter, spec.train, spec.train, L, dsQuality);
        const idCurve = id.curves[spec.labelCol].all;
        const eil = earliestInformativeLayer(idCurve);
        for (const test of spec.tests) {
          const s = test === spec.train ? id : summaryFor(rng, spec.reporter, spec.train, test, L, dsQuality);
          const atEil = bySubset((col, sub) => s.curves[col][sub][eil]);
          transfers.push({ ...s, eil, atEil });
        }
      }
      all.push({ model, dataset, transfers });
      if (parts.summary) write(join(root, "summary.json"), transfers);

      if (parts.random) {
        const levels = randomBaselineLevels();
        const S = opts.randomSamples ?? 400;
        // S random AUROCs around `center`, summarised as the baseline file does
        const draw = (center: number, sd: number) => {
          const xs = Float64Array.from({ length: S }, () => clamp(center + sd * rng.normal())).sort();
          let mean = 0;
          for (const x of xs) mean += x / S;
          return { mean, quantiles: levels.map((q) => ({ q, auroc: quantileSorted(xs, q) })) };
        };
        for (const test of ["AE", "BH"]) {
          const layers = [];
          for (let l = 0; l < L; l++) {
            const f = L === 1 ? 1 : l / (L - 1);
            const center = 0.5 + 0.04 * sigmoid((f - 0.5) * 8) * (test === "AE" ? 1 : -0.5);
            const sd = 0.05 + 0.05 * sigmoid((f - 0.3) * 10);
            layers.push({ ...draw(center, sd), subsets: { agree: draw(center + 0.03, sd), disagree: draw(center - 0.03, sd) } });
          }
          write(join(root, test, "test", "AE_random_aucs_against_alice.json"), { train: "AE", test, labelCol: "alice", layers });
        }
      }

      if (parts.provenance) {
        // what the pipeline records: each states folder's meta.json (without its per-example arrays or states) …
        const d = 64 + 32 * (L % 3);
        const settings = { method: "first", standardized: false, seed: 633 };
        for (const { distribution: dist, split } of neededExtractions(standardGrid())) {
          const n = split === "validation" ? 400 : 200;
          const inputs = { model: `fp-${model}`, examples: `ex-${dataset}-${dist}-${split}`, n };
          write(join(root, dist, split, "meta.json"), { complete: true, provenance: { fingerprint: `${model}/${dataset}/${dist}/${split}`, inputs }, model, adapter: `${model}-${dataset}-lora`, dataset, distribution: dist, split, n, layers: L, d, settings: { ...settings, maxExamples: n } });
        }
        // … and run-info.json
        const info: RunInfo = {
          quirky: "0.0.0-synthetic",
          dataset: { name: dataset, hub_name: `EleutherAI/quirky_${dataset}_raw`, settings: { seed: 633, base_examples: 4000, max_digits: 2, n_validation: 2000, n_test: 2000 }, counts: { train: 12000, validation: 2000, test: 2000 } },
          grid: { reporters: Object.keys(QUALITY), maxTrain: 400, maxTest: 200, method: "first", standardized: false, seed: 633, randomSamples: opts.randomSamples ?? 400 },
        };
        write(join(root, RUN_INFO_FILE), info);
      }

      if (parts.anomaly) {
        for (const [ri, reporter] of ["lr", "mean-diff"].entries()) {
          const detectors = [
            { detector: "mahalanobis", base: 0.95 },
            { detector: "mahalanobis-minus-diag", base: 0.9 },
            { detector: "isolation-forest", base: 0.82 },
            { detector: "lof", base: 0.86 },
            { detector: "one-class-svm", base: 0.78 },
          ];
          const results = detectors.map(({ detector, base }) => {
            const a = clamp(base * dsQuality - 0.02 * ri + (rng.random() - 0.5) * 0.02);
            const w = 0.015 + 0.02 * rng.random();
            return { detector, auroc: a, lo: clamp(a - w), hi: clamp(a + w * 0.8), nNormal: 500, nAnomalous: 480 };
          });
          write(join(root, `anomaly_${reporter}.json`), { reporter, results });
        }
      }

      if (parts.intervention) {
        const cleanAlice = 0.08 + 0.1 * (1 - dsQuality);
        const cleanBob = 0.95 * dsQuality + 0.03;
        const layers = [];
        for (let l = 0; l < L; l++) {
          const f = L === 1 ? 1 : l / (L - 1);
          const bump = Math.exp(-(((f - 0.6) / 0.2) ** 2)) * 0.75 * dsQuality;
          layers.push({
            layer: l,
            clean: { alice: cleanAlice, bob: cleanBob },
            intervened: { alice: clamp(cleanAlice + bump), bob: clamp(cleanBob - bump) },
          });
        }
        write(join(root, "intervention_mean-diff.json"), { reporter: "mean-diff", layers });
      }
    }
  }

  if (parts.pgr) {
    const final = (ts: TransferSummary[], train: string, test: string) => {
      const c = ts.find((t) => t.reporter === "lr" && t.train === train && t.test === test)!.curves.alice.all;
      return c[c.length - 1];
    };
    const tables: PgrResult[] = [];
    const setups = [
      { name: "AE→BH", from: "AE", to: "BH", floor: ["B", "BH"], ceiling: ["A", "AH"] },
      { name: "A→B", from: "A", to: "B", floor: ["B", "B"], ceiling: ["A", "A"] },
    ];
    for (const setup of setups) {
      for (const reporter of Object.keys(QUALITY)) {
        const froms = (reporter === "ccs" || reporter === "crc") && setup.name === "AE→BH" ? [setup.from, "all"] : [setup.from];
        for (const from of froms) {
          const cells: Record<string, PgrCell> = {};
          for (const r of all) {
            const tr = r.transfers.find((t) => t.reporter === reporter && t.train === from && t.test === setup.to);
            const id = r.transfers.find((t) => t.reporter === reporter && t.train === setup.from && t.test === setup.from);
            if (!tr || !id) continue;
            const eil = earliestInformativeLayer(id.curves.alice.all);
            const cell = (cells[r.dataset] ??= { transfer: [], floor: [], ceiling: [] });
            cell.transfer.push(tr.curves.alice.all[eil]);
            cell.floor.push(final(r.transfers, setup.floor[0], setup.floor[1]));
            cell.ceiling.push(final(r.transfers, setup.ceiling[0], setup.ceiling[1]));
          }
          if (Object.keys(cells).length) tables.push({ transfer: from === "all" ? `all→${setup.to}` : setup.name, reporter, ...pgrTable(cells) });
        }
      }
    }
    write(join(dir, "pgr.json"), tables);
  }
  return files;
}
