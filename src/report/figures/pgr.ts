/**
 * Performance gap recovered: the PGR tables (built by the caller from pgr.json) and a bar chart of the overall PGR
 * per reporter, grouped by transfer (AE→BH, A→B, all→BH), with a solid line at PGR = 0 (no better than a probe
 * trained on Bob's labels) and a dashed line at PGR = 1 (the whole gap to the in-distribution ceiling recovered).
 */
import type { ExperimentData } from "../load.ts";
import { num } from "../load.ts";
import type { Row } from "../csv.ts";
import { escapeHtml } from "../escape.ts";
import { PAPER_SHORT, paperPgr } from "../paper.ts";
import { highlight, legendSelection, reporterLabel, newSection, sortReporters, topLevel, type Section } from "./vega.ts";

export const PGR_TRANSFERS = ["AE→BH", "A→B", "all→BH"];

export function pgrSection(data: ExperimentData, tables: (pgr: NonNullable<ExperimentData["pgr"]>) => string[]): Section {
  const sec = newSection("pgr", "Performance gap recovered (PGR)", "PGR = (transfer AUROC at the EIL − floor) / (ceiling − floor), against Alice's labels on all examples, AUROCs averaged over models " +
      "before the ratio. AE→BH: floor B→BH, ceiling A→AH; A→B: floor B→B, ceiling A→A (final-layer LogR). 1 recovers the whole gap; 0 " +
      "does no better than a probe trained on Bob's labels. Beside ours, the paper's PGR (" + PAPER_SHORT + ", from the saved outputs of the reference's figures.ipynb at 8f30c6d; " +
      "a dash where it publishes none): the paper averages over its own eight models, so the comparison is in kind.");
  if (!data.pgr || data.pgr.length === 0) {
    sec.notes.push(`Skipped: no <code>pgr.json</code> in the experiments folder (run <code>quirky tables ${escapeHtml(data.expDir)}</code>).`);
    return sec;
  }
  const rows: Row[] = [];
  const bars: Row[] = [];
  for (const r of data.pgr) {
    for (const [dataset, v] of Object.entries(r.perDataset)) {
      rows.push({ transfer: r.transfer, reporter: r.reporter, method: reporterLabel(r.reporter), dataset, auroc: num(v.auroc), floor: num(v.floor), ceiling: num(v.ceiling), pgr: num(v.pgr), paper_pgr: paperPgr(r.transfer, r.reporter, dataset) ?? null });
    }
    const o = r.overall;
    // the paper's number beside ours on each row (figures.ipynb cells 21, 23; empty where it has none)
    rows.push({ transfer: r.transfer, reporter: r.reporter, method: reporterLabel(r.reporter), dataset: "overall", auroc: num(o.auroc), floor: num(o.floor), ceiling: num(o.ceiling), pgr: num(o.pgr), paper_pgr: paperPgr(r.transfer, r.reporter) ?? null });
    if (Number.isFinite(num(o.pgr))) bars.push({ transfer: r.transfer, reporter: r.reporter, method: reporterLabel(r.reporter), pgr: num(o.pgr), auroc: num(o.auroc), floor: num(o.floor), ceiling: num(o.ceiling) });
  }
  sec.tables.push(...tables(data.pgr));
  sec.data.push({ name: "pgr", rows });
  if (bars.length === 0) {
    sec.notes.push("PGR chart skipped: no finite overall PGR in pgr.json.");
    return sec;
  }
  const reporters = sortReporters(bars.map((b) => b.reporter as string));
  const labels = reporters.map(reporterLabel);
  const transfers = [...PGR_TRANSFERS.filter((t) => bars.some((b) => b.transfer === t)), ...new Set(bars.map((b) => b.transfer as string).filter((t) => !PGR_TRANSFERS.includes(t)))];
  const x = { field: "method", type: "nominal", sort: labels, title: "method", axis: { labelAngle: -30 } };
  const paper = bars.flatMap((b) => {
    const p = paperPgr(b.transfer as string, b.reporter as string);
    return p === undefined ? [] : [{ method: b.method, transfer: b.transfer, pgr: p }];
  });
  const pgrs = [...bars, ...paper].map((b) => b.pgr as number);
  const y = { field: "pgr", type: "quantitative", title: "PGR (overall)", scale: { domain: [Math.min(0, ...pgrs), Math.max(1.1, ...pgrs)] } };
  const spec = topLevel(
    {
      width: Math.max(480, labels.length * transfers.length * 34),
      height: 320,
      layer: [
        {
          name: "bars",
          data: { values: bars },
          params: [legendSelection("pick", "transfer")],
          mark: { type: "bar" },
          encoding: {
            x,
            xOffset: { field: "transfer", type: "nominal", sort: transfers, scale: { domain: transfers } },
            y,
            color: { field: "transfer", type: "nominal", title: "transfer", sort: transfers, scale: { domain: transfers, range: ["#4c78a8", "#f58518", "#54a24b", "#b279a2"].slice(0, transfers.length) } },
            opacity: highlight("pick"),
            tooltip: [
              { field: "method" },
              { field: "transfer" },
              { field: "pgr", type: "quantitative", title: "PGR", format: ".3f" },
              { field: "auroc", type: "quantitative", title: "transfer AUROC", format: ".3f" },
              { field: "floor", type: "quantitative", format: ".3f" },
              { field: "ceiling", type: "quantitative", format: ".3f" },
            ],
          },
        },
        {
          // the paper's overall PGR for the same method and transfer (figures.ipynb cells 21, 23), a black tick on its bar
          name: "paper",
          data: { values: paper },
          mark: { type: "tick", color: "#111", thickness: 3, size: 14 },
          encoding: {
            x,
            xOffset: { field: "transfer", type: "nominal", sort: transfers, scale: { domain: transfers } },
            y: { field: "pgr", type: "quantitative" },
            tooltip: [{ field: "method" }, { field: "transfer" }, { field: "pgr", type: "quantitative", title: "paper's PGR", format: ".2f" }],
          },
        },
        { name: "zero", data: { values: [{}] }, mark: { type: "rule", color: "#333" }, encoding: { y: { datum: 0 } } },
        { name: "full_recovery", data: { values: [{}] }, mark: { type: "rule", color: "#333", strokeDash: [6, 4] }, encoding: { y: { datum: 1 } } },
        {
          name: "full_recovery_label",
          data: { values: [{}] },
          mark: { type: "text", text: "whole gap recovered (PGR = 1)", align: "right", baseline: "bottom", dy: -2, fontSize: 11, color: "#333" },
          encoding: { y: { datum: 1 }, x: { value: { expr: "width" } } },
        },
      ],
    },
    "PGR by method",
  );
  sec.figures.push({
    id: "pgr",
    title: "PGR by method",
    caption: "Overall PGR per method and transfer, ours as bars and the paper's as black ticks (figures.ipynb cells 21 and 23; no tick where it publishes none); dashed line: PGR = 1, the whole gap recovered.",
    spec,
    dataFile: "pgr",
    expect: { axisTitles: ["method", "PGR (overall)"], legend: true, chance: false },
  });
  return sec;
}
