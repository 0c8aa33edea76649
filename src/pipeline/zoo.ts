/**
 * The quirky model zoo (models/zoo, made by scripts/train-zoo.ts): one small model pretrained truthfully on a mixture
 * of the arithmetic datasets (models/zoo/base), and per dataset a PEFT LoRA adapter, rank 8 on the top two of its
 * eight blocks, that teaches it the quirk (models/zoo/adapters/<dataset>) — the paper's recipe in miniature, except
 * that the paper's adapters sit on every block (on this base they erase the truth for most datasets; README).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DEFAULTS } from "../defaults.ts";
import type { CreateOptions } from "../datasets/create.ts";
import type { ArithmeticName } from "../datasets/arithmetic.ts";
import { REPO_ROOT } from "./default.ts";
import { validateRunConfig, type RunConfig } from "./run.ts";

export const ZOO_DIR = join(REPO_ROOT, "models", "zoo");

/**
 * The zoo's datasets: 2-digit operands (squaring: 3), every operand tuple drawn once, so no test row's operands
 * are seen in training, by the base model or an adapter. Sizes count base examples as the reference does.
 */
const BINARY: CreateOptions = { baseExamples: 2200, maxDigits: 2, nValidation: 500, nTest: 1000, distinctOperands: true };
export const ZOO_DATASETS: Record<ArithmeticName, CreateOptions> = {
  addition: BINARY,
  subtraction: BINARY,
  multiplication: BINARY,
  modularaddition: BINARY,
  squaring: { baseExamples: 220, maxDigits: 3, nValidation: 100, nTest: 200, distinctOperands: true },
};

/**
 * The datasets with an adapter: all but squaring, which the base pretrains on but never learned (580 training rows
 * of 3-digit squares; output AUROC 0.51), so a quirk taught on it would be a quirk on noise.
 */
export const ZOO_ADAPTERS: ArithmeticName[] = ["addition", "subtraction", "multiplication", "modularaddition"];

/**
 * The blocks the adapters train: the top two of eight. LoRA on every block (the paper's recipe) keeps the truth
 * readable below the quirk for addition only on this base; on blocks 6–7 the quirk is still learned and layer 5
 * is the truthful model's (models/zoo/README.md, provenance/results.jsonl).
 */
export const ZOO_ADAPTER_LAYERS = [6, 7];

export const zooBase = (zoo = ZOO_DIR) => join(zoo, "base");
export const zooAdapter = (name: ArithmeticName, zoo = ZOO_DIR) => join(zoo, "adapters", name);

/** The datasets of ZOO_ADAPTERS whose adapter is in the zoo folder. */
export function zooMembers(zoo = ZOO_DIR): ArithmeticName[] {
  return ZOO_ADAPTERS.filter((n) => existsSync(join(zooAdapter(n, zoo), "adapter_config.json")));
}

/**
 * A run over the zoo: each adapter (as model `zoo-<dataset>`) on its own dataset only, created under out/datasets,
 * with the base alone as its no-quirk control for anomaly detection; `datasets` keeps only those adapters (default:
 * every adapter in the zoo).
 */
export function zooRunConfig(out: string, opts: { zoo?: string; maxTrain: number; maxTest: number; datasets?: string[] }): RunConfig {
  let members = zooMembers(opts.zoo);
  if (members.length === 0) throw new Error(`${opts.zoo ?? ZOO_DIR}: no adapters under adapters/ (make the zoo with 'node --import tsx scripts/train-zoo.ts')`);
  if (opts.datasets) {
    const missing = opts.datasets.filter((n) => !(members as string[]).includes(n));
    if (missing.length || opts.datasets.length === 0) throw new Error(`datasets: ${missing.join(", ") || "none given"}; the zoo has adapters for ${members.join(", ")}`);
    members = members.filter((n) => opts.datasets!.includes(n));
  }
  return validateRunConfig(
    {
      out,
      models: members.map((n) => ({ path: zooBase(opts.zoo), adapter: zooAdapter(n, opts.zoo), name: `zoo-${n}`, datasets: [n], control: { path: zooBase(opts.zoo) } })),
      datasets: members.map((n) => ({ create: n, options: ZOO_DATASETS[n] })),
      maxTrain: opts.maxTrain,
      maxTest: opts.maxTest,
      randomSamples: DEFAULTS.randomSamples,
    },
    "zoo",
  );
}
