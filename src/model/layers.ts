/**
 * The non-matrix-product layers of the transformer, one forward function per layer kind, over
 * Float32Array (llm.c style). N is the number of token positions (B·T), C the residual width.
 */

/** out (N,C) = rows of wte (V,C) at `tokens` (N) */
export function embeddingForward(out: Float32Array, tokens: Int32Array, wte: Float32Array, C: number): void {
  for (let n = 0; n < tokens.length; n++) out.set(wte.subarray(tokens[n] * C, tokens[n] * C + C), n * C);
}

/** LayerNorm: out = (x − mean) / sqrt(var + eps) · w + b, per row of inp (N,C); var is the biased variance. */
export function layernormForward(out: Float32Array, inp: Float32Array, w: Float32Array, b: Float32Array | undefined, N: number, C: number, eps: number): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let mean = 0;
    for (let i = 0; i < C; i++) mean += inp[o + i];
    mean /= C;
    let v = 0;
    for (let i = 0; i < C; i++) {
      const d = inp[o + i] - mean;
      v += d * d;
    }
    const rstd = 1 / Math.sqrt(v / C + eps);
    for (let i = 0; i < C; i++) out[o + i] = (inp[o + i] - mean) * rstd * w[i] + (b ? b[i] : 0);
  }
}

/** RMSNorm: out = x / sqrt(mean(x²) + eps) · w, per row of inp (N,C). */
export function rmsnormForward(out: Float32Array, inp: Float32Array, w: Float32Array, N: number, C: number, eps: number): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let ss = 0;
    for (let i = 0; i < C; i++) ss += inp[o + i] * inp[o + i];
    const rstd = 1 / Math.sqrt(ss / C + eps);
    for (let i = 0; i < C; i++) out[o + i] = inp[o + i] * rstd * w[i];
  }
}

/**
 * Rotary tables for positions (N): cos/sin (N, R/2) of pos · θ^(−2i/R), i < R/2 (R = rotary dims).
 */
export function ropeTables(positions: Int32Array, R: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  const half = R / 2;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  const invFreq = new Float64Array(half);
  // as Hugging Face computes it: 1 / θ^(arange(0, R, 2) / R), in float32
  for (let i = 0; i < half; i++) invFreq[i] = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / R)));
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
  const half = R / 2;
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < heads; h++) {
      const o = n * stride + offset + h * headStride;
      for (let i = 0; i < half; i++) {
        const c = cos[n * half + i];
        const s = sin[n * half + i];
        const x1 = x[o + i];
        const x2 = x[o + i + half];
        x[o + i] = x1 * c - x2 * s;
        x[o + i + half] = x2 * c + x1 * s;
      }
    }
  }
}

/** erf(x), fractional error < 1.2e-7 (Numerical Recipes' erfcc Chebyshev fit). */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

const SQRT1_2 = Math.SQRT1_2;
const GELU_TANH_C = Math.sqrt(2 / Math.PI);

/** Activations in place over n values. gelu: x·Φ(x) (exact, erf); gelu_new: the tanh approximation. */
export function activationForward(x: Float32Array, kind: "gelu" | "gelu_new" | "relu" | "silu", n = x.length): void {
  switch (kind) {
    case "gelu":
      for (let i = 0; i < n; i++) x[i] = 0.5 * x[i] * (1 + erf(x[i] * SQRT1_2));
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
 * Masked softmax over the last axis of scores (rows, Tk), in place; `visible(row, j)` says whether key j
 * may be attended. Rows that see nothing become all zeros.
 */
export function maskedSoftmaxForward(scores: Float32Array, rows: number, Tk: number, scale: number, visible: (row: number, j: number) => boolean): void {
  for (let r = 0; r < rows; r++) {
    const o = r * Tk;
    let max = -Infinity;
    for (let j = 0; j < Tk; j++) {
      if (visible(r, j)) {
        scores[o + j] *= scale;
        if (scores[o + j] > max) max = scores[o + j];
      } else scores[o + j] = -Infinity;
    }
    if (max === -Infinity) {
      scores.fill(0, o, o + Tk);
      continue;
    }
    let sum = 0;
    for (let j = 0; j < Tk; j++) {
      const e = scores[o + j] === -Infinity ? 0 : Math.exp(scores[o + j] - max);
      scores[o + j] = e;
      sum += e;
    }
    for (let j = 0; j < Tk; j++) scores[o + j] /= sum;
  }
}
