/**
 * Activations made by other tools (TransformerLens, nnsight, EleutherAI/elk, a PyTorch loop) brought in as quirky
 * states, so the grid, transfers, anomaly detection, tables and report run on them as on extracted ones.
 *
 * Source: a folder with one entry per split the grid needs (validation: probes are fitted there; test: evaluated),
 *
 *   SRC/validation/<field>.npy   or   SRC/validation.safetensors (tensors named by field; ids in __metadata__.ids)
 *   SRC/test/<field>.npy         or   SRC/test.safetensors
 *
 *   hiddens              [L, n, d] (or [n, L, d] with layerAxis 1)  last-token residual state per layer
 *   pair_hiddens         [L, n, 2, d] (or [n, L, 2, d])              [false choice, true choice]; for pair reporters
 *   lm_log_odds          [n]        the LM's logit(true) − logit(false); optional (no LM-output line without it)
 *   labels, alice_labels, bob_labels   [n] 0/1 (bool, integer or float)
 *   character            [n] "Alice"/"Bob" strings, or 0 (Alice) / 1 (Bob)
 *   difficulty           [n] higher = harder;  difficulty_quantile [n] in [0, 1], optional
 *   ids                  [n] strings, optional
 *
 * f16, bf16 (safetensors), f32 and f64 states are accepted and stored as f32. With a quirky dataset folder, the
 * labels, characters and difficulties come from its rows, matched by id (ids needed) or by order (n must equal the
 * split's rows); arrays given as well must agree with them. Without one, every label field and difficulty is
 * needed, and the difficulty quantile is (rank + 0.5) / n over all imported rows (ties in order), as the datasets
 * compute it over a generated set.
 *
 * Then the rows of each split are filtered into the distributions the grid needs (A, B, AE, AH, BE, BH, and all),
 * each written as a states folder whose provenance is a hash of its content. Everything is read and checked first:
 * a bad input is one error naming the file and the field, and nothing is written.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { readQuirkySplit } from "../datasets/io.ts";
import type { Character, QuirkyRow } from "../datasets/schema.ts";
import { distributionFilter } from "../datasets/templatize.ts";
import { readSafetensorsHeader, readTensor, readTensorNumbers } from "../model/safetensors.ts";
import { neededExtractions, standardGrid } from "../analysis/grid.ts";
import { REPORTERS, REPORTER_NAMES, type ReporterName } from "../probes/reporter.ts";
import { readNpy } from "../util/npy.ts";
import { LOG_ODDS_DIR } from "./export.ts";
import { reuseCached } from "../util/provenance.ts";
import { META_FILE, isComplete, writeStates, writtenStatesProvenance, type StatesMeta } from "./states.ts";

export const IMPORT_SPLITS = ["validation", "test"] as const;
type ImportSplit = (typeof IMPORT_SPLITS)[number];

export const IMPORT_FIELDS = ["hiddens", "pair_hiddens", "lm_log_odds", "labels", "alice_labels", "bob_labels", "character", "difficulty", "difficulty_quantile", "ids"] as const;
type Field = (typeof IMPORT_FIELDS)[number];

export interface ImportOptions {
  /** folder holding validation/ and test/ (.npy files) or validation.safetensors and test.safetensors */
  from: string;
  /** results folder of this (model, dataset); states go to ROOT/<distribution>/<split> */
  root: string;
  /** names recorded with the states (the report shows them) */
  model: string;
  adapter?: string | null;
  dataset: string;
  /** hiddens are [L, n, d] (0, default) or [n, L, d] (1); pair_hiddens likewise */
  layerAxis?: 0 | 1;
  /** a quirky dataset folder to take labels, characters and difficulties from */
  datasetDir?: string;
  match?: "id" | "order";
  /** the reporters the grid will run: pair reporters need pair_hiddens (default: all eight) */
  reporters?: readonly ReporterName[];
  /** replace states imported or extracted there from other data */
  force?: boolean;
}

export class ImportError extends Error {}

