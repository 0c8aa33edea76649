/**
 * Anomaly detection (SPEC §5) against independent references:
 *  - Mahalanobis against hand-computed distances and against the Gaussian log-density (our own Cholesky here,
 *    scipy's multivariate_normal.logpdf — the reference's torch MultivariateNormal.log_prob — and scikit-learn's
 *    EmpiricalCovariance.mahalanobis), including the diagonal-subtraction variant;
 *  - LOF and the one-class SVM against scikit-learn's LocalOutlierFactor(novelty=True) / OneClassSVM score by score,
 *    the isolation forest against scikit-learn's IsolationForest in seed-averaged scores and AUROC (its draws are
 *    ours, not numpy's);
 *  - the bootstrap interval: reproducible per seed, around the point AUROC, narrowing with n, and about as wide as
 *    the Hanley–McNeil normal-approximation interval;
 *  - every detector separates a shifted Gaussian from an unshifted one (AUROC > 0.9) and not an unshifted one (≈ 0.5).
 * Each test prints what it measured.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { SYSTEM_PYTHON } from "./helpers.ts";
import { Rng } from "../src/util/rng.ts";
import { auroc } from "../src/probes/metrics.ts";
import {
  DETECTORS,
  anomalyExperiment,
  averagePathLength,
  bootstrapAuroc,
  fitDetector,
  fitIsolationForest,
  fitLof,
  fitMahalanobis,
  fitOneClassSvm,
  scaleGamma,
  type DetectorName,
} from "../src/analysis/anomaly.ts";

// ---------- data ----------

/** n rows of N(shift, Σ) in d dims, Σ = ρ·11ᵀ + (1 − ρ)·I (unit variances, equicorrelation ρ). */
function gaussian(rng: Rng, n: number, d: number, opts: { rho?: number; shift?: ArrayLike<number> } = {}): Float64Array {
  const rho = opts.rho ?? 0;
  const x = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const common = rng.normal() * Math.sqrt(rho);
    for (let j = 0; j < d; j++) x[i * d + j] = common + Math.sqrt(1 - rho) * rng.normal() + (opts.shift ? opts.shift[j] : 0);
  }
  return x;
}
const filled = (d: number, v: number) => new Float64Array(d).fill(v);
/** alternating ±v: a shift along a contrast direction, against the layer-to-layer correlation (each marginal moves by only v) */
const alternating = (d: number, v: number) => Float64Array.from({ length: d }, (_, j) => (j % 2 ? -v : v));
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const concat = (a: Float64Array, b: Float64Array) => {
  const out = new Float64Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};
const labelsFor = (n0: number, n1: number) => new Uint8Array(n0 + n1).fill(1, n0);

/** log N(x; μ, Σ) by Cholesky, written here independently of the detector (which uses an eigendecomposition). */
function gaussianLogDensity(x: Float64Array, n: number, d: number, mean: Float64Array, cov: Float64Array): { logp: Float64Array; logdet: number } {
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j <= i; j++) {
      let s = cov[i * d + j];
      for (let k = 0; k < j; k++) s -= L[i * d + k] * L[j * d + k];
      L[i * d + j] = i === j ? Math.sqrt(s) : s / L[j * d + j];
    }
  let logdet = 0;
  for (let i = 0; i < d; i++) logdet += 2 * Math.log(L[i * d + i]);
  const logp = new Float64Array(n);
  const z = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    let q = 0;
    for (let i = 0; i < d; i++) {
      let s = x[r * d + i] - mean[i];
      for (let k = 0; k < i; k++) s -= L[i * d + k] * z[k];
      z[i] = s / L[i * d + i];
      q += z[i] * z[i];
    }
    logp[r] = -0.5 * (q + d * Math.log(2 * Math.PI) + logdet);
  }
  return { logp, logdet };
}

// ---------- 1. Mahalanobis against closed forms ----------

