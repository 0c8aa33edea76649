/**
 * From base examples to the quirky dataset: one Alice row and one Bob row per base example
 * (SciQ: four), difficulty quantiles over the whole generated set, and the reference's splits.
 */
import { quirkyId } from "../util/pyrepr.ts";
import type { BaseExample, Character, QuirkyRow, QuirkySplits, TemplateArgs } from "./schema.ts";

const CHARACTERS: Character[] = ["Alice", "Bob"];

/** The quirky rows of one base example, in the reference's order (Alice first). */
export function quirkyRowsOf(ex: BaseExample): Omit<QuirkyRow, "difficulty_quantile">[] {
  if (ex.answers) return sciqRowsOf(ex, ex.answers);
  return CHARACTERS.map((character) => {
    const template_args = { character, ...ex.args } as TemplateArgs;
    return {
      id: quirkyId(template_args),
      template_args,
      character,
      label: character === "Alice" ? ex.aliceLabel : ex.bobLabel,
      alice_label: ex.aliceLabel,
      bob_label: ex.bobLabel,
      difficulty: ex.difficulty,
    };
  });
}

/** SciQ: for each character, the distractor then the correct answer, each judged on its own. */
function sciqRowsOf(ex: BaseExample, answers: { correct: string; distractor: string }) {
  const support = String(ex.args.support);
  const aliceLabel = (a: string) => a === answers.correct;
  const bobLabel = (a: string) => support.includes(a); // Bob: an answer is right if the passage contains it
  const rows: Omit<QuirkyRow, "difficulty_quantile">[] = [];
  for (const character of CHARACTERS) {
    for (const answer of [answers.distractor, answers.correct]) {
      const template_args = { character, answer, ...ex.args } as TemplateArgs;
      rows.push({
        id: quirkyId(template_args),
        template_args,
        character,
        label: character === "Alice" ? aliceLabel(answer) : bobLabel(answer),
        alice_label: aliceLabel(answer),
        bob_label: bobLabel(answer),
        difficulty: ex.difficulty,
      });
    }
  }
  return rows;
}

/**
 * quantile_i = (rank_i + 0.5) / n, where rank orders rows by difficulty. Ties keep row order
 * (a stable sort; the reference used numpy's unstable argsort, whose tie order is arbitrary).
 */
export function difficultyQuantiles(difficulties: ArrayLike<number>): Float64Array {
  const n = difficulties.length;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => cmp(difficulties[a], difficulties[b]) || a - b);
  const q = new Float64Array(n);
  for (let rank = 0; rank < n; rank++) q[order[rank]] = (rank + 0.5) / n;
  return q;
}

function cmp(a: number, b: number): number {
  // NaN sorts last, as in numpy
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface SplitSizes {
  validation: number;
  test: number;
}

/**
 * The reference's split arithmetic (QuirkyDataset.save_quirky_dataset with n_train=-1): sizes are
 * counted in base examples but cut from the quirky rows, so train = n_base − n_val − n_test rows,
 * then n_val validation rows, then n_test test rows; the later rows are not used. SciQ halves the
 * requested validation/test sizes first (its base examples give four rows, not two).
 */
export function splitRows(rows: QuirkyRow[], nBase: number, sizes: SplitSizes, name: string): QuirkySplits {
  const nTrain = nBase - sizes.validation - sizes.test;
  if (nTrain <= 0) {
    throw new Error(
      `dataset '${name}': ${nBase} base examples leave no training rows after ${sizes.validation} validation + ` +
        `${sizes.test} test rows; generate more base examples or pass smaller --n-validation/--n-test`,
    );
  }
  return {
    train: rows.slice(0, nTrain),
    validation: rows.slice(nTrain, nTrain + sizes.validation),
    test: rows.slice(nTrain + sizes.validation, nTrain + sizes.validation + sizes.test),
  };
}

/** Base examples (already in the reference's order) → quirky rows with quantiles → splits. */
export function buildQuirkySplits(base: BaseExample[], sizes: SplitSizes, name: string): QuirkySplits {
  for (const ex of base) {
    if (Number.isNaN(ex.difficulty)) throw new Error(`dataset '${name}': a base example has no difficulty`);
  }
  // quantiles need every row's difficulty, but only the rows the splits keep need ids
  const difficulties = base.flatMap((ex) => Array<number>(ex.answers ? 4 : 2).fill(ex.difficulty));
  const q = difficultyQuantiles(difficulties);
  const kept = Math.min(difficulties.length, base.length);
  const rows: QuirkyRow[] = [];
  for (let i = 0; rows.length < kept; i++) {
    for (const r of quirkyRowsOf(base[i])) {
      if (rows.length === kept) break;
      (r as QuirkyRow).difficulty_quantile = q[rows.length];
      rows.push(r as QuirkyRow);
    }
  }
  return splitRows(rows, base.length, sizes, name);
}
