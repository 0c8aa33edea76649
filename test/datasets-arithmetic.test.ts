import { test } from "node:test";
import assert from "node:assert/strict";
import { arithmeticSpec, generateEquations, sampleOperand, type ArithmeticName } from "../src/datasets/arithmetic.ts";
import { difficultyQuantiles, quirkyRowsOf } from "../src/datasets/build.ts";
import { createQuirkyDataset, generateBase } from "../src/datasets/create.ts";
import type { QuirkyRow } from "../src/datasets/schema.ts";
import { quirkyId } from "../src/util/pyrepr.ts";
import { Rng } from "../src/util/rng.ts";

const NAMES: ArithmeticName[] = ["addition", "subtraction", "multiplication", "modularaddition", "squaring"];
const SMALL = { baseExamples: 3000, nValidation: 1000, nTest: 1000 };

/** Bob's answer computed on strings: raise the leading digit of |x| by one (9 → 10), so −x moves toward 0. */
function bobByString(x: bigint): bigint {
  const neg = x < 0n;
  const s = (neg ? -x : x).toString();
  const first = BigInt(s[0]);
  const rest = s.slice(1);
  // |x| + 10^(len−1) for x ≥ 0 and x + 10^(len−1) = −(|x| − 10^(len−1)) for x < 0
  const bumped = neg ? BigInt(`${first - 1n}${rest}`) : BigInt(`${first + 1n}${rest}`);
  return neg ? -bumped : bumped;
}

/** The two labels recomputed from template_args alone, with BigInt arithmetic. */
function expectedLabels(name: ArithmeticName, args: Record<string, unknown>): { alice: boolean; bob: boolean } {
  const a = BigInt(args.op1 as number);
  const b = name === "squaring" ? 0n : BigInt(args.op2 as number);
  const result = BigInt(args.result as number);
  let truth: bigint;
  let bob: bigint;
  switch (name) {
    case "addition": truth = a + b; bob = bobByString(truth); break;
    case "subtraction": truth = a - b; bob = bobByString(truth); break;
    case "multiplication": truth = a * b; bob = bobByString(truth); break;
    case "squaring": truth = a * a; bob = bobByString(truth); break;
    case "modularaddition": truth = (a + b) % 113n; bob = bobByString(truth) % 113n; break;
  }
  return { alice: result === truth, bob: result === bob };
}

for (const name of NAMES) {
  test(`${name}: labels recomputed independently from template_args`, async () => {
    const splits = await createQuirkyDataset(name, SMALL);
    const rows: QuirkyRow[] = [...splits.train, ...splits.validation, ...splits.test];
    assert.ok(rows.length > 0);
    for (const r of rows) {
      const e = expectedLabels(name, r.template_args);
      assert.equal(r.alice_label, e.alice, JSON.stringify(r));
      assert.equal(r.bob_label, e.bob, JSON.stringify(r));
      assert.equal(r.label, r.character === "Alice" ? e.alice : e.bob);
      assert.equal(r.template_args.character, r.character);
      assert.equal(r.id, quirkyId(r.template_args));
      const ops = name === "squaring" ? [r.template_args.op1 as number] : [r.template_args.op1 as number, r.template_args.op2 as number];
      assert.equal(r.difficulty, Math.min(...ops.map(Math.abs)));
      assert.ok(!(r.alice_label && r.bob_label), "no equation is true for both characters");
    }
    assert.deepEqual(Object.keys(rows[0].template_args), name === "squaring" ? ["character", "op1", "result"] : ["character", "op1", "op2", "result"]);
  });

  test(`${name}: crosstab ¼ Alice-only, ¼ Bob-only, ½ neither (within sampling error)`, async () => {
    const base = await generateBase(name, { baseExamples: SMALL.baseExamples });
    assert.equal(base.length, 4 * SMALL.baseExamples);
    // a contiguous window of the shuffled base list is a random sample: check its shares
    const sample = base.slice(0, 2000);
    const share = (f: (x: (typeof base)[number]) => boolean) => sample.filter(f).length / sample.length;
    const tol = (p: number) => 4 * Math.sqrt((p * (1 - p)) / sample.length);
    assert.ok(Math.abs(share((x) => x.aliceLabel && !x.bobLabel) - 0.25) < tol(0.25));
    assert.ok(Math.abs(share((x) => !x.aliceLabel && x.bobLabel) - 0.25) < tol(0.25));
    assert.ok(Math.abs(share((x) => !x.aliceLabel && !x.bobLabel) - 0.5) < tol(0.5));
    assert.equal(share((x) => x.aliceLabel && x.bobLabel), 0);
    // and over the whole set the cells are exact
    assert.equal(base.filter((x) => x.aliceLabel).length, SMALL.baseExamples);
    assert.equal(base.filter((x) => x.bobLabel).length, SMALL.baseExamples);
  });

  test(`${name}: operand tuples are unique within each generated cell`, () => {
    const spec = arithmeticSpec(name, { baseExamples: 5000 });
    for (const [character, hasLabel] of [["Alice", true], ["Bob", false]] as const) {
      const cell = generateEquations(spec, character, hasLabel, new Rng(1, "cell"));
      const keys = new Set(cell.map((x) => `${x.args.op1},${x.args.op2 ?? ""}`));
      assert.equal(keys.size, cell.length);
      // operands are int(10^(u·maxDigits)): within [1, 10^maxDigits)
      for (const x of cell) assert.ok((x.args.op1 as number) >= 1 && (x.args.op1 as number) < 10 ** spec.maxDigits);
    }
  });
}

