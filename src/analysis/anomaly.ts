/**
 * Anomaly detection on probe outputs (a port of elk_generalization/anomaly/{detect_anomaly,anomaly_experiment}.py).
 *
 * Features: one row per example, one column per layer — the log-odds that the probe trained on AE (Alice's easy
 * examples) gives at each layer. A detector is fitted on the AE test rows only, then scores AH test rows (normal:
 * Alice's hard examples) and BH test rows (anomalous: Bob's hard examples); the result is the AUROC of the scores
 * for BH vs AH with a percentile bootstrap 95% interval.
 *
 * Detectors (files in ./anomaly/, settings = the reference's, i.e. scikit-learn defaults):
 *   mahalanobis             squared Mahalanobis distance under the mean and unbiased covariance of the fit rows
 *   mahalanobis-minus-diag  the same minus the squared distance under the diagonal of that covariance
 *   isolation-forest        100 trees on min(256, n) rows each; score 2^(−E[h(x)]/c(ψ))
 *   lof                     local outlier factor, 20 neighbours, novelty mode
 *   one-class-svm           RBF kernel, gamma = "scale", nu = 0.5
 * Every score is oriented so that higher = more anomalous. (The reference orients the other way round — log
 * densities and scikit-learn's score_samples / decision_function, higher = more normal — and labels the normal
 * rows 1; the two flips cancel, so AUROCs are the same.)
 *
 * Seeds: the isolation forest draws from Rng(seed, "anomaly/isolation-forest"), default seed 42 (the reference's
 * random_state); the bootstrap from Rng(seed, "anomaly/bootstrap-auroc"), default seed 0 (the reference's
 * bootstrap_auroc default, which fit_anomaly_detector never overrides). `anomalyExperiment`'s opts.seed, when
 * given, seeds both.
 */
import { auroc, aurocUnchecked } from "../probes/metrics.ts";
import { Rng } from "../util/rng.ts";
import { checkRows, type AnomalyDetector } from "./anomaly/common.ts";
import { fitMahalanobis } from "./anomaly/mahalanobis.ts";
import { fitIsolationForest } from "./anomaly/isolation-forest.ts";
import { fitLof } from "./anomaly/lof.ts";
import { fitOneClassSvm } from "./anomaly/one-class-svm.ts";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULTS } from "../defaults.ts";
import { readSafetensors, readSafetensorsHeader } from "../model/safetensors.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { provenance, reuseCached } from "../util/provenance.ts";
import { logOddsFile, recordedProvenance } from "./transfer.ts";

export type { AnomalyDetector } from "./anomaly/common.ts";
export { MahalanobisDetector, fitMahalanobis } from "./anomaly/mahalanobis.ts";
export { IsolationForestDetector, fitIsolationForest, averagePathLength } from "./anomaly/isolation-forest.ts";
export { LofDetector, fitLof } from "./anomaly/lof.ts";
export { OneClassSvmDetector, fitOneClassSvm, scaleGamma } from "./anomaly/one-class-svm.ts";

export type DetectorName = "mahalanobis" | "mahalanobis-minus-diag" | "isolation-forest" | "lof" | "one-class-svm";

export const DETECTORS: readonly DetectorName[] = ["mahalanobis", "mahalanobis-minus-diag", "isolation-forest", "lof", "one-class-svm"];

/** Default seed of the detectors (the reference's IsolationForest random_state). */
export const DEFAULT_DETECTOR_SEED = 42;
/** Default seed of the bootstrap (the reference's bootstrap_auroc default). */
export const DEFAULT_BOOTSTRAP_SEED = 0;

/**
 * Fit a detector on normal rows (n, d). Minimum rows: mahalanobis variants d + 1 (a full-rank covariance),
 * the others 2. Only the isolation forest is random (opts.seed, default 42).
 */
export function fitDetector(detector: DetectorName, normal: Float64Array, n: number, d: number, opts: { seed?: number } = {}): AnomalyDetector {
  switch (detector) {
    case "mahalanobis":
      return fitMahalanobis(normal, n, d);
    case "mahalanobis-minus-diag":
      return fitMahalanobis(normal, n, d, { subtractDiag: true });
    case "isolation-forest":
      return fitIsolationForest(normal, n, d, { seed: opts.seed ?? DEFAULT_DETECTOR_SEED });
    case "lof":
      return fitLof(normal, n, d);
    case "one-class-svm":
      return fitOneClassSvm(normal, n, d);
    default:
      throw new Error(`unknown anomaly detector '${detector as string}'; expected one of ${DETECTORS.join(", ")}`);
  }
}

