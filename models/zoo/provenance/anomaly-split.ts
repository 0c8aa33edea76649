/**
 * Does the detector see Bob's lie or Bob? Mahalanobis on LogR's per-layer outputs (the demo's detector), its AUROC
 * against AH split by Bob's hard rows that agree with Alice's label and those that do not; ADAPTER "-" runs the base
 * alone (the no-quirk control).
 *   usage: node --import tsx models/zoo/provenance/anomaly-split.ts MODEL_DIR ADAPTER_DIR|- DATASET_DIR WORK_DIR
 */
import { checkQuirk } from "../../../src/analysis/quirk-check.ts";
import { fitDetector } from "../../../src/analysis/anomaly.ts";
import { readLayer, readStatesMeta } from "../../../src/extract/states.ts";
import { fitReporter } from "../../../src/probes/fit.ts";
import { auroc } from "../../../src/probes/metrics.ts";
const [model, adapterArg, data, work] = process.argv.slice(2);
const adapter = adapterArg === "-" ? undefined : adapterArg;
const q = await checkQuirk({ path: model, adapter }, data, { workDir: work, rows: 500, anomaly: true, randomSamples: 10, bootstrap: 10 });
const st = q.states as any;
const ae = readStatesMeta(st["AE/validation"]);
const L = ae.layers;
const probes = await Promise.all(Array.from({ length: L }, (_, l) => fitReporter("lr", readLayer(st["AE/validation"], "hiddens", l), Uint8Array.from(ae.labels))));
const lo = (dir: string) => { const n = readStatesMeta(dir).alice_labels.length; const x = new Float64Array(n * L);
  for (let l = 0; l < L; l++) probes[l].predict(readLayer(dir, "hiddens", l)).forEach((v, i) => (x[i * L + l] = v)); return { x, n }; };
const fit = lo(st["AE/test"]), ah = lo(st["AH/test"]), bh = lo(st["BH/test"]);
const det = fitDetector("mahalanobis", fit.x, fit.n, L);
const sa = Array.from(det.score(ah.x, ah.n, L)), sb = Array.from(det.score(bh.x, bh.n, L));
const m = readStatesMeta(st["BH/test"]);
const dis = m.alice_labels.map((a, i) => a !== m.bob_labels[i]);
const au = (b: number[]) => auroc([...sa, ...b], Uint8Array.from([...sa.map(() => 0), ...b.map(() => 1)]));
console.log(JSON.stringify({ adapter: adapterArg, data, all: +au(sb).toFixed(3), disagree: +au(sb.filter((_, i) => dis[i])).toFixed(3), agree: +au(sb.filter((_, i) => !dis[i])).toFixed(3), nDis: dis.filter(Boolean).length, nBH: sb.length, checkQuirk: +(q.mahalanobis!.auroc).toFixed(3) }));
