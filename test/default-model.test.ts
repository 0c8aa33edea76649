/**
 * The shipped default model (models/default) keeps the promises its README makes, on held-out test rows of the
 * demo's dataset: quirky output (Alice right, Bob wrong the way Bob is wrong) while a probe fitted on Alice's
 * prompts still reads the truth on Bob's disagreements, and Mahalanobis distance on the per-layer outputs of a probe
 * fitted on Alice's easy prompts tells Bob's hard prompts from Alice's (the demo's anomaly experiment, same rows).
 * A retrained or replaced default has to pass this too.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeDataset } from "../src/datasets/create.ts";
import { loadExamples } from "../src/extract/examples.ts";
import { extractStates } from "../src/extract/extract.ts";
import { readLayer, readLmLogOdds, readStatesMeta, type Matrix } from "../src/extract/states.ts";
import { loadModel } from "../src/model/load.ts";
import { loadTokenizer } from "../src/model/tokenizer.ts";
import { fitReporter } from "../src/probes/fit.ts";
import { auroc } from "../src/probes/metrics.ts";
import { anomalyExperiment } from "../src/analysis/anomaly.ts";
import { DEFAULT_MODEL, DEMO_DATASET } from "../src/pipeline/default.ts";
import { tempDir } from "./helpers.ts";

const rowsWhere = (m: Matrix, keep: boolean[]): Matrix => {
  const idx = keep.flatMap((k, i) => (k ? [i] : []));
  const data = new Float32Array(idx.length * m.cols);
  idx.forEach((r, j) => data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), j * m.cols));
  return { data, rows: idx.length, cols: m.cols };
};

test("the shipped default is quirky on test rows, and a probe fitted on Alice reads the truth on Bob's disagreements", async (t) => {
  const dir = tempDir(t);
  const data = await writeDataset(join(dir, "data"), "addition", DEMO_DATASET);
  const model = loadModel(DEFAULT_MODEL);
  const tokenizer = loadTokenizer(DEFAULT_MODEL);
  const extract = async (distribution: "A" | "B" | "AE" | "AH" | "BH", split: "validation" | "test", maxExamples = 500) => {
    const { examples } = await loadExamples(data.dir, { distribution, split, maxExamples });
    const outDir = join(dir, distribution, split);
    await extractStates({ model, tokenizer, examples, outDir, info: { model: "default", adapter: null, dataset: "addition", distribution, split, settings: {} } });
    return outDir;
  };
  const aliceVal = await extract("A", "validation");
  const aliceTest = await extract("A", "test");
  // all of Bob's test rows (the demo reads 500): at 500 rows his AUROC moves by ±0.01 with the sample
  const bobTest = await extract("B", "test", Infinity);

  const labels = (xs: number[]) => Uint8Array.from(xs);
  const a = readStatesMeta(aliceTest);
  const b = readStatesMeta(bobTest);
  const disagree = b.alice_labels.map((l, i) => l !== b.bob_labels[i]);
  const bobOut = readLmLogOdds(bobTest);
  const out = {
    alice: auroc(readLmLogOdds(aliceTest), labels(a.alice_labels)),
    bob: auroc(bobOut, labels(b.bob_labels)),
    bobDisagreeVsAlice: auroc(bobOut.filter((_, i) => disagree[i]), labels(b.alice_labels.filter((_, i) => disagree[i]))),
  };
  t.diagnostic(`output AUROC: Alice ${out.alice.toFixed(3)}, Bob ${out.bob.toFixed(3)}, Bob's disagreements vs Alice's labels ${out.bobDisagreeVsAlice.toFixed(3)}`);
  assert.ok(out.alice >= 0.95, `Alice's prompts vs Alice's labels: ${out.alice}`);
  assert.ok(out.bob >= 0.95, `Bob's prompts vs Bob's labels: ${out.bob}`);
  assert.ok(out.bobDisagreeVsAlice <= 0.1, `Bob's disagreements vs Alice's labels: ${out.bobDisagreeVsAlice}`);

  // LogR on Alice's validation prompts, every block output; the best middle layer on Bob's disagreements
  const v = readStatesMeta(aliceVal);
  const probeAuroc: number[] = [];
  for (let layer = 0; layer < v.layers - 1; layer++) {
    const probe = await fitReporter("lr", readLayer(aliceVal, "hiddens", layer), labels(v.labels));
    const scores = probe.predict(rowsWhere(readLayer(bobTest, "hiddens", layer), disagree));
    probeAuroc.push(auroc(scores, labels(b.alice_labels.filter((_, i) => disagree[i]))));
  }
  t.diagnostic(`LogR fitted on Alice, AUROC vs Alice's labels on Bob's disagreements by layer: ${probeAuroc.map((x) => x.toFixed(3)).join(", ")}`);
  assert.ok(Math.max(...probeAuroc) >= 0.9, `best probe layer: ${Math.max(...probeAuroc)}`);

  // anomaly detection as the demo runs it: LogR fitted on AE's validation prompts at every layer; its log-odds on
  // AE's test prompts fit the detector, which scores AH (normal) against BH (anomalous)
  const [aeVal, aeTest, ahTest, bhTest] = [await extract("AE", "validation"), await extract("AE", "test"), await extract("AH", "test"), await extract("BH", "test")];
  const ae = readStatesMeta(aeVal);
  const probes = await Promise.all(Array.from({ length: ae.layers }, (_, layer) => fitReporter("lr", readLayer(aeVal, "hiddens", layer), labels(ae.labels))));
  const logOdds = (dir: string) => {
    const n = readStatesMeta(dir).alice_labels.length;
    const x = new Float64Array(n * probes.length);
    probes.forEach((p, layer) => p.predict(readLayer(dir, "hiddens", layer)).forEach((v, i) => (x[i * probes.length + layer] = v)));
    return { x, n, d: probes.length };
  };
  const [maha] = anomalyExperiment(logOdds(aeTest), logOdds(ahTest), logOdds(bhTest), ["mahalanobis"], { bootstrap: 200 });
  t.diagnostic(`Mahalanobis anomaly AUROC (AH vs BH): ${maha.auroc.toFixed(3)} [${maha.lo.toFixed(3)}, ${maha.hi.toFixed(3)}]`);
  assert.ok(maha.auroc >= 0.9, `Mahalanobis anomaly AUROC: ${maha.auroc}`);
});
