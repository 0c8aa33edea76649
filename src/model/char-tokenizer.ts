/**
 * A character-level tokenizer for small models trained from scratch, written as a real tokenizer.json
 * (a BPE model with single-character tokens and no merges) that @huggingface/tokenizers and Python's
 * `tokenizers` load.
 */
import { writeFileAtomic } from "../util/atomic.ts";

export const UNK = "<unk>";
export const EOS = "<|endoftext|>";

/** tokenizer.json for a vocabulary of `chars` (duplicates dropped), with <unk> = 0 and <|endoftext|> = 1. */
export function charTokenizerJson(chars: Iterable<string>): Record<string, unknown> {
  const vocab: Record<string, number> = { [UNK]: 0, [EOS]: 1 };
  for (const ch of chars) if (!(ch in vocab) && [...ch].length === 1) vocab[ch] = Object.keys(vocab).length;
  const special = (content: string, id: number) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(UNK, 0), special(EOS, 1)],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: "Fuse" },
    model: { type: "BPE", dropout: null, unk_token: UNK, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  };
}

/** Printable ASCII: enough for every quirky arithmetic template. */
export function asciiChars(): string[] {
  const out = ["\n"];
  for (let c = 32; c < 127; c++) out.push(String.fromCharCode(c));
  return out;
}

export function writeCharTokenizer(path: string, chars: Iterable<string> = asciiChars()): void {
  writeFileAtomic(path, JSON.stringify(charTokenizerJson(chars), null, 1) + "\n");
}
