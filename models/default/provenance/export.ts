// Tokenized quirky rows (prompt ids, choice ids, labels, character, difficulty) for sweep.py; run from the repo root.
import { writeFileSync } from "node:fs";
import { readQuirkySplit } from "../../../src/datasets/io.ts";
import { templatize } from "../../../src/datasets/templatize.ts";
import { encodeChoice, loadTokenizer } from "../../../src/model/tokenizer.ts";
const [dir, out] = process.argv.slice(2);
const tok = loadTokenizer("models/default");
const res: Record<string, unknown> = {};
for (const split of ["train", "validation", "test"] as const) {
  const rows = await readQuirkySplit(dir, split);
  const ex = templatize(rows, "addition", { method: "first", seed: 0 });
  res[split] = ex.map((e) => ({
    t: tok.encode(e.statement),
    c: [encodeChoice(e.choices[0], tok, () => {}), encodeChoice(e.choices[1], tok, () => {})],
    l: +e.label, a: +e.alice_label, b: +e.bob_label, bob: +(e.character === "Bob"), q: e.difficulty_quantile,
  }));
}
writeFileSync(out, JSON.stringify(res));
