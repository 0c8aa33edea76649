/**
 * The reference's standard experiment grid for one (model, dataset), run end to end: extract every needed
 * (distribution, split), then every transfer. Each unit skips itself when its outputs exist.
 *
 *   lr, mean-diff, lda, lr-on-pair, mean-diff-on-pair:  A→A,B,AH,BH   B→B,A,BH   AE→AE,AH,BH
 *   (B→BH is the PGR floor of AE→BH, which the reference's run_transfers.py also runs)
 *   ccs, crc:  the same, plus all→all,BH (fitted against Alice's labels)
 *   random:    AE→AE,BH (against Alice's labels)
 */
import type { Distribution } from "../datasets/schema.ts";
import type { TemplateMethod } from "../datasets/templatize.ts";
import { loadExamples } from "../extract/examples.ts";
import { extractStates } from "../extract/extract.ts";
import { isComplete } from "../extract/states.ts";
import type { TextTokenizer } from "../model/tokenizer.ts";
import type { Transformer } from "../model/transformer.ts";
import { runTransfer, testDirOf, trainDirOf, type GridReporter, type TransferSpec } from "./transfer.ts";

export const ALL_REPORTERS: GridReporter[] = ["lr", "mean-diff", "lda", "lr-on-pair", "mean-diff-on-pair", "ccs", "crc", "random"];

/** The standard grid for the given reporters. */
export function standardGrid(reporters: GridReporter[] = ALL_REPORTERS): TransferSpec[] {
  const out: TransferSpec[] = [];
  for (const reporter of reporters) {
    if (reporter === "random") {
      out.push({ reporter, train: "AE", tests: ["AE", "BH"], labelCol: "alice" });
      continue;
    }
    out.push({ reporter, train: "A", tests: ["A", "B", "AH", "BH"], labelCol: "label" });
    out.push({ reporter, train: "B", tests: ["B", "A", "BH"], labelCol: "label" });
    out.push({ reporter, train: "AE", tests: ["AE", "AH", "BH"], labelCol: "label" });
    if (reporter === "ccs" || reporter === "crc") out.push({ reporter, train: "all", tests: ["all", "BH"], labelCol: "alice" });
  }
  return out;
}

/** (distribution, split) pairs the transfers need: train distributions on validation, tests on test. */
export function neededExtractions(specs: TransferSpec[]): { distribution: Distribution; split: "validation" | "test" }[] {
  const seen = new Set<string>();
  const out: { distribution: Distribution; split: "validation" | "test" }[] = [];
  const add = (distribution: string, split: "validation" | "test") => {
    const k = `${distribution}/${split}`;
    if (!seen.has(k)) {
      seen.add(k);
      out.push({ distribution: distribution as Distribution, split });
    }
  };
  for (const s of specs) {
    add(s.train, "validation");
    for (const t of s.tests) add(t, "test");
  }
  return out;
}

export interface GridOptions {
  model: Transformer;
  tokenizer: TextTokenizer;
  /** names recorded with the states (checked when train and test states meet) */
  modelName: string;
  adapterName: string | null;
  datasetDir: string;
  /** results for this (model, dataset) go here */
  root: string;
  reporters?: GridReporter[];
  maxTrain?: number;
  maxTest?: number;
  method?: TemplateMethod;
  standardized?: boolean;
  seed?: number;
  batchSize?: number;
  randomSamples?: number;
  onProgress?: (msg: string, done?: number, total?: number) => void;
  warn?: (msg: string) => void;
}

export async function runGrid(opts: GridOptions): Promise<{ specs: TransferSpec[] }> {
  const specs = standardGrid(opts.reporters);
  const seed = opts.seed ?? 633;
  for (const { distribution, split } of neededExtractions(specs)) {
    const outDir = split === "validation" ? trainDirOf(opts.root, distribution) : testDirOf(opts.root, distribution);
    if (isComplete(outDir)) continue;
    const maxExamples = split === "validation" ? (opts.maxTrain ?? 4000) : (opts.maxTest ?? 1000);
    const { dataset, examples } = await loadExamples(opts.datasetDir, { distribution, split, method: opts.method ?? "first", standardized: opts.standardized, seed, maxExamples });
    await extractStates({
      model: opts.model,
      tokenizer: opts.tokenizer,
      examples,
      outDir,
      batchSize: opts.batchSize,
      info: { model: opts.modelName, adapter: opts.adapterName, dataset, distribution, split, settings: { method: opts.method ?? "first", standardized: opts.standardized ?? false, seed, maxExamples } },
      onProgress: (d, t) => opts.onProgress?.(`extract ${distribution}/${split}`, d, t),
      warn: opts.warn,
    });
  }
  for (const spec of specs) {
    await runTransfer(opts.root, spec, { seed, randomSamples: opts.randomSamples, onProgress: (m) => opts.onProgress?.(m) });
  }
  return { specs };
}

