import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { createQuirkyDataset } from "../src/datasets/create.ts";
import { DATASET_NAMES, DISTRIBUTIONS, type QuirkyRow } from "../src/datasets/schema.ts";
import { promptTemplates, datasetTemplates, TEMPLATES_PATH } from "../src/datasets/templates.ts";
import { filterDistribution, templatize } from "../src/datasets/templatize.ts";
import { pyFormat } from "../src/util/pystr.ts";
import { ROOT, runPython } from "./helpers.ts";

test("data/quirky-templates.json is a verbatim copy of shared/reference/quirky-templates.json", (t) => {
  const shared = join(ROOT, "..", "shared", "reference", "quirky-templates.json");
  if (!existsSync(shared)) return t.skip("shared/ is not beside this checkout");
  assert.equal(readFileSync(TEMPLATES_PATH, "utf8"), readFileSync(shared, "utf8"));
});

test("every template of every dataset formats like Python's str.format", () => {
  const cases: { template: string; args: Record<string, string | number> }[] = [];
  for (const name of DATASET_NAMES) {
    const names = ["character", ...datasetTemplates(name).template_arg_names, ...(name === "sciq" ? ["answer"] : [])];
    const args = Object.fromEntries(names.map((n, i) => [n, n === "character" ? "Bob" : n.startsWith("op") || n === "result" ? 1000 + i : `<${n} 'x' "y">`]));
    for (const standardized of [false, true]) for (const t of promptTemplates(name, standardized)) cases.push({ template: t.template, args });
  }
  const py = JSON.parse(runPython("import json,sys\nprint(json.dumps([c['template'].format(**c['args']) for c in json.loads(sys.stdin.read())]))", JSON.stringify(cases)));
  assert.equal(py.length, cases.length);
  cases.forEach((c, i) => assert.equal(pyFormat(c.template, c.args), py[i]));
  assert.ok(cases.length > 200);
});

test("standardized templates wrap each statement template; choices are ' No'/' Yes'", () => {
  const std = promptTemplates("addition", true);
  assert.equal(std.length, datasetTemplates("addition").statement_templates.length);
  assert.equal(std[0].template, "Name: {character}\n\n\n\n***STATEMENT:*** {op1} + {op2} = {result}.\n\nIs the statement factually correct?");
  assert.deepEqual(std[3].choices, [" No", " Yes"]);
});

let rows: QuirkyRow[] = [];
test("templatize: first, random and all", async () => {
  rows = (await createQuirkyDataset("addition", { baseExamples: 500, nValidation: 300, nTest: 300 })).test;
  const templates = promptTemplates("addition");
  const first = templatize(rows, "addition", { method: "first" });
  assert.equal(first.length, rows.length);
  assert.ok(first.every((e) => e.template_index === 0));
  const a = rows[0].template_args;
  assert.equal(first[0].statement, `${a.op1} + ${a.op2} = ${a.result}. ${rows[0].character}:`);
  assert.deepEqual(first[0].choices, [" False", " True"]);

  const random = templatize(rows, "addition", { method: "random", seed: 1 });
  const used = new Set(random.map((e) => e.template_index));
  assert.equal(used.size, templates.length, "300 rows use all 10 templates");
  assert.deepEqual(random, templatize(rows, "addition", { method: "random", seed: 1 }));
  assert.notDeepEqual(random.map((e) => e.template_index), templatize(rows, "addition", { method: "random", seed: 2 }).map((e) => e.template_index));

  const all = templatize(rows, "addition", { method: "all" });
  assert.equal(all.length, rows.length * templates.length);
  assert.deepEqual(all.slice(0, templates.length).map((e) => e.template_index), templates.map((_, i) => i));
  assert.ok(all.every((e, i) => e.id === rows[Math.floor(i / templates.length)].id && e.label === rows[Math.floor(i / templates.length)].label));
});

test("distribution filters: character and difficulty quantile (easy ≤ 0.25, hard ≥ 0.75)", () => {
  for (const code of DISTRIBUTIONS) {
    const sel = filterDistribution(rows, code);
    const expected = rows.filter(
      (r) =>
        (code[0] === "A" ? r.character === "Alice" : code[0] === "B" ? r.character === "Bob" : true) &&
        (code.endsWith("E") ? r.difficulty_quantile <= 0.25 : true) &&
        (code.endsWith("H") ? r.difficulty_quantile >= 0.75 : true),
    );
    assert.deepEqual(sel, expected, code);
    assert.ok(sel.length > 0, code);
  }
  assert.throws(() => filterDistribution(rows, "XE" as never), /unknown distribution 'XE'/);
});
