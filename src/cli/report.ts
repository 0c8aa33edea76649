/** `quirky report RESULTS_DIR --out DIR`: a thin layer over renderReport. */
import { Command } from "commander";
import { SUBSETS } from "../analysis/metrics.ts";
import { renderReport, type LayerwiseConfig } from "../report/index.ts";

/** "lr:A→B:disagree" (also "lr:A-B:disagree" or "lr:A>B:disagree"), comma-separated. */
export function parseLayerwise(v: string): LayerwiseConfig[] {
  return v.split(",").map((item) => {
    const m = item.trim().match(/^([A-Za-z0-9-]+):([A-Za-z]+)(?:→|->|>|-)([A-Za-z]+):(all|agree|disagree)$/);
    const subset = m && SUBSETS.find((s) => s === m[4]);
    if (!m || !subset) throw new Error(`--layerwise: '${item}' is not reporter:TRAIN→TEST:subset (e.g. lr:A→B:disagree; subset one of ${SUBSETS.join(", ")})`);
    return { reporter: m[1], train: m[2], test: m[3], subset };
  });
}

const plain = (html: string) => html.replace(/<[^>]+>/g, "").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");

export function reportCommand(): Command {
  return new Command("report")
    .description(
      "render the paper's figures and tables from an experiments folder: one self-contained HTML page (interactive, works offline), " +
        "an SVG per figure, the Vega-Lite specs, and the numbers as CSV and JSON",
    )
    .argument("<results_dir>", "experiments folder: <model>/<dataset>/summary.json from 'quirky grid' / 'quirky tables', pgr.json, anomaly_*.json, intervention_*.json")
    .requiredOption("--out <dir>", "output folder (index.html, <figure>.svg, specs/, data/)")
    .option("--layerwise <list>", "layerwise figures to draw, as reporter:TRAIN→TEST:subset, comma-separated (each holds every reporter's curves; the one named is shown in the static SVG)", parseLayerwise)
    .option("--quiet", "print only the page's path")
    .action(async (dir: string, o: { out: string; layerwise?: LayerwiseConfig[]; quiet?: boolean }) => {
      const r = await renderReport(dir, o.out, { layerwise: o.layerwise });
      console.log(r.html);
      if (o.quiet) return;
      console.log(`${r.svgs.length} figures, ${r.files.length} files under ${o.out}`);
      for (const n of r.notes) console.log(`note: ${plain(n)}`);
      for (const w of r.warnings) console.warn(`warning: ${w}`);
    });
}
