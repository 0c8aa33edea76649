/**
 * The paper's published numbers, in one place, for the report and the explorer to set ours beside:
 *
 *   Mallen, Brumley, Kharchenko, Belrose (2023), "Eliciting Latent Knowledge from Quirky Language Models",
 *   arXiv 2312.01037 (v4), and the reference's `elk_generalization/results/figures.ipynb` at commit 8f30c6d,
 *   whose saved outputs print the paper's tables.
 *
 * Each table below is the notebook's printed LaTeX rows, copied verbatim (only the method names' LaTeX line breaks
 * dropped), with the index of the cell that printed them, so every number traces to its cell. They are parsed, not
 * retyped. The paper's numbers are averages over its eight models, so they compare with ours in kind, not digit
 * for digit. Reporters the notebook has no sound number for get none (the report shows a dash and says why).
 */
import { REPORTERS, isReporterName } from "../probes/reporter.ts";

export const PAPER_CITATION = "Mallen et al. 2023, “Eliciting Latent Knowledge from Quirky Language Models” (arXiv 2312.01037 v4)";
export const PAPER_SHORT = "Mallen et al. 2023";
export const PAPER_NOTEBOOK = { repo: "EleutherAI/elk-generalization", commit: "8f30c6d", path: "elk_generalization/results/figures.ipynb" } as const;
/** Where the numbers come from, for a page's footnote. */
export const PAPER_SOURCE_NOTE = `${PAPER_CITATION}; numbers from the saved outputs of ${PAPER_NOTEBOOK.path} at commit ${PAPER_NOTEBOOK.commit} of ${PAPER_NOTEBOOK.repo}`;

/** The notebook's dataset columns, in its order (cap hem sciq snt nli aut add sub mul mod sqr; population omitted). */
export const PAPER_DATASETS = ["capitals", "hemisphere", "sciq", "sentiment", "nli", "authors", "addition", "subtraction", "multiplication", "modularaddition", "squaring"] as const;

/** Why a dataset has no paper number: the notebook leaves population out of every table. */
export const NO_PAPER_DATASET = "the paper leaves population out of its tables (its hard split has only false labels)";
/** Why Diff-in-means on pairs has no paper number. */
export const NO_PAPER_MEAN_DIFF_PAIR = "at 8f30c6d the notebook's Diff-in-means-on-pairs rows equal plain Diff-in-means (a bug fixed later in e001e93)";

/** One printed table: its cell, and per row name the printed text "v1 & v2 & … & avg". */
interface PrintedTable {
  cell: number;
  caption: string;
  rows: Record<string, string>;
}

/** PGR at the EIL: AE→BH (cell 21, floor B→BH, ceiling A→AH) and A→B (cell 23, floor B→B, ceiling A→A). */
const PGR_TABLES: Record<string, PrintedTable> = {
  "AE→BH": {
    cell: 21,
    caption: "tab:transfer (AE→BH PGR by method and dataset)",
    rows: {
      LogR: "-0.93 & 0.90 & 0.43 & 0.82 & 0.83 & 0.66 & 0.74 & 0.51 & 0.73 & 0.63 & 0.59 & 0.68",
      "Diff-in-means": "-1.84 & 0.78 & 0.39 & 0.74 & 0.65 & 5.38 & 0.87 & 0.68 & 0.74 & 0.66 & 0.63 & 0.69",
      LDA: "-2.91 & 0.71 & 0.32 & 0.70 & 0.78 & -3.34 & 0.73 & 0.35 & 0.74 & 0.56 & 0.64 & 0.60",
      "LogR on contrast pairs": "-1.03 & 0.92 & 0.40 & 0.92 & 0.86 & -2.76 & 0.81 & 0.49 & 0.88 & 0.73 & 0.75 & 0.75",
      CCS: "-6.68 & 0.52 & 0.28 & 0.93 & 0.35 & -14.59 & 0.73 & 0.59 & 0.72 & 0.45 & 0.68 & 0.54",
      CRC: "-8.43 & 0.38 & 0.47 & 0.82 & 0.37 & -19.47 & 0.92 & 0.63 & 0.73 & 0.42 & 0.66 & 0.54",
      "weak floor": "0.89 & 0.53 & 0.86 & 0.69 & 0.65 & 0.64 & 0.27 & 0.37 & 0.21 & 0.48 & 0.26 & 0.53",
      "strong ceil": "0.93 & 0.87 & 0.94 & 0.99 & 0.97 & 0.64 & 0.92 & 0.90 & 0.95 & 0.60 & 0.82 & 0.87",
    },
  },
  "all→BH": {
    cell: 21,
    caption: "tab:transfer, rows CCS (all→BH) and CRC (all→BH)",
    rows: {
      CCS: "-6.25 & 0.09 & -0.61 & 0.28 & -0.04 & -23.80 & 0.38 & 0.10 & 0.25 & -0.04 & 0.69 & 0.15",
      CRC: "-5.74 & 0.21 & -0.88 & 0.65 & 0.18 & -18.34 & 0.62 & 0.24 & 0.69 & 0.18 & 0.62 & 0.36",
    },
  },
  "A→B": {
    cell: 23,
    caption: "tab:transfer2 (A→B PGR by method and dataset; its caption says AE→BH, its setup is A→B with floor B→B, ceiling A→A)",
    rows: {
      LogR: "1.08 & 0.92 & 0.69 & 0.82 & 0.97 & 1.64 & 0.76 & 0.82 & 0.82 & 0.63 & 0.76 & 0.81",
      "Diff-in-means": "-1.23 & 0.77 & 0.80 & 0.74 & 0.79 & 2.04 & 0.92 & 0.89 & 0.68 & 0.71 & 0.63 & 0.76",
      LDA: "0.78 & 0.67 & 0.42 & 0.83 & 0.92 & 1.75 & 0.71 & 0.80 & 0.75 & 0.44 & 0.67 & 0.73",
      "LogR on contrast pairs": "1.10 & 0.91 & 0.77 & 0.92 & 0.98 & 1.54 & 0.92 & 0.94 & 0.90 & 0.71 & 0.80 & 0.89",
      CCS: "-5.59 & 0.50 & 0.53 & 0.94 & 0.67 & -1.96 & 0.89 & 0.70 & 0.68 & 0.52 & 0.71 & 0.66",
      CRC: "-7.01 & 0.48 & 0.71 & 0.83 & 0.60 & -1.78 & 0.96 & 0.72 & 0.72 & 0.51 & 0.74 & 0.66",
      "weak floor": "0.85 & 0.62 & 0.92 & 0.69 & 0.67 & 0.66 & 0.26 & 0.30 & 0.21 & 0.44 & 0.22 & 0.53",
      "strong ceil": "0.88 & 0.92 & 0.97 & 0.99 & 0.97 & 0.68 & 0.96 & 0.95 & 0.96 & 0.66 & 0.85 & 0.89",
    },
  },
};

