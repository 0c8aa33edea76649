/**
 * The report's figures as Vega-Lite specs (data inlined), plus the rows behind them (written as CSV/JSON).
 *
 * Every chart: titled axes; a legend whenever it draws several series (bound to a point selection, so clicking a
 * legend entry highlights that series in the page); tooltips on the marks; and, where the paper draws one, a
 * dashed chance line at AUROC 0.5 (a rule layer named "chance", so its SVG group has the class `chance_marks`).
 */
import type { ExperimentData, RunSummary } from "./load.ts";
import { num } from "./load.ts";
import type { Row } from "./csv.ts";
import { escapeHtml } from "./escape.ts";
import type { TransferSummary } from "../analysis/summary.ts";

export type VlSpec = Record<string, unknown>;

export type SectionId = "layerwise" | "transfer" | "scatter" | "random" | "pgr" | "anomaly" | "intervention";

export interface FigureDef {
  /** file-safe id: the SVG is `<id>.svg`, the spec `specs/<id>.vl.json` */
  id: string;
  title: string;
  caption: string;
  spec: VlSpec;
  /** basename of the data/*.csv|json file holding its numbers */
  dataFile: string;
  /** what a reader must find in the rendered figure */
  expect: { axisTitles: string[]; legend: boolean; chance: boolean };
}

export interface Section {
  id: SectionId;
  title: string;
  intro: string;
  figures: FigureDef[];
  /** HTML tables (already escaped) */
  tables: string[];
  /** visible notes: skipped figures, missing inputs */
  notes: string[];
  /** numbers behind the section: data/<name>.csv and .json */
  data: { name: string; rows: Row[] }[];
}

export const METHOD_LABEL: Record<string, string> = {
  lr: "LogR",
  "mean-diff": "Diff-in-means",
  lda: "LDA",
  "lr-on-pair": "LogR on pairs",
  "mean-diff-on-pair": "Diff-in-means on pairs",
  ccs: "CCS",
  crc: "CRC",
};
export const METHODS = Object.keys(METHOD_LABEL);
const METHOD_COLORS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d"];
export const LM_LABEL = "LM output";
const LM_COLOR = "#8c8c8c";
export const methodLabel = (r: string) => METHOD_LABEL[r] ?? r;
const methodRank = (r: string) => (METHODS.includes(r) ? METHODS.indexOf(r) : METHODS.length);
export const sortMethods = (rs: Iterable<string>) => [...new Set(rs)].sort((a, b) => methodRank(a) - methodRank(b) || a.localeCompare(b));

const AGAINST = { alice: "Alice's labels", bob: "Bob's labels" } as const;
const AGAINST_COLORS = ["#1f77b4", "#d62728"];
const SUBSET_LABEL: Record<string, string> = { all: "all examples", agree: "agreements", disagree: "disagreements" };

/** File- and id-safe name: letters, digits, "_" and "-" only ("A→B" becomes "A-B"). */
export const slug = (s: string) => s.replace(/→/g, "-").replace(/[^A-Za-z0-9_-]+/g, "_");
const fin = (x: number) => (Number.isFinite(x) ? x : null);
const FACET_W = 180;
/**
 * Facet columns for n panels: at most 4, as few empty cells as possible (ties: more columns); `step` 2 keeps
 * panels that come in pairs (AE→AE, AE→BH of one dataset) on one row.
 */
export function facetColumns(n: number, step = 1): number {
  if (n <= 4 && n % step === 0) return Math.max(1, n);
  const first = Math.max(2, step);
  let best = first;
  for (let c = first; c <= 4; c += step) {
    const empty = (c - (n % c)) % c;
    const bestEmpty = (best - (n % best)) % best;
    if (empty <= bestEmpty) best = c;
  }
  return best;
}
const FACET_H = 150;

/** The dashed chance line at AUROC 0.5: one rule per view (the aggregate makes one row, also inside facets). */
export function chanceLayer(): VlSpec {
  return {
    name: "chance",
    transform: [{ aggregate: [{ op: "count", as: "_rows" }] }],
    mark: { type: "rule", strokeDash: [6, 4], color: "#555", strokeWidth: 1.2 },
    encoding: { y: { datum: 0.5 } },
  };
}

