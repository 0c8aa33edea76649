/** What the benchmarks share: median timing and the forward pass's matrix-product FLOPs. */
import type { ModelConfig } from "../src/model/config.ts";

/** Median seconds per call of fn over `reps` calls, after a warm-up call (a device's first run compiles its shaders). */
export async function medianSeconds(fn: () => Promise<unknown>, reps: number): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    await fn();
    times.push((performance.now() - t) / 1000);
  }
  return times.sort((a, b) => a - b)[Math.floor(reps / 2)];
}

/** FLOPs of one forward's products on B × T tokens (q/k/v, output, MLP, attention), logits at the last position. */
export function forwardFlops(cfg: ModelConfig, B: number, T: number): number {
  const { dModel: C, dFF: F, nHeads: H, headDim: D, vocabSize: V, nLayers: L } = cfg;
  const M = B * T;
  return L * (2 * M * C * 3 * C + 2 * M * C * C + 2 * 2 * M * C * F + 2 * 2 * B * H * T * T * D) + 2 * B * C * V;
}
