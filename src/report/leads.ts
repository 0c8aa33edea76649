/**
 * The one sentence each report section opens with: what our results show against the paper's. Where the
 * reference notebook saves numbers (PGR, anomaly detection: src/report/paper.ts) the sentence sets ours beside
 * them; where it saves only a plot, it says so and states ours, against the paper's qualitative finding.
 */
import { lmOutputAurocs } from "../analysis/summary.ts";
import type { ExperimentData } from "./load.ts";
import { num } from "./load.ts";
import { PAPER_ANOMALY, PAPER_PGR, PAPER_SHORT } from "./paper.ts";
import { findTransfer, reporterLabel, type Section, type SectionId } from "./figures/vega.ts";

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2).replace(/^-/, "−") : "—");
const mean = (xs: number[]) => {
  const ok = xs.filter(Number.isFinite);
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : NaN;
};
const NO_TABLE = "the reference notebook saves only the plot for this figure, no numbers";

/** The best overall PGR of a transfer in pgr.json, ours, with its reporter. */
function bestPgr(data: ExperimentData, transfer: string): { reporter: string; pgr: number } | undefined {
  const rows = (data.pgr ?? []).filter((r) => r.transfer === transfer && Number.isFinite(num(r.overall.pgr)));
  rows.sort((a, b) => num(b.overall.pgr) - num(a.overall.pgr));
  return rows[0] && { reporter: rows[0].reporter, pgr: num(rows[0].overall.pgr) };
}

/** The paper's best overall PGR of a transfer, with its method name. */
function paperBest(transfer: string): { name: string; pgr: number } {
  const [name, pgr] = Object.entries(PAPER_PGR[transfer]).sort((a, b) => b[1] - a[1])[0];
  return { name, pgr };
}

export function sectionLead(id: SectionId, data: ExperimentData): string {
  switch (id) {
    case "output": {
      const a = data.runs.map((r) => lmOutputAurocs(r.transfers));
      return `Our models' own output follows each character — AUROC ${f2(mean(a.map((x) => x.aliceVsAlice)))} on Alice's prompts vs her labels, ${f2(mean(a.map((x) => x.bobDisagreeVsAlice)))} on Bob's disagreements vs the truth — as the paper's quirky models do by construction (${NO_TABLE}).`;
    }
    case "layerwise": {
      // where LogR fitted on AE reads the truth on Bob's hard disagreements best, as a fraction of depth
      const peaks = data.runs.flatMap((r) => {
        const c = findTransfer(r.transfers, "lr", "AE", "BH")?.curves.alice.disagree;
        if (!c || c.length === 0) return [];
        const best = c.indexOf(Math.max(...c));
        return [{ frac: c.length > 1 ? best / (c.length - 1) : 1, auroc: c[best] }];
      });
      if (peaks.length === 0) return `The paper reads the truth best from middle layers while late layers follow the output (${NO_TABLE}); this run has no LogR AE→BH curve to set beside it.`;
      return `LogR fitted on Alice's easy examples reads the truth on Bob's hard disagreements best at ${(100 * mean(peaks.map((p) => p.frac))).toFixed(0)}% of depth on average (peak AUROC ${f2(mean(peaks.map((p) => p.auroc)))}); the paper finds the truth best read from middle layers, with late layers following the output (${NO_TABLE}).`;
    }
    case "transfer": {
      const lr = data.runs.flatMap((r) => {
        const t = findTransfer(r.transfers, "lr", "AE", "BH");
        return t?.atEil ? [{ probe: t.atEil.alice.all, lm: t.lm.alice.all }] : [];
      });
      if (lr.length === 0) return `The paper's probes keep tracking the truth where the output follows Bob (${NO_TABLE}); this run has no LogR AE→BH transfer.`;
      return `At its EIL, LogR AE→BH scores ${f2(mean(lr.map((x) => x.probe)))} AUROC against the truth where the model's own output scores ${f2(mean(lr.map((x) => x.lm)))}; the paper's bars show the same ordering (${NO_TABLE}).`;
    }
    case "scatter":
      return `Each point sets a probe's in-distribution AUROC beside its AE→BH transfer; the paper's scatter (${NO_TABLE}) shows transfer falling below in-distribution, most for CCS and CRC.`;
    case "random":
      return `Random directions bound what a probe's AUROC means; the paper plots their quantiles for AE→BH (${NO_TABLE}), and a probe's curve counts only where it leaves this band.`;
    case "pgr": {
      const ours = bestPgr(data, "AE→BH");
      const ab = bestPgr(data, "A→B");
      const p = paperBest("AE→BH");
      const pab = paperBest("A→B");
      if (!ours) return `The paper's best AE→BH PGR is ${f2(p.pgr)} (${p.name}) and A→B ${f2(pab.pgr)} (${pab.name}) (${PAPER_SHORT}, figures.ipynb cells 21 and 23); this run has no pgr.json.`;
      return `Our best AE→BH PGR is ${f2(ours.pgr)} (${reporterLabel(ours.reporter)})${ab ? ` and A→B ${f2(ab.pgr)} (${reporterLabel(ab.reporter)})` : ""}, against the paper's ${f2(p.pgr)} (${p.name}) and ${f2(pab.pgr)} (${pab.name}) (figures.ipynb cells 21 and 23).`;
    }
    case "anomaly": {
      const auroc = (rs: { detector: string; auroc: number }[] | undefined) => num(rs?.find((x) => x.detector === "mahalanobis")?.auroc);
      const ours = mean(data.anomaly.map((a) => auroc(a.results)));
      const control = mean(data.anomaly.map((a) => auroc(a.control)));
      const paper = mean(Object.values(PAPER_ANOMALY));
      if (!Number.isFinite(ours)) return `The paper's Mahalanobis detector on probe outputs reaches ${f2(paper)} AUROC averaged over its probes (figures.ipynb cell 31); this run has no anomaly results.`;
      return `Our Mahalanobis detector on probe outputs reaches ${f2(ours)} AUROC averaged over probes and experiments${Number.isFinite(control) ? ` (its no-quirk control: ${f2(control)})` : ""}, against the paper's ${f2(paper)} (figures.ipynb cell 31, its six probes' averages).`;
    }
    case "intervention":
      return `Reflecting the residual stream across a probe's direction moves the output towards the other character's labels; the paper shows this for Mistral-7B (${NO_TABLE} beyond one model's summary in cell 35), so ours compares in kind only.`;
  }
}

/** Set each section's lead sentence. */
export function addLeads(sections: Section[], data: ExperimentData): Section[] {
  for (const s of sections) s.lead = sectionLead(s.id, data);
  return sections;
}
