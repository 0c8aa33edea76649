/**
 * What every figure of the report shares: the section and figure types, method names and colours, the Vega-Lite
 * spec wrapper (title, fonts, grid), facet sizes, the common encodings (layer axis, AUROC axis, "against" colours,
 * legend-bound highlighting) and the dashed chance line.
 *
 * Every chart: titled axes; a legend whenever it draws several series (bound to a point selection, so clicking a
 * legend entry highlights that series in the page); tooltips on the marks; and, where the paper draws one, a
 * dashed chance line at AUROC 0.5 (a rule layer named "chance", so its SVG group has the class `chance_marks`).
 */
import { FITTED_REPORTER_NAMES, reporterDisplayName } from "../../probes/reporter.ts";
import type { Row } from "../csv.ts";
import type { TransferSummary } from "../../analysis/summary.ts";

export type VlSpec = Record<string, unknown>;

export type SectionId = "output" | "layerwise" | "transfer" | "scatter" | "random" | "pgr" | "anomaly" | "intervention";

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
  /** the sentence the section opens with: what ours shows against the paper's (src/report/leads.ts) */
  lead?: string;
  figures: FigureDef[];
  /** HTML tables (already escaped) */
  tables: string[];
  /** visible notes: skipped figures, missing inputs */
  notes: string[];
  /** numbers behind the section: data/<name>.csv and .json */
  data: { name: string; rows: Row[] }[];
}

/** An empty section: figures, tables, notes and data are filled in by its builder. */
export function newSection(id: SectionId, title: string, intro: string): Section {
  return { id, title, intro, figures: [], tables: [], notes: [], data: [] };
}

/** Reporters' display names, in the paper's order (figures and CSVs call the column "method", as the paper does). */
/** The fitted reporters, in the registry's order (probes/reporter.ts), each with its colour below. */
export const REPORTERS = FITTED_REPORTER_NAMES as readonly string[];
const REPORTER_COLORS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d"];
export const LM_LABEL = "LM output";
export const LM_COLOR = "#8c8c8c";
export const reporterLabel = (r: string) => (REPORTERS.includes(r) ? reporterDisplayName(r) : r);
const reporterRank = (r: string) => (REPORTERS.includes(r) ? REPORTERS.indexOf(r) : REPORTERS.length);
/** Reporters in the paper's order (unknown ones last, alphabetically), each once. */
export const sortReporters = (rs: Iterable<string>) => [...new Set(rs)].sort((a, b) => reporterRank(a) - reporterRank(b) || a.localeCompare(b));
/** A reporter's colour, the same in every figure (dark grey for reporters the report does not know). */
export const reporterColor = (r: string) => REPORTER_COLORS[reporterRank(r)] ?? "#333";

export const AGAINST = { alice: "Alice's labels", bob: "Bob's labels" } as const;
const AGAINST_COLORS = ["#1f77b4", "#d62728"];
export const SUBSET_LABEL: Record<string, string> = { all: "all examples", agree: "agreements", disagree: "disagreements" };

/** File- and id-safe name: letters, digits, "_" and "-" only ("A→B" becomes "A-B"). */
export const slug = (s: string) => s.replace(/→/g, "-").replace(/[^A-Za-z0-9_-]+/g, "_");

/** The transfer of `reporter` fitted on `train` and tested on `test`, if the summary has it. */
export const findTransfer = (ts: TransferSummary[], reporter: string, train: string, test: string) =>
  ts.find((t) => t.reporter === reporter && t.train === train && t.test === test);

// panels large enough to read on a wide screen (the page lays figures out in a grid)
const FACET_W = 250;
const FACET_H = 190;
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

/** The dashed chance line at AUROC 0.5: one rule per view (the aggregate makes one row, also inside facets). */
export function chanceLayer(): VlSpec {
  return {
    name: "chance",
    transform: [{ aggregate: [{ op: "count", as: "_rows" }] }],
    mark: { type: "rule", strokeDash: [6, 4], color: "#555", strokeWidth: 1.2 },
    encoding: { y: { datum: 0.5 } },
  };
}

/** A point selection bound to the legend: clicking an entry picks that value of `field`. */
export function legendSelection(name: string, field: string): VlSpec {
  return { name, select: { type: "point", fields: [field] }, bind: "legend" };
}
/** Line-style legends drawn as short strokes, so dotted and dashed read as such. */
export const STROKE_LEGEND = { symbolType: "stroke", symbolStrokeWidth: 2, symbolSize: 320, symbolStrokeColor: "#333" };
/** Opacity that fades every series but the one picked in the legend. */
export const highlight = (param: string) => ({ condition: { param, value: 1 }, value: 0.12 });

/** x: the layer index, integer ticks. */
export const layerX = (title = "layer") => ({ field: "layer", type: "quantitative", title, axis: { tickMinStep: 1 } });
/** y: an AUROC on the full [0, 1] range. */
export const aurocY = (title: string, field = "auroc") => ({ field, type: "quantitative", title, scale: { domain: [0, 1] } });
/** colour: which labels the AUROC is against (blue Alice, red Bob). */
export const againstColor = () => ({ field: "against", type: "nominal", title: "AUROC against", scale: { domain: [AGAINST.alice, AGAINST.bob], range: AGAINST_COLORS } });
/** tooltip entry for the "auroc" field, three decimals. */
export const aurocTooltip = () => ({ field: "auroc", type: "quantitative", title: "AUROC", format: ".3f" });

const baseConfig = {
  background: "white",
  font: "sans-serif",
  axis: { titleFontSize: 12, labelFontSize: 11, grid: true, gridColor: "#eee" },
  legend: { titleFontSize: 12, labelFontSize: 11, labelLimit: 320, titleLimit: 320 },
  header: { labelFontSize: 12, labelFontWeight: "bold", title: null },
  view: { stroke: "#ccc" },
};

/** The spec wrapper: schema, a left-anchored title and the shared config, then the figure's own spec. */
export function topLevel(spec: VlSpec, title: string): VlSpec {
  return { $schema: "https://vega.github.io/schema/vega-lite/v6.json", title: { text: title, anchor: "start", fontSize: 14, offset: 10 }, config: baseConfig, ...spec };
}

/** Small multiples: the same layers drawn once per value of `field` (panels in `sort` order), wrapped by topLevel. */
export function facetedLayers(values: Row[], field: string, sort: string[], columns: number, layer: VlSpec[], title: string): VlSpec {
  return topLevel(
    {
      data: { values },
      facet: { field, type: "nominal", title: null, sort },
      columns,
      spec: { width: FACET_W, height: FACET_H, layer },
    },
    title,
  );
}
