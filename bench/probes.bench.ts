/**
 * Benchmark: fitting every reporter on the reference's grid shape — 24 layers × 4000 examples × 1024 dims
 * (pair reporters read (4000, 2, 1024), i.e. 2048 columns) — on synthetic states with a planted truth
 * direction and an anisotropic spectrum (plantedGaussian / plantedPairs, "aniso").
 *
 * Prints seconds per layer and for all layers next to a plain baseline measured in the same run on the
 * same data: class means + one d×d covariance (float64, onnxruntime GEMM — the statistics every probe
 * starts from), as a ratio; plus scikit-learn's LogisticRegression (Debian's python, lbfgs, same penalty)
 * on one layer for scale; and the random baseline (1000 directions) per layer.
 *
 *   node --import tsx bench/probes.bench.ts            24 layers × 4000 × 1024 (several minutes)
 *   node --import tsx bench/probes.bench.ts --quick    2 layers × 1000 × 256
 *   options: --layers L  --n N  --d D  --only lr,ccs  --no-sklearn
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FITTED_REPORTER_NAMES, fitReporter, evalRandomBaseline, auroc, usesPairs, type ReporterName } from "../src/probes/index.ts";
import { classMeans } from "../src/probes/mean-diff.ts";
import { gram } from "../src/linalg/index.ts";
import { toFloat64 } from "../src/probes/matrix.ts";
import { plantedGaussian, plantedPairs, type Planted } from "../src/probes/synthetic.ts";

const argv = process.argv.slice(2);
const arg = (name: string, dflt: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const quick = argv.includes("--quick");
const L = arg("layers", quick ? 2 : 24);
const n = arg("n", quick ? 1000 : 4000);
const d = arg("d", quick ? 256 : 1024);
const onlyIdx = argv.indexOf("--only");
const names: (ReporterName | "random")[] = onlyIdx >= 0 ? (argv[onlyIdx + 1].split(",") as ReporterName[]) : [...FITTED_REPORTER_NAMES, "random"];
const withSklearn = !argv.includes("--no-sklearn");

console.log(`probes: ${L} layers × ${n} examples × ${d} dims (pairs: ${n} × 2 × ${d}); node ${process.version}, onnxruntime threads: ${process.env.QUIRKY_THREADS ?? "all cores"}`);

const time = async <T>(f: () => Promise<T> | T): Promise<[T, number]> => {
  const t = performance.now();
  const r = await f();
  return [r, (performance.now() - t) / 1000];
};

const secs: Record<string, number[]> = {};
const aurocs: Record<string, number[]> = {};
const baseline: number[] = [];
const notes: Record<string, string> = {};
let sklearnLayer0: { ours: number; oursIter: number; sklearn: { seconds: number; iterations: number } } | null = null;

// warm-up (JIT, onnxruntime sessions): one untimed fit of each on a small draw
{
  const h = plantedGaussian({ n: 200, d: 32, seed: 1 });
  const p = plantedPairs({ n: 200, d: 32, seed: 1 });
  for (const name of names) {
    if (name === "random") await evalRandomBaseline(h.x, h.y, h.x, h.y, { numSamples: 50 });
    else await fitReporter(name, usesPairs(name) ? p.x : h.x, usesPairs(name) ? p.y : h.y);
  }
  await gram(toFloat64(h.x), 200, 32);
}

for (let l = 0; l < L; l++) {
  const seed = 1000 + l;
  // train and held-out halves of one draw (shared truth direction)
  const split = (p: Planted) => {
    const c = p.x.cols;
    const half = (k: number) => ({ x: { data: p.x.data.subarray(k * n * c, (k + 1) * n * c), rows: n, cols: c }, y: p.y.subarray(k * n, (k + 1) * n) });
    return { train: half(0), test: half(1) };
  };
  const hid = split(plantedGaussian({ n: 2 * n, d, seed, scales: "aniso", separation: 2 }));
  const pair = names.some((r) => r !== "random" && usesPairs(r)) ? split(plantedPairs({ n: 2 * n, d, seed, scales: "aniso", separation: 2 })) : null;

  // the plain baseline: class means + one covariance of the same (n × d) layer
  const [, tb] = await time(async () => {
    const { mu0, mu1 } = classMeans(hid.train.x, hid.train.y);
    const x = toFloat64(hid.train.x);
    for (let i = 0; i < n; i++) {
      const mu = hid.train.y[i] ? mu1 : mu0;
      for (let j = 0; j < d; j++) x[i * d + j] -= mu[j];
    }
    return gram(x, n, d);
  });
  baseline.push(tb);

  for (const name of names) {
    if (name === "random") {
      const [r, t] = await time(() => evalRandomBaseline(hid.train.x, hid.train.y, hid.test.x, hid.test.y, { numSamples: 1000, seed }));
      (secs.random ??= []).push(t);
      (aurocs.random ??= []).push(r.mean);
      continue;
    }
    const data = usesPairs(name) ? pair! : hid;
    const [rep, t] = await time(() => fitReporter(name, data.train.x, data.train.y, { seed }));
    (secs[name] ??= []).push(t);
    (aurocs[name] ??= []).push(auroc(rep.predict(data.test.x), data.test.y));
    if (name === "ccs") {
      const tries = (rep.info as any).tries as { iterations: number; evaluations: number }[];
      const ev = tries.reduce((s, x) => s + x.evaluations, 0) / tries.length;
      const it = tries.reduce((s, x) => s + x.iterations, 0) / tries.length;
      notes.ccs = `mean L-BFGS iterations/evaluations per try, last layer: ${it.toFixed(0)}/${ev.toFixed(0)}`;
    }
    if (name === "lr" && l === 0) notes.lr = `iterations, layer 0: ${(rep.info as any).iterations}`;
    if (name === "lr" && l === 0 && withSklearn) sklearnLayer0 = { ours: t, oursIter: (rep.info as any).iterations, sklearn: sklearnLr(hid.train.x.data, hid.train.y) };
  }
  const line = names.map((r) => `${r} ${secs[r].at(-1)!.toFixed(2)}s`).join("  ");
  console.log(`layer ${String(l + 1).padStart(2)}/${L}: baseline ${tb.toFixed(3)}s  ${line}`);
}

const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);
const base = sum(baseline);
console.log("");
console.log(`baseline (class means + one ${d}×${d} float64 covariance, per layer): ${(base / L).toFixed(3)} s;  all ${L} layers: ${base.toFixed(2)} s`);
console.log("");
console.log("reporter            s/layer   all layers (s)   × baseline   held-out AUROC (mean)");
for (const name of names) {
  const t = sum(secs[name]);
  console.log(`${name.padEnd(18)} ${(t / L).toFixed(3).padStart(8)}   ${t.toFixed(2).padStart(14)}   ${(t / base).toFixed(1).padStart(10)}   ${(sum(aurocs[name]) / L).toFixed(4)}`);
}
const total = sum(Object.values(secs).map(sum));
console.log(`${"all reporters".padEnd(18)} ${(total / L).toFixed(3).padStart(8)}   ${total.toFixed(2).padStart(14)}   ${(total / base).toFixed(1).padStart(10)}`);
for (const [k, v] of Object.entries(notes)) console.log(`note: ${k}: ${v}`);
if (sklearnLayer0) {
  console.log(
    `scikit-learn LogisticRegression (lbfgs, default tol 1e-4, C = 1/(2nλ), one layer ${n}×${d}): ${sklearnLayer0.sklearn.seconds.toFixed(2)} s in ${sklearnLayer0.sklearn.iterations} iterations; ` +
      `ours (lr, torch's tolerances, same layer): ${sklearnLayer0.ours.toFixed(2)} s in ${sklearnLayer0.oursIter} iterations (× ${(sklearnLayer0.ours / sklearnLayer0.sklearn.seconds).toFixed(2)})`,
  );
}

function sklearnLr(x: Float32Array, y: Uint8Array): { seconds: number; iterations: number } {
  const dir = mkdtempSync(join(tmpdir(), "quirky-bench-"));
  try {
    writeFileSync(join(dir, "x.f32"), x);
    writeFileSync(join(dir, "y.u8"), y);
    const script = fileURLToPath(new URL("../test/reference/sklearn_ref.py", import.meta.url));
    const r = spawnSync("/usr/bin/python3", [script], {
      input: JSON.stringify({ task: "sklearn_lr_timing", x_file: join(dir, "x.f32"), y_file: join(dir, "y.u8"), n: y.length, d: x.length / y.length }),
      encoding: "utf8",
    });
    if (r.status !== 0) {
      console.log(`(scikit-learn timing unavailable: ${r.stderr.trim().split("\n").at(-1)})`);
      return { seconds: NaN, iterations: NaN };
    }
    return JSON.parse(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
