/**
 * L-BFGS with a strong-Wolfe line search, reproducing `torch.optim.LBFGS(line_search_fn="strong_wolfe")`
 * step for step (one `optimizer.step(closure)` call), in float64:
 *
 *   direction   d = −H g, H from the last `historySize` pairs (s, y) with yᵀs > 1e−10, H₀ = (yᵀs / yᵀy) I
 *   first step  t = min(1, 1/‖g‖₁)·lr, later t = lr; line search: bracketing + cubic-interpolation zoom
 *               (c1 = 1e−4, c2 = 0.9, at most 25 evaluations, stop when the bracket · max|d| < 1e−9)
 *   stops       max|g| ≤ toleranceGrad (also before the first step); gᵀd > −toleranceChange;
 *               max|t·d| ≤ toleranceChange; |f − f_prev| < toleranceChange; maxIter iterations;
 *               maxEval evaluations (default ⌊5·maxIter/4⌋)
 *
 * The optimiser is a generator that yields the points it wants evaluated and receives {f, g}; so one
 * driver can run several independent minimisations in lock-step and evaluate their points together
 * (one matrix product for all of them; see `minimizeBatch`), with results identical to running each alone.
 */
export interface Evaluation {
  /** objective value */
  f: number;
  /** gradient (same length as the point) */
  g: Float64Array;
  /** anything the caller wants to remember about the last evaluated point (e.g. the unregularised loss) */
  aux?: number;
}

export interface LbfgsOptions {
  lr?: number;
  maxIter?: number;
  maxEval?: number;
  toleranceGrad?: number;
  toleranceChange?: number;
  historySize?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  /** objective at x */
  f: number;
  /** `aux` of the LAST evaluated point (which the line search may not have kept), like a closure's nonlocal */
  lastAux: number | undefined;
  iterations: number;
  evaluations: number;
  reason: string;
}

type Step = Generator<Float64Array, LbfgsResult, Evaluation>;

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (v > m || v !== v) m = v;
  }
  return m;
}
function dot(a: Float64Array, b: Float64Array): number {
  // four accumulators: the sum is latency-bound otherwise
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const n = a.length;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; i++) s0 += a[i] * b[i];
  return s0 + s1 + (s2 + s3);
}

/** The optimiser as a coroutine: yields points, receives their evaluations. */
export function* lbfgs(x0: Float64Array, opts: LbfgsOptions = {}): Step {
  const lr = opts.lr ?? 1;
  const maxIter = opts.maxIter ?? 20;
  const maxEval = opts.maxEval ?? Math.floor((maxIter * 5) / 4);
  const tolGrad = opts.toleranceGrad ?? 1e-7;
  const tolChange = opts.toleranceChange ?? 1e-9;
  const history = opts.historySize ?? 100;

  const x = Float64Array.from(x0);
  let lastAux: number | undefined;
  let evaluations = 0;
  function* evaluate(point: Float64Array): Generator<Float64Array, Evaluation, Evaluation> {
    const r = yield point;
    evaluations++;
    lastAux = r.aux;
    return r;
  }

  let ev = yield* evaluate(Float64Array.from(x));
  let loss = ev.f;
  let g: Float64Array = Float64Array.from(ev.g);
  let currentEvals = 1;
  const done = (reason: string, iterations: number): LbfgsResult => ({ x, f: loss, lastAux, iterations, evaluations, reason });
  if (maxAbs(g) <= tolGrad) return done("gradient below tolerance at the start", 0);

  const oldDirs: Float64Array[] = [];
  const oldStps: Float64Array[] = [];
  const ro: number[] = [];
  let hDiag = 1;
  let d: Float64Array = new Float64Array(x.length);
  let t = 0;
  let prevG: Float64Array | null = null;
  let prevLoss = loss;
  const al = new Float64Array(history);
  let nIter = 0;
  let reason = "max iterations";
  while (nIter < maxIter) {
    nIter++;
    if (nIter === 1) {
      for (let i = 0; i < d.length; i++) d[i] = -g[i];
      hDiag = 1;
    } else {
      const y = new Float64Array(g.length);
      const s = new Float64Array(g.length);
      for (let i = 0; i < g.length; i++) {
        y[i] = g[i] - prevG![i];
        s[i] = d[i] * t;
      }
      const ys = dot(y, s);
      if (ys > 1e-10) {
        if (oldDirs.length === history) {
          oldDirs.shift();
          oldStps.shift();
          ro.shift();
        }
        oldDirs.push(y);
        oldStps.push(s);
        ro.push(1 / ys);
        hDiag = ys / dot(y, y);
      }
      const q = new Float64Array(g.length);
      const len = q.length;
      for (let i = 0; i < len; i++) q[i] = -g[i];
      for (let k = oldDirs.length - 1; k >= 0; k--) {
        const a = dot(oldStps[k], q) * ro[k];
        al[k] = a;
        const od = oldDirs[k];
        for (let i = 0; i < len; i++) q[i] -= a * od[i];
      }
      for (let i = 0; i < len; i++) q[i] *= hDiag;
      for (let k = 0; k < oldDirs.length; k++) {
        const c = al[k] - dot(oldDirs[k], q) * ro[k];
        const os = oldStps[k];
        for (let i = 0; i < len; i++) q[i] += c * os[i];
      }
      d = q;
    }
    prevG = Float64Array.from(g);
    prevLoss = loss;
    if (nIter === 1) {
      let l1 = 0;
      for (let i = 0; i < g.length; i++) l1 += Math.abs(g[i]);
      t = Math.min(1, 1 / l1) * lr;
    } else t = lr;
    const gtd = dot(g, d);
    if (gtd > -tolChange) {
      reason = "directional derivative below tolerance";
      break;
    }
    const ls = yield* strongWolfe(evaluate, x, t, d, loss, g, gtd);
    loss = ls.f;
    g = ls.g;
    t = ls.t;
    for (let i = 0; i < x.length; i++) x[i] += t * d[i];
    const optCond = maxAbs(g) <= tolGrad;
    currentEvals += ls.evals;
    if (nIter === maxIter) break;
    if (currentEvals >= maxEval) {
      reason = "max evaluations";
      break;
    }
    if (optCond) {
      reason = "gradient below tolerance";
      break;
    }
    let step = 0;
    for (let i = 0; i < d.length; i++) step = Math.max(step, Math.abs(d[i] * t));
    if (step <= tolChange) {
      reason = "step below tolerance";
      break;
    }
    if (Math.abs(loss - prevLoss) < tolChange) {
      reason = "loss change below tolerance";
      break;
    }
  }
  return done(reason, nIter);
}

