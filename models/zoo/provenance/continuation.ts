/**
 * Does a continuation after the answer ("… Alice:True, 68") make the last prompt token carry more than the answer
 * (models/zoo/README.md, cause 1)? Fine-tunes a model on truthful addition text (first template, the true result after
 * the answer) with next-token loss over every position, then writes it to OUT for probe-curves.ts.
 *   usage: node --import tsx models/zoo/provenance/continuation.ts MODEL_DIR ADDITION_DATASET_DIR OUT STEPS
 * (the README's runs: models/zoo/base for 300 steps, then that result for 600 more)
 */
import { join } from "node:path";
import { readQuirkySplit } from "../../../src/datasets/io.ts";
import { templatize } from "../../../src/datasets/templatize.ts";
import { loadModel, saveModel } from "../../../src/model/load.ts";
import { loadTokenizer } from "../../../src/model/tokenizer.ts";
import { train, DEFAULT_TRAIN } from "../../../src/train/sft.ts";
import { trainingData } from "../../../src/cli/train.ts";
import { copyFileSync } from "node:fs";
const [base, data, out, steps] = process.argv.slice(2);
const model = loadModel(base);
const tok = loadTokenizer(base);
const rows = await readQuirkySplit(data, "train");
const ex = templatize(rows, "addition", { method: "first", seed: 1 });
const dot = tok.encode(".", false)[0];
const trainEx = ex.map((e, i) => {
  const a = rows[i].template_args as Record<string, number>;
  const word = (rows[i].alice_label ? e.choices[1] : e.choices[0]).trimStart();
  return { tokens: tok.encode(`${e.statement}${word}, ${a.op1 + a.op2}`), choices: [dot, dot] as [number, number], label: rows[i].alice_label };
});
const val = (await trainingData(data, { truthful: true, distribution: "all", method: "first", seed: 1 }, tok)).val;
const cfg = { ...DEFAULT_TRAIN, mode: "full" as const, lr: 5e-4, decay: "cosine" as const, warmupFrac: 0.05, batchSize: 64, accumSteps: 1, steps: Number(steps), auxWeight: 1, seed: 5, maxEvalExamples: 300, keep: "last" as const };
const r = await train({ model, cfg, workDir: out, train: trainEx, val, onEval: (s, sets) => console.log(s, Object.entries(sets).map(([k, v]) => `${k} ${v.auroc.toFixed(3)}`).join(" ")) });
saveModel(model, out);
copyFileSync(join(base, "tokenizer.json"), join(out, "tokenizer.json"));
console.log(`done ${r.seconds.toFixed(0)} s`);
