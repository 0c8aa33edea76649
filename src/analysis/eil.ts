/**
 * Layer selection and the paper's summary statistic.
 *
 * Earliest informative layer (EIL): the first layer whose in-distribution AUROC − 0.5 reaches 95% of its
 * maximum over layers; the middle layer (⌊L/2⌋) when even the best AUROC is below 0.5.
 *
 * Performance gap recovered: PGR = (AUROC_transfer − floor) / (ceiling − floor), where AUROCs are first
 * averaged (over models, and over datasets for the overall number) and only then turned into a ratio.
 */

export function earliestInformativeLayer(idAurocs: number[], thresh = 0.95): number {
  if (idAurocs.length === 0) throw new Error("EIL needs at least one layer");
  if (idAurocs.some((a) => !Number.isFinite(a))) throw new Error(`EIL: in-distribution AUROCs must be finite, got [${idAurocs.join(", ")}]`);
  const max = Math.max(...idAurocs);
  if (max < 0.5) return Math.floor(idAurocs.length / 2);
  return idAurocs.findIndex((a) => a - 0.5 >= thresh * (max - 0.5));
}

export function pgr(transfer: number, floor: number, ceiling: number): number {
  return (transfer - floor) / (ceiling - floor);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export interface PgrCell {
  /** AUROC at EIL of the transfer, floor and ceiling, per model */
  transfer: number[];
  floor: number[];
  ceiling: number[];
}

/** PGR per dataset (model-averaged AUROCs) and overall (averaged over datasets and models), as the paper. */
export function pgrTable(cells: Record<string, PgrCell>): { perDataset: Record<string, { auroc: number; floor: number; ceiling: number; pgr: number }>; overall: { auroc: number; floor: number; ceiling: number; pgr: number } } {
  const perDataset: Record<string, { auroc: number; floor: number; ceiling: number; pgr: number }> = {};
  for (const [ds, c] of Object.entries(cells)) {
    const auroc = mean(c.transfer);
    const floor = mean(c.floor);
    const ceiling = mean(c.ceiling);
    perDataset[ds] = { auroc, floor, ceiling, pgr: pgr(auroc, floor, ceiling) };
  }
  const rows = Object.values(perDataset);
  if (rows.length === 0) throw new Error("PGR table: no datasets");
  const auroc = mean(rows.map((r) => r.auroc));
  const floor = mean(rows.map((r) => r.floor));
  const ceiling = mean(rows.map((r) => r.ceiling));
  return { perDataset, overall: { auroc, floor, ceiling, pgr: pgr(auroc, floor, ceiling) } };
}