/** numpy's default (linear) quantile of ascending values. */
function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * AUROC of scores for normal (label 0) vs anomalous (label 1) rows, with a seeded bootstrap 95% interval (percentile).
 *
 * As the reference's bootstrap_auroc: each of `samples` (default 1000) replicates draws n row indices uniformly
 * with replacement from all rows together (not per class), and the interval is the 2.5% and 97.5% quantiles of the
 * replicate AUROCs (numpy's linear interpolation). A replicate that happens to hold one class only (where the
 * reference's roc_auc_score would raise) is redrawn. Ties count one half.
 */
export function bootstrapAuroc(scores: ArrayLike<number>, labels: Uint8Array, opts: { samples?: number; seed?: number } = {}): { auroc: number; lo: number; hi: number } {
  const point = auroc(scores, labels); // checks lengths, finiteness, 0/1 labels and both classes
  const samples = opts.samples ?? DEFAULTS.bootstrap;
  if (!(Number.isInteger(samples) && samples >= 1)) throw new RangeError(`bootstrapAuroc: samples = ${samples} must be a positive integer`);
  const rng = new Rng(opts.seed ?? DEFAULT_BOOTSTRAP_SEED, "anomaly/bootstrap-auroc");
  const n = scores.length;
  const s = new Float64Array(n);
  const l = new Uint8Array(n);
  const reps = new Float64Array(samples);
  let redraws = 0;
  for (let b = 0; b < samples; b++) {
    let n1 = 0;
    for (let k = 0; k < n; k++) {
      const i = rng.int(0, n - 1);
      s[k] = scores[i];
      l[k] = labels[i];
      n1 += labels[i];
    }
    if (n1 === 0 || n1 === n) {
      if (++redraws > 100 * samples) throw new Error(`bootstrapAuroc: almost every resample of ${n} rows holds one class only`);
      b--;
      continue;
    }
    reps[b] = aurocUnchecked(s, l);
  }
  reps.sort();
  return { auroc: point, lo: quantileSorted(reps, 0.025), hi: quantileSorted(reps, 0.975) };
}

export interface AnomalyResult {
  detector: DetectorName;
  auroc: number;
  lo: number;
  hi: number;
  nNormal: number;
  nAnomalous: number;
}

type Rows = { x: Float64Array; n: number; d: number };

/** The paper's experiment: fit on `fit` (AE test outputs), score `normal` (AH) vs `anomalous` (BH). Feature rows are per-example per-layer probe log-odds (n, L). */
export function anomalyExperiment(fit: Rows, normal: Rows, anomalous: Rows, detectors: DetectorName[] = [...DETECTORS], opts: { seed?: number; bootstrap?: number } = {}): AnomalyResult[] {
  checkRows(fit.x, fit.n, fit.d, "anomalyExperiment: fit rows (AE)");
  checkRows(normal.x, normal.n, normal.d, "anomalyExperiment: normal rows (AH)", 1);
  checkRows(anomalous.x, anomalous.n, anomalous.d, "anomalyExperiment: anomalous rows (BH)", 1);
  if (normal.d !== fit.d || anomalous.d !== fit.d)
    throw new RangeError(`anomalyExperiment: dimension mismatch: fit rows have d = ${fit.d}, normal rows ${normal.d}, anomalous rows ${anomalous.d}`);
  if (!detectors.length) throw new Error("anomalyExperiment: no detectors given");
  for (const m of detectors) if (!DETECTORS.includes(m)) throw new Error(`unknown anomaly detector '${m}'; expected one of ${DETECTORS.join(", ")}`);
  const d = fit.d;
  const x = new Float64Array((normal.n + anomalous.n) * d);
  x.set(normal.x, 0);
  x.set(anomalous.x, normal.n * d);
  const labels = new Uint8Array(normal.n + anomalous.n);
  labels.fill(1, normal.n);
  return detectors.map((detector) => {
    const scores = fitDetector(detector, fit.x, fit.n, d, { seed: opts.seed }).score(x, normal.n + anomalous.n, d);
    const r = bootstrapAuroc(scores, labels, { samples: opts.bootstrap ?? DEFAULTS.bootstrap, seed: opts.seed });
    return { detector, ...r, nNormal: normal.n, nAnomalous: anomalous.n };
  });
}

/**
 * The paper's anomaly experiment on a finished grid: features are the per-layer log-odds of the probe fitted
 * on AE (AE→AE, AE→AH, AE→BH outputs); fit on AE's test examples, score AH (normal) vs BH (anomalous).
 * Writes `<root>/anomaly_<reporter>.json`, recording the log-odds' fingerprints and the settings; a result from the
 * same inputs is reused, one from others refused (or, with `force`, recomputed).
 */
export function anomalyFromRoot(
  root: string,
  reporter: string,
  detectors: DetectorName[] = [...DETECTORS],
  opts: { seed?: number; bootstrap?: number; force?: boolean } = {},
): { path: string; results: AnomalyResult[]; reused: boolean } {
  for (const m of detectors) if (!DETECTORS.includes(m)) throw new Error(`unknown anomaly detector '${m}'; expected one of ${DETECTORS.join(", ")}`);
  const files = (["AE", "AH", "BH"] as const).map((test) => {
    const file = join(root, test, "test", logOddsFile("AE", reporter));
    if (!existsSync(file)) throw new Error(`${file}: missing; run the grid (AE→AE,AH,BH) for '${reporter}' first`);
    return file;
  });
  const seed = opts.seed ?? DEFAULTS.seed;
  const bootstrap = opts.bootstrap ?? DEFAULTS.bootstrap;
  const wanted = provenance({ logOdds: files.map((f) => readSafetensorsHeader(f).metadata.fingerprint ?? null), reporter, detectors, seed, bootstrap });
  const path = join(root, `anomaly_${reporter}.json`);
  if (reuseCached(path, recordedProvenance(path), wanted, opts.force)) {
    return { path, results: (JSON.parse(readFileSync(path, "utf8")) as { results: AnomalyResult[] }).results, reused: true };
  }
  const features = (file: string) => {
    const t = readSafetensors(file).get("log_odds")!;
    const [L, n] = t.shape;
    const x = new Float64Array(n * L); // (n, L): one row of per-layer log-odds per example
    for (let l = 0; l < L; l++) for (let i = 0; i < n; i++) x[i * L + l] = t.data[l * n + i];
    return { x, n, d: L };
  };
  const results = anomalyExperiment(features(files[0]), features(files[1]), features(files[2]), detectors, { seed, bootstrap });
  writeFileAtomic(path, JSON.stringify({ reporter, results, provenance: wanted }, null, 1) + "\n");
  return { path, results, reused: false };
}
