import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeChoice, loadTokenizer } from "../src/model/tokenizer.ts";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import { tempDir } from "./helpers.ts";

/** A GPT-NeoX-style byte-level BPE tokenizer.json with a few merges (" True" is one token, "Ġ" a lone space). */
function byteLevelTokenizer(): Record<string, unknown> {
  const chars = ["Ġ", "T", "r", "u", "e", "F", "a", "l", "s", "Y", "N", "o", "1", "2", "+", "="];
  const merged = ["ĠT", "ĠTr", "ĠTru", "ĠTrue", "ĠF", "ĠFa", "ĠFal", "ĠFals", "ĠFalse"];
  const vocab: Record<string, number> = { "<|endoftext|>": 0 };
  for (const t of [...chars, ...merged]) vocab[t] = Object.keys(vocab).length;
  return {
    version: "1.0",
    added_tokens: [{ id: 0, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: ["Ġ T", "ĠT r", "ĠTr u", "ĠTru e", "Ġ F", "ĠF a", "ĠFa l", "ĠFal s", "ĠFals e"] },
  };
}

test("encodeChoice on a byte-level BPE tokenizer: ' True' and ' False' are single tokens", (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(byteLevelTokenizer()));
  const tok = loadTokenizer(dir);
  const warnings: string[] = [];
  const trueId = encodeChoice(" True", tok, (m) => warnings.push(m));
  const falseId = encodeChoice(" False", tok, (m) => warnings.push(m));
  assert.equal(tok.decode([trueId]), " True");
  assert.equal(tok.decode([falseId]), " False");
  assert.equal(warnings.length, 0);
  // " No" has no merges: the leading "Ġ" decodes to whitespace, so it is dropped (as the reference does)
  const noId = encodeChoice(" No", tok, (m) => warnings.push(m));
  assert.equal(tok.decode([noId]), "N");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /Choice should be one token: " No"/);
  encodeChoice(" No", tok, (m) => warnings.push(m));
  assert.equal(warnings.length, 1, "warned once per distinct choice");
});

test("encodeChoice on the character-level tokenizer: the space is split off, the first letter stands for the answer", (t) => {
  const dir = tempDir(t);
  writeCharTokenizer(join(dir, "tokenizer.json"));
  const tok = loadTokenizer(dir);
  const quiet = () => {};
  assert.equal(tok.decode([encodeChoice(" True", tok, quiet)]), "T");
  assert.equal(tok.decode([encodeChoice(" False", tok, quiet)]), "F");
  assert.equal(tok.decode([encodeChoice("Yes", tok, quiet)]), "Y");
});
