/**
 * `crc`: Contrast-Representation Clustering as in elk_generalization/elk/crc.py (fit, then platt_scale):
 *
 *   1. LEACE-erase the pair index: one eraser fitted on all 2n states (n×2×d flattened) with z = 0 for
 *      the false state and 1 for the true state; x̃ = r(x)
 *   2. w = top principal component of the pair differences δ_i = x̃_true,i − x̃_false,i  (centred: the
 *      top eigenvector of the covariance of δ; the reference estimates it with torch.pca_lowrank(q=1,
 *      niter=10), we compute it exactly; its sign is arbitrary and left to the Platt scale)
 *   3. Platt: s_k = (w·x̃_k + b)·a, [b, a] fitted by BCE with target 1 on the true-label state
 *      (b starts at nn.Linear's random initial bias, a at 1)
 *   4. log-odds = s_true − s_false = a · w·(x̃_true − x̃_false) = a · u·(x_true − x_false),  u = (I − LR)ᵀ w
 */
import { Rng } from "../util/rng.ts";
import { linearInit, prepare } from "./common.ts";
import { LeaceFitter, type LeaceOptions } from "./leace.ts";
import { columnMeans, eighAsync, gram } from "../linalg/index.ts";
import { pairDim, type Matrix } from "./matrix.ts";
import { plattShifted } from "./platt.ts";
import { LinearReporter } from "./reporter.ts";

export interface CrcOptions {
  seed?: number;
  leace?: LeaceOptions;
}

/** Unit top principal direction of the rows of a (n×d float64), centred; sign: largest entry positive. */
export async function topPrincipalDirection(a: Float64Array, n: number, d: number): Promise<{ direction: Float64Array; variance: number; gap: number }> {
  const mu = columnMeans(a, n, d);
  const c = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) c[i * d + j] = a[i * d + j] - mu[j];
  const eig = await eighAsync(await gram(c, n, d), d);
  const top = eig.values[d - 1];
  return { direction: eig.vector(d - 1), variance: top / (n - 1), gap: d > 1 ? (top - eig.values[d - 2]) / top : 1 };
}

export async function fitCrc(x: Matrix, labels: Uint8Array, opts: CrcOptions = {}): Promise<LinearReporter> {
  prepare("crc", x, labels, false);
  const d = pairDim(x, "crc");
  const n = x.rows;
  // (n, 2, d) viewed as (2n, d): rows false_0, true_0, false_1, …
  const flat = { data: x.data, rows: 2 * n, cols: d };
  const z = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) z[2 * i + 1] = 1;
  const eraser = await (await LeaceFitter.fit(flat, z, opts.leace)).eraser();
  const e = eraser.apply(flat);

  const diff = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) diff[i * d + j] = e[(2 * i + 1) * d + j] - e[2 * i * d + j];
  const { direction: w, variance, gap } = await topPrincipalDirection(diff, n, d);

  const b0 = linearInit(new Rng(opts.seed ?? 0, "crc-init"), d, d + 1)[d];
  const raw = new Float64Array(2 * n);
  const target = new Uint8Array(2 * n);
  for (let r = 0; r < 2 * n; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += w[j] * e[r * d + j];
    raw[r] = s;
    target[r] = r % 2 === 1 ? labels[r >> 1] : 1 - labels[r >> 1];
  }
  const platt = plattShifted(raw, target, b0);

  const u = eraser.pullBack(w);
  const weight = new Float64Array(2 * d);
  for (let j = 0; j < d; j++) {
    weight[j] = -platt.scale * u[j];
    weight[d + j] = platt.scale * u[j];
  }
  return new LinearReporter("crc", weight, 0, {
    method: "top principal component of LEACE-erased pair differences, Platt-scaled",
    direction: Array.from(w),
    explainedVariance: variance,
    relativeGap: gap,
    platt: { scale: platt.scale, bias: platt.offset, loss: platt.loss, initialBias: b0 },
    eraser: eraser.toJSON(),
  });
}
