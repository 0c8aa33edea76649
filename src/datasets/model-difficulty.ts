/**
 * Difficulty scored here with a suite of models (sentiment, nli, sciq), as the reference's
 * QuirkyDataset._get_log_odds / _get_difficulties do it with Hugging Face models:
 *
 *   lp_m(c)         = Σ_k log p_m(c_k | prompt, c_<k)             (the whole completion c, token by token)
 *   logodds_{m,i}   = lp_m(choices[1]) − lp_m(choices[0])
 *   difficulty_i    = (1/M) Σ_m −log σ(±logodds_{m,i})            (difficulty.ts)
 *
 * Prompts are encoded with the tokenizer's special tokens (HF `encode`), choices without them. A prompt that does
 * not leave room for the longer choice within the model's positions keeps only its last tokens, as the reference
 * does, with a warning naming the example.
 *
 * Scores are computed one model at a time, in chunks of prompts; each chunk's log-odds are written atomically to
 * `cacheDir/<model>-<fingerprint>/chunk-NNNNNN.json` together with a hash of its prompts, and reused only when the
 * same model files and the same prompts made them, so an interrupted run resumes where it stopped.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { writeFileAtomic } from "../util/atomic.ts";
import { leftPad } from "../model/batch.ts";
import { sourceFingerprint } from "../model/source.ts";
import { loadModel } from "../model/load.ts";
import { loadTokenizer, type TextTokenizer } from "../model/tokenizer.ts";
import type { Transformer } from "../model/transformer.ts";
import type { LogOddsScorer, ScoringPrompt } from "./difficulty.ts";

/** log Σ_v exp(x_v) over one row of logits, in float64. */
function logSumExp(x: Float32Array): number {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > m) m = x[i];
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i] - m);
  return m + Math.log(s);
}

interface Encoded {
  prompt: number[];
  /** choices[0], choices[1] as token ids */
  choices: [number[], number[]];
}

/** Token ids of each prompt and its two completions, the prompt cut to fit the model's positions (reference). */
function encodePrompts(prompts: ScoringPrompt[], tok: TextTokenizer, maxPositions: number, warn: (m: string) => void): Encoded[] {
  return prompts.map((p, i) => {
    const name = p.id ?? `prompt ${i}`;
    const choices = p.choices.map((c) => tok.encode(c, false)) as [number[], number[]];
    for (const [k, c] of choices.entries()) if (c.length === 0) throw new Error(`${name}: answer choice ${JSON.stringify(p.choices[k])} encodes to no tokens`);
    const room = maxPositions - Math.max(choices[0].length, choices[1].length);
    if (room <= 0) throw new Error(`${name}: an answer choice is longer than the model's ${maxPositions} positions`);
    let prompt = tok.encode(p.text);
    if (prompt.length > room) {
      warn(`${name}: prompt of ${prompt.length} tokens + answer does not fit the model's ${maxPositions} positions; keeping its last ${room} tokens, as the reference does`);
      prompt = prompt.slice(prompt.length - room);
    }
    return { prompt, choices };
  });
}

/**
 * logodds = lp(choices[1]) − lp(choices[0]) for each prompt under one model. Prompts go in batches of similar
 * length (left-padded); the prompt is run once, and multi-token choices continue from its KV cache.
 */
export async function promptLogOdds(
  model: Transformer,
  tok: TextTokenizer,
  prompts: ScoringPrompt[],
  opts: { batchSize?: number; warn?: (m: string) => void; onBatch?: (done: number) => void } = {},
): Promise<Float64Array> {
  const enc = encodePrompts(prompts, tok, model.cfg.maxPositions, opts.warn ?? ((m) => console.warn(m)));
  const out = new Float64Array(prompts.length);
  const order = enc.map((_, i) => i).sort((a, b) => enc[a].prompt.length - enc[b].prompt.length);
  const batchSize = opts.batchSize ?? 8;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`difficulty batch size must be a positive integer, got ${batchSize}`);
  const V = model.cfg.vocabSize;
  let done = 0;
  for (let start = 0; start < order.length; start += batchSize) {
    const rows = order.slice(start, start + batchSize);
    const { tokens, mask, B, T } = leftPad(rows.map((i) => enc[i].prompt)); // (B, T)
    const longest = (j: 0 | 1) => Math.max(...rows.map((i) => enc[i].choices[j].length));
    const needCache = longest(0) > 1 || longest(1) > 1;
    // logits (B, V) at each prompt's last token: the first token of either choice
    const first = await model.forward({ tokens, B, T, mask }, { logits: "last", returnCache: needCache });
    const lp = rows.map((i, b) => {
      const row = first.logits.subarray(b * V, (b + 1) * V);
      const z = logSumExp(row);
      return enc[i].choices.map((c) => row[c[0]] - z);
    });
    for (const j of [0, 1] as const) {
      const Tc = longest(j) - 1;
      if (Tc === 0) continue;
      // the choice's tokens but the last, left-padded to (B, Tc), after the prompt's cache
      const { tokens: cont, mask: cmask } = leftPad(rows.map((i) => enc[i].choices[j].slice(0, -1)));
      const positions: number[] = [];
      const targets: [number, number][] = [];
      rows.forEach((i, b) => {
        const c = enc[i].choices[j];
        const off = b * Tc + Tc - (c.length - 1);
        for (let k = 1; k < c.length; k++) {
          positions.push(off + k - 1); // predicts c[k]
          targets.push([b, c[k]]);
        }
      });
      const next = await model.forward({ tokens: cont, B, T: Tc, mask: cmask, cache: first.cache }, { logits: Int32Array.from(positions) });
      targets.forEach(([b, token], m) => {
        const row = next.logits.subarray(m * V, (m + 1) * V);
        lp[b][j] += row[token] - logSumExp(row);
      });
    }
    rows.forEach((i, b) => {
      out[i] = lp[b][1] - lp[b][0];
      if (!Number.isFinite(out[i])) throw new Error(`${prompts[i].id ?? `prompt ${i}`}: log-odds came out ${out[i]} (the model's logits are not finite)`);
    });
    done += B;
    opts.onBatch?.(done);
  }
  return out;
}

