/**
 * The data type every probe takes, and the input checks they share.
 *
 * A `Matrix` is row-major (rows, cols): element (i, j) is `data[i * cols + j]`. Examples are rows.
 * Contrast-pair methods take (n, 2, d) states as a Matrix with cols = 2d: columns [0, d) hold the
 * state after the FALSE choice's first token and [d, 2d) the state after the TRUE choice's (the
 * reference's `ccs_hiddens[..., 0, :]` / `[..., 1, :]`; choices are ordered [false, true]).
 * Reshaping such a Matrix to (2n, d) is free: rows become false_0, true_0, false_1, true_1, …
 */
export interface Matrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

/** A Matrix from rows of numbers (for tests and small inputs). */
export function matrixFromRows(rows: ArrayLike<number>[], cols?: number): Matrix {
  const c = cols ?? (rows.length ? rows[0].length : 0);
  const data = new Float32Array(rows.length * c);
  rows.forEach((r, i) => {
    if (r.length !== c) throw new Error(`matrixFromRows: row ${i} has ${r.length} entries, expected ${c}`);
    for (let j = 0; j < c; j++) data[i * c + j] = r[j];
  });
  return { data, rows: rows.length, cols: c };
}

/** The rows of a Matrix as arrays of numbers (for tests and for handing states to other tools). */
export function matrixToRows(m: Matrix): number[][] {
  return Array.from({ length: m.rows }, (_, i) => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)));
}

/** The rows of m where keep is true, in order. */
export function rowsWhere(m: Matrix, keep: boolean[]): Matrix {
  const idx = keep.flatMap((k, i) => (k ? [i] : []));
  const data = new Float32Array(idx.length * m.cols);
  idx.forEach((r, j) => data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), j * m.cols));
  return { data, rows: idx.length, cols: m.cols };
}

/** Shape check plus the first non-finite entry, named by row and column. */
export function checkMatrix(x: Matrix, what = "x"): void {
  if (!x || !(x.data instanceof Float32Array)) throw new TypeError(`${what}: expected a Matrix with Float32Array data`);
  const { rows, cols, data } = x;
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 1) {
    throw new Error(`${what}: bad shape (${rows}, ${cols})`);
  }
  if (data.length !== rows * cols) throw new Error(`${what}: data has ${data.length} numbers but shape (${rows}, ${cols}) needs ${rows * cols}`);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) {
      const r = Math.floor(i / cols);
      throw new Error(`${what}: row ${r} column ${i - r * cols} is ${v} (every entry must be finite)`);
    }
  }
}

/** Labels must be one 0/1 per row of x. Returns the count of each class. */
export function checkLabels(labels: Uint8Array, rows: number, what = "labels"): { n0: number; n1: number } {
  if (!(labels instanceof Uint8Array)) throw new TypeError(`${what}: expected a Uint8Array of 0/1`);
  if (labels.length !== rows) throw new Error(`${what} has ${labels.length} entries but x has ${rows} rows`);
  let n1 = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y > 1) throw new Error(`${what}[${i}] is ${y}; labels must be 0 or 1`);
    n1 += y;
  }
  return { n0: rows - n1, n1 };
}

/** Throws unless both classes occur (for reporters that compare the classes). */
export function requireBothClasses(name: string, counts: { n0: number; n1: number }): void {
  if (counts.n0 === 0 || counts.n1 === 0) {
    const only = counts.n0 === 0 ? 1 : 0;
    throw new Error(`${name} needs both classes in its training labels, but all ${counts.n0 + counts.n1} are ${only}`);
  }
}

/** Pair layout check: cols = 2d. Returns d. */
export function pairDim(x: Matrix, name: string): number {
  if (x.cols % 2 !== 0) throw new Error(`${name} takes contrast pairs (n, 2, d) as a Matrix with cols = 2d; got ${x.cols} columns`);
  return x.cols / 2;
}

/** Float64 copy of the (rows, cols) data, optionally of one column block [c0, c0 + width). */
export function toFloat64(x: Matrix, c0 = 0, width = x.cols - c0): Float64Array {
  const out = new Float64Array(x.rows * width);
  if (c0 === 0 && width === x.cols) {
    out.set(x.data);
    return out;
  }
  for (let i = 0; i < x.rows; i++) {
    const src = x.data.subarray(i * x.cols + c0, i * x.cols + c0 + width);
    out.set(src, i * width);
  }
  return out;
}
