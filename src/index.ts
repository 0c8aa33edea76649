/**
 * quirky's library API. The CLI (src/cli) is a thin layer over these functions; tests and scripts
 * call them directly.
 */
export { DEFAULTS } from "./defaults.ts";
export * from "./datasets/schema.ts";
export { promptTemplates, datasetTemplates, templatesFile } from "./datasets/templates.ts";
export {
  createQuirkyDataset,
  generateBase,
  writeDataset,
  splitSizes,
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
export { readConfig, parseConfig, toHfConfig, type ModelConfig, type Architecture } from "./model/config.ts";
export { Transformer, type Hooks, type Hook, type Taps, type KVCache, type ForwardInput, type ForwardOptions, type LoraDelta } from "./model/transformer.ts";
export { loadModel, loadParams, saveModel, randomModel, checkpointTensors } from "./model/load.ts";
export { loadTokenizer, encodeChoice, type TextTokenizer } from "./model/tokenizer.ts";
export { charTokenizerJson, writeCharTokenizer } from "./model/char-tokenizer.ts";
export { readPeftAdapter, writePeftAdapter, attachLora, mergeLora, linearModules, type LoraAdapter, type PeftLoraConfig } from "./model/lora.ts";
export { readSafetensors, readSafetensorsHeader, writeSafetensors } from "./model/safetensors.ts";
export { gemm, linear, bmm } from "./model/matmul.ts";
export { loadExamples, datasetNameOf } from "./extract/examples.ts";
export { extractStates } from "./extract/extract.ts";
export { readLayer, readLmLogOdds, readStatesMeta, writeStates, type StatesMeta } from "./extract/states.ts";
export * as probes from "./probes/index.ts";
export { runTransfer, readTransferMetrics, type TransferSpec } from "./analysis/transfer.ts";
export { runGrid, standardGrid } from "./analysis/grid.ts";
export { earliestInformativeLayer, pgr, pgrTable } from "./analysis/eil.ts";
export { summarizeRoot, pgrTables } from "./analysis/summary.ts";
export { anomalyExperiment, anomalyFromRoot, bootstrapAuroc, fitDetector, DETECTORS, type DetectorName } from "./analysis/anomaly.ts";
export { interventionExperiment, reflectionHook, probesFromRoot } from "./analysis/intervene.ts";
export { backward, type HeadGradient } from "./train/backward.ts";
export { crossEntropy, headLoss } from "./train/loss.ts";
export { train, DEFAULT_TRAIN, type TrainConfig } from "./train/sft.ts";
export { evaluate, prepareExamples, balance } from "./train/examples.ts";
export { AdamW, learningRate } from "./train/optim.ts";
export { renderReport } from "./report/index.ts";
export { runConfig, readRunConfig, validateRunConfig, parseShard, type RunConfig } from "./pipeline/run.ts";
export { slurmScript } from "./pipeline/slurm.ts";