/** What identifies a model folder's outputs: the content fingerprint of its files (model/source.ts). */
export function modelFingerprint(dir: string): string {
  if (!existsSync(join(dir, "config.json"))) throw new Error(`${dir}: not a model folder (no config.json); --difficulty-models takes Hugging Face model folders`);
  return sourceFingerprint({ path: dir });
}

/** The prompts of one chunk, as they reach the model. */
function promptsHash(prompts: ScoringPrompt[]): string {
  const h = createHash("sha256");
  for (const p of prompts) h.update(JSON.stringify([p.text, p.choices])).update("\n");
  return h.digest("hex");
}

interface Chunk {
  model: string;
  fingerprint: string;
  prompts_sha256: string;
  log_odds: number[];
}

/** A cached chunk, or undefined when there is none or it cannot be read (then it is computed again). */
function readChunk(path: string): Chunk | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Chunk;
  } catch {
    return undefined;
  }
}

export interface CachedScorerOptions {
  /** folder of the per-model chunk files */
  cacheDir: string;
  /** prompts per chunk (the unit of resumption) */
  chunkSize?: number;
  batchSize?: number;
  /** progress of this model: prompts done (cached ones included) of all */
  onProgress?: (done: number, total: number) => void;
  /** one-line notes on stderr: which model, how much was cached */
  log?: (m: string) => void;
  warn?: (m: string) => void;
}

/**
 * A LogOddsScorer that runs the model in `modelDir` (loaded only if some chunk is not cached yet) and keeps its
 * scores chunk by chunk under `cacheDir`.
 */
export function cachedModelScorer(modelDir: string, opts: CachedScorerOptions): LogOddsScorer {
  return async (prompts) => {
    const fingerprint = modelFingerprint(modelDir);
    const name = basename(resolve(modelDir));
    const dir = join(opts.cacheDir, `${name}-${fingerprint.slice(0, 16)}`);
    const chunkSize = opts.chunkSize ?? 64;
    const log = opts.log ?? ((m) => console.error(m));
    const out = new Float64Array(prompts.length);
    const nChunks = Math.ceil(prompts.length / chunkSize);
    const todo: number[] = [];
    let done = 0;
    for (let k = 0; k < nChunks; k++) {
      const slice = prompts.slice(k * chunkSize, (k + 1) * chunkSize);
      const path = join(dir, `chunk-${String(k).padStart(6, "0")}.json`);
      const chunk = readChunk(path);
      if (chunk && chunk.fingerprint === fingerprint && chunk.prompts_sha256 === promptsHash(slice) && chunk.log_odds.length === slice.length) {
        out.set(chunk.log_odds, k * chunkSize);
        done += slice.length;
      } else todo.push(k);
    }
    log(`difficulty: ${name}: ${prompts.length} prompts in ${nChunks} chunks, ${nChunks - todo.length} cached in ${dir}`);
    opts.onProgress?.(done, prompts.length);
    if (todo.length === 0) return out;
    const model = loadModel(modelDir);
    const tok = loadTokenizer(modelDir);
    for (const k of todo) {
      const slice = prompts.slice(k * chunkSize, (k + 1) * chunkSize);
      const before = done;
      const lo = await promptLogOdds(model, tok, slice, { batchSize: opts.batchSize, warn: opts.warn, onBatch: (d) => opts.onProgress?.(before + d, prompts.length) });
      const chunk: Chunk = { model: resolve(modelDir), fingerprint, prompts_sha256: promptsHash(slice), log_odds: Array.from(lo) };
      writeFileAtomic(join(dir, `chunk-${String(k).padStart(6, "0")}.json`), JSON.stringify(chunk) + "\n");
      out.set(lo, k * chunkSize);
      done += slice.length;
    }
    return out;
  };
}
