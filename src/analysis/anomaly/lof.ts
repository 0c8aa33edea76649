/**
 * Local outlier factor (Breunig et al. 2000) in scikit-learn's novelty mode, as the reference uses it
 * (`LocalOutlierFactor(novelty=True).fit(normal_x).decision_function(test_x)`), with its defaults:
 * n_neighbors = 20 (clipped to n − 1 as scikit-learn does), exact Euclidean neighbours.
 *
 * Fit, for each normal row p, with N(p) its k nearest OTHER normal rows:
 *   k-dist(o)          = distance from o to its k-th nearest other normal row
 *   reach(p, o)        = max(k-dist(o), ‖p − o‖)
 *   lrd(p)             = 1 / (mean_{o ∈ N(p)} reach(p, o) + 1e-10)
 * Score a new row x, with N(x) its k nearest normal rows (a normal row itself, at distance 0, counts):
 *   LOF(x)             = mean_{o ∈ N(x)} lrd(o) / lrd(x)
 *
 * scikit-learn's score_samples is −LOF(x) and decision_function is −LOF(x) − offset_ (offset_ = −1.5 for
 * contamination="auto"); we return LOF(x) (higher = more anomalous), so AUROCs are unchanged. Neighbours are
 * found by brute force, O(n² d) to fit and O(n d) per scored row; equal distances are broken by the lower row index.
 */
import { checkRows, checkScoreRows, sqDist, type AnomalyDetector } from "./common.ts";

export interface LofOptions {
  nNeighbors?: number;
}

/** The k nearest rows of `ref` to row i of `x` (skipping ref row `skip`), written ascending into dist/index. */
function kNearest(x: Float64Array, i: number, ref: Float64Array, nRef: number, d: number, k: number, skip: number, dist: Float64Array, index: Int32Array): void {
  let filled = 0;
  for (let j = 0; j < nRef; j++) {
    if (j === skip) continue;
    const s = sqDist(x, i, ref, j, d);
    if (filled === k && s >= dist[k - 1]) continue;
    let p = filled < k ? filled++ : k - 1;
    while (p > 0 && dist[p - 1] > s) {
      dist[p] = dist[p - 1];
      index[p] = index[p - 1];
      p--;
    }
    dist[p] = s;
    index[p] = j;
  }
  for (let q = 0; q < k; q++) dist[q] = Math.sqrt(dist[q]);
}

export class LofDetector implements AnomalyDetector {
  constructor(
    readonly d: number,
    readonly k: number,
    private readonly fitX: Float64Array,
    private readonly nFit: number,
    /** k-distance of each normal row */
    readonly kDistance: Float64Array,
    /** local reachability density of each normal row */
    readonly lrd: Float64Array,
  ) {}

  score(x: Float64Array, n: number, d: number): Float64Array {
    checkScoreRows(x, n, d, this.d, "lof: rows to score");
    const { k } = this;
    const out = new Float64Array(n);
    const dist = new Float64Array(k), index = new Int32Array(k);
    for (let i = 0; i < n; i++) {
      kNearest(x, i, this.fitX, this.nFit, d, k, -1, dist, index);
      let reach = 0, ratio = 0;
      for (let q = 0; q < k; q++) {
        reach += Math.max(this.kDistance[index[q]], dist[q]);
        ratio += this.lrd[index[q]];
      }
      const lrdX = 1 / (reach / k + 1e-10);
      out[i] = ratio / k / lrdX;
    }
    return out;
  }
}

export function fitLof(normal: Float64Array, n: number, d: number, opts: LofOptions = {}): LofDetector {
  checkRows(normal, n, d, "lof: normal rows");
  if (n < 2) throw new RangeError(`lof: too few normal rows: ${n}; at least 2 are needed (each needs a neighbour)`);
  const want = opts.nNeighbors ?? 20;
  if (!(Number.isInteger(want) && want >= 1)) throw new RangeError(`lof: nNeighbors = ${want}`);
  const k = Math.max(1, Math.min(want, n - 1));
  const nbrDist = new Float64Array(n * k);
  const nbrIdx = new Int32Array(n * k);
  const kDistance = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const dist = nbrDist.subarray(i * k, (i + 1) * k), index = nbrIdx.subarray(i * k, (i + 1) * k);
    kNearest(normal, i, normal, n, d, k, i, dist, index);
    kDistance[i] = dist[k - 1];
  }
  const lrd = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let reach = 0;
    for (let q = 0; q < k; q++) reach += Math.max(kDistance[nbrIdx[i * k + q]], nbrDist[i * k + q]);
    lrd[i] = 1 / (reach / k + 1e-10);
  }
  return new LofDetector(d, k, normal.slice(), n, kDistance, lrd);
}
