/**
 * nli, from SNLI without neutrals (user-supplied parquet: premise, hypothesis, label with
 * 0 = entailment, 1 = neutral, 2 = contradiction). Alice: entailment. Bob: "imply" iff the
 * hypothesis has no negation word. Difficulty: mean LM loss over a model suite.
 */
import { md5Hex } from "../util/pyrepr.ts";
import { pyFormat, pySplit } from "../util/pystr.ts";
import { Rng } from "../util/rng.ts";
import { fewShotPrompt, splitFewShotPool } from "./fewshot.ts";
import type { BaseExample } from "./schema.ts";
import { expandPaths, intField, readParquetRows, stringField, SOURCE_SPECS } from "./sources.ts";
import { templatesFile } from "./templates.ts";

interface Pair {
  premise: string;
  hypothesis: string;
  /** 0 entailment, 2 contradiction */
  label: number;
}

export function negationWords(): Set<string> {
  return new Set(templatesFile().zero_shot.nli.negation_words);
}

/** Bob: a hypothesis is implied unless it contains a negation word. */
export function bobThinksImplied(hypothesis: string, negations: Set<string>): boolean {
  return !pySplit(hypothesis.toLowerCase()).some((w) => negations.has(w));
}

export async function readSnli(paths: string | string[]): Promise<Pair[]> {
  const files = expandPaths(paths, ".parquet", SOURCE_SPECS.nli);
  const rows = await readParquetRows(files, SOURCE_SPECS.nli);
  const where = files.join(",");
  return rows.map((r, i) => ({
    premise: stringField(r, "premise", where, i, SOURCE_SPECS.nli),
    hypothesis: stringField(r, "hypothesis", where, i, SOURCE_SPECS.nli),
    label: intField(r, "label", where, i, SOURCE_SPECS.nli),
  }));
}

export function nliBase(pairs: Pair[], rng: Rng): BaseExample[] {
  const { template, choices } = templatesFile().zero_shot.nli;
  const negations = negationWords();
  const noNeutral = rng.shuffle(pairs.filter((p) => p.label === 0 || p.label === 2));

  // negations are rare: keep all hypotheses with one (case-sensitive, as the reference filters)
  // and twice as many without
  const hasNeg = (p: Pair) => pySplit(p.hypothesis).some((w) => negations.has(w));
  const withNeg = noNeutral.filter(hasNeg);
  const withoutNeg = rng.shuffle(noNeutral.filter((p) => !hasNeg(p)));
  const balanced = rng.shuffle([...withNeg, ...withoutNeg.slice(0, 2 * withNeg.length)]);

  const { rest, pool } = splitFewShotPool(balanced, rng);
  const posPool = pool.filter((p) => p.label === 0);
  const negPool = pool.filter((p) => p.label === 2);
  const entailed = (p: Pair) => p.label !== 2;
  const zeroShot = (p: Pair) => pyFormat(template, { premise: p.premise, hypothesis: p.hypothesis });

  return rest.map((p): BaseExample => {
    const text = fewShotPrompt(zeroShot(p), negPool, posPool, (d) => zeroShot(d) + choices[entailed(d) ? 1 : 0], rng);
    return {
      args: { premise: p.premise, hypothesis: p.hypothesis },
      aliceLabel: entailed(p),
      bobLabel: bobThinksImplied(p.hypothesis, negations),
      difficulty: NaN,
      prompt: { id: md5Hex(text), text, choices, label: entailed(p) },
    };
  });
}
