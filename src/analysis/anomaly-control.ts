/**
 * The anomaly experiment's no-quirk control.
 *
 * Mahalanobis on probe outputs scores Bob's hard prompts (BH) against Alice's (AH). Anything that tells the two apart
 * in a model that has no quirk at all — Bob's name kept in the residual stream, probes that read the prompt's wording —
 * is credited to "detecting the quirk" unless it is measured. The control runs the same experiment on a model without
 * the quirk (for an adapter: its base model alone): the same reporters fitted on the same AE validation rows, the
 * detector fitted on the same AE test rows, AH against BH, the same seeds. A quirky model's AUROC is evidence that the
 * detector sees the quirk only by how far it rises above its control's; on a truthful model Bob's prompts are not
 * anomalous in behaviour, so the control's ideal is 0.5.
 *
 * Results go to `<root>/control/`: states under `<dist>/<split>/`, transfers AE→AE,AH,BH per reporter, and
 * `anomaly_<reporter>.json` in anomaly.ts's format. Every file records what it was computed from, as in the grid, so a
 * control computed from another control model or other settings is refused (or, with `force`, recomputed).
 */
import { join } from "node:path";
import type { ReporterName } from "../probes/reporter.ts";
import { anomalyFromRoot, type AnomalyResult, type DetectorName } from "./anomaly.ts";
import { extractForGrid, planExtractions, transferOptions, type GridOptions } from "./grid.ts";
import { runTransfer, type TransferSpec } from "./transfer.ts";

/** the control's folder inside an experiment root */
export const CONTROL_DIR = "control";

export const controlRoot = (root: string) => join(root, CONTROL_DIR);

/** What the anomaly experiment needs of each reporter: fitted on AE, log-odds on AE, AH and BH test rows. */
export function controlSpecs(reporters: readonly ReporterName[]): TransferSpec[] {
  return reporters.map((reporter) => ({ reporter, train: "AE", tests: ["AE", "AH", "BH"], labelCol: "label" }));
}

/**
 * Run the control of one (model, dataset): `g` describes the control model (its `open`, fingerprint and names) with
 * the quirky experiment's dataset and settings; its `root` is the quirky experiment's root. Returns each reporter's
 * detector results.
 */
export async function anomalyControl(
  g: GridOptions,
  reporters: readonly ReporterName[],
  detectors?: DetectorName[],
  opts: { seed?: number; bootstrap?: number; force?: boolean } = {},
): Promise<{ reporter: ReporterName; results: AnomalyResult[] }[]> {
  const c: GridOptions = { ...g, root: controlRoot(g.root), reporters: [...reporters] };
  const specs = controlSpecs(reporters);
  await extractForGrid(c, await planExtractions(c, specs));
  for (const spec of specs) await runTransfer(c.root, spec, transferOptions(c));
  return reporters.map((reporter) => ({ reporter, results: anomalyFromRoot(c.root, reporter, detectors, opts).results }));
}
