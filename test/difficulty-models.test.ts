/**
 * Model-based difficulty inside quirky: log-odds of the few-shot prompts' answers under tiny models, checked against
 * an independent computation (one unpadded full forward per prompt + answer, log-softmax by hand), the mean loss over
 * the suite, the resumable per-model cache, and `quirky datasets create ... --difficulty-models`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateBase } from "../src/datasets/create.ts";
import { difficultyFromLogOdds, negLogSigmoid, type ScoringPrompt } from "../src/datasets/difficulty.ts";
import { readQuirkySplit } from "../src/datasets/io.ts";
import { cachedModelScorer, promptLogOdds } from "../src/datasets/model-difficulty.ts";
import type { DatasetName } from "../src/datasets/schema.ts";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import { loadModel, randomModel, saveModel } from "../src/model/load.ts";
import { loadTokenizer, type TextTokenizer } from "../src/model/tokenizer.ts";
import type { Transformer } from "../src/model/transformer.ts";
import { FIXTURES, runCli, tempDir } from "./helpers.ts";

const NEOX = { model_type: "gpt_neox", vocab_size: 98, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 2048 };
const LLAMA = { model_type: "llama", vocab_size: 98, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 24, max_position_embeddings: 2048 };
const SOURCES: Record<string, string> = { sentiment: "amazon_polarity", nli: "snli", sciq: "sciq" };

/** A model folder as a user has it: config.json, model.safetensors, tokenizer.json. */
function modelFolder(dir: string, config: Record<string, unknown>, seed: number): string {
  saveModel(randomModel(config, seed, 0.2), dir);
  writeCharTokenizer(join(dir, "tokenizer.json"));
  return dir;
}

/** log p(answer | prompt) from one forward over prompt + answer (no batch, no padding, no cache), softmax by hand. */
async function answerLogProb(model: Transformer, prompt: number[], answer: number[]): Promise<number> {
  const tokens = Int32Array.from([...prompt, ...answer]);
  const T = tokens.length;
  const { logits } = await model.forward({ tokens, B: 1, T }, { logits: "all" });
  const V = model.cfg.vocabSize;
  let lp = 0;
  for (let k = 0; k < answer.length; k++) {
    const row = Array.from(logits.subarray((prompt.length - 1 + k) * V, (prompt.length + k) * V));
    const z = row.reduce((s, x) => s + Math.exp(x), 0);
    lp += Math.log(Math.exp(row[answer[k]]) / z);
  }
  return lp;
}

async function referenceLogOdds(model: Transformer, tok: TextTokenizer, prompts: ScoringPrompt[]): Promise<number[]> {
  const out: number[] = [];
  for (const p of prompts) {
    const answers = p.choices.map((c) => tok.encode(c, false));
    let prompt = tok.encode(p.text);
    const room = model.cfg.maxPositions - Math.max(...answers.map((a) => a.length));
    if (prompt.length > room) prompt = prompt.slice(-room); // the reference keeps the prompt's end
    out.push((await answerLogProb(model, prompt, answers[1])) - (await answerLogProb(model, prompt, answers[0])));
  }
  return out;
}

