/**
 * Symmetric eigendecomposition  A = V Λ Vᵀ  (A real symmetric n×n, Λ ascending, V orthogonal), in float64.
 *
 * Two classical stages:
 *   1. Householder tridiagonalisation  T = Qᵀ A Q,  Q = H_{n-1} ⋯ H_2,  H_i = I − τ_i v_i v_iᵀ
 *      (v_i zero beyond index i−1, v_i[i−1] = 1), reducing rows from the bottom as EISPACK's tred2 does,
 *      so every inner loop walks a contiguous row of the lower triangle.
 *   2. Implicit-shift QL on T (Wilkinson-type shift, as tqli/tql2), giving Λ and T = Z Λ Zᵀ with
 *      Z = G_1 G_2 ⋯ G_M a product of plane rotations.
 *
 * V = Q Z is never formed unless asked: the rotations (i, c, s) and the reflectors are kept, so
 * Vᵀb and Vy cost O(n² + M) per vector (M ≈ n² rotations) instead of the O(n³) of accumulating V.
 * The probes only ever need V applied to a few vectors (a pseudo-inverse times a mean difference,
 * Σ^{±1/2} times a cross-covariance, one principal direction), which is what makes a 1024-dimensional
 * decomposition take a fraction of a second in JavaScript. `vectors()` forms V when it is wanted.
 *
 * `eighAsync` does stage 1 blocked (LAPACK dsytrd/dlatrd style): within a panel of `blockSize` reflectors
 * the leading block is kept as B − V Wᵀ − W Vᵀ, each step needs only the matrix-vector product B v
 * (onnxruntime) plus O(n·blockSize) corrections, and after the panel the rank-2·blockSize update
 * [V W]·[W V]ᵀ is one float64 GEMM. Same reflectors as the unblocked loop up to rounding.
 */
import { gemm64 } from "./gemm64.ts";
export class SymEig {
  /** eigenvalues, ascending */
  readonly values: Float64Array;
  private readonly h: Float64Array; // row i (i ≥ 2) holds v_i in columns [0, i)
  private readonly tau: Float64Array;
  private readonly rotI: Int32Array;
  private readonly rotC: Float64Array;
  private readonly rotS: Float64Array;
  private readonly perm: Int32Array; // values[k] = diag[perm[k]] after QL

  private constructor(
    readonly n: number,
    values: Float64Array,
    h: Float64Array,
    tau: Float64Array,
    rot: { i: Int32Array; c: Float64Array; s: Float64Array },
    perm: Int32Array,
  ) {
    this.values = values;
    this.h = h;
    this.tau = tau;
    this.rotI = rot.i;
    this.rotC = rot.c;
    this.rotS = rot.s;
    this.perm = perm;
  }

  /** Decompose the symmetric n×n row-major matrix `a` (its lower triangle is read; `a` is not changed). */
  static of(a: Float64Array, n: number): SymEig {
    const h = checked(a, n);
    const d = new Float64Array(n);
    const e = new Float64Array(n); // e[j] couples j and j+1
    const tau = new Float64Array(n);
    tridiagonalize(h, n, d, e, tau);
    return SymEig.finish(n, h, d, e, tau);
  }

  /** As `of`, with the blocked reduction (products on onnxruntime) when n > 2·blockSize; `a` must be fully symmetric. */
  static async ofAsync(a: Float64Array, n: number, blockSize = 32): Promise<SymEig> {
    if (n <= 2 * blockSize) return SymEig.of(a, n);
    const b = checked(a, n);
    const h = new Float64Array(n * n);
    const d = new Float64Array(n);
    const e = new Float64Array(n);
    const tau = new Float64Array(n);
    await tridiagonalizeBlocked(b, n, d, e, tau, h, blockSize);
    return SymEig.finish(n, h, d, e, tau);
  }

  private static finish(n: number, h: Float64Array, d: Float64Array, e: Float64Array, tau: Float64Array): SymEig {
    const rot = implicitQL(d, e, n);
    const perm = Int32Array.from({ length: n }, (_, i) => i).sort((p, q) => d[p] - d[q]);
    const values = Float64Array.from(perm, (p) => d[p]);
    return new SymEig(n, values, h, tau, rot, perm);
  }

  /** Number of plane rotations kept (≈ the QL work). */
  get rotations(): number {
    return this.rotI.length;
  }

