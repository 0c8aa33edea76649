/**
 * Why Mahalanobis detection is weak on this zoo (models/zoo/README.md, "Anomaly detection"): per layer, the AUROC of
 * the LogR probe fitted on Alice's easy validation prompts on AE / AH / BH test rows against Alice's labels, then the
 * detector's AUROC with every layer (the paper's) and with subsets of layers.
 *   usage: node --import tsx models/zoo/provenance/anomaly-layers.ts MODEL_DIR ADAPTER_DIR DATASET_DIR WORK_DIR [ROWS=500]
 * ROWS caps the rows read per distribution and split. To fit the AE probes on many more rows, give a copy of the dataset
 * whose validation.parquet is its train.parquet and ROWS=3000 (about 900 AE rows; the test rows stay the same).
 */
import { checkQuirk } from "../../../src/analysis/quirk-check.ts";
import { anomalyExperiment } from "../../../src/analysis/anomaly.ts";
import { readLayer, readStatesMeta } from "../../../src/extract/states.ts";
import { fitReporter } from "../../../src/probes/fit.ts";
import { auroc } from "../../../src/probes/metrics.ts";
const [model, adapter, data, work, rowsArg] = process.argv.slice(2);
const q = await checkQuirk({ path: model, adapter }, data, { workDir: work, rows: Number(rowsArg ?? 500), anomaly: true, randomSamples: 10 });
const st = q.states as any;
const ae = readStatesMeta(st["AE/validation"]);
const L = ae.layers;
const probes = await Promise.all(Array.from({ length: L }, (_, l) => fitReporter("lr", readLayer(st["AE/validation"], "hiddens", l), Uint8Array.from(ae.labels))));
const lo = (dir: string, layers: number[]) => { const n = readStatesMeta(dir).alice_labels.length; const x = new Float64Array(n * layers.length);
  layers.forEach((l, j) => probes[l].predict(readLayer(dir, "hiddens", l)).forEach((v, i) => (x[i * layers.length + j] = v))); return { x, n, d: layers.length }; };
console.log("AE fit rows", ae.labels.length);
for (const dir of ["AE/test", "AH/test", "BH/test"]) { const m = readStatesMeta(st[dir]); console.log(dir, Array.from({ length: L }, (_, l) => auroc(probes[l].predict(readLayer(st[dir], "hiddens", l)), Uint8Array.from(m.alice_labels)).toFixed(3)).join(" ")); }
const all = Array.from({ length: L }, (_, l) => l);
for (const layers of [all, all.slice(4), all.slice(5), [L - 3, L - 1], [L - 2, L - 1], all.slice(0, 4)]) {
  const [r] = anomalyExperiment(lo(st["AE/test"], layers), lo(st["AH/test"], layers), lo(st["BH/test"], layers), ["mahalanobis"], { bootstrap: 10 });
  console.log("layers", layers.join(","), r.auroc.toFixed(3));
}