/** One field as read from a file: numbers (f64 for small fields; f32 for states) or strings, with its shape. */
interface Loaded {
  file: string;
  shape: number[];
  numbers?: ArrayLike<number>;
  strings?: string[];
  /** the stored dtype, for messages */
  dtype: string;
}

const fail = (file: string, field: string, problem: string): never => {
  throw new ImportError(`${file}: ${field}: ${problem}`);
};

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The fields of one split as files, from a folder of .npy files or one safetensors file. */
function readSplitSource(from: string, split: ImportSplit): { source: string[]; fields: Map<Field, Loaded> } {
  const dir = join(from, split);
  const st = join(from, `${split}.safetensors`);
  const hasDir = isDir(dir);
  const hasSt = existsSync(st);
  if (hasDir && hasSt) throw new ImportError(`${from}: both ${split}/ and ${split}.safetensors are there; keep one`);
  if (!hasDir && !hasSt) {
    throw new ImportError(`${from}: no ${split} split (expected ${join(from, split, "hiddens.npy")} … or ${st}); the grid fits probes on validation and tests them on test`);
  }
  const fields = new Map<Field, Loaded>();
  const known = (name: string, file: string): Field => {
    if (!(IMPORT_FIELDS as readonly string[]).includes(name)) throw new ImportError(`${file}: unknown field '${name}' (expected one of ${IMPORT_FIELDS.join(", ")})`);
    return name as Field;
  };
  if (hasDir) {
    // quirky export puts a states folder's transfer log-odds in log_odds/ beside its fields
    const files = readdirSync(dir).filter((f) => !f.startsWith(".") && !(f === LOG_ODDS_DIR && isDir(join(dir, f)))).sort();
    for (const f of files) {
      const file = join(dir, f);
      if (!f.endsWith(".npy")) throw new ImportError(`${file}: not a .npy file (a split folder holds only <field>.npy files)`);
      const field = known(f.slice(0, -4), file);
      const a = readNpy(file);
      fields.set(field, a.kind === "string" ? { file, shape: a.shape, strings: a.data, dtype: a.dtype } : { file, shape: a.shape, numbers: a.data, dtype: a.dtype });
    }
    return { source: files.map((f) => join(dir, f)), fields };
  }
  const { tensors, metadata } = readSafetensorsHeader(st);
  for (const info of tensors.values()) {
    const field = known(info.name, `${st} (tensor '${info.name}')`);
    if (field === "ids") throw new ImportError(`${st}: ids: strings cannot be a tensor; put them in __metadata__ as "ids": a JSON list`);
    const states = field === "hiddens" || field === "pair_hiddens";
    fields.set(field, { file: st, shape: info.shape, numbers: states ? readTensor(st, info) : readTensorNumbers(st, info), dtype: info.dtype });
  }
  if (metadata.ids !== undefined) {
    let ids: unknown;
    try {
      ids = JSON.parse(metadata.ids);
    } catch {
      ids = undefined;
    }
    if (!Array.isArray(ids) || !ids.every((x) => typeof x === "string")) fail(st, "ids", "__metadata__.ids must be a JSON list of strings");
    fields.set("ids", { file: st, shape: [(ids as string[]).length], strings: ids as string[], dtype: "str" });
  }
  return { source: [st], fields };
}

/** The rows of one split, every field checked, states as f32 [L, n, d] and [L, n, 2, d]. */
interface SplitData {
  split: ImportSplit;
  source: string[];
  n: number;
  L: number;
  d: number;
  hiddens: Float32Array;
  pairs: Float32Array | null;
  lmLogOdds: Float32Array | null;
  ids: string[];
  characters: Character[];
  labels: number[];
  alice: number[];
  bob: number[];
  difficulty: number[];
  quantile: number[] | null;
}

