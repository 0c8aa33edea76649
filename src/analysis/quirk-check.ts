/**
 * Is a model quirky, and does a probe still read the truth under the quirk? The check behind the zoo's README and its
 * test, on a quirky dataset's held-out rows:
 *
 *   output AUROCs   the model's log-odds vs Alice's labels in Alice's prompts, vs Bob's in Bob's, and vs Alice's
 *                   labels on Bob's disagreements (where Alice's and Bob's labels differ);
 *   per layer       LogR fitted on Alice's validation prompts, AUROC vs Alice's labels on Bob's test disagreements,
 *                   beside the median AUROC of 1,000 random directions signed on the same fit rows (the baseline a
 *                   finding has to beat);
 *   anomaly         (optional) LogR fitted per layer on Alice's easy validation prompts; its log-odds on AE test rows
 *                   fit a Mahalanobis detector that scores AH (normal) against BH (anomalous), as the demo does.
 *
 * The extracted states stay in `workDir` (`<distribution>/<split>/`) for whoever wants to measure them again.
 */
import { join } from "node:path";
import type { Distribution } from "../datasets/schema.ts";
import type { TemplateMethod } from "../datasets/templatize.ts";
import { loadExamples } from "../extract/examples.ts";
import { extractStates } from "../extract/extract.ts";
import { readLayer, readLmLogOdds, readStatesMeta } from "../extract/states.ts";
import { openModel, type ModelSource } from "../model/source.ts";
import { fitReporter } from "../probes/fit.ts";
import { auroc } from "../probes/metrics.ts";
import { rowsWhere } from "../probes/matrix.ts";
import { evalRandomBaseline, randomMedian as medianOf } from "../probes/random-baseline.ts";
import { anomalyExperiment, type AnomalyResult } from "./anomaly.ts";

export interface QuirkCheck {
  output: { alice: number; bob: number; bobDisagreeVsAlice: number };
  /** per layer: LogR (fitted on Alice) vs Alice's labels on Bob's disagreements */
  lr: number[];
  /** per layer: the median of the random directions on the same rows */
  randomMedian: number[];
  mahalanobis?: AnomalyResult;
  /** where the states are: A/validation (fit), B/test (Bob's rows), and AE/validation, AE/test, AH/test, BH/test with anomaly */
  states: Partial<Record<`${Distribution}/${"validation" | "test"}`, string>>;
  /** Bob's test rows where his label differs from Alice's */
  disagree: boolean[];
}

const labels = (xs: number[]) => Uint8Array.from(xs);

export async function checkQuirk(
  src: ModelSource,
  datasetDir: string,
  opts: { workDir: string; rows?: number; method?: TemplateMethod; randomSamples?: number; anomaly?: boolean; bootstrap?: number },
): Promise<QuirkCheck> {
  const { model, tokenizer } = await openModel(src);
  const states: QuirkCheck["states"] = {};
  const extract = async (distribution: Distribution, split: "validation" | "test") => {
    const { examples } = await loadExamples(datasetDir, { distribution, split, maxExamples: opts.rows ?? 500, method: opts.method ?? "first" });
    const outDir = join(opts.workDir, distribution, split);
    await extractStates({ model, tokenizer, examples, outDir, info: { model: src.path, adapter: src.adapter ?? null, dataset: datasetDir, distribution, split, settings: {} } });
    return (states[`${distribution}/${split}`] = outDir);
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
    const random = await evalRandomBaseline(fit, labels(v.labels), test, aliceOnDisagree, { numSamples: opts.randomSamples ?? 1000, seed: layer });
    randomMedian.push(medianOf(random));
  }
  if (!opts.anomaly) return { output, lr, randomMedian, states, disagree };

  const [aeVal, aeTest, ahTest, bhTest] = [await extract("AE", "validation"), await extract("AE", "test"), await extract("AH", "test"), await extract("BH", "test")];
  const ae = readStatesMeta(aeVal);
  const probes = await Promise.all(Array.from({ length: ae.layers }, (_, layer) => fitReporter("lr", readLayer(aeVal, "hiddens", layer), labels(ae.labels))));
  const logOdds = (dir: string) => {
    const n = readStatesMeta(dir).alice_labels.length;
    const x = new Float64Array(n * probes.length);
    probes.forEach((p, layer) => p.predict(readLayer(dir, "hiddens", layer)).forEach((val, i) => (x[i * probes.length + layer] = val)));
    return { x, n, d: probes.length };
  };
  const [mahalanobis] = anomalyExperiment(logOdds(aeTest), logOdds(ahTest), logOdds(bhTest), ["mahalanobis"], { bootstrap: opts.bootstrap ?? 200 });
  return { output, lr, randomMedian, mahalanobis, states, disagree };
}
