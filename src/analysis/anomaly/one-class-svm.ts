/**
 * One-class SVM (Schölkopf et al. 2001) with scikit-learn's OneClassSVM defaults, which the reference uses
 * (`OneClassSVM().fit(normal_x).decision_function(test_x)`): kernel = "rbf", gamma = "scale", nu = 0.5, tol = 1e-3.
 *
 *   K(a, b) = exp(−γ ‖a − b‖²),   γ = 1 / (d · Var(X))   (Var over all n·d entries of the normal rows, population
 *                                                          variance; γ = 1 when that variance is 0)
 *   dual:   min_α ½ αᵀ K α   subject to  0 ≤ α_i ≤ 1,  Σ_i α_i = ν n
 *   f(x) = Σ_i α_i K(x_i, x) − ρ        (scikit-learn's decision_function; positive = inlier)
 *
 * Solved as libsvm does (Fan, Chen & Lin 2005): start from α = (1, …, 1, νn − ⌊νn⌋, 0, …, 0), then SMO with
 * second-order working-set selection until max_{i ∈ I_up} −G_i + max_{j ∈ I_low} G_j < tol, where G = Kα,
 * I_up = {α_i < 1}, I_low = {α_j > 0}; ρ is the mean of G over free α (else the midpoint of the bounds). Kernel
 * columns are cached in float32 as libsvm's Qfloat cache does. libsvm's shrinking heuristic is not implemented
 * (scikit-learn's shrinking=True): it only changes the path, so f agrees with scikit-learn's to about tol, and
 * agrees with OneClassSVM(shrinking=False) to rounding.
 *
 * We return −f(x) (higher = more anomalous). The fit is O(iterations · n · d); the normal rows of the paper's
 * experiment (≤ 1000 test examples) take well under a second.
 */
import { checkRows, checkScoreRows, type AnomalyDetector } from "./common.ts";

export interface OneClassSvmOptions {
  nu?: number;
  /** "scale" (default) or a positive number */
  gamma?: number | "scale";
  tol?: number;
  maxIter?: number;
  /** kernel cache budget in bytes (default 256 MiB) */
  cacheBytes?: number;
}

const TAU = 1e-12;

export class OneClassSvmDetector implements AnomalyDetector {
  constructor(
    readonly d: number,
    readonly gamma: number,
    /** support vectors (rows with α > 0), row-major */
    readonly supportVectors: Float64Array,
    /** their α */
    readonly alpha: Float64Array,
    readonly rho: number,
    /** SMO iterations used */
    readonly iterations: number,
  ) {}

  /** scikit-learn's decision_function: Σ α_i K(x_i, x) − ρ (positive = inlier). */
  decisionFunction(x: Float64Array, n: number, d: number): Float64Array {
    checkScoreRows(x, n, d, this.d, "one-class-svm: rows to score");
    const out = new Float64Array(n);
    const sv = this.supportVectors, alpha = this.alpha, g = this.gamma;
    const m = alpha.length;
    for (let i = 0; i < n; i++) {
      const o = i * d;
      let s = 0;
      for (let k = 0; k < m; k++) {
        const ok = k * d;
        let q = 0;
        for (let j = 0; j < d; j++) {
          const t = x[o + j] - sv[ok + j];
          q += t * t;
        }
        s += alpha[k] * Math.exp(-g * q);
      }
      out[i] = s - this.rho;
    }
    return out;
  }

  score(x: Float64Array, n: number, d: number): Float64Array {
    const f = this.decisionFunction(x, n, d);
    for (let i = 0; i < n; i++) f[i] = -f[i];
    return f;
  }
}

/** scikit-learn's gamma="scale": 1 / (d · X.var()), or 1 when the variance is 0. */
export function scaleGamma(x: Float64Array, n: number, d: number): number {
  const m = n * d;
  let mean = 0;
  for (let i = 0; i < m; i++) mean += x[i];
  mean /= m;
  let v = 0;
  for (let i = 0; i < m; i++) v += (x[i] - mean) * (x[i] - mean);
  v /= m;
  return v !== 0 ? 1 / (d * v) : 1;
}

