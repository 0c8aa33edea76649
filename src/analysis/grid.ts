/**
 * The reference's standard experiment grid for one (model, dataset), run end to end: extract every needed
 * (distribution, split), then every transfer. Each unit skips itself when its outputs exist.
 *
 *   lr, mean-diff, lda, lr-on-pair, mean-diff-on-pair:  A→A,B,AH,BH   B→B,A,BH   AE→AE,AH,BE,BH
 *   (B→BH is the PGR floor of AE→BH, which the reference's run_transfers.py also runs)
 *   ccs, crc:  the same, plus all→all,BH (fitted against Alice's labels)
 *   random:    AE→AE,BH (against Alice's labels)
 */
import { DEFAULTS } from "../defaults.ts";
import type { Distribution } from "../datasets/schema.ts";
import type { TemplateMethod } from "../datasets/templatize.ts";
import { loadExamples } from "../extract/examples.ts";
import { extractStates, reusableStates, statesProvenance, type ExtractOptions } from "../extract/extract.ts";
import { isComplete, readStatesMeta } from "../extract/states.ts";
import type { TemplatizedExample } from "../datasets/templatize.ts";
import type { Provenance } from "../util/provenance.ts";
import type { TextTokenizer } from "../model/tokenizer.ts";
import type { Transformer } from "../model/transformer.ts";
import { REPORTER_NAMES, REPORTERS, type ReporterName } from "../probes/reporter.ts";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { quirkyVersion, RUN_INFO_FILE, writeRunInfo, type RunInfo } from "./run-info.ts";
import { runTransfer, testDirOf, trainDirOf, transferDone, type TransferOptions, type TransferSpec } from "./transfer.ts";

