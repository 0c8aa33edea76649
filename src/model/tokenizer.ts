/**
 * Tokenizers from tokenizer.json (+ tokenizer_config.json when present) through @huggingface/tokenizers.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";

export class TokenizerError extends Error {
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}`);
    this.name = "TokenizerError";
  }
}

export interface TextTokenizer {
  /** token ids of `text`; special tokens (BOS) as the tokenizer's post-processor adds them */
  encode(text: string, addSpecialTokens?: boolean): number[];
  decode(ids: number[]): string;
  vocabSize: number;
}

/** Load tokenizer.json from a model folder (or a path to the file itself). */
export function loadTokenizer(pathOrDir: string): TextTokenizer {
  const file = pathOrDir.endsWith(".json") ? pathOrDir : join(pathOrDir, "tokenizer.json");
  if (!existsSync(file)) throw new TokenizerError(file, "file not found (a model folder needs tokenizer.json)");
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new TokenizerError(file, `not valid JSON (${(err as Error).message})`);
  }
  const model = json.model as Record<string, unknown> | undefined;
  if (!model || typeof model !== "object" || typeof model.type !== "string" || !model.vocab) {
    throw new TokenizerError(file, "not a tokenizer.json: no model.type / model.vocab (expected the Hugging Face tokenizers format)");
  }
  const configFile = join(file, "..", "tokenizer_config.json");
  const config = existsSync(configFile) ? JSON.parse(readFileSync(configFile, "utf8")) : {};
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, config);
  } catch (err) {
    throw new TokenizerError(file, `could not build the tokenizer (${(err as Error).message})`);
  }
  const vocab = model.vocab as Record<string, number> | [string, number][];
  const added = (json.added_tokens as { id: number }[] | undefined) ?? [];
  const ids = Array.isArray(vocab) ? vocab.map((_, i) => i) : Object.values(vocab);
  const vocabSize = Math.max(...ids, ...added.map((t) => t.id)) + 1;
  return {
    encode: (text, addSpecialTokens = true) => tok.encode(text, { add_special_tokens: addSpecialTokens }).ids,
    decode: (ids) => tok.decode(ids, { skip_special_tokens: false }),
    vocabSize,
  };
}

const warnedChoices = new Set<string>();

/**
 * The token id that stands for an answer choice, as the reference's encode_choice: encode without special
 * tokens; if the first token decodes to whitespace only (tokenizers that split off the leading space), drop
 * it; warn once per distinct choice that is longer than one token; return the first token.
 */
export function encodeChoice(text: string, tok: TextTokenizer, warn: (msg: string) => void = (m) => console.warn(m)): number {
  let ids = tok.encode(text, false);
  if (ids.length === 0) throw new Error(`answer choice ${JSON.stringify(text)} encodes to no tokens`);
  if (ids.length > 1 && tok.decode([ids[0]]).trim() === "") ids = ids.slice(1);
  if (ids.length !== 1) {
    const key = ids.join(",");
    if (!warnedChoices.has(key)) {
      warnedChoices.add(key);
      warn(`Choice should be one token: ${JSON.stringify(text)} -> [${ids.join(", ")}]; using the first`);
    }
  }
  return ids[0];
}
