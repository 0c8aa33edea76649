import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { writeDataset } from "../src/datasets/create.ts";
import { loadExamples } from "../src/extract/examples.ts";
import { extractStates } from "../src/extract/extract.ts";
import { readLayer, readLmLogOdds, readStatesMeta } from "../src/extract/states.ts";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import { randomModel, saveModel } from "../src/model/load.ts";
import { encodeChoice, loadTokenizer } from "../src/model/tokenizer.ts";
import { runCli, tempDir } from "./helpers.ts";

const CFG = { model_type: "gpt_neox", vocab_size: 98, hidden_size: 16, num_hidden_layers: 3, num_attention_heads: 2, intermediate_size: 32, rotary_pct: 0.5, max_position_embeddings: 256 };

async function setup(t: { after: (fn: () => void) => void }) {
  const dir = tempDir(t);
  await writeDataset(dir, "addition", { baseExamples: 200, nValidation: 100, nTest: 100 });
  writeCharTokenizer(join(dir, "tokenizer.json"));
  const tok = loadTokenizer(join(dir, "tokenizer.json"));
  const model = randomModel(CFG, 1, 0.2);
  const { examples } = await loadExamples(join(dir, "addition"), { distribution: "A", split: "test", maxExamples: 37 });
  const info = { model: "random", adapter: null, dataset: "addition", distribution: "A", split: "test", settings: {} };
  return { dir, tok, model, examples, info };
}

test("extraction stores hiddens [L,n,d] (last layer after the final norm), pair states and LM log-odds", async (t) => {
  const { dir, tok, model, examples, info } = await setup(t);
  assert.ok(examples.every((e) => e.character === "Alice"));
  const out = join(dir, "states");
  const quiet = () => {};
  assert.equal(await extractStates({ model, tokenizer: tok, examples, outDir: out, info, batchSize: 8, warn: quiet }), "extracted");
  const meta = readStatesMeta(out);
  assert.equal(meta.n, 37);
  assert.equal(meta.layers, 3);
  assert.deepEqual(meta.alice_labels, examples.map((e) => +e.alice_label));
  assert.ok(!existsSync(join(out, "chunks")));

  // recompute example 5 alone, by a different route: all-position hooks + logits at all positions
  const ex = examples[5];
  const ids = Int32Array.from(tok.encode(ex.statement));
  const T = ids.length;
  const d = 16;
  const seen: Float32Array[] = [];
  const grab = (x: Float32Array) => { seen.push(x.slice((T - 1) * d, T * d)); };
  const full = await model.forward({ tokens: ids, B: 1, T }, { logits: "all", hooks: { "blocks.0.hook_resid_post": grab, "blocks.1.hook_resid_post": grab, "ln_final.hook_normalized": grab } });
  for (let l = 0; l < 3; l++) {
    const layer = readLayer(out, "hiddens", l);
    // alone vs inside a padded batch of 8: the same values up to f32 rounding (softmax and products sum rows of
    // other lengths, in other orders)
    const stored = layer.data.subarray(5 * d, 6 * d);
    stored.forEach((v, i) => assert.ok(Math.abs(v - seen[l][i]) <= 1e-5 * (1 + Math.abs(v)), `layer ${l}, dim ${i}: ${v} vs ${seen[l][i]}`));
  }
  const f = encodeChoice(ex.choices[0], tok, quiet);
  const tr = encodeChoice(ex.choices[1], tok, quiet);
  const V = 98;
  const lo = readLmLogOdds(out)[5];
  assert.ok(Math.abs(lo - (full.logits[(T - 1) * V + tr] - full.logits[(T - 1) * V + f])) < 1e-4);
  // the true choice's pair state = the last state of prompt + true token, run from scratch
  const withTrue = Int32Array.from([...ids, tr]);
  let last: Float32Array | undefined;
  await model.forward({ tokens: withTrue, B: 1, T: T + 1 }, { hooks: { "ln_final.hook_normalized": (x) => { last = x.slice(T * d, (T + 1) * d); } } });
  const pair = readLayer(out, "pair", 2);
  const got = pair.data.subarray(5 * 2 * d + d, 5 * 2 * d + 2 * d);
  assert.ok(Math.max(...Array.from(got, (v, i) => Math.abs(v - last![i]))) < 1e-4);
});

test("an interrupted extraction resumes and ends with the same files as an uninterrupted one", async (t) => {
  const { dir, tok, model, examples, info } = await setup(t);
  const quiet = () => {};
  const a = join(dir, "a");
  const b = join(dir, "b");
  await extractStates({ model, tokenizer: tok, examples, outDir: a, info, batchSize: 8, warn: quiet });
  await assert.rejects(
    extractStates({ model, tokenizer: tok, examples, outDir: b, info, batchSize: 8, warn: quiet, onProgress: (done) => { if (done >= 24) throw new Error("killed"); } }),
    /killed/,
  );
  assert.equal(readdirSync(join(b, "chunks")).filter((f) => f.endsWith(".safetensors")).length, 3, "three batches were saved before the kill");
  let ran = 0;
  await extractStates({ model, tokenizer: tok, examples, outDir: b, info, batchSize: 8, warn: quiet, onProgress: () => { ran++; } });
  assert.deepEqual(readFileSync(join(b, "states.safetensors")), readFileSync(join(a, "states.safetensors")));
  assert.equal(await extractStates({ model, tokenizer: tok, examples, outDir: b, info, batchSize: 8, warn: quiet }), "skipped");
  assert.ok(ran > 0);
});

test("a prompt longer than the model's context is an error naming the example, and nothing is written", async (t) => {
  const dir = tempDir(t);
  await writeDataset(dir, "addition", { baseExamples: 200, nValidation: 100, nTest: 100 });
  const modelDir = join(dir, "short");
  saveModel(randomModel({ ...CFG, max_position_embeddings: 12 }, 1, 0.2), modelDir);
  writeCharTokenizer(join(modelDir, "tokenizer.json"));
  const out = join(dir, "states");
  const r = runCli(["extract", "--model", modelDir, "--dataset", join(dir, "addition"), "--distribution", "A", "--split", "test", "--max-examples", "4", "--out", out]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /^quirky: example [0-9a-f]{8}: the prompt is \d+ tokens, but the model's context holds 12 \(prompt \+ one answer token\)/);
  assert.ok(!existsSync(out), "nothing written");
});
