/**
 * quirky's library API. The CLI (src/cli) is a thin layer over these functions; tests and scripts
 * call them directly.
 */
export * from "./datasets/schema.ts";
export { promptTemplates, datasetTemplates, templatesFile } from "./datasets/templates.ts";
export {
  createQuirkyDataset,
  generateBase,
  writeDataset,
  splitSizes,
  DEFAULT_SEED,
  type CreateOptions,
  type DatasetMeta,
} from "./datasets/create.ts";
export { buildQuirkySplits, difficultyQuantiles, quirkyRowsOf } from "./datasets/build.ts";
export { readQuirkySplit, readQuirkyParquet, readQuirkyJsonl, writeQuirkyParquet, writeQuirkyJsonl, writeQuirkySplits } from "./datasets/io.ts";
export { templatize, filterDistribution, distributionFilter, type TemplatizedExample, type TemplateMethod } from "./datasets/templatize.ts";
export { difficultyFromLogOdds, readDifficultyFile, scoreDifficulty, type LogOddsScorer } from "./datasets/difficulty.ts";
export { summarizeRows, summarizeFolder, formatSummary } from "./datasets/summary.ts";
export { quirkyId, pyDictStr } from "./util/pyrepr.ts";
export { Rng } from "./util/rng.ts";