/** States as f32, finite, in [L, n, ...] order. */
function statesOf(f: Loaded, field: string, rank: number, layerAxis: 0 | 1): { L: number; n: number; d: number; data: Float32Array } {
  if (!f.numbers) return fail(f.file, field, `holds strings (${f.dtype}); expected floats`);
  if (!/^(f2|f4|f8|F16|BF16|F32|F64)$/.test(f.dtype)) fail(f.file, field, `dtype ${f.dtype}; expected a float array (f16, bf16, f32 or f64)`);
  const want = rank === 3 ? (layerAxis === 0 ? "[L, n, d]" : "[n, L, d]") : layerAxis === 0 ? "[L, n, 2, d]" : "[n, L, 2, d]";
  if (f.shape.length !== rank) fail(f.file, field, `shape (${f.shape.join(", ")}) has rank ${f.shape.length}; expected ${want}`);
  if (rank === 4 && f.shape[2] !== 2) fail(f.file, field, `shape (${f.shape.join(", ")}): axis 2 must be 2 (false choice, true choice); expected ${want}`);
  const [a, b] = f.shape;
  const [L, n] = layerAxis === 0 ? [a, b] : [b, a];
  const d = f.shape[rank - 1];
  const row = rank === 3 ? d : 2 * d;
  const src = f.numbers;
  const out = new Float32Array(L * n * row);
  for (let l = 0; l < L; l++) {
    for (let i = 0; i < n; i++) {
      const from = layerAxis === 0 ? (l * n + i) * row : (i * L + l) * row;
      const to = (l * n + i) * row;
      for (let k = 0; k < row; k++) {
        const v = src[from + k];
        const w = Math.fround(v);
        if (!Number.isFinite(w)) {
          fail(f.file, field, `${Number.isFinite(v) ? `value ${v} overflows float32` : `non-finite value ${v}`} at layer ${l}, row ${i}`);
        }
        out[to + k] = w;
      }
    }
  }
  return { L, n, d, data: out };
}

/** A per-row field: shape [n], numbers. */
function vectorOf(f: Loaded, field: string, n: number): ArrayLike<number> {
  if (f.shape.length !== 1) fail(f.file, field, `shape (${f.shape.join(", ")}); expected [n] = (${n},)`);
  if (f.shape[0] !== n) fail(f.file, field, `${f.shape[0]} rows, but hiddens has ${n}`);
  if (!f.numbers) return fail(f.file, field, `holds strings (${f.dtype}); expected numbers`);
  return f.numbers;
}

function binaryOf(f: Loaded, field: string, n: number): number[] {
  const v = vectorOf(f, field, n);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (v[i] !== 0 && v[i] !== 1) fail(f.file, field, `value ${v[i]} at row ${i}; labels must be 0 or 1`);
    out.push(v[i]);
  }
  return out;
}

function finiteOf(f: Loaded, field: string, n: number): number[] {
  const v = vectorOf(f, field, n);
  const out = Array.from(v);
  const bad = out.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) fail(f.file, field, `non-finite value ${out[bad]} at row ${bad}`);
  return out;
}

function charactersOf(f: Loaded, n: number): Character[] {
  if (f.shape.length !== 1 || f.shape[0] !== n) fail(f.file, "character", `shape (${f.shape.join(", ")}); expected (${n},)`);
  const out: Character[] = [];
  for (let i = 0; i < n; i++) {
    const v = f.strings ? f.strings[i] : f.numbers![i];
    const c = v === "Alice" || v === 0 ? "Alice" : v === "Bob" || v === 1 ? "Bob" : undefined;
    if (!c) fail(f.file, "character", `value ${JSON.stringify(v)} at row ${i}; expected "Alice"/"Bob" or 0 (Alice) / 1 (Bob)`);
    out.push(c!);
  }
  return out;
}

function idsOf(f: Loaded, n: number): string[] {
  if (!f.strings) return fail(f.file, "ids", `dtype ${f.dtype}; expected strings`);
  if (f.shape.length !== 1 || f.shape[0] !== n) fail(f.file, "ids", `shape (${f.shape.join(", ")}); expected (${n},)`);
  const seen = new Map<string, number>();
  f.strings.forEach((id, i) => {
    if (seen.has(id)) fail(f.file, "ids", `'${id}' at rows ${seen.get(id)} and ${i}; ids must be unique`);
    seen.set(id, i);
  });
  return f.strings;
}