function cubicInterpolate(x1: number, f1: number, g1: number, x2: number, f2: number, g2: number, bounds?: [number, number]): number {
  const [lo, hi] = bounds ?? (x1 <= x2 ? [x1, x2] : [x2, x1]);
  const d1 = g1 + g2 - (3 * (f1 - f2)) / (x1 - x2);
  const d2sq = d1 * d1 - g1 * g2;
  if (d2sq >= 0) {
    const d2 = Math.sqrt(d2sq);
    const minPos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)) : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return Math.min(Math.max(minPos, lo), hi);
  }
  return (lo + hi) / 2;
}

function* strongWolfe(
  evaluate: (p: Float64Array) => Generator<Float64Array, Evaluation, Evaluation>,
  x: Float64Array,
  t0: number,
  d: Float64Array,
  f: number,
  g: Float64Array,
  gtd: number,
  c1 = 1e-4,
  c2 = 0.9,
  tolChange = 1e-9,
  maxLs = 25,
): Generator<Float64Array, { f: number; g: Float64Array; t: number; evals: number }, Evaluation> {
  const dNorm = maxAbs(d);
  const at = (t: number) => {
    const p = new Float64Array(x.length);
    for (let i = 0; i < p.length; i++) p[i] = x[i] + t * d[i];
    return p;
  };
  let t = t0;
  let ev = yield* evaluate(at(t));
  let fNew = ev.f;
  let gNew = Float64Array.from(ev.g);
  let evals = 1;
  let gtdNew = dot(gNew, d);

  let tPrev = 0, fPrev = f, gPrev = g, gtdPrev = gtd;
  let done = false;
  let lsIter = 0;
  let bracket: number[] = [];
  let bracketF: number[] = [];
  let bracketG: Float64Array[] = [];
  let bracketGtd: number[] = [];
  while (lsIter < maxLs) {
    if (fNew > f + c1 * t * gtd || (lsIter > 1 && fNew >= fPrev)) {
      bracket = [tPrev, t];
      bracketF = [fPrev, fNew];
      bracketG = [gPrev, gNew];
      bracketGtd = [gtdPrev, gtdNew];
      break;
    }
    if (Math.abs(gtdNew) <= -c2 * gtd) {
      bracket = [t];
      bracketF = [fNew];
      bracketG = [gNew];
      done = true;
      break;
    }
    if (gtdNew >= 0) {
      bracket = [tPrev, t];
      bracketF = [fPrev, fNew];
      bracketG = [gPrev, gNew];
      bracketGtd = [gtdPrev, gtdNew];
      break;
    }
    const minStep = t + 0.01 * (t - tPrev);
    const maxStep = t * 10;
    const tmp = t;
    t = cubicInterpolate(tPrev, fPrev, gtdPrev, t, fNew, gtdNew, [minStep, maxStep]);
    tPrev = tmp;
    fPrev = fNew;
    gPrev = gNew;
    gtdPrev = gtdNew;
    ev = yield* evaluate(at(t));
    fNew = ev.f;
    gNew = Float64Array.from(ev.g);
    evals++;
    gtdNew = dot(gNew, d);
    lsIter++;
  }
  if (lsIter === maxLs) {
    bracket = [0, t];
    bracketF = [f, fNew];
    bracketG = [g, gNew];
  }

  let insufProgress = false;
  let [lowPos, highPos] = bracketF[0] <= bracketF[bracketF.length - 1] ? [0, 1] : [1, 0];
  while (!done && lsIter < maxLs) {
    if (Math.abs(bracket[1] - bracket[0]) * dNorm < tolChange) break;
    t = cubicInterpolate(bracket[0], bracketF[0], bracketGtd[0], bracket[1], bracketF[1], bracketGtd[1]);
    const bMax = Math.max(bracket[0], bracket[1]);
    const bMin = Math.min(bracket[0], bracket[1]);
    const eps = 0.1 * (bMax - bMin);
    if (Math.min(bMax - t, t - bMin) < eps) {
      if (insufProgress || t >= bMax || t <= bMin) {
        t = Math.abs(t - bMax) < Math.abs(t - bMin) ? bMax - eps : bMin + eps;
        insufProgress = false;
      } else insufProgress = true;
    } else insufProgress = false;

    ev = yield* evaluate(at(t));
    fNew = ev.f;
    gNew = Float64Array.from(ev.g);
    evals++;
    gtdNew = dot(gNew, d);
    lsIter++;

    if (fNew > f + c1 * t * gtd || fNew >= bracketF[lowPos]) {
      bracket[highPos] = t;
      bracketF[highPos] = fNew;
      bracketG[highPos] = gNew;
      bracketGtd[highPos] = gtdNew;
      [lowPos, highPos] = bracketF[0] <= bracketF[1] ? [0, 1] : [1, 0];
    } else {
      if (Math.abs(gtdNew) <= -c2 * gtd) done = true;
      else if (gtdNew * (bracket[highPos] - bracket[lowPos]) >= 0) {
        bracket[highPos] = bracket[lowPos];
        bracketF[highPos] = bracketF[lowPos];
        bracketG[highPos] = bracketG[lowPos];
        bracketGtd[highPos] = bracketGtd[lowPos];
      }
      bracket[lowPos] = t;
      bracketF[lowPos] = fNew;
      bracketG[lowPos] = gNew;
      bracketGtd[lowPos] = gtdNew;
    }
  }
  return { f: bracketF[lowPos], g: bracketG[lowPos], t: bracket[lowPos], evals };
}

