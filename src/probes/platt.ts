/**
 * Platt scaling of a fixed score, fitted with L-BFGS as the reference does after CCS and CRC
 * (max_iter 100, tolerance_grad = tolerance_change = float32 ε, strong-Wolfe), minimising the mean
 * binary cross-entropy with logits over all (row, pair-state) entries, target 1 for the state of the
 * true label and 0 for the other:
 *
 *   affine  (ccs.py):  s = a · raw + c,           parameters [c, a], start [0, 1]
 *   shifted (crc.py):  s = (raw + b) · a,         parameters [b, a], start [b₀, 1]  (b₀ = nn.Linear's random bias)
 *
 * Both reach the same optimum of a 1-d logistic regression when it exists; the reference's parametrisation
 * and start are kept so the 100-iteration budget ends at the same place when the data are separable.
 */
import { FLOAT32_EPS, bceWithLogits, sigmoid } from "./common.ts";
import { minimizeSync, type LbfgsResult } from "../linalg/lbfgs.ts";

export interface PlattFit {
  scale: number;
  offset: number;
  loss: number;
  result: LbfgsResult;
}

const OPTS = { maxIter: 100, toleranceGrad: FLOAT32_EPS, toleranceChange: FLOAT32_EPS };

/** s = a·raw + c; returns scale a and offset c. */
export function plattAffine(raw: Float64Array, target: Uint8Array, maxIter = 100): PlattFit {
  const N = raw.length;
  const res = minimizeSync(
    ([c, a]) => {
      let f = 0, gc = 0, ga = 0;
      for (let i = 0; i < N; i++) {
        const s = a * raw[i] + c;
        f += bceWithLogits(s, target[i]);
        const r = sigmoid(s) - target[i];
        gc += r;
        ga += r * raw[i];
      }
      return { f: f / N, g: Float64Array.of(gc / N, ga / N) };
    },
    Float64Array.of(0, 1),
    { ...OPTS, maxIter },
  );
  return { offset: res.x[0], scale: res.x[1], loss: res.f, result: res };
}

/** s = (raw + b)·a; returns scale a and shift b. */
export function plattShifted(raw: Float64Array, target: Uint8Array, b0: number, maxIter = 100): PlattFit {
  const N = raw.length;
  const res = minimizeSync(
    ([b, a]) => {
      let f = 0, gb = 0, ga = 0;
      for (let i = 0; i < N; i++) {
        const u = raw[i] + b;
        const s = u * a;
        f += bceWithLogits(s, target[i]);
        const r = sigmoid(s) - target[i];
        gb += r * a;
        ga += r * u;
      }
      return { f: f / N, g: Float64Array.of(gb / N, ga / N) };
    },
    Float64Array.of(b0, 1),
    { ...OPTS, maxIter },
  );
  return { offset: res.x[0], scale: res.x[1], loss: res.f, result: res };
}
