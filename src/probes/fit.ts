/**
 * `fitReporter(name, x, labels)`: fit any reporter by name. x is (n, d) for lr, mean-diff and lda,
 * and (n, 2, d) as a Matrix with cols = 2d for lr-on-pair, mean-diff-on-pair, ccs and crc (false choice's
 * state first). The supervised reporters need both classes; ccs and crc use the labels only for the
 * Platt scale and accept one class. Asynchronous because the products run on onnxruntime.
 */
import { fitCcs, type CcsOptions } from "./ccs.ts";
import { fitCrc, type CrcOptions } from "./crc.ts";
import { fitLda, type LdaOptions } from "./lda.ts";
import { fitLogisticRegression, type LrOptions } from "./lr.ts";
import { pairDim, type Matrix } from "./matrix.ts";
import { fitMeanDiff } from "./mean-diff.ts";
import { FITTED_REPORTER_NAMES, type LinearReporter, type ReporterName } from "./reporter.ts";

export interface FitOptions {
  /** seeds the random parts (ccs starts, crc's initial Platt bias); default 0 */
  seed?: number;
  lr?: LrOptions;
  lda?: LdaOptions;
  ccs?: Omit<CcsOptions, "seed">;
  crc?: Omit<CrcOptions, "seed">;
}

export async function fitReporter(name: ReporterName, x: Matrix, labels: Uint8Array, opts: FitOptions = {}): Promise<LinearReporter> {
  const seed = opts.seed ?? 0;
  switch (name) {
    case "lr":
      return fitLogisticRegression(x, labels, opts.lr, "lr");
    case "lr-on-pair":
      pairDim(x, name);
      return fitLogisticRegression(x, labels, opts.lr, "lr-on-pair");
    case "mean-diff":
      return fitMeanDiff(x, labels, "mean-diff");
    case "mean-diff-on-pair":
      pairDim(x, name);
      return fitMeanDiff(x, labels, "mean-diff-on-pair");
    case "lda":
      return fitLda(x, labels, opts.lda);
    case "ccs":
      return fitCcs(x, labels, { ...opts.ccs, seed });
    case "crc":
      return fitCrc(x, labels, { ...opts.crc, seed });
    case "random":
      throw new Error("random is an evaluation, not a fitted reporter: call evalRandomBaseline");
    default:
      throw new Error(`unknown reporter ${JSON.stringify(name)}; expected one of ${FITTED_REPORTER_NAMES.join(", ")}`);
  }
}
