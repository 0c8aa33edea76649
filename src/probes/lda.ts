/**
 * `lda` (elk_generalization/elk/lda.py, `LdaReporter.fit`; `fit2` is unused there):
 *
 *   S = (n₀ C₀ + n₁ C₁) / n,   C_c = unbiased covariance of the rows labelled c (divide by n_c − 1)
 *   w = S⁺ (μ₁ − μ₀),          logit(x) = s · w·x,  s = ±1 from the training metric (resolve_sign)
 *
 * No shrinkage and no normalisation of w. S⁺ follows torch.linalg.pinv's default cut-off for the
 * float32 the reference ran in: eigenvalues with |λ| ≤ d · ε₃₂ · max|λ| are dropped (option `rtol`).
 * The reference's nn.Linear bias stays at its random initial value; we use b = 0 (AUROC unchanged).
 */
import { FLOAT32_EPS, prepare } from "./common.ts";
import { eighAsync, gram, pinvSymApply } from "../linalg/index.ts";
import type { Matrix } from "./matrix.ts";
import { classMeans, resolveSign } from "./mean-diff.ts";
import { LinearReporter } from "./reporter.ts";

export interface LdaOptions {
  /** relative cut-off of the pseudo-inverse (default d · 2⁻²³) */
  rtol?: number;
}

/** The pooled within-class covariance S (d×d) of lda.py. */
export async function pooledWithinClassCovariance(x: Matrix, labels: Uint8Array): Promise<{ S: Float64Array; mu0: Float64Array; mu1: Float64Array }> {
  const { mu0, mu1, n0, n1 } = classMeans(x, labels);
  const n = x.rows, d = x.cols;
  // rows centred on their class mean and scaled so that XcᵀXc = Σ_c n_c/n · scatter_c/(n_c − 1)
  const f0 = Math.sqrt(n0 / ((n0 - 1) * n)), f1 = Math.sqrt(n1 / ((n1 - 1) * n));
  const xc = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const mu = labels[i] ? mu1 : mu0;
    const f = labels[i] ? f1 : f0;
    const off = i * d;
    for (let j = 0; j < d; j++) xc[off + j] = (x.data[off + j] - mu[j]) * f;
  }
  return { S: await gram(xc, n, d), mu0, mu1 };
}

export async function fitLda(x: Matrix, labels: Uint8Array, opts: LdaOptions = {}): Promise<LinearReporter> {
  const { n0, n1 } = prepare("lda", x, labels, true);
  if (n0 < 2 || n1 < 2) throw new Error(`lda needs at least two rows of each class for the class covariances, got ${n0} and ${n1}`);
  const d = x.cols;
  const { S, mu0, mu1 } = await pooledWithinClassCovariance(x, labels);
  const rtol = opts.rtol ?? d * FLOAT32_EPS;
  const diff = new Float64Array(d);
  for (let j = 0; j < d; j++) diff[j] = mu1[j] - mu0[j];
  const { x: w, rank } = pinvSymApply(await eighAsync(S, d), diff, rtol);
  const { sign, trainMetric } = resolveSign(w, x, labels);
  return new LinearReporter("lda", w, 0, { method: "pinv(pooled within-class covariance) · mean difference", rtol, rank, sign, trainMetric });
}
