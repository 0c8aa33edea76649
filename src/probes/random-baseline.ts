/**
 * `random`: the random-direction baseline (elk_generalization/elk/random_baseline.py). Not a reporter but
 * an evaluation:
 *
 *   draw z_1 … z_S ~ N(0, I_d)                             (S = 1000 as transfer.py calls it)
 *   s_k = sign(metric_train(X_train z_k) − ½)  (+1 at exactly ½)
 *   a_k = metric_test(s_k · X_test z_k)                     (metric = AUROC, or accuracy with one class)
 *   report mean_k a_k and the quantiles of {a_k} at p = 2⁻¹⁶, 2⁻¹⁵, …, 2⁻², ½, 1 − 2⁻², …, 1 − 2⁻¹⁶
 *   (linear interpolation between order statistics, as torch.quantile).
 * With `subsets`, the same directions and signs are scored again on each given set of test rows.
 */
import { Rng } from "../util/rng.ts";
import { gemm64 } from "../linalg/gemm64.ts";
import { checkLabels, checkMatrix, toFloat64, type Matrix } from "./matrix.ts";
import { accuracy, aurocUnchecked, metricKind } from "./metrics.ts";

export interface RandomBaselineOptions {
  /** number of random directions (default 1000) */
  numSamples?: number;
  seed?: number;
  /** named sets of test rows (indices) to score the same directions on as well, e.g. agree / disagree */
  subsets?: Record<string, number[]>;
}

export interface RandomBaselineResult {
  mean: number;
  quantiles: { q: number; auroc: number }[];
  /** per named subset of opts.subsets with at least one row */
  subsets?: Record<string, RandomBaselineResult>;
}

/** Mean and quantiles of the directions' metrics. */
function summarize(metrics: Float64Array): RandomBaselineResult {
  let mean = 0;
  for (const a of metrics) mean += a;
  mean /= metrics.length;
  const sorted = metrics.slice().sort();
  return { mean, quantiles: randomBaselineLevels().map((q) => ({ q, auroc: quantileSorted(sorted, q) })) };
}

/** The median direction's metric of a result (NaN for a missing one, e.g. a subset that was not scored). */
export function randomMedian(r: RandomBaselineResult | undefined): number {
  return r?.quantiles.find((q) => q.q === 0.5)?.auroc ?? NaN;
}

/** The reference's quantile levels: 2^-16 … 2^-2, 0.5, 1 − 2^-2 … 1 − 2^-16 (31 levels). */
export function randomBaselineLevels(): number[] {
  const ps: number[] = [];
  for (let k = -16; k <= -2; k++) ps.push(2 ** k);
  return [...ps, 0.5, ...ps.slice().reverse().map((p) => 1 - p)];
}

/** Quantile with linear interpolation between order statistics of sorted values. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

export async function evalRandomBaseline(
  trainX: Matrix,
  trainY: Uint8Array,
  testX: Matrix,
  testY: Uint8Array,
  opts: RandomBaselineOptions = {},
): Promise<RandomBaselineResult> {
  checkMatrix(trainX, "random: trainX");
  checkMatrix(testX, "random: testX");
  checkLabels(trainY, trainX.rows, "random: trainY");
  checkLabels(testY, testX.rows, "random: testY");
  if (trainX.cols !== testX.cols) throw new Error(`random: trainX has ${trainX.cols} columns but testX has ${testX.cols}`);
  const S = opts.numSamples ?? 1000;
  if (!(S >= 1)) throw new Error("random: numSamples must be at least 1");
  const d = trainX.cols;
  const rng = new Rng(opts.seed ?? 0, "random-baseline");
  const Z = new Float64Array(S * d);
  for (let i = 0; i < Z.length; i++) Z[i] = rng.normal();

  // scores are finite here (checked inputs, finite directions), so the metric runs without re-checking
  const score = (row: Float64Array, y: Uint8Array, kind: "auroc" | "accuracy") => (kind === "auroc" ? aurocUnchecked(row, y) : accuracy(row, y));
  const trainKind = metricKind(trainY), testKind = metricKind(testY);
  const trainScores = await gemm64(Z, toFloat64(trainX), S, d, trainX.rows, { transB: true });
  const sign = new Float64Array(S);
  for (let k = 0; k < S; k++) {
    const m = score(trainScores.subarray(k * trainX.rows, (k + 1) * trainX.rows), trainY, trainKind);
    sign[k] = m < 0.5 ? -1 : 1;
  }
  const testScores = await gemm64(Z, toFloat64(testX), S, d, testX.rows, { transB: true });
  const aurocs = new Float64Array(S);
  for (let k = 0; k < S; k++) {
    const row = testScores.subarray(k * testX.rows, (k + 1) * testX.rows);
    if (sign[k] < 0) for (let i = 0; i < row.length; i++) row[i] = -row[i];
    aurocs[k] = score(row, testY, testKind);
  }
  const result = summarize(aurocs);
  for (const [name, rows] of Object.entries(opts.subsets ?? {})) {
    if (rows.length === 0) continue;
    for (const i of rows) if (!(Number.isInteger(i) && i >= 0 && i < testX.rows)) throw new Error(`random: subset ${name} has row ${i}, outside 0..${testX.rows - 1}`);
    const y = Uint8Array.from(rows, (i) => testY[i]);
    const kind = metricKind(y);
    const picked = new Float64Array(rows.length);
    const metrics = new Float64Array(S);
    for (let k = 0; k < S; k++) {
      const row = testScores.subarray(k * testX.rows, (k + 1) * testX.rows); // signs already applied
      rows.forEach((r, i) => (picked[i] = row[r]));
      metrics[k] = score(picked, y, kind);
    }
    (result.subsets ??= {})[name] = summarize(metrics);
  }
  return result;
}
