/**
 * `lr` / `lr-on-pair`: logistic regression as the reference's `LogisticRegression.fit`
 * (elk_generalization/elk/lr_classifier.py):
 *
 *   minimise  J(w, b) = (1/n) Σ_i [softplus(z_i) − y_i z_i] + λ ‖w‖²,   z_i = w·x_i + b,   λ = 1e−3
 *
 * i.e. mean binary cross-entropy with logits plus λ times the squared norm of the weight (no ½, bias not
 * penalised), from w = 0, b = 0, with L-BFGS + strong-Wolfe (torch defaults: max_iter 10000,
 * tolerance_grad 1e−7, tolerance_change 1e−9, history 100). Same optimum as scikit-learn's
 * LogisticRegression(penalty="l2", C = 1/(2 n λ)). No sign resolution: the fit already orients w.
 * `lr-on-pair` is the same on the 2d concatenation [x_false | x_true].
 *
 *   ∂J/∂w = Xᵀ(σ(z) − y)/n + 2λ w,   ∂J/∂b = Σ_i (σ(z_i) − y_i)/n
 */
import { bceWithLogits, prepare, sigmoid } from "./common.ts";
import { gemm64 } from "../linalg/gemm64.ts";
import { transpose } from "../linalg/index.ts";
import { minimize, type Evaluation } from "../linalg/lbfgs.ts";
import { toFloat64, type Matrix } from "./matrix.ts";
import { LinearReporter, type ReporterName } from "./reporter.ts";

export interface LrOptions {
  /** λ in λ‖w‖² (default 1e−3) */
  l2Penalty?: number;
  /** L-BFGS iterations (default 10 000) */
  maxIter?: number;
  /** torch's stopping tolerances (defaults 1e−7 on max|∇|, 1e−9 on changes); tighter ones converge further */
  toleranceGrad?: number;
  toleranceChange?: number;
}

/**
 * The objective J and its gradient at θ = [w (d), b], for X (n×d, float64) and labels. `xT` (Xᵀ, d×n),
 * when given, makes Xᵀr a plain matrix-vector product (onnxruntime's transposed one is ~3× slower).
 */
export async function lrObjective(x: Float64Array, n: number, d: number, y: Uint8Array, l2: number, theta: Float64Array, xT?: Float64Array): Promise<Evaluation> {
  const z = await gemm64(x, theta, n, d, 1);
  const b = theta[d];
  const r = new Float64Array(n);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const zi = z[i] + b;
    loss += bceWithLogits(zi, y[i]);
    r[i] = (sigmoid(zi) - y[i]) / n;
  }
  loss /= n;
  const gw = xT ? await gemm64(xT, r, d, n, 1) : await gemm64(x, r, d, n, 1, { transA: true });
  const g = new Float64Array(d + 1);
  let reg = 0;
  for (let j = 0; j < d; j++) {
    reg += theta[j] * theta[j];
    g[j] = gw[j] + 2 * l2 * theta[j];
  }
  let gb = 0;
  for (let i = 0; i < n; i++) gb += r[i];
  g[d] = gb;
  return { f: loss + l2 * reg, g, aux: loss };
}

export async function fitLogisticRegression(x: Matrix, labels: Uint8Array, opts: LrOptions = {}, name: ReporterName = "lr"): Promise<LinearReporter> {
  prepare(name, x, labels, true);
  const l2 = opts.l2Penalty ?? 1e-3;
  const n = x.rows, d = x.cols;
  const x64 = toFloat64(x);
  const xT = transpose(x64, n, d);
  const res = await minimize((theta) => lrObjective(x64, n, d, labels, l2, theta, xT), new Float64Array(d + 1), {
    maxIter: opts.maxIter ?? 10_000,
    toleranceGrad: opts.toleranceGrad ?? 1e-7,
    toleranceChange: opts.toleranceChange ?? 1e-9,
  });
  const w = res.x.slice(0, d);
  return new LinearReporter(name, w, res.x[d], {
    method: "logistic regression, L-BFGS",
    l2Penalty: l2,
    objective: res.f,
    iterations: res.iterations,
    evaluations: res.evaluations,
    stop: res.reason,
  });
}
