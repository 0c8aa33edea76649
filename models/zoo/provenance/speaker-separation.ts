/**
 * How much of "who is speaking" each layer's last-token state carries: per layer, d′ of Bob's prompts against
 * Alice's along the difference of their means,
 *
 *   w = μ_B − μ_A   (fitted on the first half of each character's test rows)
 *   d′ = (mean(x_B·w) − mean(x_A·w)) / sqrt((var(x_A·w) + var(x_B·w)) / 2)   (on the second halves)
 *
 * read from a finished run's states (`<root>/A/test`, `<root>/B/test`). EleutherAI's later work on these models found
 * that the distance between Alice's and Bob's centroids explains how well the anomaly detector works; this is that
 * distance, in units of the spread, for the zoo (models/zoo/README.md, "Anomaly detection").
 *   usage: node --import tsx models/zoo/provenance/speaker-separation.ts RUN_OUT_DIR   (e.g. a `quirky demo --out` folder)
 */
import { join } from "node:path";
import { experimentRoots } from "../../../src/analysis/summary.ts";
import { readLayer, readStatesMeta } from "../../../src/extract/states.ts";
import { columnMeans, dot } from "../../../src/linalg/index.ts";

const out = process.argv[2];
if (!out) throw new Error("usage: speaker-separation.ts RUN_OUT_DIR");

/** d′ of b's rows against a's along the mean difference fitted on their first halves, measured on their second. */
function dPrime(a: Float32Array, na: number, b: Float32Array, nb: number, d: number): number {
  const [ha, hb] = [na >> 1, nb >> 1];
  const ma = columnMeans(a, ha, d); // the first ha rows
  const mb = columnMeans(b, hb, d);
  const w = mb.map((v, j) => v - ma[j]);
  const project = (x: Float32Array, from: number, to: number) => Array.from({ length: to - from }, (_, k) => dot(x, w, d, (from + k) * d));
  const stats = (p: number[]) => {
    const m = p.reduce((s, v) => s + v, 0) / p.length;
    return { m, v: p.reduce((s, x) => s + (x - m) ** 2, 0) / p.length };
  };
  const pa = stats(project(a, ha, na));
  const pb = stats(project(b, hb, nb));
  return (pb.m - pa.m) / Math.sqrt((pa.v + pb.v) / 2);
}

for (const { model, dataset, root } of experimentRoots(out)) {
  const [dirA, dirB] = [join(root, "A", "test"), join(root, "B", "test")];
  const meta = readStatesMeta(dirA);
  const nb = readStatesMeta(dirB).n;
  const row: string[] = [];
  for (let l = 0; l < meta.layers; l++) row.push(dPrime(readLayer(dirA, "hiddens", l).data, meta.n, readLayer(dirB, "hiddens", l).data, nb, meta.d).toFixed(2));
  console.log(`${model} × ${dataset}: Bob vs Alice d′ by layer  ${row.join(" ")}`);
}
