/**
 * Scores of a reporter's log-odds against 0/1 labels.
 *
 *   auroc     = P(score of a random positive > score of a random negative) + ½ P(tie)
 *             = (Σ_{i: y_i=1} rank_i − n₁(n₁+1)/2) / (n₁ n₀)     (Mann–Whitney U with midranks)
 *   accuracy  = mean over rows of [ (score > 0) = label ]         (threshold 0 on log-odds)
 *   metric    = auroc when both classes occur, else accuracy       (as the reference: a one-class split uses accuracy)
 */
function checkScores(scores: ArrayLike<number>, labels: Uint8Array, what: string): void {
  if (scores.length !== labels.length) throw new Error(`${what}: ${scores.length} scores but ${labels.length} labels`);
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i];
    if (v - v !== 0) throw new Error(`${what}: score ${i} is ${v}`);
    if (labels[i] > 1) throw new Error(`${what}: label ${i} is ${labels[i]}; labels must be 0 or 1`);
  }
}

/** AUROC with ties counted one half. Throws unless both classes occur. */
export function auroc(scores: ArrayLike<number>, labels: Uint8Array): number {
  checkScores(scores, labels, "auroc");
  return aurocUnchecked(scores, labels);
}

/** auroc without input checks (the random baseline calls this a thousand times on checked data). */
export function aurocUnchecked(scores: ArrayLike<number>, labels: Uint8Array): number {
  const n = scores.length;
  const sorted = Float64Array.from(scores).sort();
  let n1 = 0;
  let rankSum = 0;
  for (let i = 0; i < n; i++) {
    if (!labels[i]) continue;
    n1++;
    const v = scores[i];
    // positions [lo, hi) hold values equal to v; their ranks are lo+1 … hi, midrank (lo+1+hi)/2
    let lo = 0, hi = n;
    while (lo < hi) {
      const m = (lo + hi) >>> 1;
      if (sorted[m] < v) lo = m + 1;
      else hi = m;
    }
    let a = lo;
    hi = n;
    while (a < hi) {
      const m = (a + hi) >>> 1;
      if (sorted[m] <= v) a = m + 1;
      else hi = m;
    }
    rankSum += (lo + 1 + a) / 2;
  }
  const n0 = n - n1;
  if (n1 === 0 || n0 === 0) throw new Error(`auroc needs both classes; all ${n} labels are ${n1 ? 1 : 0}`);
  return (rankSum - (n1 * (n1 + 1)) / 2) / (n1 * n0);
}

/** Fraction of rows with (score > 0) equal to the label. */
export function accuracy(scores: ArrayLike<number>, labels: Uint8Array): number {
  checkScores(scores, labels, "accuracy");
  if (!scores.length) throw new Error("accuracy of no rows");
  let hit = 0;
  for (let i = 0; i < scores.length; i++) hit += +(scores[i] > 0) === labels[i] ? 1 : 0;
  return hit / scores.length;
}

/** Which score `metric` gives for these labels. */
export function metricKind(labels: Uint8Array): "auroc" | "accuracy" {
  let n1 = 0;
  for (let i = 0; i < labels.length; i++) n1 += labels[i];
  return n1 === 0 || n1 === labels.length ? "accuracy" : "auroc";
}

/** AUROC, or accuracy at threshold 0 when only one class is present. */
export function metric(scores: ArrayLike<number>, labels: Uint8Array): number {
  checkScores(scores, labels, "metric");
  return metricKind(labels) === "accuracy" ? accuracy(scores, labels) : aurocUnchecked(scores, labels);
}
