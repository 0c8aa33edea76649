/**
 * `quirky explore DIR`: a local web page over a results folder (demo, run or grid output), served on 127.0.0.1.
 *
 * The page loads only the list of (model, dataset) folders up front; each selection fetches what it shows:
 *
 *   /api/index                                     the runs (names only) and whether pgr.json exists
 *   /api/run?model&dataset                         its transfers' layerwise AUROCs, random-direction bands, anomaly
 *                                                  results (with the no-quirk control), PGR rows with the paper's
 *                                                  numbers, and provenance
 *   /api/outputs?model&dataset&reporter&train&test&layer
 *                                                  the probe's log-odds at one layer, one per test example, with its
 *                                                  character and Alice's and Bob's labels
 *   /api/anomaly?model&dataset&reporter            per-example Mahalanobis scores (fitted on AE, scoring AH and BH),
 *                                                  on the model and on its no-quirk control
 *   /files/<path>                                  a JSON or CSV result file under DIR, as stored
 *
 * Names in a query must be a run the index lists and a reporter/distribution of its files; a path under /files/
 * must resolve (links followed) inside DIR. Anything else is a 404 or 403, never a read outside DIR. Requests must
 * name 127.0.0.1 or localhost as their Host (no DNS rebinding).
 */
import { createServer, type Server } from "node:http";
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from "node:fs";
import { basename, extname, join, resolve, sep } from "node:path";
import { fitDetector } from "../analysis/anomaly.ts";
import { CONTROL_DIR } from "../analysis/anomaly-control.ts";
import { auroc } from "../probes/metrics.ts";
import { readSafetensors } from "../model/safetensors.ts";
import { escapeHtml } from "./escape.ts";
import { provenanceHtml } from "./header.ts";
import { runtimeScripts } from "./html.ts";
import { emptyData, listRuns, num, readPgr, readRun } from "./load.ts";
import { NO_PAPER_DATASET, PAPER_SOURCE_NOTE, noPaperReason, paperAnomalyNumber, paperFloorCeiling, paperPgrNumber } from "./paper.ts";
import { explorePageHtml } from "./explore-page.ts";
import { reporterLabel, sortReporters } from "./figures/vega.ts";

/** Client errors with their HTTP status. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The results folder's runs (names only) — all the page needs to start. */
export function exploreIndex(dir: string): { name: string; runs: { model: string; dataset: string }[]; pgr: boolean } {
  checkResultsDir(dir);
  const runs = listRuns(dir).filter((r) => isResultRun(join(dir, r.model, r.dataset)));
  if (runs.length === 0) throw new Error(`${dir}: no results found (expected <model>/<dataset>/summary.json or anomaly_<reporter>.json, as 'quirky demo', 'quirky run' or 'quirky grid' write)`);
  return { name: basename(resolve(dir)), runs, pgr: existsSync(join(dir, "pgr.json")) };
}

/** A clear one-line error for a DIR that is not a folder. */
export function checkResultsDir(dir: string): void {
  if (!existsSync(dir)) throw new Error(`${dir}: no such folder`);
  if (!statSync(dir).isDirectory()) throw new Error(`${dir}: not a folder (expected a results folder <model>/<dataset>/…)`);
}

const isResultRun = (root: string) => existsSync(join(root, "summary.json")) || readdirSync(root).some((f) => /^anomaly_.+\.json$/.test(f));

/** The run named by a query, or a 404: only names the index lists reach the disk. */
function runOf(dir: string, model: string | null, dataset: string | null): { model: string; dataset: string; root: string } {
  if (!model || !dataset) throw new HttpError(400, "model and dataset are required");
  if (!listRuns(dir).some((r) => r.model === model && r.dataset === dataset)) throw new HttpError(404, `no run ${model} × ${dataset}`);
  return { model, dataset, root: join(dir, model, dataset) };
}

/** Nearest quantile of a random baseline's summary to q. */
const quantileAt = (qs: { q: number; auroc: number }[], q: number) => qs.reduce((a, b) => (Math.abs(b.q - q) < Math.abs(a.q - q) ? b : a)).auroc;

/**
 * Everything the page shows for one (model, dataset) apart from per-example outputs: transfers (reporter, train,
 * test, per-layer AUROC by label column and subset, the LM's AUROC, EIL), random-direction bands (2.5%, 50%, 97.5%
 * quantiles per layer and subset), anomaly results with their control, PGR rows for this dataset with the paper's.
 */