  /** Vᵀ b for each of the k rows of `b` (k×n row-major); result k×n, coordinates in ascending-eigenvalue order. */
  applyVT(b: Float64Array, k = 1): Float64Array {
    const n = this.n;
    const out = new Float64Array(k * n);
    const y = new Float64Array(n);
    for (let r = 0; r < k; r++) {
      y.set(b.subarray(r * n, r * n + n));
      // Qᵀ y = H_2 ⋯ H_{n−1} y: apply H_{n−1} first
      for (let i = n - 1; i >= 2; i--) this.reflect(i, y);
      // Zᵀ y = G_Mᵀ ⋯ G_1ᵀ y: apply G_1ᵀ first
      const { rotI, rotC, rotS } = this;
      for (let t = 0; t < rotI.length; t++) {
        const i = rotI[t], c = rotC[t], s = rotS[t];
        const yi = y[i], yj = y[i + 1];
        y[i + 1] = s * yi + c * yj;
        y[i] = c * yi - s * yj;
      }
      for (let j = 0; j < n; j++) out[r * n + j] = y[this.perm[j]];
    }
    return out;
  }

  /** V y for each of the k rows of `y` (coordinates in ascending-eigenvalue order); result k×n. */
  applyV(yIn: Float64Array, k = 1): Float64Array {
    const n = this.n;
    const out = new Float64Array(k * n);
    const z = new Float64Array(n);
    for (let r = 0; r < k; r++) {
      for (let j = 0; j < n; j++) z[this.perm[j]] = yIn[r * n + j];
      const { rotI, rotC, rotS } = this;
      for (let t = rotI.length - 1; t >= 0; t--) {
        const i = rotI[t], c = rotC[t], s = rotS[t];
        const zi = z[i], zj = z[i + 1];
        z[i] = c * zi + s * zj;
        z[i + 1] = c * zj - s * zi;
      }
      for (let i = 2; i < n; i++) this.reflect(i, z);
      out.set(z, r * n);
    }
    return out;
  }

  /** V f(Λ) Vᵀ b for the k rows of b (a spectral function of A applied to vectors). */
  applyFunction(f: (lambda: number, index: number) => number, b: Float64Array, k = 1): Float64Array {
    const y = this.applyVT(b, k);
    const n = this.n;
    const fl = Float64Array.from(this.values, f);
    for (let r = 0; r < k; r++) for (let j = 0; j < n; j++) y[r * n + j] *= fl[j];
    return this.applyV(y, k);
  }

  /** The eigenvector of values[index], unit norm, sign chosen so its largest-magnitude entry is positive. */
  vector(index: number): Float64Array {
    const e = new Float64Array(this.n);
    e[index] = 1;
    const v = this.applyV(e);
    let big = 0;
    for (let j = 1; j < v.length; j++) if (Math.abs(v[j]) > Math.abs(v[big])) big = j;
    if (v[big] < 0) for (let j = 0; j < v.length; j++) v[j] = -v[j];
    return v;
  }

  /** All eigenvectors as an n×n row-major matrix whose ROW k is the eigenvector of values[k]. O(n³). */
  vectors(): Float64Array {
    const n = this.n;
    const eye = new Float64Array(n * n);
    for (let i = 0; i < n; i++) eye[i * n + i] = 1;
    return this.applyV(eye, n);
  }

  private reflect(i: number, y: Float64Array): void {
    const t = this.tau[i];
    if (t === 0) return;
    const off = i * this.n;
    const h = this.h;
    let s = 0;
    for (let j = 0; j < i; j++) s += h[off + j] * y[j];
    s *= t;
    for (let j = 0; j < i; j++) y[j] -= s * h[off + j];
  }
}

/** Eigen-decompose a symmetric matrix (JavaScript only; fine up to a few hundred). */
export const eigh = (a: Float64Array, n: number): SymEig => SymEig.of(a, n);

/** Eigen-decompose a (fully stored) symmetric matrix, blocked with onnxruntime products for large n. */
export const eighAsync = (a: Float64Array, n: number, blockSize = 32): Promise<SymEig> => SymEig.ofAsync(a, n, blockSize);

function checked(a: Float64Array, n: number): Float64Array {
  if (a.length < n * n) throw new Error(`eigh: matrix has ${a.length} entries, expected ${n * n}`);
  const h = a.slice(0, n * n);
  for (let i = 0; i < h.length; i++) if (!Number.isFinite(h[i])) throw new Error(`eigh: entry (${Math.floor(i / n)}, ${i % n}) is ${h[i]}`);
  return h;
}