async function basePrompts(name: DatasetName): Promise<ScoringPrompt[]> {
  const base = await generateBase(name, { source: join(FIXTURES, SOURCES[name]) });
  return base.map((ex) => ({ id: ex.prompt!.id, text: ex.prompt!.text, choices: ex.prompt!.choices }));
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

test("prompt log-odds (batched, left-padded, multi-token answers through the KV cache) equal one plain forward per answer", async (t) => {
  const dir = tempDir(t);
  const sciq = (await basePrompts("sciq")).slice(0, 12); // multi-token answers of different lengths
  const single: ScoringPrompt[] = [
    { id: "one-token answers", text: "Q: is it?\nA:", choices: ["N", "Y"] },
    { id: "mixed lengths", text: "Question: which?\nAnswer:", choices: ["x", " a longer answer"] },
  ];
  const prompts = [...sciq, ...single];
  for (const [name, config] of Object.entries({ neox: NEOX, llama: LLAMA })) {
    const m = modelFolder(join(dir, name), config, 3);
    const model = loadModel(m);
    const tok = loadTokenizer(m);
    const ours = await promptLogOdds(model, tok, prompts, { batchSize: 5 });
    const ref = await referenceLogOdds(model, tok, prompts);
    const d = maxDiff(ours, ref);
    console.log(`${name}: max |Δ log-odds| = ${d.toExponential(2)} (log-odds up to ${Math.max(...ref.map(Math.abs)).toFixed(2)})`);
    assert.ok(d < 1e-4, `${name}: ${d}`);
    assert.ok(ref.some((x) => Math.abs(x) > 0.1), "the models do tell the answers apart");
  }
});

test("a prompt longer than the model's positions keeps its last tokens, as the reference does, with a warning naming it", async (t) => {
  const dir = tempDir(t);
  const m = modelFolder(join(dir, "short"), { ...NEOX, max_position_embeddings: 300 }, 4);
  const model = loadModel(m);
  const tok = loadTokenizer(m);
  const prompts = (await basePrompts("sentiment")).slice(0, 4); // 1,100+ characters each
  const warnings: string[] = [];
  const ours = await promptLogOdds(model, tok, prompts, { batchSize: 3, warn: (w) => warnings.push(w) });
  assert.equal(warnings.length, 4);
  assert.match(warnings[0], new RegExp(`^${prompts[0].id}: prompt of \\d+ tokens \\+ answer does not fit the model's 300 positions; keeping its last 291 tokens`));
  assert.ok(maxDiff(ours, await referenceLogOdds(model, tok, prompts)) < 1e-4);
});

test("difficulty = mean over the suite of −log σ(±log-odds); per-model chunks are cached, reused, and redone when the model changes", async (t) => {
  const dir = tempDir(t);
  const all = await basePrompts("nli");
  const prompts = all.slice(0, 22); // 4 chunks of 6, the last one short
  const m1 = modelFolder(join(dir, "m1"), NEOX, 1);
  const m2 = modelFolder(join(dir, "m2"), LLAMA, 2);
  const cacheDir = join(dir, "cache");
  const logs: string[] = [];
  const progress: number[] = [];
  const scorer = (m: string) => cachedModelScorer(m, { cacheDir, chunkSize: 6, batchSize: 4, log: (l) => logs.push(l), onProgress: (d) => progress.push(d) });
  const lo1 = await scorer(m1)(prompts);
  assert.ok(maxDiff(lo1, await referenceLogOdds(loadModel(m1), loadTokenizer(m1), prompts)) < 1e-4);
  assert.equal(progress.at(-1), prompts.length);
  assert.match(logs[0], new RegExp(`^difficulty: m1: ${prompts.length} prompts in 4 chunks, 0 cached in `));
  const chunkDir = join(cacheDir, readdirSync(cacheDir).find((d) => d.startsWith("m1-"))!);
  const files = readdirSync(chunkDir).sort();
  assert.deepEqual(files, ["chunk-000000.json", "chunk-000001.json", "chunk-000002.json", "chunk-000003.json"]);
  const mtimes = files.map((f) => statSync(join(chunkDir, f)).mtimeMs);

  // a second run reads every chunk back (no model is loaded: the log says all are cached, the files are untouched)
  assert.deepEqual(await scorer(m1)(prompts), lo1);
  assert.match(logs[1], /4 chunks, 4 cached/);
  assert.deepEqual(files.map((f) => statSync(join(chunkDir, f)).mtimeMs), mtimes);

  // an interrupted run (chunk 2 missing), chunk 1 made from other prompts, chunk 3 unreadable → those three are redone
  const c1 = JSON.parse(readFileSync(join(chunkDir, "chunk-000001.json"), "utf8"));
  writeFileSync(join(chunkDir, "chunk-000001.json"), JSON.stringify({ ...c1, prompts_sha256: "0".repeat(64), log_odds: c1.log_odds.map(() => 99) }));
  rmSync(join(chunkDir, "chunk-000002.json"));
  writeFileSync(join(chunkDir, "chunk-000003.json"), "{not json");
  assert.deepEqual(await scorer(m1)(prompts), lo1);
  assert.match(logs[2], /4 chunks, 1 cached/);

  // other prompts reuse nothing; other weights (same folder name) get a cache of their own
  const fewer = prompts.slice(1);
  await scorer(m1)(fewer);
  assert.match(logs[3], /4 chunks, 0 cached/);
  saveModel(randomModel(NEOX, 7, 0.2), m1);
  const changed = await scorer(m1)(prompts);
  assert.match(logs[4], /4 chunks, 0 cached/);
  assert.ok(maxDiff(changed, lo1) > 1e-3);

  // the mean loss over the suite, as the reference's _get_difficulties
  const lo2 = await scorer(m2)(prompts);
  const labels = (await generateBase("nli", { source: join(FIXTURES, "snli") })).slice(0, 22).map((ex) => ex.prompt!.label);
  const loss = (lo: number, y: boolean) => Math.log1p(Math.exp(y ? -lo : lo));
  const expected = labels.map((y, i) => (loss(changed[i], y) + loss(lo2[i], y)) / 2);
  assert.ok(maxDiff(difficultyFromLogOdds([changed, lo2], labels), expected) < 1e-12);
});

test("`quirky datasets create sentiment|nli|sciq --difficulty-models` scores the prompts with the engine and resumes from its cache", async (t) => {
  const dir = tempDir(t);
  const m1 = modelFolder(join(dir, "tiny-a"), NEOX, 1);
  const m2 = modelFolder(join(dir, "tiny-b"), LLAMA, 2);
  const out = join(dir, "out");
  for (const name of ["sentiment", "nli", "sciq"] as DatasetName[]) {
    const args = ["datasets", "create", name, "--source", join(FIXTURES, SOURCES[name]), "--difficulty-models", `${m1},${m2}`, "--n-validation", "8", "--n-test", "8", "--out", out];
    const r = runCli(args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`difficulty: tiny-a: \\d+ prompts in \\d+ chunks, 0 cached`));
    assert.match(r.stderr, /difficulty: tiny-b: /);
    const meta = JSON.parse(readFileSync(join(out, name, "meta.json"), "utf8"));
    assert.deepEqual(meta.settings.difficulty_models, [m1, m2]);
    assert.equal(meta.settings.difficulty_model_fingerprints.length, 2);

    // every row's difficulty is its base example's mean loss, computed here independently
    const base = await generateBase(name, { source: join(FIXTURES, SOURCES[name]) });
    const prompts = base.map((ex) => ({ id: ex.prompt!.id, text: ex.prompt!.text, choices: ex.prompt!.choices }));
    const ref = await Promise.all([m1, m2].map((m) => referenceLogOdds(loadModel(m), loadTokenizer(m), prompts)));
    const byArgs = new Map(base.map((ex, i) => [JSON.stringify(ex.args), ref.reduce((s, lo) => s + negLogSigmoid(ex.prompt!.label ? lo[i] : -lo[i]), 0) / 2]));
    let rows = 0;
    for (const split of ["train", "validation", "test"] as const) {
      for (const row of await readQuirkySplit(join(out, name), split)) {
        const { character: _, ...args } = row.template_args;
        const key = name === "sciq" ? base.find((ex) => ex.args.question === args.question && ex.args.support === args.support) : undefined;
        const expected = key ? byArgs.get(JSON.stringify(key.args)) : byArgs.get(JSON.stringify(args));
        assert.ok(expected !== undefined, `row ${row.id} comes from a base example`);
        assert.ok(Math.abs(row.difficulty - expected!) < 1e-4, `${name} row ${row.id}: ${row.difficulty} vs ${expected}`);
        rows++;
      }
    }
    assert.ok(rows > 0);

  }
  // again with --force: the dataset is remade from the cached scores alone
  const sciq = ["datasets", "create", "sciq", "--source", join(FIXTURES, "sciq"), "--difficulty-models", `${m1},${m2}`, "--n-validation", "8", "--n-test", "8", "--out", out];
  const again = runCli([...sciq, "--force"]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /difficulty: tiny-a: \d+ prompts in (\d+) chunks, \1 cached/);
  assert.match(again.stderr, /difficulty: tiny-b: \d+ prompts in (\d+) chunks, \1 cached/);
  // unchanged models: the dataset is kept; other weights in the same folder: it is made again
  assert.match(runCli(sciq).stdout, /^exists /);
  saveModel(randomModel(LLAMA, 9, 0.2), m2);
  const remade = runCli(sciq);
  assert.match(remade.stdout, /^created /);
  assert.match(remade.stderr, /difficulty: tiny-a: \d+ prompts in (\d+) chunks, \1 cached/);
  assert.match(remade.stderr, /difficulty: tiny-b: \d+ prompts in \d+ chunks, 0 cached/);

  // bad input: one line, exit 1, nothing written
  const none = join(dir, "none");
  const noModels = runCli(["datasets", "create", "nli", "--source", join(FIXTURES, "snli"), "--out", none]);
  assert.equal(noModels.code, 1);
  assert.match(noModels.stderr, /nli needs --difficulties FILE or --difficulty-models M1,M2,\.\.\./);
  const missing = runCli(["datasets", "create", "nli", "--source", join(FIXTURES, "snli"), "--difficulty-models", `${m1},${join(dir, "nope")}`, "--out", none]);
  assert.equal(missing.code, 1);
  assert.deepEqual(missing.stderr.trim().split("\n").filter((l) => l.startsWith("quirky:")), [`quirky: ${join(dir, "nope")}: not a model folder (no config.json); --difficulty-models takes Hugging Face model folders`]);
  assert.equal(existsSync(none), false);
});
