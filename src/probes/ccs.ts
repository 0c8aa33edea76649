/**
 * `ccs`: Contrast-Consistent Search as the reference ran it (elk_generalization/elk/ccs.py with
 * CcsConfig(bias=True, loss=["ccs"], norm="leace", num_epochs=1000, num_tries=10, optimizer="lbfgs",
 * weight_decay=0.01), then `platt_scale`, predictions with ens="full"):
 *
 *   1. normalise: LEACE eraser fitted on both pair states with a 2-d one-hot of the state
 *      (false state z = [0, 1], true state z = [1, 0]; one update per state, as the reference), x̃ = r(x)
 *   2. probe z_k = w·x̃_k + b; minimise  L_ccs(z_false, z_true) + 0.01/2 (‖w‖² + b²)  (see ccs-loss.ts)
 *      with L-BFGS (max_iter 1000, tolerances float32 ε), from nn.Linear's default random init, 10 tries;
 *      keep the try whose unregularised loss at its last evaluated point is lowest (the reference's
 *      `loss` is the closure's last value, which the line search need not have kept)
 *   3. Platt: s_k = a·z_k + c fitted by BCE with target 1 on the true-label state (see platt.ts)
 *   4. log-odds (ens="full", one variant):  s_true − s_false = a · w·(x̃_true − x̃_false)
 *                                           = a · u·(x_true − x_false),   u = (I − LR)ᵀ w
 * The ten tries run in lock-step so each round of evaluations is one matrix product (same results as
 * running them one after another).
 */
import { Rng } from "../util/rng.ts";
import { ccsObjectiveBatch } from "./ccs-loss.ts";
import { FLOAT32_EPS, linearInit, prepare } from "./common.ts";
import { minimizeBatch } from "../linalg/lbfgs.ts";
import { LeaceFitter, type LeaceOptions } from "./leace.ts";
import { transpose } from "../linalg/index.ts";
import { pairDim, type Matrix } from "./matrix.ts";
import { plattAffine } from "./platt.ts";
import { LinearReporter } from "./reporter.ts";

export interface CcsOptions {
  /** random restarts (default 10) */
  numTries?: number;
  /** L-BFGS iterations per try (the reference's num_epochs; default 1000) */
  maxIter?: number;
  /** L2 coefficient λ in λ/2 ‖θ‖² (default 0.01) */
  weightDecay?: number;
  /** probe bias term (default true) */
  bias?: boolean;
  seed?: number;
  leace?: LeaceOptions;
}

export async function fitCcs(x: Matrix, labels: Uint8Array, opts: CcsOptions = {}): Promise<LinearReporter> {
  prepare("ccs", x, labels, false);
  const d = pairDim(x, "ccs");
  const n = x.rows;
  const numTries = opts.numTries ?? 10;
  const wd = opts.weightDecay ?? 0.01;
  const bias = opts.bias ?? true;
  if (!(numTries >= 1)) throw new Error("ccs: numTries must be at least 1");

  // 1. LEACE normalisation with an independent indicator per pseudo-label
  const zFalse = new Float64Array(2 * n), zTrue = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    zFalse[2 * i + 1] = 1;
    zTrue[2 * i] = 1;
  }
  const fitter = new LeaceFitter(d, 2, opts.leace);
  await fitter.update(x, zFalse, 0);
  await fitter.update(x, zTrue, d);
  const eraser = await fitter.eraser();
  const xn = new Float64Array(2 * n * d);
  xn.set(eraser.apply(x, 0), 0);
  xn.set(eraser.apply(x, d), n * d);

  // 2. ten tries of L-BFGS from nn.Linear's default init
  const rng = new Rng(opts.seed ?? 0, "ccs-init");
  const p = bias ? d + 1 : d;
  const starts = Array.from({ length: numTries }, () => linearInit(rng, d, p));
  const xnT = transpose(xn, 2 * n, d);
  const runs = await minimizeBatch((pts) => ccsObjectiveBatch(xn, n, d, wd, pts, bias, xnT), starts, {
    maxIter: opts.maxIter ?? 1000,
    toleranceGrad: FLOAT32_EPS,
    toleranceChange: FLOAT32_EPS,
  });
  let best = -1;
  let bestLoss = Infinity;
  runs.forEach((r, t) => {
    const l = r.lastAux ?? NaN;
    if (l < bestLoss) {
      bestLoss = l;
      best = t;
    }
  });
  if (best < 0 || !Number.isFinite(bestLoss)) throw new Error("ccs: got NaN/infinite loss in every try");
  const theta = runs[best].x;
  const w = theta.slice(0, d);
  const b = bias ? theta[d] : 0;

  // 3. Platt scale on the training labels
  const raw = new Float64Array(2 * n);
  const target = new Uint8Array(2 * n);
  for (let i = 0; i < n; i++) {
    let s0 = b, s1 = b;
    for (let j = 0; j < d; j++) {
      s0 += w[j] * xn[i * d + j];
      s1 += w[j] * xn[(n + i) * d + j];
    }
    raw[2 * i] = s0;
    raw[2 * i + 1] = s1;
    target[2 * i] = labels[i] ? 0 : 1;
    target[2 * i + 1] = labels[i];
  }
  const platt = plattAffine(raw, target);

  // 4. the pair-difference direction in the original coordinates
  const u = eraser.pullBack(w);
  const weight = new Float64Array(2 * d);
  for (let j = 0; j < d; j++) {
    weight[j] = -platt.scale * u[j];
    weight[d + j] = platt.scale * u[j];
  }
  return new LinearReporter("ccs", weight, 0, {
    method: "CCS on LEACE-normalised pairs, L-BFGS, best of tries, Platt-scaled (ens=full)",
    bestTry: best,
    bestLoss,
    probe: { weight: Array.from(w), bias: b },
    platt: { scale: platt.scale, bias: platt.offset, loss: platt.loss },
    tries: runs.map((r) => ({ loss: r.lastAux, objective: r.f, iterations: r.iterations, evaluations: r.evaluations, stop: r.reason })),
    eraser: eraser.toJSON(),
  });
}
