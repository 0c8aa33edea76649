/**
 * Small pieces the reporters share: numerically stable logistic functions, the float32 machine
 * epsilon the reference's tolerances use, nn.Linear's default initialisation, and input preparation.
 */
import { Rng } from "../util/rng.ts";
import { checkLabels, checkMatrix, requireBothClasses, type Matrix } from "./matrix.ts";

export { FLOAT32_EPS } from "./shrinkage.ts";

/** σ(z) = 1/(1 + e^{−z}), without overflow. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** log(1 + e^z), without overflow. */
export function softplus(z: number): number {
  return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
}

/** Binary cross-entropy with logits: −[y log σ(z) + (1−y) log(1−σ(z))] = softplus(z) − y z. */
export function bceWithLogits(z: number, y: number): number {
  return softplus(z) - y * z;
}

/**
 * torch.nn.Linear's default initialisation for one output: weight and bias each U(−1/√fan_in, 1/√fan_in)
 * (kaiming_uniform with a = √5 gives the same bound for the weight).
 */
export function linearInit(rng: Rng, fanIn: number, count: number): Float64Array {
  const bound = 1 / Math.sqrt(fanIn);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = (2 * rng.random() - 1) * bound;
  return out;
}

/** Validate x and labels for reporter `name`; returns the class counts. */
export function prepare(name: string, x: Matrix, labels: Uint8Array, needsBothClasses: boolean): { n0: number; n1: number } {
  checkMatrix(x, `${name}: x`);
  if (x.rows < 2) throw new Error(`${name}: needs at least two training rows, got ${x.rows}`);
  const counts = checkLabels(labels, x.rows, `${name}: labels`);
  if (needsBothClasses) requireBothClasses(name, counts);
  return counts;
}