export function fitOneClassSvm(normal: Float64Array, n: number, d: number, opts: OneClassSvmOptions = {}): OneClassSvmDetector {
  checkRows(normal, n, d, "one-class-svm: normal rows");
  if (n < 2) throw new RangeError(`one-class-svm: too few normal rows: ${n}; at least 2 are needed`);
  const nu = opts.nu ?? 0.5;
  if (!(nu > 0 && nu <= 1)) throw new RangeError(`one-class-svm: nu = ${nu} must be in (0, 1]`);
  const gamma = opts.gamma === undefined || opts.gamma === "scale" ? scaleGamma(normal, n, d) : opts.gamma;
  if (!(gamma > 0 && Number.isFinite(gamma))) throw new RangeError(`one-class-svm: gamma = ${gamma} must be positive`);
  const eps = opts.tol ?? 1e-3;
  const maxIter = opts.maxIter ?? Math.max(10_000_000, 100 * n);

  const xsq = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += normal[i * d + j] * normal[i * d + j];
    xsq[i] = s;
  }
  // kernel column cache (float32, like libsvm's Qfloat), least-recently-used eviction
  const capacity = Math.max(2, Math.floor((opts.cacheBytes ?? 256 * 2 ** 20) / (4 * n)));
  const cache = new Map<number, Float32Array>();
  const column = (i: number): Float32Array => {
    let col = cache.get(i);
    if (col) {
      cache.delete(i);
      cache.set(i, col);
      return col;
    }
    if (cache.size >= capacity) {
      const oldest = cache.keys().next().value as number;
      col = cache.get(oldest)!;
      cache.delete(oldest);
    } else col = new Float32Array(n);
    const oi = i * d;
    for (let j = 0; j < n; j++) {
      let dot = 0;
      const oj = j * d;
      for (let k = 0; k < d; k++) dot += normal[oi + k] * normal[oj + k];
      col[j] = Math.exp(-gamma * (xsq[i] + xsq[j] - 2 * dot));
    }
    cache.set(i, col);
    return col;
  };
  const QD = 1; // K(x, x) = 1 for the RBF kernel

  // initial point (libsvm solve_one_class)
  const alpha = new Float64Array(n);
  const total = nu * n;
  const full = Math.floor(total);
  for (let i = 0; i < full && i < n; i++) alpha[i] = 1;
  if (full < n) alpha[full] = total - full;
  const G = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (alpha[i] === 0) continue;
    const col = column(i);
    for (let k = 0; k < n; k++) G[k] += alpha[i] * col[k];
  }

  let iter = 0;
  while (iter < maxIter) {
    // select i: argmax over α_t < C of −G_t
    let Gmax = -Infinity, gi = -1;
    for (let t = 0; t < n; t++) if (alpha[t] < 1 && -G[t] >= Gmax) { Gmax = -G[t]; gi = t; }
    let Gmax2 = -Infinity, gj = -1, objMin = Infinity;
    const Qi = gi >= 0 ? column(gi) : null;
    for (let t = 0; t < n; t++) {
      if (!(alpha[t] > 0)) continue;
      const gd = Gmax + G[t];
      if (G[t] >= Gmax2) Gmax2 = G[t];
      if (gd > 0) {
        const quad = QD + QD - 2 * Qi![t];
        const obj = quad > 0 ? -(gd * gd) / quad : -(gd * gd) / TAU;
        if (obj <= objMin) { gj = t; objMin = obj; }
      }
    }
    if (Gmax + Gmax2 < eps || gj === -1) break;
    iter++;
    const i = gi, j = gj;
    // j ≠ i (G_i + Gmax = 0 is not > 0), and column(j) evicts only the least recently used column, never the
    // just-used column i (capacity ≥ 2), so Qi stays valid
    const Qj = column(j);
    const colI = Qi!;
    const oldI = alpha[i], oldJ = alpha[j];
    let quad = QD + QD - 2 * colI[j];
    if (quad <= 0) quad = TAU;
    const delta = (G[i] - G[j]) / quad;
    const sum = alpha[i] + alpha[j];
    alpha[i] -= delta;
    alpha[j] += delta;
    if (sum > 1) {
      if (alpha[i] > 1) { alpha[i] = 1; alpha[j] = sum - 1; }
    } else if (alpha[j] < 0) { alpha[j] = 0; alpha[i] = sum; }
    if (sum > 1) {
      if (alpha[j] > 1) { alpha[j] = 1; alpha[i] = sum - 1; }
    } else if (alpha[i] < 0) { alpha[i] = 0; alpha[j] = sum; }
    const dI = alpha[i] - oldI, dJ = alpha[j] - oldJ;
    for (let k = 0; k < n; k++) G[k] += colI[k] * dI + Qj[k] * dJ;
  }

  // ρ (libsvm calculate_rho with every y = +1)
  let ub = Infinity, lb = -Infinity, nFree = 0, sumFree = 0;
  for (let i = 0; i < n; i++) {
    if (alpha[i] >= 1) lb = Math.max(lb, G[i]);
    else if (alpha[i] <= 0) ub = Math.min(ub, G[i]);
    else { nFree++; sumFree += G[i]; }
  }
  const rho = nFree > 0 ? sumFree / nFree : (ub + lb) / 2;

  const sv: number[] = [];
  for (let i = 0; i < n; i++) if (alpha[i] > 0) sv.push(i);
  const svX = new Float64Array(sv.length * d);
  const svA = new Float64Array(sv.length);
  sv.forEach((i, k) => {
    svX.set(normal.subarray(i * d, (i + 1) * d), k * d);
    svA[k] = alpha[i];
  });
  return new OneClassSvmDetector(d, gamma, svX, svA, rho, iter);
}