test("mahalanobis: hand-computed distances for a known mean and covariance (and the diagonal-subtraction variant)", () => {
  // Z = ±s·e₁, ±s·e₂ with s² = 3/2 has mean 0 and unbiased covariance I; rows μ + A z have mean μ, covariance AAᵀ.
  // A = [[2, 0], [1, 1]]: Σ = [[4, 2], [2, 2]], Σ⁻¹ = [[½, −½], [−½, 1]], diag Σ = (4, 2).
  const s = Math.sqrt(1.5);
  const mu = [1, -2];
  const Z = [[s, 0], [-s, 0], [0, s], [0, -s]];
  const X = Float64Array.from(Z.flatMap(([a, b]) => [mu[0] + 2 * a, mu[1] + a + b]));
  const full = fitMahalanobis(X, 4, 2);
  assert.ok(maxAbsDiff(full.mean, mu) < 1e-15);
  assert.ok(maxAbsDiff(full.cov, [4, 2, 2, 2]) < 1e-14);
  // offsets δ = x − μ and their hand-computed δᵀΣ⁻¹δ and δᵀ diag(Σ)⁻¹ δ
  const deltas = [[2, 3], [0, 1], [0, 0], [1, 0], [-2, 2]];
  const mFull = [5, 1, 0, 0.5, 2 + 4 + 4]; // e.g. (2,3): ½·4 − 2·½·6 + 9 = 5;  (−2,2): ½·4 + 2·½·4 + 4 = 10
  const mDiag = [4 / 4 + 9 / 2, 1 / 2, 0, 1 / 4, 4 / 4 + 4 / 2];
  const T = Float64Array.from(deltas.flatMap(([a, b]) => [mu[0] + a, mu[1] + b]));
  const got = full.score(T, deltas.length, 2);
  const gotMinus = fitDetector("mahalanobis-minus-diag", X, 4, 2).score(T, deltas.length, 2);
  const wantMinus = mFull.map((v, i) => v - mDiag[i]);
  console.log(`  hand-computed: full ${Array.from(got).map((v) => v.toFixed(12)).join(", ")}; minus-diag ${Array.from(gotMinus).map((v) => v.toFixed(12)).join(", ")}`);
  assert.ok(maxAbsDiff(got, mFull) < 1e-12, `full: ${got} vs ${mFull}`);
  assert.ok(maxAbsDiff(gotMinus, wantMinus) < 1e-12, `minus-diag: ${gotMinus} vs ${wantMinus}`);
});

test("mahalanobis = −2 log N(x; μ, Σ) − log det(2πΣ); minus-diag = −2[log N(x; μ, Σ) − log N(x; μ, diag Σ)] − log det Σ + Σ log Σ_jj", () => {
  const rng = new Rng(11, "anomaly-test/logdensity");
  const n = 300, m = 50, d = 6;
  const X = gaussian(rng, n, d, { rho: 0.7 });
  const T = gaussian(rng, m, d, { rho: 0.2, shift: alternating(d, 0.8) });
  const det = fitMahalanobis(X, n, d);
  const full = gaussianLogDensity(T, m, d, det.mean, det.cov);
  const diagCov = new Float64Array(d * d);
  for (let j = 0; j < d; j++) diagCov[j * d + j] = det.cov[j * d + j];
  const diag = gaussianLogDensity(T, m, d, det.mean, diagCov);
  const c = d * Math.log(2 * Math.PI);
  const wantFull = full.logp.map((lp) => -2 * lp - (c + full.logdet));
  const wantMinus = full.logp.map((lp, i) => -2 * (lp - diag.logp[i]) - full.logdet + diag.logdet);
  const e1 = maxAbsDiff(det.score(T, m, d), wantFull);
  const e2 = maxAbsDiff(fitDetector("mahalanobis-minus-diag", X, n, d).score(T, m, d), wantMinus);
  console.log(`  max |Δ| vs Cholesky log-density: full ${e1.toExponential(2)}, minus-diag ${e2.toExponential(2)} (scores up to ${Math.max(...wantFull).toFixed(1)})`);
  assert.ok(e1 < 1e-9 && e2 < 1e-9);
});

// ---------- 4. scikit-learn / scipy references (one python call) ----------

