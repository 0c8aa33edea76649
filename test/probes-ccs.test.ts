/**
 * CCS loss and objective gradients against central finite differences (float64); the lr objective's too;
 * mean-diff and CRC against closed forms on constructed data; the batched L-BFGS equals one-at-a-time runs.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ccsLoss, ccsObjectiveBatch } from "../src/probes/ccs-loss.ts";
import { lrObjective } from "../src/probes/lr.ts";
import { fitMeanDiff } from "../src/probes/mean-diff.ts";
import { fitCrc } from "../src/probes/crc.ts";
import { minimize, minimizeBatch, minimizeSync } from "../src/linalg/lbfgs.ts";
import { plattAffine } from "../src/probes/platt.ts";
import type { Matrix } from "../src/probes/matrix.ts";
import { transpose } from "../src/linalg/index.ts";
import { Rng } from "../src/util/rng.ts";

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** max over coordinates of |analytic − central difference| / max(1e−8, |analytic|) */
async function fdCheck(f: (p: Float64Array) => Promise<number> | number, p: Float64Array, g: Float64Array, h = 1e-6): Promise<{ abs: number; rel: number }> {
  let worstAbs = 0, worstRel = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p.slice(), b = p.slice();
    a[i] += h;
    b[i] -= h;
    const fd = ((await f(a)) - (await f(b))) / (2 * h);
    const e = Math.abs(fd - g[i]);
    worstAbs = Math.max(worstAbs, e);
    worstRel = Math.max(worstRel, e / Math.max(1e-8, Math.abs(g[i])));
  }
  return { abs: worstAbs, rel: worstRel };
}

test("CCS loss: closed-form values and gradients = finite differences", async () => {
  // closed form: p0 = p1 = ½ → consistency 0, confidence ¼
  assert.equal(ccsLoss([0, 0], [0, 0]), 0.25);
  // p0 = σ(2), p1 = σ(−2) = 1 − p0 → consistency 0, confidence σ(−2)²
  const s = 1 / (1 + Math.exp(2));
  assert.ok(Math.abs(ccsLoss([2], [-2]) - s * s) < 1e-16, "failed: Math.abs(ccsLoss([2], [-2]) - s * s) < 1e-16");
  const rng = new Rng(1);
  const n = 40;
  const z = Float64Array.from({ length: 2 * n }, () => 3 * rng.normal());
  const g0 = new Float64Array(n), g1 = new Float64Array(n);
  ccsLoss(z.subarray(0, n), z.subarray(n), g0, g1);
  const g = new Float64Array([...g0, ...g1]);
  const r = await fdCheck((p) => ccsLoss(p.subarray(0, n), p.subarray(n)), z, g);
  console.log(`ccs loss ∂/∂logits vs central differences (n=${n}): max abs err ${r.abs.toExponential(2)}, max rel err ${r.rel.toExponential(2)}`);
  assert.ok(r.abs < 1e-9 && r.rel < 1e-5, "failed: r.abs < 1e-9 && r.rel < 1e-5");
});

