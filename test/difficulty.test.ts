import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { difficultyFromLogOdds, negLogSigmoid, readDifficultyFile } from "../src/datasets/difficulty.ts";
import { tempDir } from "./helpers.ts";

test("−log σ(x) agrees with the naive formula where that is accurate, and stays finite far out", () => {
  for (const x of [-30, -5, -1, -1e-3, 0, 0.5, 3, 20]) {
    const naive = -Math.log(1 / (1 + Math.exp(-x)));
    assert.ok(Math.abs(negLogSigmoid(x) - naive) <= 1e-12 * Math.max(1, naive), `x=${x}`);
  }
  assert.equal(negLogSigmoid(0), Math.LN2);
  assert.ok(Math.abs(negLogSigmoid(-1000) - 1000) < 1e-9); // naive: log(0) = −∞
  assert.ok(negLogSigmoid(1000) >= 0 && negLogSigmoid(1000) < 1e-300);
});

test("difficulty = mean over models of the binary cross-entropy of the true label", () => {
  // closed form for two models on two examples
  const d = difficultyFromLogOdds([[2, -1], [0, 3]], [true, false]);
  const bce = (lo: number, y: boolean) => Math.log(1 + Math.exp(y ? -lo : lo));
  assert.ok(Math.abs(d[0] - (bce(2, true) + bce(0, true)) / 2) < 1e-14);
  assert.ok(Math.abs(d[1] - (bce(-1, false) + bce(3, false)) / 2) < 1e-14);
  assert.throws(() => difficultyFromLogOdds([[1, 2, 3]], [true, false]), /log-odds for 3 examples, expected 2/);
});

test("difficulty files: id,difficulty or id,model,log_odds, in CSV or JSONL", (t) => {
  const dir = tempDir(t);
  const labels = new Map([["a", true], ["b", false]]);
  writeFileSync(join(dir, "d.csv"), "id,difficulty\na,0.5\nb,1.25\n");
  assert.deepEqual([...readDifficultyFile(join(dir, "d.csv"), labels)], [["a", 0.5], ["b", 1.25]]);
  writeFileSync(join(dir, "lo.jsonl"), ['{"id":"a","model":"m1","log_odds":2}', '{"id":"a","model":"m2","log_odds":0}', '{"id":"b","model":"m1","log_odds":-1}', '{"id":"b","model":"m2","log_odds":3}'].join("\n"));
  const got = readDifficultyFile(join(dir, "lo.jsonl"), labels);
  const expected = difficultyFromLogOdds([[2, -1], [0, 3]], [true, false]);
  assert.ok(Math.abs(got.get("a")! - expected[0]) < 1e-14 && Math.abs(got.get("b")! - expected[1]) < 1e-14);
  writeFileSync(join(dir, "partial.jsonl"), ['{"id":"a","model":"m1","log_odds":2}', '{"id":"a","model":"m2","log_odds":0}', '{"id":"b","model":"m1","log_odds":-1}'].join("\n"));
  assert.throws(() => readDifficultyFile(join(dir, "partial.jsonl"), labels), /example b is scored by 1 of the 2 models/);
  writeFileSync(join(dir, "bad.jsonl"), "{not json\n");
  assert.throws(() => readDifficultyFile(join(dir, "bad.jsonl"), labels), /bad\.jsonl: line 1 is not JSON/);
  assert.throws(() => readDifficultyFile(join(dir, "nope.csv"), labels), /nope\.csv: difficulty file not found/);
});
