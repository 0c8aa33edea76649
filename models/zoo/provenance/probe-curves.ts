/**
 * The measurement behind models/zoo/README.md's recipe choices (checkQuirk, src/analysis/quirk-check.ts): for a model
 * (and optionally a LoRA adapter) on a quirky dataset's held-out rows, the model's output AUROCs, and per layer LogR
 * fitted on Alice's validation prompts against Alice's labels on Bob's test disagreements beside the median of 1,000
 * random directions; with --anomaly, the Mahalanobis anomaly AUROC (AE → AH vs BH) as the demo computes it.
 *   usage: node --import tsx models/zoo/provenance/probe-curves.ts MODEL_DIR ADAPTER_DIR|- DATASET_DIR [ROWS=500] [--anomaly] [--method first|random]
 * Prints one JSON line (results.jsonl here holds the runs the README quotes).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkQuirk } from "../../../src/analysis/quirk-check.ts";

const argv = process.argv.slice(2);
const methodAt = argv.indexOf("--method");
const method = (methodAt >= 0 ? argv[methodAt + 1] : "first") as "first" | "random";
const [modelDir, adapterArg, dataDir, rowsArg] = argv.filter((a, i) => a !== "--anomaly" && (methodAt < 0 || (i !== methodAt && i !== methodAt + 1)));
if (!dataDir) throw new Error("usage: probe-curves.ts MODEL_DIR ADAPTER_DIR|- DATASET_DIR [ROWS] [--anomaly] [--method first|random]");
const adapter = adapterArg === "-" ? undefined : adapterArg;
const rows = Number(rowsArg ?? 500);
const workDir = mkdtempSync(join(tmpdir(), "probe-curves-"));
const r3 = (x: number) => Math.round(x * 1000) / 1000;
try {
  const r = await checkQuirk({ path: modelDir, adapter }, dataDir, { workDir, rows, method, anomaly: argv.includes("--anomaly"), bootstrap: 50 });
  console.log(JSON.stringify({
    model: modelDir, adapter: adapter ?? null, dataset: dataDir, rows, method,
    output: { alice: r3(r.output.alice), bob: r3(r.output.bob), bobDisagreeVsAlice: r3(r.output.bobDisagreeVsAlice) },
    lrOnBobDisagreements: r.lr.map(r3), randomMedian: r.randomMedian.map(r3),
    ...(r.mahalanobis ? { mahalanobis: r3(r.mahalanobis.auroc) } : {}),
  }));
} finally {
  rmSync(workDir, { recursive: true, force: true });
}
