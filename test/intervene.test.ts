import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { interventionExperiment, reflectionHook } from "../src/analysis/intervene.ts";
import type { TemplatizedExample } from "../src/datasets/templatize.ts";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import { randomModel } from "../src/model/load.ts";
import { encodeChoice, loadTokenizer } from "../src/model/tokenizer.ts";
import { tempDir } from "./helpers.ts";

const C = 8;

/**
 * A model whose blocks add nothing, whose embedding puts the token 'T' at +u and 'F' at −u (u has zero mean, so
 * LayerNorm keeps it), and whose unembedding reads u for ' Yes' and −u for ' No': the output says yes exactly
 * when the last token is 'T'. Reflecting the last state across u must flip every answer.
 */
function plantedModel(tok: ReturnType<typeof loadTokenizer>) {
  const m = randomModel({ model_type: "gpt_neox", vocab_size: tok.vocabSize, hidden_size: C, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 16, rotary_pct: 0.5, max_position_embeddings: 64 }, 1, 0.3);
  for (const layer of m.params.layers) {
    layer.o.w.fill(0);
    layer.o.b?.fill(0);
    layer.down.w.fill(0);
    layer.down.b?.fill(0);
  }
  const u = [1, -1, 0.5, -0.5, 0, 0, 0, 0];
  const row = (id: number) => m.params.embed.subarray(id * C, (id + 1) * C);
  const [t] = tok.encode("T");
  const [f] = tok.encode("F");
  row(t).set(u.map((v) => 2 * v));
  row(f).set(u.map((v) => -2 * v));
  const quiet = () => {};
  const yes = encodeChoice(" Yes", tok, quiet);
  const no = encodeChoice(" No", tok, quiet);
  m.params.unembed.subarray(yes * C, (yes + 1) * C).set(u);
  m.params.unembed.subarray(no * C, (no + 1) * C).set(u.map((v) => -v));
  return { m, u };
}

test("reflecting across a planted truth direction flips the model's output", async (t) => {
  const dir = tempDir(t);
  writeCharTokenizer(join(dir, "tokenizer.json"));
  const tok = loadTokenizer(join(dir, "tokenizer.json"));
  const { m, u } = plantedModel(tok);
  const examples: TemplatizedExample[] = Array.from({ length: 40 }, (_, i) => {
    const truth = i % 2 === 0;
    const bob = i % 4 < 2;
    return { id: String(i), statement: `${i % 7}+${i % 5}=${truth ? "T" : "F"}`, choices: [" No", " Yes"], template_index: 0, character: "Bob", label: bob, alice_label: truth, bob_label: bob, difficulty: 0, difficulty_quantile: 0.5 };
  });
  const results = await interventionExperiment(m, tok, examples, [
    { layer: 0, direction: u, mean: new Float64Array(C) },
    { layer: 1, direction: u.map((v) => v * 5), mean: new Float64Array(C) }, // scale of the probe does not matter
    { layer: 1, direction: [0, 0, 0, 0, 1, 0, 0, 0], mean: new Float64Array(C) }, // an orthogonal direction changes nothing
  ]);
  assert.equal(results[0].clean.alice, 1);
  assert.equal(results[0].intervened.alice, 0, "every answer flipped at layer 0");
  assert.equal(results[1].intervened.alice, 0, "and at layer 1");
  assert.equal(results[2].intervened.alice, 1, "reflecting across an orthogonal direction changes nothing");
  assert.ok(Math.abs(results[0].clean.bob - 0.5) < 0.15, "the output does not follow Bob");
});

test("the reflection edits only the last position, about the given mean", () => {
  const hook = reflectionHook([0, 1], [0, 10]);
  const x = Float32Array.from([1, 3, 1, 13, /* row 2 */ 2, 2, 2, 7]); // B=2, T=2, C=2
  hook(x, { B: 2, T: 2, C: 2 });
  assert.deepEqual(Array.from(x), [1, 3, 1, 7, 2, 2, 2, 13]); // 13 − 10 = 3 → −3 → 7;  7 − 10 = −3 → 3 → 13
});
