import { basename } from "node:path";
/**
 * The report page: one self-contained HTML file. Each figure is there twice — as the static SVG rendered in Node
 * (what a reader without scripts, or a printed page, sees) and as its Vega-Lite spec, which the inlined
 * vega / vega-lite / vega-embed runtime turns into an interactive view (tooltips, legend selection) on load;
 * the static copy is then hidden. Nothing is fetched: no external scripts, styles, fonts or images.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ExperimentData } from "./load.ts";
import type { FigureDef, Section } from "./figures/vega.ts";
import { escapeHtml } from "./escape.ts";
import { provenanceHtml } from "./header.ts";
import { PAPER_SOURCE_NOTE } from "./paper.ts";

/** The folder of an installed package (walks up from its resolved entry point to its package.json). */
export function packageDir(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.resolve(name)));
  for (;;) {
    const pj = join(dir, "package.json");
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === name) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the folder of package '${name}'`);
    dir = up;
  }
}

/** The browser builds (UMD, minified) of the runtime, in load order. */
export const RUNTIME = [
  { pkg: "vega", file: "build/vega.min.js", global: "vega" },
  { pkg: "vega-lite", file: "build/vega-lite.min.js", global: "vegaLite" },
  { pkg: "vega-embed", file: "build/vega-embed.min.js", global: "vegaEmbed" },
] as const;

let runtimeCache: { pkg: string; version: string; code: string }[] | undefined;

/** The runtime's source, made safe to inline in a <script> element. */
export function runtimeScripts(): { pkg: string; version: string; code: string }[] {
  if (runtimeCache) return runtimeCache;
  runtimeCache = RUNTIME.map(({ pkg, file }) => {
    const dir = packageDir(pkg);
    const path = join(dir, file);
    if (!existsSync(path)) throw new Error(`${path}: missing; reinstall ${pkg} (npm ci)`);
    const version = (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
    // "</script" would end the element early; inside JS strings and regexes "<\/script" means the same
    const code = readFileSync(path, "utf8").replace(/<\/(script)/gi, "<\\/$1");
    return { pkg, version, code };
  });
  return runtimeCache;
}

/** JSON inside <script type="application/json">: no "<" at all, so nothing can close the element. */
const jsonForScript = (v: unknown) => JSON.stringify(v).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");

const CSS = `
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1d1d1f; background: #fff; margin: 0; }
main { max-width: 1840px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 40px 0 6px; padding-top: 12px; border-top: 1px solid #e3e3e3; }
h3 { font-size: 15px; margin: 18px 0 4px; }
.meta { color: #555; margin: 0 0 12px; }
.meta code, p code { background: #f3f3f3; padding: 0 4px; border-radius: 3px; font-size: 13px; }
nav ol { margin: 6px 0; padding-left: 22px; columns: 2; }
.intro { color: #333; max-width: 900px; }
p.lead { font-size: 16px; font-weight: 500; max-width: 1100px; margin: 6px 0 8px; padding: 6px 12px; border-left: 4px solid #0b5cad; background: #f3f7fc; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 500px), 1fr)); gap: 8px 28px; align-items: start; }
.figures figure.chart.wide { grid-column: 1 / -1; }
.note { background: #fff6e0; border-left: 4px solid #e0a100; padding: 8px 12px; margin: 10px 0; max-width: 900px; }
figure.chart { margin: 18px 0 30px; min-width: 0; }
figure.chart figcaption { font-size: 13px; color: #444; margin-top: 4px; max-width: 900px; }
figure.chart figcaption b { color: #1d1d1f; font-size: 14px; }
figure.chart figcaption a { color: #0b5cad; }
.static, .live { overflow-x: auto; }
.static svg { max-width: 100%; height: auto; }
.live:empty { display: none; }
figure.chart.is-live .static { display: none; }
table.data { border-collapse: collapse; margin: 12px 0 20px; font-size: 13px; }
table.data caption { text-align: left; font-weight: 600; padding-bottom: 6px; }
table.data th, table.data td { border: 1px solid #ddd; padding: 4px 8px; }
table.data thead th { background: #f5f5f7; }
table.data th[scope=row] { text-align: left; font-weight: 500; background: #fafafa; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.data td.overall, table.data th.overall { font-weight: 700; }
table.data td.missing { color: #999; }
table.data .ci { color: #666; font-size: 12px; }
table.data tfoot th, table.data tfoot td { background: #f5f5f7; font-weight: 600; }
.tables { overflow-x: auto; }
.data-links { font-size: 13px; color: #555; }
table.data td.paper, table.data th.paper, table.data tr.paper th, table.data tr.paper td { background: #f3f7fc; }
table.data td.vs { font-size: 12px; white-space: nowrap; }
table.data td.vs.higher, table.data td.vs.lower { color: #a33; font-weight: 600; }
table.data td.vs.close { color: #276b2e; }
p.paper-diff { max-width: 900px; margin: -8px 0 18px; font-size: 13px; }
table.provenance td { vertical-align: top; font-size: 12px; }
table.provenance .missing { color: #999; }
table.provenance .fp { color: #666; }
.vega-bind { font-size: 13px; color: #333; margin: 4px 0; }
footer { margin-top: 48px; font-size: 12px; color: #666; border-top: 1px solid #e3e3e3; padding-top: 8px; }
`;

const EMBED = `
(function () {
  var root = document.documentElement;
  var specs = JSON.parse(document.getElementById("quirky-specs").textContent);
  var ids = Object.keys(specs);
  if (typeof vegaEmbed !== "function") {
    console.warn("quirky report: the vega runtime did not load; showing the static figures");
    root.setAttribute("data-report-ready", "static");
    return;
  }
  var live = 0;
  var jobs = ids.map(function (id) {
    var fig = document.getElementById("fig-" + id);
    var host = document.getElementById("live-" + id);
    return vegaEmbed(host, specs[id], {
      mode: "vega-lite",
      renderer: "svg",
      actions: { export: true, source: false, compiled: false, editor: false },
      downloadFileName: id
    }).then(function (res) {
      live += 1;
      fig.classList.add("is-live");
      window.quirkyViews = window.quirkyViews || {};
      window.quirkyViews[id] = res.view;
    }).catch(function (err) {
      console.error("quirky report: figure " + id + " is shown static only: " + (err && err.message ? err.message : err));
    });
  });
  Promise.all(jobs).then(function () {
    root.setAttribute("data-live-figures", String(live));
    root.setAttribute("data-report-ready", "true");
  });
})();
`;

function figureHtml(f: FigureDef, svg: string): string {
  // small multiples of three or more columns take a whole row of the grid; narrower charts share one
  const wide = "facet" in f.spec && Number(f.spec.columns ?? 1) >= 3 ? " wide" : "";
  return `<figure class="chart${wide}" id="fig-${f.id}" data-figure="${f.id}">
<div class="static" aria-label="${escapeHtml(f.title)}">${svg}</div>
<div class="live" id="live-${f.id}"></div>
<figcaption>${escapeHtml(f.caption)}
  <span class="data-links">[<a href="${f.id}.svg">SVG</a> · <a href="data/${f.dataFile}.csv">CSV</a> · <a href="data/${f.dataFile}.json">JSON</a> · <a href="specs/${f.id}.vl.json">Vega-Lite</a>]</span></figcaption>
</figure>`;
}

function sectionHtml(n: number, s: Section, svgs: Map<string, string>): string {
  const parts = [`<section id="sec-${s.id}" class="report-section" data-section="${s.id}">`, `<h2>${n}. ${escapeHtml(s.title)}</h2>`];
  if (s.lead) parts.push(`<p class="lead">${escapeHtml(s.lead)}</p>`);
  parts.push(`<p class="intro">${escapeHtml(s.intro)}</p>`);
  for (const note of s.notes) parts.push(`<p class="note skipped">${note}</p>`);
  if (s.figures.length) parts.push(`<div class="figures">\n${s.figures.map((f) => figureHtml(f, svgs.get(f.id) ?? "")).join("\n")}\n</div>`);
  if (s.tables.length) parts.push(`<div class="tables">\n${s.tables.join("\n")}\n</div>`);
  if (s.data.length && s.data.some((d) => d.rows.length)) {
    const links = s.data.filter((d) => d.rows.length).map((d) => `<a href="data/${d.name}.csv">${d.name}.csv</a> (<a href="data/${d.name}.json">json</a>)`);
    parts.push(`<p class="data-links">Numbers: ${links.join(" · ")}</p>`);
  }
  parts.push("</section>");
  return parts.join("\n");
}

export function pageHtml(data: ExperimentData, sections: Section[], svgs: Map<string, string>): string {
  const specs: Record<string, unknown> = {};
  for (const s of sections) for (const f of s.figures) specs[f.id] = f.spec;
  const runtime = runtimeScripts();
  const list = (xs: string[]) => (xs.length ? xs.map((x) => `<code>${escapeHtml(x)}</code>`).join(", ") : "none");
  const toc = sections.map((s, i) => `<li><a href="#sec-${s.id}">${escapeHtml(s.title)}</a>${s.figures.length + s.tables.length === 0 ? " (skipped)" : ""}</li>`).join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="quirky report">
<title>quirky report — ${escapeHtml(basename(data.expDir))}</title>
<link rel="icon" href="data:,">
<style>${CSS}</style>
</head>
<body>
<main>
<h1>Eliciting latent knowledge from quirky language models</h1>
<p class="meta">Results in <code>${escapeHtml(basename(data.expDir))}</code> · models: ${list(data.models)} · datasets: ${list(data.datasets)}</p>
${provenanceHtml(data)}
<nav><ol>${toc}</ol></nav>
${sections.map((s, i) => sectionHtml(i + 1, s, svgs)).join("\n")}
<footer>Paper numbers: ${escapeHtml(PAPER_SOURCE_NOTE)} (src/report/paper.ts names each number's cell). Figures: Vega-Lite specs rendered with ${runtime.map((r) => `${r.pkg} ${escapeHtml(r.version)}`).join(", ")} (inlined; the page needs no network). Static SVGs, Vega-Lite specs and the numbers (CSV, JSON) are next to this page.</footer>
</main>
${runtime.map((r) => `<script data-runtime="${r.pkg}">${r.code}</script>`).join("\n")}
<script type="application/json" id="quirky-specs">${jsonForScript(specs)}</script>
<script>${EMBED}</script>
</body>
</html>
`;
}