test("CCS objective (probe on normalised pairs + weight decay, batched) and lr objective: gradients = finite differences", async () => {
  const rng = new Rng(2);
  const n = 30, d = 7;
  const xn = Float64Array.from({ length: 2 * n * d }, () => rng.normal());
  const thetas = [0, 1, 2].map(() => Float64Array.from({ length: d + 1 }, () => rng.normal() * 0.7));
  const evs = await ccsObjectiveBatch(xn, n, d, 0.01, thetas);
  // the transposed-copy fast path computes the same
  const evsT = await ccsObjectiveBatch(xn, n, d, 0.01, thetas, true, transpose(xn, 2 * n, d));
  evsT.forEach((e, t) => assert.ok(Math.abs(e.f - evs[t].f) < 1e-15 && maxAbs(e.g.map((v, i) => v - evs[t].g[i])) < 1e-14, "xnᵀ path differs"));
  let worst = { abs: 0, rel: 0 };
  for (let t = 0; t < thetas.length; t++) {
    const r = await fdCheck(async (p) => (await ccsObjectiveBatch(xn, n, d, 0.01, [p]))[0].f, thetas[t], evs[t].g);
    worst = { abs: Math.max(worst.abs, r.abs), rel: Math.max(worst.rel, r.rel) };
    // the batch computes each θ as it would alone
    const alone = (await ccsObjectiveBatch(xn, n, d, 0.01, [thetas[t]]))[0];
    assert.ok(Math.abs(alone.f - evs[t].f) < 1e-15 && maxAbs(alone.g.map((v, i) => v - evs[t].g[i])) < 1e-15, "failed: Math.abs(alone.f - evs[t].f) < 1e-15 && maxAbs(alone.g.map((v, i) => v - evs[t].g[i])) < 1e-15");
  }
  // objective = ccs loss of the logits + 0.01/2 ‖θ‖²
  const th = thetas[0];
  const z0 = Array.from({ length: n }, (_, i) => th[d] + xn.subarray(i * d, i * d + d).reduce((s, v, j) => s + v * th[j], 0));
  const z1 = Array.from({ length: n }, (_, i) => th[d] + xn.subarray((n + i) * d, (n + i) * d + d).reduce((s, v, j) => s + v * th[j], 0));
  const expected = ccsLoss(z0, z1) + 0.005 * th.reduce((s, v) => s + v * v, 0);
  assert.ok(Math.abs(evs[0].f - expected) < 1e-14 && Math.abs(evs[0].aux! - ccsLoss(z0, z1)) < 1e-15, "failed: Math.abs(evs[0].f - expected) < 1e-14 && Math.abs(evs[0].aux! - ccsLoss(z0, z1)) < 1e-15");
  console.log(`ccs objective ∇θ vs central differences (n=${n}, d=${d}, 3 θ batched): max abs err ${worst.abs.toExponential(2)}, max rel err ${worst.rel.toExponential(2)}`);
  assert.ok(worst.abs < 1e-9 && worst.rel < 1e-5, "failed: worst.abs < 1e-9 && worst.rel < 1e-5");

  const x = Float64Array.from({ length: n * d }, () => rng.normal());
  const y = Uint8Array.from({ length: n }, () => (rng.random() < 0.5 ? 1 : 0));
  const th2 = Float64Array.from({ length: d + 1 }, () => rng.normal());
  const ev = await lrObjective(x, n, d, y, 1e-3, th2);
  const evT = await lrObjective(x, n, d, y, 1e-3, th2, transpose(x, n, d));
  assert.ok(evT.f === ev.f && maxAbs(evT.g.map((v, i) => v - ev.g[i])) < 1e-15, "xᵀ path differs");
  const r2 = await fdCheck(async (p) => (await lrObjective(x, n, d, y, 1e-3, p)).f, th2, ev.g);
  console.log(`lr objective ∇θ vs central differences: max abs err ${r2.abs.toExponential(2)}, max rel err ${r2.rel.toExponential(2)}`);
  assert.ok(r2.abs < 1e-9 && r2.rel < 1e-5, "failed: r2.abs < 1e-9 && r2.rel < 1e-5");
});

