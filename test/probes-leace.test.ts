/**
 * LEACE against its defining properties: after erasure the features have zero cross-covariance with the
 * concept; among affine erasers with that guarantee it moves the data least (mean squared displacement);
 * streaming the statistics in chunks equals fitting on everything at once; the trace constraint holds.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { LeaceFitter, LeaceEraser, constrainTrace } from "../src/probes/leace.ts";
import { matMul, transpose } from "../src/linalg/index.ts";
import type { Matrix } from "../src/probes/matrix.ts";
import { Rng } from "../src/util/rng.ts";

/** Data whose features depend linearly on k concept columns; z given row-major (n×k). */
function conceptData(n: number, d: number, kind: "binary" | "onehot3" | "two-binary", seed: number): { x: Matrix; z: Float64Array; k: number } {
  const rng = new Rng(seed, "leace-test");
  const k = kind === "binary" ? 1 : kind === "onehot3" ? 3 : 2;
  const dirs = Array.from({ length: 3 }, () => Array.from({ length: d }, () => rng.normal()));
  const scale = Array.from({ length: d }, (_, j) => 0.5 + (j % 5));
  const mix = Array.from({ length: d * d }, () => rng.normal() * 0.3);
  const x = new Float32Array(n * d);
  const z = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const c: number[] = [];
    if (kind === "binary") c.push(rng.random() < 0.4 ? 1 : 0);
    else if (kind === "onehot3") {
      const t = rng.int(0, 2);
      c.push(+(t === 0), +(t === 1), +(t === 2));
    } else c.push(rng.random() < 0.5 ? 1 : 0, rng.random() < 0.3 ? 1 : 0);
    z.set(c, i * k);
    const e = Array.from({ length: d }, (_, j) => rng.normal() * scale[j]);
    for (let j = 0; j < d; j++) {
      let v = 0;
      for (let q = 0; q < d; q++) v += mix[j * d + q] * e[q];
      v += e[j];
      for (let a = 0; a < k; a++) v += c[a] * dirs[a][j];
      x[i * d + j] = v;
    }
  }
  return { x: { data: x, rows: n, cols: d }, z, k };
}

/** Sample cross-covariance (d×k) of rows a (n×d, float64) with z. */
function crossCov(a: ArrayLike<number>, z: Float64Array, n: number, d: number, k: number): Float64Array {
  const ma = new Float64Array(d), mz = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) ma[j] += a[i * d + j] / n;
    for (let b = 0; b < k; b++) mz[b] += z[i * k + b] / n;
  }
  const c = new Float64Array(d * k);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) for (let b = 0; b < k; b++) c[j * k + b] += ((a[i * d + j] - ma[j]) * (z[i * k + b] - mz[b])) / (n - 1);
  return c;
}
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** mean ‖(I − P)(x − μ)‖² for a d×d matrix A = I − P */
function displacement(x: Matrix, mu: Float64Array, A: Float64Array): number {
  const d = x.cols;
  let s = 0;
  for (let i = 0; i < x.rows; i++) {
    for (let j = 0; j < d; j++) {
      let t = 0;
      for (let q = 0; q < d; q++) t += A[j * d + q] * (x.data[i * d + q] - mu[q]);
      s += t * t;
    }
  }
  return s / x.rows;
}

test("after LEACE the features have zero cross-covariance with the concept (binary, one-hot, two concepts)", async () => {
  for (const kind of ["binary", "onehot3", "two-binary"] as const) {
    const { x, z, k } = conceptData(600, 16, kind, 1);
    const er = await (await LeaceFitter.fit(x, z)).eraser();
    const before = maxAbs(crossCov(x.data, z, x.rows, x.cols, k));
    const after = maxAbs(crossCov(er.apply(x), z, x.rows, x.cols, k));
    console.log(`LEACE ${kind}: max |Cov(x, z)| ${before.toExponential(2)} → ${after.toExponential(2)} (rank ${er.rank}, singular values ${er.info.singularValues.map((s) => s.toFixed(3)).join(", ")})`);
    assert.ok(before > 0.1 && after < 1e-12 * before, `${kind}: cross-covariance left: ${after}`);
  }
});

