/**
 * The model's own output as numbers (what the demo prints): AUROC of the LM's log-odds on Alice's prompts against
 * Alice's labels, on Bob's prompts against Bob's labels, and on Bob's disagreements against Alice's labels — a
 * quirky model scores high on the first two and low on the third. Read from summary.json (`lm` of any transfer
 * tested on A or B); a table, no figure.
 */
import { lmOutputAurocs, type LmOutputAurocs } from "../../analysis/summary.ts";
import type { Row } from "../csv.ts";
import { escapeHtml } from "../escape.ts";
import type { ExperimentData } from "../load.ts";
import { newSection, type Section } from "./vega.ts";

export const LM_OUTPUT_COLUMNS: { key: keyof LmOutputAurocs; title: string }[] = [
  { key: "aliceVsAlice", title: "Alice's prompts vs Alice's labels" },
  { key: "bobVsBob", title: "Bob's prompts vs Bob's labels" },
  { key: "bobDisagreeVsAlice", title: "Bob's disagreements vs Alice's labels" },
];

const f = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "—");

export function outputSection(data: ExperimentData): Section {
  const sec = newSection("output", "The model's own output", "AUROC of the model's log-odds (true answer minus false answer) on the test split. A quirky model follows each " +
      "character's labels (high in the first two columns) and so misses the truth on Bob's disagreements (low in the third).");
  const rows: Row[] = [];
  for (const run of data.runs) {
    const a = lmOutputAurocs(run.transfers);
    if (LM_OUTPUT_COLUMNS.every((c) => !Number.isFinite(a[c.key]))) continue;
    rows.push({ model: run.model, dataset: run.dataset, alice_vs_alice: a.aliceVsAlice, bob_vs_bob: a.bobVsBob, bob_disagree_vs_alice: a.bobDisagreeVsAlice });
  }
  if (rows.length === 0) {
    sec.notes.push("Skipped: no summary.json with transfers tested on A or B (the LM's output is recorded with them).");
    return sec;
  }
  const keys = ["alice_vs_alice", "bob_vs_bob", "bob_disagree_vs_alice"] as const;
  const body = rows
    .map((r) => `<tr><td>${escapeHtml(String(r.model))}</td><th scope="row">${escapeHtml(String(r.dataset))}</th>${keys.map((k) => `<td class="num" data-col="${k}">${f(r[k] as number)}</td>`).join("")}</tr>`)
    .join("\n");
  const mean = (k: string) => {
    const xs = rows.map((r) => r[k] as number).filter(Number.isFinite);
    return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN;
  };
  const foot = rows.length > 1 ? `\n<tfoot><tr><td></td><th scope="row">mean</th>${keys.map((k) => `<td class="num">${f(mean(k))}</td>`).join("")}</tr></tfoot>` : "";
  sec.tables.push(
    `<table class="data lm-output">\n<caption>The LM's output: AUROC of its log-odds</caption>\n` +
      `<thead><tr><th scope="col">model</th><th scope="col">dataset</th>${LM_OUTPUT_COLUMNS.map((c) => `<th scope="col">${escapeHtml(c.title)}</th>`).join("")}</tr></thead>\n` +
      `<tbody>\n${body}\n</tbody>${foot}</table>`,
  );
  sec.data.push({ name: "lm_output", rows });
  return sec;
}
