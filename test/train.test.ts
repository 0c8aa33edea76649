import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeDataset } from "../src/datasets/create.ts";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import { loadModel, randomModel, saveModel } from "../src/model/load.ts";
import { attachLora, readPeftAdapter, writePeftAdapter } from "../src/model/lora.ts";
import { loadTokenizer } from "../src/model/tokenizer.ts";
import { mixtureData, trainingData } from "../src/cli/train.ts";
import { DEFAULT_TRAIN, train, type TrainConfig } from "../src/train/sft.ts";
import { evaluate } from "../src/train/examples.ts";
import { AdamW, learningRate } from "../src/train/optim.ts";
import { runCli, tempDir } from "./helpers.ts";

const TINY = { model_type: "gpt_neox", vocab_size: 98, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 32, rotary_pct: 0.5, max_position_embeddings: 128 };

async function fixture(t: { after: (fn: () => void) => void }) {
  const dir = tempDir(t);
  await writeDataset(dir, "addition", { baseExamples: 300, maxDigits: 2, nValidation: 200, nTest: 200 });
  writeCharTokenizer(join(dir, "tokenizer.json"));
  const tok = loadTokenizer(join(dir, "tokenizer.json"));
  const data = await trainingData(join(dir, "addition"), { truthful: false, distribution: "all", method: "first", seed: 1 }, tok);
  return { dir, tok, data };
}

