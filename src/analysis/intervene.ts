/**
 * Interventions on the truth direction: at one layer, reflect the last position's residual state across the
 * probe's direction, about the mean of the probe's training states,
 *
 *   x ← x − 2 ((x − μ)·û) û,   û = w / |w|
 *
 * (the reference does this in a forward hook on the block's output), then read the model's output — the
 * log-odds of the true over the false choice — and measure its AUROC against Alice's and Bob's labels, with
 * and without the edit. Only the last position is edited (the reference's hook overwrote every position of
 * the batch row with the edited last state).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULTS } from "../defaults.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { hashJson } from "../util/fingerprint.ts";
import { provenance, reuseCached, type Provenance } from "../util/provenance.ts";
import type { TemplatizedExample } from "../datasets/templatize.ts";
import { readLayer, readStatesMeta } from "../extract/states.ts";
import { leftPad } from "../model/batch.ts";
import { encodeChoice, type TextTokenizer } from "../model/tokenizer.ts";
import type { Hooks, Transformer } from "../model/transformer.ts";
import { auroc } from "../probes/metrics.ts";
import type { LabelColumn } from "./metrics.ts";
import { isReporterName, REPORTER_NAMES, REPORTERS, reporterFromJSON } from "../probes/reporter.ts";
import { recordedProvenance, reportersFile, trainDirOf } from "./transfer.ts";

export interface InterventionLayerResult {
  layer: number;
  clean: { alice: number; bob: number };
  intervened: { alice: number; bob: number };
}

/** Hook that reflects the last position of every row across û about μ, in place. */
export function reflectionHook(direction: ArrayLike<number>, mean: ArrayLike<number>): Hooks[string] {
  const C = direction.length;
  let norm = 0;
  for (let i = 0; i < C; i++) norm += direction[i] * direction[i];
  norm = Math.sqrt(norm);
  if (!(norm > 0)) throw new Error("intervention: the probe direction is zero");
  const u = Float64Array.from(direction, (w) => w / norm);
  return (x, { B, T, C: width }) => {
    if (width !== C) throw new Error(`intervention: probe has ${C} dims, the residual stream ${width}`);
    for (let b = 0; b < B; b++) {
      const o = (b * T + T - 1) * C;
      let proj = 0;
      for (let i = 0; i < C; i++) proj += (x[o + i] - mean[i]) * u[i];
      for (let i = 0; i < C; i++) x[o + i] -= 2 * proj * u[i];
    }
  };
}

/** Output log-odds (true − false choice) of every example, optionally with hooks. */
export async function outputLogOdds(model: Transformer, tok: TextTokenizer, examples: TemplatizedExample[], hooks?: Hooks, batchSize: number = DEFAULTS.batchSize): Promise<Float64Array> {
  const V = model.cfg.vocabSize;
  const out = new Float64Array(examples.length);
  const quiet = () => {};
  for (let i = 0; i < examples.length; i += batchSize) {
    const chunk = examples.slice(i, i + batchSize);
    const { tokens, mask, B, T } = leftPad(chunk.map((e) => tok.encode(e.statement)));
    const { logits } = await model.forward({ tokens, B, T, mask }, { logits: "last", hooks });
    chunk.forEach((e, r) => {
      out[i + r] = logits[r * V + encodeChoice(e.choices[1], tok, quiet)] - logits[r * V + encodeChoice(e.choices[0], tok, quiet)];
    });
  }
  return out;
}

function aurocs(scores: Float64Array, examples: TemplatizedExample[]): { alice: number; bob: number } {
  const a = Uint8Array.from(examples, (e) => +e.alice_label);
  const b = Uint8Array.from(examples, (e) => +e.bob_label);
  const safe = (y: Uint8Array) => (y.some((v) => v) && y.some((v) => !v) ? auroc(scores, y) : NaN);
  return { alice: safe(a), bob: safe(b) };
}

/**
 * For each layer: clean vs intervened output AUROC. `probes[l]` is the direction (C) and `means[l]` the mean
 * of the probe's training states at layer l.
 */
export async function interventionExperiment(
  model: Transformer,
  tok: TextTokenizer,
  examples: TemplatizedExample[],
  probes: { layer: number; direction: ArrayLike<number>; mean: ArrayLike<number> }[],
  onProgress?: (done: number, total: number) => void,
  batchSize: number = DEFAULTS.batchSize,
): Promise<InterventionLayerResult[]> {
  const clean = aurocs(await outputLogOdds(model, tok, examples, undefined, batchSize), examples);
  const out: InterventionLayerResult[] = [];
  for (const [i, p] of probes.entries()) {
    onProgress?.(i, probes.length);
    const hooks: Hooks = { [`blocks.${p.layer}.hook_resid_post`]: reflectionHook(p.direction, p.mean) };
    out.push({ layer: p.layer, clean, intervened: aurocs(await outputLogOdds(model, tok, examples, hooks, batchSize), examples) });
  }
  onProgress?.(probes.length, probes.length);
  return out;
}