/** Check one split's fields and, with a dataset, take its rows' labels, characters and difficulties. */
function checkSplit(split: ImportSplit, src: { source: string[]; fields: Map<Field, Loaded> }, opts: ImportOptions, rows: QuirkyRow[] | null): SplitData {
  const where = src.source.length === 1 ? src.source[0] : join(opts.from, split);
  const get = (field: Field) => src.fields.get(field);
  const h = get("hiddens");
  if (!h) throw new ImportError(`${where}: hiddens: missing (every split needs its last-token states, [L, n, d])`);
  const layerAxis = opts.layerAxis ?? 0;
  const hid = statesOf(h, "hiddens", 3, layerAxis);
  const { L, n, d } = hid;
  if (n === 0) fail(h.file, "hiddens", "no rows");
  let pairs: Float32Array | null = null;
  const p = get("pair_hiddens");
  if (p) {
    const ps = statesOf(p, "pair_hiddens", 4, layerAxis);
    if (ps.L !== L || ps.n !== n || ps.d !== d) fail(p.file, "pair_hiddens", `shape (${p.shape.join(", ")}) does not match hiddens' ${L} layers × ${n} rows × width ${d}`);
    pairs = ps.data;
  }
  const lm = get("lm_log_odds");
  const lmLogOdds = lm ? Float32Array.from(finiteOf(lm, "lm_log_odds", n)) : null;
  const idsField = get("ids");
  let ids = idsField ? idsOf(idsField, n) : null;

  let characters = get("character") ? charactersOf(get("character")!, n) : null;
  let alice = get("alice_labels") ? binaryOf(get("alice_labels")!, "alice_labels", n) : null;
  let bob = get("bob_labels") ? binaryOf(get("bob_labels")!, "bob_labels", n) : null;
  let labels = get("labels") ? binaryOf(get("labels")!, "labels", n) : null;
  let difficulty = get("difficulty") ? finiteOf(get("difficulty")!, "difficulty", n) : null;
  let quantile = get("difficulty_quantile") ? finiteOf(get("difficulty_quantile")!, "difficulty_quantile", n) : null;
  if (quantile) {
    const bad = quantile.findIndex((q) => q < 0 || q > 1);
    if (bad >= 0) fail(get("difficulty_quantile")!.file, "difficulty_quantile", `value ${quantile[bad]} at row ${bad}; quantiles lie in [0, 1]`);
  }

  if (rows) {
    // the dataset's rows, in the order of the arrays
    const dsDir = opts.datasetDir!;
    let matched: QuirkyRow[];
    if ((opts.match ?? (ids ? "id" : "order")) === "id") {
      if (!ids) throw new ImportError(`${where}: ids: missing; matching rows to ${dsDir} by id needs ids.npy (or match by order)`);
      const byId = new Map(rows.map((r) => [r.id, r]));
      matched = ids.map((id, i) => byId.get(id) ?? fail(idsField!.file, "ids", `'${id}' at row ${i} is not in ${dsDir}'s ${split} split`));
    } else {
      if (rows.length !== n) throw new ImportError(`${where}: hiddens: ${n} rows, but ${dsDir}'s ${split} split has ${rows.length}; matching by order needs the same rows in the same order`);
      matched = rows;
      if (ids) ids.forEach((id, i) => id !== rows[i].id && fail(idsField!.file, "ids", `'${id}' at row ${i}, but row ${i} of ${dsDir}'s ${split} split is '${rows[i].id}'`));
    }
    const agree = (field: Field, given: ArrayLike<number | string> | null, fromRows: (r: QuirkyRow) => number | string) => {
      if (!given) return;
      for (let i = 0; i < n; i++) {
        const want = fromRows(matched[i]);
        if (given[i] !== want) fail(get(field)!.file, field, `row ${i} is ${JSON.stringify(given[i])}, but ${dsDir}'s row ${matched[i].id} says ${JSON.stringify(want)}`);
      }
    };
    agree("character", characters, (r) => r.character);
    agree("alice_labels", alice, (r) => +r.alice_label);
    agree("bob_labels", bob, (r) => +r.bob_label);
    agree("labels", labels, (r) => +r.label);
    ids = matched.map((r) => r.id);
    characters = matched.map((r) => r.character);
    alice = matched.map((r) => +r.alice_label);
    bob = matched.map((r) => +r.bob_label);
    labels = matched.map((r) => +r.label);
    difficulty = matched.map((r) => r.difficulty);
    quantile = matched.map((r) => r.difficulty_quantile);
  }
  const need = (field: Field) => new ImportError(`${where}: ${field}: missing (needed without a dataset to take it from; or pass the quirky dataset folder)`);
  if (!characters) throw need("character");
  if (!alice) throw need("alice_labels");
  if (!bob) throw need("bob_labels");
  if (!difficulty) throw need("difficulty");
  const chars = characters;
  const derived = chars.map((c, i) => (c === "Alice" ? alice![i] : bob![i]));
  if (labels) {
    const bad = labels.findIndex((y, i) => y !== derived[i]);
    if (bad >= 0) fail(get("labels")!.file, "labels", `row ${bad} is ${labels[bad]}, but its character ${chars[bad]}'s label (${chars[bad] === "Alice" ? "alice_labels" : "bob_labels"}) is ${derived[bad]}`);
  }
  return {
    split, source: src.source, n, L, d, hiddens: hid.data, pairs, lmLogOdds,
    ids: ids ?? Array.from({ length: n }, (_, i) => `${split}-${i}`),
    characters: chars, labels: derived, alice, bob, difficulty, quantile,
  };
}

