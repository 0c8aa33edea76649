/**
 * `mean-diff` / `mean-diff-on-pair` (elk_generalization/elk/mean_diff.py):
 *
 *   w = (μ₁ − μ₀) / ‖μ₁ − μ₀‖,   μ_c = mean of the rows labelled c;   logit(x) = s · w·x,  s = ±1
 *
 * No centring: the reference projects the raw states. s is −1 when the training metric (AUROC, or
 * accuracy at 0 with one class) of w·x is below ½ — the reference's `resolve_sign`; we fold s into the
 * stored weight. The reference's nn.Linear keeps its random default-initialised bias (never set or
 * trained); we use b = 0, which leaves every AUROC unchanged. `-on-pair` runs on the 2d concatenation.
 */
import { prepare } from "./common.ts";
import { matVec } from "../linalg/index.ts";
import type { Matrix } from "./matrix.ts";
import { metric } from "./metrics.ts";
import { LinearReporter, type ReporterName } from "./reporter.ts";

/** Class means (float64) of a labelled matrix. */
export function classMeans(x: Matrix, labels: Uint8Array): { mu0: Float64Array; mu1: Float64Array; n0: number; n1: number } {
  const d = x.cols;
  const mu0 = new Float64Array(d), mu1 = new Float64Array(d);
  let n0 = 0, n1 = 0;
  for (let i = 0; i < x.rows; i++) {
    const mu = labels[i] ? mu1 : mu0;
    if (labels[i]) n1++;
    else n0++;
    const off = i * d;
    for (let j = 0; j < d; j++) mu[j] += x.data[off + j];
  }
  for (let j = 0; j < d; j++) {
    mu0[j] /= n0;
    mu1[j] /= n1;
  }
  return { mu0, mu1, n0, n1 };
}

/** Flip w in place if its training metric is below ½; returns the sign used and that metric. */
export function resolveSign(w: Float64Array, x: Matrix, labels: Uint8Array): { sign: 1 | -1; trainMetric: number } {
  const m = metric(matVec(x.data, x.rows, x.cols, w), labels);
  if (m < 0.5) {
    for (let j = 0; j < w.length; j++) w[j] = -w[j];
    return { sign: -1, trainMetric: m };
  }
  return { sign: 1, trainMetric: m };
}

export function fitMeanDiff(x: Matrix, labels: Uint8Array, name: ReporterName = "mean-diff"): LinearReporter {
  prepare(name, x, labels, true);
  const { mu0, mu1 } = classMeans(x, labels);
  const w = new Float64Array(x.cols);
  let nrm = 0;
  for (let j = 0; j < w.length; j++) {
    w[j] = mu1[j] - mu0[j];
    nrm += w[j] * w[j];
  }
  nrm = Math.sqrt(nrm);
  if (!(nrm > 0)) throw new Error(`${name}: the two class means are identical, so there is no direction`);
  for (let j = 0; j < w.length; j++) w[j] /= nrm;
  const { sign, trainMetric } = resolveSign(w, x, labels);
  return new LinearReporter(name, w, 0, { method: "unit difference of class means", sign, trainMetric });
}
