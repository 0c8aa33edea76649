/**
 * The paper's published numbers, in one place, for the report to set ours beside:
 *
 *   Mallen, Brumley, Kharchenko, Belrose (2023), "Eliciting Latent Knowledge from Quirky Language Models",
 *   arXiv 2312.01037.
 *
 * PGR is keyed by the paper's method names; `REPORTERS[id].paperName` (src/probes/reporter.ts) maps our reporter
 * ids to them, so a reporter or transfer the paper does not report has no number here — the report shows a dash,
 * never an estimate. The paper's numbers are averages over its own models and datasets, so they compare with
 * ours in kind, not digit for digit.
 */
import { REPORTERS, isReporterName } from "../probes/reporter.ts";

export const PAPER_CITATION = "Mallen et al. 2023, “Eliciting Latent Knowledge from Quirky Language Models” (arXiv 2312.01037)";
export const PAPER_SHORT = "Mallen et al. 2023";

/** Published PGR, by transfer and then by the paper's method name. */
export const PAPER_PGR: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  "AE→BH": { LogR: 0.68, "Diff-in-means": 0.69, LDA: 0.6, "LogR on contrast pairs": 0.75, CCS: 0.54, CRC: 0.54 },
  "A→B": { "LogR on contrast pairs": 0.89 },
};

/** Published anomaly detection: Mahalanobis distance on probe outputs, AUROC averaged over datasets. */
export const PAPER_ANOMALY: Readonly<Record<string, number>> = { mahalanobis: 0.95 };

/**
 * Ours and the paper's count as differing when they are further apart than this: the paper prints two decimals,
 * and our runs use other models and datasets, so smaller gaps say nothing.
 */
export const PAPER_TOLERANCE = 0.05;

/** The paper's name for one of our reporters (null where the paper has none). */
export function paperMethodName(reporter: string): string | null {
  return isReporterName(reporter) ? REPORTERS[reporter].paperName : null;
}

/** The paper's PGR for one of our reporters on one transfer (e.g. "AE→BH"), or undefined where it has none. */
export function paperPgr(transfer: string, reporter: string): number | undefined {
  const name = paperMethodName(reporter);
  return name === null ? undefined : PAPER_PGR[transfer]?.[name];
}

/** The paper's anomaly-detection AUROC for one of our detectors, or undefined. */
export function paperAnomaly(detector: string): number | undefined {
  return PAPER_ANOMALY[detector];
}

/** "higher" / "lower" / "close" (within PAPER_TOLERANCE), or undefined when either number is missing. */
export function compareWithPaper(ours: number, paper: number | undefined): "higher" | "lower" | "close" | undefined {
  if (paper === undefined || !Number.isFinite(ours)) return undefined;
  if (Math.abs(ours - paper) <= PAPER_TOLERANCE) return "close";
  return ours > paper ? "higher" : "lower";
}
