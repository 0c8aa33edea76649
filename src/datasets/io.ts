/**
 * Quirky datasets on disk: parquet (hyparquet-writer / hyparquet) and JSONL, with the released
 * column names and types. A dataset folder holds `{split}.parquet` (and/or `{split}.jsonl`) plus
 * `meta.json`; the loader also reads a downloaded Hugging Face snapshot (`data/{split}-*.parquet`).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import { ByteWriter, parquetWrite } from "hyparquet-writer";
import { writeChunksAtomic, writeFileAtomic } from "../util/atomic.ts";
import type { PyValue } from "../util/pyrepr.ts";
import { SPLITS, type Character, type QuirkyRow, type QuirkySplits, type Split, type TemplateArgs } from "./schema.ts";

type ParquetType = "INT64" | "DOUBLE" | "STRING" | "BOOLEAN";

function parquetTypeOf(values: unknown[]): ParquetType {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length === 0) return "STRING";
  if (present.every((v) => typeof v === "boolean")) return "BOOLEAN";
  if (present.every((v) => typeof v === "bigint" || (typeof v === "number" && Number.isInteger(v)))) return "INT64";
  if (present.every((v) => typeof v === "number")) return "DOUBLE";
  return "STRING";
}

function leaf(name: string, type: ParquetType) {
  const base = { name, repetition_type: "OPTIONAL" as const };
  if (type === "STRING") return { ...base, type: "BYTE_ARRAY" as const, converted_type: "UTF8" as const };
  return { ...base, type };
}

function toParquetValue(v: unknown, type: ParquetType): unknown {
  if (v === null || v === undefined) return null;
  if (type === "INT64") return BigInt(v as number);
  return v;
}

/**
 * Encode rows as parquet. template_args is a struct whose fields keep the dict's order
 * (character first); integer arguments and integer difficulties are int64, as released.
 */
export function quirkyRowsToParquet(rows: QuirkyRow[]): Uint8Array {
  if (rows.length === 0) throw new Error("cannot write an empty split to parquet");
  const argNames = Object.keys(rows[0].template_args);
  const argTypes = argNames.map((k) => parquetTypeOf(rows.map((r) => r.template_args[k])));
  const difficultyType: ParquetType = rows.every((r) => Number.isInteger(r.difficulty)) ? "INT64" : "DOUBLE";
  const templateArgs = rows.map((r) => {
    const o: Record<string, unknown> = {};
    argNames.forEach((k, j) => (o[k] = toParquetValue(r.template_args[k], argTypes[j])));
    return o;
  });
  const writer = new ByteWriter();
  parquetWrite({
    writer,
    columnData: [
      { name: "id", data: rows.map((r) => r.id) },
      { name: "template_args", data: templateArgs },
      { name: "character", data: rows.map((r) => r.character) },
      { name: "label", data: rows.map((r) => r.label) },
      { name: "alice_label", data: rows.map((r) => r.alice_label) },
      { name: "bob_label", data: rows.map((r) => r.bob_label) },
      { name: "difficulty", data: rows.map((r) => toParquetValue(r.difficulty, difficultyType)) as never },
      { name: "difficulty_quantile", data: rows.map((r) => r.difficulty_quantile) },
    ],
    schema: [
      { name: "root", num_children: 8 },
      leaf("id", "STRING"),
      { name: "template_args", repetition_type: "OPTIONAL", num_children: argNames.length },
      ...argNames.map((k, j) => leaf(k, argTypes[j])),
      leaf("character", "STRING"),
      leaf("label", "BOOLEAN"),
      leaf("alice_label", "BOOLEAN"),
      leaf("bob_label", "BOOLEAN"),
      leaf("difficulty", difficultyType),
      leaf("difficulty_quantile", "DOUBLE"),
    ],
    kvMetadata: [{ key: "writer", value: "quirky" }],
  });
  return new Uint8Array(writer.getBuffer());
}

export function writeQuirkyParquet(path: string, rows: QuirkyRow[]): void {
  writeFileAtomic(path, quirkyRowsToParquet(rows));
}

const REQUIRED_COLUMNS = ["id", "template_args", "character", "label", "alice_label", "bob_label", "difficulty", "difficulty_quantile"];

/** Read a quirky parquet split (ours or a released one); ints become numbers, 0/1 labels booleans. */
export async function readQuirkyParquet(path: string): Promise<QuirkyRow[]> {
  if (!existsSync(path)) throw new Error(`${path}: file not found`);
  const file = await asyncBufferFromFile(path);
  let rows: Record<string, unknown>[];
  try {
    const metadata = await parquetMetadataAsync(file);
    const columns = parquetSchema(metadata).children.map((c) => c.element.name);
    const missing = REQUIRED_COLUMNS.filter((c) => !columns.includes(c));
    if (missing.length) {
      throw new Error(`missing column(s) ${missing.join(", ")}; a quirky dataset has columns ${REQUIRED_COLUMNS.join(", ")}`);
    }
    rows = (await parquetReadObjects({ file, metadata })) as Record<string, unknown>[];
  } catch (err) {
    throw new Error(`${path}: not a quirky dataset parquet file (${(err as Error).message})`);
  }
  return rows.map((r, i) => normalizeRow(r, path, i));
}

