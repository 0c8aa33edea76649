import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import { createQuirkyDataset, writeDataset } from "../src/datasets/create.ts";
import { readQuirkyJsonl, readQuirkyParquet, readQuirkySplit, writeQuirkyJsonl, writeQuirkyParquet } from "../src/datasets/io.ts";
import type { QuirkyRow } from "../src/datasets/schema.ts";
import { tempDir } from "./helpers.ts";

const SMALL = { baseExamples: 500, nValidation: 200, nTest: 200 };

/** Leaf columns of a parquet file as "path: TYPE/CONVERTED". */
async function columnTypes(path: string): Promise<Record<string, string>> {
  const md = await parquetMetadataAsync(await asyncBufferFromFile(path));
  const out: Record<string, string> = {};
  const walk = (node: ReturnType<typeof parquetSchema>, prefix: string) => {
    for (const c of node.children) {
      const name = prefix + c.element.name;
      if (c.children.length) walk(c, name + ".");
      else out[name] = [c.element.type, c.element.converted_type].filter(Boolean).join("/");
    }
  };
  walk(parquetSchema(md), "");
  return out;
}

test("parquet we write reads back in hyparquet with the released column names and types", async (t) => {
  const dir = tempDir(t);
  const { test: rows } = await createQuirkyDataset("addition", SMALL);
  const path = join(dir, "test.parquet");
  writeQuirkyParquet(path, rows);

  assert.deepEqual(await columnTypes(path), {
    id: "BYTE_ARRAY/UTF8",
    "template_args.character": "BYTE_ARRAY/UTF8",
    "template_args.op1": "INT64",
    "template_args.op2": "INT64",
    "template_args.result": "INT64",
    character: "BYTE_ARRAY/UTF8",
    label: "BOOLEAN",
    alice_label: "BOOLEAN",
    bob_label: "BOOLEAN",
    difficulty: "INT64",
    difficulty_quantile: "DOUBLE",
  });
  // raw hyparquet objects: the struct and int64 values as the released files hold them
  const raw = await parquetReadObjects({ file: await asyncBufferFromFile(path) });
  assert.equal(raw.length, rows.length);
  assert.deepEqual(raw[0].template_args, {
    character: rows[0].character,
    op1: BigInt(rows[0].template_args.op1 as number),
    op2: BigInt(rows[0].template_args.op2 as number),
    result: BigInt(rows[0].template_args.result as number),
  });
  // and through our reader, equal to what we wrote
  assert.deepEqual(await readQuirkyParquet(path), rows);
});

test("string template args, missing values and float difficulties survive parquet and JSONL", async (t) => {
  const dir = tempDir(t);
  const rows: QuirkyRow[] = [
    { id: "0a1b2c3d", template_args: { character: "Alice", city: "Tōkyō", admin_name: null, country: "Japan" }, character: "Alice", label: true, alice_label: true, bob_label: false, difficulty: -7.5, difficulty_quantile: 0.25 },
    { id: "ffffffff", template_args: { character: "Bob", city: 'Say "hi"\n', admin_name: "Ōsaka", country: "Japan" }, character: "Bob", label: false, alice_label: true, bob_label: false, difficulty: Infinity, difficulty_quantile: 0.75 },
  ];
  writeQuirkyParquet(join(dir, "x.parquet"), rows);
  assert.deepEqual(await readQuirkyParquet(join(dir, "x.parquet")), rows);
  assert.equal((await columnTypes(join(dir, "x.parquet"))).difficulty, "DOUBLE");
  writeQuirkyJsonl(join(dir, "x.jsonl"), rows);
  assert.deepEqual(readQuirkyJsonl(join(dir, "x.jsonl")), rows);
  assert.equal(readFileSync(join(dir, "x.jsonl"), "utf8").split("\n").length, 3);
});

test("JSONL round trip of a generated dataset", async (t) => {
  const dir = tempDir(t);
  const r = await writeDataset(dir, "multiplication", { ...SMALL, format: "both" });
  for (const split of ["train", "validation", "test"] as const) {
    const fromJsonl = readQuirkyJsonl(join(r.dir, `${split}.jsonl`));
    const fromParquet = await readQuirkyParquet(join(r.dir, `${split}.parquet`));
    assert.deepEqual(fromJsonl, fromParquet);
    assert.equal(fromJsonl.length, r.meta.counts[split]);
  }
});

test("a Hugging Face snapshot layout (data/{split}-00000-of-00001.parquet) loads", async (t) => {
  const dir = tempDir(t);
  const r = await writeDataset(dir, "squaring", SMALL);
  const snap = join(dir, "quirky_squaring_raw");
  mkdirSync(join(snap, "data"), { recursive: true });
  copyFileSync(join(r.dir, "test.parquet"), join(snap, "data", "test-00000-of-00001.parquet"));
  assert.deepEqual(await readQuirkySplit(snap, "test"), await readQuirkySplit(r.dir, "test"));
  await assert.rejects(readQuirkySplit(snap, "train"), /no 'train' split/);
});

test("writeDataset skips a finished dataset with the same settings and redoes it when they change", async (t) => {
  const dir = tempDir(t);
  const a = await writeDataset(dir, "addition", SMALL);
  assert.equal(a.status, "created");
  const b = await writeDataset(dir, "addition", SMALL);
  assert.equal(b.status, "skipped");
  const c = await writeDataset(dir, "addition", { ...SMALL, seed: 1 });
  assert.equal(c.status, "created");
  assert.equal(JSON.parse(readFileSync(join(dir, "addition", "meta.json"), "utf8")).settings.seed, 1);
});

test("a failing generation leaves neither a half-written folder nor temp files", async (t) => {
  const dir = tempDir(t);
  await assert.rejects(writeDataset(dir, "addition", { baseExamples: 10, nValidation: 100, nTest: 100 }), /no training rows/);
  await assert.rejects(writeDataset(dir, "authors", { source: join(dir, "missing.csv") }), /missing\.csv: file not found.*goodreads/);
  assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], []);
});
