/** HTML tables: PGR (AE→BH and A→B) and anomaly-detection AUROCs with 95% intervals, each beside the paper's numbers. */
import type { PgrResult } from "../analysis/summary.ts";
import type { AnomalyRun } from "./load.ts";
import { num } from "./load.ts";
import { reporterLabel, sortReporters } from "./figures/vega.ts";
import { escapeHtml } from "./escape.ts";
import { NO_PAPER_DATASET, NO_PAPER_MODEL_SIZE, PAPER_CITATION, PAPER_DATASETS, PAPER_SHORT, PAPER_SOURCE_NOTE, PAPER_TOLERANCE, compareWithPaper, noPaperReason, paperAnomaly, paperAnomalyNumber, paperFloorCeiling, paperMethodName, paperPgr, paperPgrNumber } from "./paper.ts";

export { escapeHtml };

const f = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : "—");
/** A minus sign that reads as one in tables. */
const signed = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d).replace(/^-/, "−") : "—");

/**
 * One table per transfer group: AE→BH (with the all→BH rows of CCS/CRC) and A→B. Rows: reporters; columns:
 * datasets, overall, the paper's published PGR (a dash where it reports none) and how ours compares; below each
 * table, a sentence naming the methods where ours and the paper's differ.
 */
/** The PGR tables: AE→BH (with CCS and CRC fitted on all) and A→B, each a fresh list (callers may append). */
const pgrGroups = () => [
  { name: "AE→BH", transfers: ["AE→BH", "all→BH"] },
  { name: "A→B", transfers: ["A→B"] },
];

/** A group's rows, by transfer in the group's order, then by reporter in the report's order. */
function groupRows(pgr: PgrResult[], transfers: string[]): PgrResult[] {
  const rows = pgr.filter((r) => transfers.includes(r.transfer));
  const order = sortReporters(rows.map((r) => r.reporter));
  return rows.sort((a, b) => transfers.indexOf(a.transfer) - transfers.indexOf(b.transfer) || order.indexOf(a.reporter) - order.indexOf(b.reporter));
}

export function pgrTablesHtml(pgr: PgrResult[]): string[] {
  const groups = pgrGroups();
  const other = [...new Set(pgr.map((r) => r.transfer))].filter((t) => !groups.some((g) => g.transfers.includes(t)));
  for (const t of other) groups.push({ name: t, transfers: [t] });
  const out: string[] = [];
  for (const g of groups) {
    const rows = groupRows(pgr, g.transfers);
    if (rows.length === 0) continue;
    const datasets = [...new Set(rows.flatMap((r) => Object.keys(r.perDataset)))].sort();
    const cell = (v: { auroc: number; floor: number; ceiling: number; pgr: number } | undefined, cls = "") => {
      if (!v) return `<td class="num missing${cls}">—</td>`;
      const title = `transfer AUROC ${f(num(v.auroc))}, floor ${f(num(v.floor))}, ceiling ${f(num(v.ceiling))}`;
      return `<td class="num${cls}" title="${escapeHtml(title)}">${signed(num(v.pgr))}</td>`;
    };
    const differ: string[] = [];
    const close: string[] = [];
    const body = rows
      .map((r) => {
        const name = reporterLabel(r.reporter) + (r.transfer !== g.name ? ` (${r.transfer})` : "");
        const ours = num(r.overall.pgr);
        const paper = paperPgr(r.transfer, r.reporter);
        const verdict = compareWithPaper(ours, paper);
        if (verdict === "close") close.push(name);
        else if (verdict) differ.push(`${name}: ours ${signed(ours)}, paper ${signed(paper!)} (${verdict})`);
        const paperCell =
          paper === undefined
            ? `<td class="num missing paper" title="${escapeHtml(noPaperReason(r.reporter))}">—</td>`
            : `<td class="num paper" title="${escapeHtml(`${PAPER_SHORT}: ${paperMethodName(r.reporter)}, figures.ipynb cell ${paperPgrNumber(r.transfer, r.reporter)!.cell}`)}">${signed(paper)}</td>`;
        const vsCell = verdict ? `<td class="vs ${verdict}">${verdict === "close" ? `within ${PAPER_TOLERANCE}` : `${verdict} by ${Math.abs(ours - paper!).toFixed(2)}`}</td>` : `<td class="vs missing">—</td>`;
        return `<tr data-reporter="${escapeHtml(r.reporter)}" data-transfer="${escapeHtml(r.transfer)}"><th scope="row">${escapeHtml(name)}</th>${datasets.map((d) => cell(r.perDataset[d])).join("")}${cell(r.overall, " overall")}${paperCell}${vsCell}</tr>`;
      })
      .join("\n");
    const verdicts = [
      differ.length ? `Ours differ from the paper's by more than ${PAPER_TOLERANCE} for ${differ.join("; ")}.` : "",
      close.length ? `Within ${PAPER_TOLERANCE} of the paper's: ${close.join(", ")}.` : "",
      differ.length + close.length === 0 ? "The paper publishes no PGR for these methods on this transfer." : "",
    ].filter(Boolean);
    out.push(
      `<table class="data pgr" data-transfer="${escapeHtml(g.name)}">\n<caption>PGR ${escapeHtml(g.name)} (hover a cell for its AUROC, floor and ceiling; paper: ${escapeHtml(PAPER_SHORT)}, its average over its datasets, — where it publishes none: hover for why)</caption>\n` +
        `<thead><tr><th scope="col">method</th>${datasets.map((d) => `<th scope="col">${escapeHtml(d)}</th>`).join("")}<th scope="col" class="overall">overall</th><th scope="col" class="paper" title="${escapeHtml(PAPER_CITATION)}">paper</th><th scope="col">ours vs paper</th></tr></thead>\n` +
        `<tbody>\n${body}\n</tbody></table>\n<p class="paper-diff" data-transfer="${escapeHtml(g.name)}">${escapeHtml(verdicts.join(" "))}</p>`,
    );
  }
  return out;
}

