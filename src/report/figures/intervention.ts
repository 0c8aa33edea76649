/**
 * Interventions: per model, one panel per dataset (and reporter, when there are several), the LM's output AUROC
 * on Bob's examples against Alice's labels (blue) and Bob's labels (red), clean (dashed) and after reflecting the
 * last-token residual state across the probe's direction at the layer on the x axis (solid), with the dashed
 * chance line. A layer whose edit flips the output from Bob's labels to Alice's carries the truth the output uses.
 */
import type { ExperimentData } from "../load.ts";
import { num } from "../load.ts";
import type { Row } from "../csv.ts";
import { escapeHtml } from "../escape.ts";
import { AGAINST, STROKE_LEGEND, againstColor, aurocTooltip, aurocY, chanceLayer, facetColumns, facetedLayers, highlight, layerX, legendSelection, reporterLabel, newSection, slug, type Section } from "./vega.ts";

export function interventionSection(data: ExperimentData): Section {
  const sec = newSection("intervention", "Interventions", "The model's output AUROC on Bob's examples against Alice's and Bob's labels, clean (dashed) and after reflecting the last-token " +
      "residual state across the probe's direction at one layer (solid). A layer whose edit flips the output from Bob's labels to " +
      "Alice's carries the truth the output later uses.");
  const rows: Row[] = [];
  if (data.intervention.length === 0) {
    sec.notes.push("Skipped: no intervention results (<code>&lt;model&gt;/&lt;dataset&gt;/intervention_&lt;reporter&gt;.json</code>) found.");
    return sec;
  }
  for (const model of [...new Set(data.intervention.map((r) => r.model))]) {
    const runs = data.intervention.filter((r) => r.model === model);
    const several = new Set(runs.map((r) => r.reporter)).size > 1;
    const values: Row[] = [];
    const panels: string[] = [];
    for (const run of runs) {
      const panel = several ? `${run.dataset} · ${reporterLabel(run.reporter)}` : run.dataset;
      panels.push(panel);
      for (const l of run.layers) {
        for (const condition of ["clean", "intervened"] as const) {
          for (const col of ["alice", "bob"] as const) {
            const auroc = num(l[condition]?.[col]);
            rows.push({ model, dataset: run.dataset, reporter: run.reporter, layer: l.layer, condition, against: col, auroc });
            if (Number.isFinite(auroc)) values.push({ panel, layer: l.layer, condition, against: AGAINST[col], auroc });
          }
        }
      }
    }
    if (values.length === 0) {
      sec.notes.push(`Model <code>${escapeHtml(model)}</code>: intervention files hold no finite AUROCs.`);
      continue;
    }
    const y = aurocY("output AUROC");
    const reporters = [...new Set(runs.map((r) => reporterLabel(r.reporter)))].join(", ");
    const output = {
      name: "output",
      params: [legendSelection("pick", "against")],
      mark: { type: "line", point: { filled: true, size: 14 }, strokeWidth: 2 },
      encoding: {
        x: layerX("layer intervened on"),
        y,
        color: againstColor(),
        strokeDash: { field: "condition", type: "nominal", title: "output", scale: { domain: ["intervened", "clean"], range: [[1, 0], [5, 3]] }, legend: STROKE_LEGEND },
        opacity: highlight("pick"),
        tooltip: [{ field: "panel", title: "dataset" }, { field: "condition" }, { field: "against" }, { field: "layer", type: "quantitative" }, aurocTooltip()],
      },
    };
    const title = `${model}: output AUROC with the residual stream reflected across the ${reporters} direction`;
    const spec = facetedLayers(values, "panel", panels, facetColumns(panels.length), [output, chanceLayer()], title);
    sec.figures.push({
      id: `intervention_${slug(model)}`,
      title: `${model} — interventions (${reporters})`,
      caption: "Solid: intervened at that layer; dashed: clean output; blue: against Alice's labels, red: against Bob's; grey dashed: chance.",
      spec,
      dataFile: "intervention",
      expect: { axisTitles: ["layer intervened on", y.title], legend: true, chance: true },
    });
  }
  sec.data.push({ name: "intervention", rows });
  return sec;
}
