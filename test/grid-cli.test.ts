import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { writeDataset } from "../src/datasets/create.ts";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import { randomModel, saveModel } from "../src/model/load.ts";
import { ROOT, runCli, tempDir } from "./helpers.ts";

const TINY = { model_type: "gpt_neox", vocab_size: 98, hidden_size: 16, num_hidden_layers: 3, num_attention_heads: 2, intermediate_size: 32, rotary_pct: 0.5, max_position_embeddings: 128 };

test("quirky grid runs end to end from the CLI on a tiny model, resumes after a kill, and quirky tables writes the tables", async (t) => {
  const dir = tempDir(t);
  await writeDataset(dir, "addition", { baseExamples: 300, maxDigits: 2, nValidation: 300, nTest: 300 });
  const modelDir = join(dir, "tiny");
  saveModel(randomModel(TINY, 1, 0.2), modelDir);
  writeCharTokenizer(join(modelDir, "tokenizer.json"));
  const exp = join(dir, "exp");
  const args = ["grid", "--model", modelDir, "--dataset", join(dir, "addition"), "--out", exp, "--reporters", "lr,mean-diff,random", "--max-train", "64", "--max-test", "48", "--batch-size", "2", "--random-samples", "20"]; // batches of 2: many chunks, so the kill lands mid-extraction

  // start, and kill it once the first batches of an extraction are on disk
  const child = spawn(process.execPath, [join(ROOT, "bin", "quirky.js"), ...args], { stdio: "ignore" });
  const root = join(exp, "tiny", "addition");
  const chunks = join(root, "A", "validation", "chunks");
  const started = Date.now();
  while (!(existsSync(chunks) && readdirSync(chunks).length >= 2) && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 5));
  child.kill("SIGKILL");
  await new Promise((r) => child.on("exit", r));
  assert.ok(existsSync(chunks) && !existsSync(join(root, "A", "validation", "meta.json")), "killed in the middle of the first extraction");

  const r = runCli(args);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /grid done: .*tiny\/addition/);
  for (const f of ["A_lr_metrics.json", "A_mean-diff_metrics.json"]) assert.ok(existsSync(join(root, "B", "test", f)), f);
  assert.ok(existsSync(join(root, "BH", "test", "AE_random_aucs_against_alice.json")));
  const summary = JSON.parse(readFileSync(join(root, "summary.json"), "utf8"));
  assert.ok(summary.length >= 10);
  assert.equal(summary[0].curves.alice.all.length, 3, "one value per layer");

  const tables = runCli(["tables", exp]);
  assert.equal(tables.code, 0, tables.stderr);
  assert.match(tables.stdout, /AE→BH\s+lr\s+AUROC/);
  assert.ok(readFileSync(join(exp, "pgr.csv"), "utf8").startsWith("transfer,reporter,dataset,auroc,floor,ceiling,pgr\n"));

  // a second run finds everything done
  const again = runCli(args);
  assert.equal(again.code, 0, again.stderr);
});
