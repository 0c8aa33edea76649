/**
 * Layerwise AUROC curves (the paper's per-layer figures): for one transfer (train → test) and subset, one panel
 * per dataset, a probe's AUROC at every layer against Alice's labels (blue) and Bob's labels (red), the LM's own
 * output as a dotted horizontal line in the same colour, the median AUROC of random directions on the same
 * transfer and subset (against Alice's labels, dash-dot) where the grid ran the random baseline, and the dashed
 * chance line. One figure per model and requested transfer; every reporter's curves are in it, one at a time:
 * the interactive page has a menu to pick the reporter, the static SVG shows the requested one.
 */
import type { ExperimentData, RandomBaselineRun } from "../load.ts";
import { num } from "../load.ts";
import type { Row } from "../csv.ts";
import { escapeHtml } from "../escape.ts";
import type { Subset } from "../../analysis/metrics.ts";
import { randomMedian } from "../../probes/random-baseline.ts";
import { AGAINST, LM_LABEL, STROKE_LEGEND, SUBSET_LABEL, againstColor, aurocTooltip, aurocY, chanceLayer, facetColumns, facetedLayers, highlight, layerX, legendSelection, reporterLabel, newSection, slug, sortReporters, type Section } from "./vega.ts";

/** One figure: probes fitted on `train`, tested on `test`, AUROC on `subset`; `reporter` is the one shown first. */
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

export const RANDOM_MEDIAN = "random directions (median)";
/** the menu's signal: the display name of the reporter drawn */
const PICK = "method_pick";

/** The random baseline's median AUROC per layer on `subset` (NaN where not recorded), or undefined without a run. */
function randomMedians(r: RandomBaselineRun | undefined, subset: Subset): number[] | undefined {
  if (!r) return undefined;
  return r.layers.map((l) => {
    const stats = subset === "all" ? l : l.subsets?.[subset];
    return randomMedian(stats);
  });
}