function legendSelection(name: string, field: string): VlSpec {
  return { name, select: { type: "point", fields: [field] }, bind: "legend" };
}
/** Line-style legends drawn as short strokes, so dotted and dashed read as such. */
const STROKE_LEGEND = { symbolType: "stroke", symbolStrokeWidth: 2, symbolSize: 320, symbolStrokeColor: "#333" };
const highlight = (param: string) => ({ condition: { param, value: 1 }, value: 0.12 });

const baseConfig = {
  background: "white",
  font: "sans-serif",
  axis: { titleFontSize: 12, labelFontSize: 11, grid: true, gridColor: "#eee" },
  legend: { titleFontSize: 12, labelFontSize: 11, labelLimit: 320, titleLimit: 320 },
  header: { labelFontSize: 12, labelFontWeight: "bold", title: null },
  view: { stroke: "#ccc" },
};

function topLevel(spec: VlSpec, title: string): VlSpec {
  return { $schema: "https://vega.github.io/schema/vega-lite/v6.json", title: { text: title, anchor: "start", fontSize: 14, offset: 10 }, config: baseConfig, ...spec };
}

const find = (ts: TransferSummary[], reporter: string, train: string, test: string) => ts.find((t) => t.reporter === reporter && t.train === train && t.test === test);

// ---------------------------------------------------------------------------------------------------------------
// 1. Layerwise AUROC curves

export interface LayerwiseConfig {
  reporter: string;
  train: string;
  test: string;
  subset: "all" | "agree" | "disagree";
}

