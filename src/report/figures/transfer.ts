/**
 * Transfer bars at the earliest informative layer (the paper's bar chart): for each transfer A→B, B→A, AE→AH and
 * AE→BH, one bar per reporter with its AUROC against Alice's labels at the reporter's EIL, averaged over models and
 * datasets (error bars: ± one standard error), plus a grey bar for the LM's own output on the test distribution,
 * and the dashed chance line.
 */
import type { ExperimentData } from "../load.ts";
import { num } from "../load.ts";
import type { Row } from "../csv.ts";
import { LM_COLOR, LM_LABEL, aurocY, chanceLayer, highlight, legendSelection, reporterColor, reporterLabel, newSection, sortReporters, topLevel, type Section } from "./vega.ts";

export const BAR_TRANSFERS = ["A→B", "B→A", "AE→AH", "AE→BH"];

/** Mean and standard error of the mean, se = sqrt(s² / n) with the unbiased s² (NaN below two values). */
function meanSe(xs: number[]): { mean: number; se: number; n: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, se: NaN, n };
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, se: Math.sqrt(v / n), n };
}

const fin = (x: number) => (Number.isFinite(x) ? x : null);

export function transferSection(data: ExperimentData): Section {
  const sec = newSection("transfer", "Transfer at the earliest informative layer", "AUROC against Alice's labels (the truth) at each method's earliest informative layer (EIL), for probes fitted on one distribution " +
      "and tested on another, averaged over models and datasets (error bars: ± one standard error). The LM's own output on the test " +
      "distribution is its own bar.");
  const raw: Row[] = [];
  for (const run of data.runs) {
    for (const tr of BAR_TRANSFERS) {
      const [train, test] = tr.split("→");
      let lmDone = false;
      for (const t of run.transfers.filter((t) => t.train === train && t.test === test)) {
        const auroc = num(t.atEil?.alice?.all);
        raw.push({ model: run.model, dataset: run.dataset, transfer: tr, reporter: t.reporter, method: reporterLabel(t.reporter), eil: t.eil, auroc });
        if (!lmDone && Number.isFinite(num(t.lm?.alice?.all))) {
          raw.push({ model: run.model, dataset: run.dataset, transfer: tr, reporter: "lm", method: LM_LABEL, eil: null, auroc: num(t.lm.alice.all) });
          lmDone = true;
        }
      }
    }
  }
  if (raw.length === 0) {
    sec.notes.push(`Skipped: no ${BAR_TRANSFERS.join(", ")} transfers in any summary.json.`);
    return sec;
  }
  const reporters = sortReporters(raw.filter((r) => r.reporter !== "lm").map((r) => r.reporter as string));
  const labels = [...reporters.map(reporterLabel), LM_LABEL];
  const colors = [...reporters.map(reporterColor), LM_COLOR];
  const bars: Row[] = [];
  for (const tr of BAR_TRANSFERS) {
    for (const m of labels) {
      const xs = raw.filter((r) => r.transfer === tr && r.method === m).map((r) => r.auroc as number).filter(Number.isFinite);
      if (xs.length === 0) continue;
      const { mean, se, n } = meanSe(xs);
      bars.push({ transfer: tr, method: m, mean, se: fin(se), lo: Number.isFinite(se) ? mean - se : null, hi: Number.isFinite(se) ? mean + se : null, n });
    }
  }
  const transfers = BAR_TRANSFERS.filter((t) => bars.some((b) => b.transfer === t));
  const x = { field: "transfer", type: "nominal", sort: transfers, title: "transfer (train → test)", axis: { labelAngle: 0 } };
  const xOffset = { field: "method", type: "nominal", sort: labels };
  const y = aurocY("AUROC vs Alice's labels", "mean");
  const spec = topLevel(
    {
      data: { values: bars },
      width: Math.max(360, transfers.length * labels.length * 18),
      height: 260,
      layer: [
        {
          name: "bars",
          params: [legendSelection("pick", "method")],
          mark: { type: "bar" },
          encoding: {
            x,
            xOffset,
            y,
            color: { field: "method", type: "nominal", title: "method", sort: labels, scale: { domain: labels, range: colors } },
            opacity: highlight("pick"),
            tooltip: [
              { field: "transfer", title: "transfer" },
              { field: "method", title: "method" },
              { field: "mean", type: "quantitative", title: "mean AUROC", format: ".3f" },
              { field: "se", type: "quantitative", title: "std. error", format: ".3f" },
              { field: "n", type: "quantitative", title: "model × dataset runs" },
            ],
          },
        },
        {
          name: "errorbars",
          transform: [{ filter: "isValid(datum.lo)" }],
          mark: { type: "rule", color: "#222" },
          encoding: { x, xOffset, y: { field: "lo", type: "quantitative", title: y.title }, y2: { field: "hi" }, opacity: highlight("pick") },
        },
        chanceLayer(),
      ],
    },
    "Transfer AUROC at the EIL, by method",
  );
  sec.figures.push({
    id: "transfer_eil",
    title: "Transfer AUROC at the EIL per method",
    caption: "Mean AUROC against Alice's labels at the EIL over models and datasets; error bars ± one standard error; grey bars: the LM's output; dashed line: chance.",
    spec,
    dataFile: "transfer_bars",
    expect: { axisTitles: ["transfer (train → test)", y.title], legend: true, chance: true },
  });
  sec.data.push({ name: "transfer_at_eil", rows: raw }, { name: "transfer_bars", rows: bars });
  return sec;
}
