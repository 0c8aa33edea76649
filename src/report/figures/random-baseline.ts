/**
 * Random-direction baseline: per model, one panel per dataset and transfer (AE→AE, AE→BH), the AUROC of random
 * residual-stream directions at paired quantiles 2⁻ᵏ and 1 − 2⁻ᵏ (k = 16, 12, 8, 4, 2; shades of blue, darkest
 * the median) at every layer, with the fitted LogR probe on the same transfer in black and the dashed chance
 * line. A probe above the upper quantiles finds more than a random direction would.
 */
import type { ExperimentData } from "../load.ts";
import { num } from "../load.ts";
import type { Row } from "../csv.ts";
import { escapeHtml } from "../escape.ts";
import { LABEL_COLUMNS } from "../../analysis/metrics.ts";
import { aurocTooltip, aurocY, chanceLayer, facetColumns, facetedLayers, findTransfer, highlight, layerX, legendSelection, newSection, slug, type Section } from "./vega.ts";

/** Quantile bands drawn (others are in the CSV): tail probability 2^-k and its complement. */
const SHOWN_TAILS = [16, 12, 8, 4, 2];
const sup = (n: number) => String(n).replace(/\d/g, (d) => "⁰¹²³⁴⁵⁶⁷⁸⁹"[+d]);
const tailLabel = (k: number) => (k === 2 ? "25% / 75%" : `2⁻${sup(k)} / 1−2⁻${sup(k)}`);
const LOGR_LABEL = "LogR (fitted probe)";

export function randomSection(data: ExperimentData): Section {
  const sec = newSection("random", "Random-direction baseline", "AUROC of random directions in the residual stream (sign fixed on the training set), at quantiles from 2⁻¹⁶ to 1 − 2⁻¹⁶ over the " +
      "sampled directions, per layer, next to the fitted LogR probe on the same transfer.");
  const rows: Row[] = [];
  if (data.random.length === 0) {
    sec.notes.push("Skipped: no random-baseline results (<code>&lt;model&gt;/&lt;dataset&gt;/BH/test/AE_random_aucs_against_alice.json</code>) found.");
    return sec;
  }
  // k of the tail 2^-k a quantile belongs to (1 for the median)
  const tailOf = (q: number) => (Math.abs(q - 0.5) < 1e-12 ? 1 : Math.round(-Math.log2(Math.min(q, 1 - q))));
  const colorDomain = [LOGR_LABEL, "median", ...SHOWN_TAILS.slice().reverse().map(tailLabel)];
  const colorRange = ["#000000", "#08306b", "#2171b5", "#4292c6", "#6baed6", "#9ecae1", "#c6dbef"];
  for (const model of [...new Set(data.random.map((r) => r.model))]) {
    const values: Row[] = [];
    const panels: string[] = [];
    for (const r of data.random.filter((r) => r.model === model)) {
      const panel = `${r.dataset} · ${r.train}→${r.test}`;
      panels.push(panel);
      r.layers.forEach((l, layer) => {
        rows.push({ model, dataset: r.dataset, train: r.train, test: r.test, against: r.labelCol, layer, statistic: "mean", q: null, auroc: num(l.mean) });
        for (const { q, auroc } of l.quantiles) {
          rows.push({ model, dataset: r.dataset, train: r.train, test: r.test, against: r.labelCol, layer, statistic: "quantile", q, auroc: num(auroc) });
          const k = tailOf(q);
          const shown = k === 1 || SHOWN_TAILS.includes(k);
          if (shown && Number.isFinite(num(auroc))) {
            values.push({ panel, layer, q, series: k === 1 ? "median" : tailLabel(k), auroc: num(auroc) });
          }
        }
      });
      const run = data.runs.find((x) => x.model === model && x.dataset === r.dataset);
      const lr = run && findTransfer(run.transfers, "lr", r.train, r.test);
      const col = LABEL_COLUMNS.find((c) => c === r.labelCol) ?? "alice";
      lr?.curves[col].all.forEach((v, layer) => {
        if (Number.isFinite(num(v))) values.push({ panel, layer, q: -1, series: LOGR_LABEL, auroc: num(v) });
      });
    }
    if (values.length === 0) continue;
    const hasLogR = values.some((v) => v.series === LOGR_LABEL);
    if (!hasLogR) sec.notes.push(`Model <code>${escapeHtml(model)}</code>: no LogR transfer to compare with the random baseline (its summary.json lacks lr AE→AE/BH).`);
    const x = layerX();
    const y = aurocY("AUROC vs Alice's labels");
    const color = { field: "series", type: "nominal", title: "random-direction quantile", sort: colorDomain, scale: { domain: colorDomain, range: colorRange } };
    const tooltip = [
      { field: "panel", title: "dataset · transfer" },
      { field: "series", title: "series" },
      { field: "q", type: "quantitative", title: "quantile", format: ".6g" },
      { field: "layer", type: "quantitative" },
      aurocTooltip(),
    ];
    const quantiles = {
      name: "quantiles",
      transform: [{ filter: `datum.series !== '${LOGR_LABEL}'` }],
      params: [legendSelection("pick", "series")],
      mark: { type: "line", strokeWidth: 1.3 },
      encoding: { x, y, color, detail: { field: "q", type: "quantitative" }, opacity: highlight("pick"), tooltip },
    };
    const logr = {
      name: "logr",
      transform: [{ filter: `datum.series === '${LOGR_LABEL}'` }],
      mark: { type: "line", strokeWidth: 2.5, point: { filled: true, size: 14 } },
      encoding: { x, y, color, opacity: highlight("pick"), tooltip },
    };
    const spec = facetedLayers(values, "panel", panels, facetColumns(panels.length, 2), [quantiles, logr, chanceLayer()], `${model}: random-direction AUROC quantiles by layer`);
    sec.figures.push({
      id: `random_baseline_${slug(model)}`,
      title: `${model} — random-direction baseline`,
      caption:
        "Blue lines: AUROC of random directions at paired quantiles (2⁻ᵏ and 1 − 2⁻ᵏ share a colour; darkest: median); black: the fitted LogR probe; dashed: chance.",
      spec,
      dataFile: "random_baseline",
      expect: { axisTitles: ["layer", y.title], legend: true, chance: true },
    });
  }
  sec.data.push({ name: "random_baseline", rows });
  return sec;
}