/**
 * PGR by dataset, ours beside the paper's: one table per transfer group (AE→BH with CCS/CRC all→BH, and A→B). Rows:
 * the datasets of our run and of the paper's tables; per method two columns, ours and the paper's (figures.ipynb
 * cells 21 and 23); then the floor and ceiling AUROCs, ours and the paper's. A dash says why in its tooltip.
 */
export function pgrByDatasetHtml(pgr: PgrResult[]): string[] {
  const groups = pgrGroups();
  const out: string[] = [];
  for (const g of groups) {
    const rows = groupRows(pgr, g.transfers);
    if (rows.length === 0) continue;
    const ours = [...new Set(rows.flatMap((r) => Object.keys(r.perDataset)))];
    const datasets = [...PAPER_DATASETS.filter((d) => ours.includes(d)), ...ours.filter((d) => !(PAPER_DATASETS as readonly string[]).includes(d)).sort(), ...PAPER_DATASETS.filter((d) => !ours.includes(d))];
    const dash = (why: string, cls: string) => `<td class="num missing ${cls}" title="${escapeHtml(why)}">—</td>`;
    const isPaper = (d: string) => (PAPER_DATASETS as readonly string[]).includes(d);
    const attrs = (r: PgrResult, d: string, src: string) => `data-reporter="${escapeHtml(r.reporter)}" data-transfer="${escapeHtml(r.transfer)}" data-dataset="${escapeHtml(d)}" data-source="${src}"`;
    const floorTransfer = g.name; // the paper's floor and ceiling rows sit in the table of the transfer they serve
    const body = datasets.map((d) => {
      const cells = rows.map((r) => {
        const v = r.perDataset[d];
        const mine = v ? `<td class="num" ${attrs(r, d, "ours")} title="${escapeHtml(`transfer AUROC ${f(num(v.auroc))}, floor ${f(num(v.floor))}, ceiling ${f(num(v.ceiling))}`)}">${signed(num(v.pgr))}</td>` : dash(`${d} is not in this run`, "ours");
        const p = paperPgrNumber(r.transfer, r.reporter, d);
        const theirs = p
          ? `<td class="num paper" ${attrs(r, d, "paper")} title="${escapeHtml(`figures.ipynb cell ${p.cell}, printed ${p.text}`)}">${signed(p.value)}</td>`
          : dash(isPaper(d) ? noPaperReason(r.reporter) : NO_PAPER_DATASET, "paper");
        return mine + theirs;
      });
      const ref = rows.find((r) => r.perDataset[d]);
      const fc = (["floor", "ceiling"] as const).map((which) => {
        const mine = ref ? `<td class="num" data-dataset="${escapeHtml(d)}" data-${which}="ours">${f(num(ref.perDataset[d][which]), 2)}</td>` : dash(`${d} is not in this run`, "ours");
        const p = paperFloorCeiling(floorTransfer, which, d);
        return mine + (p ? `<td class="num paper" data-dataset="${escapeHtml(d)}" data-${which}="paper" title="figures.ipynb cell ${p.cell}">${p.text}</td>` : dash(NO_PAPER_DATASET, "paper"));
      });
      return `<tr data-dataset="${escapeHtml(d)}"><th scope="row">${escapeHtml(d)}</th>${cells.join("")}${fc.join("")}</tr>`;
    });
    const name = (r: PgrResult) => reporterLabel(r.reporter) + (r.transfer !== g.name ? ` (${r.transfer})` : "");
    const head1 = rows.map((r) => `<th scope="colgroup" colspan="2">${escapeHtml(name(r))}</th>`).join("") + `<th scope="colgroup" colspan="2">floor AUROC</th><th scope="colgroup" colspan="2">ceiling AUROC</th>`;
    const head2 = [...rows, 0, 0].map(() => `<th scope="col">ours</th><th scope="col" class="paper">paper</th>`).join("");
    out.push(
      `<table class="data pgr-by-dataset" data-transfer="${escapeHtml(g.name)}">\n<caption>PGR ${escapeHtml(g.name)} by dataset: ours beside the paper's (${escapeHtml(PAPER_SOURCE_NOTE)}); hover a dash for why it is one</caption>\n` +
        `<thead><tr><th scope="col" rowspan="2">dataset</th>${head1}</tr>\n<tr>${head2}</tr></thead>\n<tbody>\n${body.join("\n")}\n</tbody></table>`,
    );
  }
  if (out.length) out.push(`<p class="paper-diff" data-paper="model-size">The paper's PGR by model size: — (${escapeHtml(NO_PAPER_MODEL_SIZE)}).</p>`);
  return out;
}

