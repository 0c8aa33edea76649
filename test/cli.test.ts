import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { readQuirkySplit } from "../src/datasets/io.ts";
import { runCli, tempDir } from "./helpers.ts";

test("quirky datasets create + show, as a user runs them", async (t) => {
  const out = tempDir(t);
  const r = runCli(["datasets", "create", "addition,hemisphere", "--out", out, "--base-examples", "400", "--n-validation", "100", "--n-test", "100", "--format", "both"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /created .*addition: train 1400, validation 100, test 100/);
  assert.deepEqual(readdirSync(join(out, "addition")).sort(), ["meta.json", "test.jsonl", "test.parquet", "train.jsonl", "train.parquet", "validation.jsonl", "validation.parquet"]);
  assert.equal((await readQuirkySplit(join(out, "addition"), "test")).length, 100);

  const again = runCli(["datasets", "create", "addition", "--out", out, "--base-examples", "400", "--n-validation", "100", "--n-test", "100", "--format", "both"]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /exists .*addition/);

  const show = runCli(["datasets", "show", out]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /== addition\ntrain: 1400 rows \(Alice 700, Bob 700\)/);
  assert.match(show.stdout, /== hemisphere/);
  assert.match(show.stdout, /crosstab over base examples/);
  const json = runCli(["datasets", "show", join(out, "addition"), "--json"]);
  const s = JSON.parse(json.stdout);
  const c = s.splits.validation.crosstab;
  assert.equal(c.TT, 0);
  assert.equal(c.TT + c.TF + c.FT + c.FF, 50);
});

test("bad input: one-line errors, exit code 1, nothing written", (t) => {
  const out = tempDir(t);
  const cases: [string[], RegExp][] = [
    [["datasets", "create", "additon", "--out", out], /unknown dataset 'additon'; expected 'all' or one of addition/],
    [["datasets", "create", "all", "--out", out], /missing inputs for authors, sentiment, nli, sciq/],
    [["datasets", "create", "authors", "--out", out, "--source", join(out, "nope.csv")], /nope\.csv: file not found\. Expected the goodreads books CSV with columns title, authors, ratings_count; get it from/],
    [["datasets", "create", "nli", "--out", out, "--source", out], /needs --difficulties|measures difficulty with language models/],
    [["datasets", "create", "addition", "--out", out, "--seed", "x"], /--seed must be a non-negative integer/],
    [["datasets", "show", join(out, "empty")], /no such folder/],
  ];
  for (const [args, re] of cases) {
    const r = runCli(args);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}`);
    assert.match(r.stderr, re, args.join(" "));
    assert.ok(!r.stderr.includes("    at "), "no stack trace");
  }
  assert.deepEqual(existsSync(out) ? readdirSync(out) : [], []);
});

test("--help explains every command", () => {
  const r = runCli(["datasets", "create", "--help"]);
  assert.equal(r.code, 0);
  for (const flag of ["--out", "--seed", "--base-examples", "--source", "--difficulties", "--format"]) assert.ok(r.stdout.includes(flag), flag);
});