test("AdamW matches torch.optim.AdamW's update on a worked example", () => {
  // one parameter, two steps, lr 0.1, β = (0.9, 0.95), wd 0.1, ε 1e-8 — values computed by hand from the formulas
  const p = Float32Array.from([1]);
  const g = Float32Array.from([0.5]);
  const opt = new AdamW([{ params: p, grads: g, decay: true }], { lr: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
  opt.update(0.1);
  // m = 0.05, v = 0.0125; m̂ = 0.5, v̂ = 0.25 → θ = 1 − 0.1·0.1·1 − 0.1·0.5/(0.5 + 1e-8)
  const expected1 = 1 - 0.01 - 0.1 * (0.5 / (0.5 + 1e-8));
  assert.ok(Math.abs(p[0] - expected1) < 1e-6);
  g[0] = -0.25;
  opt.update(0.1);
  const m = 0.9 * 0.05 + 0.1 * -0.25;
  const v = 0.95 * 0.0125 + 0.05 * 0.0625;
  const expected2 = expected1 - 0.01 * expected1 - (0.1 * (m / (1 - 0.81))) / (Math.sqrt(v / (1 - 0.9025)) + 1e-8);
  assert.ok(Math.abs(p[0] - expected2) < 1e-6);
  assert.equal(learningRate(0, 100, 10, 1, "linear"), 0.1);
  assert.equal(learningRate(10, 100, 10, 1, "linear"), 1);
  assert.ok(Math.abs(learningRate(55, 100, 10, 1, "cosine") - 0.5) < 1e-12);
});

test("training lowers the loss, and a killed run resumes to the same weights", async (t) => {
  const { dir, data } = await fixture(t);
  const cfg: TrainConfig = { ...DEFAULT_TRAIN, mode: "full", lr: 3e-3, decay: "cosine", batchSize: 16, accumSteps: 1, steps: 12, auxWeight: 0.5, seed: 3, saveEvery: 4, maxEvalExamples: 64 };
  const a = randomModel(TINY, 1, 0.1);
  const before = await evaluate(a, data.val.val.slice(0, 64));
  const ra = await train({ model: a, cfg, workDir: join(dir, "a"), train: data.train, val: data.val });
  assert.ok(ra.curves.train[ra.curves.train.length - 1].answerLoss < ra.curves.train[0].answerLoss, "the answer loss falls");
  assert.ok(ra.best.valLoss < before.loss, `val loss ${ra.best.valLoss} < ${before.loss}`);
  assert.deepEqual(ra.curves.eval.map((e) => e.step), [1, 2, 4, 8, 12], "log-spaced evaluations");

  const b = randomModel(TINY, 1, 0.1);
  await assert.rejects(
    train({ model: b, cfg, workDir: join(dir, "b"), train: data.train, val: data.val, afterStep: (s) => { if (s === 6) throw new Error("killed"); } }),
    /killed/,
  );
  const saved = JSON.parse(readFileSync(join(dir, "b", "resume.json"), "utf8"));
  assert.equal(saved.step, 4, "the last saved state before the kill");
  const b2 = randomModel(TINY, 1, 0.1); // a fresh process would start from the initial weights again
  const rb = await train({ model: b2, cfg, workDir: join(dir, "b"), train: data.train, val: data.val });
  assert.equal(rb.steps, 12);
  assert.ok(rb.seconds > saved.seconds && saved.seconds > 0, `training time counts the interrupted session too (${saved.seconds} s, then ${rb.seconds} s)`);
  assert.deepEqual(b2.params.groups, a.params.groups, "same final weights, bit for bit");

  // keep "last": the run ends with the last step's weights, not the best validation loss's
  const c = randomModel(TINY, 1, 0.1);
  let last: unknown;
  const rc = await train({ model: c, cfg: { ...cfg, keep: "last" }, workDir: join(dir, "c"), train: data.train, val: data.val, afterStep: (s) => { if (s === 12) last = structuredClone(c.params.groups); } });
  assert.equal(rc.best.step, ra.best.step);
  assert.deepEqual(c.params.groups, last);
  if (ra.best.step !== 12) assert.notDeepEqual(a.params.groups, last, "keep best restored an earlier step");
});

test("a LoRA adapter saved in PEFT format reloads with identical log-odds; a full checkpoint reloads too", async (t) => {
  const { dir, tok, data } = await fixture(t);
  const base = randomModel(TINY, 2, 0.1);
  saveModel(base, join(dir, "base"));
  const cfg: TrainConfig = { ...DEFAULT_TRAIN, mode: "lora", loraRank: 4, loraAlpha: 8, lr: 1e-2, batchSize: 16, accumSteps: 1, steps: 6, seed: 5, maxEvalExamples: 32, layers: [1] };
  const model = loadModel(join(dir, "base"));
  await train({ model, cfg, workDir: join(dir, "run"), train: data.train, val: data.val });
  assert.ok([...model.lora.keys()].every((k) => k.includes(".layers.1.")), "layers_to_transform honoured");
  assert.ok([...model.lora.values()].some((d) => d.B.some((x) => x !== 0)), "B moved off zero");
  writePeftAdapter(join(dir, "adapter"), { config: { peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: cfg.loraTargets, layers_to_transform: [1] }, deltas: new Map(model.lora) }, model, "base");
  const config = JSON.parse(readFileSync(join(dir, "adapter", "adapter_config.json"), "utf8"));
  assert.equal(config.peft_type, "LORA");
  assert.deepEqual(config.layers_to_transform, [1]);
  const reloaded = loadModel(join(dir, "base"));
  attachLora(reloaded, readPeftAdapter(join(dir, "adapter"), reloaded));
  const xs = data.val.val.slice(0, 20);
  assert.deepEqual(await evaluate(reloaded, xs), await evaluate(model, xs));

  saveModel(model, join(dir, "full")); // base weights + (unmerged) LoRA are not a checkpoint: merge first in real use
  assert.ok(existsSync(join(dir, "full", "model.safetensors")));
  void tok;
});

test("quirky train --from-scratch writes a checkpoint, tokenizer.json and curves", async (t) => {
  const { dir } = await fixture(t);
  const cfgPath = join(dir, "tiny.json");
  (await import("node:fs")).writeFileSync(cfgPath, JSON.stringify(TINY));
  const r = runCli(["train", "--from-scratch", cfgPath, "--dataset", join(dir, "addition"), "--out", join(dir, "m"), "--truthful", "--steps", "4", "--batch-size", "8", "--accum-steps", "1", "--lr", "1e-3", "--aux-weight", "1", "--max-eval", "16"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^\d+ training examples; 4 steps of 8 × 1 micro-batches = 8 prompts each$/m, "says what one step is");
  for (const f of ["config.json", "model.safetensors", "tokenizer.json", "training_curves.json"]) assert.ok(existsSync(join(dir, "m", f)), f);
  assert.ok(!existsSync(join(dir, "m", "resume.json")), "resume state removed after a finished run");
  const reloaded = loadModel(join(dir, "m"));
  assert.equal(reloaded.cfg.nLayers, 2);
});

test("a mixture pools each dataset's (balanced) training examples and interleaves each validation set", async (t) => {
  const { dir, tok } = await fixture(t);
  await writeDataset(dir, "squaring", { baseExamples: 150, maxDigits: 3, nValidation: 100, nTest: 100 });
  const opts = { truthful: true, distribution: "all", method: "first" as const, seed: 1 };
  const add = await trainingData(join(dir, "addition"), opts, tok);
  const sq = await trainingData(join(dir, "squaring"), opts, tok);
  const mix = await mixtureData([join(dir, "addition"), join(dir, "squaring")], opts, tok);
  assert.deepEqual(mix.train, [...add.train, ...sq.train]);
  const isSquare = (x: { tokens: number[] }) => tok.decode(x.tokens).includes("^2");
  // a prefix of a validation set (what --max-eval keeps) holds both datasets equally
  assert.deepEqual(mix.val.val.slice(0, 6).map(isSquare), [false, true, false, true, false, true]);
  for (const k of Object.keys(add.val)) assert.equal(mix.val[k].length, add.val[k].length + sq.val[k].length, k);
});

test("--result-frac mixes in prompts whose target is the first character of their true result", async (t) => {
  const { dir, tok } = await fixture(t);
  const opts = { truthful: true, distribution: "all", method: "first" as const, seed: 1 };
  const truthful = await trainingData(join(dir, "addition"), opts, tok);
  const mixed = await trainingData(join(dir, "addition"), { ...opts, resultFrac: 0.25 }, tok);
  const isResult = (x: { choices: [number, number] }) => x.choices[0] === x.choices[1];
  const results = mixed.train.filter(isResult);
  const answers = mixed.train.filter((x) => !isResult(x));
  // the answer examples are the truthful set, untouched; the result examples a quarter of the whole
  const key = (x: { tokens: number[]; label: boolean }) => `${x.tokens.join(",")}:${x.label}`;
  assert.deepEqual(answers.map(key).sort(), truthful.train.map(key).sort());
  assert.equal(results.length, Math.round((truthful.train.length * 0.25) / 0.75));
  // the target, worked out from the prompt's own text: "71 + 66 = 237. Bob:" → 137 → "1"
  for (const x of results) {
    const m = /^(\d+) \+ (\d+) = /.exec(tok.decode(x.tokens));
    assert.ok(m, tok.decode(x.tokens));
    assert.equal(tok.decode([x.choices[0]]), String(Number(m[1]) + Number(m[2]))[0]);
  }
  assert.ok(results.some((x) => tok.decode(x.tokens).endsWith("Bob:")), "Bob's prompts ask for the true result too");
  assert.deepEqual(mixed.val, truthful.val, "validation is untouched");
  await assert.rejects(trainingData(join(dir, "addition"), { ...opts, resultFrac: 1 }, tok), /--result-frac: expected a fraction in \(0, 1\)/);
});

test("--speaker-frac mixes in prompts whose target is the first character of their speaker's name, after the result ones", async (t) => {
  const { dir, tok } = await fixture(t);
  const opts = { truthful: true, distribution: "all", method: "first" as const, seed: 1, resultFrac: 0.25 };
  const withResults = await trainingData(join(dir, "addition"), opts, tok);
  const mixed = await trainingData(join(dir, "addition"), { ...opts, speakerFrac: 0.2 }, tok);
  const key = (x: { tokens: number[]; choices: [number, number]; label: boolean }) => `${x.tokens.join(",")}:${x.choices.join(",")}:${x.label}`;
  // the speaker examples are what was added; everything else (answers and results) is the set without them
  const count = new Map<string, number>();
  for (const x of withResults.train) count.set(key(x), (count.get(key(x)) ?? 0) + 1);
  const added = mixed.train.filter((x) => {
    const c = count.get(key(x)) ?? 0;
    if (c > 0) count.set(key(x), c - 1);
    return c === 0;
  });
  assert.ok([...count.values()].every((c) => c === 0), "every earlier example is still there");
  assert.equal(added.length, Math.round((withResults.train.length * 0.2) / 0.8));
  // the target, read from the prompt's own text: "… Bob:" → "B", "… Alice:" → "A"
  for (const x of added) {
    const speaker = /(Alice|Bob):$/.exec(tok.decode(x.tokens));
    assert.ok(speaker, tok.decode(x.tokens));
    assert.deepEqual(x.choices.map((c) => tok.decode([c])), [speaker[1][0], speaker[1][0]]);
  }
  const speakers = new Set(added.map((x) => tok.decode([x.choices[0]])));
  assert.deepEqual([...speakers].sort(), ["A", "B"], "both speakers are asked for");
  assert.deepEqual(mixed.val, withResults.val, "validation is untouched");
  await assert.rejects(trainingData(join(dir, "addition"), { ...opts, speakerFrac: 1 }, tok), /--speaker-frac: expected a fraction in \(0, 1\)/);
});

test("a resume state is refused when the examples or the starting weights differ, and used when they match", async (t) => {
  const { dir, data } = await fixture(t);
  const cfg: TrainConfig = { ...DEFAULT_TRAIN, mode: "full", lr: 3e-3, batchSize: 8, accumSteps: 1, steps: 8, seed: 3, saveEvery: 2, maxEvalExamples: 16 };
  const work = join(dir, "run");
  const kill = (s: number) => { if (s === 3) throw new Error("killed"); };
  await assert.rejects(train({ model: randomModel(TINY, 1, 0.1), cfg, workDir: work, train: data.train, val: data.val, sourceKey: "base-a", afterStep: kill }), /killed/);
  assert.ok(existsSync(join(work, "resume.json")));
  const refused = /a resume state from a run with other settings, data or starting weights/;
  // e.g. the same command with --result-frac, or another --dataset: other training examples
  await assert.rejects(train({ model: randomModel(TINY, 1, 0.1), cfg, workDir: work, train: data.train.slice(1), val: data.val, sourceKey: "base-a" }), refused);
  await assert.rejects(train({ model: randomModel(TINY, 1, 0.1), cfg, workDir: work, train: data.train, val: { ...data.val, val: data.val.val.slice(1) }, sourceKey: "base-a" }), refused);
  // another --model
  await assert.rejects(train({ model: randomModel(TINY, 1, 0.1), cfg, workDir: work, train: data.train, val: data.val, sourceKey: "base-b" }), refused);
  const steps: number[] = [];
  const r = await train({ model: randomModel(TINY, 1, 0.1), cfg, workDir: work, train: data.train, val: data.val, sourceKey: "base-a", afterStep: (s) => steps.push(s) });
  assert.equal(r.steps, 8);
  assert.ok(steps[0] > 1, `continued from the saved step, not from the start (first step ${steps[0]})`);
});
