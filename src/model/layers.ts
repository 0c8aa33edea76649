/**
 * The non-matrix-product layers of the transformer, one forward function per layer kind, over
 * Float32Array (llm.c style). N is the number of token positions (B·T), C the residual width.
 */
import { ropeInvFreq, type RopeScaling } from "./rope.ts";

/** out (N,C) = rows of wte (V,C) at `tokens` (N) */
export function embeddingForward(out: Float32Array, tokens: Int32Array, wte: Float32Array, C: number): void {
  for (let n = 0; n < tokens.length; n++) out.set(wte.subarray(tokens[n] * C, tokens[n] * C + C), n * C);
}

/**
 * LayerNorm: out = (x − mean) / sqrt(var + eps) · w + b, per row of inp (N,C); var is the biased variance.
 * `mean` and `rstd` (N), when given, receive the statistics the backward pass needs.
 */
export function layernormForward(out: Float32Array, inp: Float32Array, w: Float32Array, b: Float32Array | undefined, N: number, C: number, eps: number, mean?: Float32Array, rstd?: Float32Array): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let m = 0;
    for (let i = 0; i < C; i++) m += inp[o + i];
    m /= C;
    let v = 0;
    for (let i = 0; i < C; i++) {
      const d = inp[o + i] - m;
      v += d * d;
    }
    const r = 1 / Math.sqrt(v / C + eps);
    for (let i = 0; i < C; i++) out[o + i] = (inp[o + i] - m) * r * w[i] + (b ? b[i] : 0);
    if (mean) mean[n] = m;
    if (rstd) rstd[n] = r;
  }
}

/**
 * LayerNorm backward. With x̂ = (x − mean)·rstd and g = dout ⊙ w:
 *   dw += Σ_n dout ⊙ x̂,  db += Σ_n dout,  dx += rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂))
 */
export function layernormBackward(dinp: Float32Array, dw: Float32Array | undefined, db: Float32Array | undefined, dout: Float32Array, inp: Float32Array, w: Float32Array, mean: Float32Array, rstd: Float32Array, N: number, C: number): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    const m = mean[n];
    const r = rstd[n];
    let gMean = 0;
    let gxMean = 0;
    for (let i = 0; i < C; i++) {
      const g = dout[o + i] * w[i];
      gMean += g;
      gxMean += g * (inp[o + i] - m) * r;
    }
    gMean /= C;
    gxMean /= C;
    for (let i = 0; i < C; i++) {
      const xh = (inp[o + i] - m) * r;
      if (dw) dw[i] += dout[o + i] * xh;
      if (db) db[i] += dout[o + i];
      dinp[o + i] += r * (dout[o + i] * w[i] - gMean - xh * gxMean);
    }
  }
}

/** RMSNorm: out = x / sqrt(mean(x²) + eps) · w, per row of inp (N,C); `rstd` (N) receives 1/sqrt(mean(x²) + eps). */
export function rmsnormForward(out: Float32Array, inp: Float32Array, w: Float32Array, N: number, C: number, eps: number, rstd?: Float32Array): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let ss = 0;
    for (let i = 0; i < C; i++) ss += inp[o + i] * inp[o + i];
    const r = 1 / Math.sqrt(ss / C + eps);
    for (let i = 0; i < C; i++) out[o + i] = inp[o + i] * r * w[i];
    if (rstd) rstd[n] = r;
  }
}

/** RMSNorm backward. With g = dout ⊙ w: dw += Σ_n dout ⊙ x·rstd,  dx += rstd·g − x·rstd³·mean(g ⊙ x). */
export function rmsnormBackward(dinp: Float32Array, dw: Float32Array | undefined, dout: Float32Array, inp: Float32Array, w: Float32Array, rstd: Float32Array, N: number, C: number): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    const r = rstd[n];
    let gx = 0;
    for (let i = 0; i < C; i++) gx += dout[o + i] * w[i] * inp[o + i];
    const k = (r * r * r * gx) / C;
    for (let i = 0; i < C; i++) {
      if (dw) dw[i] += dout[o + i] * inp[o + i] * r;
      dinp[o + i] += r * dout[o + i] * w[i] - inp[o + i] * k;
    }
  }
}