/** Minimise a function whose evaluation is synchronous. */
export function minimizeSync(fg: (x: Float64Array) => Evaluation, x0: Float64Array, opts: LbfgsOptions = {}): LbfgsResult {
  const it = lbfgs(x0, opts);
  let r = it.next();
  while (!r.done) r = it.next(fg(r.value));
  return r.value;
}

/** Minimise a function whose evaluation may be asynchronous. */
export async function minimize(fg: (x: Float64Array) => Evaluation | Promise<Evaluation>, x0: Float64Array, opts: LbfgsOptions = {}): Promise<LbfgsResult> {
  const it = lbfgs(x0, opts);
  let r = it.next();
  while (!r.done) r = it.next(await fg(r.value));
  return r.value;
}

/**
 * Run independent minimisations in lock-step: each round, every unfinished run names one point and
 * `fgBatch` evaluates them together. Each result equals what `minimize` would return for that run alone.
 */
export async function minimizeBatch(
  fgBatch: (points: Float64Array[]) => Promise<Evaluation[]>,
  x0s: Float64Array[],
  opts: LbfgsOptions = {},
): Promise<LbfgsResult[]> {
  const runs = x0s.map((x0) => lbfgs(x0, opts));
  const results: (LbfgsResult | undefined)[] = new Array(runs.length);
  const pending: (Float64Array | undefined)[] = runs.map((it, i) => {
    const r = it.next();
    if (r.done) results[i] = r.value;
    return r.done ? undefined : r.value;
  });
  for (;;) {
    const active = pending.map((p, i) => (p ? i : -1)).filter((i) => i >= 0);
    if (!active.length) break;
    const evs = await fgBatch(active.map((i) => pending[i]!));
    active.forEach((i, a) => {
      const r = runs[i].next(evs[a]);
      if (r.done) {
        results[i] = r.value;
        pending[i] = undefined;
      } else pending[i] = r.value;
    });
  }
  return results as LbfgsResult[];
}
