/**
 * The report from a synthetic experiments folder: every figure drawn and readable (axis titles, legends,
 * the 0.5 chance line where the paper draws one), numbers as CSV/JSON, missing inputs skipped with a visible
 * note, a clear error for an empty or invalid folder, and the page itself opened in headless Chromium — no
 * errors, no network, every figure in the DOM and interactive — with a full-page screenshot in
 * test-artifacts/report.png.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as vega from "vega";
import { compile } from "vega-lite";
import { renderReport, type ReportResult } from "../src/report/index.ts";
import { writeSyntheticExperiments } from "../src/report/synthetic.ts";
import { reportCommand, parseLayerwise } from "../src/cli/report.ts";
import type { FigureDef } from "../src/report/index.ts";
import { ROOT } from "./helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const NO_CHROMIUM = `${CHROMIUM} is missing: the browser test needs Debian's chromium; run \`bash scripts/system-deps.sh\` (as root) to install it`;
const MODELS = ["pythia-tiny", "mistral-mini"];
const DATASETS = ["addition", "capitals", "sciq"];

const scratch = mkdtempSync(join(tmpdir(), "quirky-report-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

let shared: Promise<{ exp: string; out: string; r: ReportResult; ms: number }> | undefined;
/** One full synthetic folder and its report, shared by the tests below. */
function fullReport() {
  shared ??= (async () => {
    const exp = join(scratch, "exp");
    const out = join(scratch, "report");
    writeSyntheticExperiments(exp, { models: MODELS, datasets: DATASETS, layers: { "pythia-tiny": 6, "mistral-mini": 10 } });
    const t0 = performance.now();
    const r = await renderReport(exp, out);
    return { exp, out, r, ms: performance.now() - t0 };
  })();
  return shared;
}

const decode = (s: string) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;|&apos;/g, "'").replace(/&amp;/g, "&");

