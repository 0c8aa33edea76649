/**
 * Rotary inverse frequencies as Hugging Face transformers computes them, in float32:
 *
 *   default: inv_freq_i = 1 / θ^(2i/R),  i < R/2  (R = rotary dims)
 *   linear:  inv_freq_i / factor
 *   llama3:  with λ_i = 2π / inv_freq_i (the wavelength), L = original_max_position_embeddings,
 *            λ_i < L / high_freq_factor   → inv_freq_i                      (high frequencies kept)
 *            λ_i > L / low_freq_factor    → inv_freq_i / factor             (low frequencies slowed)
 *            otherwise, s = (L/λ_i − low_freq_factor) / (high_freq_factor − low_freq_factor),
 *                                          → (1 − s) · inv_freq_i / factor + s · inv_freq_i
 *
 * (transformers' `_compute_default_rope_parameters`, `_compute_linear_scaling_rope_parameters` and
 * `_compute_llama3_parameters`; their attention factor is 1 for all three.)
 */

export type RopeScaling =
  | { type: "linear"; factor: number }
  | { type: "llama3"; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

const f32 = Math.fround;

/** inv_freq (R/2), each value a float32 (held in a Float64Array so products can round as torch does). */
export function ropeInvFreq(R: number, theta: number, scaling: RopeScaling | null = null): Float64Array {
  const half = R / 2;
  const inv = new Float64Array(half);
  // torch: 1.0 / (base ** (arange(0, R, 2).float() / R)), every step in float32
  for (let i = 0; i < half; i++) inv[i] = f32(1 / f32(theta ** f32((2 * i) / R)));
  if (!scaling) return inv;
  if (scaling.type === "linear") {
    for (let i = 0; i < half; i++) inv[i] = f32(inv[i] / f32(scaling.factor));
    return inv;
  }
  const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: L } = scaling;
  // python scalars meet float32 tensors: torch casts each scalar to float32 first
  const lowFreqWavelen = f32(L / low);
  const highFreqWavelen = f32(L / high);
  for (let i = 0; i < half; i++) {
    const wavelen = f32(f32(2 * Math.PI) / inv[i]);
    const slowed = wavelen > lowFreqWavelen ? f32(inv[i] / f32(factor)) : inv[i];
    const medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    if (!medium) {
      inv[i] = slowed;
      continue;
    }
    const s = f32(f32(f32(f32(L) / wavelen) - f32(low)) / f32(high - low));
    inv[i] = f32(f32(f32(f32(1 - s) * slowed) / f32(factor)) + f32(s * slowed));
  }
  return inv;
}
