/**
 * Isolation forest (Liu, Ting & Zhou 2008) with scikit-learn's IsolationForest defaults, which the reference uses
 * (`IsolationForest(random_state=42).fit(normal_x).score_samples(test_x)`):
 *
 *   n_estimators = 100 trees, each grown on max_samples = min(256, n) normal rows drawn WITHOUT replacement
 *   (bootstrap=False), all features (max_features=1.0), to depth at most ⌈log₂ max(max_samples, 2)⌉.
 *   A node splits on a feature drawn uniformly among those not constant in the node (max − min > 1e-7, the
 *   tree splitter's FEATURE_THRESHOLD) at a threshold uniform in [min, max) (rows ≤ threshold go left); it is a
 *   leaf at the depth limit, with one row, or when every feature is constant in it.
 *
 *   path length h_t(x) = depth of x's leaf in tree t + c(rows in that leaf)
 *   c(m) = 0 (m ≤ 1), 1 (m = 2), 2(ln(m − 1) + γ) − 2(m − 1)/m otherwise        (γ = Euler–Mascheroni)
 *   score(x) = 2^(−mean_t h_t(x) / c(max_samples))  ∈ (0, 1]
 *
 * scikit-learn's score_samples returns −score(x); we return score(x) (higher = more anomalous). The random
 * draws come from `Rng(seed, "anomaly/isolation-forest")`, so numbers match scikit-learn in distribution, not draw
 * for draw. Scoring costs O(trees · depth) per row.
 */
import { Rng } from "../../util/rng.ts";
import { checkRows, checkScoreRows, type AnomalyDetector } from "./common.ts";

const EULER_GAMMA = 0.5772156649015329;
const FEATURE_THRESHOLD = 1e-7;

/** scikit-learn's _average_path_length: the mean path length of an unsuccessful BST search among m points. */
export function averagePathLength(m: number): number {
  if (m <= 1) return 0;
  if (m === 2) return 1;
  return 2 * (Math.log(m - 1) + EULER_GAMMA) - (2 * (m - 1)) / m;
}

interface Tree {
  feature: Int32Array; // −1 for a leaf
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  /** for leaves: depth + c(rows in the leaf) */
  leafValue: Float64Array;
}

export interface IsolationForestOptions {
  seed?: number;
  nEstimators?: number;
  /** rows per tree; default min(256, n) */
  maxSamples?: number;
}

export class IsolationForestDetector implements AnomalyDetector {
  constructor(readonly d: number, private readonly trees: Tree[], readonly maxSamples: number) {}

  /** The mean path length E[h(x)] of each row (before the 2^(−·/c) transform). */
  meanPathLength(x: Float64Array, n: number, d: number): Float64Array {
    checkScoreRows(x, n, d, this.d, "isolation-forest: rows to score");
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const o = i * d;
      let total = 0;
      for (const t of this.trees) {
        let node = 0;
        while (t.feature[node] >= 0) node = x[o + t.feature[node]] <= t.threshold[node] ? t.left[node] : t.right[node];
        total += t.leafValue[node];
      }
      out[i] = total / this.trees.length;
    }
    return out;
  }

  score(x: Float64Array, n: number, d: number): Float64Array {
    const h = this.meanPathLength(x, n, d);
    const c = averagePathLength(this.maxSamples);
    for (let i = 0; i < n; i++) h[i] = Math.pow(2, -h[i] / c);
    return h;
  }
}

export function fitIsolationForest(normal: Float64Array, n: number, d: number, opts: IsolationForestOptions = {}): IsolationForestDetector {
  checkRows(normal, n, d, "isolation-forest: normal rows");
  if (n < 2) throw new RangeError(`isolation-forest: too few normal rows: ${n}; at least 2 are needed`);
  const nEstimators = opts.nEstimators ?? 100;
  const maxSamples = Math.min(opts.maxSamples ?? 256, n);
  if (!(Number.isInteger(nEstimators) && nEstimators >= 1)) throw new RangeError(`isolation-forest: nEstimators = ${nEstimators}`);
  if (!(Number.isInteger(maxSamples) && maxSamples >= 1)) throw new RangeError(`isolation-forest: maxSamples = ${maxSamples}`);
  const maxDepth = Math.ceil(Math.log2(Math.max(maxSamples, 2)));
  const rng = new Rng(opts.seed ?? 42, "anomaly/isolation-forest");
  const all = Array.from({ length: n }, (_, i) => i);
  const trees: Tree[] = [];
  for (let t = 0; t < nEstimators; t++) {
    const idx = Int32Array.from(maxSamples === n ? all : rng.sample(all, maxSamples));
    trees.push(growTree(normal, d, idx, maxDepth, rng));
  }
  return new IsolationForestDetector(d, trees, maxSamples);
}

function growTree(x: Float64Array, d: number, idx: Int32Array, maxDepth: number, rng: Rng): Tree {
  const cap = 2 * idx.length + 1;
  const tree: Tree = {
    feature: new Int32Array(cap).fill(-1),
    threshold: new Float64Array(cap),
    left: new Int32Array(cap),
    right: new Int32Array(cap),
    leafValue: new Float64Array(cap),
  };
  let count = 0;
  const candidates: number[] = [];
  const lo = new Float64Array(d), hi = new Float64Array(d);
  // explicit stack of (node, start, end, depth)
  const stack: [number, number, number, number][] = [[count++, 0, idx.length, 0]];
  while (stack.length) {
    const [node, start, end, depth] = stack.pop()!;
    const m = end - start;
    let feature = -1;
    if (depth < maxDepth && m >= 2) {
      lo.fill(Infinity);
      hi.fill(-Infinity);
      for (let r = start; r < end; r++) {
        const o = idx[r] * d;
        for (let j = 0; j < d; j++) {
          const v = x[o + j];
          if (v < lo[j]) lo[j] = v;
          if (v > hi[j]) hi[j] = v;
        }
      }
      candidates.length = 0;
      for (let j = 0; j < d; j++) if (hi[j] > lo[j] + FEATURE_THRESHOLD) candidates.push(j);
      if (candidates.length) feature = candidates[candidates.length === 1 ? 0 : rng.int(0, candidates.length - 1)];
    }
    if (feature < 0) {
      tree.leafValue[node] = depth + averagePathLength(m);
      continue;
    }
    let thr = lo[feature] + (hi[feature] - lo[feature]) * rng.random();
    if (thr >= hi[feature]) thr = lo[feature];
    // partition idx[start, end) so that rows with x ≤ thr come first
    let a = start, b = end - 1;
    while (a <= b) {
      if (x[idx[a] * d + feature] <= thr) a++;
      else {
        const tmp = idx[a];
        idx[a] = idx[b];
        idx[b] = tmp;
        b--;
      }
    }
    const l = count++, r = count++;
    tree.feature[node] = feature;
    tree.threshold[node] = thr;
    tree.left[node] = l;
    tree.right[node] = r;
    stack.push([r, a, end, depth + 1], [l, start, a, depth + 1]);
  }
  return {
    feature: tree.feature.slice(0, count),
    threshold: tree.threshold.slice(0, count),
    left: tree.left.slice(0, count),
    right: tree.right.slice(0, count),
    leafValue: tree.leafValue.slice(0, count),
  };
}
