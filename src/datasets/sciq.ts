/**
 * sciq, from SciQ (user-supplied parquet: question, distractor1-3, correct_answer, support). Each
 * question gives a distractor and the correct answer, each for both characters (four rows).
 * Alice: the answer is correct. Bob: the answer appears in the support passage.
 * Difficulty: mean LM loss over a model suite on the zero-shot prompt.
 */
import { md5Hex } from "../util/pyrepr.ts";
import { pyFormat, pyLstrip } from "../util/pystr.ts";
import { Rng } from "../util/rng.ts";
import { splitFewShotPool } from "./fewshot.ts";
import type { BaseExample } from "./schema.ts";
import { expandPaths, readParquetRows, stringField, SOURCE_SPECS } from "./sources.ts";
import { templatesFile } from "./templates.ts";

interface Question {
  question: string;
  distractors: [string, string, string];
  correct: string;
  support: string;
}

export async function readSciq(paths: string | string[]): Promise<Question[]> {
  const files = expandPaths(paths, ".parquet", SOURCE_SPECS.sciq);
  const rows = await readParquetRows(files, SOURCE_SPECS.sciq);
  const where = files.join(",");
  const f = (r: Record<string, unknown>, k: string, i: number) => stringField(r, k, where, i, SOURCE_SPECS.sciq);
  return rows.map((r, i) => ({
    question: f(r, "question", i),
    distractors: [f(r, "distractor1", i), f(r, "distractor2", i), f(r, "distractor3", i)],
    correct: f(r, "correct_answer", i),
    support: f(r, "support", i),
  }));
}

export function sciqBase(questions: Question[], rng: Rng): BaseExample[] {
  const { template } = templatesFile().zero_shot.sciq;
  // the reference splits off a few-shot pool but scores difficulty on the zero-shot prompt
  const { rest } = splitFewShotPool(questions, rng);
  return rest.map((q): BaseExample => {
    const support = pyLstrip(q.support);
    const distractor = rng.choice(q.distractors);
    const text = pyFormat(template, { question: q.question, support });
    return {
      args: { question: q.question, support },
      aliceLabel: true,
      bobLabel: true, // per-answer labels are set when the four rows are made
      difficulty: NaN,
      answers: { correct: q.correct, distractor },
      prompt: { id: md5Hex(text), text, choices: [` ${distractor}`, ` ${q.correct}`], label: true },
    };
  });
}
