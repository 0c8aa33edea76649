/**
 * Shared pieces of the anomaly detectors: the row-matrix type, input checks and squared distances.
 *
 * Feature matrices are row-major Float64Arrays of n rows by d columns (for the paper's experiment:
 * one row per example, one column per layer's probe log-odds).
 */

/** A detector is fitted on normal rows (n, d) and scores new rows: higher = more anomalous. */
export interface AnomalyDetector {
  score(x: Float64Array, n: number, d: number): Float64Array;
}

/**
 * Throws a clear error unless `x` holds exactly n·d finite values (n ≥ minRows, d ≥ 1).
 * A non-finite entry is reported by its row and column.
 */
export function checkRows(x: Float64Array, n: number, d: number, what: string, minRows = 0): void {
  if (!(x instanceof Float64Array)) throw new TypeError(`${what}: expected a Float64Array, got ${Object.prototype.toString.call(x)}`);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${what}: row count n = ${n} is not a non-negative integer`);
  if (!Number.isInteger(d) || d < 1) throw new RangeError(`${what}: column count d = ${d} is not a positive integer`);
  if (x.length !== n * d) throw new RangeError(`${what}: dimension mismatch: ${x.length} values for n = ${n} rows × d = ${d} columns (expected ${n * d})`);
  if (n < minRows) throw new RangeError(`${what}: ${n} rows, but at least ${minRows} are needed`);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v - v !== 0) {
      const row = Math.floor(i / d);
      throw new RangeError(`${what}: row ${row} has ${v} in column ${i % d} (all features must be finite)`);
    }
  }
}

/** Throws unless rows to score have the fitted width. */
export function checkScoreRows(x: Float64Array, n: number, d: number, fittedD: number, what: string): void {
  if (d !== fittedD) throw new RangeError(`${what}: dimension mismatch: fitted on d = ${fittedD} features, asked to score rows of d = ${d}`);
  checkRows(x, n, d, what);
}

/** ‖a_i − b_j‖² for row i of a and row j of b (both with d columns). */
export function sqDist(a: Float64Array, i: number, b: Float64Array, j: number, d: number): number {
  let s = 0;
  const oa = i * d, ob = j * d;
  for (let k = 0; k < d; k++) {
    const t = a[oa + k] - b[ob + k];
    s += t * t;
  }
  return s;
}