const SK_CODE = `
import sys, json, numpy as np
from scipy.stats import multivariate_normal
from sklearn.covariance import EmpiricalCovariance
from sklearn.neighbors import LocalOutlierFactor
from sklearn.svm import OneClassSVM
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
r = json.load(sys.stdin)
d = r['d']; X = np.array(r['X']).reshape(-1, d); T = np.array(r['T']).reshape(-1, d); y = np.array(r['y'])
mu = X.mean(0); S = np.cov(X.T)  # torch.cov: divisor n - 1, as the reference's Mahalanobis class
full = multivariate_normal(mu, S).logpdf(T); diag = multivariate_normal(mu, np.diag(np.diag(S))).logpdf(T)
lof = LocalOutlierFactor(novelty=True).fit(X)
svm0 = OneClassSVM().fit(X); svm1 = OneClassSVM(shrinking=False).fit(X)
iso = [IsolationForest(random_state=s).fit(X) for s in range(10)]
iso_mean = np.mean([-f.score_samples(T) for f in iso], axis=0)
out = {
  'emp': EmpiricalCovariance().fit(X).mahalanobis(T).tolist(),
  'logpdf_full': full.tolist(), 'logpdf_diag': diag.tolist(),
  'logdet_full': float(np.linalg.slogdet(S)[1]), 'logdet_diag': float(np.sum(np.log(np.diag(S)))),
  'lof': lof.score_samples(T).tolist(), 'lof_dec': lof.decision_function(T).tolist(),
  'svm': svm0.decision_function(T).tolist(), 'svm_noshrink': svm1.decision_function(T).tolist(),
  'svm_gamma': float(svm0._gamma), 'svm_nsv': int(len(svm0.support_)),
  'iso_mean': iso_mean.tolist(), 'iso_auroc': float(np.mean([roc_auc_score(y, -f.score_samples(T)) for f in iso])),
}
print(json.dumps(out))
`;

function sklearnAvailable(): boolean {
  const r = spawnSync(SYSTEM_PYTHON, ["-c", "import sklearn, scipy"], { encoding: "utf8" });
  return r.status === 0;
}

