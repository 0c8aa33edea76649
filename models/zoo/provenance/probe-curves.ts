/**
 * The measurement behind models/zoo/README.md's recipe choices: for a model (and optionally a LoRA adapter) on a
 * quirky dataset's held-out rows, the model's output AUROCs, and per layer LogR fitted on Alice's validation prompts
 * against Alice's labels on Bob's test disagreements beside the median of 1,000 random directions signed on the same
 * fit rows; with --anomaly, the Mahalanobis anomaly AUROC (AE → AH vs BH) as the demo computes it.
 *   usage: node --import tsx models/zoo/provenance/probe-curves.ts MODEL_DIR ADAPTER_DIR|- DATASET_DIR [ROWS=500] [--anomaly]
 * Prints one JSON line (results.jsonl here holds the runs the README quotes).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { anomalyExperiment } from "../../../src/analysis/anomaly.ts";
import type { Distribution } from "../../../src/datasets/schema.ts";
import { loadExamples } from "../../../src/extract/examples.ts";
import { extractStates } from "../../../src/extract/extract.ts";
import { readLayer, readLmLogOdds, readStatesMeta, type Matrix } from "../../../src/extract/states.ts";
import { openModel } from "../../../src/model/source.ts";
import { fitReporter } from "../../../src/probes/fit.ts";
import { auroc } from "../../../src/probes/metrics.ts";
import { evalRandomBaseline } from "../../../src/probes/random-baseline.ts";

const args = process.argv.slice(2).filter((a) => a !== "--anomaly");
const [modelDir, adapterArg, dataDir, rowsArg] = args;
if (!dataDir) throw new Error("usage: probe-curves.ts MODEL_DIR ADAPTER_DIR|- DATASET_DIR [ROWS] [--anomaly]");
const adapter = adapterArg === "-" ? undefined : adapterArg;
const rows = Number(rowsArg ?? 500);
const work = mkdtempSync(join(tmpdir(), "probe-curves-"));

const rowsWhere = (m: Matrix, keep: boolean[]): Matrix => {
  const idx = keep.flatMap((k, i) => (k ? [i] : []));
  const data = new Float32Array(idx.length * m.cols);
  idx.forEach((r, j) => data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), j * m.cols));
  return { data, rows: idx.length, cols: m.cols };
};
const labels = (xs: number[]) => Uint8Array.from(xs);
const round = (xs: number[]) => xs.map((x) => Math.round(x * 1000) / 1000);

try {
  const { model, tokenizer } = await openModel({ path: modelDir, adapter });
  const extract = async (distribution: Distribution, split: "validation" | "test") => {
    const { examples } = await loadExamples(dataDir, { distribution, split, maxExamples: rows });
    const outDir = join(work, distribution, split);
    await extractStates({ model, tokenizer, examples, outDir, info: { model: modelDir, adapter: adapter ?? null, dataset: dataDir, distribution, split, settings: {} } });
    return outDir;
  };
  const [aliceVal, aliceTest, bobTest] = [await extract("A", "validation"), await extract("A", "test"), await extract("B", "test")];
  const a = readStatesMeta(aliceTest);
  const b = readStatesMeta(bobTest);
  const disagree = b.alice_labels.map((l, i) => l !== b.bob_labels[i]);
  const bobOut = readLmLogOdds(bobTest);
  const aliceOnDisagree = labels(b.alice_labels.filter((_, i) => disagree[i]));
  const output = {
    alice: auroc(readLmLogOdds(aliceTest), labels(a.alice_labels)),
    bob: auroc(bobOut, labels(b.bob_labels)),
    bobDisagreeVsAlice: auroc(bobOut.filter((_, i) => disagree[i]), aliceOnDisagree),
  };
  const v = readStatesMeta(aliceVal);
  const lr: number[] = [];
  const randomMedian: number[] = [];
  for (let layer = 0; layer < v.layers; layer++) {
    const fit = readLayer(aliceVal, "hiddens", layer);
    const test = rowsWhere(readLayer(bobTest, "hiddens", layer), disagree);
    lr.push(auroc((await fitReporter("lr", fit, labels(v.labels))).predict(test), aliceOnDisagree));
    const random = await evalRandomBaseline(fit, labels(v.labels), test, aliceOnDisagree, { numSamples: 1000, seed: layer });
    randomMedian.push(random.quantiles.find((q) => q.q === 0.5)!.auroc);
  }
  let mahalanobis: number | undefined;
  if (process.argv.includes("--anomaly")) {
    const [aeVal, aeTest, ahTest, bhTest] = [await extract("AE", "validation"), await extract("AE", "test"), await extract("AH", "test"), await extract("BH", "test")];
    const ae = readStatesMeta(aeVal);
    const probes = await Promise.all(Array.from({ length: ae.layers }, (_, layer) => fitReporter("lr", readLayer(aeVal, "hiddens", layer), labels(ae.labels))));
    const logOdds = (d: string) => {
      const n = readStatesMeta(d).alice_labels.length;
      const x = new Float64Array(n * probes.length);
      probes.forEach((p, layer) => p.predict(readLayer(d, "hiddens", layer)).forEach((val, i) => (x[i * probes.length + layer] = val)));
      return { x, n, d: probes.length };
    };
    mahalanobis = anomalyExperiment(logOdds(aeTest), logOdds(ahTest), logOdds(bhTest), ["mahalanobis"], { bootstrap: 50 })[0].auroc;
  }
  console.log(JSON.stringify({ model: modelDir, adapter: adapter ?? null, dataset: dataDir, rows, output: Object.fromEntries(Object.entries(output).map(([k, x]) => [k, Math.round(x * 1000) / 1000])), lrOnBobDisagreements: round(lr), randomMedian: round(randomMedian), ...(mahalanobis !== undefined ? { mahalanobis: Math.round(mahalanobis * 1000) / 1000 } : {}) }));
} finally {
  rmSync(work, { recursive: true, force: true });
}