export function exploreRun(dir: string, modelName: string | null, datasetName: string | null) {
  const { model, dataset } = runOf(dir, modelName, datasetName);
  const data = emptyData(dir);
  readRun(dir, model, dataset, data);
  data.models = [model];
  data.datasets = [dataset];
  const transfers = (data.runs[0]?.transfers ?? []).map((t) => ({ reporter: t.reporter, train: t.train, test: t.test, curves: t.curves, lm: t.lm, eil: t.eil, atEil: t.atEil }));
  const random = data.random.map((r) => ({
    train: r.train,
    test: r.test,
    labelCol: r.labelCol,
    layers: r.layers.map((l) => {
      const band = (qs: { q: number; auroc: number }[]) => ({ lo: quantileAt(qs, 0.025), median: quantileAt(qs, 0.5), hi: quantileAt(qs, 0.975) });
      const subsets = (l as { subsets?: Record<string, { quantiles: { q: number; auroc: number }[] }> }).subsets ?? {};
      return { all: band(l.quantiles), ...Object.fromEntries(Object.entries(subsets).map(([s, v]) => [s, band(v.quantiles)])) };
    }),
  }));
  // why the paper has no number: none for the method at all, or none for this dataset
  const why = (hasMethod: boolean, reporter: string) => (hasMethod ? NO_PAPER_DATASET : noPaperReason(reporter));
  const anomaly = data.anomaly.map((a) => {
    const paper = paperAnomalyNumber(a.reporter, "mahalanobis", dataset);
    return { reporter: a.reporter, results: a.results, control: a.control ?? null, paper: paper ?? null, paperWhy: paper ? null : why(paperAnomalyNumber(a.reporter) !== undefined, a.reporter) };
  });
  const pgr = (readPgr(dir) ?? []).flatMap((r) => {
    const v = r.perDataset[dataset];
    if (!v) return [];
    const paper = paperPgrNumber(r.transfer, r.reporter, dataset);
    const paperWhy = paper ? null : why(paperPgrNumber(r.transfer, r.reporter) !== undefined, r.reporter);
    return [{ transfer: r.transfer, reporter: r.reporter, method: reporterLabel(r.reporter), auroc: num(v.auroc), floor: num(v.floor), ceiling: num(v.ceiling), pgr: num(v.pgr), paper: paper ?? null, paperWhy }];
  });
  const paperFloors = Object.fromEntries(["AE→BH", "A→B"].map((t) => [t, { floor: paperFloorCeiling(t, "floor", dataset) ?? null, ceiling: paperFloorCeiling(t, "ceiling", dataset) ?? null }]));
  return {
    model,
    dataset,
    reporters: sortReporters(transfers.map((t) => t.reporter)).map((r) => ({ id: r, label: reporterLabel(r) })),
    transfers,
    random,
    anomaly,
    pgr,
    paperFloors,
    paperSource: PAPER_SOURCE_NOTE,
    provenance: provenanceHtml(data),
  };
}

const NAME = /^[A-Za-z0-9_-]+$/;

/** The log-odds file of `reporter` fitted on `train`, tested on `test` (any label column it was fitted against). */
function logOddsPath(testDir: string, train: string, reporter: string): string {
  if (![train, reporter].every((s) => NAME.test(s))) throw new HttpError(400, "bad reporter or distribution name");
  const name = existsSync(testDir) ? readdirSync(testDir).find((f) => f === `${train}_${reporter}_log_odds.safetensors` || new RegExp(`^${train}_${reporter}_against_(alice|bob)_log_odds\\.safetensors$`).test(f)) : undefined;
  if (!name) throw new HttpError(404, `no ${train}→ outputs of ${reporter} in ${basename(testDir)}`);
  return join(testDir, name);
}

/** Per-example labels of a test split (its states' meta.json). */
function labelsOf(testDir: string): { characters: string[]; alice: number[]; bob: number[]; labels: number[] } {
  const path = join(testDir, "meta.json");
  if (!existsSync(path)) throw new HttpError(404, `${basename(testDir)}: no meta.json`);
  const m = JSON.parse(readFileSync(path, "utf8")) as { characters: string[]; alice_labels: number[]; bob_labels: number[]; labels: number[] };
  return { characters: m.characters, alice: m.alice_labels.map(Number), bob: m.bob_labels.map(Number), labels: m.labels.map(Number) };
}

/**
 * The probe's log-odds at one layer on every test example of `test`, with the example's character and labels and
 * its group: "Alice, true" / "Alice, false" (by Alice's label) or "Bob agrees" / "Bob disagrees" (with Alice).
 */
export function exploreOutputs(dir: string, q: URLSearchParams) {
  const { root } = runOf(dir, q.get("model"), q.get("dataset"));
  const [reporter, train, test] = ["reporter", "train", "test"].map((k) => q.get(k) ?? "");
  if (!NAME.test(test)) throw new HttpError(400, "bad test distribution");
  const testDir = join(root, test, "test");
  const t = readSafetensors(logOddsPath(testDir, train, reporter)).get("log_odds")!;
  const [L, n] = t.shape;
  const layer = Number(q.get("layer"));
  if (!Number.isInteger(layer) || layer < 0 || layer >= L) throw new HttpError(400, `layer must be 0…${L - 1}`);
  const lab = labelsOf(testDir);
  const group = (i: number) => (lab.characters[i] === "Alice" ? (lab.alice[i] ? "Alice, true" : "Alice, false") : lab.bob[i] === lab.alice[i] ? "Bob agrees" : "Bob disagrees");
  const rows = Array.from({ length: n }, (_, i) => ({ score: t.data[layer * n + i], group: group(i), alice: lab.alice[i], bob: lab.bob[i] }));
  return { layers: L, n, layer, rows };
}