function num(v: unknown): number {
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "string") return Number(v); // JSONL's "Infinity" / "NaN"
  return v as number;
}

function number(v: unknown, what: string): number {
  if (v === null || v === undefined || v === "") throw new Error(`${what} is missing`);
  const x = num(v);
  if (typeof x !== "number" || Number.isNaN(x) && v !== "NaN") throw new Error(`${what} is ${JSON.stringify(v)}, not a number`);
  return x;
}

/** A difficulty quantile in [0, 1]; a missing one would silently count the row as both easy and hard. */
function quantile(v: unknown, what: string): number {
  const q = number(v, what);
  if (!(q >= 0 && q <= 1)) throw new Error(`${what} is ${q}, outside [0, 1]`);
  return q;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v === "boolean") return v;
  if (v === 0 || v === 1 || v === 0n || v === 1n) return Number(v) === 1;
  throw new Error(`${what} is ${String(v)}, not a boolean`);
}

function normalizeRow(r: Record<string, unknown>, path: string, i: number): QuirkyRow {
  const where = `${path}: row ${i}`;
  const rawArgs = r.template_args as Record<string, unknown> | null;
  if (!rawArgs || typeof rawArgs !== "object") throw new Error(`${where}: template_args is not an object`);
  const args: Record<string, PyValue> = {};
  for (const [k, v] of Object.entries(rawArgs)) args[k] = typeof v === "bigint" ? Number(v) : (v as PyValue);
  const character = r.character as Character;
  if (character !== "Alice" && character !== "Bob") throw new Error(`${where}: character is ${String(character)}`);
  return {
    id: String(r.id),
    template_args: args as TemplateArgs,
    character,
    label: bool(r.label, `${where}: label`),
    alice_label: bool(r.alice_label, `${where}: alice_label`),
    bob_label: bool(r.bob_label, `${where}: bob_label`),
    difficulty: number(r.difficulty, `${where}: difficulty`),
    difficulty_quantile: quantile(r.difficulty_quantile, `${where}: difficulty_quantile`),
  };
}

/** JSON.stringify that keeps ±Infinity and NaN (as strings) instead of turning them into null. */
function jsonLine(row: QuirkyRow): string {
  return JSON.stringify(row, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v)) + "\n";
}

export function writeQuirkyJsonl(path: string, rows: QuirkyRow[]): void {
  writeChunksAtomic(path, (function* () {
    for (const r of rows) yield jsonLine(r);
  })());
}

export function readQuirkyJsonl(path: string): QuirkyRow[] {
  if (!existsSync(path)) throw new Error(`${path}: file not found`);
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l, i) => {
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(l);
      } catch {
        throw new Error(`${path}: line ${i + 1} is not valid JSON`);
      }
      return normalizeRow(r, path, i);
    });
}

export type OutputFormat = "parquet" | "jsonl" | "both";

/** Write the three splits into `dir` (each file atomically). */
export function writeQuirkySplits(dir: string, splits: QuirkySplits, format: OutputFormat): string[] {
  const written: string[] = [];
  for (const split of SPLITS) {
    if (splits[split].length === 0) continue;
    if (format !== "jsonl") {
      writeQuirkyParquet(join(dir, `${split}.parquet`), splits[split]);
      written.push(join(dir, `${split}.parquet`));
    }
    if (format !== "parquet") {
      writeQuirkyJsonl(join(dir, `${split}.jsonl`), splits[split]);
      written.push(join(dir, `${split}.jsonl`));
    }
  }
  return written;
}

/** The files holding `split` in a dataset folder: ours ({split}.parquet/.jsonl) or a HF snapshot's shards. */
export function findSplitFiles(dir: string, split: Split): string[] {
  for (const name of [`${split}.parquet`, `${split}.jsonl`]) if (existsSync(join(dir, name))) return [join(dir, name)];
  for (const sub of [join(dir, "data"), dir]) {
    if (!existsSync(sub)) continue;
    const shards = readdirSync(sub)
      .filter((f) => f.startsWith(`${split}-`) && f.endsWith(".parquet"))
      .sort();
    if (shards.length > 0) return shards.map((f) => join(sub, f));
  }
  return [];
}

export async function readQuirkySplit(dir: string, split: Split): Promise<QuirkyRow[]> {
  const files = findSplitFiles(dir, split);
  if (files.length === 0) {
    throw new Error(
      `${dir}: no '${split}' split (looked for ${split}.parquet, ${split}.jsonl and data/${split}-*.parquet); ` +
        `create one with 'quirky datasets create' or download EleutherAI/quirky_<name>_raw into this folder`,
    );
  }
  let rows: QuirkyRow[] = [];
  for (const file of files) rows = rows.concat(file.endsWith(".jsonl") ? readQuirkyJsonl(file) : await readQuirkyParquet(file));
  return rows;
}
