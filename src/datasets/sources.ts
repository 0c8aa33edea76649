/**
 * Reading user-supplied source files (CSV, parquet, JSON) with errors that name the file, the
 * expected format and where to get it.
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { parse } from "csv-parse/sync";
import type { DatasetName } from "./schema.ts";
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";

export interface SourceSpec {
  /** what the file is, e.g. "SNLI parquet" */
  what: string;
  /** columns every row must have */
  columns: string[];
  /** where a user gets it */
  where: string;
}

/** Where each sourced dataset's file comes from, for errors and --help. */
export const SOURCE_SPECS = {
  authors: {
  what: "the goodreads books CSV",
  columns: ["title", "authors", "ratings_count"],
  where: "Kaggle 'jealousleopard/goodreadsbooks' (cleaned version: github alexdavis24/GoodreadsBooksKaggle), as books.csv",
  },
  sentiment: {
  what: "amazon_polarity parquet file(s) (train then test)",
  columns: ["label", "title", "content"],
  where: "the Hugging Face dataset 'amazon_polarity' (files amazon_polarity/train-*.parquet, test-*.parquet)",
  },
  nli: {
  what: "SNLI parquet file(s) (train, validation, test)",
  columns: ["premise", "hypothesis", "label"],
  where: "the Hugging Face dataset 'snli' (files plain_text/train-*.parquet, validation-*.parquet, test-*.parquet)",
  },
  sciq: {
  what: "SciQ parquet file(s) (train, validation, test)",
  columns: ["question", "distractor1", "distractor2", "distractor3", "correct_answer", "support"],
  where: "the Hugging Face dataset 'allenai/sciq' (files data/train-*.parquet, validation-*.parquet, test-*.parquet)",
  },
} satisfies Partial<Record<DatasetName, SourceSpec>>;

export class SourceError extends Error {
  constructor(path: string, problem: string, spec: SourceSpec) {
    super(`${path}: ${problem}. Expected ${spec.what} with columns ${spec.columns.join(", ")}; get it from ${spec.where}`);
    this.name = "SourceError";
  }
}

/** Expand a path list: comma-separated paths; folders give their *.parquet / *.csv files, sorted. */
export function expandPaths(paths: string | string[], ext: string, spec: SourceSpec): string[] {
  const list = (Array.isArray(paths) ? paths : paths.split(",")).map((p) => p.trim()).filter(Boolean);
  if (list.length === 0) throw new SourceError("(no path)", "no source file given (--source)", spec);
  const out: string[] = [];
  for (const p of list) {
    if (!existsSync(p)) throw new SourceError(p, "file not found", spec);
    if (statSync(p).isDirectory()) {
      const files = listFilesRecursive(p).filter((f) => f.endsWith(ext)).sort(bySplit);
      if (files.length === 0) throw new SourceError(p, `folder holds no ${ext} files`, spec);
      out.push(...files);
    } else out.push(p);
  }
  return out;
}

/** Hugging Face split files in the reference's concatenation order: train, validation, test, then the rest. */
function bySplit(a: string, b: string): number {
  const rank = (f: string) => {
    const name = basename(f);
    const i = ["train", "validation", "test"].findIndex((s) => name.startsWith(s));
    return i < 0 ? 3 : i;
  };
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

function listFilesRecursive(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFilesRecursive(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/** Rows of a CSV file with a header line; every value a string ("" when empty). */
export function readCsv(path: string, spec: SourceSpec): Record<string, string>[] {
  if (!existsSync(path)) throw new SourceError(path, "file not found", spec);
  let rows: Record<string, string>[];
  try {
    rows = parse(readFileSync(path), { columns: true, skip_empty_lines: true, bom: true, relax_quotes: true });
  } catch (err) {
    throw new SourceError(path, `not a readable CSV file (${(err as Error).message})`, spec);
  }
  checkColumns(path, rows.length > 0 ? Object.keys(rows[0]) : [], spec);
  return rows;
}

/** Rows of one or more parquet files (concatenated in the order given). */
export async function readParquetRows(paths: string[], spec: SourceSpec): Promise<Record<string, unknown>[]> {
  let out: Record<string, unknown>[] = [];
  for (const path of paths) {
    if (!existsSync(path)) throw new SourceError(path, "file not found", spec);
    let rows: Record<string, unknown>[];
    try {
      const file = await asyncBufferFromFile(path);
      const metadata = await parquetMetadataAsync(file);
      checkColumns(path, parquetSchema(metadata).children.map((c) => c.element.name), spec);
      rows = (await parquetReadObjects({ file, metadata })) as Record<string, unknown>[];
    } catch (err) {
      if (err instanceof SourceError) throw err;
      throw new SourceError(path, `not a readable parquet file (${(err as Error).message})`, spec);
    }
    out = out.concat(rows);
  }
  return out;
}

function checkColumns(path: string, have: string[], spec: SourceSpec): void {
  const missing = spec.columns.filter((c) => !have.includes(c));
  if (missing.length > 0) {
    throw new SourceError(path, `missing column${missing.length > 1 ? "s" : ""} ${missing.join(", ")} (found: ${have.join(", ") || "none"})`, spec);
  }
}

/** A string field of a source row, with a clear error when it is not a string. */
export function stringField(row: Record<string, unknown>, key: string, path: string, i: number, spec: SourceSpec): string {
  const v = row[key];
  if (typeof v !== "string") throw new SourceError(path, `row ${i}: column '${key}' is ${v === null ? "null" : typeof v}, not a string`, spec);
  return v;
}

/** An integer label field (int or bigint or bool in parquet). */
export function intField(row: Record<string, unknown>, key: string, path: string, i: number, spec: SourceSpec): number {
  const v = row[key];
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "number" && Number.isInteger(v)) return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  throw new SourceError(path, `row ${i}: column '${key}' is ${JSON.stringify(v)}, not an integer`, spec);
}