/** Per-example features of one log-odds file: (n, L), one row of per-layer log-odds per example. */
function features(file: string): { x: Float64Array; n: number; d: number } {
  const t = readSafetensors(file).get("log_odds")!;
  const [L, n] = t.shape;
  const x = new Float64Array(n * L);
  for (let l = 0; l < L; l++) for (let i = 0; i < n; i++) x[i * L + l] = t.data[l * n + i];
  return { x, n, d: L };
}

/**
 * Mahalanobis anomaly scores as the anomaly experiment computes them (fit on AE test outputs of the AE-fitted probe;
 * score AH, normal, and BH, anomalous), on the model and, where the run has one, its no-quirk control; with the
 * AUROC of these scores (the anomaly file's number, recomputed without the bootstrap).
 */
export function exploreAnomaly(dir: string, q: URLSearchParams) {
  const { root } = runOf(dir, q.get("model"), q.get("dataset"));
  const reporter = q.get("reporter") ?? "";
  const side = (base: string) => {
    const [fit, normal, anomalous] = ["AE", "AH", "BH"].map((d) => features(logOddsPath(join(base, d, "test"), "AE", reporter)));
    const det = fitDetector("mahalanobis", fit.x, fit.n, fit.d);
    const s = [...det.score(normal.x, normal.n, normal.d), ...det.score(anomalous.x, anomalous.n, anomalous.d)];
    const labels = Uint8Array.from(s, (_, i) => (i < normal.n ? 0 : 1));
    return { auroc: auroc(s, labels), rows: s.map((score, i) => ({ score, set: i < normal.n ? "AH (normal)" : "BH (anomalous)" })) };
  };
  const control = existsSync(join(root, CONTROL_DIR, "AE", "test")) ? side(join(root, CONTROL_DIR)) : null;
  return { reporter, model: side(root), control };
}

const TYPES: Record<string, string> = { ".json": "application/json; charset=utf-8", ".csv": "text/csv; charset=utf-8", ".jsonl": "application/json; charset=utf-8" };

/** A result file under DIR by its path relative to DIR; 403 for anything resolving outside DIR, 404 otherwise missing. */
export function resultFile(dir: string, rel: string): { path: string; type: string } {
  const base = realpathSync(dir);
  const path = resolve(base, rel);
  const inside = (p: string) => p === base || p.startsWith(base + sep);
  if (!inside(path)) throw new HttpError(403, "outside the results folder");
  if (!existsSync(path)) throw new HttpError(404, "no such file");
  const real = realpathSync(path); // a link inside DIR must not lead out of it
  if (!inside(real)) throw new HttpError(403, "outside the results folder");
  const type = TYPES[extname(real)];
  if (!type || !statSync(real).isFile()) throw new HttpError(404, "only JSON and CSV result files are served");
  return { path: real, type };
}

export interface Explorer {
  url: string;
  port: number;
  server: Server;
  close: () => Promise<void>;
}

/**
 * Serve the explorer over `dir` on 127.0.0.1 (`port` 0: any free port). Checks the folder first, so a bad DIR is
 * an error before anything listens.
 */
export async function startExplorer(dir: string, opts: { port?: number } = {}): Promise<Explorer> {
  const index = exploreIndex(dir);
  const page = explorePageHtml(index.name);
  const vendor = new Map(runtimeScripts().map((r) => [`/vendor/${r.pkg}.js`, r.code]));
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store", "x-content-type-options": "nosniff" });
      res.end(body);
    };
    const json = (v: unknown) => send(200, "application/json; charset=utf-8", JSON.stringify(v));
    try {
      // only this machine's own names: a page elsewhere cannot reach the folder through a rebound DNS name
      const port = (server.address() as { port: number }).port;
      if (![`127.0.0.1:${port}`, `localhost:${port}`].includes(req.headers.host ?? "")) throw new HttpError(403, "unexpected Host header");
      if (req.method !== "GET") throw new HttpError(405, "GET only");
      const p = url.pathname;
      if (p === "/") send(200, "text/html; charset=utf-8", page);
      else if (vendor.has(p)) send(200, "text/javascript; charset=utf-8", vendor.get(p)!);
      else if (p === "/api/index") json(exploreIndex(dir));
      else if (p === "/api/run") json(exploreRun(dir, url.searchParams.get("model"), url.searchParams.get("dataset")));
      else if (p === "/api/outputs") json(exploreOutputs(dir, url.searchParams));
      else if (p === "/api/anomaly") json(exploreAnomaly(dir, url.searchParams));
      else if (p.startsWith("/files/")) {
        const f = resultFile(dir, decodeURIComponent(p.slice("/files/".length)));
        send(200, f.type, readFileSync(f.path));
      } else if (p === "/favicon.ico") send(204, "text/plain", "");
      else throw new HttpError(404, "not found");
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 500;
      send(status, "text/plain; charset=utf-8", escapeHtml((err as Error).message));
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(opts.port ?? 0, "127.0.0.1", () => ok());
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    server,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
