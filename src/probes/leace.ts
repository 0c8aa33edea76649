/**
 * LEACE — LEAst-squares Concept Erasure (Belrose et al. 2023, arXiv:2306.03819), matching the
 * `concept-erasure` package v0.2.4 with its defaults (affine, optimal linear shrinkage of Σ_xx,
 * constrain_cov_trace, svd_tol = 0.01).
 *
 * Fitter (streaming moments, Welford/Chan updates that are exact for any chunking):
 *   μ_x, μ_z, C_xx = Σ (x−μ_x)(x−μ_x)ᵀ, C_xz = Σ (x−μ_x)(z−μ_z)ᵀ, n
 *   Σ_xx = shrink(sym(C_xx)/n, n)          (or sym(C_xx)/(n−1) without shrinkage)
 *   Σ_xz = C_xz / (n−1)
 * Eraser, from Σ_xx = V Λ Vᵀ:
 *   W  = V diag(m/√λ) Vᵀ,  W⁺ = V diag(m·√λ) Vᵀ,   m_i = [λ_i > λ_max · d · ε]   (torch.linalg.pinv's cut)
 *   U  = left singular vectors of W Σ_xz with singular value > svd_tol
 *   r(x) = x − W⁺ U Uᵀ W (x − μ_x)                 (P = I − W⁺UUᵀW, the oblique projection)
 * Trace constraint: if tr(P Σ Pᵀ) > tr(Σ), P is replaced by αP + (1−α)Q with Q = I − UUᵀ and α ∈ [0, 1]
 * solving tr = tr(Σ) (the reference's quadratic). The eraser is stored as the low-rank factors of
 * I − P: r(x) = x − L R (x − μ), L = projLeft (d×r), R = projRight (r×d).
 */
import { FLOAT32_EPS, optimalLinearShrinkage } from "./shrinkage.ts";
import { eighAsync, gemm64, matMul, symmetrize, thinSvd, transpose } from "../linalg/index.ts";

/** Row-major data of any float type. */
export interface Rows {
  data: Float32Array | Float64Array;
  rows: number;
  cols: number;
}

export interface LeaceOptions {
  /** keep the mean: r(x) = x − P'(x − μ) (default true) */
  affine?: boolean;
  /** never let the erasure raise tr Σ (default true) */
  constrainCovTrace?: boolean;
  /** optimal linear shrinkage of Σ_xx (default true) */
  shrinkage?: boolean;
  /** singular values of WΣ_xz at or below this are dropped (default 0.01) */
  svdTol?: number;
  /** machine epsilon used in the eigenvalue cut and the shrinkage ε (default float32's, as the reference ran) */
  eps?: number;
}

/** The fitted affine eraser r(x) = x − L R (x − bias). */
export class LeaceEraser {
  constructor(
    /** d×r row-major */
    readonly projLeft: Float64Array,
    /** r×d row-major */
    readonly projRight: Float64Array,
    readonly bias: Float64Array | null,
    readonly dim: number,
    readonly rank: number,
    /** fit diagnostics */
    readonly info: { singularValues: number[]; traceConstrained: boolean; alpha: number; shrinkage: { alpha: number; beta: number } | null } = {
      singularValues: [],
      traceConstrained: false,
      alpha: 1,
      shrinkage: null,
    },
  ) {}

  /** The d×d projection matrix P = I − L R (O(d² r); for tests and inspection). */
  P(): Float64Array {
    const d = this.dim;
    const lr = matMul(this.projLeft, this.projRight, d, this.rank, d);
    for (let i = 0; i < d * d; i++) lr[i] = -lr[i];
    for (let i = 0; i < d; i++) lr[i * d + i] += 1;
    return lr;
  }

