/**
 * Metrics of per-example scores (log-odds) against a label column, on all examples and on the subsets where
 * Alice and Bob agree or disagree. AUROC counts ties as one half; a subset with one class reports accuracy
 * (log-odds > 0) instead, as the reference does.
 */
import { metric, metricKind } from "../probes/metrics.ts";

export type LabelColumn = "label" | "alice" | "bob";
export type Subset = "all" | "agree" | "disagree";
export const LABEL_COLUMNS: LabelColumn[] = ["label", "alice", "bob"];
export const SUBSETS: Subset[] = ["all", "agree", "disagree"];

export interface MetricValue {
  kind: "auroc" | "accuracy";
  value: number;
  n: number;
}

export type MetricTable = Record<LabelColumn, Record<Subset, MetricValue | null>>;

export interface Labels {
  label: ArrayLike<number>;
  alice: ArrayLike<number>;
  bob: ArrayLike<number>;
}

export function subsetMask(labels: Labels, subset: Subset): boolean[] {
  return Array.from({ length: labels.alice.length }, (_, i) =>
    subset === "all" ? true : subset === "agree" ? labels.alice[i] === labels.bob[i] : labels.alice[i] !== labels.bob[i],
  );
}

/** A table over label columns × subsets whose every cell is f(column, subset). */
export function bySubset<T>(f: (col: LabelColumn, subset: Subset) => T): Record<LabelColumn, Record<Subset, T>> {
  const row = (col: LabelColumn) => ({ all: f(col, "all"), agree: f(col, "agree"), disagree: f(col, "disagree") });
  return { label: row("label"), alice: row("alice"), bob: row("bob") };
}

/** Every (label column × subset) metric of `scores`; null where the subset is empty. */
export function metricTable(scores: ArrayLike<number>, labels: Labels): MetricTable {
  const masks = { all: subsetMask(labels, "all"), agree: subsetMask(labels, "agree"), disagree: subsetMask(labels, "disagree") };
  return bySubset((col, subset): MetricValue | null => {
    const mask = masks[subset];
    const s: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < mask.length; i++) {
      if (!mask[i]) continue;
      s.push(scores[i]);
      y.push(labels[col][i]);
    }
    if (s.length === 0) return null;
    const labelsY = Uint8Array.from(y);
    return { kind: metricKind(labelsY), value: metric(Float64Array.from(s), labelsY), n: s.length };
  });
}
