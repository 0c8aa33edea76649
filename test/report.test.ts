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
import { PAPER_ANOMALY, PAPER_DATASETS, PAPER_PGR, PAPER_TOLERANCE, paperPgr, paperTrace } from "../src/report/paper.ts";
import { RANDOM_MEDIAN } from "../src/report/figures/layerwise.ts";
import { FITTED_REPORTER_NAMES, REPORTERS, reporterDisplayName } from "../src/probes/reporter.ts";

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

/** The cells of the row of `table` (an HTML table) whose <tr> carries `attrs`. */
function rowCells(table: string, attrs: string): string[] {
  const row = table.match(new RegExp(`<tr ${attrs}>([\\s\\S]*?)</tr>`));
  assert.ok(row, `row ${attrs}`);
  return [...row[1].matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((m) => decode(m[1].replace(/<[^>]+>/g, "")));
}

test("PGR and anomaly tables set the paper's numbers beside ours, a dash where it has none, and say where ours differ", async () => {
  const { exp, out, r } = await fullReport();
  const html = readFileSync(r.html, "utf8");
  const pgrIn = JSON.parse(readFileSync(join(exp, "pgr.json"), "utf8")) as { transfer: string; reporter: string; overall: { pgr: number } }[];
  // the published numbers themselves (Mallen et al. 2023), so an edit to paper.ts cannot slip through
  // (figures.ipynb at 8f30c6d: cell 21 prints AE→BH and all→BH, cell 23 A→B, cell 31 the anomaly AUROCs)
  assert.deepEqual(PAPER_PGR, {
    "AE→BH": { LogR: 0.68, "Diff-in-means": 0.69, LDA: 0.6, "LogR on contrast pairs": 0.75, CCS: 0.54, CRC: 0.54 },
    "all→BH": { CCS: 0.15, CRC: 0.36 },
    "A→B": { LogR: 0.81, "Diff-in-means": 0.76, LDA: 0.73, "LogR on contrast pairs": 0.89, CCS: 0.66, CRC: 0.66 },
  });
  assert.deepEqual(PAPER_ANOMALY, { LogR: 0.94, "Diff-in-means": 0.93, LDA: 0.95, "LogR on contrast pairs": 0.95, CCS: 0.9, CRC: 0.91 });
  // the per-dataset rows the issue quotes: LogR on pairs AE→BH (cell 21)
  assert.deepEqual(
    PAPER_DATASETS.map((d) => paperPgr("AE→BH", "lr-on-pair", d)),
    [-1.03, 0.92, 0.4, 0.92, 0.86, -2.76, 0.81, 0.49, 0.88, 0.73, 0.75],
  );
  assert.equal(paperPgr("AE→BH", "mean-diff-on-pair"), undefined, "that commit's Diff-in-means-on-pairs rows are plain Diff-in-means: no number");
  assert.equal(paperPgr("AE→BH", "lr", "population"), undefined, "the paper leaves population out");
  // every published number names a method of the registry (a misspelt name would silently show a dash)
  for (const [transfer, methods] of Object.entries(PAPER_PGR)) {
    for (const name of Object.keys(methods)) assert.equal(Object.values(REPORTERS).filter((x) => x.paperName === name).length, 1, `${transfer}: '${name}' is one reporter's paperName`);
  }
  const paperOf = (transfer: string, reporter: string, dataset?: string) => {
    const name = (REPORTERS as Record<string, { paperName: string | null }>)[reporter].paperName;
    return name === null ? undefined : dataset === undefined ? PAPER_PGR[transfer]?.[name] : paperPgr(transfer, reporter, dataset);
  };
  let shown = 0;
  for (const group of ["AE→BH", "A→B"]) {
    const table = html.match(new RegExp(`<table class="data pgr" data-transfer="${group}">[\\s\\S]*?</table>`))![0];
    const head = [...table.match(/<thead>([\s\S]*?)<\/thead>/)![1].matchAll(/<th[^>]*>([^<]*)<\/th>/g)].map((m) => m[1]);
    assert.deepEqual(head.slice(-3), ["overall", "paper", "ours vs paper"]);
    const verdicts = decode(html.match(new RegExp(`<p class="paper-diff" data-transfer="${group}">([^<]*)</p>`))![1]);
    for (const p of pgrIn.filter((x) => x.transfer === group || (group === "AE→BH" && x.transfer === "all→BH"))) {
      const cells = rowCells(table, `data-reporter="${p.reporter}" data-transfer="${p.transfer}"`);
      const [paperCell, vs] = cells.slice(-2);
      const paper = paperOf(p.transfer, p.reporter);
      if (paper === undefined) {
        assert.equal(paperCell, "—", `${p.transfer} ${p.reporter}: no published number, a dash`);
        assert.equal(vs, "—");
        continue;
      }
      shown++;
      assert.equal(paperCell, paper.toFixed(2), `${p.transfer} ${p.reporter}: the paper's PGR`);
      const gap = p.overall.pgr - paper;
      const name = cells[0];
      if (Math.abs(gap) <= PAPER_TOLERANCE) {
        assert.equal(vs, `within ${PAPER_TOLERANCE}`);
        assert.match(verdicts, new RegExp(`Within ${PAPER_TOLERANCE} of the paper's: [^.]*${name.replace(/[()]/g, "\\$&")}`));
      } else {
        assert.equal(vs, `${gap > 0 ? "higher" : "lower"} by ${Math.abs(gap).toFixed(2)}`, `${p.reporter}: ours ${p.overall.pgr}, paper ${paper}`);
        assert.ok(verdicts.includes(`${name}: ours ${p.overall.pgr.toFixed(2).replace(/^-/, "−")}, paper ${paper.toFixed(2)} (${gap > 0 ? "higher" : "lower"})`), verdicts);
      }
    }
  }
  assert.equal(shown, 14, "six AE→BH, two all→BH and six A→B numbers published");
  // the explicit dashes: Diff-in-means on pairs (the notebook's rows for it are plain Diff-in-means), with the reason
  for (const table of ["AE→BH", "A→B"]) {
    const t = html.match(new RegExp(`<table class="data pgr" data-transfer="${table}">[\\s\\S]*?</table>`))![0];
    assert.equal(rowCells(t, `data-reporter="mean-diff-on-pair" data-transfer="${table}"`).at(-2), "—", table);
    assert.match(t.match(/<tr data-reporter="mean-diff-on-pair"[\s\S]*?<\/tr>/)![0], /title="at 8f30c6d the notebook&#39;s Diff-in-means-on-pairs rows equal plain Diff-in-means/);
  }
  // the numbers file carries the paper's PGR on the overall rows (empty elsewhere)
  const rows = JSON.parse(readFileSync(join(out, "data", "pgr.json"), "utf8")) as { transfer: string; reporter: string; dataset: string; paper_pgr: number | null }[];
  for (const row of rows) assert.equal(row.paper_pgr, paperOf(row.transfer, row.reporter, row.dataset === "overall" ? undefined : row.dataset) ?? null, `${row.transfer} ${row.reporter} ${row.dataset}`);

  // anomaly detection: the paper's Mahalanobis average for that probe under that column, dashes under the others;
  // beside each dataset's row, the paper's number for that probe on that dataset (cell 31)
  const ANOMALY_CELL31: Record<string, Record<string, string>> = { lr: { addition: "0.94", capitals: "0.85", sciq: "0.83" }, "mean-diff": { addition: "0.98", capitals: "0.74", sciq: "0.83" } };
  for (const table of html.match(/<table class="data anomaly"[\s\S]*?<\/table>/g)!) {
    const reporter = table.match(/data-reporter="([^"]+)"/)![1];
    const detectors = [...table.match(/<thead>([\s\S]*?)<\/thead>/)![1].matchAll(/<th scope="col">([^<]*)<\/th>/g)].map((m) => m[1]).filter((c) => c !== "model" && c !== "dataset");
    const cells = rowCells(table, 'class="paper"');
    const paperRow = cells.slice(cells.findIndex((c) => c.startsWith("paper (")) + 1, -1);
    assert.equal(paperRow.length, detectors.length);
    const name = reporterDisplayName(reporter as "lr") === "LogR" ? "LogR" : "Diff-in-means";
    detectors.forEach((d, i) => assert.equal(paperRow[i], d === "mahalanobis" ? PAPER_ANOMALY[name].toFixed(3) : "—", d));
    for (const [dataset, printed] of Object.entries(ANOMALY_CELL31[reporter])) {
      const rows = [...table.matchAll(new RegExp(`<th scope="row">${dataset}</th>[\\s\\S]*?</tr>`, "g"))];
      assert.equal(rows.length, MODELS.length);
      for (const r of rows) assert.match(r[0], new RegExp(`<td class="num paper" data-dataset="${dataset}"[^>]*>${printed.replace(".", "\\.")}</td></tr>$`), `${reporter} ${dataset}`);
    }
  }
  assert.match(decode(html), /<p class="paper-diff" data-reporter="lr">mahalanobis: our mean 0\.\d{3} is (within 0\.05 of|higher than|lower than) the paper's 0\.940/);

  // the summary across reporters: each cell is that reporter's Mahalanobis AUROC on that model × dataset, then the
  // mean, the mean of the diagonal-subtracted variant, and the paper's
  const summary = html.match(/<table class="data anomaly-summary">[\s\S]*?<\/table>/)![0];
  const columns = [...summary.match(/<thead>([\s\S]*?)<\/thead>/)![1].matchAll(/<th scope="col"[^>]*>([^<]*)<\/th>/g)].map((m) => decode(m[1]));
  const experiments = columns.slice(1, -3);
  assert.deepEqual([columns[0], ...columns.slice(-3)], ["reporter", "mean", "mean, minus diagonal", "paper"]);
  assert.deepEqual([...experiments].sort(), MODELS.flatMap((m) => DATASETS.map((d) => `${m} × ${d}`)).sort());
  for (const reporter of ["lr", "mean-diff"]) {
    const aurocs = (detector: string) =>
      experiments.map((c) => {
        const [m, d] = c.split(" × ");
        return (JSON.parse(readFileSync(join(exp, m, d, `anomaly_${reporter}.json`), "utf8")) as { results: { detector: string; auroc: number }[] }).results.find((x) => x.detector === detector)!.auroc;
      });
    const mean = (xs: number[]) => (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(3);
    const want = aurocs("mahalanobis");
    const cells = rowCells(summary, `data-reporter="${reporter}"`);
    assert.deepEqual(cells.slice(1), [...want.map((x) => x.toFixed(3)), mean(want), mean(aurocs("mahalanobis-minus-diag")), reporter === "lr" ? "0.940" : "0.930"], reporter);
  }
});

test("PGR by dataset: ours from pgr.json beside the paper's per-dataset numbers; each section opens with ours against the paper's", async () => {
  const { exp, r } = await fullReport();
  const html = readFileSync(r.html, "utf8");
  const pgrIn = JSON.parse(readFileSync(join(exp, "pgr.json"), "utf8")) as { transfer: string; reporter: string; perDataset: Record<string, { pgr: number; floor: number }> }[];
  // cells 21 (AE→BH) and 23 (A→B) of figures.ipynb, as printed, for the synthetic folder's datasets and two methods
  const CELLS: Record<string, Record<string, Record<string, string>>> = {
    "AE→BH": { lr: { addition: "0.74", capitals: "−0.93", sciq: "0.43" }, "lr-on-pair": { addition: "0.81", capitals: "−1.03", sciq: "0.40" } },
    "A→B": { lr: { addition: "0.76", capitals: "1.08", sciq: "0.69" }, "lr-on-pair": { addition: "0.92", capitals: "1.10", sciq: "0.77" } },
  };
  for (const group of ["AE→BH", "A→B"]) {
    const table = html.match(new RegExp(`<table class="data pgr-by-dataset" data-transfer="${group}">[\\s\\S]*?</table>`))![0];
    const rows = [...table.matchAll(/<tr data-dataset="([^"]+)">/g)].map((m) => m[1]);
    // ours first (in the paper's column order), then the paper's other datasets, each with "—" for ours
    assert.deepEqual(rows, [...PAPER_DATASETS.filter((d) => DATASETS.includes(d)), ...PAPER_DATASETS.filter((d) => !DATASETS.includes(d))]);
    const cell = (reporter: string, transfer: string, dataset: string, src: string) => decode(table.match(new RegExp(`<td class="num[^"]*" data-reporter="${reporter}" data-transfer="${transfer}" data-dataset="${dataset}" data-source="${src}"[^>]*>([^<]*)</td>`))?.[1] ?? "(none)");
    for (const p of pgrIn.filter((x) => x.transfer === group || (group === "AE→BH" && x.transfer === "all→BH"))) {
      for (const d of DATASETS) assert.equal(cell(p.reporter, p.transfer, d, "ours"), p.perDataset[d].pgr.toFixed(2).replace(/^-/, "−"), `${p.transfer} ${p.reporter} ${d}`);
    }
    for (const [reporter, byDs] of Object.entries(CELLS[group])) for (const [d, printed] of Object.entries(byDs)) assert.equal(cell(reporter, group, d, "paper"), printed, `${group} ${reporter} ${d}`);
    // a dash with its reason where the paper has none, and where our run has no such dataset
    assert.match(table, /<tr data-dataset="addition">[\s\S]*?data-source="ours"[^>]*>[^<]*<\/td><td class="num missing paper" title="at 8f30c6d the notebook/);
    assert.match(table, /<tr data-dataset="hemisphere"><th scope="row">hemisphere<\/th><td class="num missing ours" title="hemisphere is not in this run">—<\/td>/);
  }
  // PGR by model size has no paper number at that commit: a dash and why
  assert.match(decode(html), /<p class="paper-diff" data-paper="model-size">The paper's PGR by model size: — \(the notebook at 8f30c6d prints no PGR by model size/);
  // the trace of every number: 11 datasets and the average per printed row, "1" read as 1
  const trace = paperTrace();
  assert.equal(trace.length, (8 + 2 + 8 + 6) * 12);
  assert.ok(trace.every((x) => x.value === Number(x.text) && [21, 23, 31].includes(x.cell)));
  assert.deepEqual(trace.find((x) => x.table === "anomaly AUROC" && x.row === "LogR" && x.dataset === "subtraction"), { table: "anomaly AUROC", cell: 31, row: "LogR", dataset: "subtraction", text: "1", value: 1 });
  // every section opens with one sentence on ours against the paper's
  const sections = [...html.matchAll(/<section id="sec-([a-z]+)"[^>]*>\n<h2>[^<]*<\/h2>\n(<p class="lead">[^<]*<\/p>)?/g)];
  assert.equal(sections.length, 8);
  for (const m of sections) assert.ok(m[2], `${m[1]} opens with a lead sentence`);
  const lead = (id: string) => decode(html.match(new RegExp(`<section id="sec-${id}"[^>]*>\\n<h2>[^<]*</h2>\\n<p class="lead">([^<]*)</p>`))![1]);
  const best = pgrIn.filter((x) => x.transfer === "AE→BH").sort((a, b) => (b as unknown as { overall: { pgr: number } }).overall.pgr - (a as unknown as { overall: { pgr: number } }).overall.pgr)[0] as unknown as { reporter: string; overall: { pgr: number } };
  assert.ok(lead("pgr").startsWith(`Our best AE→BH PGR is ${best.overall.pgr.toFixed(2)} (${reporterDisplayName(best.reporter as "lr")})`), lead("pgr"));
  assert.match(lead("pgr"), /against the paper's 0\.75 \(LogR on contrast pairs\) and 0\.89 \(LogR on contrast pairs\) \(figures\.ipynb cells 21 and 23\)/);
  assert.match(lead("anomaly"), /against the paper's 0\.93 \(figures\.ipynb cell 31/);
});

test("the model's own output AUROCs, per model and dataset, as the summaries record them", async () => {
  const { exp, out, r } = await fullReport();
  const html = readFileSync(r.html, "utf8");
  const table = html.match(/<table class="data lm-output">[\s\S]*?<\/table>/)![0];
  const rows = JSON.parse(readFileSync(join(out, "data", "lm_output.json"), "utf8")) as Record<string, string | number>[];
  assert.equal(rows.length, MODELS.length * DATASETS.length);
  for (const model of MODELS) {
    for (const dataset of DATASETS) {
      const summary = JSON.parse(readFileSync(join(exp, model, dataset, "summary.json"), "utf8")) as { train: string; test: string; lm: Record<string, Record<string, number>> }[];
      const onA = summary.find((t) => t.train === "A" && t.test === "A")!.lm;
      const onB = summary.find((t) => t.train === "B" && t.test === "B")!.lm;
      const want = [onA.label.all, onB.label.all, onB.alice.disagree];
      const row = rows.find((x) => x.model === model && x.dataset === dataset)!;
      assert.deepEqual([row.alice_vs_alice, row.bob_vs_bob, row.bob_disagree_vs_alice], want);
      const cells = table.match(new RegExp(`<tr><td>${model}</td><th scope="row">${dataset}</th>([\\s\\S]*?)</tr>`))![1];
      assert.deepEqual([...cells.matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((m) => m[1]), want.map((x) => x.toFixed(3)));
      // the story the table tells: the output follows each character, so it misses the truth on Bob's disagreements
      assert.ok(want[0] > 0.5 && want[1] > 0.5 && want[2] < 0.5);
    }
  }
  assert.ok(table.includes("<th scope=\"col\">Bob&#39;s disagreements vs Alice&#39;s labels</th>"), "column titles, escaped");
});

test("layerwise figures hold every reporter's curves behind a menu and the random-direction median per layer", async () => {
  const { exp, out, r } = await fullReport();
  for (const model of MODELS) {
    const aeBh = r.figures.find((f) => f.id === `layerwise_${model}_lr_AE-BH_disagree`)!;
    const spec = aeBh.spec as { params: { name: string; value: string; bind: { input: string; options: string[] } }[]; data: { values: Record<string, unknown>[] } };
    // a menu of every fitted reporter (the synthetic folder has them all), LogR first in the static image
    const labels = FITTED_REPORTER_NAMES.map(reporterDisplayName);
    assert.deepEqual(spec.params[0].bind.options, labels);
    assert.equal(spec.params[0].bind.input, "select");
    assert.equal(spec.params[0].value, "LogR");
    assert.match(aeBh.caption, /the static image shows LogR, the menu under the interactive figure picks any of/);
    const values = spec.data.values;
    for (const dataset of DATASETS) {
      const summary = JSON.parse(readFileSync(join(exp, model, dataset, "summary.json"), "utf8")) as { reporter: string; train: string; test: string; curves: { alice: { disagree: number[] } } }[];
      for (const reporter of FITTED_REPORTER_NAMES) {
        const curve = summary.find((t) => t.reporter === reporter && t.train === "AE" && t.test === "BH")!.curves.alice.disagree;
        const drawn = values.filter((v) => v.series === "probe" && v.dataset === dataset && v.reporter === reporter && v.against === "Alice's labels").map((v) => v.auroc);
        assert.deepEqual(drawn, curve, `${model} ${dataset} ${reporter}: its curve is in the figure`);
      }
      // the random median: q = 0.5 of the baseline's disagree subset, at every layer
      const random = JSON.parse(readFileSync(join(exp, model, dataset, "BH", "test", "AE_random_aucs_against_alice.json"), "utf8")) as { layers: { subsets: { disagree: { quantiles: { q: number; auroc: number }[] } } }[] };
      const medians = random.layers.map((l) => l.subsets.disagree.quantiles.find((q) => q.q === 0.5)!.auroc);
      assert.deepEqual(values.filter((v) => v.series === RANDOM_MEDIAN && v.dataset === dataset).map((v) => v.auroc), medians);
    }
    const svg = readFileSync(join(out, `${aeBh.id}.svg`), "utf8");
    assert.ok(textsIn(svg, "role-legend-label").includes(RANDOM_MEDIAN), "the static SVG's legend names the random median");
    assert.match(svg, /random_median_marks/);
    // A→B has no random baseline in the grid: no such line, and the caption says so
    const ab = r.figures.find((f) => f.id === `layerwise_${model}_lr_A-B_disagree`)!;
    assert.ok(!(ab.spec as { data: { values: Record<string, unknown>[] } }).data.values.some((v) => v.series === RANDOM_MEDIAN));
    assert.match(ab.caption, /no random-direction baseline for A→B/);
  }
  // the numbers file: every reporter, and the median beside the Alice rows that have one
  const rows = JSON.parse(readFileSync(join(out, "data", "layerwise.json"), "utf8")) as { reporter: string; test: string; against: string; random_median: number | null }[];
  assert.deepEqual([...new Set(rows.map((x) => x.reporter))].sort(), [...FITTED_REPORTER_NAMES].sort());
  assert.ok(rows.filter((x) => x.test === "BH" && x.against === "alice").every((x) => typeof x.random_median === "number"));
  assert.ok(rows.filter((x) => x.test === "B" || x.against === "bob").every((x) => x.random_median === null));
});

test("the header says how the results were made, from the states' meta.json and run-info.json, escaped", async () => {
  const { exp, r } = await fullReport();
  const html = readFileSync(r.html, "utf8");
  const table = html.match(/<table class="data provenance">[\s\S]*?<\/table>/)![0];
  assert.ok(html.indexOf('<section id="how-made"') < html.indexOf("<nav>"), "the header comes before the sections");
  for (const model of MODELS) {
    for (const dataset of DATASETS) {
      const row = decode(table.match(new RegExp(`<tr data-model="${model}" data-dataset="${dataset}">([\\s\\S]*?)</tr>`))![1].replace(/<br>/g, " | ").replace(/<[^>]+>/g, ""));
      const info = JSON.parse(readFileSync(join(exp, model, dataset, "run-info.json"), "utf8"));
      const meta = JSON.parse(readFileSync(join(exp, model, dataset, "AE", "validation", "meta.json"), "utf8"));
      const test = JSON.parse(readFileSync(join(exp, model, dataset, "BH", "test", "meta.json"), "utf8"));
      assert.ok(row.includes(meta.model) && row.includes(`adapter ${meta.adapter}`), row);
      assert.ok(row.includes(meta.provenance.inputs.model.slice(0, 12)), "the model files' fingerprint");
      assert.ok(row.includes(`${meta.layers} layers × ${meta.d}`));
      for (const [k, v] of Object.entries(info.dataset.settings)) assert.ok(row.includes(`${k.replace(/_/g, " ")} ${v}`), `dataset setting ${k}: ${row}`);
      for (const [k, v] of Object.entries(info.dataset.counts)) assert.ok(row.includes(`${k} ${v}`), `rows in ${k}`);
      const aeTest = JSON.parse(readFileSync(join(exp, model, dataset, "AE", "test", "meta.json"), "utf8"));
      assert.ok(row.includes(`AE ${meta.n} / ${aeTest.n}`), row);
      assert.ok(row.includes(`BH — / ${test.n}`), "BH is only tested on: a dash for its fit rows");
      assert.ok(row.includes(`templates ${meta.settings.method}`) && row.includes(`example seed ${meta.settings.seed}`));
      assert.ok(row.includes(`${info.grid.randomSamples} random directions`) && row.includes(`probe and detector seed ${info.grid.seed}`));
      assert.ok(row.endsWith(info.quirky), "the version that made the results");
    }
  }
  // text from the results folder is escaped
  const exp2 = join(scratch, "exp-escape");
  writeSyntheticExperiments(exp2, { models: ["m"], datasets: ["addition"], layers: 3, parts: { pgr: false, random: false, anomaly: false, intervention: false } });
  const infoPath = join(exp2, "m", "addition", "run-info.json");
  const info = JSON.parse(readFileSync(infoPath, "utf8"));
  info.dataset.settings.source = "<script>alert(1)</script>&\"x\"";
  info.quirky = "<b>1</b>";
  writeFileSync(infoPath, JSON.stringify(info));
  const page = readFileSync((await renderReport(exp2, join(scratch, "escape-report"))).html, "utf8");
  assert.ok(!page.includes("<script>alert(1)") && !page.includes("<b>1</b>"));
  assert.ok(page.includes("source &lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;x&quot;") && page.includes("<code>&lt;b&gt;1&lt;/b&gt;</code>"));
  // without run-info.json, what is not recorded is said as such
  rmSync(infoPath);
  const bare = readFileSync((await renderReport(exp2, join(scratch, "escape-report"))).html, "utf8");
  assert.match(bare, /settings and split sizes <span class="missing">not recorded<\/span>/);
  assert.match(bare, /<td class="version"><span class="missing">not recorded<\/span><\/td>/);
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
    // the per-dataset PGR table as the page shows it, against pgr.json on disk
    const pgrDisk = JSON.parse(readFileSync(join(scratch, "exp", "pgr.json"), "utf8")) as { transfer: string; reporter: string; perDataset: Record<string, { pgr: number }> }[];
    for (const p of pgrDisk.filter((x) => x.transfer === "AE→BH" || x.transfer === "A→B")) {
      const shownPgr = await page.locator(`table.pgr-by-dataset td[data-reporter="${p.reporter}"][data-transfer="${p.transfer}"][data-dataset="addition"][data-source="ours"]`).innerText();
      assert.equal(shownPgr, p.perDataset.addition.pgr.toFixed(2).replace(/^-/, "−"), `${p.transfer} ${p.reporter}`);
    }
    assert.equal(await page.locator('table.pgr-by-dataset[data-transfer="AE→BH"] td[data-reporter="lr-on-pair"][data-dataset="addition"][data-source="paper"]').innerText(), "0.81", "figures.ipynb cell 21");
    assert.equal(await page.locator("section.report-section > p.lead").count(), 8, "each section opens with its sentence");
    assert.ok((await page.locator("section.report-section > p.lead").first().innerText()).length > 40);
    // on a wide screen the figures are laid out in a grid of two or more columns; small multiples of three
    // panels or more span it
    await page.setViewportSize({ width: 1700, height: 900 });
    const grid = await page.locator("#sec-layerwise .figures").evaluate((el) => getComputedStyle(el).gridTemplateColumns);
    assert.ok(grid.split(" ").length >= 2, `grid columns: ${grid}`);
    const [fig, row] = await Promise.all([page.locator(`#fig-layerwise_${MODELS[0]}_lr_AE-BH_disagree`).boundingBox(), page.locator("#sec-layerwise .figures").boundingBox()]);
    assert.ok(fig && row && fig.width > 0.98 * row.width, "a three-panel figure spans the grid");
    await page.setViewportSize({ width: 1280, height: 900 });

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
    // the layerwise menu: every reporter listed; picking one redraws the probe curves with its numbers
    const lwId = `layerwise_${MODELS[0]}_lr_AE-BH_disagree`;
    const menu = page.locator(`#fig-${lwId} .live select`);
    assert.equal(await menu.count(), 1, "one reporter menu under the layerwise figure");
    assert.deepEqual(await menu.locator("option").allTextContents(), FITTED_REPORTER_NAMES.map(reporterDisplayName));
    assert.equal(await menu.inputValue(), "LogR");
    // a string, not a function: tsx would wrap named inner functions in a helper the page does not have
    const probeData = () =>
      page.evaluate(`(async () => {
        const view = window.quirkyViews[${JSON.stringify(lwId)}];
        await view.runAsync();
        // the data of every drawn probe point (method and AUROC), from vega's scenegraph
        const out = [];
        const stack = [view.scenegraph().root];
        while (stack.length) {
          const node = stack.pop();
          for (const item of node.items || []) {
            // (group items of the facets carry a datum too, without a method)
            if (item.datum && item.datum.series === "probe" && item.datum.method) out.push(item.datum.method + ":" + item.datum.auroc);
            stack.push(item);
          }
        }
        return { pick: view.signal("method_pick"), points: [...new Set(out)] };
      })()`) as Promise<{ pick: string; points: string[] }>;
    const before = await probeData();
    assert.equal(before.pick, "LogR");
    assert.ok(before.points.length > 0 && before.points.every((p) => p.startsWith("LogR:")), [...new Set(before.points.map((p) => p.split(":")[0]))].join(" "));
    await menu.selectOption("CCS");
    const after = await probeData();
    assert.equal(after.pick, "CCS");
    assert.ok(after.points.length > 0 && after.points.every((p) => p.startsWith("CCS:")), [...new Set(after.points.map((p) => p.split(":")[0]))].join(" "));
    assert.deepEqual(requests, [], "the page made no network requests");
    assert.deepEqual(errors, [], "no console errors, page errors or failed requests");
    t.diagnostic(`browser: ${(performance.now() - t0).toFixed(0)} ms (launch, load, checks, screenshot ${shot})`);
  } finally {
    await browser.close();
  }
});