/** (rank + 0.5) / n by difficulty over every imported row, ties in order. */
function quantilesOver(splits: SplitData[]): void {
  const all = splits.flatMap((s) => s.difficulty.map((v, i) => ({ v, s, i })));
  all.sort((a, b) => a.v - b.v); // stable: ties keep row order
  for (const s of splits) s.quantile = new Array(s.n);
  all.forEach((x, rank) => (x.s.quantile![x.i] = (rank + 0.5) / all.length));
}

export interface ImportResult {
  /** states folders written (or left as they were: same content) */
  written: string[];
  unchanged: string[];
  /** rows per split */
  rows: Record<ImportSplit, number>;
  layers: number;
  d: number;
  pairs: boolean;
  lmLogOdds: boolean;
}

/** Read, check and write: see the module comment. Throws ImportError (one line) and writes nothing on bad input. */
export async function importStates(opts: ImportOptions): Promise<ImportResult> {
  if (!isDir(opts.from)) throw new ImportError(`${opts.from}: no such folder (expected a folder holding validation/ and test/ with .npy files, or validation.safetensors and test.safetensors)`);
  const reporters = opts.reporters ?? REPORTER_NAMES;
  const splits: SplitData[] = [];
  for (const split of IMPORT_SPLITS) {
    const rows = opts.datasetDir ? await readQuirkySplit(opts.datasetDir, split) : null;
    splits.push(checkSplit(split, readSplitSource(opts.from, split), opts, rows));
  }
  const [v, t] = splits;
  if (v.L !== t.L || v.d !== t.d) throw new ImportError(`${t.source[0]}: hiddens: ${t.L} layers × width ${t.d}, but validation's are ${v.L} × ${v.d}; both splits must come from the same model`);
  const pairReporters = reporters.filter((r) => REPORTERS[r].pairs);
  for (const s of splits) {
    if (pairReporters.length && !s.pairs) {
      throw new ImportError(`${join(opts.from, s.split)}: pair_hiddens: missing, but ${pairReporters.join(", ")} read contrast pairs ([L, n, 2, d]); add them, or choose reporters without pairs (e.g. lr,mean-diff,lda,random)`);
    }
    if (!!s.lmLogOdds !== !!v.lmLogOdds) throw new ImportError(`${join(opts.from, s.split)}: lm_log_odds: given for one split only; give it for both or neither`);
  }
  const quantileSource = opts.datasetDir ? "dataset" : splits.every((s) => s.quantile) ? "given" : "computed over the imported rows";
  if (splits.some((s) => !s.quantile)) {
    if (splits.some((s) => s.quantile)) throw new ImportError(`${join(opts.from, splits.find((s) => !s.quantile)!.split)}: difficulty_quantile: given for one split only; give it for both or neither`);
    quantilesOver(splits);
  }

  // every distribution the grid needs, and `all` of both splits (the whole split, as imported: what export gives back)
  const wanted = neededExtractions(standardGrid(reporters));
  for (const split of IMPORT_SPLITS) if (!wanted.some((w) => w.distribution === "all" && w.split === split)) wanted.push({ distribution: "all", split });
  const plans = wanted.map(({ distribution, split }) => {
    const s = splits.find((x) => x.split === split)!;
    const f = distributionFilter(distribution);
    const keep = s.characters.flatMap((c, i) => ((f.character === undefined || c === f.character) && s.quantile![i] >= f.minQuantile && s.quantile![i] <= f.maxQuantile ? [i] : []));
    if (keep.length === 0) throw new ImportError(`${join(opts.from, split)}: no rows in distribution ${distribution} (${f.character ?? "either character"}, difficulty quantile ${f.minQuantile}–${f.maxQuantile}), which the grid needs`);
    return { distribution, split, s, keep, dir: join(opts.root, distribution, split) };
  });

  const result: ImportResult = { written: [], unchanged: [], rows: { validation: v.n, test: t.n }, layers: v.L, d: v.d, pairs: !!v.pairs, lmLogOdds: !!v.lmLogOdds };
  const staged = plans.map((p) => {
    const { s, keep } = p;
    const { L, d } = s;
    const pick = <T>(a: ArrayLike<T>) => keep.map((i) => a[i]);
    const gather = (src: Float32Array, row: number) => {
      const out = new Float32Array(L * keep.length * row);
      for (let l = 0; l < L; l++) keep.forEach((i, j) => out.set(src.subarray((l * s.n + i) * row, (l * s.n + i + 1) * row), (l * keep.length + j) * row));
      return out;
    };
    const meta: Omit<StatesMeta, "complete" | "provenance" | "imported"> = {
      model: opts.model, adapter: opts.adapter ?? null, dataset: opts.dataset, distribution: p.distribution, split: p.split,
      n: keep.length, layers: L, d,
      ids: pick(s.ids), labels: pick(s.labels), alice_labels: pick(s.alice), bob_labels: pick(s.bob), characters: pick(s.characters),
      difficulty: pick(s.difficulty), difficulty_quantiles: pick(s.quantile!), template_indices: keep.map(() => 0), choice_tokens: keep.map(() => [-1, -1] as [number, number]),
      settings: { imported: true, layerAxis: opts.layerAxis ?? 0, difficultyQuantile: quantileSource },
    };
    const hiddens = gather(s.hiddens, d);
    const pairs = s.pairs ? gather(s.pairs, 2 * d) : null;
    const lm = s.lmLogOdds ? Float32Array.from(pick(s.lmLogOdds)) : null;
    return { dir: p.dir, meta, hiddens, pairs, lm, source: s.source.map((f) => resolve(f)) };
  });
  // refuse before writing anything: states there that were made from other data
  const wantedProvenance = staged.map((x) => writtenStatesProvenance(x.meta, x.hiddens, x.pairs, x.lm));
  const fresh = staged.map((x, i) => {
    // null: nothing finished there; undefined: states that record no provenance
    const found = isComplete(x.dir) ? (JSON.parse(readFileSync(join(x.dir, META_FILE), "utf8")) as Partial<StatesMeta>).provenance : null;
    return reuseCached(x.dir, found, wantedProvenance[i], opts.force);
  });
  staged.forEach((x, i) => {
    if (fresh[i]) return void result.unchanged.push(x.dir);
    writeStates(x.dir, x.meta, x.hiddens, x.pairs, x.lm, { from: x.source }, wantedProvenance[i]);
    result.written.push(x.dir);
  });
  return result;
}