/**
 * Rotary tables for positions (N): cos/sin (N, R/2) of pos · inv_freq_i, i < R/2 (R = rotary dims), inv_freq_i =
 * θ^(−2i/R) with rope_scaling applied (rope.ts).
 */
export function ropeTables(positions: Int32Array, R: number, theta: number, scaling: RopeScaling | null = null): { cos: Float32Array; sin: Float32Array } {
  const half = R / 2;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  const invFreq = ropeInvFreq(R, theta, scaling);
  for (let n = 0; n < positions.length; n++) {
    for (let i = 0; i < half; i++) {
      const a = Math.fround(positions[n] * invFreq[i]);
      cos[n * half + i] = Math.cos(a);
      sin[n * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}

/**
 * Rotary embedding in place on x (N, heads, D) over the first R dims of each head, rotate-half layout
 * (Hugging Face): x1 = x[:R/2], x2 = x[R/2:R]; x1' = x1·cos − x2·sin; x2' = x2·cos + x1·sin.
 * `stride` is the distance between consecutive positions in x, `offset` where head 0 starts.
 */
export function ropeForward(x: Float32Array, cos: Float32Array, sin: Float32Array, N: number, heads: number, D: number, R: number, stride: number, offset: number, headStride = D): void {
  rotate(x, cos, sin, 1, N, heads, R, stride, offset, headStride);
}

/** Rotary backward: the transpose of the rotation, i.e. the rotation by −angle, in place on the gradient. */
export function ropeBackward(dx: Float32Array, cos: Float32Array, sin: Float32Array, N: number, heads: number, D: number, R: number, stride: number, offset: number, headStride = D): void {
  rotate(dx, cos, sin, -1, N, heads, R, stride, offset, headStride);
}

/** x1' = x1·cos − x2·(±sin), x2' = x2·cos + x1·(±sin): the rotation by ±angle (negating sin is exact). */
function rotate(x: Float32Array, cos: Float32Array, sin: Float32Array, sign: 1 | -1, N: number, heads: number, R: number, stride: number, offset: number, headStride: number): void {
  const half = R / 2;
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < heads; h++) {
      const o = n * stride + offset + h * headStride;
      for (let i = 0; i < half; i++) {
        const c = cos[n * half + i];
        const s = sign * sin[n * half + i];
        const x1 = x[o + i];
        const x2 = x[o + i + half];
        x[o + i] = x1 * c - x2 * s;
        x[o + i + half] = x2 * c + x1 * s;
      }
    }
  }
}

/**
 * erf(x) to double precision: Maclaurin series for |x| < 2.5, the continued fraction of erfc beyond
 * (Abramowitz & Stegun 7.1.5 and 7.1.14). Slow; used to build the Φ table below and in tests.
 */
export function erf(x: number): number {
  const z = Math.abs(x);
  let r: number;
  if (z < 2.5) {
    // erf z = 2/√π Σ (−1)^n z^(2n+1) / (n! (2n+1))
    let term = z;
    let sum = z;
    for (let n = 1; n < 100; n++) {
      term *= (-z * z) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc z = exp(−z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + 2/(z + …))))), evaluated by Lentz's method
    const tiny = 1e-300;
    let f = z;
    let C = z;
    let D = 0;
    for (let k = 1; k < 200; k++) {
      const a = k / 2;
      D = z + a * D;
      D = D === 0 ? tiny : 1 / D;
      C = z + a / C;
      if (C === 0) C = tiny;
      const delta = C * D;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    r = 1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
  }
  return x < 0 ? -r : r;
}

/**
 * Φ (the standard normal CDF) by cubic Hermite interpolation of Φ and φ on [−8, 8] with step 1/512: error
 * < 1e-13, a few ns per value. Outside the table Φ is 0 or 1 to double precision (Φ(−8) ≈ 6e−16).
 * Each segment stores its cubic's coefficients [Φ_k, h·φ_k, c2, c3], so p(t) = Φ_k + t(hφ_k + t(c2 + t·c3)).
 */
