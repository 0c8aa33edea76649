/**
 * src/linalg's symmetric eigensolver against numpy.linalg.eigh (Debian's Python), in both its plain JavaScript form
 * and the blocked form whose trailing updates run on onnxruntime.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { eigh, eighAsync } from "../src/linalg/index.ts";
import { Rng } from "../src/util/rng.ts";
import { runPython } from "./helpers.ts";

function randomSymmetric(n: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = rng.normal();
  return a;
}

const numpyEigh = (a: Float64Array, n: number): { values: number[]; vectors: number[][] } =>
  JSON.parse(runPython("import sys, json, numpy as np\nn, a = json.load(sys.stdin)\nw, v = np.linalg.eigh(np.array(a).reshape(n, n))\nprint(json.dumps({'values': w.tolist(), 'vectors': v.T.tolist()}))", JSON.stringify([n, Array.from(a)])));

for (const n of [1, 2, 7, 80]) {
  test(`eigh and eighAsync (n = ${n}): eigenvalues and eigenvectors as numpy's`, async () => {
    const a = randomSymmetric(n, n);
    const ref = numpyEigh(a, n);
    for (const e of [eigh(a, n), await eighAsync(a, n, 16)]) {
      for (let k = 0; k < n; k++) assert.ok(Math.abs(e.values[k] - ref.values[k]) < 1e-10 * n, `λ${k}: ${e.values[k]} vs ${ref.values[k]}`);
      for (let k = 0; k < n; k++) {
        // eigenvectors up to sign (the spectrum of a random matrix has no repeated eigenvalues)
        const v = e.vector(k);
        const sign = Math.sign(v.reduce((s, x, i) => s + x * ref.vectors[k][i], 0));
        for (let i = 0; i < n; i++) assert.ok(Math.abs(sign * v[i] - ref.vectors[k][i]) < 1e-8, `v${k}[${i}]`);
      }
    }
  });
}