test("LEACE moves the data least among erasers that zero the cross-covariance", async () => {
  for (const kind of ["binary", "two-binary"] as const) {
    const { x, z, k } = conceptData(500, 12, kind, 2);
    const d = x.cols, n = x.rows;
    // without shrinkage Σ is the sample covariance, for which LEACE is exactly optimal
    const fitter = await LeaceFitter.fit(x, z, { shrinkage: false });
    const er = await fitter.eraser();
    const mu = fitter.meanX;
    const I = (m: Float64Array) => m.map((v, i) => (i % (d + 1) === 0 ? 1 : 0) - v);
    const leace = displacement(x, mu, I(er.P()));
    const sxz = fitter.sigmaXZ; // d×k
    // orthogonal projection onto col(Σ_xz)ᗮ
    const gram = matMul(transpose(sxz, d, k), sxz, k, d, k);
    const inv = invertSmall(gram, k);
    const orthA = matMul(matMul(sxz, inv, d, k, k), transpose(sxz, d, k), d, k, d);
    const orth = displacement(x, mu, orthA);
    // random oblique erasers P_R = I − Σ_xz (RᵀΣ_xz)⁻¹ Rᵀ (each zeroes the cross-covariance)
    const rng = new Rng(5);
    let bestRandom = Infinity;
    for (let t = 0; t < 100; t++) {
      const R = Float64Array.from({ length: d * k }, () => rng.normal());
      const M = invertSmall(matMul(transpose(R, d, k), sxz, k, d, k), k);
      const A = matMul(matMul(sxz, M, d, k, k), transpose(R, d, k), d, k, d);
      if (t === 0) {
        const erased = new Float64Array(n * d);
        for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) {
          let s = 0;
          for (let q = 0; q < d; q++) s += A[j * d + q] * (x.data[i * d + q] - mu[q]);
          erased[i * d + j] = x.data[i * d + j] - s;
        }
        assert.ok(maxAbs(crossCov(erased, z, n, d, k)) < 1e-10, "the random alternative must be a valid eraser");
      }
      bestRandom = Math.min(bestRandom, displacement(x, mu, A));
    }
    const shrunk = await (await LeaceFitter.fit(x, z)).eraser();
    const withShrinkage = displacement(x, mu, I(shrunk.P()));
    console.log(`LEACE ${kind}: mean ‖Δx‖² ${leace.toFixed(5)}; orthogonal projection ${orth.toFixed(5)}; best of 100 random valid erasers ${bestRandom.toFixed(5)}; LEACE with shrinkage ${withShrinkage.toFixed(5)}`);
    assert.ok(leace < orth && leace < bestRandom && leace <= withShrinkage + 1e-12, "failed: leace < orth && leace < bestRandom && leace <= withShrinkage + 1e-12");
  }
});

test("LeaceFitter: streaming updates in chunks equal one update on everything; the eraser round-trips through JSON", async () => {
  const { x, z, k } = conceptData(5000, 6, "onehot3", 3); // > 4096 rows also crosses the internal chunking
  const d = x.cols;
  const all = await LeaceFitter.fit(x, z);
  const streamed = new LeaceFitter(d, k);
  let r0 = 0;
  for (const size of [1, 7, 100, 2500, 2392]) {
    const part: Matrix = { data: x.data.subarray(r0 * d, (r0 + size) * d), rows: size, cols: d };
    await streamed.update(part, z.subarray(r0 * k, (r0 + size) * k));
    r0 += size;
  }
  assert.equal(r0, x.rows);
  const rel = (a: ArrayLike<number>, b: ArrayLike<number>) => maxAbs(Array.from(a, (v, i) => v - b[i])) / maxAbs(b);
  const dMean = rel(streamed.meanX, all.meanX), dXX = rel(streamed.sigmaXX, all.sigmaXX), dXZ = rel(streamed.sigmaXZ, all.sigmaXZ);
  const e1 = await all.eraser(), e2 = await streamed.eraser();
  const dP = maxAbs(Array.from(e1.P(), (v, i) => v - e2.P()[i]));
  const dOut = rel(e2.apply(x), e1.apply(x));
  console.log(`LEACE streamed vs all-at-once: rel Δμ ${dMean.toExponential(2)}, rel ΔΣxx ${dXX.toExponential(2)}, rel ΔΣxz ${dXZ.toExponential(2)}, max |ΔP| ${dP.toExponential(2)}, rel Δ erased ${dOut.toExponential(2)}`);
  assert.ok(dMean < 1e-12 && dXX < 1e-12 && dXZ < 1e-12 && dP < 1e-12 && dOut < 1e-12, "failed: dMean < 1e-12 && dXX < 1e-12 && dXZ < 1e-12 && dP < 1e-12 && dOut < 1e-12");
  const back = LeaceEraser.fromJSON(JSON.parse(JSON.stringify(e1.toJSON())));
  assert.deepEqual(back.apply(x), e1.apply(x));
  await assert.rejects(() => new LeaceFitter(3, 1).eraser(), /at least two rows/);
});

