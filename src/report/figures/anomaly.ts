/**
 * Anomaly detection: no figure, the tables (built by the caller) of each detector's AUROC with its bootstrap 95%
 * interval, per model, dataset and reporter, for detectors fitted on probe outputs of Alice's easy examples and
 * scoring Alice's hard (normal) against Bob's hard (anomalous) examples.
 */
import type { ExperimentData } from "../load.ts";
import { num } from "../load.ts";
import type { Row } from "../csv.ts";
import { newSection, type Section } from "./vega.ts";

export function anomalySection(data: ExperimentData, tables: (a: ExperimentData["anomaly"]) => string[]): Section {
  const sec = newSection("anomaly", "Anomaly detection", "Detectors fitted on probe outputs (per-layer log-odds) for Alice's easy examples, scoring Alice's hard (normal) against Bob's hard " +
      "(anomalous) examples: AUROC with a bootstrap 95% interval; where the run names a model's no-quirk control (the model without its quirk), the same detector's AUROC on it beside.");
  if (data.anomaly.length === 0) {
    sec.notes.push("Skipped: no anomaly-detection results (<code>&lt;model&gt;/&lt;dataset&gt;/anomaly_&lt;reporter&gt;.json</code>) found.");
    return sec;
  }
  // the no-quirk control's AUROC beside each (empty where the run has none)
  const rows: Row[] = data.anomaly.flatMap((a) =>
    a.results.map((r) => {
      const c = a.control?.find((x) => x.detector === r.detector);
      return {
        model: a.model, dataset: a.dataset, reporter: a.reporter, detector: r.detector, auroc: num(r.auroc), lo: num(r.lo), hi: num(r.hi), n_normal: num(r.nNormal), n_anomalous: num(r.nAnomalous),
        control_auroc: num(c?.auroc), control_lo: num(c?.lo), control_hi: num(c?.hi),
      };
    }),
  );
  sec.tables.push(...tables(data.anomaly));
  sec.data.push({ name: "anomaly", rows });
  return sec;
}