test("scikit-learn / scipy: Mahalanobis (both variants), LOF and one-class SVM score by score; isolation forest in distribution", (t) => {
  if (!sklearnAvailable()) {
    t.skip(`${SYSTEM_PYTHON} cannot import sklearn and scipy`);
    return;
  }
  const rng = new Rng(5, "anomaly-test/sklearn");
  const n = 300, m0 = 80, m1 = 80, d = 7;
  const X = gaussian(rng, n, d, { rho: 0.6 });
  const T = concat(gaussian(rng, m0, d, { rho: 0.6 }), gaussian(rng, m1, d, { rho: 0.6, shift: filled(d, 1.2) }));
  const y = labelsFor(m0, m1);
  const m = m0 + m1;
  const r = spawnSync(SYSTEM_PYTHON, ["-c", SK_CODE], { input: JSON.stringify({ X: Array.from(X), T: Array.from(T), y: Array.from(y), d }), encoding: "utf8", maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  const sk = JSON.parse(r.stdout);

  // Mahalanobis: EmpiricalCovariance uses the biased covariance, so its squared distance is n/(n−1) times ours
  const maha = fitDetector("mahalanobis", X, n, d).score(T, m, d);
  const eEmp = maxAbsDiff(maha.map((v) => (v * n) / (n - 1)), sk.emp);
  // against scipy's log-density (= the reference's MultivariateNormal.log_prob, in float64)
  const c = d * Math.log(2 * Math.PI);
  const eFull = maxAbsDiff(maha, sk.logpdf_full.map((lp: number) => -2 * lp - c - sk.logdet_full));
  const minus = fitDetector("mahalanobis-minus-diag", X, n, d).score(T, m, d);
  const refDists = sk.logpdf_full.map((lp: number, i: number) => lp - sk.logpdf_diag[i]); // the reference's score
  const eMinus = maxAbsDiff(minus, refDists.map((v: number) => -2 * v - sk.logdet_full + sk.logdet_diag));
  // LOF: scikit-learn's score_samples is −LOF
  const lof = fitDetector("lof", X, n, d).score(T, m, d);
  const eLof = maxAbsDiff(lof, sk.lof.map((v: number) => -v));
  // the reference's decision_function differs from score_samples by the constant offset_: same AUROC
  const aLofRef = auroc(sk.lof_dec.map((v: number) => -v), y);
  // one-class SVM: scikit-learn's decision_function is −(our score)
  const svm = fitOneClassSvm(X, n, d);
  const eSvm = maxAbsDiff(svm.score(T, m, d), sk.svm.map((v: number) => -v));
  const eSvm0 = maxAbsDiff(svm.score(T, m, d), sk.svm_noshrink.map((v: number) => -v));
  const svmScale = Math.max(...sk.svm.map(Math.abs));
  // isolation forest: different random draws, so compare the scores averaged over 10 seeds on each side (per row,
  // their expectations are equal) and the mean AUROC over those seeds
  const isoMean = new Float64Array(m);
  let aIso = 0;
  for (let seed = 0; seed < 10; seed++) {
    const sc = fitDetector("isolation-forest", X, n, d, { seed }).score(T, m, d);
    for (let i = 0; i < m; i++) isoMean[i] += sc[i] / 10;
    aIso += auroc(sc, y) / 10;
  }
  const eIsoMax = maxAbsDiff(isoMean, sk.iso_mean);
  const eIsoMean = isoMean.reduce((acc, v, i) => acc + Math.abs(v - sk.iso_mean[i]), 0) / m;
  const isoBias = isoMean.reduce((acc, v, i) => acc + v - sk.iso_mean[i], 0) / m;
  console.log(
    `  mahalanobis vs EmpiricalCovariance ${eEmp.toExponential(2)}, vs scipy logpdf ${eFull.toExponential(2)}, minus-diag vs scipy ${eMinus.toExponential(2)}\n` +
      `  LOF vs LocalOutlierFactor(novelty=True) ${eLof.toExponential(2)} (AUROC ours ${auroc(lof, y).toFixed(4)}, reference decision_function ${aLofRef.toFixed(4)})\n` +
      `  one-class SVM vs OneClassSVM(): ${eSvm.toExponential(2)} (shrinking=False ${eSvm0.toExponential(2)}; |f| up to ${svmScale.toFixed(2)}); gamma ${svm.gamma} vs ${sk.svm_gamma}; ${svm.alpha.length} vs ${sk.svm_nsv} support vectors\n` +
      `  isolation forest, 10 seeds each: per-row mean score max |Δ| ${eIsoMax.toFixed(4)}, mean |Δ| ${eIsoMean.toFixed(4)}, mean Δ ${isoBias.toFixed(4)} (scores ${Math.min(...sk.iso_mean).toFixed(3)}–${Math.max(...sk.iso_mean).toFixed(3)}); mean AUROC ours ${aIso.toFixed(4)} vs scikit-learn ${sk.iso_auroc.toFixed(4)}`,
  );
  assert.ok(eEmp < 1e-9, `EmpiricalCovariance ${eEmp}`);
  assert.ok(eFull < 1e-9, `scipy logpdf ${eFull}`);
  assert.ok(eMinus < 1e-9, `minus-diag ${eMinus}`);
  assert.ok(eLof < 1e-9, `LOF ${eLof}`);
  assert.equal(auroc(lof, y), aLofRef);
  assert.ok(Math.abs(svm.gamma - sk.svm_gamma) < 1e-15 * sk.svm_gamma);
  assert.equal(svm.alpha.length, sk.svm_nsv);
  assert.ok(eSvm0 < 1e-6 * svmScale, `SVM (no shrinking) ${eSvm0}`);
  assert.ok(eSvm < 1e-2 * svmScale, `SVM ${eSvm}`);
  assert.ok(eIsoMax < 0.03 && eIsoMean < 0.008 && Math.abs(isoBias) < 0.004, `isolation forest mean scores: max ${eIsoMax}, mean ${eIsoMean}, bias ${isoBias}`);
  assert.ok(Math.abs(aIso - sk.iso_auroc) < 0.02, `isolation forest AUROC ${aIso} vs ${sk.iso_auroc}`);
});

// ---------- 2. bootstrap ----------

/** n0 normal scores N(0, 1) and n1 anomalous N(1, 1): population AUROC Φ(1/√2) ≈ 0.760. */
function scoreSample(seed: number, n0: number, n1: number) {
  const rng = new Rng(seed, "anomaly-test/bootstrap");
  const s = Float64Array.from({ length: n0 + n1 }, (_, i) => rng.normal() + (i >= n0 ? 1 : 0));
  return { s, y: labelsFor(n0, n1) };
}

test("bootstrapAuroc: same seed → same interval, other seed → slightly different; contains the point AUROC; narrows with n; ≈ Hanley–McNeil width", () => {
  const small = scoreSample(1, 60, 40);
  const a = bootstrapAuroc(small.s, small.y, { seed: 3 });
  const b = bootstrapAuroc(small.s, small.y, { seed: 3 });
  const c = bootstrapAuroc(small.s, small.y, { seed: 4 });
  const dflt = bootstrapAuroc(small.s, small.y);
  assert.deepEqual(a, b);
  assert.deepEqual(dflt, bootstrapAuroc(small.s, small.y, { seed: 0 })); // default seed 0, as the reference
  assert.equal(a.auroc, auroc(small.s, small.y));
  assert.equal(c.auroc, a.auroc);
  assert.ok(a.lo !== c.lo || a.hi !== c.hi, "another seed should move the interval");
  assert.ok(Math.abs(a.lo - c.lo) < 0.03 && Math.abs(a.hi - c.hi) < 0.03, `seeds 3 vs 4: ${JSON.stringify(a)} ${JSON.stringify(c)}`);
  assert.ok(a.lo < a.auroc && a.auroc < a.hi);

  const big = scoreSample(2, 1200, 800);
  const B = bootstrapAuroc(big.s, big.y, { seed: 3 });
  assert.ok(B.lo < B.auroc && B.auroc < B.hi);
  const wSmall = a.hi - a.lo, wBig = B.hi - B.lo;
  // Hanley & McNeil (1982) standard error of an AUROC, as an independent yardstick for the width
  const hm = (A: number, n1: number, n0: number) => {
    const q1 = A / (2 - A), q2 = (2 * A * A) / (1 + A);
    return Math.sqrt((A * (1 - A) + (n1 - 1) * (q1 - A * A) + (n0 - 1) * (q2 - A * A)) / (n1 * n0));
  };
  const hmSmall = 2 * 1.96 * hm(a.auroc, 40, 60), hmBig = 2 * 1.96 * hm(B.auroc, 800, 1200);
  console.log(
    `  n=100: AUROC ${a.auroc.toFixed(4)} [${a.lo.toFixed(4)}, ${a.hi.toFixed(4)}] (seed 4: [${c.lo.toFixed(4)}, ${c.hi.toFixed(4)}]) width ${wSmall.toFixed(4)}, Hanley–McNeil ${hmSmall.toFixed(4)}\n` +
      `  n=2000: AUROC ${B.auroc.toFixed(4)} [${B.lo.toFixed(4)}, ${B.hi.toFixed(4)}] width ${wBig.toFixed(4)}, Hanley–McNeil ${hmBig.toFixed(4)}; ratio ${(wSmall / wBig).toFixed(2)} (√20 ≈ 4.47)`,
  );
  assert.ok(wBig < wSmall / 2.5, `width should shrink ~√20-fold: ${wSmall} → ${wBig}`);
  assert.ok(wSmall / hmSmall > 0.75 && wSmall / hmSmall < 1.33, `small width ${wSmall} vs Hanley–McNeil ${hmSmall}`);
  assert.ok(wBig / hmBig > 0.75 && wBig / hmBig < 1.33, `big width ${wBig} vs Hanley–McNeil ${hmBig}`);
});

test("bootstrapAuroc: ties count one half; one-class resamples are redrawn; bad input is refused", () => {
  const r = bootstrapAuroc([1, 1, 1, 1], Uint8Array.from([0, 1, 0, 1]), { samples: 50 });
  assert.deepEqual(r, { auroc: 0.5, lo: 0.5, hi: 0.5 });
  // two rows: half of all resamples hold one class only and must be redrawn, not crash
  const two = bootstrapAuroc([0, 1], Uint8Array.from([0, 1]), { samples: 200, seed: 1 });
  assert.deepEqual(two, { auroc: 1, lo: 1, hi: 1 });
  assert.throws(() => bootstrapAuroc([0, 1, 2], Uint8Array.from([0, 0, 0])), /both classes/);
  assert.throws(() => bootstrapAuroc([0, NaN], Uint8Array.from([0, 1])), /score 1 is NaN/);
  assert.throws(() => bootstrapAuroc([0, 1], Uint8Array.from([0, 1, 1])), /2 scores but 3 labels/);
  assert.throws(() => bootstrapAuroc([0, 1], Uint8Array.from([0, 1]), { samples: 0 }), /samples/);
});

// ---------- 3. separation ----------

test("every detector: AUROC > 0.9 for a clear shift, ≈ 0.5 without one", () => {
  const d = 8, nFit = 400, m = 200;
  // isotropic N(0, I) vs N(1.5·1, I); and layer-like correlated data (ρ = 0.8) vs a shift along the ±1 contrast,
  // which diagonal-only scores barely see — the case mahalanobis-minus-diag is for (on isotropic data it is ≈ 0).
  const scenarios = [
    { name: "isotropic", rho: 0, shift: filled(d, 1.5), methods: DETECTORS.filter((x) => x !== "mahalanobis-minus-diag") },
    { name: "correlated", rho: 0.8, shift: alternating(d, 1.2), methods: DETECTORS },
  ];
  const lines: string[] = [];
  for (const sc of scenarios) {
    const rng = new Rng(21, `anomaly-test/separation/${sc.name}`);
    const fit = gaussian(rng, nFit, d, { rho: sc.rho });
    const normal = gaussian(rng, m, d, { rho: sc.rho });
    const shifted = gaussian(rng, m, d, { rho: sc.rho, shift: sc.shift });
    const unshifted = gaussian(rng, m, d, { rho: sc.rho });
    const y = labelsFor(m, m);
    for (const method of sc.methods as DetectorName[]) {
      const det = fitDetector(method, fit, nFit, d);
      const aShift = auroc(det.score(concat(normal, shifted), 2 * m, d), y);
      const aNull = auroc(det.score(concat(normal, unshifted), 2 * m, d), y);
      lines.push(`  ${sc.name.padEnd(10)} ${method.padEnd(22)} shifted ${aShift.toFixed(4)}  unshifted ${aNull.toFixed(4)}`);
      assert.ok(aShift > 0.9, `${sc.name} ${method}: shifted AUROC ${aShift}`);
      assert.ok(Math.abs(aNull - 0.5) < 0.1, `${sc.name} ${method}: unshifted AUROC ${aNull}`);
    }
  }
  console.log(lines.join("\n"));
});

// ---------- the experiment ----------

test("anomalyExperiment: fit on AE, score AH (0) vs BH (1); = fitDetector + bootstrapAuroc; seeded", () => {
  const rng = new Rng(8, "anomaly-test/experiment");
  const L = 6;
  const fit = { x: gaussian(rng, 200, L, { rho: 0.8 }), n: 200, d: L };
  const normal = { x: gaussian(rng, 70, L, { rho: 0.8 }), n: 70, d: L };
  const anomalous = { x: gaussian(rng, 50, L, { rho: 0.8, shift: alternating(L, 0.8) }), n: 50, d: L };
  const res = anomalyExperiment(fit, normal, anomalous, undefined, { bootstrap: 200 });
  assert.deepEqual(res.map((r) => r.detector), DETECTORS);
  const y = labelsFor(70, 50);
  const x = concat(normal.x, anomalous.x);
  for (const r of res) {
    assert.equal(r.nNormal, 70);
    assert.equal(r.nAnomalous, 50);
    const want = bootstrapAuroc(fitDetector(r.detector, fit.x, 200, L).score(x, 120, L), y, { samples: 200 });
    assert.deepEqual({ auroc: r.auroc, lo: r.lo, hi: r.hi }, want);
    assert.ok(r.lo <= r.auroc && r.auroc <= r.hi);
  }
  console.log(res.map((r) => `  ${r.detector.padEnd(22)} ${r.auroc.toFixed(3)} (${r.lo.toFixed(3)}, ${r.hi.toFixed(3)})`).join("\n"));
  const again = anomalyExperiment(fit, normal, anomalous, ["isolation-forest", "lof"], { seed: 7, bootstrap: 100 });
  assert.deepEqual(again, anomalyExperiment(fit, normal, anomalous, ["isolation-forest", "lof"], { seed: 7, bootstrap: 100 }));
  // the isolation forest is the only random detector: its scores follow the seed
  const s1 = fitDetector("isolation-forest", fit.x, 200, L, { seed: 1 }).score(x, 120, L);
  const s2 = fitDetector("isolation-forest", fit.x, 200, L, { seed: 2 }).score(x, 120, L);
  assert.deepEqual(s1, fitDetector("isolation-forest", fit.x, 200, L, { seed: 1 }).score(x, 120, L));
  assert.ok(maxAbsDiff(s1, s2) > 0);
});

test("isolation forest: path-length normaliser c(m) and the score scale", () => {
  // c(m) = 2 H(m−1) − 2(m−1)/m with the exact harmonic number agrees with the ln + γ approximation scikit-learn uses
  for (const mm of [3, 10, 256]) {
    let H = 0;
    for (let k = 1; k < mm; k++) H += 1 / k;
    // H(k) − ln k − γ lies in (0, 1/(2k)), so the exact c exceeds scikit-learn's by less than 1/(m − 1)
    const gap = 2 * H - (2 * (mm - 1)) / mm - averagePathLength(mm);
    assert.ok(gap > 0 && gap < 1 / (mm - 1), `c(${mm}): gap ${gap}`);
  }
  assert.equal(averagePathLength(1), 0);
  assert.equal(averagePathLength(2), 1);
  // two distinct fit rows, ψ = 2, depth limit 1: every tree splits once, each row isolated at depth 1 → score 2^(−1/c(2)) = ½
  const f = fitIsolationForest(Float64Array.from([0, 0, 1, 1]), 2, 2, { seed: 3 });
  assert.deepEqual(Array.from(f.score(Float64Array.from([0, 0, 1, 1]), 2, 2)), [0.5, 0.5]);
  // a far-away row is isolated quickly: score above 0.5; rows from the bulk score below it
  const rng = new Rng(4, "anomaly-test/iforest");
  const X = gaussian(rng, 500, 4);
  const det = fitIsolationForest(X, 500, 4);
  const [far] = det.score(filled(4, 6), 1, 4);
  const bulk = det.score(X.subarray(0, 400), 100, 4);
  const meanBulk = bulk.reduce((s, v) => s + v, 0) / bulk.length;
  console.log(`  far row ${far.toFixed(3)}, bulk mean ${meanBulk.toFixed(3)}; ψ = ${det.maxSamples}`);
  assert.equal(det.maxSamples, 256);
  assert.ok(far > 0.6 && meanBulk < 0.5);
});

test("LOF: fewer than 21 rows use n − 1 neighbours; one-class SVM gamma='scale' = 1/(d·Var X)", () => {
  const X = Float64Array.from([0, 0, 1, 0, 0, 1, 1, 1, 5, 5]);
  const lof = fitLof(X, 5, 2);
  assert.equal(lof.k, 4);
  // by hand for a 1-D set {0, 1, 3} with k = 2: k-dist = (3, 2, 3); lrd(0) = 1/((max(2,1) + max(3,3))/2) = 2/5,
  // lrd(1) = 1/((max(3,1)+max(3,2))/2) = 1/3, lrd(3) = 1/((max(2,2)+max(3,3))/2) = 2/5; x = 2: neighbours 1 (d 1) and 3 (d 1),
  // reach = (max(2,1) + max(3,1))/2 = 5/2, lrd(x) = 2/5, LOF = ((1/3 + 2/5)/2)/(2/5) = 11/12
  const one = fitLof(Float64Array.from([0, 1, 3]), 3, 1, { nNeighbors: 20 });
  assert.equal(one.k, 2);
  assert.ok(maxAbsDiff(one.kDistance, [3, 2, 3]) < 1e-15);
  assert.ok(maxAbsDiff(one.lrd, [2 / 5, 1 / 3, 2 / 5]) < 1e-9);
  assert.ok(Math.abs(one.score(Float64Array.from([2]), 1, 1)[0] - 11 / 12) < 1e-9);
  // gamma: entries of X have mean 1.4 and population variance (Σx² / 10 − 1.4²) = 5.4 − 1.96 = 3.44
  assert.ok(Math.abs(scaleGamma(X, 5, 2) - 1 / (2 * 3.44)) < 1e-12);
  assert.equal(scaleGamma(new Float64Array(6).fill(2), 3, 2), 1);
});

// ---------- errors ----------

test("clear errors: NaN rows (which row), too few normal rows, dimension mismatch, unknown method", () => {
  const rng = new Rng(9, "anomaly-test/errors");
  const X = gaussian(rng, 30, 4);
  const bad = X.slice();
  bad[3 * 4 + 2] = NaN;
  for (const method of DETECTORS) {
    assert.throws(() => fitDetector(method, bad, 30, 4), /row 3 has NaN in column 2/, method);
    assert.throws(() => fitDetector(method, X, 29, 4), /dimension mismatch: 120 values for n = 29 rows × d = 4 columns/, method);
    const det = fitDetector(method, X, 30, 4);
    assert.throws(() => det.score(X.subarray(0, 15), 5, 3), /fitted on d = 4 features, asked to score rows of d = 3/, method);
    const badTest = X.slice(0, 20);
    badTest[17] = Infinity;
    assert.throws(() => det.score(badTest, 5, 4), /row 4 has Infinity in column 1/, method);
    assert.throws(() => fitDetector(method, X.subarray(0, 4), 1, 4), /too few normal rows/, method);
  }
  assert.throws(() => fitDetector("mahalanobis", X.subarray(0, 16), 4, 4), /too few normal rows: 4 rows for d = 4 features; the covariance needs at least d \+ 1 = 5/);
  assert.throws(() => fitDetector("mahalanobis-minus-diag", X.subarray(0, 16), 4, 4), /mahalanobis-minus-diag: too few normal rows/);
  assert.equal(fitDetector("mahalanobis", X.subarray(0, 20), 5, 4).score(X, 30, 4).length, 30);
  assert.throws(() => fitDetector("knn" as DetectorName, X, 30, 4), /unknown anomaly detector 'knn'/);

  const rows = (x: Float64Array, n: number, d: number) => ({ x, n, d });
  assert.throws(() => anomalyExperiment(rows(X, 30, 4), rows(X.subarray(0, 12), 4, 3), rows(X, 30, 4)), /dimension mismatch/);
  assert.throws(() => anomalyExperiment(rows(X, 30, 4), rows(X, 30, 4), rows(new Float64Array(0), 0, 4)), /anomalous rows \(BH\): 0 rows, but at least 1/);
  assert.throws(() => anomalyExperiment(rows(X, 30, 4), rows(bad, 30, 4), rows(X, 30, 4)), /normal rows \(AH\): row 3 has NaN/);
  assert.throws(() => anomalyExperiment(rows(X, 30, 4), rows(X, 30, 4), rows(X, 30, 4), ["lof", "svm" as DetectorName]), /unknown anomaly detector 'svm'/);
});

test("degenerate features: a constant column is left out of the (pseudo-)inverse instead of failing", () => {
  const rng = new Rng(10, "anomaly-test/constant");
  const n = 100, d = 3;
  const X = gaussian(rng, n, d);
  for (let i = 0; i < n; i++) X[i * d + 2] = 0.5; // e.g. a layer whose probe outputs a constant
  const sub = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) sub.set(X.subarray(i * d, i * d + 2), i * 2);
  const T = gaussian(rng, 10, d);
  const T2 = new Float64Array(20);
  for (let i = 0; i < 10; i++) T2.set(T.subarray(i * d, i * d + 2), i * 2);
  const det = fitMahalanobis(X, n, d);
  assert.equal(det.covarianceRank, 2);
  assert.ok(maxAbsDiff(det.score(T, 10, d), fitMahalanobis(sub, n, 2).score(T2, 10, 2)) < 1e-9);
  assert.ok(maxAbsDiff(fitDetector("mahalanobis-minus-diag", X, n, d).score(T, 10, d), fitDetector("mahalanobis-minus-diag", sub, n, 2).score(T2, 10, 2)) < 1e-9);
});
