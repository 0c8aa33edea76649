// Our trainer against PyTorch, step by step: N full-batch AdamW steps of stage 2 (four appended blocks) on 128
// examples; compare-steps.py replays them in PyTorch from the same initial weights and compares losses and weights.
//   node --import tsx models/default/provenance/compare-steps.ts STAGE1_DIR DATASET_DIR OUT [N]    (from the repo root)
//   /usr/bin/python3 models/default/provenance/compare-steps.py OUT [N]
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { trainingData } from "../../../src/cli/train.ts";
import { appendIdentityBlocks, loadModel, saveModel } from "../../../src/model/load.ts";
import { loadTokenizer } from "../../../src/model/tokenizer.ts";
import { DEFAULT_TRAIN, train } from "../../../src/train/sft.ts";

const [stage1, dataset, out, n] = process.argv.slice(2);
const steps = Number(n ?? 20);
const settings = { blocks: 4, lr: 5e-4, weightDecay: 0.1, warmupFrac: 0.05 }; // compare-steps.py reads them from OUT
const model = appendIdentityBlocks(loadModel(stage1), settings.blocks, 9);
const below = model.cfg.nLayers - settings.blocks;
mkdirSync(join(out, "init"), { recursive: true });
saveModel(model, join(out, "init"));
const data = await trainingData(dataset, { truthful: false, distribution: "all", method: "first", seed: 4 }, loadTokenizer(stage1));
const batch = data.train.slice(0, 128); // batch size = examples: every step sees all of them, in any order
writeFileSync(join(out, "settings.json"), JSON.stringify(settings));
writeFileSync(join(out, "examples.json"), JSON.stringify(batch.map((e) => ({ t: e.tokens, c: e.choices, l: +e.label }))));
const losses: number[] = [];
rmSync(join(out, "work"), { recursive: true, force: true });
await train({
  model, train: batch, val: {}, workDir: join(out, "work"),
  cfg: {
    ...DEFAULT_TRAIN, mode: "full", layers: Array.from({ length: settings.blocks }, (_, i) => below + i), lr: settings.lr, decay: "cosine",
    warmupFrac: settings.warmupFrac, weightDecay: settings.weightDecay, batchSize: 128, accumSteps: 1, steps, seed: 4,
  },
  onLog: (l) => losses.push(l.loss),
});
mkdirSync(join(out, "after"), { recursive: true });
saveModel(model, join(out, "after"));
writeFileSync(join(out, "losses.json"), JSON.stringify(losses));
console.log(`losses: ${losses.map((x) => x.toFixed(6)).join(" ")}`);
