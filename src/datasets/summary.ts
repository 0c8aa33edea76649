/** What `quirky datasets show` prints: counts, the Alice × Bob label crosstab, difficulty histogram. */
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { findSplitFiles, readQuirkySplit } from "./io.ts";
import { SPLITS, type QuirkyRow, type Split } from "./schema.ts";

export interface SplitSummary {
  rows: number;
  alice: number;
  bob: number;
  /** share of rows whose `label` is true */
  labelTrue: number;
  /** counts over Alice rows (one per base example): [alice_label][bob_label] as TT, TF, FT, FF */
  crosstab: { TT: number; TF: number; FT: number; FF: number };
  difficulty: { min: number; max: number; nonFinite: number; histogram: { from: number; to: number; count: number }[] };
}

export function summarizeRows(rows: QuirkyRow[], bins = 10): SplitSummary {
  const alice = rows.filter((r) => r.character === "Alice");
  const key = (r: QuirkyRow) => `${r.alice_label ? "T" : "F"}${r.bob_label ? "T" : "F"}` as "TT" | "TF" | "FT" | "FF";
  const crosstab = { TT: 0, TF: 0, FT: 0, FF: 0 };
  for (const r of alice) crosstab[key(r)]++;
  const finite = rows.map((r) => r.difficulty).filter(Number.isFinite);
  const min = finite.reduce((a, b) => Math.min(a, b), Infinity);
  const max = finite.reduce((a, b) => Math.max(a, b), -Infinity);
  const width = (max - min) / bins || 1;
  const histogram = Array.from({ length: bins }, (_, i) => ({ from: min + i * width, to: min + (i + 1) * width, count: 0 }));
  for (const d of finite) histogram[Math.min(bins - 1, Math.floor((d - min) / width))].count++;
  return {
    rows: rows.length,
    alice: alice.length,
    bob: rows.length - alice.length,
    labelTrue: rows.length ? rows.filter((r) => r.label).length / rows.length : 0,
    crosstab,
    difficulty: { min, max, nonFinite: rows.length - finite.length, histogram },
  };
}

/** Dataset folders under `dir` (itself, or its children). */
export function datasetFolders(dir: string): string[] {
  if (!existsSync(dir)) throw new Error(`${dir}: no such folder`);
  if (SPLITS.some((s) => findSplitFiles(dir, s).length > 0)) return [dir];
  const children = readdirSync(dir)
    .map((f) => join(dir, f))
    .filter((p) => statSync(p).isDirectory() && SPLITS.some((s) => findSplitFiles(p, s).length > 0))
    .sort();
  if (children.length === 0) throw new Error(`${dir}: holds no quirky dataset (no train/validation/test files)`);
  return children;
}

export async function summarizeFolder(dir: string): Promise<{ name: string; splits: Partial<Record<Split, SplitSummary>> }> {
  const splits: Partial<Record<Split, SplitSummary>> = {};
  for (const s of SPLITS) if (findSplitFiles(dir, s).length > 0) splits[s] = summarizeRows(await readQuirkySplit(dir, s));
  return { name: basename(dir), splits };
}

const pct = (x: number, n: number) => (n ? `${((100 * x) / n).toFixed(1)}%` : "-");

export function formatSummary(s: { name: string; splits: Partial<Record<Split, SplitSummary>> }): string {
  const lines = [`== ${s.name}`];
  for (const [split, sum] of Object.entries(s.splits) as [Split, SplitSummary][]) {
    const c = sum.crosstab;
    const n = c.TT + c.TF + c.FT + c.FF;
    lines.push(
      `${split}: ${sum.rows} rows (Alice ${sum.alice}, Bob ${sum.bob}), label true ${pct(sum.labelTrue * sum.rows, sum.rows)}`,
      `  crosstab over base examples    Bob true   Bob false`,
      `    Alice true               ${String(c.TT).padStart(10)} ${String(c.TF).padStart(11)}   (${pct(c.TT, n)}, ${pct(c.TF, n)})`,
      `    Alice false              ${String(c.FT).padStart(10)} ${String(c.FF).padStart(11)}   (${pct(c.FT, n)}, ${pct(c.FF, n)})`,
      `  difficulty ${fmt(sum.difficulty.min)} .. ${fmt(sum.difficulty.max)}${sum.difficulty.nonFinite ? ` (+${sum.difficulty.nonFinite} non-finite)` : ""}`,
    );
    const peak = Math.max(...sum.difficulty.histogram.map((h) => h.count), 1);
    for (const h of sum.difficulty.histogram) {
      lines.push(`    ${fmt(h.from).padStart(10)} .. ${fmt(h.to).padEnd(10)} ${"#".repeat(Math.round((40 * h.count) / peak)).padEnd(40)} ${h.count}`);
    }
  }
  return lines.join("\n");
}

function fmt(x: number): string {
  return Math.abs(x) >= 1000 || Number.isInteger(x) ? x.toFixed(0) : x.toFixed(3);
}