/** An empty section: figures, tables, notes and data are filled in by its builder. */
function newSection(id: SectionId, title: string, intro: string): Section {
  return { id, title, intro, figures: [], tables: [], notes: [], data: [] };
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
        const t = find(run.transfers, c.reporter, c.train, c.test);
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
      const what = `${methodLabel(c.reporter)} ${c.train}→${c.test}`;
      if (!values.some((v) => v.series === "probe")) {
        sec.notes.push(`Skipped for model <code>${escapeHtml(model)}</code>: no ${what} results (${SUBSET_LABEL[c.subset]}) in its summaries.`);
        continue;
      }
      const datasets = [...new Set(values.map((v) => v.dataset as string))];
      const id = `layerwise_${slug(model)}_${slug(c.reporter)}_${slug(c.train)}-${slug(c.test)}_${c.subset}`;
      const x = { field: "layer", type: "quantitative", title: "layer", axis: { tickMinStep: 1 } };
      const y = { field: "auroc", type: "quantitative", title: `AUROC (${SUBSET_LABEL[c.subset]})`, scale: { domain: [0, 1] } };
      const color = { field: "against", type: "nominal", title: "AUROC against", scale: { domain: [AGAINST.alice, AGAINST.bob], range: AGAINST_COLORS } };
      const dash = { field: "series", type: "nominal", title: "line", scale: { domain: ["probe", LM_LABEL], range: [[1, 0], [2, 2]] }, legend: STROKE_LEGEND };
      const spec = topLevel(
        {
          data: { values },
          facet: { field: "dataset", type: "nominal", title: null, sort: datasets },
          columns: facetColumns(datasets.length),
          spec: {
            width: FACET_W,
            height: FACET_H,
            layer: [
              {
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
                  tooltip: [
                    { field: "dataset", title: "dataset" },
                    { field: "against", title: "against" },
                    { field: "layer", type: "quantitative", title: "layer" },
                    { field: "auroc", type: "quantitative", title: "AUROC", format: ".3f" },
                  ],
                },
              },
              {
                name: "lm",
                transform: [{ filter: `datum.series === '${LM_LABEL}'` }],
                mark: { type: "rule", strokeWidth: 2 },
                encoding: {
                  y,
                  color,
                  strokeDash: dash,
                  opacity: highlight("pick"),
                  tooltip: [
                    { field: "dataset", title: "dataset" },
                    { field: "series", title: "line" },
                    { field: "against", title: "against" },
                    { field: "auroc", type: "quantitative", title: "AUROC", format: ".3f" },
                  ],
                },
              },
              chanceLayer(),
            ],
          },
        },
        `${model}: ${what}, AUROC on ${SUBSET_LABEL[c.subset]} by layer`,
      );
      sec.figures.push({
        id,
        title: `${model} — ${what} on ${SUBSET_LABEL[c.subset]}`,
        caption:
          `${methodLabel(c.reporter)} probes fitted on ${c.train} and tested on ${c.test}, AUROC on ${SUBSET_LABEL[c.subset]} at every layer ` +
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

// ---------------------------------------------------------------------------------------------------------------
// 2. Transfer bar chart at the EIL

export const BAR_TRANSFERS = ["A→B", "B→A", "AE→AH", "AE→BH"];

function meanSe(xs: number[]): { mean: number; se: number; n: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, se: NaN, n };
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, se: Math.sqrt(v / n), n };
}

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
        raw.push({ model: run.model, dataset: run.dataset, transfer: tr, reporter: t.reporter, method: methodLabel(t.reporter), eil: t.eil, auroc });
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
  const reporters = sortMethods(raw.filter((r) => r.reporter !== "lm").map((r) => r.reporter as string));
  const methods = [...reporters.map(methodLabel), LM_LABEL];
  const colors = [...reporters.map((r) => METHOD_COLORS[methodRank(r)] ?? "#333"), LM_COLOR];
  const bars: Row[] = [];
  for (const tr of BAR_TRANSFERS) {
    for (const m of methods) {
      const xs = raw.filter((r) => r.transfer === tr && r.method === m).map((r) => r.auroc as number).filter(Number.isFinite);
      if (xs.length === 0) continue;
      const { mean, se, n } = meanSe(xs);
      bars.push({ transfer: tr, method: m, mean, se: fin(se), lo: Number.isFinite(se) ? mean - se : null, hi: Number.isFinite(se) ? mean + se : null, n });
    }
  }
  const transfers = BAR_TRANSFERS.filter((t) => bars.some((b) => b.transfer === t));
  const x = { field: "transfer", type: "nominal", sort: transfers, title: "transfer (train → test)", axis: { labelAngle: 0 } };
  const xOffset = { field: "method", type: "nominal", sort: methods };
  const y = { field: "mean", type: "quantitative", title: "AUROC vs Alice's labels", scale: { domain: [0, 1] } };
  const spec = topLevel(
    {
      data: { values: bars },
      width: Math.max(360, transfers.length * methods.length * 18),
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
            color: { field: "method", type: "nominal", title: "method", sort: methods, scale: { domain: methods, range: colors } },
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

// ---------------------------------------------------------------------------------------------------------------
// 3. In-distribution vs out-of-distribution

export const SCATTER_TRANSFERS = ["A→B", "AE→BH"];

export function scatterSection(data: ExperimentData): Section {
  const sec = newSection("scatter", "In-distribution vs transfer AUROC", "Each point is one method on one dataset (and model): its in-distribution AUROC (trained and tested on the same distribution) " +
      "against its transfer AUROC, both at the EIL and against Alice's labels. Points on the dotted diagonal lose nothing in transfer.");
  const rows: Row[] = [];
  for (const run of data.runs) {
    for (const tr of SCATTER_TRANSFERS) {
      const [train, test] = tr.split("→");
      for (const t of run.transfers.filter((t) => t.train === train && t.test === test)) {
        const idT = find(run.transfers, t.reporter, train, train);
        const id = num(idT?.atEil?.alice?.all);
        const ood = num(t.atEil?.alice?.all);
        if (!Number.isFinite(id) || !Number.isFinite(ood)) continue;
        rows.push({ model: run.model, dataset: run.dataset, reporter: t.reporter, method: methodLabel(t.reporter), transfer: tr, eil: t.eil, id_auroc: id, transfer_auroc: ood });
      }
    }
  }
  if (rows.length === 0) {
    sec.notes.push(`Skipped: no ${SCATTER_TRANSFERS.join(" or ")} transfers with their in-distribution counterparts in any summary.json.`);
    return sec;
  }
  const reporters = sortMethods(rows.map((r) => r.reporter as string));
  const methods = reporters.map(methodLabel);
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
            color: { field: "method", type: "nominal", title: "method", sort: methods, scale: { domain: methods, range: reporters.map((r) => METHOD_COLORS[methodRank(r)] ?? "#333") } },
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

// ---------------------------------------------------------------------------------------------------------------
// 4. Random-direction baseline

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
      const lr = run && find(run.transfers, "lr", r.train, r.test);
      const col = (["label", "alice", "bob"] as const).find((c) => c === r.labelCol) ?? "alice";
      lr?.curves[col].all.forEach((v, layer) => {
        if (Number.isFinite(num(v))) values.push({ panel, layer, q: -1, series: LOGR_LABEL, auroc: num(v) });
      });
    }
    if (values.length === 0) continue;
    const hasLogR = values.some((v) => v.series === LOGR_LABEL);
    if (!hasLogR) sec.notes.push(`Model <code>${escapeHtml(model)}</code>: no LogR transfer to compare with the random baseline (its summary.json lacks lr AE→AE/BH).`);
    const x = { field: "layer", type: "quantitative", title: "layer", axis: { tickMinStep: 1 } };
    const y = { field: "auroc", type: "quantitative", title: "AUROC vs Alice's labels", scale: { domain: [0, 1] } };
    const color = { field: "series", type: "nominal", title: "random-direction quantile", sort: colorDomain, scale: { domain: colorDomain, range: colorRange } };
    const tooltip = [
      { field: "panel", title: "dataset · transfer" },
      { field: "series", title: "series" },
      { field: "q", type: "quantitative", title: "quantile", format: ".6g" },
      { field: "layer", type: "quantitative" },
      { field: "auroc", type: "quantitative", title: "AUROC", format: ".3f" },
    ];
    const spec = topLevel(
      {
        data: { values },
        facet: { field: "panel", type: "nominal", title: null, sort: panels },
        columns: facetColumns(panels.length, 2),
        spec: {
          width: FACET_W,
          height: FACET_H,
          layer: [
            {
              name: "quantiles",
              transform: [{ filter: `datum.series !== '${LOGR_LABEL}'` }],
              params: [legendSelection("pick", "series")],
              mark: { type: "line", strokeWidth: 1.3 },
              encoding: { x, y, color, detail: { field: "q", type: "quantitative" }, opacity: highlight("pick"), tooltip },
            },
            {
              name: "logr",
              transform: [{ filter: `datum.series === '${LOGR_LABEL}'` }],
              mark: { type: "line", strokeWidth: 2.5, point: { filled: true, size: 14 } },
              encoding: { x, y, color, opacity: highlight("pick"), tooltip },
            },
            chanceLayer(),
          ],
        },
      },
      `${model}: random-direction AUROC quantiles by layer`,
    );
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

// ---------------------------------------------------------------------------------------------------------------
// 5. PGR

export const PGR_TRANSFERS = ["AE→BH", "A→B", "all→BH"];

export function pgrSection(data: ExperimentData, tables: (pgr: NonNullable<ExperimentData["pgr"]>) => string[]): Section {
  const sec = newSection("pgr", "Performance gap recovered (PGR)", "PGR = (transfer AUROC at the EIL − floor) / (ceiling − floor), against Alice's labels on all examples, AUROCs averaged over models " +
      "before the ratio. AE→BH: floor B→BH, ceiling A→AH; A→B: floor B→B, ceiling A→A (final-layer LogR). 1 recovers the whole gap; 0 " +
      "does no better than a probe trained on Bob's labels.");
  if (!data.pgr || data.pgr.length === 0) {
    sec.notes.push(`Skipped: no <code>pgr.json</code> in the experiments folder (run <code>quirky tables ${escapeHtml(data.expDir)}</code>).`);
    return sec;
  }
  const rows: Row[] = [];
  const bars: Row[] = [];
  for (const r of data.pgr) {
    for (const [dataset, v] of Object.entries(r.perDataset)) {
      rows.push({ transfer: r.transfer, reporter: r.reporter, method: methodLabel(r.reporter), dataset, auroc: num(v.auroc), floor: num(v.floor), ceiling: num(v.ceiling), pgr: num(v.pgr) });
    }
    const o = r.overall;
    rows.push({ transfer: r.transfer, reporter: r.reporter, method: methodLabel(r.reporter), dataset: "overall", auroc: num(o.auroc), floor: num(o.floor), ceiling: num(o.ceiling), pgr: num(o.pgr) });
    if (Number.isFinite(num(o.pgr))) bars.push({ transfer: r.transfer, reporter: r.reporter, method: methodLabel(r.reporter), pgr: num(o.pgr), auroc: num(o.auroc), floor: num(o.floor), ceiling: num(o.ceiling) });
  }
  sec.tables.push(...tables(data.pgr));
  sec.data.push({ name: "pgr", rows });
  if (bars.length === 0) {
    sec.notes.push("PGR chart skipped: no finite overall PGR in pgr.json.");
    return sec;
  }
  const reporters = sortMethods(bars.map((b) => b.reporter as string));
  const methods = reporters.map(methodLabel);
  const transfers = [...PGR_TRANSFERS.filter((t) => bars.some((b) => b.transfer === t)), ...new Set(bars.map((b) => b.transfer as string).filter((t) => !PGR_TRANSFERS.includes(t)))];
  const x = { field: "method", type: "nominal", sort: methods, title: "method", axis: { labelAngle: -30 } };
  const pgrs = bars.map((b) => b.pgr as number);
  const y = { field: "pgr", type: "quantitative", title: "PGR (overall)", scale: { domain: [Math.min(0, ...pgrs), Math.max(1.1, ...pgrs)] } };
  const spec = topLevel(
    {
      width: Math.max(320, methods.length * transfers.length * 22),
      height: 240,
      layer: [
        {
          name: "bars",
          data: { values: bars },
          params: [legendSelection("pick", "transfer")],
          mark: { type: "bar" },
          encoding: {
            x,
            xOffset: { field: "transfer", type: "nominal", sort: transfers },
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
    caption: "Overall PGR per method and transfer (dashed line: PGR = 1, the whole gap recovered).",
    spec,
    dataFile: "pgr",
    expect: { axisTitles: ["method", "PGR (overall)"], legend: true, chance: false },
  });
  return sec;
}

// ---------------------------------------------------------------------------------------------------------------
// 6. Anomaly detection (tables only)

export function anomalySection(data: ExperimentData, tables: (a: ExperimentData["anomaly"]) => string[]): Section {
  const sec = newSection("anomaly", "Anomaly detection", "Detectors fitted on probe outputs (per-layer log-odds) for Alice's easy examples, scoring Alice's hard (normal) against Bob's hard " +
      "(anomalous) examples: AUROC with a bootstrap 95% interval.");
  if (data.anomaly.length === 0) {
    sec.notes.push("Skipped: no anomaly-detection results (<code>&lt;model&gt;/&lt;dataset&gt;/anomaly_&lt;reporter&gt;.json</code>) found.");
    return sec;
  }
  const rows: Row[] = data.anomaly.flatMap((a) =>
    a.results.map((r) => ({ model: a.model, dataset: a.dataset, reporter: a.reporter, method: r.method, auroc: num(r.auroc), lo: num(r.lo), hi: num(r.hi), n_normal: num(r.nNormal), n_anomalous: num(r.nAnomalous) })),
  );
  sec.tables.push(...tables(data.anomaly));
  sec.data.push({ name: "anomaly", rows });
  return sec;
}

// ---------------------------------------------------------------------------------------------------------------
// 7. Interventions

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
      const panel = several ? `${run.dataset} · ${methodLabel(run.reporter)}` : run.dataset;
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
    const x = { field: "layer", type: "quantitative", title: "layer intervened on", axis: { tickMinStep: 1 } };
    const y = { field: "auroc", type: "quantitative", title: "output AUROC", scale: { domain: [0, 1] } };
    const reporters = [...new Set(runs.map((r) => methodLabel(r.reporter)))].join(", ");
    const spec = topLevel(
      {
        data: { values },
        facet: { field: "panel", type: "nominal", title: null, sort: panels },
        columns: facetColumns(panels.length),
        spec: {
          width: FACET_W,
          height: FACET_H,
          layer: [
            {
              name: "output",
              params: [legendSelection("pick", "against")],
              mark: { type: "line", point: { filled: true, size: 14 }, strokeWidth: 2 },
              encoding: {
                x,
                y,
                color: { field: "against", type: "nominal", title: "AUROC against", scale: { domain: [AGAINST.alice, AGAINST.bob], range: AGAINST_COLORS } },
                strokeDash: { field: "condition", type: "nominal", title: "output", scale: { domain: ["intervened", "clean"], range: [[1, 0], [5, 3]] }, legend: STROKE_LEGEND },
                opacity: highlight("pick"),
                tooltip: [
                  { field: "panel", title: "dataset" },
                  { field: "condition" },
                  { field: "against" },
                  { field: "layer", type: "quantitative" },
                  { field: "auroc", type: "quantitative", title: "AUROC", format: ".3f" },
                ],
              },
            },
            chanceLayer(),
          ],
        },
      },
      `${model}: output AUROC with the residual stream reflected across the ${reporters} direction`,
    );
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

export type { RunSummary };
