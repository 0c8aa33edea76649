/**
 * `quirky demo --device webgpu` end to end against `--device cpu` (issue 32), CI-sized: the demo's own run config
 * (zooRunConfig, as `quirky demo` builds it; the CLI is a thin layer that adds only the printing) on one zoo
 * adapter (addition) with 48 fit and 48 test rows per distribution, every reporter, the 1,000-direction random
 * baseline, anomaly detection with its no-quirk control and the intervention — on each device, into its own folder.
 * Then every headline number the demo prints (read from the files the printing reads: summary.json, the random
 * baseline, anomaly_*.json, pgr.json) must be the same on both devices. The devices' states differ by ~1e-6 relative
 * (f32 sums in another order; test/device-webgpu.test.ts), so each line's bar is set by how far it moves when only
 * the last bits of its inputs do — measured on the CPU alone: this demo's states multiplied by (1 + ε·N(0,1)),
 * ε = 1e-6 and 5e-6, 8 noise seeds each, every later stage recomputed (an unperturbed rerun changes nothing;
 * issue 32's closing note has the numbers and the script):
 *
 *   - "3 decimals", |diff| < 5e-4 (agreement to 3 decimal places; not equal toFixed(3) strings, which a 1e-9
 *     difference straddling a rounding boundary would break): the model's output AUROCs, LogR, diff-in-means, LDA,
 *     the pair probes, CRC (all A→B lines, best layer included), the random-direction medians and PGR. Rank
 *     statistics of deterministic fits whose scores are far apart relative to 1e-6: moved by 0 in every perturbed
 *     run and between the devices.
 *   - "detector", |diff| ≤ 3e-3: the deterministic anomaly detectors on probe outputs (Mahalanobis plain and minus
 *     the diagonal, LOF, the one-class SVM, their bootstrap intervals, the no-quirk control). Their AUROC counts
 *     48 × 48 pairs of AH and BH rows and some pairs' scores are nearly tied, so input noise swaps a few: 1/2304 =
 *     4.3e-4 per pair. Measured: at most 8.7e-4 on an AUROC (two pairs) and 1.2e-3 on an interval's end (a pair
 *     counts once per bootstrap copy) under perturbation, 9.9e-4 between the devices; 3e-3 is still a 3rd-decimal
 *     bar (seven pairs).
 *   - "tolerance", |diff| ≤ NONDETERMINISTIC_TOL: what goes through CCS (non-convex, random restarts: its A→B
 *     AUROCs, its PGR lines, Mahalanobis on its outputs) and the isolation forest (random thresholds), which are not
 *     smooth in their inputs: noise in the last bits can pick another restart or split.
 *
 * The bars catch a real change: states off by ε = 1e-3 (a thousand times the devices' difference; the same
 * measurement) move 20 of the 90 lines past their bar, in each of the three (up to 0.014, 0.039 and 0.16).
 *
 * Without a WebGPU adapter the test skips, saying so (CI=true: it runs and fails with the device's error line), as
 * test/device-webgpu.test.ts does. On 2 cores with lavapipe it takes 50–85 s (cpu 10–16 s, webgpu 38–64 s, as busy
 * as the machine is; the full demo: ~100 s on the CPU alone).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { probeWebGpu } from "../src/model/device.ts";
import { zooRunConfig } from "../src/pipeline/zoo.ts";
import { runConfig } from "../src/pipeline/run.ts";
import { experimentRoots, lmOutputAurocs, summarizeRoot, type PgrResult } from "../src/analysis/summary.ts";
import { readAnomalyResults } from "../src/report/load.ts";
import { controlRoot } from "../src/analysis/anomaly-control.ts";
import { randomFile } from "../src/analysis/transfer.ts";
import { randomMedian, type RandomBaselineResult } from "../src/probes/random-baseline.ts";
import { tempDir } from "./helpers.ts";

process.env.XDG_RUNTIME_DIR ??= "/tmp"; // Mesa prints an error line per process without it
const adapter = await probeWebGpu();
const skip = !adapter.available && process.env.CI !== "true" ? `no WebGPU adapter (${adapter.error}); install lavapipe: bash scripts/system-deps.sh` : false;

/** the demo, shrunk: one dataset, 48 rows per distribution (the demo: four datasets, 1,000 and 500) */
const SIZE = { datasets: ["addition"], maxTrain: 48, maxTest: 48 };

/**
 * The bar for lines through CCS or the isolation forest. Measured: at most 8.6e-3 under the perturbations above
 * (PGR AE→BH for CCS, in 2 of 16 runs; the isolation forest 1.4e-3, Mahalanobis on CCS's outputs 3.0e-3), and
 * 1.3e-3 between the devices here (1.0e-2 for the isolation forest at 200 rows per distribution). These jump
 * between discrete outcomes (another restart, another split), so the bar is ~6× the largest jump seen rather than
 * tight: 0.05.
 */
const NONDETERMINISTIC_TOL = 0.05;

type Bar = "3 decimals" | "detector" | "tolerance";
const BARS: Record<Bar, (diff: number) => boolean> = {
  "3 decimals": (d) => d < 5e-4,
  detector: (d) => d <= 3e-3,
  tolerance: (d) => d <= NONDETERMINISTIC_TOL,
};
interface Line {
  name: string;
  value: number;
  bar: Bar;
}

