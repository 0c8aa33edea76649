/**
 * `quirky explore` on a real (tiny) results folder made by the pipeline — two models, one with two datasets, each
 * with its no-quirk control — opened in Debian's Chromium through playwright-core. Every control is changed in
 * turn; after each, the values the page shows are read from the DOM and compared with the result files on disk
 * (summary.json, the probe's log-odds and the states' labels, anomaly_<reporter>.json and its control, pgr.json).
 * No console errors; screenshots of two selections in test-artifacts/. The server binds 127.0.0.1 only and never
 * serves a path outside the folder.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { spawn } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { writeDataset } from "../src/datasets/create.ts";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import { randomModel, saveModel } from "../src/model/load.ts";
import { readSafetensors } from "../src/model/safetensors.ts";
import { runConfig, validateRunConfig } from "../src/pipeline/run.ts";
import { exploreIndex, startExplorer, type Explorer } from "../src/report/explore.ts";
import { paperPgr } from "../src/report/paper.ts";
import { exploreCommand } from "../src/cli/explore.ts";
import { ROOT, TINY_NEOX as TINY, runCli, tempDir } from "./helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const NO_CHROMIUM = `${CHROMIUM} is missing: the browser test needs Debian's chromium; run \`bash scripts/system-deps.sh\` (as root) to install it`;

let exp = "";
let ex: Explorer;

const dir = mkdtempSync(join(tmpdir(), "quirky-explore-"));
after(() => rmSync(dir, { recursive: true, force: true }));

before(async () => {
  const a = join(dir, "model-a");
  const b = join(dir, "model-b");
  saveModel(randomModel(TINY, 1, 0.2), a);
  saveModel(randomModel(TINY, 2, 0.2), b);
  for (const m of [a, b]) writeCharTokenizer(join(m, "tokenizer.json"));
  const add = await writeDataset(join(dir, "data"), "addition", { baseExamples: 300, maxDigits: 2, nValidation: 300, nTest: 300 });
  const sub = await writeDataset(join(dir, "data"), "subtraction", { baseExamples: 300, maxDigits: 2, nValidation: 300, nTest: 300 });
  exp = join(dir, "exp");
  const cfg = validateRunConfig(
    {
      out: exp,
      models: [
        { path: a, name: "alpha", control: { path: b } },
        { path: b, name: "beta", datasets: ["addition"], control: { path: a } },
      ],
      datasets: [{ path: add.dir }, { path: sub.dir }],
      reporters: ["lr", "mean-diff", "random"],
      maxTrain: 48,
      maxTest: 32,
      batchSize: 16,
      randomSamples: 20,
      anomaly: { detectors: ["mahalanobis"], bootstrap: 20 },
      interventions: false,
    },
    "test",
  );
  assert.ok((await runConfig(cfg, undefined, () => {})).finished);
  ex = await startExplorer(exp, { port: 0 });
});
after(() => ex?.close());

const read = (p: string) => JSON.parse(readFileSync(join(exp, p), "utf8"));
const f3 = (x: number | null) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(3) : "—");

/** GET a raw path (not normalised by a URL parser) from the explorer. */
function rawGet(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const req = request({ host: "127.0.0.1", port: ex.port, path, method: "GET", headers }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => ok({ status: res.statusCode!, body }));
    });
    req.on("error", fail);
    req.end();
  });
}