/** The standard grid for the given reporters. */
export function standardGrid(reporters: readonly ReporterName[] = REPORTER_NAMES): TransferSpec[] {
  const out: TransferSpec[] = [];
  for (const reporter of reporters) {
    if (reporter === "random") {
      out.push({ reporter, train: "AE", tests: ["AE", "BH"], labelCol: "alice" });
      continue;
    }
    out.push({ reporter, train: "A", tests: ["A", "B", "AH", "BH"], labelCol: "label" });
    out.push({ reporter, train: "B", tests: ["B", "A", "BH"], labelCol: "label" });
    out.push({ reporter, train: "AE", tests: ["AE", "AH", "BE", "BH"], labelCol: "label" });
    if (REPORTERS[reporter].unsupervised) out.push({ reporter, train: "all", tests: ["all", "BH"], labelCol: "alice" });
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
  /** the model and its tokenizer; opened only when something must be extracted */
  open: () => Promise<{ model: Transformer; tokenizer: TextTokenizer }>;
  /** content fingerprint of the model and adapter files (model/source.ts), recorded with the states */
  modelFingerprint: string;
  /** names recorded with the states (checked when train and test states meet) */
  modelName: string;
  adapterName: string | null;
  datasetDir: string;
  /** results for this (model, dataset) go here */
  root: string;
  reporters?: ReporterName[];
  maxTrain?: number;
  maxTest?: number;
  method?: TemplateMethod;
  standardized?: boolean;
  seed?: number;
  batchSize?: number;
  randomSamples?: number;
  /** recompute results computed from other inputs or settings instead of refusing */
  force?: boolean;
  onProgress?: (msg: string, done?: number, total?: number) => void;
  warn?: (msg: string) => void;
}

/** One extraction the grid needs: where it goes, its examples, and the provenance its states must record. */
export interface PlannedExtraction {
  distribution: Distribution;
  split: "validation" | "test";
  outDir: string;
  examples: TemplatizedExample[];
  info: ExtractOptions["info"];
  wanted: Provenance;
}

/** The extractions the transfers need (default: the reporters' standard grid), with the examples the grid's settings pick. */
export async function planExtractions(opts: GridOptions, specs: TransferSpec[] = standardGrid(opts.reporters)): Promise<PlannedExtraction[]> {
  const seed = opts.seed ?? DEFAULTS.seed;
  const method = opts.method ?? DEFAULTS.method;
  const out: PlannedExtraction[] = [];
  for (const { distribution, split } of neededExtractions(specs)) {
    const maxExamples = split === "validation" ? (opts.maxTrain ?? DEFAULTS.maxTrain) : (opts.maxTest ?? DEFAULTS.maxTest);
    const { dataset, examples } = await loadExamples(opts.datasetDir, { distribution, split, method, standardized: opts.standardized, seed, maxExamples });
    const settings = { method, standardized: opts.standardized ?? false, seed, maxExamples };
    out.push({
      distribution,
      split,
      outDir: split === "validation" ? trainDirOf(opts.root, distribution) : testDirOf(opts.root, distribution),
      examples,
      info: { model: opts.modelName, adapter: opts.adapterName, dataset, distribution, split, settings },
      wanted: statesProvenance(opts.modelFingerprint, examples),
    });
  }
  return out;
}

/**
 * Extract what the plan needs, skipping fresh states. Shards that share the root split the work: each starts at
 * its own offset and leaves folders another process is extracting, then waits for those to finish.
 */
export async function extractForGrid(opts: GridOptions, plan: PlannedExtraction[], shard = { index: 0, count: 1 }): Promise<void> {
  let opened: { model: Transformer; tokenizer: TextTokenizer } | undefined;
  const offset = Math.floor((shard.index * plan.length) / shard.count);
  const order = [...plan.slice(offset), ...plan.slice(0, offset)];
  for (const ifBusy of ["skip", "wait"] as const) {
    for (const x of order) {
      if (reusableStates(x.outDir, x.wanted, x.info, x.examples.length, opts.force)) continue;
      opened ??= await opts.open();
      await extractStates({
        model: opened.model,
        tokenizer: opened.tokenizer,
        examples: x.examples,
        outDir: x.outDir,
        modelFingerprint: opts.modelFingerprint,
        batchSize: opts.batchSize,
        force: opts.force,
        ifBusy,
        info: x.info,
        onProgress: (d, t) => opts.onProgress?.(`extract ${x.distribution}/${x.split}`, d, t),
        warn: opts.warn,
      });
    }
  }
}

export const transferOptions = (opts: GridOptions): TransferOptions => ({ seed: opts.seed ?? DEFAULTS.seed, randomSamples: opts.randomSamples, force: opts.force, onProgress: (m) => opts.onProgress?.(m) });

/** Whether the reporter's part of the grid is done: its states are fresh and every output matches them. */
export function reporterDone(opts: GridOptions, plan: PlannedExtraction[], reporter: ReporterName): boolean {
  const specs = standardGrid([reporter]);
  const needed = new Set(neededExtractions(specs).map((x) => `${x.distribution}/${x.split}`));
  const fresh = plan.filter((x) => needed.has(`${x.distribution}/${x.split}`)).every((x) => isComplete(x.outDir) && readStatesMeta(x.outDir).provenance?.fingerprint === x.wanted.fingerprint);
  return fresh && specs.every((spec) => transferDone(opts.root, spec, transferOptions(opts)));
}

/**
 * The grid's transfers on states already in `root` (imported with `quirky import`): no model, no extraction. A
 * missing states folder is an error naming it. Writes run-info.json with the settings used (dataset unknown here).
 */
export async function runGridOnStates(root: string, opts: Pick<GridOptions, "reporters" | "seed" | "randomSamples" | "force" | "onProgress">): Promise<{ specs: TransferSpec[] }> {
  const specs = standardGrid(opts.reporters);
  const rows = { validation: 0, test: 0 };
  for (const { distribution, split } of neededExtractions(specs)) {
    const dir = split === "validation" ? trainDirOf(root, distribution) : testDirOf(root, distribution);
    if (!isComplete(dir)) throw new Error(`${dir}: no states here, but the grid needs ${distribution}/${split}; import or extract them first`);
    rows[split] = Math.max(rows[split], readStatesMeta(dir).n);
  }
  const transfer = transferOptions(opts as GridOptions);
  for (const spec of specs) await runTransfer(root, spec, transfer);
  const info: RunInfo = {
    quirky: quirkyVersion(),
    dataset: null,
    grid: { reporters: [...(opts.reporters ?? REPORTER_NAMES)], maxTrain: rows.validation, maxTest: rows.test, method: "imported", standardized: false, seed: transfer.seed ?? DEFAULTS.seed, randomSamples: opts.randomSamples ?? DEFAULTS.randomSamples },
  };
  writeFileAtomic(join(root, RUN_INFO_FILE), JSON.stringify(info, null, 1) + "\n");
  return { specs };
}

/** The grid for one (model, dataset): extractions, then every transfer of the reporters, then run-info.json. */
export async function runGrid(opts: GridOptions, shard = { index: 0, count: 1 }): Promise<{ specs: TransferSpec[] }> {
  const specs = standardGrid(opts.reporters);
  await extractForGrid(opts, await planExtractions(opts), shard);
  for (const spec of specs) await runTransfer(opts.root, spec, transferOptions(opts));
  writeRunInfo(opts);
  return { specs };
}