export function layerwiseSection(data: ExperimentData, configs: LayerwiseConfig[] = DEFAULT_LAYERWISE): Section {
  const sec = newSection("layerwise", "Layerwise AUROC", "AUROC of each probe's output at every layer, against Alice's labels (the truth) and against Bob's labels (the quirk), " +
      "with the model's own output (LM output, dotted) as a horizontal line in the same colour and the median of random directions " +
      "(dash-dot, against Alice's labels) where the grid ran that baseline. Truth is read best from middle layers; late layers follow the output. " +
      "Every reporter's curves are in each figure: pick one from the menu under it (the static image shows the one its caption names).");
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
      const noSubsets: string[] = [];
      let withRandom = false;
      for (const run of runs) {
        const transfers = run.transfers.filter((t) => t.train === c.train && t.test === c.test);
        const random = data.random.find((r) => r.model === model && r.dataset === run.dataset && r.train === c.train && r.test === c.test && r.labelCol === "alice");
        const medians = randomMedians(random, c.subset);
        if (random && medians?.every((m) => !Number.isFinite(m))) noSubsets.push(run.dataset);
        for (const t of transfers) {
          const method = reporterLabel(t.reporter);
          for (const col of ["alice", "bob"] as const) {
            const curve = t.curves[col][c.subset] ?? [];
            const lm = num(t.lm?.[col]?.[c.subset]);
            curve.forEach((v, layer) => {
              const median = col === "alice" ? num(medians?.[layer]) : NaN;
              rows.push({ model, dataset: run.dataset, reporter: t.reporter, train: c.train, test: c.test, subset: c.subset, against: col, layer, auroc: num(v), lm_auroc: lm, random_median: median, eil: t.eil });
              if (Number.isFinite(num(v))) values.push({ dataset: run.dataset, layer, against: AGAINST[col], auroc: num(v), series: "probe", method, reporter: t.reporter });
            });
          }
        }
        // the LM's output and the random median do not depend on the reporter: drawn once per panel
        const lmOf = transfers.find((t) => t.lm)?.lm;
        for (const col of ["alice", "bob"] as const) {
          const lm = num(lmOf?.[col]?.[c.subset]);
          if (Number.isFinite(lm) && transfers.length) values.push({ dataset: run.dataset, against: AGAINST[col], auroc: lm, series: LM_LABEL });
        }
        if (transfers.length && medians?.some(Number.isFinite)) withRandom = true;
        if (transfers.length) medians?.forEach((m, layer) => Number.isFinite(m) && values.push({ dataset: run.dataset, layer, against: AGAINST.alice, auroc: m, series: RANDOM_MEDIAN }));
      }
      const what = `${c.train}→${c.test}`;
      const reporters = sortReporters(values.filter((v) => v.series === "probe").map((v) => v.reporter as string));
      if (reporters.length === 0) {
        sec.notes.push(`Skipped for model <code>${escapeHtml(model)}</code>: no ${escapeHtml(what)} results (${SUBSET_LABEL[c.subset]}) in its summaries.`);
        continue;
      }
      if (noSubsets.length) {
        sec.notes.push(`Model <code>${escapeHtml(model)}</code>, ${escapeHtml(noSubsets.join(", "))}: the random-baseline files hold no numbers on ${SUBSET_LABEL[c.subset]} (made before quirky recorded subsets); recompute them with <code>--force</code> to draw the random median here.`);
      }
      const labels = reporters.map(reporterLabel);
      // the requested reporter first; if this model has no curves for it, the first one it has
      const shown = labels.includes(reporterLabel(c.reporter)) ? reporterLabel(c.reporter) : labels[0];
      const datasets = [...new Set(values.map((v) => v.dataset as string))];
      const id = `layerwise_${slug(model)}_${slug(c.reporter)}_${slug(c.train)}-${slug(c.test)}_${c.subset}`;
      const x = layerX();
      const y = aurocY(`AUROC (${SUBSET_LABEL[c.subset]})`);
      const color = againstColor();
      // the legend lists the random median only where it is drawn
      const dashes = withRandom ? { domain: ["probe", LM_LABEL, RANDOM_MEDIAN], range: [[1, 0], [2, 2], [7, 3, 2, 3]] } : { domain: ["probe", LM_LABEL], range: [[1, 0], [2, 2]] };
      const dash = { field: "series", type: "nominal", title: "line", scale: dashes, legend: STROKE_LEGEND };
      const probe = {
        name: "probe",
        transform: [{ filter: `datum.series === 'probe' && datum.method === ${PICK}` }],
        params: [legendSelection("pick", "against")],
        mark: { type: "line", point: { filled: true, size: 14 }, strokeWidth: 2 },
        encoding: {
          x,
          y,
          color,
          strokeDash: dash,
          opacity: highlight("pick"),
          tooltip: [{ field: "dataset", title: "dataset" }, { field: "method", title: "method" }, { field: "against", title: "against" }, { field: "layer", type: "quantitative", title: "layer" }, aurocTooltip()],
        },
      };
      const random = {
        name: "random_median",
        transform: [{ filter: `datum.series === '${RANDOM_MEDIAN}'` }],
        mark: { type: "line", strokeWidth: 1.5 },
        encoding: { x, y, color, strokeDash: dash, opacity: highlight("pick"), tooltip: [{ field: "dataset", title: "dataset" }, { field: "series", title: "line" }, { field: "layer", type: "quantitative", title: "layer" }, aurocTooltip()] },
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
      const layers = [probe, ...(withRandom ? [random] : []), lmRule, chanceLayer()];
      const spec = facetedLayers(values, "dataset", datasets, facetColumns(datasets.length), layers, `${model}: ${what}, AUROC on ${SUBSET_LABEL[c.subset]} by layer`);
      // the reporter menu: a top-level variable, bound to a <select> in the page (ignored by the static render)
      spec.params = [{ name: PICK, value: shown, bind: { input: "select", options: labels, name: "method " } }];
      const randomText = withRandom
        ? "dash-dot: median AUROC of random directions on the same transfer and examples, against Alice's labels"
        : `no random-direction baseline for ${what} (the grid runs it on AE→AE and AE→BH)`;
      sec.figures.push({
        id,
        title: `${model} — ${what} on ${SUBSET_LABEL[c.subset]} (static image: ${shown})`,
        caption:
          `Probes fitted on ${c.train} and tested on ${c.test}, AUROC on ${SUBSET_LABEL[c.subset]} at every layer against Alice's and Bob's labels; ` +
          `the static image shows ${shown}, the menu under the interactive figure picks any of ${labels.join(", ")}; ` +
          `dotted lines: the LM's own output; ${randomText}; dashed grey line: chance (0.5).`,
        spec,
        dataFile: "layerwise",
        expect: { axisTitles: ["layer", y.title], legend: true, chance: true },
      });
    }
  }
  sec.data.push({ name: "layerwise", rows });
  return sec;
}