const PHI_STEP = 1 / 512;
const PHI_MAX = 8;
const PHI_SEGMENTS = Math.round((2 * PHI_MAX) / PHI_STEP) + 1; // one spare segment: x = +8 lands in range
const PHI_COEF = (() => {
  const knot = (k: number) => {
    const x = -PHI_MAX + k * PHI_STEP;
    return [0.5 * (1 + erf(x * Math.SQRT1_2)), (Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI)) * PHI_STEP];
  };
  const c = new Float64Array(4 * PHI_SEGMENTS);
  for (let k = 0; k < PHI_SEGMENTS; k++) {
    const [p0, m0] = knot(k);
    const [p1, m1] = knot(k + 1);
    c.set([p0, m0, 3 * (p1 - p0) - 2 * m0 - m1, 2 * (p0 - p1) + m0 + m1], 4 * k);
  }
  return c;
})();

export function normalCdf(x: number): number {
  if (x <= -PHI_MAX) return 0;
  if (x >= PHI_MAX) return 1;
  const u = (x + PHI_MAX) * (1 / PHI_STEP);
  const k = u | 0; // u ≥ 0 here
  const t = u - k;
  const o = 4 * k;
  return PHI_COEF[o] + t * (PHI_COEF[o + 1] + t * (PHI_COEF[o + 2] + t * PHI_COEF[o + 3]));
}

/** dΦ/dx of the same interpolant as normalCdf (its exact derivative, so gradients match the forward pass). */
export function normalCdfDerivative(x: number): number {
  if (x <= -PHI_MAX || x >= PHI_MAX) return 0;
  const u = (x + PHI_MAX) * (1 / PHI_STEP);
  const k = u | 0;
  const t = u - k;
  const o = 4 * k;
  return (PHI_COEF[o + 1] + t * (2 * PHI_COEF[o + 2] + 3 * t * PHI_COEF[o + 3])) * (1 / PHI_STEP);
}

const GELU_TANH_C = Math.sqrt(2 / Math.PI);

/** Activations in place over n values. gelu: x·Φ(x) (exact); gelu_new: the tanh approximation. */
export function activationForward(x: Float32Array, kind: "gelu" | "gelu_new" | "relu" | "silu", n = x.length): void {
  switch (kind) {
    case "gelu":
      for (let i = 0; i < n; i++) x[i] *= normalCdf(x[i]);
      return;
    case "gelu_new":
      for (let i = 0; i < n; i++) {
        const v = x[i];
        x[i] = 0.5 * v * (1 + Math.tanh(GELU_TANH_C * (v + 0.044715 * v * v * v)));
      }
      return;
    case "relu":
      for (let i = 0; i < n; i++) if (x[i] < 0) x[i] = 0;
      return;
    case "silu":
      for (let i = 0; i < n; i++) x[i] = x[i] / (1 + Math.exp(-x[i]));
  }
}

/** act(x) for one value (the backward pass needs it; the forward loops are specialised) */
export function activationScalar(x: number, kind: "gelu" | "gelu_new" | "relu" | "silu"): number {
  switch (kind) {
    case "gelu":
      return x * normalCdf(x);
    case "gelu_new":
      return 0.5 * x * (1 + Math.tanh(GELU_TANH_C * (x + 0.044715 * x * x * x)));
    case "relu":
      return x > 0 ? x : 0;
    case "silu":
      return x / (1 + Math.exp(-x));
  }
}

/** d act(x)/dx */
export function activationGrad(x: number, kind: "gelu" | "gelu_new" | "relu" | "silu"): number {
  switch (kind) {
    case "gelu":
      return normalCdf(x) + x * normalCdfDerivative(x);
    case "gelu_new": {
      const u = GELU_TANH_C * (x + 0.044715 * x * x * x);
      const t = Math.tanh(u);
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_TANH_C * (1 + 3 * 0.044715 * x * x);
    }
    case "relu":
      return x > 0 ? 1 : 0;
    case "silu": {
      const s = 1 / (1 + Math.exp(-x));
      return s * (1 + x * (1 - s));
    }
  }
}