/** The numbers `quirky demo` prints (printDemoSummary, printPgrSummary, printAnomalySummary), by line. */
function headlines(out: string): Line[] {
  const lines: Line[] = [];
  const add = (name: string, value: number, bar: Bar = "3 decimals") => lines.push({ name, value, bar });
  const ccs = (reporter: string, otherwise: Bar = "3 decimals"): Bar => (reporter === "ccs" ? "tolerance" : otherwise);
  for (const { model, dataset, root } of experimentRoots(out)) {
    const at = `${model}×${dataset}`;
    const rows = summarizeRoot(root);
    const lm = lmOutputAurocs(rows);
    add(`${at} output: Alice vs Alice`, lm.aliceVsAlice);
    add(`${at} output: Bob vs Bob`, lm.bobVsBob);
    add(`${at} output: Bob's disagreements vs Alice`, lm.bobDisagreeVsAlice);
    for (const r of rows.filter((r) => r.train === "A" && r.test === "B")) {
      const curve = r.curves.alice.disagree;
      const best = curve.reduce((bi, v, i) => (v > curve[bi] ? i : bi), 0);
      add(`${at} A→B ${r.reporter}: best layer's AUROC`, curve[best], ccs(r.reporter));
      // which layer is best: exact where the curve is (ties at 3 decimals would make this brittle; none here)
      if (r.reporter !== "ccs") add(`${at} A→B ${r.reporter}: best layer`, best);
      add(`${at} A→B ${r.reporter}: at EIL`, r.atEil?.alice.disagree ?? NaN, ccs(r.reporter));
    }
    add(`${at} A→B LM output`, rows.find((r) => r.train === "A" && r.test === "B")!.lm.alice.disagree);
    const lr = rows.find((r) => r.reporter === "lr" && r.train === "AE" && r.test === "BH")!;
    lr.curves.alice.disagree.forEach((v, l) => add(`${at} AE→BH LogR L${l}`, v));
    const randomPath = join(root, "BH", "test", randomFile("AE", "alice"));
    assert.ok(existsSync(randomPath), `${randomPath}: the random baseline is missing`);
    const random = JSON.parse(readFileSync(randomPath, "utf8")) as { layers: RandomBaselineResult[] };
    random.layers.forEach((layer, l) => add(`${at} AE→BH random median L${l}`, randomMedian(layer.subsets?.disagree)));
    for (const a of readAnomalyResults(root)) {
      for (const r of a.results) {
        // printed: every detector on LogR's outputs (with its interval), Mahalanobis (± diagonal) on every reporter's
        if (a.reporter !== "lr" && !r.detector.startsWith("mahalanobis")) continue;
        const bar = r.detector === "isolation-forest" ? "tolerance" : ccs(a.reporter, "detector");
        add(`${at} anomaly ${r.detector} on ${a.reporter}`, r.auroc, bar);
        if (a.reporter === "lr") {
          add(`${at} anomaly ${r.detector} on lr: lo`, r.lo, bar);
          add(`${at} anomaly ${r.detector} on lr: hi`, r.hi, bar);
        }
      }
    }
    for (const a of readAnomalyResults(controlRoot(root))) {
      const r = a.results.find((r) => r.detector === "mahalanobis");
      if (r) add(`${at} anomaly mahalanobis on ${a.reporter}, no-quirk control`, r.auroc, ccs(a.reporter, "detector"));
    }
  }
  const pgr = JSON.parse(readFileSync(join(out, "pgr.json"), "utf8")) as PgrResult[];
  for (const t of pgr) add(`PGR ${t.transfer} ${t.reporter}`, t.overall.pgr, ccs(t.reporter));
  return lines;
}

test("quirky demo --device webgpu prints the numbers --device cpu prints: to 3 decimals (anomaly detectors: within 3e-3), CCS and the isolation forest within 0.05", { skip, timeout: 600_000 }, async (t) => {
  const dir = tempDir(t);
  const runs: Record<string, Line[]> = {};
  for (const device of ["cpu", "webgpu"] as const) {
    const out = join(dir, device);
    const t0 = performance.now();
    await runConfig({ ...zooRunConfig(out, SIZE), device });
    t.diagnostic(`${device}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    runs[device] = headlines(out);
  }
  const { cpu, webgpu } = runs;
  assert.deepEqual(webgpu.map((l) => l.name), cpu.map((l) => l.name), "the same headline lines on both devices");
  assert.ok(cpu.length >= 60, `${cpu.length} headline lines`);
  const failures: string[] = [];
  const worst: Record<Bar, number> = { "3 decimals": 0, detector: 0, tolerance: 0 };
  cpu.forEach((c, i) => {
    const g = webgpu[i];
    const diff = Math.abs(c.value - g.value);
    t.diagnostic(`${c.name.padEnd(62)} cpu ${c.value.toFixed(4)}  webgpu ${g.value.toFixed(4)}  |diff| ${diff.toExponential(1)}  (${c.bar})`);
    assert.ok(Number.isFinite(c.value) && Number.isFinite(g.value), `${c.name}: cpu ${c.value}, webgpu ${g.value}`);
    worst[c.bar] = Math.max(worst[c.bar], diff);
    if (!BARS[c.bar](diff)) failures.push(`${c.name}: cpu ${c.value.toFixed(4)}, webgpu ${g.value.toFixed(4)} (bar: ${c.bar})`);
  });
  t.diagnostic(`max |diff| by bar: ${Object.entries(worst).map(([b, d]) => `${b} ${d.toExponential(1)}`).join(", ")}`);
  assert.deepEqual(failures, [], `${failures.length} of ${cpu.length} headline lines differ between the devices`);
});
