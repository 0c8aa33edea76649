/**
 * Mahalanobis anomaly score, as in the reference's `Mahalanobis` class (elk_generalization/anomaly/detect_anomaly.py,
 * from tuned-lens): fit the sample mean μ and the UNBIASED sample covariance Σ (torch.cov, divisor n − 1) of the
 * normal rows, and score a row x by
 *
 *   mahalanobis:             S(x) = (x − μ)ᵀ Σ⁺ (x − μ)                                 (squared distance)
 *                                 = −2 log N(x; μ, Σ) − log det(2πΣ)                    (Σ positive definite)
 *   mahalanobis-minus-diag:  S(x) = (x − μ)ᵀ Σ⁺ (x − μ) − (x − μ)ᵀ D⁺ (x − μ),  D = diag(Σ)
 *                                 = −2 [log N(x; μ, Σ) − log N(x; μ, D)] − log det Σ + Σ_j log Σ_jj
 *
 * The reference scores with `MultivariateNormal(μ, Σ).log_prob(x)` (minus the diagonal-covariance log_prob when
 * `subtract_diag_mahal`, "a trick Anthropic found helpful", arXiv:2204.05862), where HIGHER means more normal, and
 * labels normal rows 1. We return −2·log_prob minus a per-fit constant (the log-determinant terms above), so higher
 * means more anomalous; every AUROC is unchanged (both the sign of the score and the class coding are flipped).
 *
 * Differences from the reference, all deliberate:
 *  - float64 throughout (the reference casts log-odds to float32 before fitting);
 *  - Σ⁺ is the symmetric pseudo-inverse (eigenvalues ≤ d·ε·λ_max dropped, as scipy's pinvh and scikit-learn's
 *    EmpiricalCovariance do) where torch's Cholesky would raise on a singular covariance; a zero-variance column
 *    is likewise dropped from D⁺.
 * scikit-learn's EmpiricalCovariance().mahalanobis uses the biased covariance (divisor n), so its squared
 * distances are n/(n − 1) times ours.
 */
import { eigh } from "../../linalg/eigh.ts";
import { checkRows, checkScoreRows, type AnomalyDetector } from "./common.ts";

export class MahalanobisDetector implements AnomalyDetector {
  /** Fitted mean (d). */
  readonly mean: Float64Array;
  /** Fitted unbiased covariance (d×d, row-major). */
  readonly cov: Float64Array;
  /** W (r×d): rows are eigenvectors scaled by λ^{-1/2} for the kept eigenvalues, so (x−μ)ᵀΣ⁺(x−μ) = ‖W(x−μ)‖². */
  private readonly w: Float64Array;
  private readonly rank: number;
  /** 1/Σ_jj (0 for a zero-variance column); only with subtractDiag. */
  private readonly diagInv: Float64Array | null;

  constructor(readonly d: number, mean: Float64Array, cov: Float64Array, readonly subtractDiag: boolean) {
    this.mean = mean;
    this.cov = cov;
    const eig = eigh(cov, d);
    const vals = eig.values;
    let lmax = 0;
    for (let k = 0; k < d; k++) lmax = Math.max(lmax, Math.abs(vals[k]));
    const cut = d * Number.EPSILON * lmax;
    const vecs = eig.vectors(); // row k = eigenvector of vals[k]
    const keep: number[] = [];
    for (let k = 0; k < d; k++) if (vals[k] > cut) keep.push(k);
    this.rank = keep.length;
    this.w = new Float64Array(this.rank * d);
    keep.forEach((k, r) => {
      const s = 1 / Math.sqrt(vals[k]);
      for (let j = 0; j < d; j++) this.w[r * d + j] = vecs[k * d + j] * s;
    });
    if (subtractDiag) {
      let vmax = 0;
      for (let j = 0; j < d; j++) vmax = Math.max(vmax, Math.abs(cov[j * d + j]));
      const dcut = d * Number.EPSILON * vmax;
      this.diagInv = new Float64Array(d);
      for (let j = 0; j < d; j++) {
        const v = cov[j * d + j];
        this.diagInv[j] = v > dcut ? 1 / v : 0;
      }
    } else this.diagInv = null;
  }

  /** Rank of the fitted covariance (eigenvalues kept in the pseudo-inverse). */
  get covarianceRank(): number {
    return this.rank;
  }

  score(x: Float64Array, n: number, d: number): Float64Array {
    checkScoreRows(x, n, d, this.d, this.subtractDiag ? "mahalanobis-minus-diag: rows to score" : "mahalanobis: rows to score");
    const out = new Float64Array(n);
    const c = new Float64Array(d);
    const { w, rank, mean, diagInv } = this;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) c[j] = x[i * d + j] - mean[j];
      let s = 0;
      for (let r = 0; r < rank; r++) {
        let t = 0;
        const o = r * d;
        for (let j = 0; j < d; j++) t += w[o + j] * c[j];
        s += t * t;
      }
      if (diagInv) for (let j = 0; j < d; j++) s -= c[j] * c[j] * diagInv[j];
      out[i] = s;
    }
    return out;
  }
}

/** Fit on normal rows; needs n > d so that the covariance can be of full rank (the reference's torch Cholesky needs it). */
export function fitMahalanobis(normal: Float64Array, n: number, d: number, opts: { subtractDiag?: boolean } = {}): MahalanobisDetector {
  const name = opts.subtractDiag ? "mahalanobis-minus-diag" : "mahalanobis";
  checkRows(normal, n, d, `${name}: normal rows`);
  if (n < d + 1) throw new RangeError(`${name}: too few normal rows: ${n} rows for d = ${d} features; the covariance needs at least d + 1 = ${d + 1}`);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += normal[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  const cov = new Float64Array(d * d);
  const c = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) c[j] = normal[i * d + j] - mean[j];
    for (let a = 0; a < d; a++) {
      const ca = c[a];
      if (ca === 0) continue;
      const o = a * d;
      for (let b = 0; b <= a; b++) cov[o + b] += ca * c[b];
    }
  }
  for (let a = 0; a < d; a++)
    for (let b = 0; b <= a; b++) {
      const v = cov[a * d + b] / (n - 1);
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
  return new MahalanobisDetector(d, mean, cov, !!opts.subtractDiag);
}