/** The fitted reporters file of a hidden-state reporter, with the provenance it records. */
function reportersOf(root: string, reporter: string, train: string, labelCol: LabelColumn) {
  if (!isReporterName(reporter) || !REPORTERS[reporter].steerable) {
    throw new Error(`interventions need a probe on the residual stream (${REPORTER_NAMES.filter((r) => REPORTERS[r].steerable).join(", ")}), not '${reporter}'`);
  }
  const file = join(trainDirOf(root, train), reportersFile(reporter, labelCol));
  if (!existsSync(file)) throw new Error(`${file}: no fitted ${reporter} reporters; run 'quirky transfer' or 'quirky grid' first`);
  const saved = JSON.parse(readFileSync(file, "utf8")) as { provenance?: Provenance; reporters?: unknown[] };
  if (!saved.provenance || !Array.isArray(saved.reporters)) throw new Error(`${file}: made by an older quirky (no provenance); fit the reporters again (--force)`);
  return { file, provenance: saved.provenance, reporters: saved.reporters.map(reporterFromJSON) };
}

/** The probes of a finished transfer (hidden-state reporters) with their training means, per layer. */
export function probesFromRoot(root: string, reporter: string, train: string, labelCol: LabelColumn = "label"): { layer: number; direction: Float64Array; mean: Float64Array }[] {
  const dir = trainDirOf(root, train);
  const { reporters } = reportersOf(root, reporter, train, labelCol);
  const meta = readStatesMeta(dir);
  return reporters.map((r, layer) => {
    const x = readLayer(dir, "hiddens", layer);
    const mean = new Float64Array(meta.d);
    for (let i = 0; i < x.rows; i++) for (let j = 0; j < meta.d; j++) mean[j] += x.data[i * meta.d + j] / x.rows;
    return { layer, direction: r.weight, mean };
  });
}

export interface InterventionOptions {
  /** results folder of the model and dataset, holding the fitted probes; the result goes to intervention_<reporter>.json */
  root: string;
  /** the model and its tokenizer, opened only when the result must be computed */
  open: () => Promise<{ model: Transformer; tokenizer: TextTokenizer }>;
  /** content fingerprint of the model and adapter files (model/source.ts) */
  modelFingerprint: string;
  /** examples to intervene on (the test split of the `test` distribution) */
  examples: TemplatizedExample[];
  reporter: string;
  /** distribution the probe was fitted on */
  train: string;
  /** only these layers (default: all) */
  layers?: number[];
  batchSize?: number;
  force?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/**
 * The intervention experiment of a finished grid, written to `<root>/intervention_<reporter>.json` with its
 * provenance (model, examples, probes, layers); a result from the same inputs is reused, one from others refused
 * (or, with `force`, recomputed).
 */
export async function runIntervention(opts: InterventionOptions): Promise<{ path: string; layers: InterventionLayerResult[]; reused: boolean }> {
  const probesFile = reportersOf(opts.root, opts.reporter, opts.train, "label");
  const wanted = provenance({ model: opts.modelFingerprint, examples: hashJson(opts.examples), probes: probesFile.provenance.fingerprint, layers: opts.layers ?? "all" });
  const path = join(opts.root, `intervention_${opts.reporter}.json`);
  if (reuseCached(path, recordedProvenance(path), wanted, opts.force)) {
    return { path, layers: (JSON.parse(readFileSync(path, "utf8")) as { layers: InterventionLayerResult[] }).layers, reused: true };
  }
  let probes = probesFromRoot(opts.root, opts.reporter, opts.train);
  if (opts.layers) {
    for (const l of opts.layers) if (!probes.some((p) => p.layer === l)) throw new Error(`layer ${l}: the probes cover layers 0..${probes.length - 1}`);
    probes = probes.filter((p) => opts.layers!.includes(p.layer));
  }
  const { model, tokenizer } = await opts.open();
  const layers = await interventionExperiment(model, tokenizer, opts.examples, probes, opts.onProgress, opts.batchSize);
  writeFileAtomic(path, JSON.stringify({ reporter: opts.reporter, layers, provenance: wanted }, null, 1) + "\n");
  return { path, layers, reused: false };
}
