/**
 * Extraction: run the model over templatized examples and store, per example, the last-token residual state
 * of every layer, the contrast-pair states and the LM's log-odds (see states.ts for the layout).
 *
 * Work is cut into batches; each finished batch is written to chunks/ atomically, so an interrupted run
 * resumes at the first missing batch. When all batches exist they are streamed into states.safetensors
 * layer by layer (bounded memory) and the chunks are removed.
 *
 * The states record their provenance: the fingerprint of the model's weights and of the exact examples. A finished
 * extraction is reused only for the same fingerprint, chunks of an interrupted one only for the same fingerprint
 * and batch size, and one process at a time works in a folder (a lock), so shards that share it never collide.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DEFAULTS } from "../defaults.ts";
import { removeStaleTemps, writeFileAtomic } from "../util/atomic.ts";
import { canonicalJson, hashJson } from "../util/fingerprint.ts";
import { tryLock, withLock } from "../util/lock.ts";
import { describeDifferences, provenance, reuseCached, type Provenance } from "../util/provenance.ts";
import { readSafetensors, readSafetensorsHeader, readF32Range, writeSafetensors, writeSafetensorsStream } from "../model/safetensors.ts";
import { leftPad } from "../model/batch.ts";
import { encodeChoice, type TextTokenizer } from "../model/tokenizer.ts";
import type { Taps, Transformer } from "../model/transformer.ts";
import type { TemplatizedExample } from "../datasets/templatize.ts";
import { META_FILE, STATES_FILE, isComplete, type StatesMeta } from "./states.ts";

export interface ExtractOptions {
  model: Transformer;
  tokenizer: TextTokenizer;
  examples: TemplatizedExample[];
  outDir: string;
  /** recorded in meta.json */
  info: { model: string; adapter: string | null; dataset: string; distribution: string; split: string; settings: Record<string, unknown> };
  /** content fingerprint of the model folder and adapter (model/source.ts); default: a hash of the weights in memory */
  modelFingerprint?: string;
  batchSize?: number;
  /** recompute states that were extracted from other inputs, instead of refusing */
  force?: boolean;
  /** when another process is extracting into outDir: wait for it (default), or return "busy" */
  ifBusy?: "wait" | "skip";
  onProgress?: (done: number, total: number) => void;
  warn?: (msg: string) => void;
}