/**
 * Mechanistic anomaly detection AUROC (cell 31, tab:anomaly_detection): Mahalanobis distance on the per-layer outputs
 * of each probe, averaged over models. That cell runs with `subtract_diag = False`, so these are the plain variant.
 * The notebook prints "1" for AUROCs ≥ 0.9995.
 */
const ANOMALY_TABLE: PrintedTable = {
  cell: 31,
  caption: "tab:anomaly_detection (Mahalanobis AUROC by probe and dataset)",
  rows: {
    LogR: "0.85 & 0.997 & 0.83 & 0.999 & 0.993 & 0.78 & 0.94 & 1 & 1 & 1 & 1 & 0.94",
    "Diff-in-means": "0.74 & 0.998 & 0.83 & 1 & 0.98 & 0.80 & 0.98 & 0.94 & 1 & 1 & 1 & 0.93",
    LDA: "0.88 & 0.997 & 0.83 & 1 & 0.994 & 0.79 & 1 & 0.999 & 1 & 1 & 1 & 0.95",
    "LogR on contrast pairs": "0.90 & 0.995 & 0.75 & 0.94 & 0.98 & 0.88 & 0.99 & 0.991 & 1 & 1 & 0.999 & 0.95",
    CCS: "0.69 & 0.997 & 0.73 & 0.88 & 0.93 & 0.72 & 0.999 & 0.996 & 0.99 & 1 & 0.997 & 0.90",
    CRC: "0.76 & 0.992 & 0.72 & 0.90 & 0.92 & 0.73 & 0.995 & 0.990 & 0.993 & 0.998 & 0.998 & 0.91",
  },
};

/**
 * PGR by model size: not in the notebook at 8f30c6d. A later commit (6d24091) hardcodes a scaling plot's values
 * ("values hardcoded and gathered previously": Pythia 0.48, 0.46, 0.56, 0.56, 0.55, 0.57; Llama 0.61; Mistral 0.61),
 * which differ from those the issue quoted; neither traces to a printed table, so no model-size number is used.
 */
export const NO_PAPER_MODEL_SIZE = "the notebook at 8f30c6d prints no PGR by model size (a later commit hardcodes a plot's values, which differ from the issue's)";

/** A printed number and the cell it comes from. */
export interface PaperNumber {
  value: number;
  /** as printed ("0.997", "1", "-2.76") */
  text: string;
  cell: number;
}

function parseRow(t: PrintedTable, name: string): { perDataset: Record<string, PaperNumber>; avg: PaperNumber } | undefined {
  const text = t.rows[name];
  if (text === undefined) return undefined;
  const cells = text.split("&").map((s) => s.trim());
  if (cells.length !== PAPER_DATASETS.length + 1) throw new Error(`paper.ts: row '${name}' of cell ${t.cell} has ${cells.length} cells`);
  const n = (s: string): PaperNumber => ({ value: Number(s), text: s, cell: t.cell });
  return { perDataset: Object.fromEntries(PAPER_DATASETS.map((d, i) => [d, n(cells[i])])), avg: n(cells.at(-1)!) };
}

