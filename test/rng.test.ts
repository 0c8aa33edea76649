import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../src/util/rng.ts";

test("Rng is deterministic per (seed, stream) and streams differ", () => {
  const draw = (seed: number, stream: string) => Array.from({ length: 5 }, (() => { const r = new Rng(seed, stream); return () => r.nextU32(); })());
  assert.deepEqual(draw(1, "a"), draw(1, "a"));
  assert.notDeepEqual(draw(1, "a"), draw(1, "b"));
  assert.notDeepEqual(draw(1, "a"), draw(2, "a"));
});

test("Rng.int is uniform (chi-square, 10 bins, 100k draws) and random() is in [0, 1)", () => {
  const r = new Rng(42);
  const counts = new Array(10).fill(0);
  const n = 100_000;
  for (let i = 0; i < n; i++) counts[r.int(0, 9)]++;
  const chi2 = counts.reduce((s, c) => s + (c - n / 10) ** 2 / (n / 10), 0);
  assert.ok(chi2 < 27.88, `chi2 = ${chi2} (p < 0.001 critical value for 9 dof is 27.88)`);
  let mean = 0;
  for (let i = 0; i < n; i++) {
    const u = r.random();
    assert.ok(u >= 0 && u < 1);
    mean += u / n;
  }
  assert.ok(Math.abs(mean - 0.5) < 0.005);
});

test("sample gives distinct items; shuffle is a permutation", () => {
  const r = new Rng(7);
  const items = Array.from({ length: 50 }, (_, i) => i);
  const s = r.sample(items, 20);
  assert.equal(new Set(s).size, 20);
  assert.deepEqual(r.shuffle(items.slice()).sort((a, b) => a - b), items);
  assert.throws(() => r.sample(items, 51), /asked for 51 of 50/);
});