/**
 * With more than one reporter, first a summary: rows reporters, columns (model, dataset), the Mahalanobis AUROC of the
 * detector fed that reporter's per-layer outputs, their mean and the paper's. Then one table per reporter: rows
 * (model, dataset), columns: detectors; cells "AUROC [lo, hi]".
 */
export function anomalyTablesHtml(runs: AnomalyRun[]): string[] {
  const out: string[] = [];
  const summary = anomalySummaryHtml(runs);
  if (summary) out.push(summary);
  for (const reporter of sortReporters(runs.map((r) => r.reporter))) {
    const rs = runs.filter((r) => r.reporter === reporter);
    const detectors = [...new Set(rs.flatMap((r) => r.results.map((x) => x.detector)))];
    const several = new Set(rs.map((r) => r.model)).size > 1;
    const body = rs
      .map((r) => {
        const cells = detectors.map((m) => {
          const x = r.results.find((y) => y.detector === m);
          if (!x) return `<td class="num missing">—</td>`;
          const title = `${num(x.nNormal)} normal (AH), ${num(x.nAnomalous)} anomalous (BH) examples; 95% bootstrap interval`;
          return `<td class="num" title="${escapeHtml(title)}">${f(num(x.auroc))} <span class="ci">[${f(num(x.lo))}, ${f(num(x.hi))}]</span></td>`;
        });
        // the paper's Mahalanobis AUROC for this probe on this dataset (figures.ipynb cell 31), where it has one
        const p = paperAnomalyNumber(reporter, "mahalanobis", r.dataset);
        const why = paperMethodName(reporter) === null ? noPaperReason(reporter) : NO_PAPER_DATASET;
        const paperCell = p ? `<td class="num paper" data-dataset="${escapeHtml(r.dataset)}" title="figures.ipynb cell ${p.cell}, printed ${escapeHtml(p.text)}">${escapeHtml(p.text)}</td>` : `<td class="num missing paper" title="${escapeHtml(why)}">—</td>`;
        return `<tr>${several ? `<td>${escapeHtml(r.model)}</td>` : ""}<th scope="row">${escapeHtml(r.dataset)}</th>${cells.join("")}${paperCell}</tr>`;
      })
      .join("\n");
    const meanOf = (m: string) => finiteMean(rs.map((r) => aurocOf(r.results, m)));
    const means = detectors.map((m) => `<td class="num">${f(meanOf(m))}</td>`);
    // the no-quirk control: the same detectors on the model without its quirk, where Bob's prompts are not anomalous
    const controlled = rs.some((r) => r.control);
    const controlMeanOf = (m: string) => finiteMean(rs.map((r) => aurocOf(r.control, m)));
    const controlMeans = detectors.map((m) => {
      const v = controlMeanOf(m);
      return `<td class="num control${Number.isFinite(v) ? "" : " missing"}">${f(v)}</td>`;
    });
    // the paper's averages over its datasets, beside our mean over ours (a dash for detectors it does not report)
    const paper = detectors.map((m) => {
      const p = paperAnomaly(reporter, m);
      return p === undefined ? `<td class="num missing paper" title="${escapeHtml(m === "mahalanobis" ? noPaperReason(reporter) : "the paper reports Mahalanobis only")}">—</td>` : `<td class="num paper">${f(p)}</td>`;
    });
    const verdicts = detectors.flatMap((m) => {
      const p = paperAnomaly(reporter, m);
      const v = compareWithPaper(meanOf(m), p);
      if (!v) return [];
      const vsPaper = v === "close" ? `${m}: our mean ${f(meanOf(m))} is within ${PAPER_TOLERANCE} of the paper's ${f(p!)}.` : `${m}: our mean ${f(meanOf(m))} is ${v} than the paper's ${f(p!)} by ${Math.abs(meanOf(m) - p!).toFixed(2)}.`;
      const c = controlMeanOf(m);
      if (!Number.isFinite(c)) return [vsPaper];
      const gap = meanOf(m) - c;
      return [`${vsPaper} Its no-quirk control (the same detector on the model without its quirk) scores ${f(c)}, ${Math.abs(gap).toFixed(2)} ${gap >= 0 ? "below" : "above"} it.`];
    });
    const model = rs.length && !several ? ` — ${rs[0].model}` : "";
    out.push(
      `<table class="data anomaly" data-reporter="${escapeHtml(reporter)}">\n<caption>Anomaly detection on ${escapeHtml(reporterLabel(reporter))} outputs${escapeHtml(model)}: AUROC [95% interval]</caption>\n` +
        `<thead><tr>${several ? '<th scope="col">model</th>' : ""}<th scope="col">dataset</th>${detectors.map((m) => `<th scope="col">${escapeHtml(m)}</th>`).join("")}<th scope="col" class="paper" title="${escapeHtml(PAPER_SOURCE_NOTE)}">paper, Mahalanobis on this dataset</th></tr></thead>\n` +
        `<tbody>\n${body}\n</tbody>\n<tfoot><tr>${several ? "<td></td>" : ""}<th scope="row">mean AUROC</th>${means.join("")}<td></td></tr>\n` +
        (controlled ? `<tr class="control">${several ? "<td></td>" : ""}<th scope="row" title="${escapeHtml(CONTROL_TITLE)}">no-quirk control, mean</th>${controlMeans.join("")}<td></td></tr>\n` : "") +
        `<tr class="paper">${several ? "<td></td>" : ""}<th scope="row" title="${escapeHtml(PAPER_CITATION)}">paper (${escapeHtml(PAPER_SHORT)}), mean over its datasets</th>${paper.join("")}<td></td></tr></tfoot></table>` +
        (verdicts.length ? `\n<p class="paper-diff" data-reporter="${escapeHtml(reporter)}">${escapeHtml(verdicts.join(" "))}</p>` : ""),
    );
  }
  return out;
}

