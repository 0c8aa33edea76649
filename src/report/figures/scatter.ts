/**
 * In-distribution vs transfer scatter: one point per reporter, dataset and model, x its AUROC in distribution
 * (A→A, AE→AE) and y its transfer AUROC (A→B, AE→BH), both at the EIL and against Alice's labels; colour the
 * reporter, shape the transfer, a dotted y = x diagonal (points on it lose nothing in transfer) and the dashed
 * chance line.
 */
import type { ExperimentData } from "../load.ts";
import { num } from "../load.ts";
import type { Row } from "../csv.ts";
import { chanceLayer, findTransfer, highlight, legendSelection, reporterColor, reporterLabel, newSection, sortReporters, topLevel, type Section } from "./vega.ts";

export const SCATTER_TRANSFERS = ["A→B", "AE→BH"];

export function scatterSection(data: ExperimentData): Section {
  const sec = newSection("scatter", "In-distribution vs transfer AUROC", "Each point is one method on one dataset (and model): its in-distribution AUROC (trained and tested on the same distribution) " +
      "against its transfer AUROC, both at the EIL and against Alice's labels. Points on the dotted diagonal lose nothing in transfer.");
  const rows: Row[] = [];
  for (const run of data.runs) {
    for (const tr of SCATTER_TRANSFERS) {
      const [train, test] = tr.split("→");
      for (const t of run.transfers.filter((t) => t.train === train && t.test === test)) {
        const idT = findTransfer(run.transfers, t.reporter, train, train);
        const id = num(idT?.atEil?.alice?.all);
        const ood = num(t.atEil?.alice?.all);
        if (!Number.isFinite(id) || !Number.isFinite(ood)) continue;
        rows.push({ model: run.model, dataset: run.dataset, reporter: t.reporter, method: reporterLabel(t.reporter), transfer: tr, eil: t.eil, id_auroc: id, transfer_auroc: ood });
      }
    }
  }
  if (rows.length === 0) {
    sec.notes.push(`Skipped: no ${SCATTER_TRANSFERS.join(" or ")} transfers with their in-distribution counterparts in any summary.json.`);
    return sec;
  }
  const reporters = sortReporters(rows.map((r) => r.reporter as string));
  const labels = reporters.map(reporterLabel);
  const lo = Math.min(0.4, Math.floor(Math.min(...rows.flatMap((r) => [r.id_auroc as number, r.transfer_auroc as number])) * 10) / 10);
  const xTitle = "in-distribution AUROC (A→A, AE→AE)";
  const yTitle = "transfer AUROC vs Alice's labels";
  const scale = { domain: [lo, 1], zero: false, nice: false };
  const x = { field: "id_auroc", type: "quantitative", title: xTitle, scale, axis: { tickCount: 6 } };
  const y = { field: "transfer_auroc", type: "quantitative", title: yTitle, scale, axis: { tickCount: 6 } };
  const spec = topLevel(
    {
      width: 380,
      height: 380,
      layer: [
        {
          name: "diagonal",
          data: { values: [{ d: lo }, { d: 1 }] },
          mark: { type: "line", strokeDash: [2, 3], color: "#999" },
          encoding: { x: { ...x, field: "d" }, y: { ...y, field: "d" } },
        },
        {
          name: "points",
          data: { values: rows },
          params: [legendSelection("pick", "method")],
          mark: { type: "point", filled: true, size: 70 },
          encoding: {
            x,
            y,
            color: { field: "method", type: "nominal", title: "method", sort: labels, scale: { domain: labels, range: reporters.map(reporterColor) } },
            shape: { field: "transfer", type: "nominal", title: "transfer", sort: SCATTER_TRANSFERS },
            opacity: highlight("pick"),
            tooltip: [
              { field: "model" },
              { field: "dataset" },
              { field: "method" },
              { field: "transfer" },
              { field: "eil", type: "quantitative", title: "EIL" },
              { field: "id_auroc", type: "quantitative", title: "in-distribution", format: ".3f" },
              { field: "transfer_auroc", type: "quantitative", title: "transfer", format: ".3f" },
            ],
          },
        },
        // no top-level data here: the chance rule gets one row of its own (and needs no aggregate)
        { ...chanceLayer(), data: { values: [{}] }, transform: [] },
      ],
    },
    "In-distribution vs transfer AUROC at the EIL",
  );
  sec.figures.push({
    id: "id_vs_ood",
    title: "In-distribution vs transfer AUROC",
    caption: "One point per method, dataset and model; colour: method, shape: transfer; dotted: y = x; dashed: chance (0.5).",
    spec,
    dataFile: "id_vs_ood",
    expect: { axisTitles: [xTitle, yTitle], legend: true, chance: true },
  });
  sec.data.push({ name: "id_vs_ood", rows });
  return sec;
}
