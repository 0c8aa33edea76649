/**
 * Runs you can trust: a cached result is reused only when it was computed from the same inputs and settings,
 * shards that share a folder (started at the same time) leave exactly the files of one run, config mistakes and
 * bad data are clear errors. Each case here once gave wrong numbers with exit code 0.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { writeDataset } from "../src/datasets/create.ts";
import { readQuirkyJsonl } from "../src/datasets/io.ts";
import { loadExamples } from "../src/extract/examples.ts";
import { extractStates } from "../src/extract/extract.ts";
import { readStatesMeta } from "../src/extract/states.ts";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import { randomModel, saveModel } from "../src/model/load.ts";
import { loadTokenizer } from "../src/model/tokenizer.ts";
import { runConfig, validateRunConfig } from "../src/pipeline/run.ts";
import { runTransfer, testDirOf } from "../src/analysis/transfer.ts";
import { writeFileAtomic } from "../src/util/atomic.ts";
import { ROOT, runCli, tempDir, files, TINY_NEOX as TINY } from "./helpers.ts";



function assertSameFiles(a: Map<string, Buffer>, b: Map<string, Buffer>, what: string) {
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort(), `${what}: the same files`);
  for (const [f, bytes] of a) assert.ok(bytes.equals(b.get(f)!), `${what}: ${f} differs`);
}

async function models(dir: string) {
  const m1 = join(dir, "m1", "tiny");
  const m2 = join(dir, "m2", "tiny"); // same folder name, other weights
  saveModel(randomModel(TINY, 1, 0.2), m1);
  saveModel(randomModel(TINY, 2, 0.2), m2);
  writeCharTokenizer(join(m1, "tokenizer.json"));
  writeCharTokenizer(join(m2, "tokenizer.json"));
  const data = await writeDataset(join(dir, "data"), "addition", { baseExamples: 300, maxDigits: 2, nValidation: 300, nTest: 300 });
  return { m1, m2, data: data.dir };
}

test("extract into a folder holding states of another model, size or distribution is refused; --force recomputes", async (t) => {
  const dir = tempDir(t);
  const { m1, m2, data } = await models(dir);
  const out = join(dir, "states");
  const base = ["extract", "--dataset", data, "--distribution", "A", "--split", "test", "--out", out, "--batch-size", "8"];
  let r = runCli([...base, "--model", m1, "--max-examples", "20"]);
  assert.equal(r.code, 0, r.stderr);
  const first = readFileSync(join(out, "states.safetensors"));
  r = runCli([...base, "--model", m1, "--max-examples", "20"]);
  assert.match(r.stdout, /^skipped 20 examples/, "the same inputs are reused");

  for (const [args, why] of [
    [["--model", m2, "--max-examples", "20"], /computed from other inputs than now \(the model's or adapter's files changed \(fingerprint [0-9a-f]{16} → [0-9a-f]{16}\)\)/],
    [["--model", m1, "--max-examples", "24"], /maxExamples: 20 → 24/],
    [["--model", m1, "--max-examples", "20", "--seed", "0"], /seed: 633 → 0/],
  ] as const) {
    r = runCli([...base, ...args]);
    assert.equal(r.code, 1, `${args.join(" ")}: refused`);
    assert.match(r.stderr, why);
    assert.match(r.stderr, /pass --force to recompute it, or use another output folder/);
    assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
    assert.ok(readFileSync(join(out, "states.safetensors")).equals(first), "the old states stay as they were");
  }
  r = runCli([...base.map((a) => (a === "A" ? "B" : a)), "--model", m1, "--max-examples", "20"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /distribution: "A" → "B"|computed from other inputs/);

  r = runCli([...base, "--model", m2, "--max-examples", "20", "--force"]);
  assert.equal(r.code, 0, r.stderr);
  const clean = join(dir, "clean");
  assert.equal(runCli([...base.map((a) => (a === out ? clean : a)), "--model", m2, "--max-examples", "20"]).code, 0);
  assert.ok(readFileSync(join(out, "states.safetensors")).equals(readFileSync(join(clean, "states.safetensors"))), "forced: the new model's states");
  assert.equal(readStatesMeta(out).provenance.fingerprint, readStatesMeta(clean).provenance.fingerprint);
});

test("an extraction killed and resumed with another model or batch size never mixes chunks", async (t) => {
  const dir = tempDir(t);
  const { m1, m2, data } = await models(dir);
  const tok = loadTokenizer(m1);
  const { examples } = await loadExamples(data, { distribution: "A", split: "test", maxExamples: 40 });
  const info = { model: "tiny", adapter: null, dataset: "addition", distribution: "A", split: "test", settings: {} };
  const quiet = () => {};
  const kill = (after: number) => (done: number) => {
    if (done >= after) throw new Error("killed");
  };
  const one = randomModel(TINY, 1, 0.2);
  const two = randomModel(TINY, 2, 0.2);
  const expected = async (model: typeof one, batchSize: number) => {
    const out = join(dir, `expected-${model === one ? 1 : 2}-${batchSize}`);
    await extractStates({ model, tokenizer: tok, examples, outDir: out, info, batchSize, warn: quiet });
    return readFileSync(join(out, "states.safetensors"));
  };

  // killed with model 1, resumed with model 2: the chunks of model 1 are discarded, with a message
  const a = join(dir, "a");
  await assert.rejects(extractStates({ model: one, tokenizer: tok, examples, outDir: a, info, batchSize: 8, warn: quiet, onProgress: kill(24) }), /killed/);
  const warnings: string[] = [];
  await extractStates({ model: two, tokenizer: tok, examples, outDir: a, info, batchSize: 8, warn: (m) => warnings.push(m) });
  assert.ok(warnings.some((w) => /discarding the chunks of an interrupted extraction \(other inputs\)/.test(w)), warnings.join("\n"));
  assert.ok(readFileSync(join(a, "states.safetensors")).equals(await expected(two, 8)), "all rows from model 2");

  // killed at batch size 8, resumed at 16: was "wrote 559312 data bytes, the header promises ..."
  const b = join(dir, "b");
  await assert.rejects(extractStates({ model: one, tokenizer: tok, examples, outDir: b, info, batchSize: 8, warn: quiet, onProgress: kill(24) }), /killed/);
  warnings.length = 0;
  await extractStates({ model: one, tokenizer: tok, examples, outDir: b, info, batchSize: 16, warn: (m) => warnings.push(m) });
  assert.ok(warnings.some((w) => /batch size 8, now 16/.test(w)), warnings.join("\n"));
  assert.ok(readFileSync(join(b, "states.safetensors")).equals(await expected(one, 16)));
  assert.deepEqual(readdirSync(b).sort(), ["meta.json", "states.safetensors"], "no chunks, locks or temp files left");
  void m2;
});

test("quirky run after a settings or dataset change refuses the old results; --force recomputes them as a fresh run would", async (t) => {
  const dir = tempDir(t);
  const { m1 } = await models(dir);
  const cfg = (out: string, over: Record<string, unknown> = {}) =>
    validateRunConfig({ out, models: [{ path: m1 }], datasets: [{ create: "addition", options: { baseExamples: 300, maxDigits: 2, nValidation: 300, nTest: 300 } }], reporters: ["lr", "mean-diff"], maxTrain: 40, maxTest: 24, batchSize: 16, randomSamples: 20, ...over }, "test");
  const out = join(dir, "exp");
  assert.ok((await runConfig(cfg(out))).finished);
  assert.ok((await runConfig(cfg(out))).finished, "a rerun with the same settings is done at once");

  await assert.rejects(runConfig(cfg(out, { maxTest: 32 })), /A\/test\/meta.json: computed from other inputs than now \(n: 24 → 32; maxExamples: 24 → 32\); pass --force/);
  const regen = { datasets: [{ create: "addition", options: { baseExamples: 300, maxDigits: 2, nValidation: 300, nTest: 300, seed: 1 } }] };
  await assert.rejects(runConfig(cfg(out, regen)), /computed from other inputs than now \(the dataset's rows changed\)/, "a regenerated dataset invalidates what was computed from it");
  await assert.rejects(runConfig(cfg(out, { seed: 0 })), /seed: 633 → 0/, "seed 0 is a seed");

  assert.ok((await runConfig(cfg(out, { maxTest: 32 }), undefined, () => {}, { force: true })).finished);
  const fresh = join(dir, "fresh", "exp");
  assert.ok((await runConfig(cfg(fresh, { maxTest: 32 }))).finished);
  const a = files(out);
  const b = files(fresh);
  for (const f of [...a.keys()].filter((k) => k.startsWith("datasets/") || k.startsWith("report/"))) a.delete(f);
  for (const f of [...b.keys()].filter((k) => k.startsWith("datasets/") || k.startsWith("report/"))) b.delete(f);
  assertSameFiles(a, b, "forced rerun vs fresh run");
});

test("two and four shards started together in one folder leave exactly the files of one run, and nothing else", async (t) => {
  const dir = tempDir(t);
  const { m1, data } = await models(dir);
  const config = (out: string) => {
    const path = join(dir, `${out}.json`);
    writeFileSync(path, JSON.stringify({ out, models: [{ path: m1 }], datasets: [{ path: data }], reporters: ["lr", "mean-diff", "lda", "random"], maxTrain: 40, maxTest: 24, batchSize: 8, randomSamples: 20 }));
    return path;
  };
  const run = (cfgPath: string, shard?: string) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(ROOT, "bin", "quirky.js"), "run", cfgPath, ...(shard ? ["--shard", shard] : [])], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      child.on("exit", (code) => resolve({ code, stderr }));
    });
  const whole = await run(config("whole"));
  assert.equal(whole.code, 0, whole.stderr);
  // a leftover of a killed writer on this machine (a dead pid), which the next run must clean up
  const deadPid = 4_000_000 + (process.pid % 100_000);
  const tag = createHash("sha256").update(hostname()).digest("hex").slice(0, 8);
  for (const n of [2, 4]) {
    const name = `sharded${n}`;
    mkdirSync(join(dir, name, "datasets", `.addition.${tag}-${deadPid}.abc.tmp`), { recursive: true });
    const results = await Promise.all(Array.from({ length: n }, (_, i) => run(config(name), `${i}/${n}`)));
    results.forEach((r, i) => assert.equal(r.code, 0, `shard ${i}/${n}: ${r.stderr}`));
    const a = files(join(dir, "whole"));
    const b = files(join(dir, name));
    // the report names its folder; everything else must be byte-equal
    for (const m of [a, b]) for (const f of [...m.keys()].filter((k) => k.startsWith("report/"))) m.delete(f);
    assertSameFiles(a, b, `${n} shards`);
    assert.ok(![...b.keys()].some((f) => /\.tmp$|\.lock$|chunks\//.test(f)), "no temp files, locks or chunks left");
    assert.ok(!readdirSync(join(dir, name, "datasets")).some((f) => f.endsWith(".tmp")), "the dead writer's temp folder is gone");
  }
});

test("config mistakes are one-line errors that list the known names", () => {
  const base = { out: "x", models: [{ path: "m" }], datasets: [{ path: "d" }] };
  const bad = (over: Record<string, unknown>, re: RegExp) => assert.throws(() => validateRunConfig({ ...base, ...over }, "cfg.json"), re);
  bad({ models: [{ path: "m", adpater: "a" }] }, /cfg.json: unknown key 'adpater' in models\[0\] \(known: path, adapter, name, datasets, control\)/);
  bad({ datasets: [{ create: "addition", options: { base_examples: 300 } }] }, /unknown key 'base_examples' in datasets\[0\]\.options \(known: seed, baseExamples, maxDigits/);
  bad({ reporters: ["mean-diff"], anomaly: { reporter: "lr" } }, /anomaly reporter 'lr' must be one of the fitted reporters the run computes \(mean-diff\)/);
  bad({ reporters: ["lr", "lda"], anomaly: { reporters: ["lr", "ccs"] } }, /anomaly reporter 'ccs' must be one of the fitted reporters the run computes \(lr, lda\)/);
  bad({ anomaly: { reporter: "lr", reporters: ["lda"] } }, /give 'anomaly.reporters' \(a list\) or 'anomaly.reporter' \(one name\), not both/);
  bad({ reporters: ["random"], anomaly: {} }, /anomaly detection needs a fitted reporter/);
  bad({ reporters: ["lr"], interventions: { reporter: "mean-diff", train: "A", test: "B" } }, /interventions.reporter 'mean-diff' is not among the run's reporters \(lr\)/);
  bad({ interventions: { reporter: "lr", train: "A", test: "oops" } }, /interventions.test 'oops' must be one of the distributions \(all, A, B/);
  bad({ models: [{ path: "a/tiny" }, { path: "b/tiny" }] }, /models\[0\] and models\[1\] would both write results to 'tiny\/': give them different 'name's/);
  bad({ anomaly: { reporter: "lr", methods: ["lof"] } }, /unknown key 'methods' in anomaly \(known: reporters, reporter, detectors, bootstrap\)/);
  bad({ seed: -1 }, /'seed' must be a whole number ≥ 0/);
  const ok = validateRunConfig({ ...base, seed: 0, method: "all", models: [{ path: "a/tiny" }, { path: "b/tiny", name: "tiny-b" }] }, "cfg.json");
  assert.equal(ok.seed, 0);
  assert.equal(ok.method, "all");
  // anomaly detection: by default on every fitted reporter (left to the run); one name or a list narrows it
  assert.equal(ok.anomaly, undefined);
  assert.deepEqual(validateRunConfig({ ...base, anomaly: { reporter: "lda" } }, "cfg.json").anomaly, { reporters: ["lda"] });
  assert.deepEqual(validateRunConfig({ ...base, anomaly: { reporters: ["lr", "ccs", "lr"] } }, "cfg.json").anomaly, { reporters: ["lr", "ccs"] });
  assert.equal(validateRunConfig({ ...base, reporters: ["random"] }, "cfg.json").anomaly, false);
});

test("bad data is a clear error: a null difficulty_quantile, NaN in the LM's log-odds, an unwritable path", async (t) => {
  const dir = tempDir(t);
  const row = { id: "1", template_args: { character: "Alice", op1: 1, op2: 2, result: 3 }, character: "Alice", label: true, alice_label: true, bob_label: true, difficulty: 1, difficulty_quantile: null };
  writeFileSync(join(dir, "test.jsonl"), JSON.stringify(row) + "\n");
  assert.throws(() => readQuirkyJsonl(join(dir, "test.jsonl")), /test.jsonl: row 0: difficulty_quantile is missing/);
  writeFileSync(join(dir, "test.jsonl"), JSON.stringify({ ...row, difficulty_quantile: 1.5 }) + "\n");
  assert.throws(() => readQuirkyJsonl(join(dir, "test.jsonl")), /difficulty_quantile is 1.5, outside \[0, 1\]/);

  writeFileSync(join(dir, "file"), "");
  assert.throws(() => writeFileAtomic(join(dir, "file", "out.json"), "{}"), new RegExp(`${join(dir, "file", "out.json")}: cannot write \\(ENOTDIR: a parent is not a folder\\)`));

  // NaN only in lm_log_odds: named, and nothing written for that test
  const { m1, data } = await models(dir);
  const root = join(dir, "exp", "tiny", "addition");
  const r = runCli(["grid", "--model", m1, "--dataset", data, "--out", join(dir, "exp"), "--reporters", "lr", "--max-train", "24", "--max-test", "16"]);
  assert.equal(r.code, 0, r.stderr);
  const states = join(testDirOf(root, "B"), "states.safetensors");
  const bytes = readFileSync(states);
  bytes.writeFloatLE(NaN, bytes.length - 4); // the last value of the file: lm_log_odds[n − 1]
  writeFileSync(states, bytes);
  for (const f of readdirSync(testDirOf(root, "B")).filter((f) => f.startsWith("A_lr"))) writeFileSync(join(testDirOf(root, "B"), f), "{}"); // stale outputs, then forced
  await assert.rejects(runTransfer(root, { reporter: "lr", train: "A", tests: ["B"], labelCol: "label" }, { force: true }), /B\/test\/states.safetensors: non-finite lm_log_odds, row 15 \(value NaN\)/);
});

test("transfer --label-col alice after a label run writes its own files instead of printing done over the old ones", async (t) => {
  const dir = tempDir(t);
  const { m1, data } = await models(dir);
  const exp = join(dir, "exp");
  assert.equal(runCli(["grid", "--model", m1, "--dataset", data, "--out", exp, "--reporters", "lr", "--max-train", "24", "--max-test", "16"]).code, 0);
  const root = join(exp, "tiny", "addition");
  const before = readFileSync(join(testDirOf(root, "B"), "A_lr_metrics.json"));
  const r = runCli(["transfer", "--root", root, "--reporter", "lr", "--train", "A", "--test", "B", "--label-col", "alice"]);
  assert.equal(r.code, 0, r.stderr);
  const alice = JSON.parse(readFileSync(join(testDirOf(root, "B"), "A_lr_against_alice_metrics.json"), "utf8"));
  assert.equal(alice.labelCol, "alice");
  assert.ok(existsSync(join(testDirOf(root, "B"), "A_lr_against_alice_log_odds.safetensors")));
  assert.ok(readFileSync(join(testDirOf(root, "B"), "A_lr_metrics.json")).equals(before), "the label-fitted metrics are untouched");
  // another seed over the same files is refused, not reported as done
  const again = runCli(["transfer", "--root", root, "--reporter", "lr", "--train", "A", "--test", "B", "--seed", "1"]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /A\/validation\/lr_reporters_label.json: computed from other inputs than now \(seed: 633 → 1\)/);
});
