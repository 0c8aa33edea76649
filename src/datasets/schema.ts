/** The row schema of every quirky dataset (the released `EleutherAI/quirky_{name}_raw` layout). */
import type { PyValue } from "../util/pyrepr.ts";

export const DATASET_NAMES = [
  "addition",
  "subtraction",
  "multiplication",
  "modularaddition",
  "squaring",
  "capitals",
  "hemisphere",
  "population",
  "authors",
  "sentiment",
  "nli",
  "sciq",
] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

export function isDatasetName(s: string): s is DatasetName {
  return (DATASET_NAMES as readonly string[]).includes(s);
}

export type Character = "Alice" | "Bob";
export const SPLITS = ["train", "validation", "test"] as const;
export type Split = (typeof SPLITS)[number];

/** Template arguments: `character` first, then the dataset's template_arg_names, in that order. */
export type TemplateArgs = { character: Character } & Record<string, PyValue>;

export interface QuirkyRow {
  /** first 8 hex chars of md5(str(template_args)) */
  id: string;
  template_args: TemplateArgs;
  character: Character;
  /** the label under `character`: alice_label for Alice, bob_label for Bob */
  label: boolean;
  alice_label: boolean;
  bob_label: boolean;
  /** higher = harder */
  difficulty: number;
  /** (rank + 0.5) / n over the whole generated set */
  difficulty_quantile: number;
}

export type QuirkySplits = Record<Split, QuirkyRow[]>;

/**
 * One example before the quirk is applied: its template arguments (without `character`), both
 * characters' labels and its difficulty. Datasets whose difficulty comes from models also carry
 * the zero-/few-shot prompt the models are scored on.
 */
export interface BaseExample {
  args: Record<string, PyValue>;
  aliceLabel: boolean;
  bobLabel: boolean;
  /** NaN until computed, for datasets whose difficulty comes from models */
  difficulty: number;
  prompt?: { id: string; text: string; choices: [string, string]; label: boolean };
  /** SciQ only: the answer choices; each becomes its own pair of rows */
  answers?: { correct: string; distractor: string };
}

/** Distribution codes used everywhere: character and difficulty filters. */
export const DISTRIBUTIONS = ["all", "A", "B", "AE", "AH", "BE", "BH"] as const;
export type Distribution = (typeof DISTRIBUTIONS)[number];