/** Activation backward: dinp = dout · act'(pre), where `pre` holds the activation's inputs. */
export function activationBackward(dinp: Float32Array, dout: Float32Array, pre: Float32Array, kind: "gelu" | "gelu_new" | "relu" | "silu"): void {
  for (let i = 0; i < pre.length; i++) dinp[i] = dout[i] * activationGrad(pre[i], kind);
}

/** SwiGLU backward: out = act(g)·u ⇒ dg = dout·u·act'(g), du = dout·act(g); gateUp and dGateUp are (N, 2F). */
export function gatedActivationBackward(dGateUp: Float32Array, dout: Float32Array, gateUp: Float32Array, N: number, F: number, kind: "gelu" | "gelu_new" | "relu" | "silu"): void {
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < F; i++) {
      const g = gateUp[n * 2 * F + i];
      const u = gateUp[n * 2 * F + F + i];
      dGateUp[n * 2 * F + i] = dout[n * F + i] * u * activationGrad(g, kind);
      dGateUp[n * 2 * F + F + i] = dout[n * F + i] * activationScalar(g, kind);
    }
  }
}

/** SwiGLU: out (N,F) = act(gate) · up, where gateUp (N, 2F) holds [gate | up] per row. */
export function gatedActivationForward(out: Float32Array, gateUp: Float32Array, N: number, F: number, kind: "gelu" | "gelu_new" | "relu" | "silu"): void {
  for (let n = 0; n < N; n++) out.set(gateUp.subarray(n * 2 * F, n * 2 * F + F), n * F);
  activationForward(out, kind, N * F);
  for (let n = 0; n < N; n++) for (let i = 0; i < F; i++) out[n * F + i] *= gateUp[n * 2 * F + F + i];
}

/** out += a (elementwise) */
export function addInPlace(out: Float32Array, a: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] += a[i];
}

/**
 * Causal masked softmax, in place, over scores (rows, Tk) scaled by `scale`. Row r is query t = r mod T of
 * batch row b = ⌊r / rowsPerBatch⌋; it sees key j when j ≤ Tpast + t, key j is a real token, the query is
 * a real token, and (sliding window W) keyPos(query) − keyPos(j) < W. Rows that see nothing become zeros.
 */
export function causalSoftmaxForward(
  scores: Float32Array,
  rows: number,
  T: number,
  Tk: number,
  rowsPerBatch: number,
  scale: number,
  keyMask: Uint8Array,
  keyPos: Int32Array,
  window: number | null,
): void {
  const Tpast = Tk - T;
  for (let r = 0; r < rows; r++) {
    const o = r * Tk;
    const b = Math.floor(r / rowsPerBatch);
    const qi = Tpast + (r % T);
    const km = b * Tk;
    if (!keyMask[km + qi]) {
      scores.fill(0, o, o + Tk);
      continue;
    }
    const minPos = window === null ? -Infinity : keyPos[km + qi] - window + 1;
    let max = -Infinity;
    for (let j = 0; j <= qi; j++) {
      if (keyMask[km + j] && keyPos[km + j] >= minPos) {
        const v = scores[o + j] * scale;
        scores[o + j] = v;
        if (v > max) max = v;
      } else scores[o + j] = -Infinity;
    }
    let sum = 0;
    for (let j = 0; j <= qi; j++) {
      const e = scores[o + j] === -Infinity ? 0 : Math.exp(scores[o + j] - max);
      scores[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j <= qi; j++) scores[o + j] *= inv;
    scores.fill(0, o + qi + 1, o + Tk);
  }
}

/**
 * Softmax backward for probabilities P (rows, Tk) of softmax(scale · S): dS = scale · P ⊙ (dP − Σ_j dP ⊙ P),
 * written over dP in place.
 */
export function softmaxBackward(dP: Float32Array, P: Float32Array, rows: number, Tk: number, scale: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * Tk;
    let dot = 0;
    for (let j = 0; j < Tk; j++) dot += dP[o + j] * P[o + j];
    for (let j = 0; j < Tk; j++) dP[o + j] = scale * P[o + j] * (dP[o + j] - dot);
  }
}
