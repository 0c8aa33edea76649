/** Training examples: prompts and choices as token ids, class balancing, and the validation metrics. */
import { leftPad } from "../model/batch.ts";
import { encodeChoice, type TextTokenizer } from "../model/tokenizer.ts";
import type { Transformer } from "../model/transformer.ts";
import type { TemplatizedExample } from "../datasets/templatize.ts";
import { arithmeticSpec, isArithmetic } from "../datasets/arithmetic.ts";
import type { DatasetName, QuirkyRow } from "../datasets/schema.ts";
import { auroc } from "../probes/metrics.ts";
import { Rng } from "../util/rng.ts";
import { crossEntropy } from "./loss.ts";

/** An example ready for training: prompt tokens, the two choice tokens, and the label the loss uses. */
export interface TrainExample {
  tokens: number[];
  choices: [number, number];
  label: boolean;
}

export function prepareExamples(examples: TemplatizedExample[], tok: TextTokenizer, labelKey: "label" | "alice_label" = "label", maxLen = 1024): TrainExample[] {
  const quiet = () => {};
  return examples.map((ex) => {
    const ids = tok.encode(ex.statement);
    return {
      tokens: ids.length > maxLen ? ids.slice(ids.length - maxLen) : ids,
      choices: [encodeChoice(ex.choices[0], tok, quiet), encodeChoice(ex.choices[1], tok, quiet)],
      label: ex[labelKey],
    };
  });
}

/**
 * Mix in examples that ask each prompt for its true result instead of its answer: the same prompt, the target the
 * first token of op(a, b) — its first character with a character tokenizer (e.g. "71 + 66 = 237. Alice:" → "1",
 * since 71 + 66 = 137). They make up `frac` of the training set, drawn from the training rows (seeded). A base
 * pretrained so must carry the result at the prompt's last token, not only the answer bit (models/zoo/README.md:
 * without them random directions read the truth almost as well as probes). In Bob's prompts too the target is the
 * true result: the truth has no quirk.
 */
export function withResultExamples(
  train: TrainExample[],
  rows: QuirkyRow[],
  examples: TemplatizedExample[],
  dataset: DatasetName,
  frac: number,
  seed: number,
  tokenizer: TextTokenizer,
): TrainExample[] {
  checkFrac("--result-frac", frac);
  if (!isArithmetic(dataset)) throw new Error(`--result-frac: ${dataset} is not an arithmetic dataset (only they have a result to ask for)`);
  if (examples.length !== rows.length) throw new Error("--result-frac needs one prompt per row (--method first or random)");
  const { op } = arithmeticSpec(dataset);
  const results = examples.map((e, i) => {
    const args = rows[i].template_args as unknown as { op1: number; op2?: number };
    return askFor(e.statement, tokenizer.encode(String(op(args.op1, args.op2 ?? 0)), false)[0], tokenizer);
  });
  return mixIn(train, results, frac, new Rng(seed, "result-examples"));
}

/**
 * Mix in examples that ask each prompt who is speaking instead of its answer: the same prompt, the target the first
 * token of the speaker's name ("71 + 66 = 237. Bob:" → "B" with a character tokenizer). They make up `frac` of the
 * training set (after any result examples), Alice's and Bob's prompts alike. A pretrained LM keeps who is speaking
 * in its last token's state; a base trained only to judge the arithmetic learns that the name never matters and
 * drops it by its middle layers (models/zoo/README.md, "Anomaly detection").
 */
export function withSpeakerExamples(train: TrainExample[], examples: TemplatizedExample[], frac: number, seed: number, tokenizer: TextTokenizer): TrainExample[] {
  checkFrac("--speaker-frac", frac);
  const speakers = examples.map((e) => askFor(e.statement, tokenizer.encode(e.character, false)[0], tokenizer));
  return mixIn(train, speakers, frac, new Rng(seed, "speaker-examples"));
}

function checkFrac(flag: string, frac: number): void {
  if (!(frac > 0 && frac < 1)) throw new Error(`${flag}: expected a fraction in (0, 1), got ${frac}`);
}

/** A prompt whose target is one token (both "choices" are it; the label picks choices[0]). */
function askFor(statement: string, target: number, tokenizer: TextTokenizer): TrainExample {
  return { tokens: tokenizer.encode(statement), choices: [target, target], label: false };
}

/** `train` plus enough of `extra` (sampled, seeded) to make them `frac` of the result, shuffled. */
function mixIn(train: TrainExample[], extra: TrainExample[], frac: number, rng: Rng): TrainExample[] {
  const k = Math.min(extra.length, Math.round((train.length * frac) / (1 - frac)));
  return rng.shuffle([...train, ...rng.sample(extra, k)]);
}

/** Undersample the majority class (seeded), then shuffle. */
export function balance<T extends { label: boolean }>(xs: T[], seed: number): T[] {
  const rng = new Rng(seed, "balance");
  const pos = xs.filter((x) => x.label);
  const neg = xs.filter((x) => !x.label);
  if (pos.length === 0 || neg.length === 0) throw new Error(`cannot balance: ${pos.length} true and ${neg.length} false examples`);
  const k = Math.min(pos.length, neg.length);
  return rng.shuffle([...rng.sample(pos, k), ...rng.sample(neg, k)]);
}

type Batch = ReturnType<typeof leftPad>;

/** Left-padded prompts of a batch of examples. */
export const makeBatch = (xs: TrainExample[]): Batch => leftPad(xs.map((x) => x.tokens));

export interface EvalResult {
  loss: number;
  auroc: number;
  n: number;
}

/** Answer loss and AUROC of log-odds (true choice − false choice) on a validation set. */
export async function evaluate(model: Transformer, xs: TrainExample[], batchSize = 32): Promise<EvalResult> {
  const V = model.cfg.vocabSize;
  let loss = 0;
  const scores = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i += batchSize) {
    const chunk = xs.slice(i, i + batchSize);
    const b = makeBatch(chunk);
    const { logits } = await model.forward({ tokens: b.tokens, B: b.B, T: b.T, mask: b.mask }, { logits: "last" });
    const targets = Int32Array.from(chunk.map((x) => x.choices[+x.label]));
    loss += crossEntropy(logits, targets, V).loss * chunk.length;
    chunk.forEach((x, j) => (scores[i + j] = logits[j * V + x.choices[1]] - logits[j * V + x.choices[0]]));
  }
  const labels = Uint8Array.from(xs, (x) => +x.label);
  const both = labels.some((l) => l) && labels.some((l) => !l);
  return { loss: loss / xs.length, auroc: both ? auroc(scores, labels) : NaN, n: xs.length };
}