test("trace constraint: LEACE itself lowers tr Σ; an oblique P that raises it is mixed toward Q = I − UUᵀ until tr(PΣPᵀ) = tr Σ", async () => {
  const { x, z } = conceptData(400, 8, "binary", 4);
  const d = x.cols;
  const fitter = await LeaceFitter.fit(x, z);
  const er = await fitter.eraser();
  const S = fitter.sigmaXX;
  const dense = (P: Float64Array) => matMul(matMul(P, S, d, d, d), transpose(P, d, d), d, d, d).filter((_, i) => i % (d + 1) === 0).reduce((a, b) => a + b, 0);
  const trS = S.filter((_, i) => i % (d + 1) === 0).reduce((a, b) => a + b, 0);
  const trLeace = dense(er.P());
  assert.ok(!er.info.traceConstrained && trLeace < trS, "failed: !er.info.traceConstrained && trLeace < trS");

  // a hand-made oblique projection P = I − a uᵀ with aᵀu = 1 that raises the trace
  const rng = new Rng(21);
  const u = Float64Array.from({ length: d }, () => rng.normal());
  const nu = Math.hypot(...u);
  u.forEach((v, i) => (u[i] = v / nu));
  const a = Float64Array.from(u, (v) => v + 3 * rng.normal());
  const au = a.reduce((s_, v, i) => s_ + v * u[i], 0);
  a.forEach((v, i) => (a[i] = v / au));
  const P = Float64Array.from({ length: d * d }, (_, i) => +(i % (d + 1) === 0) - a[Math.floor(i / d)] * u[i % d]);
  const Q = Float64Array.from({ length: d * d }, (_, i) => +(i % (d + 1) === 0) - u[Math.floor(i / d)] * u[i % d]);
  const c = constrainTrace(S, d, a, u, u, 1);
  const Pmix = Float64Array.from({ length: d * d }, (_, i) => +(i % (d + 1) === 0) - matMul(c.left, c.right, d, c.rank, d)[i]);
  const expected = Float64Array.from(P, (v, i) => c.alpha * v + (1 - c.alpha) * Q[i]);
  const dMix = maxAbs(Array.from(Pmix, (v, i) => v - expected[i]));
  console.log(`trace constraint: LEACE tr ${trS.toFixed(4)} → ${trLeace.toFixed(4)} (not triggered); oblique P tr ${dense(P).toFixed(4)} > ${trS.toFixed(4)} → α ${c.alpha.toFixed(4)}, tr ${dense(Pmix).toFixed(6)}; max |P_mix − (αP + (1−α)Q)| ${dMix.toExponential(2)}`);
  assert.ok(c.triggered && dense(P) > trS && c.alpha > 0 && c.alpha < 1, "failed: c.triggered && dense(P) > trS && c.alpha > 0 && c.alpha < 1");
  assert.ok(Math.abs(dense(Pmix) - trS) < 1e-9 * trS && Math.abs(c.traceAfter - trS) < 1e-9 * trS && dMix < 1e-12, "failed: Math.abs(dense(Pmix) - trS) < 1e-9 * trS && Math.abs(c.traceAfter - trS) < 1e-9 * trS && dMix < 1e-12");
});

function invertSmall(a: Float64Array, k: number): Float64Array {
  // Gauss–Jordan for the k×k (k ≤ 3) systems above
  const m = Array.from({ length: k }, (_, i) => [...Array.from(a.subarray(i * k, (i + 1) * k)), ...Array.from({ length: k }, (_, j) => +(i === j))]);
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    const piv = m[c][c];
    for (let j = 0; j < 2 * k; j++) m[c][j] /= piv;
    for (let r = 0; r < k; r++) if (r !== c) {
      const f = m[r][c];
      for (let j = 0; j < 2 * k; j++) m[r][j] -= f * m[c][j];
    }
  }
  return Float64Array.from(m.flatMap((row) => row.slice(k)));
}
