/**
 * The CCS objective (elk_generalization/elk/ccs_losses.py, loss "ccs" = consistency + confidence), on the
 * logits z0 (state after the false choice) and z1 (after the true choice) of n contrast pairs:
 *
 *   p_k = σ(z_k)
 *   L   = (1/n) Σ_i (p0_i − (1 − p1_i))²  +  (1/n) Σ_i min(p0_i, p1_i)²
 *
 *   ∂L/∂z0_i = (2/n) [ (p0 + p1 − 1) + m_i · 1{p0 < p1} ] p0 (1 − p0),   m_i = min(p0_i, p1_i)
 *   ∂L/∂z1_i = (2/n) [ (p0 + p1 − 1) + m_i · 1{p1 < p0} ] p1 (1 − p1)
 * (at a tie the min's gradient is split half and half, as torch.minimum does).
 *
 * The probe is z_k = w·x̃_k + b on LEACE-normalised states x̃, trained on L + (λ/2)(‖w‖² + b²), λ = 0.01
 * (the reference's explicit weight decay `weight_decay · ‖param‖² / 2` for weight and bias).
 */
import { sigmoid } from "./common.ts";
import { gemm64 } from "../linalg/gemm64.ts";
import type { Evaluation } from "../linalg/lbfgs.ts";

/** L(z0, z1); fills ∂L/∂z0, ∂L/∂z1 when given. */
export function ccsLoss(z0: ArrayLike<number>, z1: ArrayLike<number>, g0?: Float64Array, g1?: Float64Array): number {
  const n = z0.length;
  if (z1.length !== n) throw new Error(`ccsLoss: ${n} false-state logits but ${z1.length} true-state logits`);
  let cons = 0, conf = 0;
  for (let i = 0; i < n; i++) {
    const p0 = sigmoid(z0[i]), p1 = sigmoid(z1[i]);
    const c = p0 + p1 - 1;
    const m = Math.min(p0, p1);
    cons += c * c;
    conf += m * m;
    if (g0 && g1) {
      const w0 = p0 < p1 ? 1 : p0 === p1 ? 0.5 : 0;
      g0[i] = (2 / n) * (c + m * w0) * p0 * (1 - p0);
      g1[i] = (2 / n) * (c + m * (1 - w0)) * p1 * (1 - p1);
    }
  }
  return (cons + conf) / n;
}

/**
 * The regularised CCS objective for several parameter vectors θ_t = [w (d), b] at once, on normalised
 * states xn (2n×d float64: rows [0, n) false states, [n, 2n) true states). One product for all θ_t.
 * `xnT` (xnᵀ, d×2n), when given, turns the gradient's transposed product into a plain one (faster).
 * `aux` is the unregularised loss L.
 */
export async function ccsObjectiveBatch(xn: Float64Array, n: number, d: number, weightDecay: number, thetas: Float64Array[], bias = true, xnT?: Float64Array): Promise<Evaluation[]> {
  const m = thetas.length;
  const p = bias ? d + 1 : d;
  const W = new Float64Array(d * m);
  for (let t = 0; t < m; t++) for (let j = 0; j < d; j++) W[j * m + t] = thetas[t][j];
  const Z = await gemm64(xn, W, 2 * n, d, m);
  const G = new Float64Array(2 * n * m);
  const z0 = new Float64Array(n), z1 = new Float64Array(n), g0 = new Float64Array(n), g1 = new Float64Array(n);
  const losses = new Float64Array(m);
  const gb = new Float64Array(m);
  for (let t = 0; t < m; t++) {
    const b = bias ? thetas[t][d] : 0;
    for (let i = 0; i < n; i++) {
      z0[i] = Z[i * m + t] + b;
      z1[i] = Z[(n + i) * m + t] + b;
    }
    losses[t] = ccsLoss(z0, z1, g0, g1);
    let s = 0;
    for (let i = 0; i < n; i++) {
      G[i * m + t] = g0[i];
      G[(n + i) * m + t] = g1[i];
      s += g0[i] + g1[i];
    }
    gb[t] = s;
  }
  const GW = xnT ? await gemm64(xnT, G, d, 2 * n, m) : await gemm64(xn, G, d, 2 * n, m, { transA: true });
  return thetas.map((theta, t) => {
    const g = new Float64Array(p);
    let reg = 0;
    for (let j = 0; j < p; j++) reg += theta[j] * theta[j];
    for (let j = 0; j < d; j++) g[j] = GW[j * m + t] + weightDecay * theta[j];
    if (bias) g[d] = gb[t] + weightDecay * theta[d];
    return { f: losses[t] + (weightDecay / 2) * reg, g, aux: losses[t] };
  });
}