/**
 * Which probe's outputs make the detector work: Mahalanobis AUROC per reporter (rows) and experiment (columns), the
 * mean, the mean of the diagonal-subtracted variant, and the paper's number for that probe — figures.ipynb at 8f30c6d
 * prints its table (cell 31) with subtract_diag = False, i.e. from the plain variant.
 */
function anomalySummaryHtml(runs: AnomalyRun[]): string | undefined {
  const reporters = sortReporters(runs.map((r) => r.reporter));
  if (reporters.length < 2) return undefined;
  const several = new Set(runs.map((r) => r.model)).size > 1;
  const keyOf = (r: AnomalyRun) => (several ? `${r.model} × ${r.dataset}` : r.dataset);
  const columns = [...new Set(runs.map(keyOf))];
  const controlled = runs.some((r) => r.control);
  const body = reporters.map((reporter) => {
    const runOf = (c: string) => runs.find((r) => r.reporter === reporter && keyOf(r) === c);
    const values = columns.map((c) => aurocOf(runOf(c)?.results, "mahalanobis"));
    const minusDiag = finiteMean(columns.map((c) => aurocOf(runOf(c)?.results, "mahalanobis-minus-diag")));
    const control = finiteMean(columns.map((c) => aurocOf(runOf(c)?.control, "mahalanobis")));
    const paperCellOf = (rep: string) => {
      const p = paperAnomalyNumber(rep);
      return p ? `<td class="num paper" title="figures.ipynb cell ${p.cell}">${f(p.value)}</td>` : `<td class="num missing paper" title="${escapeHtml(noPaperReason(rep))}">—</td>`;
    };
    return (
      `<tr data-reporter="${escapeHtml(reporter)}"><th scope="row">${escapeHtml(reporterLabel(reporter))}</th>${values.map((v) => `<td class="num${Number.isFinite(v) ? "" : " missing"}">${f(v)}</td>`).join("")}` +
      `<td class="num overall">${f(finiteMean(values))}</td><td class="num overall${Number.isFinite(minusDiag) ? "" : " missing"}">${f(minusDiag)}</td>` +
      (controlled ? `<td class="num overall control${Number.isFinite(control) ? "" : " missing"}">${f(control)}</td>` : "") +
      paperCellOf(reporter) + "</tr>"
    );
  });
  return (
    `<table class="data anomaly-summary">\n<caption>Mahalanobis anomaly AUROC by the reporter whose per-layer outputs are the features; the mean, the mean with the diagonal subtracted${controlled ? ", the mean of the no-quirk control (the same detector on the model without its quirk)" : ""} and the paper's for that probe (${escapeHtml(PAPER_SHORT)}, its mean over datasets; the notebook's table, cell 31, prints the plain variant: subtract_diag = False)</caption>\n` +
    `<thead><tr><th scope="col">reporter</th>${columns.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join("")}<th scope="col" class="overall">mean</th><th scope="col" class="overall">mean, minus diagonal</th>` +
    (controlled ? `<th scope="col" class="overall control" title="${escapeHtml(CONTROL_TITLE)}">no-quirk control, mean</th>` : "") +
    `<th scope="col" class="paper" title="${escapeHtml(PAPER_CITATION)}">paper</th></tr></thead>\n` +
    `<tbody>\n${body.join("\n")}\n</tbody></table>`
  );
}

/** A detector's AUROC among results (NaN when it is not there). */
const aurocOf = (results: AnomalyRun["results"] | undefined, detector: string) => num(results?.find((x) => x.detector === detector)?.auroc);

const CONTROL_TITLE =
  "The same detector on the same rows of the model without its quirk (for an adapter: its base alone). Bob's prompts are not anomalous there, so 0.5 is ideal; what it scores above 0.5 (Bob's name in the states, probe noise) is not the quirk.";

/** Mean of the finite values (NaN when there are none): a missing cell does not pull an average down. */
function finiteMean(xs: number[]): number {
  const seen = xs.filter(Number.isFinite);
  return seen.length ? seen.reduce((a, b) => a + b, 0) / seen.length : NaN;
}
