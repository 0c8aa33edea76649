import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeDataset } from "../src/datasets/create.ts";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import { randomModel, saveModel } from "../src/model/load.ts";
import { parseShard, runConfig, validateRunConfig } from "../src/pipeline/run.ts";
import { ROOT, runCli, tempDir, files, TINY_NEOX as TINY } from "./helpers.ts";



async function setup(t: { after: (fn: () => void) => void }) {
  const dir = tempDir(t);
  const modelDir = join(dir, "tiny");
  saveModel(randomModel(TINY, 1, 0.2), modelDir);
  writeCharTokenizer(join(modelDir, "tokenizer.json"));
  const data = await writeDataset(join(dir, "data"), "addition", { baseExamples: 300, maxDigits: 2, nValidation: 300, nTest: 300 });
  const cfg = (out: string) => validateRunConfig({ out, models: [{ path: modelDir }], datasets: [{ path: data.dir }], reporters: ["lr", "mean-diff", "random"], maxTrain: 48, maxTest: 32, batchSize: 16, randomSamples: 20 }, "test");
  return { dir, modelDir, cfg, data };
}

test("quirky run with --shard 0/2 and --shard 1/2 produces exactly the files of one unsharded run", async (t) => {
  const { dir, cfg, data } = await setup(t);
  // same folder name in both places: the report names the experiments folder
  const whole = await runConfig(cfg(join(dir, "whole", "exp")));
  assert.ok(whole.finished);
  const s0 = await runConfig(cfg(join(dir, "sharded", "exp")), { index: 0, count: 2 });
  assert.ok(!s0.finished, "shard 0 alone does not finish the grid");
  assert.ok(!existsSync(join(dir, "sharded", "exp", "pgr.json")));
  const s1 = await runConfig(cfg(join(dir, "sharded", "exp")), { index: 1, count: 2 });
  assert.ok(s1.finished);
  const a = files(join(dir, "whole", "exp"));
  const b = files(join(dir, "sharded", "exp"));
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  for (const [f, bytes] of a) assert.ok(bytes.equals(b.get(f)!), `${f} differs`);
  for (const f of ["pgr.json", "report/index.html", "tiny/addition/anomaly_lr.json", "tiny/addition/anomaly_mean-diff.json", "tiny/addition/intervention_mean-diff.json", "tiny/addition/summary.json", "tiny/addition/run-info.json"]) assert.ok(a.has(f), f);
  // how the results were made, for the report's header: this checkout's version, the dataset's settings, the grid's
  const info = JSON.parse(readFileSync(join(dir, "whole", "exp", "tiny", "addition", "run-info.json"), "utf8"));
  assert.equal(info.quirky, JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
  assert.deepEqual(info.dataset, { name: "addition", hub_name: data.meta.hub_name, settings: data.meta.settings, counts: data.meta.counts });
  assert.deepEqual(info.grid, { reporters: ["lr", "mean-diff", "random"], maxTrain: 48, maxTest: 32, method: "first", standardized: false, seed: 633, randomSamples: 20 });
  const page = readFileSync(join(dir, "whole", "exp", "report", "index.html"), "utf8");
  assert.match(page, new RegExp(`<td class="version"><code>${info.quirky.replace(/\./g, "\\.")}</code></td>`), "the header names the version that made the results");
});

test("shards from SLURM array variables; bad shard specs and configs are clear errors", () => {
  assert.deepEqual(parseShard(undefined, { SLURM_ARRAY_TASK_ID: "3", SLURM_ARRAY_TASK_COUNT: "4" }), { index: 3, count: 4 });
  assert.deepEqual(parseShard(undefined, { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_COUNT: "4", SLURM_ARRAY_TASK_MIN: "2" }), { index: 3, count: 4 });
  assert.deepEqual(parseShard("1/2", {}), { index: 1, count: 2 });
  assert.throws(() => parseShard("2/2", {}), /expected i\/n with 0 ≤ i < n/);
  assert.throws(() => validateRunConfig({ out: "x", models: [], datasets: [{ path: "d" }] }, "cfg.json"), /cfg.json: 'models' must be a non-empty list/);
  assert.throws(() => validateRunConfig({ out: "x", models: [{ path: "m" }], datasets: [{ path: "d" }], reporters: ["svm"] }, "cfg.json"), /unknown reporter 'svm'/);
  assert.throws(() => validateRunConfig({ out: "x", models: [{ path: "m" }], datasets: [{ path: "d" }], maxTrian: 3 }, "cfg.json"), /unknown key 'maxTrian'/);
});

test("the demo pipeline at reduced size, from the CLI, with quirky slurm writing an array script", async (t) => {
  const { dir, modelDir } = await setup(t);
  const r = runCli(["demo", "--model", modelDir, "--out", join(dir, "demo"), "--max-train", "48", "--max-test", "32"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /A→B, against Alice's labels on Bob's disagreements/);
  assert.match(r.stdout, /report: .*index\.html/);
  assert.ok(existsSync(join(dir, "demo", "report", "index.html")));
  // anomaly detection on every fitted reporter's outputs, each printed, and the average beside the paper's
  assert.match(r.stdout, /anomaly mahalanobis by reporter +lr [01]\.\d{3} +mean-diff [01]\.\d{3} +lda [01]\.\d{3} +lr-on-pair .* crc [01]\.\d{3}/);
  assert.match(r.stdout, /paper: Mallen et al\. 2023, Mahalanobis on each probe's outputs/);
  // each reporter's row ends with the paper's number for it (figures.ipynb cell 31), a dash for Diff-in-means on pairs
  assert.match(r.stdout, /\nmean-diff-on-pair .* —\n/);
  for (const reporter of ["lr", "ccs"]) {
    const file = join(dir, "demo", "quirky-default", "addition", `anomaly_${reporter}.json`);
    const results = (JSON.parse(readFileSync(file, "utf8")) as { results: { detector: string; auroc: number }[] }).results;
    const [plain, minusDiag] = ["mahalanobis", "mahalanobis-minus-diag"].map((d) => results.find((x) => x.detector === d)!.auroc.toFixed(2));
    const paper = { lr: "0.94", ccs: "0.90" }[reporter];
    assert.match(r.stdout, new RegExp(`\\n${reporter} +${plain} +${minusDiag} +${paper}\\n`), `${reporter}'s averages are its one experiment's AUROCs, then the paper's`);
  }
  // `quirky anomaly --reporter all` finds every reporter fitted on AE and reuses what the demo computed with the same settings
  const root = join(dir, "demo", "quirky-default", "addition");
  const all = runCli(["anomaly", "--root", root, "--reporter", "all"]);
  assert.equal(all.code, 0, all.stderr);
  assert.deepEqual([...all.stdout.matchAll(/^(\S+):$/gm)].map((m) => m[1]), ["lr", "mean-diff", "lda", "lr-on-pair", "mean-diff-on-pair", "ccs", "crc"]);
  assert.equal(all.stdout.match(/^unchanged .*anomaly_.*\.json$/gm)?.length, 7);
  const none = runCli(["anomaly", "--root", join(dir, "demo"), "--reporter", "all"]);
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /no reporter's AE log-odds found/);
  const cfgPath = join(dir, "run.json");
  writeFileSync(cfgPath, JSON.stringify({ out: "exp", models: [{ path: modelDir }], datasets: [{ create: "addition", options: { baseExamples: 300, maxDigits: 2, nValidation: 300, nTest: 300 } }] }));
  const s = runCli(["slurm", cfgPath, "--tasks", "4", "--out", join(dir, "q.sbatch")]);
  assert.equal(s.code, 0, s.stderr);
  const script = readFileSync(join(dir, "q.sbatch"), "utf8");
  assert.match(script, /#SBATCH --array=0-3/);
  assert.match(script, /quirky run/);
  const missing = runCli(["demo", "--model", join(dir, "nope"), "--out", join(dir, "d2")]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no model here/);
});

test("a model with 'datasets' runs on those only (a zoo pairs each adapter with its dataset); unknown names are refused", async (t) => {
  const { dir, modelDir, data } = await setup(t);
  const sub = await writeDataset(join(dir, "data"), "subtraction", { baseExamples: 300, maxDigits: 2, nValidation: 300, nTest: 300, distinctOperands: true });
  const base = { reporters: ["lr"], maxTrain: 32, maxTest: 24, batchSize: 16, randomSamples: 10, anomaly: false, interventions: false, report: false };
  const cfg = validateRunConfig({
    ...base, out: join(dir, "exp"),
    models: [{ path: modelDir, name: "only-add", datasets: ["addition"] }, { path: modelDir, name: "only-sub", datasets: ["subtraction"] }],
    datasets: [{ path: data.dir }, { path: sub.dir }],
  }, "test");
  const r = await runConfig(cfg);
  assert.ok(r.finished);
  assert.equal(r.units, 2);
  for (const [model, ds, present] of [["only-add", "addition", true], ["only-add", "subtraction", false], ["only-sub", "subtraction", true], ["only-sub", "addition", false]] as const) {
    assert.equal(existsSync(join(dir, "exp", model, ds, "AE")), present, `${model}/${ds}`);
  }
  const pgr = JSON.parse(readFileSync(join(dir, "exp", "pgr.json"), "utf8")) as { perDataset: Record<string, unknown> }[];
  assert.deepEqual(Object.keys(pgr[0].perDataset).sort(), ["addition", "subtraction"]);
  assert.throws(() => validateRunConfig({ ...base, out: "x", models: [{ path: "m", datasets: ["adition"] }], datasets: [{ path: "d" }] }, "cfg.json"), /models\[0\]\.datasets must be a non-empty list of dataset names/);
  const notThere = validateRunConfig({ ...base, out: join(dir, "exp2"), models: [{ path: modelDir, datasets: ["multiplication"] }], datasets: [{ path: data.dir }] }, "cfg.json");
  await assert.rejects(runConfig(notThere), /models\[0\]\.datasets: multiplication not among the config's datasets \(addition\)/);
});

test("anomaly detection's no-quirk control: the same experiment on the control model, refused when the control changes", async (t) => {
  const { dir, modelDir, data } = await setup(t);
  const otherDir = join(dir, "other-model");
  saveModel(randomModel(TINY, 2, 0.2), otherDir);
  writeCharTokenizer(join(otherDir, "tokenizer.json"));
  const base = { reporters: ["lr"], maxTrain: 48, maxTest: 32, batchSize: 16, randomSamples: 10, anomaly: { detectors: ["mahalanobis"], bootstrap: 20 }, interventions: false };
  const cfg = (otherControl: string) => validateRunConfig({
    ...base, out: join(dir, "exp"), datasets: [{ path: data.dir }],
    models: [{ path: modelDir, name: "self", control: { path: modelDir } }, { path: modelDir, name: "other", control: { path: otherControl } }],
  }, "test");
  assert.ok((await runConfig(cfg(otherDir))).finished);
  const read = (p: string) => JSON.parse(readFileSync(join(dir, "exp", p), "utf8"));
  // a control that is the model itself runs the very same experiment: same rows, probes, detector and seeds
  assert.deepEqual(read("self/addition/control/anomaly_lr.json").results, read("self/addition/anomaly_lr.json").results);
  // another control: its own states (its model recorded), the quirky experiment's rows, other AUROCs
  for (const dist of ["AE/validation", "AE/test", "AH/test", "BH/test"]) {
    const control = read(`other/addition/control/${dist}/meta.json`);
    const main = read(`other/addition/${dist}/meta.json`);
    assert.equal(control.model, "other-model", dist);
    assert.notEqual(control.provenance.inputs.model, main.provenance.inputs.model, dist);
    assert.deepEqual(control.labels, main.labels, `${dist}: the same rows`);
  }
  assert.notDeepEqual(read("other/addition/control/anomaly_lr.json").results, read("other/addition/anomaly_lr.json").results);
  // the report sets the control beside the detector
  assert.match(readFileSync(join(dir, "exp", "report", "index.html"), "utf8"), /no-quirk control, mean/);
  const numbers = readFileSync(join(dir, "exp", "report", "data", "anomaly.json"), "utf8");
  const self = (JSON.parse(numbers) as { model: string; auroc: number; control_auroc: number }[]).find((r) => r.model === "self")!;
  assert.equal(self.control_auroc, self.auroc, "the report's numbers carry the control beside the detector");
  // a control computed from another model is never reused: refused, or recomputed with force
  await assert.rejects(runConfig(cfg(modelDir)), /other\/addition\/control\/AE\/validation\/meta\.json: computed from other inputs than now \(model: "other-model" → "tiny"/);
  assert.ok((await runConfig(cfg(modelDir), undefined, () => {}, { force: true })).finished);
  assert.deepEqual(read("other/addition/control/anomaly_lr.json").results, read("other/addition/anomaly_lr.json").results);
  assert.throws(() => validateRunConfig({ ...base, out: "x", models: [{ path: "m", control: "m" }], datasets: [{ path: "d" }] }, "cfg.json"), /models\[0\]\.control must be an object \{ path, adapter\? \}/);
  assert.throws(() => validateRunConfig({ ...base, out: "x", models: [{ path: "m", control: { model: "m" } }], datasets: [{ path: "d" }] }, "cfg.json"), /unknown key 'model' in models\[0\]\.control/);
});
