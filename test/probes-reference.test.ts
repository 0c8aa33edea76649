/**
 * Probes against independent references computed by numpy / scikit-learn (Debian's /usr/bin/python3,
 * test/reference/sklearn_ref.py): logistic regression, LDA, AUROC with ties, eigh, shrinkage, the LEACE
 * eraser, PCA and quantiles. Each test prints the measured discrepancy.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT, SYSTEM_PYTHON } from "./helpers.ts";
import { auroc, metric, accuracy } from "../src/probes/metrics.ts";
import { fitLogisticRegression, lrObjective } from "../src/probes/lr.ts";
import { fitLda } from "../src/probes/lda.ts";
import { eigh, eighAsync } from "../src/linalg/eigh.ts";
import { optimalLinearShrinkage } from "../src/probes/shrinkage.ts";
import { LeaceFitter } from "../src/probes/leace.ts";
import { topPrincipalDirection } from "../src/probes/crc.ts";
import { quantileSorted } from "../src/probes/random-baseline.ts";
import { plantedGaussian } from "../src/probes/synthetic.ts";
import { matrixToRows, toFloat64, type Matrix } from "../src/probes/matrix.ts";
import { Rng } from "../src/util/rng.ts";

function ref(task: string, req: Record<string, unknown>): any {
  const r = spawnSync(SYSTEM_PYTHON, [join(ROOT, "test", "reference", "sklearn_ref.py")], { input: JSON.stringify({ task, ...req }), encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`reference ${task} failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
const rows = matrixToRows;
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

test("lr = scikit-learn LogisticRegression(C = 1/(2 n λ)): same coefficients and log-odds", async () => {
  for (const [scales, d, n] of [["iso", 8, 300], ["aniso", 20, 400]] as const) {
    const { x, y } = plantedGaussian({ n, d, seed: 3, scales, separation: 1.5 });
    const sk = ref("lr", { x: rows(x), y: Array.from(y), l2: 1e-3 });
    // with the reference's (torch's) stopping rule, L-BFGS stops once the loss changes by < 1e−9 ...
    const ours = await fitLogisticRegression(x, y);
    const dz0 = maxAbsDiff(ours.predict(x), sk.log_odds);
    // ... and run to convergence it lands on sklearn's optimum
    const tight = await fitLogisticRegression(x, y, { toleranceChange: 1e-16, toleranceGrad: 1e-12 });
    const dw = maxAbsDiff(tight.weight, sk.coef);
    const db = Math.abs(tight.bias - sk.intercept);
    const dz = maxAbsDiff(tight.predict(x), sk.log_odds);
    // sklearn's optimum is a stationary point of OUR objective (checks the penalty's scaling exactly)
    const theta = Float64Array.from([...sk.coef, sk.intercept]);
    const g = (await lrObjective(toFloat64(x), n, d, y, 1e-3, theta)).g;
    // the same check with a penalty off by a factor 2 fails clearly
    const gHalf = (await lrObjective(toFloat64(x), n, d, y, 0.5e-3, theta)).g;
    console.log(
      `lr vs sklearn (${scales}, n=${n}, d=${d}): converged max|Δw| ${dw.toExponential(2)}, |Δb| ${db.toExponential(2)}, max|Δlog-odds| ${dz.toExponential(2)}; ` +
        `torch stopping rule (${ours.info.iterations} it.) max|Δlog-odds| ${dz0.toExponential(2)}; |∇J(sklearn)|∞ ${maxAbs(g).toExponential(2)} (with λ/2: ${maxAbs(gHalf).toExponential(2)})`,
    );
    assert.ok(dw < 2e-6 && db < 2e-6 && dz < 5e-6, `lr differs from sklearn: ${dw} ${db} ${dz}`);
    assert.ok(dz0 < 2e-3, `lr with default tolerances is far from the optimum: ${dz0}`);
    assert.ok(maxAbs(g) < 1e-8, `sklearn's optimum is not stationary for our objective: ${maxAbs(g)}`);
    assert.ok(maxAbs(gHalf) > 100 * maxAbs(g), "failed: maxAbs(gHalf) > 100 * maxAbs(g)");
  }
});

test("lda = scikit-learn LinearDiscriminantAnalysis (balanced: w = (m−1)/m · coef_) and = numpy's pinv formula", async () => {
  // balanced classes: S_ours = m/(m−1) · sklearn's covariance_, so w_ours = (m−1)/m · coef_
  const m = 150, d = 12;
  const g = plantedGaussian({ n: 4 * m, d, seed: 5, scales: "aniso" });
  const idx0: number[] = [], idx1: number[] = [];
  g.y.forEach((v, i) => (v ? idx1 : idx0).push(i));
  const take = [...idx0.slice(0, m), ...idx1.slice(0, m)];
  const x: Matrix = { data: new Float32Array(take.length * d), rows: take.length, cols: d };
  const y = new Uint8Array(take.length);
  take.forEach((src, i) => {
    x.data.set(g.x.data.subarray(src * d, (src + 1) * d), i * d);
    y[i] = g.y[src];
  });
  const ours = await fitLda(x, y);
  const r = ref("lda", { x: rows(x), y: Array.from(y), rcond: d * 2 ** -23 });
  const scaled = r.coef.map((c: number) => (c * (m - 1)) / m);
  const rel = maxAbsDiff(ours.weight, scaled) / maxAbs(scaled);
  const relNp = maxAbsDiff(ours.weight, r.numpy_w) / maxAbs(r.numpy_w);
  console.log(`lda vs sklearn (balanced, n=${2 * m}, d=${d}): max rel |Δw| ${rel.toExponential(2)}; vs numpy pinv formula ${relNp.toExponential(2)}`);
  assert.ok(rel < 1e-10 && relNp < 1e-10, "failed: rel < 1e-10 && relNp < 1e-10");

  // unbalanced, and a rank-deficient pooled covariance where the pinv cut-off matters
  const u = plantedGaussian({ n: 260, d: 10, seed: 6, balance: 0.3 });
  for (let i = 0; i < u.x.rows; i++) {
    u.x.data[i * 10 + 9] = u.x.data[i * 10 + 3] - 2 * u.x.data[i * 10 + 1]; // exact linear dependence
    u.x.data[i * 10 + 8] = u.x.data[i * 10 + 8] * 1e-3; // a tiny-variance column: below the float32 cut
  }
  const ours2 = await fitLda(u.x, u.y);
  const r2 = ref("lda", { x: rows(u.x), y: Array.from(u.y), rcond: 10 * 2 ** -23 });
  const rel2 = maxAbsDiff(ours2.weight, r2.numpy_w) / maxAbs(r2.numpy_w);
  console.log(`lda vs numpy pinv (unbalanced, rank ${ours2.info.rank} of 10, numpy rank ${r2.rank}): max rel |Δw| ${rel2.toExponential(2)}`);
  assert.equal(ours2.info.rank, r2.rank);
  assert.ok(rel2 < 1e-7, `lda pinv differs: ${rel2}`);
});

test("auroc = sklearn roc_auc_score, including heavy ties; metric falls back to accuracy with one class", () => {
  const rng = new Rng(7);
  const cases: { scores: number[]; labels: number[] }[] = [];
  for (const [n, levels] of [[50, 3], [400, 5], [1000, 0], [7, 1], [200, 2]]) {
    const scores = Array.from({ length: n }, () => (levels ? rng.int(0, levels - 1) : rng.normal()));
    const labels = Array.from({ length: n }, (_, i) => (i < 2 ? i : rng.random() < 0.4 + 0.05 * scores[i] ? 1 : 0));
    cases.push({ scores, labels });
  }
  const sk = ref("auroc", { scores: cases.map((c) => c.scores), labels: cases.map((c) => c.labels) });
  let worst = 0;
  cases.forEach((c, k) => {
    const ours = auroc(c.scores, Uint8Array.from(c.labels));
    worst = Math.max(worst, Math.abs(ours - sk.auroc[k]));
  });
  console.log(`auroc vs sklearn on ${cases.length} cases (ties: 3, 5, none, all-equal, 2 levels): max |Δ| ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-14, "failed: worst < 1e-14");
  assert.equal(auroc([1, 1, 1, 1], Uint8Array.of(0, 1, 0, 1)), 0.5);
  assert.equal(metric([2, -1, 3], Uint8Array.of(1, 1, 1)), 2 / 3);
  assert.equal(accuracy([2, -1, 0], Uint8Array.of(1, 0, 1)), 2 / 3);
  assert.throws(() => auroc([1, 2], Uint8Array.of(1, 1)), /both classes/);
  assert.throws(() => auroc([1, NaN], Uint8Array.of(0, 1)), /score 1 is NaN/);
});

test("eigh = numpy.linalg.eigh (values; vectors up to sign), unblocked and blocked", async () => {
  const rng = new Rng(11);
  const n = 150;
  const x = Array.from({ length: 2 * n * n }, () => rng.normal());
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) {
    let s = 0;
    for (let k = 0; k < 2 * n; k++) s += x[k * n + i] * x[k * n + j] * (1 + (k % 7));
    a[i * n + j] = a[j * n + i] = s / n;
  }
  a[0] += 1e3; // a spread-out spectrum
  const np_ = ref("eigh", { a: Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * n, (i + 1) * n))) });
  for (const [label, e] of [["unblocked", eigh(a, n)], ["blocked (16)", await eighAsync(a, n, 16)]] as const) {
    const dv = maxAbsDiff(e.values, np_.values) / maxAbs(np_.values);
    const V = e.vectors();
    let dvec = 0;
    for (let k = 0; k < n; k++) {
      const ref_ = np_.vectors[k] as number[];
      const sgn = Math.sign(ref_.reduce((s, v, j) => s + v * V[k * n + j], 0));
      for (let j = 0; j < n; j++) dvec = Math.max(dvec, Math.abs(sgn * V[k * n + j] - ref_[j]));
    }
    console.log(`eigh ${label} vs numpy (n=${n}): max rel |Δλ| ${dv.toExponential(2)}, max |Δv| ${dvec.toExponential(2)}`);
    assert.ok(dv < 1e-13 && dvec < 1e-9, "failed: dv < 1e-13 && dvec < 1e-9");
  }
});

test("optimal linear shrinkage and the whole LEACE eraser = numpy transcriptions of concept-erasure v0.2.4", async () => {
  const rng = new Rng(13);
  const n = 60, d = 9, k = 2;
  const x: number[][] = [], z: number[] = [];
  for (let i = 0; i < n; i++) {
    const zi = rng.int(0, 2); // three classes, one-hot on two columns
    const row = Array.from({ length: d }, (_, j) => rng.normal() * (1 + j) + (zi === 1 ? 0.8 : zi === 2 ? -0.5 : 0) * (j % 3));
    x.push(row);
    z.push(zi === 1 ? 1 : 0, zi === 2 ? 1 : 0);
  }
  const S = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) S[i * d + j] = x.reduce((s, r) => s + r[i] * r[j], 0) / n;
  const sh = optimalLinearShrinkage(S, d, n);
  const rs = ref("shrinkage", { S: Array.from({ length: d }, (_, i) => Array.from(S.subarray(i * d, (i + 1) * d))), n });
  const dS = maxAbsDiff(sh.sigma, rs.sigma.flat()) / maxAbs(rs.sigma.flat());
  console.log(`shrinkage vs numpy: α ${sh.alpha.toFixed(6)} (Δ ${Math.abs(sh.alpha - rs.alpha).toExponential(2)}), β Δ ${Math.abs(sh.beta - rs.beta).toExponential(2)}, max rel |ΔΣ| ${dS.toExponential(2)}`);
  assert.ok(Math.abs(sh.alpha - rs.alpha) < 1e-12 && Math.abs(sh.beta - rs.beta) < 1e-12 && dS < 1e-12, "failed: Math.abs(sh.alpha - rs.alpha) < 1e-12 && Math.abs(sh.beta - rs.beta) < 1e-12 && dS < 1e-12");

  const X: Matrix = { data: Float32Array.from(x.flat()), rows: n, cols: d };
  const x32 = Array.from({ length: n }, (_, i) => Array.from(X.data.subarray(i * d, (i + 1) * d)));
  const fitter = await LeaceFitter.fit(X, Float64Array.from(z));
  const er = await fitter.eraser();
  const rl = ref("leace", { x: x32, z });
  const dP = maxAbsDiff(er.P(), rl.P.flat());
  const dE = maxAbsDiff(er.apply(X), rl.erased.flat());
  const dSv = maxAbsDiff(er.info.singularValues, rl.s);
  console.log(`LEACE vs numpy transcription (n=${n}, d=${d}, k=${k}): max |ΔP| ${dP.toExponential(2)}, max |Δ erased x| ${dE.toExponential(2)}, max |Δ singular values| ${dSv.toExponential(2)}, rank ${er.rank}`);
  assert.ok(dP < 1e-10 && dE < 1e-10 && dSv < 1e-12, "failed: dP < 1e-10 && dE < 1e-10 && dSv < 1e-12");
});

test("top principal direction = numpy SVD of the centred rows; random-baseline quantiles = numpy.quantile", async () => {
  const g = plantedGaussian({ n: 120, d: 15, seed: 17, scales: "aniso" });
  const a = toFloat64(g.x);
  const ours = await topPrincipalDirection(a, g.x.rows, g.x.cols);
  const r = ref("pca", { a: rows(g.x) });
  const sgn = Math.sign(r.direction.reduce((s: number, v: number, j: number) => s + v * ours.direction[j], 0));
  const dd = maxAbsDiff(ours.direction, r.direction.map((v: number) => sgn * v));
  const dv = Math.abs(ours.variance - (r.s[0] * r.s[0]) / (g.x.rows - 1));
  console.log(`top PC vs numpy SVD: max |Δv| ${dd.toExponential(2)}, |Δ variance| ${dv.toExponential(2)}`);
  assert.ok(dd < 1e-10 && dv < 1e-10, "failed: dd < 1e-10 && dv < 1e-10");

  const rng = new Rng(19);
  const vals = Array.from({ length: 1000 }, () => rng.random());
  const qs = [2 ** -16, 2 ** -5, 0.25, 0.5, 0.75, 1 - 2 ** -16];
  const sorted = Float64Array.from(vals).sort();
  const rq = ref("quantile", { a: vals, q: qs });
  const dq = maxAbsDiff(qs.map((q) => quantileSorted(sorted, q)), rq.q);
  console.log(`linear-interpolation quantiles vs numpy.quantile: max |Δ| ${dq.toExponential(2)}`);
  assert.ok(dq < 1e-15, "failed: dq < 1e-15");
});
