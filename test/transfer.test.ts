/**
 * The transfer grid on synthetic activations with a planted truth direction (middle layers) and a planted
 * output direction (late layers, following the context's label): it must show what the paper shows.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { standardGrid } from "../src/analysis/grid.ts";
import { earliestInformativeLayer, pgr, pgrTable } from "../src/analysis/eil.ts";
import { anomalyFromRoot } from "../src/analysis/anomaly.ts";
import { pgrTables, summarizeRoot } from "../src/analysis/summary.ts";
import { readTransferMetrics, runTransfer, testDirOf, trainDirOf } from "../src/analysis/transfer.ts";
import { readLayer, readStatesMeta, writeStates } from "../src/extract/states.ts";
import { evalRandomBaseline } from "../src/probes/random-baseline.ts";
import { DEFAULTS } from "../src/defaults.ts";
import { Rng } from "../src/util/rng.ts";
import { tempDir } from "./helpers.ts";

const L = 4;
const D = 12;

/**
 * States for one distribution: layer 0 noise; layers 1–2 carry the truth (alice_label) along u; layer 3
 * carries the context's label (what the model outputs) along w. Hard examples have a weaker truth signal.
 */
function synth(dir: string, dist: string, split: string, n: number, seed: number, model = "synthetic") {
  const rng = new Rng(seed, `${dist}/${split}`);
  const u = Array.from({ length: D }, (_, i) => (i === 0 ? 1 : 0));
  const w = Array.from({ length: D }, (_, i) => (i === 1 ? 1 : 0));
  const chars = dist.startsWith("A") ? ["Alice"] : dist.startsWith("B") ? ["Bob"] : ["Alice", "Bob"];
  const hard = dist.endsWith("H");
  const meta = { model, adapter: null, dataset: "synthetic", distribution: dist, split, n, layers: L, d: D, ids: [] as string[], labels: [] as number[], alice_labels: [] as number[], bob_labels: [] as number[], characters: [] as ("Alice" | "Bob")[], difficulty: [] as number[], template_indices: [] as number[], choice_tokens: [] as [number, number][], settings: {} };
  const hiddens = new Float32Array(L * n * D);
  const pairs = new Float32Array(L * n * 2 * D);
  const lm = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const alice = rng.int(0, 1);
    const bob = rng.random() < 0.5 ? alice : 1 - alice; // half the examples disagree
    const character = chars[rng.int(0, chars.length - 1)] as "Alice" | "Bob";
    const label = character === "Alice" ? alice : bob;
    meta.ids.push(String(i));
    meta.labels.push(label);
    meta.alice_labels.push(alice);
    meta.bob_labels.push(bob);
    meta.characters.push(character);
    meta.difficulty.push(hard ? 1 : 0);
    meta.template_indices.push(0);
    meta.choice_tokens.push([0, 1]);
    lm[i] = 3 * (2 * label - 1) + rng.normal();
    for (let l = 0; l < L; l++) {
      const truth = l === 1 || l === 2 ? (hard ? 1.2 : 2) : 0;
      const out = l === 3 ? 3 : 0;
      for (let k = 0; k < D; k++) {
        const signal = truth * (2 * alice - 1) * u[k] + out * (2 * label - 1) * w[k];
        hiddens[(l * n + i) * D + k] = signal + rng.normal();
        const base = rng.normal();
        // contrast pair: the states after the false and true answers differ by the signal
        pairs[((l * n + i) * 2 + 0) * D + k] = base - signal / 2 + 0.3 * rng.normal();
        pairs[((l * n + i) * 2 + 1) * D + k] = base + signal / 2 + 0.3 * rng.normal();
      }
    }
  }
  writeStates(dir, meta, hiddens, pairs, lm);
}

function synthRoot(root: string, model = "synthetic") {
  for (const dist of ["A", "B", "AE", "AH", "BE", "BH", "all"]) {
    synth(trainDirOf(root, dist), dist, "validation", 300, 1, model);
    synth(testDirOf(root, dist), dist, "test", 200, 2, model);
  }
}