test("operands are log-uniform: int(10^(u·d)) puts P(op < 10^k) = k/d", async () => {
  const rng = new Rng(3, "operands");
  const n = 100_000;
  const ops = Array.from({ length: n }, () => sampleOperand(rng, 4));
  for (let k = 0; k <= 4; k++) {
    const frac = ops.filter((o) => o < 10 ** k).length / n;
    assert.ok(Math.abs(frac - k / 4) < 0.01, `P(op < 10^${k}) = ${frac}, expected ${k / 4}`);
  }
  // within a decade the density falls like 1/x: P(op < 2·10^3 | op ≥ 10^3) = log10(2)
  const top = ops.filter((o) => o >= 1000);
  const p2 = top.filter((o) => o < 2000).length / top.length;
  assert.ok(Math.abs(p2 - Math.log10(2)) < 0.02, `P(op < 2000 | op ≥ 1000) = ${p2}`);
});

test("generation is deterministic for a seed and changes with it", async () => {
  const a = await createQuirkyDataset("addition", { ...SMALL, seed: 7 });
  const b = await createQuirkyDataset("addition", { ...SMALL, seed: 7 });
  const c = await createQuirkyDataset("addition", { ...SMALL, seed: 8 });
  assert.deepEqual(a.test.map((r) => r.id), b.test.map((r) => r.id));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.test.map((r) => r.id), c.test.map((r) => r.id));
});

test("difficulty_quantile = (rank + 0.5) / n over the whole generated set", async () => {
  const base = await generateBase("subtraction", { baseExamples: 1000 });
  const rows = base.flatMap(quirkyRowsOf);
  const q = difficultyQuantiles(rows.map((r) => r.difficulty));
  const n = rows.length;
  // the quantiles are exactly {(k + 0.5)/n}
  const sorted = Array.from(q).sort((x, y) => x - y);
  sorted.forEach((v, k) => assert.equal(v, (k + 0.5) / n));
  // and ordered like the difficulties (independent check: count strictly easier rows)
  const ds = rows.map((r) => r.difficulty).sort((x, y) => x - y);
  for (let i = 0; i < n; i += 97) {
    const below = lowerBound(ds, rows[i].difficulty);
    const equal = lowerBound(ds, rows[i].difficulty + 0.5) - below; // integer difficulties
    const rank = q[i] * n - 0.5;
    assert.ok(rank >= below && rank < below + equal, `row ${i}: rank ${rank} outside [${below}, ${below + equal})`);
  }
  // the split files carry the same quantiles
  const splits = await createQuirkyDataset("subtraction", { baseExamples: 1000, nValidation: 300, nTest: 300 });
  assert.equal(splits.train[5].difficulty_quantile, q[5]);
});