/** Text of every <text> inside SVG groups whose class contains `cls`. */
function textsIn(svg: string, cls: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<g class="[^"]*\\b${cls}\\b[^"]*"[^>]*>([\\s\\S]*?)</g>`, "g");
  for (const m of svg.matchAll(re)) for (const t of m[1].matchAll(/<text[^>]*>([^<]*)<\/text>/g)) out.push(decode(t[1]));
  return out;
}

type Layer = { name?: string; mark?: unknown; encoding?: Record<string, unknown>; layer?: Layer[] };
function layersOf(spec: Record<string, unknown>): Layer[] {
  const inner = (spec.spec as Layer | undefined) ?? (spec as Layer);
  return inner.layer ?? [inner];
}

/** y pixel positions of the chance rules and what 0.5 maps to, from vega's own scenegraph. */
async function chancePositions(spec: Record<string, unknown>): Promise<{ ys: number[]; half: number }> {
  const view = new vega.View(vega.parse(compile(spec as never).spec), { renderer: "none" });
  await view.runAsync();
  const ys: number[] = [];
  const walk = (node: { marktype?: string; name?: string; items?: unknown[] }) => {
    for (const item of (node.items ?? []) as { y?: number; items?: unknown[] }[]) {
      if (node.name === "chance_marks") ys.push(item.y as number);
      walk(item as never);
    }
  };
  walk((view.scenegraph() as unknown as { root: never }).root);
  const half = (view.scale("y") as (v: number) => number)(0.5);
  view.finalize();
  return { ys, half };
}

test("renders every figure, SVG, spec and data file from a synthetic experiments folder", async (t) => {
  const { out, r, ms } = await fullReport();
  t.diagnostic(`render: ${ms.toFixed(0)} ms for ${r.figures.length} figures`);
  const ids = r.figures.map((f) => f.id).sort();
  const expected = [
    ...MODELS.flatMap((m) => [`layerwise_${m}_lr_A-B_disagree`, `layerwise_${m}_lr_AE-BH_disagree`, `random_baseline_${m}`, `intervention_${m}`]),
    "transfer_eil",
    "id_vs_ood",
    "pgr",
  ].sort();
  assert.deepEqual(ids, expected);
  assert.deepEqual(r.notes, [], "nothing is missing from the full synthetic folder");
  assert.deepEqual(r.warnings, [], "vega-lite and vega render every spec without warnings");

  assert.equal(r.html, join(out, "index.html"));
  assert.equal(r.svgs.length, expected.length);
  for (const id of expected) {
    const svg = readFileSync(join(out, `${id}.svg`), "utf8");
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, `${id}.svg is an SVG file`);
    assert.ok(svg.length > 5000, `${id}.svg has content`);
    JSON.parse(readFileSync(join(out, "specs", `${id}.vl.json`), "utf8"));
  }
  for (const f of r.files) assert.ok(existsSync(f), `${f} written`);
  const leftovers = readdirSync(out, { recursive: true }).map(String).filter((f) => f.endsWith(".tmp"));
  assert.deepEqual(leftovers, [], "no temporary files left behind (atomic writes)");

  // numbers as CSV and JSON, the same rows in both
  for (const name of ["layerwise", "transfer_at_eil", "transfer_bars", "id_vs_ood", "random_baseline", "pgr", "anomaly", "intervention"]) {
    const csv = readFileSync(join(out, "data", `${name}.csv`), "utf8").trimEnd().split("\n");
    const json = JSON.parse(readFileSync(join(out, "data", `${name}.json`), "utf8")) as Record<string, unknown>[];
    assert.ok(json.length > 0, `${name}.json has rows`);
    assert.equal(csv.length - 1, json.length, `${name}: CSV and JSON hold the same rows`);
    assert.deepEqual(csv[0].split(","), Object.keys(json[0]), `${name}: CSV header`);
  }
  // the PGR numbers are the input's, unchanged
  const pgrIn = JSON.parse(readFileSync(join(scratch, "exp", "pgr.json"), "utf8")) as { transfer: string; reporter: string; overall: { pgr: number } }[];
  const pgrOut = JSON.parse(readFileSync(join(out, "data", "pgr.json"), "utf8")) as { transfer: string; reporter: string; dataset: string; pgr: number }[];
  const lrAeBh = pgrIn.find((p) => p.transfer === "AE→BH" && p.reporter === "lr")!;
  assert.equal(pgrOut.find((p) => p.transfer === "AE→BH" && p.reporter === "lr" && p.dataset === "overall")!.pgr, lrAeBh.overall.pgr);

  // the page: self-contained, every figure in it, tables for PGR and anomaly detection
  const html = readFileSync(r.html, "utf8");
  assert.doesNotMatch(html, /<script[^>]+\bsrc=/i, "no external scripts");
  assert.doesNotMatch(html, /<link[^>]+rel="?stylesheet/i, "no external stylesheets");
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//i, "no network URLs in src/href");
  assert.doesNotMatch(html, /@import|url\(\s*["']?https?:/i, "no CSS imports or remote URLs");
  for (const pkg of ["vega", "vega-lite", "vega-embed"]) assert.match(html, new RegExp(`<script data-runtime="${pkg}">`), `${pkg} runtime inlined`);
  for (const id of expected) assert.ok(html.includes(`id="fig-${id}"`), `figure ${id} in the page`);
  assert.equal((html.match(/<table class="data pgr"/g) ?? []).length, 2, "PGR tables AE→BH and A→B");
  assert.match(html, /data-transfer="AE→BH"/);
  assert.match(html, /data-transfer="A→B"/);
  assert.equal((html.match(/<table class="data anomaly"/g) ?? []).length, 2, "anomaly tables for the two reporters");
  assert.match(html, /0\.\d{3} <span class="ci">\[0\.\d{3}, 0\.\d{3}\]<\/span>/, "anomaly AUROCs with 95% intervals");
  assert.doesNotMatch(html, /class="note skipped"/);
  // inline SVG ids are unique in the page (clip paths of one figure must not hit another's)
  const idsInPage = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(new Set(idsInPage).size, idsInPage.length, "element ids are unique");
});

test("a report written inside its experiments folder is not read back as results, so rendering again works", async () => {
  // the demo writes EXP/report; its specs/intervention_<model>.vl.json once broke every rerun of the demo
  const exp = join(scratch, "exp-with-report");
  writeSyntheticExperiments(exp, { models: ["pythia-tiny"], datasets: ["addition"], layers: { "pythia-tiny": 4 } });
  const first = await renderReport(exp, join(exp, "report"));
  const second = await renderReport(exp, join(exp, "report"));
  assert.ok(first.figures.some((f) => f.id.startsWith("intervention_")), "the first report has an intervention figure");
  assert.deepEqual(second.figures.map((f) => f.id), first.figures.map((f) => f.id));
  assert.deepEqual(second.notes, first.notes);
});

test("every figure is readable: axis titles, a legend for several series, the dashed 0.5 chance line", async () => {
  const { out, r } = await fullReport();
  for (const f of r.figures as FigureDef[]) {
    const svg = readFileSync(join(out, `${f.id}.svg`), "utf8");
    // chart title
    const title = (f.spec.title as { text: string }).text;
    assert.ok(textsIn(svg, "role-title-text").includes(title), `${f.id}: title '${title}' drawn`);
    // axis titles: both axes titled, with the titles the spec asks for
    const axisTitles = textsIn(svg, "role-axis-title");
    assert.ok(axisTitles.length >= 2 && axisTitles.every((s) => s.trim().length > 0), `${f.id}: x and y axis titles (${axisTitles.join(" | ")})`);
    for (const want of f.expect.axisTitles) assert.ok(axisTitles.includes(want), `${f.id}: axis title '${want}' in ${JSON.stringify(axisTitles)}`);
    // legend: every series-splitting channel (color/shape/strokeDash) with 2+ values gets a legend listing them
    const splits = new Set<string>();
    for (const l of layersOf(f.spec)) {
      for (const ch of ["color", "shape", "strokeDash"]) {
        const field = (l.encoding?.[ch] as { field?: string } | undefined)?.field;
        if (field) splits.add(field);
      }
    }
    const rows = ((f.spec.data as { values?: Record<string, unknown>[] } | undefined)?.values ?? layersOf(f.spec).flatMap((l) => ((l as { data?: { values?: Record<string, unknown>[] } }).data?.values ?? [])));
    const several = [...splits].some((field) => new Set(rows.map((row) => row[field]).filter((v) => v !== undefined)).size > 1);
    assert.ok(several, `${f.id}: draws several series`);
    assert.equal(f.expect.legend, true);
    const legendTitles = textsIn(svg, "role-legend-title");
    const legendLabels = textsIn(svg, "role-legend-label");
    assert.ok(legendTitles.length >= 1 && legendLabels.length >= 2, `${f.id}: legend with a title and 2+ entries (${legendTitles} / ${legendLabels})`);
    // chance line: a dashed rule at y = 0.5 where the paper draws one, and none elsewhere
    const chance = layersOf(f.spec).find((l) => l.name === "chance");
    if (f.expect.chance) {
      assert.ok(chance, `${f.id}: has a chance layer`);
      assert.deepEqual((chance!.encoding!.y as { datum: number }).datum, 0.5);
      assert.ok(Array.isArray((chance!.mark as { strokeDash?: number[] }).strokeDash), `${f.id}: chance line is dashed`);
      const group = svg.match(/<g class="mark-rule role-mark chance_marks"[^>]*>([\s\S]*?)<\/g>/);
      assert.ok(group && /<line[^>]*stroke-dasharray="[^"]+"/.test(group[1]), `${f.id}: a dashed line drawn in the SVG`);
      const { ys, half } = await chancePositions(f.spec);
      assert.ok(ys.length >= 1, `${f.id}: chance rule in the scenegraph`);
      for (const y of ys) assert.ok(Math.abs(y - half) < 0.5, `${f.id}: chance line at y(0.5) = ${half}, drawn at ${y}`);
    } else {
      assert.equal(chance, undefined, `${f.id}: no chance line (the paper draws none here)`);
      assert.doesNotMatch(svg, /chance_marks/);
    }
  }
  // the layerwise curves carry the LM output as its own (dotted) series
  const lw = r.figures.find((f) => f.id.startsWith("layerwise_"))!;
  const lwSvg = readFileSync(join(out, `${lw.id}.svg`), "utf8");
  assert.ok(textsIn(lwSvg, "role-legend-label").includes("LM output"));
  assert.ok(textsIn(lwSvg, "role-legend-label").includes("Alice's labels") && textsIn(lwSvg, "role-legend-label").includes("Bob's labels"));
  // the transfer bars include the LM output as a bar, for each of the paper's four transfers
  const bars = JSON.parse(readFileSync(join(out, "data", "transfer_bars.json"), "utf8")) as { transfer: string; method: string }[];
  for (const tr of ["A→B", "B→A", "AE→AH", "AE→BH"]) assert.ok(bars.some((b) => b.transfer === tr && b.method === "LM output"), `LM bar for ${tr}`);
});

test("missing inputs skip their figure with a visible note", async () => {
  const exp = join(scratch, "partial");
  const out = join(scratch, "partial-report");
  writeSyntheticExperiments(exp, { models: ["m"], datasets: ["addition"], layers: 4, parts: { pgr: false, random: false, anomaly: false, intervention: false } });
  const r = await renderReport(exp, out);
  assert.deepEqual(r.figures.map((f) => f.id).sort(), ["id_vs_ood", "layerwise_m_lr_A-B_disagree", "layerwise_m_lr_AE-BH_disagree", "transfer_eil"]);
  const html = readFileSync(r.html, "utf8");
  const notes = [...html.matchAll(/<p class="note skipped">([\s\S]*?)<\/p>/g)].map((m) => m[1]);
  assert.equal(notes.length, 4, notes.join("\n"));
  for (const [section, file] of [["random", "AE_random_aucs_against_alice.json"], ["pgr", "pgr.json"], ["anomaly", "anomaly_"], ["intervention", "intervention_"]]) {
    const sec = html.match(new RegExp(`<section id="sec-${section}"[\\s\\S]*?</section>`))![0];
    assert.match(sec, /<p class="note skipped">Skipped:/, `${section}: visible note`);
    assert.ok(sec.includes(file), `${section}: the note names the missing file`);
  }
  assert.ok(!existsSync(join(out, "pgr.svg")));
  // and with summaries alone missing, the figures that need them are skipped too
  rmSync(join(exp, "m", "addition", "summary.json"));
  writeSyntheticExperiments(exp, { models: ["m"], datasets: ["addition"], layers: 4, parts: { summary: false, pgr: false, random: false, anomaly: true, intervention: false } });
  const r2 = await renderReport(exp, join(scratch, "partial-report-2"));
  assert.deepEqual(r2.figures, []);
  assert.ok(r2.notes.some((n) => n.includes("summary.json")));
  assert.match(readFileSync(r2.html, "utf8"), /<table class="data anomaly"/);
});

test("an empty, missing or invalid experiments folder is a clear error", async () => {
  const empty = join(scratch, "empty");
  mkdirSync(join(empty, "some-model"), { recursive: true });
  await assert.rejects(renderReport(empty, join(scratch, "o1")), /no experiment results found.*<model>\/<dataset>\/summary\.json/);
  assert.ok(!existsSync(join(scratch, "o1", "index.html")), "nothing written");
  await assert.rejects(renderReport(join(scratch, "nope"), join(scratch, "o2")), /nope: no such folder/);
  const bad = join(scratch, "bad");
  mkdirSync(join(bad, "m", "ds"), { recursive: true });
  writeFileSync(join(bad, "m", "ds", "summary.json"), "{ not json");
  await assert.rejects(renderReport(bad, join(scratch, "o3")), /summary\.json: not valid JSON/);
  writeFileSync(join(bad, "m", "ds", "summary.json"), JSON.stringify({ reporter: "lr" }));
  await assert.rejects(renderReport(bad, join(scratch, "o3")), /summary\.json: not a transfer summary/);
  writeFileSync(join(bad, "m", "ds", "summary.json"), "[]");
  writeFileSync(join(bad, "pgr.json"), JSON.stringify([{ transfer: "AE→BH" }]));
  await assert.rejects(renderReport(bad, join(scratch, "o3")), /pgr\.json: not a PGR table/);
});

test("quirky report RESULTS_DIR --out DIR", async () => {
  const exp = join(scratch, "cli-exp");
  const out = join(scratch, "cli-out");
  writeSyntheticExperiments(exp, { models: ["m"], datasets: ["addition"], layers: 4, parts: { random: false } });
  const logs: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void logs.push(a.join(" "));
  try {
    await reportCommand().parseAsync([exp, "--out", out, "--layerwise", "lr:B→A:all"], { from: "user" });
  } finally {
    console.log = log;
  }
  assert.equal(logs[0], join(out, "index.html"));
  assert.ok(logs.some((l) => /^note: Skipped: no random-baseline results/.test(l)), logs.join("\n"));
  assert.ok(existsSync(join(out, "layerwise_m_lr_B-A_all.svg")));
  assert.deepEqual(parseLayerwise("lr:AE->BH:disagree,ccs:all-BH:all"), [
    { reporter: "lr", train: "AE", test: "BH", subset: "disagree" },
    { reporter: "ccs", train: "all", test: "BH", subset: "all" },
  ]);
  assert.throws(() => parseLayerwise("lr:A→B:some"), /not reporter:TRAIN→TEST:subset/);
});

test("the page in headless Chromium: no errors, no network, every figure present and interactive; screenshot", { skip: !existsSync(CHROMIUM) && process.env.CI !== "true" ? NO_CHROMIUM : false }, async (t) => {
  if (!existsSync(CHROMIUM)) assert.fail(NO_CHROMIUM);
  const { chromium } = await import("playwright-core");
  const { r } = await fullReport();
  const t0 = performance.now();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`page: ${e.message}`));
    page.on("requestfailed", (q) => errors.push(`request failed: ${q.url()}`));
    await page.route(/.*/, (route) => {
      const url = route.request().url();
      if (/^(file|data|blob|about):/.test(url)) return route.continue();
      requests.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(r.html).href);
    await page.waitForSelector("html[data-report-ready]", { timeout: 20_000 });
    assert.equal(await page.getAttribute("html", "data-report-ready"), "true", "the vega runtime loaded");
    assert.equal(Number(await page.getAttribute("html", "data-live-figures")), r.figures.length, "every figure became an interactive view");

    for (const f of r.figures) {
      const fig = page.locator(`#fig-${f.id}`);
      assert.equal(await fig.count(), 1, `${f.id} in the DOM`);
      // the static SVG (for viewing without scripts) and the live vega view, both with marks
      const staticMarks = await fig.locator(".static svg .role-mark").count();
      assert.ok(staticMarks > 0, `${f.id}: static SVG with marks`);
      const live = fig.locator(".live.vega-embed svg.marks");
      assert.equal(await live.count(), 1, `${f.id}: live vega view`);
      const box = await live.boundingBox();
      assert.ok(box && box.width > 200 && box.height > 150, `${f.id}: live view has a size (${JSON.stringify(box)})`);
      const drawn = await live.evaluate((svg) => [...svg.querySelectorAll(".role-mark path, .role-mark line")].filter((e) => (e.getAttribute("d") ?? "x") !== "" && e.getAttribute("display") !== "none").length);
      assert.ok(drawn > 3, `${f.id}: live view draws marks (${drawn})`);
      const axisTitles = await live.evaluate((svg) => [...svg.querySelectorAll(".role-axis-title text")].map((e) => e.textContent));
      for (const want of f.expect.axisTitles) assert.ok(axisTitles.includes(want), `${f.id}: live axis title '${want}'`);
    }
    assert.equal(await page.locator("table.data.pgr").count(), 2);
    assert.equal(await page.locator("table.data.anomaly").count(), 2);

    // the screenshot, before any interaction
    mkdirSync(join(ROOT, "test-artifacts"), { recursive: true });
    const shot = join(ROOT, "test-artifacts", "report.png");
    await page.screenshot({ path: shot, fullPage: true });
    assert.equal(readFileSync(shot).subarray(1, 4).toString(), "PNG");

    // tooltips: hovering a bar of the transfer chart shows its numbers
    const bar = page.locator("#fig-transfer_eil .live .bars_marks path").first();
    await bar.hover();
    const tip = page.locator("#vg-tooltip-element.visible");
    await tip.waitFor({ timeout: 5000 });
    assert.match((await tip.textContent()) ?? "", /mean AUROC/);
    // legend selection: clicking a legend entry fades the other methods' bars
    const fadedBefore = await page.locator("#fig-transfer_eil .live .bars_marks path[opacity='0.12']").count();
    await page.locator("#fig-transfer_eil .live .role-legend-symbol path").first().click();
    await page.waitForFunction(() => document.querySelectorAll("#fig-transfer_eil .live .bars_marks path[opacity='0.12']").length > 0, undefined, { timeout: 5000 });
    const fadedAfter = await page.locator("#fig-transfer_eil .live .bars_marks path[opacity='0.12']").count();
    assert.ok(fadedBefore === 0 && fadedAfter > 0, `legend click highlights one method (${fadedBefore} → ${fadedAfter} faded bars)`);
    assert.deepEqual(requests, [], "the page made no network requests");
    assert.deepEqual(errors, [], "no console errors, page errors or failed requests");
    t.diagnostic(`browser: ${(performance.now() - t0).toFixed(0)} ms (launch, load, checks, screenshot ${shot})`);
  } finally {
    await browser.close();
  }
});
