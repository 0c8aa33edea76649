/**
 * The report's figures as Vega-Lite specs (data inlined), plus the rows behind them (written as CSV/JSON): one
 * builder per section, each in its own file, over the shared helpers of vega.ts. buildSections puts them in page
 * order.
 */
import type { ExperimentData } from "../load.ts";
import { anomalyTablesHtml, pgrByDatasetHtml, pgrTablesHtml } from "../tables.ts";
import { addLeads } from "../leads.ts";
import { anomalySection } from "./anomaly.ts";
import { interventionSection } from "./intervention.ts";
import { layerwiseSection, type LayerwiseConfig } from "./layerwise.ts";
import { outputSection } from "./output.ts";
import { pgrSection } from "./pgr.ts";
import { randomSection } from "./random-baseline.ts";
import { scatterSection } from "./scatter.ts";
import { transferSection } from "./transfer.ts";
import type { Section } from "./vega.ts";

export { anomalySection, interventionSection, layerwiseSection, outputSection, pgrSection, randomSection, scatterSection, transferSection };
export { DEFAULT_LAYERWISE, type LayerwiseConfig } from "./layerwise.ts";
export { BAR_TRANSFERS } from "./transfer.ts";
export { SCATTER_TRANSFERS } from "./scatter.ts";
export { PGR_TRANSFERS } from "./pgr.ts";
export { reporterLabel, sortReporters, slug, type FigureDef, type Section, type SectionId, type VlSpec } from "./vega.ts";

/** The report's sections, in page order, each opening with its sentence on ours against the paper's. */
export function buildSections(data: ExperimentData, opts: { layerwise?: LayerwiseConfig[] } = {}): Section[] {
  return addLeads([
    outputSection(data),
    layerwiseSection(data, opts.layerwise),
    transferSection(data),
    scatterSection(data),
    randomSection(data),
    pgrSection(data, (p) => [...pgrTablesHtml(p), ...pgrByDatasetHtml(p)]),
    anomalySection(data, anomalyTablesHtml),
    interventionSection(data),
  ], data);
}