  /** r(x) for every row of x (rows×d, optionally a column block [c0, c0+d) of a wider matrix); float64 result rows×d. */
  apply(x: Rows, c0 = 0): Float64Array {
    const d = this.dim, r = this.rank;
    if (x.cols < c0 + d) throw new Error(`LeaceEraser: expected ${d} features, got ${x.cols - c0}`);
    const out = new Float64Array(x.rows * d);
    const t = new Float64Array(r);
    const { projLeft: L, projRight: R, bias } = this;
    for (let i = 0; i < x.rows; i++) {
      const off = i * x.cols + c0;
      const o = i * d;
      for (let j = 0; j < d; j++) out[o + j] = x.data[off + j];
      if (r === 0) continue;
      for (let a = 0; a < r; a++) {
        let s = 0;
        const ro = a * d;
        if (bias) for (let j = 0; j < d; j++) s += R[ro + j] * (out[o + j] - bias[j]);
        else for (let j = 0; j < d; j++) s += R[ro + j] * out[o + j];
        t[a] = s;
      }
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let a = 0; a < r; a++) s += L[j * r + a] * t[a];
        out[o + j] -= s;
      }
    }
    return out;
  }

  /** (I − L R)ᵀ w = w − Rᵀ (Lᵀ w): the direction that reads w·r(x) off x (up to the constant). */
  pullBack(w: ArrayLike<number>): Float64Array {
    const d = this.dim, r = this.rank;
    const out = Float64Array.from(w);
    for (let a = 0; a < r; a++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += this.projLeft[j * r + a] * w[j];
      for (let j = 0; j < d; j++) out[j] -= s * this.projRight[a * d + j];
    }
    return out;
  }

  toJSON(): object {
    return {
      dim: this.dim,
      rank: this.rank,
      projLeft: Array.from(this.projLeft),
      projRight: Array.from(this.projRight),
      bias: this.bias ? Array.from(this.bias) : null,
      info: this.info,
    };
  }

  static fromJSON(o: any): LeaceEraser {
    return new LeaceEraser(Float64Array.from(o.projLeft), Float64Array.from(o.projRight), o.bias ? Float64Array.from(o.bias) : null, o.dim, o.rank, o.info);
  }
}

const CHUNK = 4096;

/** Streaming LEACE statistics; `eraser()` computes (and caches) the eraser from what has been seen. */
export class LeaceFitter {
  n = 0;
  readonly meanX: Float64Array;
  readonly meanZ: Float64Array;
  /** unnormalised Σ (x−μ_old)(x−μ_new)ᵀ, d×d */
  readonly sigmaXX_: Float64Array;
  /** unnormalised Σ (x−μ_x,old)(z−μ_z,new)ᵀ, d×k */
  readonly sigmaXZ_: Float64Array;
  private cached: LeaceEraser | null = null;
  readonly opts: Required<LeaceOptions>;

  constructor(
    readonly xDim: number,
    readonly zDim: number,
    opts: LeaceOptions = {},
  ) {
    this.opts = { affine: true, constrainCovTrace: true, shrinkage: true, svdTol: 0.01, eps: FLOAT32_EPS, ...opts };
    if (!(this.opts.svdTol > 0)) throw new Error("LEACE: svdTol must be positive for numerical stability");
    this.meanX = new Float64Array(xDim);
    this.meanZ = new Float64Array(zDim);
    this.sigmaXX_ = new Float64Array(xDim * xDim);
    this.sigmaXZ_ = new Float64Array(xDim * zDim);
  }

  /** Fit on all of x (n×d) and z (n×k) at once. */
  static async fit(x: Rows, z: Float64Array, opts: LeaceOptions = {}): Promise<LeaceFitter> {
    const k = x.rows ? z.length / x.rows : 1;
    const f = new LeaceFitter(x.cols, k, opts);
    await f.update(x, z);
    return f;
  }

  /** Add a batch: x (rows×d; or the column block [c0, c0+d)), z (rows×k row-major). */
  async update(x: Rows, z: Float64Array, c0 = 0): Promise<this> {
    const d = this.xDim, k = this.zDim;
    if (x.cols < c0 + d) throw new Error(`LEACE: expected ${d} features, got ${x.cols - c0}`);
    if (z.length !== x.rows * k) throw new Error(`LEACE: z has ${z.length} entries, expected ${x.rows}×${k}`);
    this.cached = null;
    for (let r0 = 0; r0 < x.rows; r0 += CHUNK) {
      const nb = Math.min(CHUNK, x.rows - r0);
      this.n += nb;
      const dx = new Float64Array(nb * d);
      for (let i = 0; i < nb; i++) {
        const off = (r0 + i) * x.cols + c0;
        for (let j = 0; j < d; j++) dx[i * d + j] = x.data[off + j] - this.meanX[j];
      }
      const sum = new Float64Array(d);
      for (let i = 0; i < nb; i++) for (let j = 0; j < d; j++) sum[j] += dx[i * d + j];
      for (let j = 0; j < d; j++) this.meanX[j] += sum[j] / this.n;
      const dx2 = new Float64Array(nb * d);
      for (let i = 0; i < nb; i++) {
        const off = (r0 + i) * x.cols + c0;
        for (let j = 0; j < d; j++) dx2[i * d + j] = x.data[off + j] - this.meanX[j];
      }
      await gemm64(dx, dx2, d, nb, d, { transA: true, c: this.sigmaXX_, out: this.sigmaXX_ });

      const dz = new Float64Array(nb * k);
      const zsum = new Float64Array(k);
      for (let i = 0; i < nb; i++) for (let a = 0; a < k; a++) zsum[a] += dz[i * k + a] = z[(r0 + i) * k + a] - this.meanZ[a];
      for (let a = 0; a < k; a++) this.meanZ[a] += zsum[a] / this.n;
      for (let i = 0; i < nb; i++) {
        for (let a = 0; a < k; a++) {
          const dz2 = z[(r0 + i) * k + a] - this.meanZ[a];
          if (dz2 === 0) continue;
          for (let j = 0; j < d; j++) this.sigmaXZ_[j * k + a] += dx[i * d + j] * dz2;
        }
      }
    }
    return this;
  }