test("probes trained on Alice track Alice's labels on Bob's disagreements at the planted layers", async (t) => {
  const root = tempDir(t);
  synthRoot(root);
  for (const reporter of ["lr", "mean-diff", "lda", "lr-on-pair", "mean-diff-on-pair", "ccs", "crc"] as const) {
    await runTransfer(root, { reporter, train: "A", tests: ["A", "B", "BH"], labelCol: "label" });
    const ab = readTransferMetrics(root, "A", "B", reporter)!;
    const mid = ab.layers[1].alice.disagree!;
    const late = ab.layers[3].alice.disagree!;
    assert.equal(mid.kind, "auroc");
    assert.ok(mid.value > 0.9, `${reporter}: A→B layer 1 vs alice on disagreements ${mid.value}`);
    assert.ok(late.value < 0.1, `${reporter}: A→B layer 3 follows the output: ${late.value}`);
    assert.ok(ab.lm.alice.disagree!.value < 0.05, "the LM output follows Bob");
    assert.ok(ab.lm.bob.disagree!.value > 0.95);
  }
});

test("the standard grid runs for every reporter; EIL, summaries and PGR tables come out; reruns skip", async (t) => {
  const exp = tempDir(t);
  for (const model of ["m1", "m2"]) {
    const root = join(exp, model, "synthetic");
    synthRoot(root, model);
    for (const spec of standardGrid()) await runTransfer(root, spec, { randomSamples: 50 });
  }
  const root = join(exp, "m1", "synthetic");
  assert.ok(existsSync(join(testDirOf(root, "BH"), "AE_random_aucs_against_alice.json")));
  const random = JSON.parse(readFileSync(join(testDirOf(root, "BH"), "AE_random_aucs_against_alice.json"), "utf8"));
  assert.equal(random.layers.length, L);
  // per subset: the same directions (seed + layer, signs fixed on AE) scored on BH's agree / disagree rows only
  const bhMeta = readStatesMeta(testDirOf(root, "BH"));
  const aeY = Uint8Array.from(readStatesMeta(trainDirOf(root, "AE")).alice_labels);
  for (const subset of ["agree", "disagree"] as const) {
    const rows = bhMeta.alice_labels.flatMap((a, i) => ((a === bhMeta.bob_labels[i]) === (subset === "agree") ? [i] : []));
    assert.ok(rows.length > 20, `${subset}: BH has such rows`);
    for (let l = 0; l < L; l++) {
      const x = readLayer(testDirOf(root, "BH"), "hiddens", l);
      const sub = new Float32Array(rows.length * D);
      rows.forEach((r, i) => sub.set(x.data.subarray(r * D, (r + 1) * D), i * D));
      const want = await evalRandomBaseline(readLayer(trainDirOf(root, "AE"), "hiddens", l), aeY, { data: sub, rows: rows.length, cols: D }, Uint8Array.from(rows, (r) => bhMeta.alice_labels[r]), { numSamples: 50, seed: DEFAULTS.seed + l });
      assert.deepEqual(random.layers[l].subsets[subset], JSON.parse(JSON.stringify(want)), `${subset}, layer ${l}`);
    }
  }
  const summary = summarizeRoot(root);
  const aeBh = summary.find((s) => s.reporter === "lr" && s.train === "AE" && s.test === "BH")!;
  assert.equal(aeBh.eil, 1, "the earliest informative layer is the first planted one");
  assert.ok(aeBh.atEil!.alice.all > 0.9);
  const tables = pgrTables(exp);
  const lrAeBh = tables.find((r) => r.transfer === "AE→BH" && r.reporter === "lr")!;
  // floor B→BH (final layer follows Bob) is low, ceiling A→AH high, AE→BH at EIL high: PGR near 1
  assert.ok(lrAeBh.overall.floor < 0.75 && lrAeBh.overall.ceiling > 0.85, JSON.stringify(lrAeBh.overall));
  assert.ok(lrAeBh.overall.pgr > 0.8, JSON.stringify(lrAeBh.overall));
  assert.ok(tables.some((r) => r.transfer === "all→BH" && r.reporter === "ccs"));
  // anomaly detection on the probe outputs: Bob's disagreements (half of BH) stand out from Alice's examples,
  // his agreements do not, so the AUROC tends to 0.5·1 + 0.5·0.5 = 0.75
  const anomaly = anomalyFromRoot(root, "lr", ["mahalanobis", "isolation-forest"], { bootstrap: 200 });
  const maha = anomaly.results.find((r) => r.detector === "mahalanobis")!;
  assert.ok(maha.auroc > 0.65 && maha.lo <= maha.auroc && maha.auroc <= maha.hi, JSON.stringify(maha));
  assert.ok(existsSync(join(root, "anomaly_lr.json")));
  // rerun: nothing is recomputed (outputs exist); remove one output and only it comes back
  const f = join(testDirOf(root, "B"), "A_lda_metrics.json");
  const before = readFileSync(f, "utf8");
  rmSync(f);
  for (const spec of standardGrid(["lda"])) await runTransfer(root, spec);
  assert.equal(readFileSync(f, "utf8"), before);
});

