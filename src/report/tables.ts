/** HTML tables: PGR (AE→BH and A→B) and anomaly-detection AUROCs with 95% intervals. */
import type { PgrResult } from "../analysis/summary.ts";
import type { AnomalyRun } from "./load.ts";
import { num } from "./load.ts";
import { reporterLabel, sortReporters } from "./figures/vega.ts";
import { escapeHtml } from "./escape.ts";

export { escapeHtml };

const f = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : "—");
/** A minus sign that reads as one in tables. */
const signed = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d).replace(/^-/, "−") : "—");

/** One table per transfer group: AE→BH (with the all→BH rows of CCS/CRC) and A→B. Rows: reporters; columns: datasets, overall. */
export function pgrTablesHtml(pgr: PgrResult[]): string[] {
  const groups = [
    { name: "AE→BH", transfers: ["AE→BH", "all→BH"] },
    { name: "A→B", transfers: ["A→B"] },
  ];
  const other = [...new Set(pgr.map((r) => r.transfer))].filter((t) => !groups.some((g) => g.transfers.includes(t)));
  for (const t of other) groups.push({ name: t, transfers: [t] });
  const out: string[] = [];
  for (const g of groups) {
    const rows = pgr.filter((r) => g.transfers.includes(r.transfer));
    if (rows.length === 0) continue;
    const order = sortReporters(rows.map((r) => r.reporter));
    rows.sort((a, b) => g.transfers.indexOf(a.transfer) - g.transfers.indexOf(b.transfer) || order.indexOf(a.reporter) - order.indexOf(b.reporter));
    const datasets = [...new Set(rows.flatMap((r) => Object.keys(r.perDataset)))].sort();
    const cell = (v: { auroc: number; floor: number; ceiling: number; pgr: number } | undefined, cls = "") => {
      if (!v) return `<td class="num missing${cls}">—</td>`;
      const title = `transfer AUROC ${f(num(v.auroc))}, floor ${f(num(v.floor))}, ceiling ${f(num(v.ceiling))}`;
      return `<td class="num${cls}" title="${escapeHtml(title)}">${signed(num(v.pgr))}</td>`;
    };
    const body = rows
      .map((r) => {
        const name = reporterLabel(r.reporter) + (r.transfer !== g.name ? ` (${r.transfer})` : "");
        return `<tr><th scope="row">${escapeHtml(name)}</th>${datasets.map((d) => cell(r.perDataset[d])).join("")}${cell(r.overall, " overall")}</tr>`;
      })
      .join("\n");
    out.push(
      `<table class="data pgr" data-transfer="${escapeHtml(g.name)}">\n<caption>PGR ${escapeHtml(g.name)} (hover a cell for its AUROC, floor and ceiling)</caption>\n` +
        `<thead><tr><th scope="col">method</th>${datasets.map((d) => `<th scope="col">${escapeHtml(d)}</th>`).join("")}<th scope="col" class="overall">overall</th></tr></thead>\n` +
        `<tbody>\n${body}\n</tbody></table>`,
    );
  }
  return out;
}

/** One table per reporter: rows (model, dataset), columns: detectors; cells "AUROC [lo, hi]". */
export function anomalyTablesHtml(runs: AnomalyRun[]): string[] {
  const out: string[] = [];
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
        return `<tr>${several ? `<td>${escapeHtml(r.model)}</td>` : ""}<th scope="row">${escapeHtml(r.dataset)}</th>${cells.join("")}</tr>`;
      })
      .join("\n");
    const means = detectors.map((m) => {
      const xs = rs.map((r) => num(r.results.find((y) => y.detector === m)?.auroc)).filter(Number.isFinite);
      return `<td class="num">${xs.length ? f(xs.reduce((a, b) => a + b, 0) / xs.length) : "—"}</td>`;
    });
    const model = rs.length && !several ? ` — ${rs[0].model}` : "";
    out.push(
      `<table class="data anomaly" data-reporter="${escapeHtml(reporter)}">\n<caption>Anomaly detection on ${escapeHtml(reporterLabel(reporter))} outputs${escapeHtml(model)}: AUROC [95% interval]</caption>\n` +
        `<thead><tr>${several ? '<th scope="col">model</th>' : ""}<th scope="col">dataset</th>${detectors.map((m) => `<th scope="col">${escapeHtml(m)}</th>`).join("")}</tr></thead>\n` +
        `<tbody>\n${body}\n</tbody>\n<tfoot><tr>${several ? "<td></td>" : ""}<th scope="row">mean AUROC</th>${means.join("")}</tr></tfoot></table>`,
    );
  }
  return out;
}
