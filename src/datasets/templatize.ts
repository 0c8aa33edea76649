/**
 * Loading for experiments: filter a split by distribution (character × difficulty) and turn each
 * row into prompts. Methods: `first` (the paper's "single"), `random` ("mixture"), `all` (every
 * template for every row); `standardized` uses the statement templates inside the standardized one.
 */
import { pyFormat } from "../util/pystr.ts";
import { Rng } from "../util/rng.ts";
import type { Character, DatasetName, Distribution, QuirkyRow } from "./schema.ts";
import { DISTRIBUTIONS } from "./schema.ts";
import { promptTemplates } from "./templates.ts";

export type TemplateMethod = "first" | "random" | "all";

/** A row turned into a prompt; the row's labels and difficulty travel with it. */
export type TemplatizedExample = Omit<QuirkyRow, "template_args"> & {
  /** the prompt text */
  statement: string;
  /** [false_choice, true_choice] */
  choices: [string, string];
  /** index into the template list used */
  template_index: number;
};

export const EASY_MAX_QUANTILE = 0.25;
export const HARD_MIN_QUANTILE = 0.75;

/** Character and difficulty constraints of a distribution code (easy: q ≤ 0.25, hard: q ≥ 0.75). */
export function distributionFilter(code: Distribution): { character?: Character; minQuantile: number; maxQuantile: number } {
  if (!(DISTRIBUTIONS as readonly string[]).includes(code)) {
    throw new Error(`unknown distribution '${code}'; expected one of ${DISTRIBUTIONS.join(", ")}`);
  }
  const character = code.startsWith("A") ? "Alice" : code.startsWith("B") ? "Bob" : undefined;
  const minQuantile = code.endsWith("H") ? HARD_MIN_QUANTILE : 0;
  const maxQuantile = code.endsWith("E") ? EASY_MAX_QUANTILE : 1;
  return { character, minQuantile, maxQuantile };
}

export function filterDistribution(rows: QuirkyRow[], code: Distribution): QuirkyRow[] {
  const f = distributionFilter(code);
  return rows.filter(
    (r) =>
      (f.character === undefined || r.character === f.character) &&
      r.difficulty_quantile >= f.minQuantile &&
      r.difficulty_quantile <= f.maxQuantile,
  );
}

export interface TemplatizeOptions {
  method?: TemplateMethod;
  standardized?: boolean;
  /** seeds the `random` method */
  seed?: number;
}

export function templatize(rows: QuirkyRow[], dataset: DatasetName, opts: TemplatizeOptions = {}): TemplatizedExample[] {
  const method = opts.method ?? "random";
  const templates = promptTemplates(dataset, opts.standardized ?? false);
  const rng = new Rng(opts.seed ?? 0, `templatize:${dataset}`);
  const out: TemplatizedExample[] = [];
  for (const r of rows) {
    const indices =
      method === "first" ? [0] : method === "random" ? [rng.int(0, templates.length - 1)] : templates.map((_, i) => i);
    for (const t of indices) {
      out.push({
        id: r.id,
        statement: pyFormat(templates[t].template, r.template_args),
        choices: templates[t].choices,
        template_index: t,
        character: r.character,
        label: r.label,
        alice_label: r.alice_label,
        bob_label: r.bob_label,
        difficulty: r.difficulty,
        difficulty_quantile: r.difficulty_quantile,
      });
    }
  }
  return out;
}