  /** Σ_xx as the eraser uses it (symmetrised; shrunk by default). */
  get sigmaXX(): Float64Array {
    return this.covariance().sigma;
  }

  private covariance(): { sigma: Float64Array; shrink: { alpha: number; beta: number } | null } {
    if (this.n <= 1) throw new Error("LEACE: call update() with at least two rows before asking for the eraser");
    const d = this.xDim;
    const s = symmetrize(this.sigmaXX_.slice(), d);
    if (this.opts.shrinkage) {
      for (let i = 0; i < s.length; i++) s[i] /= this.n;
      const r = optimalLinearShrinkage(s, d, this.n, this.opts.eps);
      return { sigma: r.sigma, shrink: { alpha: r.alpha, beta: r.beta } };
    }
    for (let i = 0; i < s.length; i++) s[i] /= this.n - 1;
    return { sigma: s, shrink: null };
  }

  /** Σ_xz = C_xz/(n−1), d×k. */
  get sigmaXZ(): Float64Array {
    if (this.n <= 1) throw new Error("LEACE: call update() with at least two rows before asking for the eraser");
    return this.sigmaXZ_.map((v) => v / (this.n - 1));
  }

  /** The eraser for the statistics so far (cached until the next update). */
  async eraser(): Promise<LeaceEraser> {
    if (!this.cached) this.cached = await this.computeEraser();
    return this.cached;
  }

  private async computeEraser(): Promise<LeaceEraser> {
    const d = this.xDim, k = this.zDim;
    const { sigma, shrink } = this.covariance();
    const eig = await eighAsync(sigma, d);
    const lmax = eig.values[d - 1];
    const cut = lmax * d * this.opts.eps;
    const isqrt = (l: number) => (l > cut ? 1 / Math.sqrt(Math.max(l, 0)) : 0);
    const sqrt = (l: number) => (l > cut ? Math.sqrt(Math.max(l, 0)) : 0);

    // M = W Σ_xz (d×k): apply W to the k columns
    const sxzT = transpose(this.sigmaXZ, d, k); // k×d
    const mT = eig.applyFunction(isqrt, sxzT, k); // k×d = (W Σ_xz)ᵀ
    const { u, s } = thinSvd(transpose(mT, k, d), d, k);
    const keep: number[] = [];
    for (let c = 0; c < k; c++) if (s[c] > this.opts.svdTol) keep.push(c);
    const r = keep.length;
    const uT = new Float64Array(r * d); // r×d, rows = kept singular vectors
    keep.forEach((c, a) => {
      for (let i = 0; i < d; i++) uT[a * d + i] = u[i * k + c];
    });
    const info = { singularValues: Array.from(s), traceConstrained: false, alpha: 1, shrinkage: shrink };
    const bias = this.opts.affine ? this.meanX.slice() : null;
    if (r === 0) return new LeaceEraser(new Float64Array(0), new Float64Array(0), bias, d, 0, info);

    const leftT = eig.applyFunction(sqrt, uT, r); // (W⁺U)ᵀ, r×d
    const right = eig.applyFunction(isqrt, uT, r); // (W U)ᵀ = Uᵀ W, r×d
    let projLeft = transpose(leftT, r, d); // d×r
    let projRight = right;
    let rank = r;

    if (this.opts.constrainCovTrace) {
      const c = constrainTrace(sigma, d, projLeft, projRight, uT, r);
      if (c.triggered) {
        projLeft = c.left;
        projRight = c.right;
        rank = c.rank;
        info.traceConstrained = true;
        info.alpha = c.alpha;
      }
    }
    return new LeaceEraser(projLeft, projRight, bias, d, rank, info);
  }
}

