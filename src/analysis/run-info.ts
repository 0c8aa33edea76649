/**
 * `<root>/run-info.json`: how the results of one (model, dataset) were made, beside what each output's own
 * provenance records — the quirky version, the dataset's generation settings and row counts (from the dataset
 * folder's meta.json, which the results folder does not otherwise hold), and the grid's settings. The report's
 * header reads it together with the states' meta.json files (model, adapter, rows per distribution and split).
 *
 *   { "quirky": "0.1.0",
 *     "dataset": { "name", "hub_name", "settings": { seed, base_examples, ... }, "counts": { train, validation, test } } | null,
 *     "grid": { "reporters", "maxTrain", "maxTest", "method", "standardized", "seed", "randomSamples" } }
 *
 * A description, not a cache key: it is rewritten whenever the grid or run finishes. It holds no paths of the
 * experiments folder and no times, so shards and reruns of one config write the same bytes.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULTS } from "../defaults.ts";
import { readMeta } from "../datasets/create.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { REPORTER_NAMES } from "../probes/reporter.ts";
import type { GridOptions } from "./grid.ts";

export const RUN_INFO_FILE = "run-info.json";

export interface RunInfo {
  quirky: string;
  dataset: { name: string; hub_name: string; settings: Record<string, unknown>; counts: Record<string, number> } | null;
  grid: { reporters: string[]; maxTrain: number; maxTest: number; method: string; standardized: boolean; seed: number; randomSamples: number };
}

let version: string | undefined;
/** This checkout's quirky version (package.json). */
export function quirkyVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
  return version;
}

export function runInfoOf(opts: GridOptions): RunInfo {
  // released datasets downloaded from the hub have no meta.json: their settings are not known here
  const meta = readMeta(opts.datasetDir);
  return {
    quirky: quirkyVersion(),
    dataset: meta ? { name: meta.name, hub_name: meta.hub_name, settings: meta.settings, counts: meta.counts } : null,
    grid: {
      reporters: [...(opts.reporters ?? REPORTER_NAMES)],
      maxTrain: opts.maxTrain ?? DEFAULTS.maxTrain,
      maxTest: opts.maxTest ?? DEFAULTS.maxTest,
      method: opts.method ?? DEFAULTS.method,
      standardized: opts.standardized ?? false,
      seed: opts.seed ?? DEFAULTS.seed,
      randomSamples: opts.randomSamples ?? DEFAULTS.randomSamples,
    },
  };
}

export function writeRunInfo(opts: GridOptions): void {
  writeFileAtomic(join(opts.root, RUN_INFO_FILE), JSON.stringify(runInfoOf(opts), null, 1) + "\n");
}