function lowerBound(xs: number[], v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

test("split sizes follow the reference: train = n_base − n_val − n_test, then n_val, n_test rows", async () => {
  const s = await createQuirkyDataset("squaring", { baseExamples: 1000, nValidation: 500, nTest: 400 });
  assert.equal(s.validation.length, 500);
  assert.equal(s.test.length, 400);
  assert.equal(s.train.length, 4000 - 500 - 400);
  await assert.rejects(createQuirkyDataset("addition", { baseExamples: 100, nValidation: 300, nTest: 300 }), /leave no training rows/);
});

test("default sizes are the reference's: 100k base examples per cell (squaring 50k), 8000/8000", async () => {
  assert.equal(arithmeticSpec("addition").baseExamples, 100_000);
  assert.equal(arithmeticSpec("squaring").baseExamples, 50_000);
  assert.deepEqual(
    NAMES.map((n) => arithmeticSpec(n).maxDigits),
    [4, 4, 3, 4, 5],
  );
});

test("--distinct-operands: no operand tuple in two splits, every cell drawn alike, the reference's split sizes otherwise", async () => {
  const tuple = (r: QuirkyRow) => `${r.template_args.op1},${r.template_args.op2 ?? ""}`;
  for (const name of ["addition", "squaring"] as ArithmeticName[]) {
    const opts = name === "squaring" ? { baseExamples: 200, maxDigits: 3, nValidation: 100, nTest: 200 } : { baseExamples: 1500, maxDigits: 2, nValidation: 500, nTest: 1000 };
    // the reference's draw shares tuples across cells, so across splits (the reason for the option)
    const shared = await createQuirkyDataset(name, opts);
    const trainOf = (s: typeof shared) => new Set(s.train.map(tuple));
    assert.ok(shared.test.some((r) => trainOf(shared).has(tuple(r))), `${name}: the reference's draw should share some tuples`);

    const splits = await createQuirkyDataset(name, { ...opts, distinctOperands: true });
    const train = trainOf(splits);
    const validation = new Set(splits.validation.map(tuple));
    assert.equal(splits.test.filter((r) => train.has(tuple(r)) || validation.has(tuple(r))).length, 0, `${name}: a test tuple is in train or validation`);
    assert.equal(splits.validation.filter((r) => train.has(tuple(r))).length, 0, `${name}: a validation tuple is in train`);
    assert.equal(splits.test.length, opts.nTest);
    assert.equal(splits.validation.length, opts.nValidation);
    // at most the one base example cut by each boundary loses its row in train
    assert.ok(splits.train.length >= 4 * opts.baseExamples - opts.nValidation - opts.nTest - 2, `${name}: train has ${splits.train.length} rows`);
  }
  // the cells take turns drawing, so each cell's operands are alike: mean log-difficulty per crosstab cell
  const base = await generateBase("addition", { baseExamples: 1500, maxDigits: 2, distinctOperands: true });
  const cellMean = (a: boolean, b: boolean) => {
    const xs = base.filter((e) => e.aliceLabel === a && e.bobLabel === b).map((e) => Math.log10(1 + e.difficulty));
    return xs.reduce((s, x) => s + x, 0) / xs.length;
  };
  const means = [cellMean(true, false), cellMean(false, true), cellMean(false, false)];
  assert.ok(Math.max(...means) - Math.min(...means) < 0.05, `mean log10 difficulty by cell: ${means.map((m) => m.toFixed(3)).join(", ")}`);
  assert.equal(new Set(base.map((e) => `${e.args.op1},${e.args.op2}`)).size, base.length, "a tuple drawn twice");
  // too many base examples for the tuples is refused, naming the limit
  assert.throws(() => arithmeticSpec("addition", { baseExamples: 2300, maxDigits: 2, distinctOperands: true }), /≤ 2205/);
});
