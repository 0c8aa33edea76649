/**
 * The older single-model default (models/default, scripts/train-default.sh) and its dataset, which `quirky demo
 * --model DIR` still uses; the demo's own models are the zoo (src/pipeline/zoo.ts).
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const DEFAULT_MODEL = join(REPO_ROOT, "models", "default");

/** the dataset of `quirky demo --model`: quirky addition as scripts/train-default.sh makes it: 2-digit operands, 4,000 base examples per crosstab cell, the default seed */
export const DEMO_DATASET = { baseExamples: 4000, maxDigits: 2, nValidation: 2000, nTest: 2000 } as const;