/**
 * The reference's trace constraint for P = I − L R (L d×r, R r×d) and Q = I − UUᵀ (U given as r×d rows):
 * if tr(PΣPᵀ) > tr Σ, return the factors of I − (αP + (1−α)Q) = [αL, (1−α)U]·[R; Uᵀ] with α ∈ [0, 1]
 * the reference's root of tr((αP + (1−α)Q) Σ (…)ᵀ) = tr Σ.
 *
 * For the LEACE P itself this never fires in exact arithmetic: with W Σ W = Π (the kept eigenspace),
 * PΣPᵀ = Σ − Σ^{1/2} U Uᵀ Σ^{1/2}, whose trace is smaller. (concept-erasure v0.2.4 rebuilds the factors
 * from a full SVD of I − P as `u·√s` and `vh * √s`, which scales vh's columns instead of its rows; we
 * keep the exact low-rank factors instead.)
 */
export function constrainTrace(
  sigma: Float64Array,
  d: number,
  L: Float64Array,
  R: Float64Array,
  uT: Float64Array,
  r: number,
): { triggered: boolean; alpha: number; left: Float64Array; right: Float64Array; rank: number; traceBefore: number; traceAfter: number } {
  const { x, y, z, w } = traceTerms(sigma, d, L, R, uT, r);
  if (!(x > w)) return { triggered: false, alpha: 1, left: L, right: R, rank: r, traceBefore: w, traceAfter: x };
  const discr = Math.sqrt(Math.max(0, 4 * w * x - 4 * w * y + 4 * w * z - 4 * x * z + y * y));
  const a1 = (-y / 2 + z - discr / 2) / (x - y + z);
  const a2 = (-y / 2 + z + discr / 2) / (x - y + z);
  const alpha = Math.min(1, Math.max(0, a1 > 0 ? a1 : a2));
  const left = new Float64Array(d * 2 * r);
  const right = new Float64Array(2 * r * d);
  for (let i = 0; i < d; i++) {
    for (let a = 0; a < r; a++) {
      left[i * 2 * r + a] = alpha * L[i * r + a];
      left[i * 2 * r + r + a] = (1 - alpha) * uT[a * d + i];
    }
  }
  right.set(R.subarray(0, r * d), 0);
  right.set(uT.subarray(0, r * d), r * d);
  return { triggered: true, alpha, left, right, rank: 2 * r, traceBefore: w, traceAfter: traceProduct(sigma, d, left, right, left, right) };
}

/**
 * tr((I − L₁R₁) Σ (I − L₂R₂)ᵀ) = tr Σ − tr(R₁ΣL₁) − tr(R₂ΣL₂) + tr((L₂ᵀL₁)(R₁ΣR₂ᵀ)),  L_k d×r_k, R_k r_k×d.
 */
function traceProduct(sigma: Float64Array, d: number, L1: Float64Array, R1: Float64Array, L2: Float64Array, R2: Float64Array): number {
  const r1 = L1.length / d, r2 = L2.length / d;
  const tr = (m: Float64Array, n: number) => {
    let t = 0;
    for (let i = 0; i < n; i++) t += m[i * n + i];
    return t;
  };
  let w = 0;
  for (let i = 0; i < d; i++) w += sigma[i * d + i];
  const SL1 = matMul(sigma, L1, d, d, r1);
  const SL2 = matMul(sigma, L2, d, d, r2);
  const SR2t = matMul(sigma, transpose(R2, r2, d), d, d, r2);
  const a = tr(matMul(R1, SL1, r1, d, r1), r1);
  const b = tr(matMul(R2, SL2, r2, d, r2), r2);
  const c = tr(matMul(matMul(transpose(L2, d, r2), L1, r2, d, r1), matMul(R1, SR2t, r1, d, r2), r2, r1, r2), r2);
  return w - a - b + c;
}

/** The reference's quadratic: x = tr(PΣPᵀ), y = 2 tr(PΣQᵀ), z = tr(QΣQᵀ), w = tr Σ, for P = I − LR, Q = I − UUᵀ. */
function traceTerms(sigma: Float64Array, d: number, L: Float64Array, R: Float64Array, uT: Float64Array, r: number) {
  const U = transpose(uT.subarray(0, r * d), r, d);
  let w = 0;
  for (let i = 0; i < d; i++) w += sigma[i * d + i];
  return {
    x: traceProduct(sigma, d, L, R, L, R),
    y: 2 * traceProduct(sigma, d, L, R, U, uT),
    z: traceProduct(sigma, d, U, uT, U, uT),
    w,
  };
}
