/**
 * The page's header table: how the results were made, one row per (model, dataset), from what the pipeline
 * records — each states folder's meta.json (model, adapter, model-file fingerprint, rows per distribution and
 * split, templatization and seed) and run-info.json (quirky version, the dataset's generation settings and
 * split sizes, the grid's settings). What a folder does not record is said as such, never guessed.
 */
import { DISTRIBUTIONS } from "../datasets/schema.ts";
import { quirkyVersion } from "../analysis/run-info.ts";
import { escapeHtml } from "./escape.ts";
import type { ExperimentData, RunProvenance } from "./load.ts";

const NOT_RECORDED = `<span class="missing">not recorded</span>`;
const code = (s: string) => `<code>${escapeHtml(s)}</code>`;
/** Distinct values, in first-seen order, as text. */
const distinct = (xs: unknown[]) => [...new Set(xs.filter((x) => x !== undefined && x !== null).map((x) => (typeof x === "string" ? x : JSON.stringify(x))))];
/** `key value · key value` for the non-null entries of a settings object. */
const settingsText = (o: Record<string, unknown>) =>
  Object.entries(o)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${escapeHtml(k.replace(/_/g, " "))} ${escapeHtml(typeof v === "string" ? v : JSON.stringify(v))}`)
    .join(" · ");

function rowHtml(p: RunProvenance): string {
  const s = p.states;
  const info = p.runInfo;
  const models = distinct(s.map((x) => x.model));
  const adapters = distinct(s.map((x) => x.adapter ?? "none"));
  const fps = distinct(s.map((x) => x.modelFingerprint));
  const shape = distinct(s.map((x) => `${x.layers} layers × ${x.d}`));
  const model = s.length
    ? `${models.map(code).join(", ")}<br>adapter ${adapters.map(code).join(", ")}<br><span class="fp">files ${fps.map((f) => code(f.slice(0, 12))).join(", ") || NOT_RECORDED}; ${escapeHtml(shape.join(", "))}</span>`
    : `${code(p.model)}<br>${NOT_RECORDED}`;
  const dataset = info?.dataset
    ? `${code(info.dataset.name)} (${escapeHtml(info.dataset.hub_name)} schema)<br>${settingsText(info.dataset.settings)}<br>rows: ${settingsText(info.dataset.counts)}`
    : `${code(p.dataset)}<br>settings and split sizes ${NOT_RECORDED}${info ? " (a dataset folder without meta.json, e.g. a released one)" : ""}`;
  // rows the probes were fitted on (validation) and tested on (test), by distribution
  const order = (d: string) => ((DISTRIBUTIONS as readonly string[]).indexOf(d) + 1 || 99);
  const dists = [...new Set(s.map((x) => x.distribution))].sort((a, b) => order(a) - order(b));
  const rows = dists.length
    ? dists
        .map((d) => {
          const n = (split: string) => s.find((x) => x.distribution === d && x.split === split)?.n;
          const v = n("validation");
          const t = n("test");
          return `${escapeHtml(d)} ${v === undefined ? "—" : v} / ${t === undefined ? "—" : t}`;
        })
        .join(" · ")
    : NOT_RECORDED;
  const setting = (key: string) => distinct(s.map((x) => x.settings[key]));
  const methods = setting("method");
  const seeds = setting("seed");
  const extraction = setting("imported").includes("true")
    ? `imported with <code>quirky import</code> (from another tool's arrays)`
    : s.length
    ? `templates ${escapeHtml(methods.join(", ") || "?")}${setting("standardized").includes("true") ? " (standardized)" : ""}; example seed ${escapeHtml(seeds.join(", ") || "?")}`
    : NOT_RECORDED;
  const grid = info ? `<br>${escapeHtml(`${info.grid.reporters.length} reporters; ${info.grid.randomSamples} random directions; probe and detector seed ${info.grid.seed}`)}` : "";
  const version = info ? code(info.quirky) : NOT_RECORDED;
  return `<tr data-model="${escapeHtml(p.model)}" data-dataset="${escapeHtml(p.dataset)}"><td class="model">${model}</td><td class="dataset">${dataset}</td><td class="rows">${rows}</td><td class="settings">${extraction}${grid}</td><td class="version">${version}</td></tr>`;
}

export function provenanceHtml(data: ExperimentData): string {
  const rows = data.provenance.map(rowHtml).join("\n");
  return `<section id="how-made" class="provenance">
<h2>How these results were made</h2>
<p class="intro">From what the pipeline records with the results: each extraction's <code>meta.json</code> and each (model, dataset)'s <code>run-info.json</code>. Rows used: examples the probes were fitted on (validation split) / tested on (test split), per distribution. This page was rendered by quirky ${escapeHtml(quirkyVersion())}.</p>
${
  data.provenance.length
    ? `<div class="tables"><table class="data provenance">\n<thead><tr><th scope="col">model, adapter</th><th scope="col">dataset: settings, rows per split</th><th scope="col">rows used (fit / test)</th><th scope="col">templates, seeds</th><th scope="col">quirky</th></tr></thead>\n<tbody>\n${rows}\n</tbody></table></div>`
    : `<p class="note">No (model, dataset) folder with results records how it was made.</p>`
}
</section>`;
}
