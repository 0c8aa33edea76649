/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) and learning-rate schedules.
 *
 *   m ← β1·m + (1−β1)·g,   v ← β2·v + (1−β2)·g²
 *   θ ← θ − lr·wd·θ − lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + ε)
 *
 * as torch.optim.AdamW computes it.
 */

export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface ParamGroup {
  /** parameters and their gradients, same length */
  params: Float32Array;
  grads: Float32Array;
  /** weight decay applies to this group (not to norms and biases) */
  decay: boolean;
}

export class AdamW {
  readonly cfg: AdamWConfig;
  readonly groups: ParamGroup[];
  readonly m: Float32Array[];
  readonly v: Float32Array[];
  step = 0;

  constructor(groups: ParamGroup[], cfg: Partial<AdamWConfig> = {}) {
    this.cfg = { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, ...cfg };
    this.groups = groups;
    this.m = groups.map((g) => new Float32Array(g.params.length));
    this.v = groups.map((g) => new Float32Array(g.params.length));
  }

  /** One update with learning rate `lr` (the schedule's value for this step). */
  update(lr: number): void {
    const { beta1, beta2, eps, weightDecay } = this.cfg;
    this.step++;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    this.groups.forEach((g, gi) => {
      const m = this.m[gi];
      const v = this.v[gi];
      const decay = g.decay ? lr * weightDecay : 0;
      for (let i = 0; i < g.params.length; i++) {
        const grad = g.grads[i];
        m[i] = beta1 * m[i] + (1 - beta1) * grad;
        v[i] = beta2 * v[i] + (1 - beta2) * grad * grad;
        g.params[i] -= decay * g.params[i] + (lr * (m[i] / bc1)) / (Math.sqrt(v[i] / bc2) + eps);
      }
    });
  }

  zeroGrad(): void {
    for (const g of this.groups) g.grads.fill(0);
  }
}

/** Linear warmup to `lr` over `warmup` steps, then linear or cosine decay to 0 at `total`. */
export function learningRate(step: number, total: number, warmup: number, lr: number, decay: "linear" | "cosine"): number {
  if (step < warmup) return (lr * (step + 1)) / warmup;
  const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return decay === "linear" ? lr * (1 - progress) : lr * 0.5 * (1 + Math.cos(Math.PI * progress));
}
