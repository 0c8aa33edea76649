/**
 * Benchmark: extraction at the paper's model sizes. For each shape of bench/paper-shapes.ts, write the random
 * 16-bit model (unless it is there), then extract a few prompts of a quirky addition dataset in a fresh process
 * (loadModel with the weights mode "auto" chooses, or --weights forces; extractStates as `quirky extract` runs it),
 * and print load time, extraction tokens/s (prompt tokens over the extraction's wall time) and peak RSS next to the
 * size of the 16-bit weights. Models written by
 * the bench are deleted after their row unless --keep.
 *
 *   npm run bench:shapes                                   (all six shapes; needs ~25 GB of disk at a time)
 *   npm run bench:shapes -- --shapes pythia-410m,mistral-7b --prompts 8 --weights stream --dir /big/disk --keep
 */
import "./tuned-allocator.ts"; // first: this process, run again with the CLI's allocator settings
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { writeDataset } from "../src/datasets/create.ts";
import { loadExamples } from "../src/extract/examples.ts";
import { extractStates } from "../src/extract/extract.ts";
import { parseConfig } from "../src/model/config.ts";
import { loadModel, WEIGHTS_MODES, type WeightsMode } from "../src/model/load.ts";
import { weightBytes } from "../src/model/params.ts";
import { loadTokenizer } from "../src/model/tokenizer.ts";
import { PAPER_SHAPES, writePaperShape } from "./paper-shapes.ts";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const gib = (b: number) => (b / 2 ** 30).toFixed(2);

if (process.argv.includes("--child")) {
  // one extraction, measured from inside: load, extract, peak RSS
  const modelDir = arg("model", "");
  const datasetDir = arg("dataset", "");
  const prompts = Number(arg("prompts", "8"));
  const weights = arg("weights", "auto") as WeightsMode;
  const t0 = performance.now();
  const model = loadModel(modelDir, { weights });
  const loadS = (performance.now() - t0) / 1000;
  const tokenizer = loadTokenizer(modelDir);
  const { dataset, examples } = await loadExamples(datasetDir, { distribution: "A", split: "validation", maxExamples: prompts });
  const tokens = examples.reduce((n, e) => n + tokenizer.encode(e.statement).length, 0);
  const out = join(modelDir, "..", `states-${process.pid}`);
  const fingerprint = { modelFingerprint: `bench:${modelDir}` }; // the weights are random: no need to hash 10+ GB of them
  const t1 = performance.now();
  await extractStates({
    model,
    tokenizer,
    examples,
    outDir: out,
    info: { model: modelDir, adapter: null, dataset, distribution: "A", split: "validation", settings: {} },
    batchSize: prompts,
    warn: () => {},
    ...fingerprint,
  });
  const extractS = (performance.now() - t1) / 1000;
  rmSync(out, { recursive: true, force: true });
  console.log(JSON.stringify({ loadS, extractS, prompts: examples.length, tokens, streamed: model.params.streamed, dtype: model.params.dtype, peakRss: process.resourceUsage().maxRSS * 1024 }));
  process.exit(0);
}

const shapes = arg("shapes", Object.keys(PAPER_SHAPES).join(",")).split(",");
for (const s of shapes) if (!PAPER_SHAPES[s]) throw new Error(`--shapes: unknown shape '${s}'; expected ${Object.keys(PAPER_SHAPES).join(", ")}`);
const weights = arg("weights", "auto");
if (!WEIGHTS_MODES.includes(weights as WeightsMode)) throw new Error(`--weights must be one of ${WEIGHTS_MODES.join(", ")}`);
const root = arg("dir", join(tmpdir(), "quirky-shapes"));
const prompts = arg("prompts", "8");
const keep = process.argv.includes("--keep");
mkdirSync(root, { recursive: true });
const datasetDir = (await writeDataset(root, "addition", { baseExamples: 200, nValidation: 100, nTest: 100 })).dir;

console.log(`extraction of ${prompts} prompts (one batch; prompt + 2 choice forwards), weights ${weights}; node ${process.version}`);
console.log("model          dtype  weights GiB   mode       write s   load s   extract s   tokens/s   peak RSS GiB   peak/weights");
for (const shape of shapes) {
  const dir = join(root, shape);
  let writeS = "-";
  const written = !existsSync(join(dir, "config.json"));
  if (written) {
    const t = performance.now();
    writePaperShape(dir, shape);
    writeS = ((performance.now() - t) / 1000).toFixed(0);
  }
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), "--child", "--model", dir, "--dataset", datasetDir, "--prompts", prompts, "--weights", weights], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (written && !keep) rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0) {
    console.log(`${shape.padEnd(14)} failed (exit ${r.status})`);
    continue;
  }
  const m = JSON.parse(r.stdout.trim().split("\n").pop()!);
  const { config, dtype } = PAPER_SHAPES[shape];
  const bytes16 = weightBytes(parseConfig(config), dtype).total;
  console.log(
    `${shape.padEnd(14)} ${dtype.padEnd(5)} ${gib(bytes16).padStart(12)}   ${(m.streamed ? "stream" : "resident").padEnd(8)} ${writeS.padStart(9)} ${m.loadS.toFixed(1).padStart(8)} ${m.extractS.toFixed(1).padStart(11)} ${(m.tokens / m.extractS).toFixed(1).padStart(10)} ${gib(m.peakRss).padStart(14)} ${(m.peakRss / bytes16).toFixed(2).padStart(14)}×`,
  );
}