/**
 * Blocked version of `tridiagonalize`. `b` (n×n, full symmetric, consumed) holds the current leading block
 * contiguously (m×m); reflectors go to the rows of `h`.
 */
async function tridiagonalizeBlocked(b: Float64Array, n: number, d: Float64Array, e: Float64Array, tau: Float64Array, h: Float64Array, nb: number): Promise<void> {
  let m = n; // b is m×m, indices 0..m−1, and the next step is i = m − 1
  let i = n - 1;
  const x = new Float64Array(n);
  while (i >= 2) {
    const panel = Math.min(nb, i - 1);
    const V: Float64Array[] = [];
    const W: Float64Array[] = [];
    const vpad = new Float64Array(m);
    for (let k = 0; k < panel; k++) {
      const s = i - k; // reduce row s against the leading block 0..s−1
      // current row s and diagonal: B − Σ_q (v_q w_qᵀ + w_q v_qᵀ)
      const rs = s * m;
      for (let c = 0; c < s; c++) x[c] = b[rs + c];
      let diag = b[rs + s];
      for (let q = 0; q < k; q++) {
        const vq = V[q], wq = W[q];
        const vs = vq[s], ws = wq[s];
        diag -= 2 * vs * ws;
        if (vs !== 0 || ws !== 0) for (let c = 0; c < s; c++) x[c] -= vs * wq[c] + ws * vq[c];
      }
      d[s] = diag;
      const v = new Float64Array(m);
      const w = new Float64Array(m);
      V.push(v);
      W.push(w);
      const { tau: t, beta } = householder(x, 0, s - 1);
      tau[s] = t;
      e[s - 1] = beta;
      if (t === 0) continue;
      v.set(x.subarray(0, s));
      h.set(v.subarray(0, s), s * n);
      // p = τ (B v − V (Wᵀv) − W (Vᵀv)) on 0..s−1
      vpad.set(v);
      const bv = await gemm64(b, vpad, s, m, 1);
      const p = new Float64Array(s);
      for (let c = 0; c < s; c++) p[c] = bv[c];
      for (let q = 0; q < k; q++) {
        const vq = V[q], wq = W[q];
        let wv = 0, vv = 0;
        for (let c = 0; c < s; c++) {
          wv += wq[c] * v[c];
          vv += vq[c] * v[c];
        }
        for (let c = 0; c < s; c++) p[c] -= vq[c] * wv + wq[c] * vv;
      }
      let pv = 0;
      for (let c = 0; c < s; c++) {
        p[c] *= t;
        pv += p[c] * v[c];
      }
      const half = (t * pv) / 2;
      for (let c = 0; c < s; c++) w[c] = p[c] - half * v[c];
    }
    // B ← (B − [V W][W V]ᵀ) restricted to the next leading block 0..m'−1
    const next = i - panel;
    const m2 = next + 1;
    const L = new Float64Array(m2 * 2 * panel);
    const R = new Float64Array(m2 * 2 * panel);
    for (let r = 0; r < m2; r++) {
      const o = r * 2 * panel;
      for (let q = 0; q < panel; q++) {
        L[o + q] = V[q][r];
        L[o + panel + q] = W[q][r];
        R[o + q] = W[q][r];
        R[o + panel + q] = V[q][r];
      }
    }
    const P = await gemm64(L, R, m2, 2 * panel, m2, { transB: true });
    for (let r = 0; r < m2; r++) {
      const src = r * m, dst = r * m2;
      for (let c = 0; c < m2; c++) b[dst + c] = b[src + c] - P[dst + c];
    }
    m = m2;
    i = next;
  }
  // here m = i + 1 ≤ 2
  if (m >= 2) {
    d[1] = b[m + 1];
    e[0] = b[m];
  }
  d[0] = b[0];
  e[n - 1] = 0;
}

/**
 * The Householder reflection H = I − τ v vᵀ that maps the row [x_0 … x_{k−1}, α] (stored at a[off…off+k]) to
 * [0 … 0, β]: β = −sign(α)·‖[x, α]‖, τ = (β − α)/β, and v = [x/(α − β), 1] is written over the row in place.
 * τ = 0 (no reflection, the row left as it is, β = α) when x is already zero.
 */
