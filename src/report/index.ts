/**
 * The report: from an experiments folder to one self-contained HTML page, one SVG per figure, the
 * Vega-Lite specs, and the numbers as CSV and JSON.
 *
 *   outDir/index.html          the page (inline SVGs + specs + inlined vega runtime: interactive, offline)
 *   outDir/<figure>.svg        each figure, rendered in Node
 *   outDir/specs/<figure>.vl.json
 *   outDir/data/<table>.csv|json
 *
 * A header says how the results were made (states' meta.json, run-info.json). Then: the LM's own output AUROCs;
 * layerwise AUROC curves (every reporter, with the LM output and the random-direction median), transfer bars at
 * the EIL, in-distribution vs transfer scatter, random-direction quantiles, PGR tables (beside the paper's
 * numbers) and chart, anomaly-detection tables, intervention curves. A figure whose inputs are missing is replaced
 * by a visible note; an experiments folder with no results at all is an error.
 * Every file is written atomically; the page last, so it never points at files not yet written.
 */
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { toCsv, toJsonRows } from "./csv.ts";
import { buildSections, type FigureDef, type LayerwiseConfig } from "./figures/index.ts";
import { pageHtml } from "./html.ts";
import { loadExperiments } from "./load.ts";
import { renderSvg } from "./render.ts";

export { loadExperiments, type ExperimentData } from "./load.ts";
export { renderSvg } from "./render.ts";
export { startExplorer, type Explorer } from "./explore.ts";
export { buildSections, DEFAULT_LAYERWISE, type FigureDef, type LayerwiseConfig, type Section, type VlSpec } from "./figures/index.ts";

export interface ReportOptions {
  /** which layerwise figures to draw, each with every reporter's curves (default: A→B and AE→BH on disagreements, LogR shown first) */
  layerwise?: LayerwiseConfig[];
  /** progress messages */
  onProgress?: (msg: string) => void;
}

export interface ReportResult {
  /** path of index.html */
  html: string;
  /** paths of the figure SVGs */
  svgs: string[];
  /** every file written (the page, SVGs, specs, data) */
  files: string[];
  /** the figures drawn, with what a reader must find in each */
  figures: FigureDef[];
  /** visible notes on the page (skipped figures) */
  notes: string[];
  /** vega / vega-lite warnings while rendering (none for a clean report) */
  warnings: string[];
}

/**
 * Ids inside an inlined SVG (clip paths, gradients) must be unique in the page: prefix them with the figure id.
 */
export function scopeSvgIds(svg: string, prefix: string): string {
  const ids = new Set<string>();
  for (const m of svg.matchAll(/\sid="([^"]+)"/g)) ids.add(m[1]);
  if (ids.size === 0) return svg;
  const p = (id: string) => (ids.has(id) ? `${prefix}-${id}` : id);
  return svg
    .replace(/(\sid=")([^"]+)"/g, (_, a: string, id: string) => `${a}${p(id)}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${p(id)})`)
    .replace(/(href=")#([^"]+)"/g, (_, a: string, id: string) => `${a}#${p(id)}"`);
}

export async function renderReport(expDir: string, outDir: string, opts: ReportOptions = {}): Promise<ReportResult> {
  const data = loadExperiments(expDir);
  const sections = buildSections(data, opts);
  const files: string[] = [];
  const write = (path: string, content: string) => {
    writeFileAtomic(path, content);
    files.push(path);
  };
  const svgs: string[] = [];
  const inline = new Map<string, string>();
  const warnings: string[] = [];
  const figures = sections.flatMap((s) => s.figures);
  // two names can share a slug ("a b" and "a_b"): keep ids (and file names) unique
  const seen = new Set<string>();
  for (const f of figures) {
    let id = f.id;
    for (let k = 2; seen.has(id); k++) id = `${f.id}_${k}`;
    seen.add(id);
    f.id = id;
  }
  for (const f of figures) {
    opts.onProgress?.(`rendering ${f.id}`);
    const r = await renderSvg(f.spec);
    warnings.push(...r.warnings.map((w) => `${f.id}: ${w}`));
    const path = join(outDir, `${f.id}.svg`);
    write(path, r.svg + "\n");
    svgs.push(path);
    write(join(outDir, "specs", `${f.id}.vl.json`), JSON.stringify(f.spec, null, 1) + "\n");
    inline.set(f.id, scopeSvgIds(r.svg, f.id));
  }
  for (const s of sections) {
    for (const d of s.data) {
      if (d.rows.length === 0) continue;
      write(join(outDir, "data", `${d.name}.csv`), toCsv(d.rows));
      write(join(outDir, "data", `${d.name}.json`), toJsonRows(d.rows));
    }
  }
  const html = join(outDir, "index.html");
  write(html, pageHtml(data, sections, inline));
  return { html, svgs, files, figures, notes: sections.flatMap((s) => s.notes), warnings };
}
