/**
 * Synthetic hidden states with a planted truth direction, for tests and benchmarks.
 *
 *   plantedGaussian:  x_i = D ε_i + (y_i − ½) · sep · t,   ε_i ~ N(0, I), D = diag(scales), ‖t‖ = 1
 *   plantedPairs:     b_i = D ε_i (shared by both states of pair i), s_i = ±1 for y_i = 1/0
 *                     x_false,i = b_i + σ η_i − s_i · sep/2 · t
 *                     x_true,i  = b_i + σ η'_i + s_i · sep/2 · t + c      (c: a fixed pair-index offset)
 *                     so x_true − x_false = s_i · sep · t + c + noise: the truth lives in the difference.
 * `scales` is 1 everywhere ("iso") or log-uniform over [e^{-1.5}, e^{1.5}] ("aniso", condition ≈ 400 in Σ).
 */
import { Rng } from "../util/rng.ts";
import type { Matrix } from "./matrix.ts";

export interface Planted {
  x: Matrix;
  y: Uint8Array;
  /** unit truth direction (length d) */
  truth: Float64Array;
}

export interface PlantedOptions {
  n: number;
  d: number;
  seed?: number;
  /** distance between the class means along the truth (default 2) */
  separation?: number;
  scales?: "iso" | "aniso";
  /** P(y = 1) (default ½) */
  balance?: number;
}

function direction(rng: Rng, d: number): Float64Array {
  const t = new Float64Array(d);
  let s = 0;
  for (let j = 0; j < d; j++) {
    t[j] = rng.normal();
    s += t[j] * t[j];
  }
  s = Math.sqrt(s);
  for (let j = 0; j < d; j++) t[j] /= s;
  return t;
}

function scalesOf(rng: Rng, d: number, kind: "iso" | "aniso"): Float64Array {
  return Float64Array.from({ length: d }, () => (kind === "iso" ? 1 : Math.exp(3 * (rng.random() - 0.5))));
}

export function plantedGaussian(o: PlantedOptions): Planted {
  const { n, d } = o;
  const rng = new Rng(o.seed ?? 0, "planted-gaussian");
  const truth = direction(rng, d);
  const scale = scalesOf(rng, d, o.scales ?? "iso");
  const sep = o.separation ?? 2;
  const y = new Uint8Array(n);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    y[i] = rng.random() < (o.balance ?? 0.5) ? 1 : 0;
    const h = (y[i] - 0.5) * sep;
    for (let j = 0; j < d; j++) data[i * d + j] = scale[j] * rng.normal() + h * truth[j];
  }
  return { x: { data, rows: n, cols: d }, y, truth };
}

export interface PairOptions extends PlantedOptions {
  /** per-state noise σ (default 0.3) */
  noise?: number;
  /** size of the fixed pair-index offset c (default 1) */
  offset?: number;
}

export function plantedPairs(o: PairOptions): Planted {
  const { n, d } = o;
  const rng = new Rng(o.seed ?? 0, "planted-pairs");
  const truth = direction(rng, d);
  const c = direction(rng, d);
  const scale = scalesOf(rng, d, o.scales ?? "iso");
  const sep = o.separation ?? 2;
  const sigma = o.noise ?? 0.3;
  const off = o.offset ?? 1;
  const y = new Uint8Array(n);
  const data = new Float32Array(n * 2 * d);
  for (let i = 0; i < n; i++) {
    y[i] = rng.random() < (o.balance ?? 0.5) ? 1 : 0;
    const h = (y[i] ? 1 : -1) * (sep / 2);
    const row = i * 2 * d;
    for (let j = 0; j < d; j++) {
      const b = scale[j] * rng.normal();
      data[row + j] = b + sigma * rng.normal() - h * truth[j];
      data[row + d + j] = b + sigma * rng.normal() + h * truth[j] + off * c[j];
    }
  }
  return { x: { data, rows: n, cols: 2 * d }, y, truth };
}
