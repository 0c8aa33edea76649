/**
 * Extracted states on disk, one folder per (model, dataset, distribution, split):
 *
 *   states.safetensors   hiddens       [L, n, d]     last-prompt-token residual state after each layer
 *                                                    (Hugging Face's hidden_states[1:]; the last after the final norm)
 *                        pair_hiddens  [L, n, 2, d]  state at each answer choice's first token appended to the prompt,
 *                                                    [false choice, true choice]
 *                        lm_log_odds   [n]           logit(true choice) − logit(false choice) at the last prompt token
 *   meta.json            labels, alice_labels, bob_labels, characters, difficulty, ids, template indices, settings
 *
 * Both files are readable from Python (safetensors + json). States imported from another tool (`quirky import`)
 * may lack pair_hiddens (then no pair reporter can run on them) or lm_log_odds (then there is no LM-output line).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readF32Range, readSafetensorsHeader, readTensor, writeSafetensors } from "../model/safetensors.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import type { Character } from "../datasets/schema.ts";
import { hashBytesBase64, hashJson } from "../util/fingerprint.ts";
import { provenance, type Provenance } from "../util/provenance.ts";

export interface StatesMeta {
  complete: true;
  /** what the states were computed from (see extract.ts); later stages key their results on its fingerprint */
  provenance: Provenance;
  model: string;
  adapter: string | null;
  dataset: string;
  distribution: string;
  split: string;
  n: number;
  layers: number;
  d: number;
  ids: string[];
  labels: number[];
  alice_labels: number[];
  bob_labels: number[];
  characters: Character[];
  difficulty: number[];
  /** (rank + 0.5) / n of each row's difficulty over its dataset (absent in states extracted before it was recorded) */
  difficulty_quantiles?: number[];
  template_indices: number[];
  /** token ids used for [false, true] per example */
  choice_tokens: [number, number][];
  settings: Record<string, unknown>;
  /** states brought in by `quirky import`: the files they came from (not part of the fingerprint, which hashes the content) */
  imported?: { from: string[] };
}

export const STATES_FILE = "states.safetensors";
export const META_FILE = "meta.json";

export function isComplete(dir: string): boolean {
  if (!existsSync(join(dir, META_FILE)) || !existsSync(join(dir, STATES_FILE))) return false;
  try {
    return JSON.parse(readFileSync(join(dir, META_FILE), "utf8")).complete === true;
  } catch {
    return false;
  }
}

export function readStatesMeta(dir: string): StatesMeta {
  if (!isComplete(dir)) throw new Error(`${dir}: no finished extraction here (expected ${STATES_FILE} and ${META_FILE}); run 'quirky extract' first`);
  const meta = JSON.parse(readFileSync(join(dir, META_FILE), "utf8")) as StatesMeta;
  if (!meta.provenance?.fingerprint) throw new Error(`${dir}: these states record no provenance (extracted by an older quirky); extract them again (--force)`);
  return meta;
}

export interface Matrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

/** One layer of the states: (n, d) for "hiddens", (n, 2d) = [false-choice state | true-choice state] for "pair". */
export function readLayer(dir: string, kind: "hiddens" | "pair", layer: number): Matrix {
  const meta = readStatesMeta(dir);
  if (!(layer >= 0 && layer < meta.layers)) throw new Error(`${dir}: layer ${layer} outside 0..${meta.layers - 1}`);
  const path = join(dir, STATES_FILE);
  const info = readSafetensorsHeader(path).tensors.get(kind === "hiddens" ? "hiddens" : "pair_hiddens");
  if (!info) throw new Error(`${path}: no '${kind === "hiddens" ? "hiddens" : "pair_hiddens"}' tensor`);
  const cols = kind === "hiddens" ? meta.d : 2 * meta.d;
  const out = new Float32Array(meta.n * cols);
  readF32Range(path, info, layer * meta.n * cols, out);
  return { data: out, rows: meta.n, cols };
}

/** The LM's log-odds (n). */
export function readLmLogOdds(dir: string): Float32Array {
  const lm = readLmLogOddsIfAny(dir);
  if (!lm) throw new Error(`${join(dir, STATES_FILE)}: no 'lm_log_odds' tensor (states imported without the LM's output)`);
  return lm;
}

/** The LM's log-odds (n), or null for imported states that came without them. */
export function readLmLogOddsIfAny(dir: string): Float32Array | null {
  const path = join(dir, STATES_FILE);
  const info = readSafetensorsHeader(path).tensors.get("lm_log_odds");
  return info ? readTensor(path, info) : null;
}

/** What a states folder written from arrays records: a hash of everything it holds (meta, hiddens, pairs, log-odds). */
export function writtenStatesProvenance(meta: Omit<StatesMeta, "complete" | "provenance" | "imported">, hiddens: Float32Array, pairs: Float32Array | null, lmLogOdds: Float32Array | null): Provenance {
  const bytes = (a: Float32Array | null) => (a ? hashBytesBase64(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)) : null);
  // keys kept as they were before pairs and log-odds could be absent, so existing folders keep their fingerprints
  return provenance({ written: { meta: hashJson(meta), hiddens: bytes(hiddens), pairs: bytes(pairs), lmLogOdds: bytes(lmLogOdds) } });
}

/**
 * Write a states folder from arrays in memory (synthetic activations, tests, imports from other tools); its
 * provenance is a hash of what it holds. `imported` (the source files) is recorded beside it, outside the hash.
 */
export function writeStates(
  dir: string,
  meta: Omit<StatesMeta, "complete" | "provenance" | "imported">,
  hiddens: Float32Array,
  pairs: Float32Array | null,
  lmLogOdds: Float32Array | null,
  imported?: StatesMeta["imported"],
  /** writtenStatesProvenance of these arrays, when the caller has computed it already (it hashes every byte) */
  known?: Provenance,
): void {
  const { layers: L, n, d } = meta;
  if (hiddens.length !== L * n * d || (pairs && pairs.length !== L * n * 2 * d) || (lmLogOdds && lmLogOdds.length !== n)) {
    throw new Error(`writeStates: arrays do not match layers ${L} × n ${n} × d ${d}`);
  }
  const tensors = new Map([["hiddens", { shape: [L, n, d], data: hiddens }]]);
  if (pairs) tensors.set("pair_hiddens", { shape: [L, n, 2, d], data: pairs });
  if (lmLogOdds) tensors.set("lm_log_odds", { shape: [n], data: lmLogOdds });
  writeSafetensors(join(dir, STATES_FILE), tensors);
  const written = known ?? writtenStatesProvenance(meta, hiddens, pairs, lmLogOdds);
  writeFileAtomic(join(dir, META_FILE), JSON.stringify({ complete: true, provenance: written, ...meta, ...(imported ? { imported } : {}) }) + "\n");
}
