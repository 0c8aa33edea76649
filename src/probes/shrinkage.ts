/**
 * Optimal linear shrinkage of a sample covariance (as `concept_erasure.shrinkage.optimal_linear_shrinkage`
 * v0.2.4; Chen et al. / "On the Strong Convergence of the Optimal Linear Shrinkage Estimator for Large
 * Dimensional Covariance Matrix", arXiv:1308.2608):
 *
 *   Σ̂ = α S + β Σ₀,   Σ₀ = (tr S / p) I
 *   top    = tr(S)² ‖Σ₀‖²_F / n
 *   bottom = ‖S‖²_F ‖Σ₀‖²_F − tr(S Σ₀)²          (‖Σ₀‖²_F = tr(S Σ₀) = tr(S)²/p)
 *   α = 1 − (top + ε)/(bottom + ε),   β = (1 − α)(tr(S Σ₀) + ε)/(‖Σ₀‖²_F + ε)
 *
 * S is the biased (divide-by-n) sample covariance, p its size, n the sample count. ε is the machine
 * epsilon of the dtype the reference ran in (float32), which only matters for the all-zero matrix.
 * α is not clamped (as in the reference): for n ≪ p it may fall below zero.
 */
export const FLOAT32_EPS = 2 ** -23;

/** Returns a new p×p matrix α S + β (tr S / p) I, plus the coefficients. */
export function optimalLinearShrinkage(S: Float64Array, p: number, n: number, eps = FLOAT32_EPS): { sigma: Float64Array; alpha: number; beta: number } {
  let tr = 0;
  let fro = 0;
  for (let i = 0; i < p; i++) tr += S[i * p + i];
  for (let i = 0; i < p * p; i++) fro += S[i] * S[i];
  const sigma0NormSq = (tr * tr) / p;
  const prodTrace = sigma0NormSq;
  const top = (tr * tr * sigma0NormSq) / n;
  const bottom = fro * sigma0NormSq - prodTrace * prodTrace;
  const alpha = 1 - (top + eps) / (bottom + eps);
  const beta = ((1 - alpha) * (prodTrace + eps)) / (sigma0NormSq + eps);
  const sigma = new Float64Array(p * p);
  for (let i = 0; i < p * p; i++) sigma[i] = alpha * S[i];
  const diag = (beta * tr) / p;
  for (let i = 0; i < p; i++) sigma[i * p + i] += diag;
  return { sigma, alpha, beta };
}
