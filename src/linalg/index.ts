/**
 * Small float64 linear algebra, used by the probes and by anomaly detection:
 *
 *   gram(X)            XᵀX for X (n×d), on onnxruntime's double GEMM (the O(n d²) work)
 *   columnMeans(X)     μ_j = (1/n) Σ_i X_ij
 *   matVec(A, x)       A x  (JavaScript; O(rows·cols))
 *   eigh(Async)        A = V Λ Vᵀ for symmetric A (see eigh.ts; the async one is blocked on onnxruntime)
 *   pinvSymApply       A⁺ b = Σ_{|λ_i| > rtol·max|λ|} v_i v_iᵀ b / λ_i  (torch.linalg.pinv's cut-off rule)
 *   thinSvd(M)         M = U diag(s) Vᵀ for a tall d×k M (k small), through the k×k Gram matrix
 *
 * Matrices are row-major Float64Arrays with their shape passed alongside.
 */
import { gemm64 } from "./gemm64.ts";
import { SymEig, eigh, eighAsync } from "./eigh.ts";

export { SymEig, eigh, eighAsync, gemm64 };

/** Σ_j a_j b_j */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>, n = a.length, offA = 0, offB = 0): number {
  let s = 0;
  for (let j = 0; j < n; j++) s += a[offA + j] * b[offB + j];
  return s;
}

/** Euclidean norm. */
export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

/** A x for A (rows×cols) row-major, data float32 or float64. */
export function matVec(a: ArrayLike<number>, rows: number, cols: number, x: ArrayLike<number>): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) out[i] = dot(a, x, cols, i * cols, 0);
  return out;
}

/** Column means of a rows×cols matrix (float64 accumulation). */
export function columnMeans(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const mu = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    const off = i * cols;
    for (let j = 0; j < cols; j++) mu[j] += a[off + j];
  }
  for (let j = 0; j < cols; j++) mu[j] /= rows;
  return mu;
}

/** XᵀX (d×d) of X (n×d), made exactly symmetric. */
export async function gram(x: Float64Array, n: number, d: number): Promise<Float64Array> {
  const g = await gemm64(x, x, d, n, d, { transA: true });
  symmetrize(g, d);
  return g;
}

/** A ← (A + Aᵀ)/2 in place. */
export function symmetrize(a: Float64Array, n: number): Float64Array {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const m = (a[i * n + j] + a[j * n + i]) / 2;
      a[i * n + j] = m;
      a[j * n + i] = m;
    }
  }
  return a;
}

/** Transpose of a rows×cols matrix (in 32×32 tiles, so large ones stay cache-friendly). */
export function transpose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  const B = 32;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(rows, i0 + B);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(cols, j0 + B);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) t[j * rows + i] = a[i * cols + j];
    }
  }
  return t;
}

/** Small dense product C (m×p) = A (m×k) · B (k×p), JavaScript. */
export function matMul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, p: number): Float64Array {
  const c = new Float64Array(m * p);
  for (let i = 0; i < m; i++) {
    for (let t = 0; t < k; t++) {
      const av = a[i * k + t];
      if (av === 0) continue;
      for (let j = 0; j < p; j++) c[i * p + j] += av * b[t * p + j];
    }
  }
  return c;
}

/**
 * A⁺ b for symmetric A given its eigendecomposition, with torch.linalg.pinv's rule: singular values
 * (here |λ|) at or below rtol · max|λ| are treated as zero. Returns the result and how many were kept.
 */
export function pinvSymApply(eig: SymEig, b: Float64Array, rtol: number): { x: Float64Array; rank: number } {
  let big = 0;
  for (const l of eig.values) big = Math.max(big, Math.abs(l));
  const cut = rtol * big;
  let rank = 0;
  const x = eig.applyFunction((l) => {
    if (Math.abs(l) > cut) {
      rank++;
      return 1 / l;
    }
    return 0;
  }, b);
  return { x, rank };
}

/**
 * Thin SVD of a tall matrix M (d×k row-major, k ≪ d): singular values descending, U (d×k) row-major.
 * Computed from the eigenpairs of MᵀM; columns of U whose singular value is 0 are left zero.
 */
export function thinSvd(m: Float64Array, d: number, k: number): { u: Float64Array; s: Float64Array } {
  const g = new Float64Array(k * k);
  for (let a = 0; a < k; a++) {
    for (let b = 0; b <= a; b++) {
      let t = 0;
      for (let i = 0; i < d; i++) t += m[i * k + a] * m[i * k + b];
      g[a * k + b] = t;
      g[b * k + a] = t;
    }
  }
  const e = eigh(g, k);
  const vecs = e.vectors(); // row c = eigenvector c (ascending)
  const s = new Float64Array(k);
  const u = new Float64Array(d * k);
  for (let c = 0; c < k; c++) {
    const src = k - 1 - c; // descending
    const sv = Math.sqrt(Math.max(e.values[src], 0));
    s[c] = sv;
    if (sv === 0) continue;
    for (let i = 0; i < d; i++) {
      let t = 0;
      for (let a = 0; a < k; a++) t += m[i * k + a] * vecs[src * k + a];
      u[i * k + c] = t / sv;
    }
  }
  return { u, s };
}
