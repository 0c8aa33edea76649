/**
 * Model-based difficulty (sentiment, nli, sciq): the mean over a suite of models of the binary
 * cross-entropy of the model's answer on the base example's prompt,
 *
 *   difficulty_i = (1/M) Σ_m −log σ(s_i · logodds_{m,i}),   s_i = +1 if label_i else −1,
 *
 * where logodds = log p(choices[1]) − log p(choices[0]) (choices[1] is the answer when the label is true). The
 * scores come either from models run here (a `LogOddsScorer`: model-difficulty.ts) or from a precomputed file.
 */
import { existsSync, readFileSync } from "node:fs";
import type { BaseExample } from "./schema.ts";
import { readCsv } from "./sources.ts";

/** A prompt to score; `id` names it in warnings. */
export interface ScoringPrompt {
  id?: string;
  text: string;
  choices: [string, string];
}

/** Scores prompts with one model: log-odds of choices[1] over choices[0]. */
export type LogOddsScorer = (prompts: ScoringPrompt[]) => Promise<Float64Array>;

/** −log σ(x), computed without overflow. */
export function negLogSigmoid(x: number): number {
  return x >= 0 ? Math.log1p(Math.exp(-x)) : -x + Math.log1p(Math.exp(x));
}

/** difficulty_i = mean over models of −log σ(±logodds_{m,i}); `logOdds[m][i]`. */
export function difficultyFromLogOdds(logOdds: ArrayLike<number>[], labels: boolean[]): Float64Array {
  if (logOdds.length === 0) throw new Error("difficulty needs the log-odds of at least one model");
  const out = new Float64Array(labels.length);
  for (const lo of logOdds) {
    if (lo.length !== labels.length) throw new Error(`log-odds for ${lo.length} examples, expected ${labels.length}`);
    for (let i = 0; i < labels.length; i++) out[i] += negLogSigmoid(labels[i] ? lo[i] : -lo[i]) / logOdds.length;
  }
  return out;
}

/** Run every scorer over the base examples' prompts and set their difficulties. */
export async function scoreDifficulty(base: BaseExample[], scorers: LogOddsScorer[]): Promise<void> {
  const prompts = base.map((ex) => {
    if (!ex.prompt) throw new Error("this dataset's difficulty is not measured with models");
    return { id: ex.prompt.id, text: ex.prompt.text, choices: ex.prompt.choices };
  });
  const logOdds: Float64Array[] = [];
  for (const scorer of scorers) logOdds.push(await scorer(prompts));
  const d = difficultyFromLogOdds(logOdds, base.map((ex) => ex.prompt!.label));
  base.forEach((ex, i) => (ex.difficulty = d[i]));
}

const DIFFICULTY_FORMAT =
  "a CSV or JSONL file keyed by the base example's prompt id ('quirky datasets prompts' lists them) with either " +
  "columns id,difficulty or columns id,model,log_odds (one row per model and example)";

/**
 * Read precomputed difficulties: `id,difficulty` rows, or `id,model,log_odds` rows from which the
 * difficulty is computed (needs each example's label, hence `labels`: prompt id → label).
 */
export function readDifficultyFile(path: string, labels: Map<string, boolean>): Map<string, number> {
  if (!existsSync(path)) throw new Error(`${path}: difficulty file not found; expected ${DIFFICULTY_FORMAT}`);
  let rows: Record<string, unknown>[];
  if (path.endsWith(".csv")) {
    rows = readCsv(path, { what: "a difficulty CSV", columns: ["id"], where: "'quirky datasets prompts' + your own scoring" });
  } else {
    rows = readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l, i) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          throw new Error(`${path}: line ${i + 1} is not JSON; expected ${DIFFICULTY_FORMAT}`);
        }
      });
  }
  const out = new Map<string, number>();
  if (rows.length === 0) return out;
  if ("difficulty" in rows[0]) {
    rows.forEach((r, i) => {
      const d = Number(r.difficulty);
      if (typeof r.id !== "string" || !Number.isFinite(d)) throw new Error(`${path}: row ${i + 1} needs a string id and a finite difficulty`);
      out.set(r.id, d);
    });
    return out;
  }
  if (!("log_odds" in rows[0] && "model" in rows[0])) throw new Error(`${path}: expected ${DIFFICULTY_FORMAT}`);
  const losses = new Map<string, Map<string, number>>();
  rows.forEach((r, i) => {
    const lo = Number(r.log_odds);
    const id = String(r.id);
    const label = labels.get(id);
    if (!Number.isFinite(lo)) throw new Error(`${path}: row ${i + 1} has a non-finite log_odds`);
    if (label === undefined) return; // not one of this dataset's prompts
    const perModel = losses.get(id) ?? new Map<string, number>();
    perModel.set(String(r.model), negLogSigmoid(label ? lo : -lo));
    losses.set(id, perModel);
  });
  const models = new Set([...losses.values()].flatMap((m) => [...m.keys()]));
  for (const [id, perModel] of losses) {
    if (perModel.size !== models.size) throw new Error(`${path}: example ${id} is scored by ${perModel.size} of the ${models.size} models`);
    out.set(id, [...perModel.values()].reduce((a, b) => a + b, 0) / perModel.size);
  }
  return out;
}

/** Set each base example's difficulty from a map keyed by prompt id; refuse if any is missing. */
export function applyDifficulties(base: BaseExample[], difficulties: Map<string, number>, name: string, path: string): void {
  const missing = base.filter((ex) => !ex.prompt || !difficulties.has(ex.prompt.id));
  if (missing.length > 0) {
    throw new Error(
      `${path}: no difficulty for ${missing.length} of ${base.length} '${name}' examples (first missing id: ` +
        `${missing[0].prompt?.id}); the ids must come from 'quirky datasets prompts ${name}' with the same source and seed`,
    );
  }
  for (const ex of base) ex.difficulty = difficulties.get(ex.prompt!.id)!;
}
