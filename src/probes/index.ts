/**
 * Reporters (probes): fit, predict, save/load, and the random-direction baseline.
 */
export { type Matrix, matrixFromRows, checkMatrix, checkLabels } from "./matrix.ts";
export { auroc, accuracy, metric, metricKind } from "./metrics.ts";
export { type Reporter, type ReporterJSON, type ReporterName, type ReporterInfo, LinearReporter, REPORTERS, REPORTER_NAMES, FITTED_REPORTER_NAMES, usesPairs, isReporterName, reporterDisplayName, reporterFromJSON } from "./reporter.ts";
export { fitReporter, type FitOptions } from "./fit.ts";
export { fitLogisticRegression, type LrOptions } from "./lr.ts";
export { fitMeanDiff } from "./mean-diff.ts";
export { fitLda, type LdaOptions } from "./lda.ts";
export { fitCcs, type CcsOptions } from "./ccs.ts";
export { fitCrc, type CrcOptions } from "./crc.ts";
export { ccsLoss } from "./ccs-loss.ts";
export { LeaceFitter, LeaceEraser, type LeaceOptions } from "./leace.ts";
export { evalRandomBaseline, type RandomBaselineOptions, type RandomBaselineResult } from "./random-baseline.ts";
export { eigh, SymEig } from "../linalg/eigh.ts";
export { gemm64 } from "../linalg/gemm64.ts";