test("EIL and PGR follow the reference's definitions", () => {
  assert.equal(earliestInformativeLayer([0.5, 0.6, 0.9, 0.91, 0.8]), 2); // 0.4 ≥ 0.95·0.41
  assert.equal(earliestInformativeLayer([0.4, 0.45, 0.3, 0.2]), 2); // max < 0.5: middle layer
  assert.ok(Math.abs(pgr(0.8, 0.6, 1.0) - 0.5) < 1e-12);
  // averages before the ratio: (mean(0.9, 0.7) − 0.5) / (1 − 0.5) = 0.6
  const t = pgrTable({ a: { transfer: [0.9, 0.7], floor: [0.5, 0.5], ceiling: [1, 1] } });
  assert.ok(Math.abs(t.overall.pgr - 0.6) < 1e-12);
});

test("bad inputs: mismatched layers or widths, NaN activations, an empty distribution — clear errors", async (t) => {
  const root = tempDir(t);
  synthRoot(root);
  // widths: overwrite B/test with a different d
  const rng = new Rng(5);
  const n = 10;
  const bad = (layers: number, d: number, nanAt?: number) => {
    const meta = { model: "synthetic", adapter: null, dataset: "synthetic", distribution: "B", split: "test", n, layers, d, ids: [], labels: Array(n).fill(0).map((_, i) => i % 2), alice_labels: Array(n).fill(0).map((_, i) => i % 2), bob_labels: Array(n).fill(1), characters: Array(n).fill("Bob"), difficulty: Array(n).fill(0), template_indices: [], choice_tokens: [], settings: {} };
    const h = Float32Array.from({ length: layers * n * d }, () => rng.normal());
    if (nanAt !== undefined) h[nanAt] = NaN;
    writeStates(testDirOf(root, "B"), meta as never, h, new Float32Array(layers * n * 2 * d), new Float32Array(n));
  };
  bad(L, D + 1);
  await assert.rejects(runTransfer(root, { reporter: "lr", train: "A", tests: ["B"], labelCol: "label" }), /hidden width 13, but the reporter was trained on width 12/);
  bad(L + 1, D);
  await assert.rejects(runTransfer(root, { reporter: "lr", train: "A", tests: ["B"], labelCol: "label" }), /5 layers, but the reporter was trained on 4/);
  bad(L, D, 2 * n * D + 3 * D + 1); // layer 2, row 3
  await assert.rejects(runTransfer(root, { reporter: "mean-diff", train: "A", tests: ["B"], labelCol: "label" }), /non-finite activation at layer 2, row 3/);
  rmSync(testDirOf(root, "BE"), { recursive: true });
  await assert.rejects(runTransfer(root, { reporter: "lr", train: "AE", tests: ["BE"], labelCol: "label" }), /no finished extraction here/);
});