function householder(a: Float64Array, off: number, k: number): { tau: number; beta: number } {
  let sigma = 0;
  for (let j = 0; j < k; j++) sigma += a[off + j] * a[off + j];
  const alpha = a[off + k];
  if (sigma === 0) return { tau: 0, beta: alpha };
  const norm = Math.sqrt(alpha * alpha + sigma);
  const beta = alpha <= 0 ? norm : -norm;
  const scal = 1 / (alpha - beta);
  for (let j = 0; j < k; j++) a[off + j] *= scal;
  a[off + k] = 1;
  return { tau: (beta - alpha) / beta, beta };
}

/** Householder reduction of the lower triangle of `a` (in place) to tridiagonal (d, e); reflectors left in `a`'s rows. */
function tridiagonalize(a: Float64Array, n: number, d: Float64Array, e: Float64Array, tau: Float64Array): void {
  const p = new Float64Array(n);
  const w = new Float64Array(n);
  for (let i = n - 1; i >= 2; i--) {
    const ri = i * n;
    d[i] = a[ri + i];
    const { tau: t, beta } = householder(a, ri, i - 1);
    tau[i] = t;
    e[i - 1] = beta;
    if (t === 0) continue;
    const v = a.subarray(ri, ri + i);
    // p = τ B v with B the leading i×i block, read from its lower triangle (each entry used twice)
    p.fill(0, 0, i);
    for (let r = 0; r < i; r++) {
      const rr = r * n;
      const vr = v[r];
      let acc = 0;
      for (let c = 0; c < r; c++) {
        const b = a[rr + c];
        acc += b * v[c];
        p[c] += b * vr;
      }
      p[r] += acc + a[rr + r] * vr;
    }
    let pv = 0;
    for (let r = 0; r < i; r++) {
      p[r] *= t;
      pv += p[r] * v[r];
    }
    const half = (t * pv) / 2;
    for (let r = 0; r < i; r++) w[r] = p[r] - half * v[r];
    // B ← H B H = B − v wᵀ − w vᵀ (lower triangle)
    for (let r = 0; r < i; r++) {
      const rr = r * n;
      const vr = v[r], wr = w[r];
      for (let c = 0; c <= r; c++) a[rr + c] -= vr * w[c] + wr * v[c];
    }
  }
  if (n >= 2) {
    d[1] = a[n + 1];
    e[0] = a[n];
  }
  if (n >= 1) d[0] = a[0];
  e[n - 1] = 0;
}

/** Implicit QL with shifts on the tridiagonal (d, e); d becomes the eigenvalues; returns the rotations applied. */
function implicitQL(d: Float64Array, e: Float64Array, n: number): { i: Int32Array; c: Float64Array; s: Float64Array } {
  let cap = Math.max(64, 4 * n);
  let ri = new Int32Array(cap), rc = new Float64Array(cap), rs = new Float64Array(cap);
  let len = 0;
  const EPS = 2 ** -52;
  for (let l = 0; l < n; l++) {
    let iter = 0;
    for (;;) {
      let m = l;
      for (; m < n - 1; m++) {
        const dd = Math.abs(d[m]) + Math.abs(d[m + 1]);
        if (Math.abs(e[m]) <= EPS * dd) break;
      }
      if (m === l) break;
      if (iter++ === 100) throw new Error(`eigh: QL did not converge for eigenvalue ${l}`);
      let g = (d[l + 1] - d[l]) / (2 * e[l]);
      let r = Math.hypot(g, 1);
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
      let s = 1, c = 1, p = 0;
      let underflow = false;
      if (len + (m - l) > cap) {
        cap = Math.max(2 * cap, len + (m - l));
        const ni = new Int32Array(cap), nc = new Float64Array(cap), ns = new Float64Array(cap);
        ni.set(ri.subarray(0, len));
        nc.set(rc.subarray(0, len));
        ns.set(rs.subarray(0, len));
        ri = ni;
        rc = nc;
        rs = ns;
      }
      for (let i = m - 1; i >= l; i--) {
        const f = s * e[i];
        const b = c * e[i];
        r = Math.hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          d[i + 1] -= p;
          e[m] = 0;
          underflow = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        ri[len] = i;
        rc[len] = c;
        rs[len] = s;
        len++;
      }
      if (underflow) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
  return { i: ri.slice(0, len), c: rc.slice(0, len), s: rs.slice(0, len) };
}