test("L-BFGS: Rosenbrock converges; lock-step batches give exactly the one-at-a-time results", async () => {
  const rosen = (p: Float64Array) => {
    const [a, b] = p;
    return { f: (1 - a) ** 2 + 100 * (b - a * a) ** 2, g: Float64Array.of(-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)) };
  };
  const r = minimizeSync(rosen, Float64Array.of(-1.2, 1), { maxIter: 500, toleranceGrad: 1e-12, toleranceChange: 1e-15 });
  console.log(`L-BFGS on Rosenbrock from (−1.2, 1): (${r.x[0]}, ${r.x[1]}) in ${r.iterations} iterations / ${r.evaluations} evaluations (${r.reason})`);
  assert.ok(Math.abs(r.x[0] - 1) < 1e-6 && Math.abs(r.x[1] - 1) < 1e-6, "failed: Math.abs(r.x[0] - 1) < 1e-6 && Math.abs(r.x[1] - 1) < 1e-6");
  const starts = [Float64Array.of(-1.2, 1), Float64Array.of(2, 2), Float64Array.of(0, 0), Float64Array.of(-3, 5)];
  const opts = { maxIter: 300 };
  const batched = await minimizeBatch(async (pts) => pts.map(rosen), starts, opts);
  for (let i = 0; i < starts.length; i++) {
    const alone = await minimize(rosen, starts[i], opts);
    assert.deepEqual(Array.from(batched[i].x), Array.from(alone.x));
    assert.equal(batched[i].evaluations, alone.evaluations);
  }
});

test("mean-diff: the unit difference of the class means, sign flipped when its training AUROC is below ½", () => {
  // rows = class mean ± e_j: the means are exact
  const d = 5;
  const mu0 = [1, -2, 0.5, 3, 0], mu1 = [2, -2, -0.5, 3, 4];
  const rows: number[][] = [], y: number[] = [];
  for (const [c, mu] of [[0, mu0], [1, mu1]] as const) {
    for (let j = 0; j < d; j++) for (const s of [1, -1]) {
      rows.push(mu.map((m, q) => m + (q === j ? s * 0.25 : 0)));
      y.push(c);
    }
  }
  const x: Matrix = { data: Float32Array.from(rows.flat()), rows: rows.length, cols: d };
  const r = fitMeanDiff(x, Uint8Array.from(y));
  const diff = mu1.map((v, j) => v - mu0[j]);
  const nrm = Math.hypot(...diff);
  const err = maxAbs(Array.from(r.weight, (w, j) => w - diff[j] / nrm));
  console.log(`mean-diff vs closed form: max |Δw| ${err.toExponential(2)}`);
  assert.ok(err < 1e-7 && r.bias === 0 && r.info.sign === 1, "failed: err < 1e-7 && r.bias === 0 && r.info.sign === 1");

  // class 1 mostly BELOW class 0 along the mean difference, but one far outlier drags its mean above:
  // w·x ranks the classes the wrong way round, so resolve_sign flips it
  const xs = [0, 0.1, 0.2, 0.3, 0.4, -1, -0.9, -0.8, -0.7, 100];
  const ys = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1];
  const x1: Matrix = { data: Float32Array.from(xs), rows: xs.length, cols: 1 };
  const r1 = fitMeanDiff(x1, Uint8Array.from(ys));
  assert.equal(r1.info.sign, -1);
  assert.deepEqual(Array.from(r1.weight), [-1]);
});