/** sha256 of every parameter's stored bytes, for models that exist only in memory (not loaded from a folder). */
export function weightsFingerprint(model: Transformer): string {
  if (model.stream) throw new Error("a streamed model's weights are not all in memory: pass modelFingerprint (sourceFingerprint of its folder, model/source.ts)");
  const h = createHash("sha256");
  for (const [name, t] of model.params.tensors) {
    // f32 weights are Float32Arrays; 16-bit ones keep their raw bits in `.bits`
    const view: ArrayBufferView = ArrayBuffer.isView(t.data) ? t.data : (t.data as unknown as { bits: Uint16Array }).bits;
    h.update(`${name}:${t.shape.join("x")}:${view.constructor.name}:`).update(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  }
  return h.digest("hex").slice(0, 16);
}

/** What extracted states are computed from: the model's weights (and tokenizer) and the exact examples. */
export function statesProvenance(modelFingerprint: string, examples: TemplatizedExample[]): Provenance {
  return provenance({ model: modelFingerprint, examples: hashJson(examples), n: examples.length });
}

interface BatchStates {
  hiddens: Float32Array; // [L, b, d]
  pairs: Float32Array; // [L, b, 2, d]
  logOdds: Float32Array; // [b]
}

/** Token ids of each prompt; a prompt that leaves no room in the context for an answer token is an error. */
function encodePrompts(examples: TemplatizedExample[], tok: TextTokenizer, maxLen: number): number[][] {
  return examples.map((ex) => {
    const ids = tok.encode(ex.statement);
    if (ids.length === 0) throw new Error(`example ${ex.id}: the prompt encodes to no tokens`);
    if (ids.length > maxLen) {
      throw new Error(`example ${ex.id}: the prompt is ${ids.length} tokens, but the model's context holds ${maxLen + 1} (prompt + one answer token); use shorter prompts or a model with a longer context`);
    }
    return ids;
  });
}

/** Run one batch: prompt forward (hooks read the last position), then each choice's token on the prompt's cache. */
async function runBatch(model: Transformer, prompts: number[][], choices: [number, number][], examples: TemplatizedExample[]): Promise<BatchStates> {
  const { nLayers: L, dModel: d } = model.cfg;
  const { tokens, mask, B: b, T } = leftPad(prompts);

  /**
   * taps that copy the last position of every row into out[l] (l < L−1: block outputs; l = L−1: after the final
   * norm): read-only, so only those rows leave the device the model runs on
   */
  const capture = (out: Float32Array, stride: number, slot: number, T: number): Taps => {
    const read: Taps["read"] = {};
    const take = (l: number) => (rows: Float32Array) => {
      for (let i = 0; i < b; i++) out.set(rows.subarray(i * d, i * d + d), l * b * stride + i * stride + slot * d);
    };
    for (let l = 0; l < L - 1; l++) read[`blocks.${l}.hook_resid_post`] = take(l);
    read["ln_final.hook_normalized"] = take(L - 1);
    return { rows: Int32Array.from({ length: b }, (_, i) => i * T + T - 1), read };
  };

  const hiddens = new Float32Array(L * b * d);
  const prompt = await model.forward({ tokens, B: b, T, mask }, { taps: capture(hiddens, d, 0, T), logits: "last", returnCache: true });
  const V = model.cfg.vocabSize;
  const logOdds = new Float32Array(b);
  for (let i = 0; i < b; i++) logOdds[i] = prompt.logits[i * V + choices[i][1]] - prompt.logits[i * V + choices[i][0]];

  const pairs = new Float32Array(L * b * 2 * d);
  for (const slot of [0, 1]) {
    const next = Int32Array.from(choices.map((c) => c[slot]));
    await model.forward({ tokens: next, B: b, T: 1, cache: prompt.cache }, { taps: capture(pairs, 2 * d, slot, 1), logits: "none" });
  }
  for (const [name, arr] of [["hiddens", hiddens], ["pair states", pairs], ["log-odds", logOdds]] as const) {
    const per = arr.length / (name === "log-odds" ? b : L * b); // values per example within a layer
    for (let i = 0; i < arr.length; i++) {
      if (!Number.isFinite(arr[i])) throw new Error(`example ${examples[Math.floor(i / per) % b].id}: non-finite ${name} (model weights or inputs are broken)`);
    }
  }
  return { hiddens, pairs, logOdds };
}

const chunkName = (i: number) => `c${String(i).padStart(6, "0")}.safetensors`;

/**
 * Whether finished states in `outDir` can be reused for `wanted`: true to reuse, false to extract (none there, or
 * stale and `force`); throws StaleResultError, naming what changed, for stale states without `force`.
 */
export function reusableStates(outDir: string, wanted: Provenance, info: ExtractOptions["info"], n: number, force = false): boolean {
  if (!isComplete(outDir)) return false;
  const old = JSON.parse(readFileSync(join(outDir, META_FILE), "utf8")) as StatesMeta;
  let context: string[] = [];
  if (old.provenance?.fingerprint !== wanted.fingerprint && !force) {
    context = describeDifferences({ model: old.model, adapter: old.adapter, n: old.n, ...old.settings }, { model: info.model, adapter: info.adapter, n, ...info.settings });
    const was = old.provenance?.inputs ?? {};
    if (was.model !== wanted.inputs.model) context.push(`the model's or adapter's files changed (fingerprint ${was.model} → ${wanted.inputs.model})`);
    else if (context.length === 0) context.push("the dataset's rows changed");
  }
  return reuseCached(join(outDir, META_FILE), old.provenance, wanted, force, context);
}

/**
 * Extract states for `examples` into outDir; "skipped" when a finished extraction from the same inputs is there.
 * One made from other inputs is refused (StaleResultError), or recomputed with `force`.
 */
export async function extractStates(opts: ExtractOptions): Promise<"extracted" | "skipped" | "busy"> {
  const { examples, outDir } = opts;
  if (examples.length === 0) throw new Error(`${outDir}: no examples to extract (the distribution ${opts.info.distribution} of split ${opts.info.split} is empty)`);
  const wanted = statesProvenance(opts.modelFingerprint ?? weightsFingerprint(opts.model), examples);
  const prompts = encodePrompts(examples, opts.tokenizer, opts.model.cfg.maxPositions - 1); // bad prompts fail before anything is written
  mkdirSync(outDir, { recursive: true });
  const lockPath = join(outDir, ".extract.lock");
  const work = async () => {
    if (reusableStates(outDir, wanted, opts.info, examples.length, opts.force)) return "skipped" as const;
    // stale and forced: drop the old marker first, so an interrupted recompute never looks finished
    rmSync(join(outDir, META_FILE), { force: true });
    removeStaleTemps(outDir);
    await extractInto(opts, wanted, prompts);
    return "extracted" as const;
  };
  if (opts.ifBusy === "skip") {
    const lock = tryLock(lockPath);
    if (!lock) return "busy";
    try {
      return await work();
    } finally {
      lock.release();
    }
  }
  return withLock(lockPath, work, (holder) => opts.warn?.(`${outDir}: waiting for ${holder}, which is extracting these states`));
}

async function extractInto(opts: ExtractOptions, wanted: Provenance, prompts: number[][]): Promise<void> {
  const { model, tokenizer, examples, outDir } = opts;
  const { nLayers: L, dModel: d } = model.cfg;
  const batchSize = opts.batchSize ?? DEFAULTS.batchSize;
  const warn = opts.warn ?? ((m: string) => console.warn(m));

  const choices = examples.map((ex) => [encodeChoice(ex.choices[0], tokenizer, warn), encodeChoice(ex.choices[1], tokenizer, warn)] as [number, number]);
  const chunkDir = join(outDir, "chunks");
  // chunks of an interrupted run are reused only for the same inputs and batch size
  const manifest = canonicalJson({ fingerprint: wanted.fingerprint, batchSize, n: examples.length });
  const manifestPath = join(chunkDir, "manifest.json");
  if (existsSync(chunkDir) && (!existsSync(manifestPath) || readFileSync(manifestPath, "utf8") !== manifest)) {
    const old = existsSync(manifestPath) ? (JSON.parse(readFileSync(manifestPath, "utf8")) as { fingerprint: string; batchSize: number }) : undefined;
    const why = old && old.fingerprint === wanted.fingerprint ? `batch size ${old.batchSize}, now ${batchSize}` : "other inputs";
    warn(`${chunkDir}: discarding the chunks of an interrupted extraction (${why})`);
    rmSync(chunkDir, { recursive: true, force: true });
  }
  mkdirSync(chunkDir, { recursive: true });
  if (!existsSync(manifestPath)) writeFileAtomic(manifestPath, manifest);
  const nBatches = Math.ceil(examples.length / batchSize);
  const done = new Set(readdirSync(chunkDir).filter((f) => /^c\d{6}\.safetensors$/.test(f)));

  for (let bi = 0; bi < nBatches; bi++) {
    opts.onProgress?.(bi * batchSize, examples.length);
    if (done.has(chunkName(bi))) continue;
    const lo = bi * batchSize;
    const hi = Math.min(examples.length, lo + batchSize);
    const s = await runBatch(model, prompts.slice(lo, hi), choices.slice(lo, hi), examples.slice(lo, hi));
    const b = hi - lo;
    writeSafetensors(join(chunkDir, chunkName(bi)), new Map([
      ["hiddens", { shape: [L, b, d], data: s.hiddens }],
      ["pair_hiddens", { shape: [L, b, 2, d], data: s.pairs }],
      ["lm_log_odds", { shape: [b], data: s.logOdds }],
    ]));
  }
  opts.onProgress?.(examples.length, examples.length);

  // assemble layer-major tensors from the chunks, one (layer, chunk) slice at a time
  const n = examples.length;
  const chunkFiles = Array.from({ length: nBatches }, (_, i) => join(chunkDir, chunkName(i)));
  const headers = chunkFiles.map((f) => readSafetensorsHeader(f).tensors);
  function* pieces(): Generator<Float32Array> {
    for (const [name, per] of [["hiddens", d], ["pair_hiddens", 2 * d]] as const) {
      for (let l = 0; l < L; l++) {
        for (let c = 0; c < nBatches; c++) {
          const info = headers[c].get(name)!;
          const b = info.shape[1];
          const out = new Float32Array(b * per);
          readF32Range(chunkFiles[c], info, l * b * per, out);
          yield out;
        }
      }
    }
    for (let c = 0; c < nBatches; c++) yield readSafetensors(chunkFiles[c]).get("lm_log_odds")!.data;
  }
  writeSafetensorsStream(join(outDir, STATES_FILE), [
    { name: "hiddens", shape: [L, n, d] },
    { name: "pair_hiddens", shape: [L, n, 2, d] },
    { name: "lm_log_odds", shape: [n] },
  ], pieces(), { format: "pt" });

  const meta: StatesMeta = {
    complete: true,
    provenance: wanted,
    ...opts.info,
    n,
    layers: L,
    d,
    ids: examples.map((e) => e.id),
    labels: examples.map((e) => +e.label),
    alice_labels: examples.map((e) => +e.alice_label),
    bob_labels: examples.map((e) => +e.bob_label),
    characters: examples.map((e) => e.character),
    difficulty: examples.map((e) => e.difficulty),
    difficulty_quantiles: examples.map((e) => e.difficulty_quantile),
    template_indices: examples.map((e) => e.template_index),
    choice_tokens: choices,
  };
  writeFileAtomic(join(outDir, META_FILE), JSON.stringify(meta) + "\n");
  rmSync(chunkDir, { recursive: true, force: true });
}

