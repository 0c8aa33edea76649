/**
 * Layerwise AUROC curves (the paper's per-layer figures): for one reporter and one transfer (train → test), one
 * panel per dataset, the probe's AUROC on a subset at every layer against Alice's labels (blue) and Bob's labels
 * (red), the LM's own output as a dotted horizontal line in the same colour, and the dashed chance line. One
 * figure per model and requested curve.
 */
import type { ExperimentData } from "../load.ts";
import { num } from "../load.ts";
import type { Row } from "../csv.ts";
import { escapeHtml } from "../escape.ts";
import type { Subset } from "../../analysis/metrics.ts";
import { AGAINST, LM_LABEL, STROKE_LEGEND, SUBSET_LABEL, againstColor, aurocTooltip, aurocY, chanceLayer, facetColumns, facetedLayers, findTransfer, highlight, layerX, legendSelection, reporterLabel, newSection, slug, type Section } from "./vega.ts";

/** One curve to draw: a reporter fitted on `train`, tested on `test`, AUROC on `subset`. */
export interface LayerwiseConfig {
  reporter: string;
  train: string;
  test: string;
  subset: Subset;
}

export const DEFAULT_LAYERWISE: LayerwiseConfig[] = [
  { reporter: "lr", train: "A", test: "B", subset: "disagree" },
  { reporter: "lr", train: "AE", test: "BH", subset: "disagree" },
];

export function layerwiseSection(data: ExperimentData, configs: LayerwiseConfig[] = DEFAULT_LAYERWISE): Section {
  const sec = newSection("layerwise", "Layerwise AUROC", "AUROC of the probe's output at every layer, against Alice's labels (the truth) and against Bob's labels (the quirk), " +
      "with the model's own output (LM output, dotted) as a horizontal line in the same colour. Truth is read best from middle layers; " +
      "late layers follow the output.");
  const rows: Row[] = [];
  if (data.runs.length === 0) {
    sec.notes.push("Skipped: no <code>&lt;model&gt;/&lt;dataset&gt;/summary.json</code> found (run <code>quirky tables</code>).");
    return sec;
  }
  const models = [...new Set(data.runs.map((r) => r.model))];
  for (const model of models) {
    const runs = data.runs.filter((r) => r.model === model);
    for (const c of configs) {
      const values: Row[] = [];
      for (const run of runs) {
        const t = findTransfer(run.transfers, c.reporter, c.train, c.test);
        if (!t) continue;
        for (const col of ["alice", "bob"] as const) {
          const curve = t.curves[col][c.subset] ?? [];
          const lm = num(t.lm?.[col]?.[c.subset]);
          curve.forEach((v, layer) => {
            rows.push({ model, dataset: run.dataset, reporter: c.reporter, train: c.train, test: c.test, subset: c.subset, against: col, layer, auroc: num(v), lm_auroc: lm, eil: t.eil });
            if (Number.isFinite(num(v))) values.push({ dataset: run.dataset, layer, against: AGAINST[col], auroc: num(v), series: "probe" });
          });
          if (Number.isFinite(lm)) values.push({ dataset: run.dataset, against: AGAINST[col], auroc: lm, series: LM_LABEL });
        }
      }
      const what = `${reporterLabel(c.reporter)} ${c.train}→${c.test}`;
      if (!values.some((v) => v.series === "probe")) {
        sec.notes.push(`Skipped for model <code>${escapeHtml(model)}</code>: no ${what} results (${SUBSET_LABEL[c.subset]}) in its summaries.`);
        continue;
      }
      const datasets = [...new Set(values.map((v) => v.dataset as string))];
      const id = `layerwise_${slug(model)}_${slug(c.reporter)}_${slug(c.train)}-${slug(c.test)}_${c.subset}`;
      const x = layerX();
      const y = aurocY(`AUROC (${SUBSET_LABEL[c.subset]})`);
      const color = againstColor();
      const dash = { field: "series", type: "nominal", title: "line", scale: { domain: ["probe", LM_LABEL], range: [[1, 0], [2, 2]] }, legend: STROKE_LEGEND };
      const probe = {
        name: "probe",
        transform: [{ filter: "datum.series === 'probe'" }],
        params: [legendSelection("pick", "against")],
        mark: { type: "line", point: { filled: true, size: 14 }, strokeWidth: 2 },
        encoding: {
          x,
          y,
          color,
          strokeDash: dash,
          opacity: highlight("pick"),
          tooltip: [{ field: "dataset", title: "dataset" }, { field: "against", title: "against" }, { field: "layer", type: "quantitative", title: "layer" }, aurocTooltip()],
        },
      };
      const lmRule = {
        name: "lm",
        transform: [{ filter: `datum.series === '${LM_LABEL}'` }],
        mark: { type: "rule", strokeWidth: 2 },
        encoding: {
          y,
          color,
          strokeDash: dash,
          opacity: highlight("pick"),
          tooltip: [{ field: "dataset", title: "dataset" }, { field: "series", title: "line" }, { field: "against", title: "against" }, aurocTooltip()],
        },
      };
      const spec = facetedLayers(values, "dataset", datasets, facetColumns(datasets.length), [probe, lmRule, chanceLayer()], `${model}: ${what}, AUROC on ${SUBSET_LABEL[c.subset]} by layer`);
      sec.figures.push({
        id,
        title: `${model} — ${what} on ${SUBSET_LABEL[c.subset]}`,
        caption:
          `${reporterLabel(c.reporter)} probes fitted on ${c.train} and tested on ${c.test}, AUROC on ${SUBSET_LABEL[c.subset]} at every layer ` +
          `against Alice's and Bob's labels; dotted lines: the LM's own output; dashed grey line: chance (0.5).`,
        spec,
        dataFile: "layerwise",
        expect: { axisTitles: ["layer", y.title], legend: true, chance: true },
      });
    }
  }
  sec.data.push({ name: "layerwise", rows });
  return sec;
}
