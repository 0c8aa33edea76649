/**
 * Every reporter recovers a planted truth direction on synthetic Gaussian data (held-out AUROC near 1);
 * the pair reporters (lr-on-pair, mean-diff-on-pair, ccs, crc) do so on pair data whose truth lives in the
 * difference of the two states; saved reporters reload with identical predictions; the random baseline's
 * shape; bad inputs give clear errors.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { FITTED_REPORTER_NAMES, fitReporter, reporterFromJSON, usesPairs, auroc, evalRandomBaseline, type ReporterName } from "../src/probes/index.ts";
import { plantedGaussian, plantedPairs } from "../src/probes/synthetic.ts";
import type { Matrix } from "../src/probes/matrix.ts";

const n = 1200, d = 24;
/** train and held-out halves of one draw (so they share the truth direction) */
function data(name: ReporterName, seed: number) {
  const all = usesPairs(name) ? plantedPairs({ n: 2 * n, d, seed, separation: 4 }) : plantedGaussian({ n: 2 * n, d, seed, separation: 4 });
  const c = all.x.cols;
  const half = (k: number) => ({ x: { data: all.x.data.subarray(k * n * c, (k + 1) * n * c), rows: n, cols: c }, y: all.y.subarray(k * n, (k + 1) * n) });
  return { train: half(0), test: half(1), truth: all.truth };
}

/** |cos| between a reporter's direction and the truth; for pair reporters the direction on the difference */
function cosine(name: ReporterName, w: Float64Array, truth: Float64Array): number {
  const dir = usesPairs(name) ? Float64Array.from(truth, (_, j) => w[d + j] - w[j]) : w;
  const dot = dir.reduce((s, v, j) => s + v * truth[j], 0);
  return dot / Math.hypot(...dir);
}

test("each reporter recovers the planted direction: held-out AUROC ≈ 1; saved reporters reload exactly", async () => {
  for (const name of FITTED_REPORTER_NAMES) {
    const { train, test: held, truth } = data(name, 1);
    const tr = await fitReporter(name, train.x, train.y);
    const a = auroc(tr.predict(held.x), held.y);
    const cos = cosine(name, tr.weight, truth);
    const back = reporterFromJSON(JSON.parse(JSON.stringify(tr)));
    assert.deepEqual(back.predict(train.x), tr.predict(train.x));
    console.log(`${name.padEnd(17)} held-out AUROC ${a.toFixed(4)}, cos(direction, truth) ${cos.toFixed(4)}`);
    assert.ok(a > 0.98, `${name}: held-out AUROC ${a}`);
    assert.ok(cos > 0.8, `${name}: direction far from the truth (cos ${cos})`);
  }
});

test("the random baseline: 31 ascending quantiles of 2^-16 … 1 − 2^-16, mean between them, reproducible by seed", async () => {
  const all = plantedGaussian({ n: 700, d: 8, seed: 2, separation: 3 });
  const train = { x: { data: all.x.data.subarray(0, 400 * 8), rows: 400, cols: 8 }, y: all.y.subarray(0, 400) };
  const test_ = { x: { data: all.x.data.subarray(400 * 8), rows: 300, cols: 8 }, y: all.y.subarray(400) };
  const r = await evalRandomBaseline(train.x, train.y, test_.x, test_.y, { numSamples: 200, seed: 1 });
  assert.equal(r.quantiles.length, 31);
  assert.equal(r.quantiles[0].q, 2 ** -16);
  assert.equal(r.quantiles[15].q, 0.5);
  assert.equal(r.quantiles[30].q, 1 - 2 ** -16);
  for (let i = 1; i < 31; i++) assert.ok(r.quantiles[i].auroc >= r.quantiles[i - 1].auroc, "quantiles must ascend");
  assert.ok(r.mean > r.quantiles[0].auroc && r.mean < r.quantiles[30].auroc, "mean inside the range");
  // sign fixed on train: most directions beat chance on test
  assert.ok(r.quantiles[15].auroc > 0.5, `median ${r.quantiles[15].auroc}`);
  assert.deepEqual(await evalRandomBaseline(train.x, train.y, test_.x, test_.y, { numSamples: 200, seed: 1 }), r);
  console.log(`random baseline (200 directions): mean ${r.mean.toFixed(4)}, median ${r.quantiles[15].auroc.toFixed(4)}, range ${r.quantiles[0].auroc.toFixed(4)} … ${r.quantiles[30].auroc.toFixed(4)}`);
});

test("bad inputs: NaN/Inf rows, label length, one class, odd pair width, wrong predict width, random", async () => {
  const g = plantedGaussian({ n: 20, d: 4, seed: 4 });
  const nan: Matrix = { ...g.x, data: g.x.data.slice() };
  nan.data[7 * 4 + 2] = NaN;
  await assert.rejects(() => fitReporter("lr", nan, g.y), /lr: x: row 7 column 2 is NaN/);
  const inf: Matrix = { ...g.x, data: g.x.data.slice() };
  inf.data[3 * 4] = -Infinity;
  await assert.rejects(() => fitReporter("lda", inf, g.y), /lda: x: row 3 column 0 is -Infinity/);
  await assert.rejects(() => fitReporter("mean-diff", g.x, g.y.subarray(0, 19)), /labels has 19 entries but x has 20 rows/);
  await assert.rejects(() => fitReporter("lr", g.x, new Uint8Array(20).fill(1)), /lr needs both classes in its training labels, but all 20 are 1/);
  await assert.rejects(() => fitReporter("lda", g.x, new Uint8Array(20)), /lda needs both classes.*all 20 are 0/);
  await assert.rejects(() => fitReporter("mean-diff", g.x, Uint8Array.from(g.y, (v) => v * 2)), /labels must be 0 or 1/);
  const odd: Matrix = { data: new Float32Array(20 * 5), rows: 20, cols: 5 };
  await assert.rejects(() => fitReporter("ccs", odd, g.y), /ccs takes contrast pairs .* got 5 columns/);
  await assert.rejects(() => fitReporter("random", g.x, g.y), /random is an evaluation/);
  await assert.rejects(() => fitReporter("lr", { data: new Float32Array(7), rows: 2, cols: 4 }, Uint8Array.of(0, 1)), /data has 7 numbers but shape \(2, 4\) needs 8/);
  const r = await fitReporter("mean-diff", g.x, g.y);
  assert.throws(() => r.predict({ data: new Float32Array(6), rows: 2, cols: 3 }), /x has 3 columns, the reporter reads 4/);
  const p = plantedPairs({ n: 30, d: 3, seed: 5 });
  // ccs and crc use labels only for the Platt scale: one class is allowed
  for (const name of ["ccs", "crc"] as const) {
    const rep = await fitReporter(name, p.x, new Uint8Array(30).fill(1));
    assert.equal(rep.weight.length, 6);
  }
  assert.throws(() => reporterFromJSON({ format: "other" }), /not a saved quirky reporter/);
  await assert.rejects(() => evalRandomBaseline(g.x, g.y, { data: new Float32Array(15), rows: 5, cols: 3 }, new Uint8Array(5)), /trainX has 4 columns but testX has 3/);
});