test("crc: with no pair-index signal the eraser is the identity and the direction is the exact top PC of the differences", async () => {
  // δ_i = t_i u + r_i q, u = (0.6, 0.8, 0…), q = (−0.8, 0.6, 0…), t = ±5, r = ±2.5 in all four combinations
  // (every entry exact in float32): Cov(δ) = (25 u uᵀ + 6.25 q qᵀ)·n/(n−1), mean 0, top PC u
  const d = 6, reps = 10;
  const rng = new Rng(3);
  const u = [0.6, 0.8, 0, 0, 0, 0], q = [-0.8, 0.6, 0, 0, 0, 0];
  const rows: number[] = [], y: number[] = [];
  for (let k = 0; k < reps; k++) for (const t of [5, -5]) for (const r of [2.5, -2.5]) {
    const base = Array.from({ length: d }, () => rng.int(-8, 8) / 4);
    const delta = Array.from({ length: d }, (_, j) => t * u[j] + r * q[j]);
    rows.push(...base.map((b, j) => b - delta[j] / 2), ...base.map((b, j) => b + delta[j] / 2));
    y.push(t > 0 ? 1 : 0);
  }
  const x: Matrix = { data: Float32Array.from(rows), rows: y.length, cols: 2 * d };
  assert.deepEqual(Array.from(x.data), rows, "the constructed data are exact in float32");
  const rep = await fitCrc(x, Uint8Array.from(y));
  const info = rep.info as any;
  const dir = Float64Array.from(info.direction);
  const cos = Math.abs(dir.reduce((s, v, j) => s + v * u[j], 0));
  assert.equal(info.eraser.rank, 0, "no pair-index signal: nothing to erase");
  const n = 4 * reps;
  // the fitted 2d weight is a·[−w, w] with w the direction
  const a = info.platt.scale;
  const werr = maxAbs(Array.from(rep.weight, (v, j) => v - (j < d ? -a : a) * dir[j % d]));
  console.log(`crc vs closed form: |cos(direction, u)| = 1 − ${(1 - cos).toExponential(2)}, explained variance ${info.explainedVariance.toFixed(9)} (exact ${((25 * n) / (n - 1)).toFixed(9)}), Platt scale ${a.toFixed(3)}, weight err ${werr.toExponential(2)}`);
  assert.ok(1 - cos < 1e-14 && Math.abs(info.explainedVariance - (25 * n) / (n - 1)) < 1e-12 && werr < 1e-12, "failed: 1 - cos < 1e-14 && Math.abs(info.explainedVariance - (25 * n) / (n - 1)) < 1e-12 && werr < 1e-12");
  // the labels follow t, so the Platt-scaled direction separates them
  assert.ok(Array.from(rep.predict(x)).every((v, i) => (v > 0) === (y[i] === 1)), "failed: Array.from(rep.predict(x)).every((v, i) => (v > 0) === (y[i] === 1))");
});

test("Platt (affine) reaches the maximum-likelihood 1-d logistic regression (Newton's method) within the reference's tolerances", () => {
  const rng = new Rng(4);
  const raw = Float64Array.from({ length: 200 }, () => rng.normal());
  const target = Uint8Array.from(raw, (v) => (rng.random() < 1 / (1 + Math.exp(-(1.7 * v - 0.4))) ? 1 : 0));
  const p = plattAffine(raw, target);
  // independent optimum: Newton's method on (c, a)
  let c = 0, a = 0;
  const nll = (c_: number, a_: number) => raw.reduce((s, v, i) => s + Math.log1p(Math.exp(-(2 * target[i] - 1) * (a_ * v + c_))), 0) / raw.length;
  for (let it = 0; it < 50; it++) {
    let gc = 0, ga = 0, hcc = 0, hca = 0, haa = 0;
    raw.forEach((v, i) => {
      const pr = 1 / (1 + Math.exp(-(a * v + c)));
      const r = pr - target[i], w = pr * (1 - pr);
      gc += r;
      ga += r * v;
      hcc += w;
      hca += w * v;
      haa += w * v * v;
    });
    const det = hcc * haa - hca * hca;
    c -= (haa * gc - hca * ga) / det;
    a -= (hcc * ga - hca * gc) / det;
  }
  const df = p.loss - nll(c, a);
  console.log(`Platt vs Newton: scale ${p.scale.toFixed(5)} vs ${a.toFixed(5)}, offset ${p.offset.toFixed(5)} vs ${c.toFixed(5)}, loss excess ${df.toExponential(2)} (${p.result.iterations} iterations, stop: ${p.result.reason})`);
  assert.ok(df >= -1e-15 && df < 1e-7 && Math.abs(p.scale - a) < 1e-2 && Math.abs(p.offset - c) < 1e-2, "failed: df >= -1e-15 && df < 1e-7 && Math.abs(p.scale - a) < 1e-2 && Math.abs(p.offset - c) < 1e-2");
});
