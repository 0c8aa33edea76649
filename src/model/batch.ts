/** Batches as the engine takes them. */

/**
 * Left-pad token sequences into one batch: tokens (B, T) with row b's sequence in its last positions, and a mask
 * (B, T) that is 1 on real tokens. T is the longest sequence; padding is token 0, never attended to.
 */
export function leftPad(seqs: readonly ArrayLike<number>[]): { tokens: Int32Array; mask: Uint8Array; B: number; T: number } {
  const B = seqs.length;
  let T = 0;
  for (const s of seqs) T = Math.max(T, s.length);
  const tokens = new Int32Array(B * T);
  const mask = new Uint8Array(B * T);
  seqs.forEach((s, b) => {
    tokens.set(s, b * T + T - s.length);
    mask.fill(1, b * T + T - s.length, (b + 1) * T);
  });
  return { tokens, mask, B, T };
}
