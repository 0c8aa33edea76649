/**
 * What a fitted reporter is: a map from a hidden-state row to log-odds that the statement is true.
 *
 * Every reporter is affine at prediction time,  logit(x) = w·x + b :
 *   lr, lr-on-pair            w, b from logistic regression
 *   mean-diff(-on-pair), lda  w = (sign-resolved) direction, b = 0
 *   ccs, crc                  on the pair row x = [x_false | x_true] (2d):  logit = s · u·(x_true − x_false)
 *                             with u = (I − LR)ᵀ w the probe direction pulled back through the LEACE eraser,
 *                             i.e. w_2d = s·[−u, u], b = 0   (the Platt bias cancels in the difference)
 * so one `LinearReporter` class holds them all; `info` records how each was fitted. Reporters save to JSON
 * (plain number arrays) and load back with `reporterFromJSON`.
 */
import { checkMatrix, type Matrix } from "./matrix.ts";

/** What the rest of quirky knows about a reporter; every list of reporters is read from REPORTERS. */
export interface ReporterInfo {
  /** name in tables and figures (the paper's) */
  display: string;
  /** fitted per layer by `fitReporter`; the random-direction baseline is evaluated (`evalRandomBaseline`), not fitted */
  fitted: boolean;
  /** reads contrast pairs, a Matrix row [x_false | x_true] (2d), instead of the last-token state (d) */
  pairs: boolean;
  /** one direction in the residual stream, which an intervention can reflect states across */
  steerable: boolean;
  /** unsupervised in the paper (CCS, CRC): the standard grid also fits it on all examples against Alice's labels */
  unsupervised: boolean;
  /** the method's name in the paper's tables (src/report/paper.ts is keyed by it); null where the paper reports none */
  paperName: string | null;
}

/** Every reporter, in the order of the standard grid, tables and figures. */
export const REPORTERS = {
  lr: { display: "LogR", fitted: true, pairs: false, steerable: true, unsupervised: false, paperName: "LogR" },
  "mean-diff": { display: "Diff-in-means", fitted: true, pairs: false, steerable: true, unsupervised: false, paperName: "Diff-in-means" },
  lda: { display: "LDA", fitted: true, pairs: false, steerable: true, unsupervised: false, paperName: "LDA" },
  "lr-on-pair": { display: "LogR on pairs", fitted: true, pairs: true, steerable: false, unsupervised: false, paperName: "LogR on contrast pairs" },
  "mean-diff-on-pair": { display: "Diff-in-means on pairs", fitted: true, pairs: true, steerable: false, unsupervised: false, paperName: null },
  ccs: { display: "CCS", fitted: true, pairs: true, steerable: false, unsupervised: true, paperName: "CCS" },
  crc: { display: "CRC", fitted: true, pairs: true, steerable: false, unsupervised: true, paperName: "CRC" },
  random: { display: "Random directions", fitted: false, pairs: false, steerable: false, unsupervised: false, paperName: null },
} as const satisfies Record<string, ReporterInfo>;

export type ReporterName = keyof typeof REPORTERS;

export const REPORTER_NAMES = Object.keys(REPORTERS) as ReporterName[];

/** The names `fitReporter` fits (all but "random"). */
export const FITTED_REPORTER_NAMES = REPORTER_NAMES.filter((n) => REPORTERS[n].fitted);

/** True for the reporters that read contrast pairs (Matrix with cols = 2d). */
export function usesPairs(name: ReporterName): boolean {
  return REPORTERS[name].pairs;
}

export function isReporterName(s: string): s is ReporterName {
  return Object.hasOwn(REPORTERS, s);
}

/** The reporter's name in tables and figures (unknown names as they are). */
export function reporterDisplayName(name: string): string {
  return isReporterName(name) ? REPORTERS[name].display : name;
}

export interface Reporter {
  readonly name: ReporterName;
  /** columns of the Matrix it reads (d, or 2d for pair reporters) */
  readonly inFeatures: number;
  /** log-odds per row */
  predict(x: Matrix): Float64Array;
  toJSON(): ReporterJSON;
}

export interface ReporterJSON {
  format: "quirky-reporter";
  version: 1;
  name: ReporterName;
  inFeatures: number;
  weight: number[];
  bias: number;
  info: Record<string, unknown>;
}

export class LinearReporter implements Reporter {
  constructor(
    readonly name: ReporterName,
    /** direction the log-odds read, length inFeatures */
    readonly weight: Float64Array,
    readonly bias: number,
    /** how it was fitted (method-specific, JSON-safe) */
    readonly info: Record<string, unknown> = {},
  ) {
    for (let j = 0; j < weight.length; j++) if (!Number.isFinite(weight[j])) throw new Error(`${name}: fitted weight ${j} is ${weight[j]}`);
    if (!Number.isFinite(bias)) throw new Error(`${name}: fitted bias is ${bias}`);
  }

  get inFeatures(): number {
    return this.weight.length;
  }

  predict(x: Matrix): Float64Array {
    checkMatrix(x, `${this.name}.predict: x`);
    const d = this.weight.length;
    if (x.cols !== d) {
      const hint = usesPairs(this.name) ? ` (a pair reporter: cols = 2 × hidden size ${d / 2})` : "";
      throw new Error(`${this.name}.predict: x has ${x.cols} columns, the reporter reads ${d}${hint}`);
    }
    const out = new Float64Array(x.rows);
    const w = this.weight, data = x.data;
    for (let i = 0; i < x.rows; i++) {
      let s = this.bias;
      const off = i * d;
      for (let j = 0; j < d; j++) s += w[j] * data[off + j];
      out[i] = s;
    }
    return out;
  }

  toJSON(): ReporterJSON {
    return { format: "quirky-reporter", version: 1, name: this.name, inFeatures: this.inFeatures, weight: Array.from(this.weight), bias: this.bias, info: this.info };
  }
}

/** Rebuild a reporter saved with `toJSON()` (or JSON.stringify of it). */
export function reporterFromJSON(obj: unknown): LinearReporter {
  const o = (typeof obj === "string" ? JSON.parse(obj) : obj) as Partial<ReporterJSON>;
  if (!o || o.format !== "quirky-reporter") throw new Error("reporterFromJSON: not a saved quirky reporter (format field missing)");
  if (o.version !== 1) throw new Error(`reporterFromJSON: unsupported version ${o.version}`);
  if (!o.name || !isReporterName(o.name) || o.name === "random") throw new Error(`reporterFromJSON: unknown reporter name ${JSON.stringify(o.name)}`);
  if (!Array.isArray(o.weight) || o.weight.length !== o.inFeatures) throw new Error(`reporterFromJSON: weight has ${o.weight?.length} entries, inFeatures says ${o.inFeatures}`);
  if (typeof o.bias !== "number") throw new Error("reporterFromJSON: bias missing");
  return new LinearReporter(o.name, Float64Array.from(o.weight), o.bias, o.info ?? {});
}