/** Published PGR averaged over datasets, by transfer and then by the paper's method name. */
export const PAPER_PGR: Readonly<Record<string, Readonly<Record<string, number>>>> = Object.fromEntries(
  Object.entries(PGR_TABLES).map(([tr, t]) => [tr, Object.fromEntries(Object.keys(t.rows).filter((m) => !m.startsWith("weak") && !m.startsWith("strong")).map((m) => [m, parseRow(t, m)!.avg.value]))]),
);

/** Published Mahalanobis anomaly AUROC averaged over datasets, by the paper's method name of the probe. */
export const PAPER_ANOMALY: Readonly<Record<string, number>> = Object.fromEntries(Object.keys(ANOMALY_TABLE.rows).map((m) => [m, parseRow(ANOMALY_TABLE, m)!.avg.value]));

/**
 * Ours and the paper's count as differing when they are further apart than this: the paper prints two decimals,
 * and our runs use other models and datasets, so smaller gaps say nothing.
 */
export const PAPER_TOLERANCE = 0.05;

/** The paper's name for one of our reporters (null where the paper has none). */
export function paperMethodName(reporter: string): string | null {
  return isReporterName(reporter) ? REPORTERS[reporter].paperName : null;
}

/** Why the paper has no number for this reporter (for the dash the report shows in its place). */
export function noPaperReason(reporter: string): string {
  if (reporter === "mean-diff-on-pair") return NO_PAPER_MEAN_DIFF_PAIR;
  return paperMethodName(reporter) === null ? "the paper reports no such method" : "the paper prints no number for this method here";
}

/** The paper's PGR for one of our reporters on one transfer ("AE→BH", "all→BH", "A→B"), over datasets or on one. */
export function paperPgrNumber(transfer: string, reporter: string, dataset?: string): PaperNumber | undefined {
  const name = paperMethodName(reporter);
  const t = PGR_TABLES[transfer];
  if (name === null || !t) return undefined;
  const row = parseRow(t, name);
  return dataset === undefined ? row?.avg : row?.perDataset[dataset];
}

/** The paper's PGR for one of our reporters on one transfer, or undefined where it has none. */
export function paperPgr(transfer: string, reporter: string, dataset?: string): number | undefined {
  return paperPgrNumber(transfer, reporter, dataset)?.value;
}

/** The paper's final-layer LogR floor or ceiling AUROC of a transfer's PGR, over datasets or on one. */
export function paperFloorCeiling(transfer: string, which: "floor" | "ceiling", dataset?: string): PaperNumber | undefined {
  const t = PGR_TABLES[transfer];
  const row = t && parseRow(t, which === "floor" ? "weak floor" : "strong ceil");
  return dataset === undefined ? row?.avg : row?.perDataset[dataset];
}

/**
 * The paper's Mahalanobis anomaly AUROC on one of our reporters' outputs (averaged over datasets, or on one), for
 * detector "mahalanobis" only: the paper reports no other detector.
 */
export function paperAnomalyNumber(reporter: string, detector = "mahalanobis", dataset?: string): PaperNumber | undefined {
  const name = paperMethodName(reporter);
  if (detector !== "mahalanobis" || name === null) return undefined;
  const row = parseRow(ANOMALY_TABLE, name);
  return dataset === undefined ? row?.avg : row?.perDataset[dataset];
}

export function paperAnomaly(reporter: string, detector = "mahalanobis", dataset?: string): number | undefined {
  return paperAnomalyNumber(reporter, detector, dataset)?.value;
}

/** Every number above with its cell and printed text (the closing note's trace table; the explorer's paper panel). */
export function paperTrace(): { table: string; cell: number; row: string; dataset: string; text: string; value: number }[] {
  const out: { table: string; cell: number; row: string; dataset: string; text: string; value: number }[] = [];
  const add = (table: string, t: PrintedTable) => {
    for (const name of Object.keys(t.rows)) {
      const r = parseRow(t, name)!;
      for (const d of PAPER_DATASETS) out.push({ table, cell: t.cell, row: name, dataset: d, text: r.perDataset[d].text, value: r.perDataset[d].value });
      out.push({ table, cell: t.cell, row: name, dataset: "avg", text: r.avg.text, value: r.avg.value });
    }
  };
  for (const [tr, t] of Object.entries(PGR_TABLES)) add(`PGR ${tr}`, t);
  add("anomaly AUROC", ANOMALY_TABLE);
  return out;
}

/** "higher" / "lower" / "close" (within PAPER_TOLERANCE), or undefined when either number is missing. */
export function compareWithPaper(ours: number, paper: number | undefined): "higher" | "lower" | "close" | undefined {
  if (paper === undefined || !Number.isFinite(ours)) return undefined;
  if (Math.abs(ours - paper) <= PAPER_TOLERANCE) return "close";
  return ours > paper ? "higher" : "lower";
}