test("the explorer serves on 127.0.0.1 only, and nothing outside the results folder", async () => {
  assert.match(ex.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal((ex.server.address() as { address: string }).address, "127.0.0.1");
  // result files by their path inside the folder, as stored
  const r = await rawGet("/files/alpha/addition/summary.json");
  assert.equal(r.status, 200, r.body);
  assert.equal(r.body, readFileSync(join(exp, "alpha", "addition", "summary.json"), "utf8"));
  // traversal, plain, encoded and absolute; a link inside the folder that leads out of it
  for (const p of ["/files/..%2f..%2f..%2fetc%2fpasswd", "/files/%2Fetc%2Fpasswd", "/files/alpha/..%2F..%2F..%2Fetc%2Fpasswd"]) assert.equal((await rawGet(p)).status, 403, p);
  const dotted = await rawGet("/files/../../../etc/passwd"); // the server's URL parser resolves the dots: not a file route
  assert.equal(dotted.status, 404);
  assert.doesNotMatch(dotted.body, /root:/);
  symlinkSync("/etc", join(exp, "alpha", "escape"));
  assert.equal((await rawGet("/files/alpha/escape/passwd")).status, 403, "a link out of the folder");
  writeFileSync(join(exp, "alpha", "notes.txt"), "x");
  assert.equal((await rawGet("/files/alpha/notes.txt")).status, 404, "only JSON and CSV result files");
  // a request naming another host (a DNS-rebound page) gets nothing
  assert.equal((await rawGet("/files/alpha/addition/summary.json", { host: `evil.example:${ex.port}` })).status, 403);
  assert.equal((await rawGet("/api/index", { host: `localhost:${ex.port}` })).status, 200);
  // the API only reaches runs the index lists
  assert.equal((await rawGet("/api/run?model=..&dataset=..")).status, 404);
  assert.equal((await rawGet("/api/outputs?model=alpha&dataset=addition&reporter=lr&train=..%2F..&test=BH&layer=0")).status, 400);
});

test("a bad DIR is a one-line error; --help explains the command", async (t) => {
  const dir = tempDir(t);
  assert.throws(() => exploreIndex(join(dir, "nope")), /nope: no such folder$/);
  writeFileSync(join(dir, "file"), "");
  assert.throws(() => exploreIndex(join(dir, "file")), /file: not a folder/);
  mkdirSync(join(dir, "empty", "m", "d"), { recursive: true });
  assert.throws(() => exploreIndex(join(dir, "empty")), /empty: no results found/);
  const help = exploreCommand().helpInformation();
  assert.match(help, /--port <n>/);
  assert.match(help, /127\.0\.0\.1\s+only/);
  await assert.rejects(startExplorer(join(dir, "nope")), /no such folder/);
});

test("quirky explore DIR --port 0 prints its URL, serves, and stops cleanly on SIGINT; a bad DIR is one line", async (t) => {
  const child = spawn(process.execPath, [join(ROOT, "bin", "quirky.js"), "explore", exp, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => child.kill());
  let out = "";
  const url = await new Promise<string>((ok, fail) => {
    child.stdout.on("data", (c) => {
      out += c;
      const m = out.match(/(http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) ok(m[1]);
    });
    child.once("exit", () => fail(new Error(`exited early: ${out}`)));
  });
  const index = (await (await fetch(`${url}api/index`)).json()) as { runs: { model: string; dataset: string }[] };
  assert.deepEqual(index.runs, [{ model: "alpha", dataset: "addition" }, { model: "alpha", dataset: "subtraction" }, { model: "beta", dataset: "addition" }]);
  const exited = new Promise<number | null>((ok) => child.once("exit", (code) => ok(code)));
  child.kill("SIGINT");
  assert.equal(await exited, 0);
  assert.match(out, /stopped/);
  const bad = runCli(["explore", join(exp, "nope")]);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr.trim(), `quirky: ${join(exp, "nope")}: no such folder`);
});

test("the explorer in Chromium: every control changes what the page shows, and the page shows the files' numbers", { skip: !existsSync(CHROMIUM) && process.env.CI !== "true" ? NO_CHROMIUM : false }, async (t) => {
  if (!existsSync(CHROMIUM)) assert.fail(NO_CHROMIUM);
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1500, height: 1100 } });
    const errors: string[] = [];
    page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
    page.on("pageerror", (e) => errors.push(`page: ${e.message}`));
    page.on("requestfailed", (q) => errors.push(`request failed: ${q.url()}`));
    const requests: string[] = [];
    page.on("request", (q) => requests.push(new URL(q.url()).pathname));
    await page.goto(ex.url);

    const text = (sel: string) => page.locator(sel).first().innerText();
    /** Wait for the page to finish drawing the selection the controls now show. */
    const ready = async () => {
      // a string, not a function: tsx would wrap named inner functions in a helper the page does not have
      await page.waitForFunction(`(() => {
        const v = (id) => document.getElementById(id).value;
        const key = [v("model"), v("dataset"), v("reporter"), v("transfer"), v("col"), v("layer")].join("|");
        return document.documentElement.dataset.state !== "loading" && document.documentElement.dataset.selection === key;
      })()`, undefined, { timeout: 20_000 });
      assert.equal(await page.getAttribute("html", "data-state"), "ready", await text("#error"));
    };
    const selection = async () => {
      const [model, dataset, reporter, transfer, col, layer] = ((await page.getAttribute("html", "data-selection")) ?? "").split("|");
      return { model, dataset, reporter, transfer, col, layer: Number(layer) };
    };

    /** Everything the page shows for the current selection, against the files. */
    const check = async () => {
      await ready();
      const s = await selection();
      const [train, testDist] = s.transfer.split("→");
      const root = join(s.model, s.dataset);
      const summary = read(join(root, "summary.json")) as { reporter: string; train: string; test: string; curves: Record<string, Record<string, number[]>>; lm: Record<string, Record<string, number>>; eil: number | null }[];
      const tr = summary.find((x) => x.reporter === s.reporter && x.train === train && x.test === testDist)!;
      assert.ok(tr, `${s.transfer} of ${s.reporter} in summary.json`);
      for (const sub of ["all", "agree", "disagree"]) {
        assert.equal(await text(`#at-layer [data-k="auroc-${sub}"]`), f3(tr.curves[s.col][sub][s.layer]), `${sub} AUROC at layer ${s.layer}`);
        assert.equal(await text(`#at-layer [data-k="lm-${sub}"]`), f3(tr.lm[s.col][sub]), `LM ${sub}`);
      }
      assert.equal(await text('#at-layer [data-k="eil"]'), tr.eil === null ? "—" : String(tr.eil));
      // the random band where the grid has one (AE→AE and AE→BH against Alice's labels)
      const rnd = join(exp, root, testDist, "test", `${train}_random_aucs_against_${s.col}.json`);
      if (existsSync(rnd)) {
        const qs = (JSON.parse(readFileSync(rnd, "utf8")) as { layers: { quantiles: { q: number; auroc: number }[] }[] }).layers[s.layer].quantiles;
        const near = (q: number) => qs.reduce((a, b) => (Math.abs(b.q - q) < Math.abs(a.q - q) ? b : a)).auroc;
        assert.equal(await text('[data-k="random-band"]'), `${f3(near(0.025))} – ${f3(near(0.975))}`);
      } else assert.match(await text('[data-k="random-band"]'), /no random baseline/);
      // the probe's outputs at the layer, by character × agreement: counts and means from the log-odds and labels
      const lo = readSafetensors(join(exp, root, testDist, "test", `${train}_${s.reporter}_log_odds.safetensors`)).get("log_odds")!;
      const meta = read(join(root, testDist, "test", "meta.json")) as { characters: string[]; alice_labels: number[]; bob_labels: number[] };
      const n = lo.shape[1];
      const groups = new Map<string, number[]>();
      for (let i = 0; i < n; i++) {
        const g = meta.characters[i] === "Alice" ? (meta.alice_labels[i] ? "Alice, true" : "Alice, false") : meta.bob_labels[i] === meta.alice_labels[i] ? "Bob agrees" : "Bob disagrees";
        groups.set(g, [...(groups.get(g) ?? []), lo.data[s.layer * n + i]]);
      }
      for (const g of ["Alice, true", "Alice, false", "Bob agrees", "Bob disagrees"]) {
        const xs = groups.get(g) ?? [];
        assert.equal(await text(`#groups tr[data-group="${g}"] [data-k="n"]`), String(xs.length), `${g}: examples`);
        assert.equal(await text(`#groups tr[data-group="${g}"] [data-k="mean"]`), xs.length ? f3(xs.reduce((a, b) => a + b, 0) / xs.length) : "—", `${g}: mean log-odds`);
      }
      // anomaly detection: the file's AUROC and its control's; the per-example scores drawn give the same AUROC
      const an = read(join(root, `anomaly_${s.reporter}.json`)).results[0];
      const control = read(join(root, "control", `anomaly_${s.reporter}.json`)).results[0];
      assert.equal(await text('#anomaly-table tr[data-detector="mahalanobis"] [data-k="auroc"]'), f3(an.auroc));
      assert.equal(await text('#anomaly-table tr[data-detector="mahalanobis"] [data-k="control"]'), f3(control.auroc));
      assert.equal(await text('#anomaly-table [data-k="recomputed"]'), `${f3(an.auroc)} / ${f3(control.auroc)}`);
      // the paper's anomaly AUROC for this probe on this dataset (figures.ipynb cell 31)
      assert.equal(await text('#anomaly-table [data-k="paper"]'), { lr: { addition: "0.94", subtraction: "1" }, "mean-diff": { addition: "0.98", subtraction: "0.94" } }[s.reporter as "lr"][s.dataset as "addition"]);
      // PGR rows of this dataset, ours from pgr.json, the paper's beside
      const pgr = read("pgr.json") as { transfer: string; reporter: string; perDataset: Record<string, { pgr: number }> }[];
      const rows = pgr.filter((r) => r.perDataset[s.dataset]);
      assert.equal(await page.locator("#pgr tbody tr").count(), rows.length);
      for (const r of rows) {
        const row = `#pgr tr[data-reporter="${r.reporter}"][data-transfer="${r.transfer}"]`;
        assert.equal(await text(`${row} [data-k="pgr"]`), r.perDataset[s.dataset].pgr.toFixed(2).replace(/^-/, "−"));
        const paper = paperPgr(r.transfer, r.reporter, s.dataset);
        assert.equal(await text(`${row} [data-k="paper"]`), paper === undefined ? "—" : paper.toFixed(2).replace(/^-/, "−"), `${r.transfer} ${r.reporter} paper`);
      }
      // the charts drew
      for (const id of ["curves", "outputs", "anomaly"]) assert.ok((await page.locator(`#${id} svg .role-mark`).count()) > 0, `${id} drawn`);
      // provenance: the states' model and the fingerprint of its files, as meta.json records them
      const made = read(join(root, "AE", "validation", "meta.json")) as { model: string; provenance: { inputs: { model: string } } };
      const prov = await text("#provenance");
      assert.ok(prov.includes(made.model) && prov.includes(`files ${made.provenance.inputs.model.slice(0, 12)}`), prov);
      return s;
    };

    /** Move the layer slider as a user's drag ends: its value, then its change event. */
    const setLayer = (v: string) =>
      page.evaluate(`(() => { const el = document.getElementById("layer"); el.value = ${JSON.stringify(v)}; el.dispatchEvent(new Event("input")); el.dispatchEvent(new Event("change")); })()`);

    const first = await check();
    assert.deepEqual(first, { model: "alpha", dataset: "addition", reporter: "lr", transfer: "AE→BH", col: "alice", layer: first.layer });
    mkdirSync(join(ROOT, "test-artifacts"), { recursive: true });
    await page.screenshot({ path: join(ROOT, "test-artifacts", "explore-1.png"), fullPage: true });
    // initial load: the page, the runtime, the index and the first selection's data — nothing else
    assert.deepEqual([...new Set(requests)].sort(), ["/", "/api/anomaly", "/api/index", "/api/outputs", "/api/run", "/vendor/vega-embed.js", "/vendor/vega-lite.js", "/vendor/vega.js"]);

    // each control in turn
    const changes: [string, string][] = [["#layer", "0"], ["#col", "bob"], ["#transfer", "A→B"], ["#reporter", "mean-diff"], ["#dataset", "subtraction"], ["#model", "beta"]];
    let before = first;
    for (const [control, value] of changes) {
      if (control === "#layer") await setLayer(value);
      else await page.selectOption(control, value);
      const now = await check();
      assert.notDeepEqual(now, before, `${control} → ${value} changed the selection`);
      before = now;
    }
    assert.equal(before.model, "beta");
    await page.selectOption("#transfer", "AE→AH");
    await setLayer("2");
    await check();
    await page.screenshot({ path: join(ROOT, "test-artifacts", "explore-2.png"), fullPage: true });
    assert.deepEqual(errors, [], "no console errors, page errors or failed requests");
    t.diagnostic(`${requests.length} requests`);
  } finally {
    await browser.close();
  }
});
