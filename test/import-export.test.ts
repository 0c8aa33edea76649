/**
 * `quirky import` and `quirky export` against numpy's own files: arrays written by np.save (Debian's numpy) come in,
 * run through the grid exactly as the same arrays written through the library's writeStates, agree with
 * scikit-learn's LogR, go back out as the bytes numpy wrote, and every bad input is one line that writes nothing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { files, runCli, runPython, tempDir } from "./helpers.ts";
import { writeStates, type StatesMeta } from "../src/extract/states.ts";
import { runGridOnStates } from "../src/analysis/grid.ts";
import { distributionFilter } from "../src/datasets/templatize.ts";
import { readNpy } from "../src/util/npy.ts";
import { hashBytesBase64, hashJson } from "../src/util/fingerprint.ts";
import type { Distribution } from "../src/datasets/schema.ts";

const L = 3;
const D = 6;
const N = { validation: 240, test: 200 };

/**
 * numpy writes a source folder: a truth direction that grows with depth, Bob's lie on about half his rows, pair
 * states with the answer in them, LM log-odds that follow the speaker's label. Dtypes are those export writes.
 */
const MAKE = String.raw`
import json, sys, numpy as np
out, L, D, nv, nt = sys.argv[1], *map(int, sys.argv[2:6])
rng = np.random.default_rng(7)
truth = rng.standard_normal(D)
import os
for split, n in (("validation", nv), ("test", nt)):
    d = os.path.join(out, split); os.makedirs(d, exist_ok=True)
    alice = rng.integers(0, 2, n)
    bob = np.where(rng.random(n) < 0.5, 1 - alice, alice)
    char = np.where(np.arange(n) % 2 == 0, "Alice", "Bob")
    label = np.where(char == "Alice", alice, bob)
    diff = rng.random(n) * 10
    h = rng.standard_normal((L, n, D)) + (np.arange(1, L + 1)[:, None, None] * 0.6) * (2 * alice - 1)[None, :, None] * truth
    pairs = rng.standard_normal((L, n, 2, D)).astype(np.float32)
    pairs[:, :, 1, :] += 0.8 * (2 * alice - 1)[None, :, None]
    np.save(os.path.join(d, "hiddens.npy"), h.astype(np.float32))
    np.save(os.path.join(d, "pair_hiddens.npy"), pairs)
    np.save(os.path.join(d, "lm_log_odds.npy"), (2.0 * (2 * label - 1) + rng.standard_normal(n)).astype(np.float32))
    np.save(os.path.join(d, "labels.npy"), label.astype(np.int64))
    np.save(os.path.join(d, "alice_labels.npy"), alice.astype(np.int64))
    np.save(os.path.join(d, "bob_labels.npy"), bob.astype(np.int64))
    np.save(os.path.join(d, "character.npy"), char)
    np.save(os.path.join(d, "difficulty.npy"), diff)
    np.save(os.path.join(d, "ids.npy"), np.array(["%s%05d" % (split[0], i) for i in range(n)]))
`;

function makeSource(dir: string): string {
  const src = join(dir, "src");
  runPython(`import sys; sys.argv = ["make"] + ${JSON.stringify([src, L, D, N.validation, N.test].map(String))}\n${MAKE}`, "");
  return src;
}

/** The (rank + 0.5) / n quantiles over both splits (ties in order), computed here independently of import.ts. */
function quantiles(d: Record<string, number[]>): Record<string, number[]> {
  const all = Object.entries(d).flatMap(([split, v]) => v.map((x, i) => ({ x, split, i })));
  const order = [...all].sort((a, b) => a.x - b.x || (a.split === b.split ? a.i - b.i : a.split === "validation" ? -1 : 1));
  const out: Record<string, number[]> = Object.fromEntries(Object.entries(d).map(([k, v]) => [k, new Array(v.length)]));
  order.forEach((o, rank) => (out[o.split][o.i] = (rank + 0.5) / all.length));
  return out;
}

/** Write the same arrays through the library's writeStates: the rows of each distribution picked here. */
function writeThroughLibrary(src: string, root: string, model: string, dataset: string, dists: { distribution: Distribution; split: "validation" | "test" }[]): void {
  const load = (split: string, f: string) => readNpy(join(src, split, `${f}.npy`));
  const q = quantiles({ validation: Array.from(load("validation", "difficulty").data as ArrayLike<number>), test: Array.from(load("test", "difficulty").data as ArrayLike<number>) });
  for (const { distribution, split } of dists) {
    const n = N[split];
    const chars = load(split, "character").data as string[];
    const f = distributionFilter(distribution);
    const keep = chars.flatMap((c, i) => ((f.character === undefined || c === f.character) && q[split][i] >= f.minQuantile && q[split][i] <= f.maxQuantile ? [i] : []));
    const h = load(split, "hiddens").data as Float32Array;
    const p = load(split, "pair_hiddens").data as Float32Array;
    const lm = load(split, "lm_log_odds").data as Float32Array;
    const hid = new Float32Array(L * keep.length * D);
    const pairs = new Float32Array(L * keep.length * 2 * D);
    for (let l = 0; l < L; l++) keep.forEach((i, j) => {
      hid.set(h.subarray((l * n + i) * D, (l * n + i + 1) * D), (l * keep.length + j) * D);
      pairs.set(p.subarray((l * n + i) * 2 * D, (l * n + i + 1) * 2 * D), (l * keep.length + j) * 2 * D);
    });
    const num = (name: string) => keep.map((i) => Number((load(split, name).data as ArrayLike<number>)[i]));
    const meta: Omit<StatesMeta, "complete" | "provenance" | "imported"> = {
      model, adapter: null, dataset, distribution, split, n: keep.length, layers: L, d: D,
      ids: keep.map((i) => (load(split, "ids").data as string[])[i]),
      labels: num("labels"), alice_labels: num("alice_labels"), bob_labels: num("bob_labels"),
      characters: keep.map((i) => chars[i] as "Alice" | "Bob"), difficulty: num("difficulty"), difficulty_quantiles: keep.map((i) => q[split][i]),
      template_indices: keep.map(() => 0), choice_tokens: keep.map(() => [-1, -1] as [number, number]),
      settings: { imported: true, layerAxis: 0, difficultyQuantile: "computed over the imported rows" },
    };
    writeStates(join(root, distribution, split), meta, hid, pairs, Float32Array.from(keep.map((i) => lm[i])));
  }
}

test("import: numpy's arrays run the grid exactly as the same arrays written by writeStates, and agree with scikit-learn's LogR", async (t) => {
  const dir = tempDir(t);
  const src = makeSource(dir);
  const r = runCli(["import", "--from", src, "--out", join(dir, "exp"), "--model", "np-model", "--dataset-name", "addition"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /imported 240 validation \+ 200 test rows, 3 layers × 6, with pair states, with LM log-odds/);
  const imported = join(dir, "exp", "np-model", "addition");
  const meta = JSON.parse(readFileSync(join(imported, "A", "validation", "meta.json"), "utf8"));
  assert.deepEqual(meta.imported.from.map((f: string) => f.split("/").pop()), ["alice_labels.npy", "bob_labels.npy", "character.npy", "difficulty.npy", "hiddens.npy", "ids.npy", "labels.npy", "lm_log_odds.npy", "pair_hiddens.npy"]);

  const dists = readdirSync(imported).flatMap((distribution) => readdirSync(join(imported, distribution)).map((split) => ({ distribution: distribution as Distribution, split: split as "validation" | "test" })));
  const library = join(dir, "lib", "np-model", "addition");
  writeThroughLibrary(src, library, "np-model", "addition", dists);
  // the states themselves: same bytes, same provenance
  for (const { distribution, split } of dists) {
    const a = join(imported, distribution, split);
    const b = join(library, distribution, split);
    assert.ok(readFileSync(join(a, "states.safetensors")).equals(readFileSync(join(b, "states.safetensors"))), `${distribution}/${split} states`);
    assert.equal(JSON.parse(readFileSync(join(a, "meta.json"), "utf8")).provenance.fingerprint, JSON.parse(readFileSync(join(b, "meta.json"), "utf8")).provenance.fingerprint);
  }

  const opts = { randomSamples: 64, seed: 3 };
  assert.equal(runCli(["grid", "--root", imported, "--random-samples", "64", "--seed", "3"]).code, 0);
  await runGridOnStates(library, opts);
  // every output of the grid (metrics, fitted reporters, log-odds, random baselines), byte for byte
  // (summary.json is the CLI's, beside the grid's outputs)
  const outputs = (root: string) => new Map([...files(root)].filter(([f]) => !f.endsWith("meta.json") && f !== "summary.json"));
  const a = outputs(imported);
  const b = outputs(library);
  assert.ok(a.size > 60, `only ${a.size} outputs`);
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [f, bytes] of a) assert.ok(bytes.equals(b.get(f)!), `${f} differs`);

  // scikit-learn's LogR (C = 1/(2 n λ), our λ = 1e-3) fitted on A/validation, AUROC on B/test against Alice's labels
  const ours = JSON.parse(readFileSync(join(imported, "B", "test", "A_lr_metrics.json"), "utf8")) as { layers: { alice: { all: { value: number } } }[] };
  const sk = JSON.parse(runPython(String.raw`
import json, sys, numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
src, L = sys.argv[1], int(sys.argv[2])
ld = lambda s, f: np.load(f"{src}/{s}/{f}.npy")
va, te = ld("validation", "character") == "Alice", ld("test", "character") == "Bob"
out = []
for l in range(L):
    x, y = ld("validation", "hiddens")[l][va].astype(np.float64), ld("validation", "labels")[va]
    m = LogisticRegression(C=1 / (2 * len(y) * 1e-3), tol=1e-10, max_iter=10000).fit(x, y)
    out.append(roc_auc_score(ld("test", "alice_labels")[te], m.decision_function(ld("test", "hiddens")[l][te].astype(np.float64))))
print(json.dumps(out))
`.replace("sys.argv[1], int(sys.argv[2])", `${JSON.stringify(src)}, ${L}`), ""));
  // A and B keep every row of their character: sklearn sees the same rows as our A/validation and B/test
  assert.equal(meta.n, N.validation / 2);
  t.diagnostic(`LogR A→B AUROC vs Alice by layer: ours ${ours.layers.map((x) => x.alice.all.value.toFixed(4)).join(" ")}; sklearn ${sk.map((x: number) => x.toFixed(4)).join(" ")}`);
  for (let l = 0; l < L; l++) assert.ok(Math.abs(ours.layers[l].alice.all.value - sk[l]) <= 0.005, `layer ${l}: ours ${ours.layers[l].alice.all.value}, sklearn ${sk[l]}`);
  assert.ok(sk[L - 1] > 0.6, `the planted direction is readable (${sk[L - 1]})`);

  // export gives numpy's files back, byte for byte; the report and tables run on imported states
  const out = join(dir, "npy");
  assert.equal(runCli(["export", imported, "--out", out]).code, 0);
  for (const split of ["validation", "test"]) {
    for (const f of readdirSync(join(src, split))) {
      assert.ok(readFileSync(join(out, "all", split, f)).equals(readFileSync(join(src, split, f))), `${split}/${f} round trip`);
    }
    assert.ok(existsSync(join(out, "all", split, "difficulty_quantile.npy")));
  }
  assert.equal(readNpy(join(out, "A", "test", "log_odds", "A_lr_log_odds.npy")).shape.join(","), `${L},${N.test / 2}`);
  // export → import gives the same states again
  const again = runCli(["import", "--from", join(out, "all"), "--out", join(dir, "exp2"), "--model", "np-model", "--dataset-name", "addition"]);
  assert.equal(again.code, 0, again.stderr);
  for (const { distribution, split } of dists) {
    assert.ok(readFileSync(join(dir, "exp2", "np-model", "addition", distribution, split, "states.safetensors")).equals(readFileSync(join(imported, distribution, split, "states.safetensors"))));
  }
  const tables = runCli(["tables", join(dir, "exp")]);
  assert.equal(tables.code, 0, tables.stderr);
  assert.match(tables.stdout, /AE→BH\s+lr/);
  const rep = runCli(["report", join(dir, "exp"), "--out", join(dir, "report")]);
  assert.equal(rep.code, 0, rep.stderr);
  const html = readFileSync(join(dir, "report", "index.html"), "utf8");
  assert.ok(html.includes("np-model"));
  assert.ok(html.includes("imported with <code>quirky import</code>"), "the report says the states were imported");
  const anomaly = runCli(["anomaly", "--root", imported, "--reporter", "lr", "--bootstrap", "50"]);
  assert.equal(anomaly.code, 0, anomaly.stderr);
});

test("import: importing again is a no-op; other data in the same folder is refused without --force", (t) => {
  const dir = tempDir(t);
  const src = makeSource(dir);
  const args = ["import", "--from", src, "--out", join(dir, "exp"), "--model", "m", "--dataset-name", "addition", "--reporters", "lr,random"];
  assert.equal(runCli(args).code, 0);
  const r = runCli(args);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /0 states folders written, \d+ unchanged/);
  const changed = join(dir, "changed");
  cpSync(src, changed, { recursive: true });
  runPython(`import numpy as np; p = ${JSON.stringify(join(changed, "test", "hiddens.npy"))}; a = np.load(p); a[0, 0, 0] += 1; np.save(p, a)`, "");
  const before = files(join(dir, "exp"));
  const refused = runCli([...args.slice(0, 2), changed, ...args.slice(3)]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /computed from other inputs than now.*--force/);
  assert.deepEqual(files(join(dir, "exp")), before);
  assert.equal(runCli([...args.slice(0, 2), changed, ...args.slice(3), "--force"]).code, 0);
});

test("import: labels from a quirky dataset's rows, matched by id and by order", (t) => {
  const dir = tempDir(t);
  const ds = join(dir, "ds");
  assert.equal(runCli(["datasets", "create", "addition", "--out", ds, "--base-examples", "1000", "--n-validation", "200", "--n-test", "200", "--format", "jsonl"]).code, 0);
  const rows = (split: string) => readFileSync(join(ds, "addition", `${split}.jsonl`), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const src = join(dir, "src");
  const counts: Record<string, number> = {};
  for (const split of ["validation", "test"]) {
    const rs = rows(split);
    counts[split] = rs.length;
    // the states "another tool" made for these rows, in reverse order, with ids
    runPython(String.raw`
import json, sys, os, numpy as np
d, ids = sys.argv[1], json.loads(sys.stdin.read())
os.makedirs(d, exist_ok=True)
rng = np.random.default_rng(1)
h = rng.standard_normal((2, len(ids), 4)).astype(np.float16)
np.save(f"{d}/hiddens.npy", h)
np.save(f"{d}-upcast.npy", h.astype(np.float32))
np.save(f"{d}/pair_hiddens.npy", rng.standard_normal((2, len(ids), 2, 4)))
np.save(f"{d}/ids.npy", np.array(ids))
`.replace("sys.argv[1]", JSON.stringify(join(src, split))), JSON.stringify(rs.map((r: { id: string }) => r.id).reverse()));
  }
  const byId = runCli(["import", "--from", src, "--out", join(dir, "exp"), "--model", "m", "--dataset", join(ds, "addition")]);
  assert.equal(byId.code, 0, byId.stderr);
  const meta = JSON.parse(readFileSync(join(dir, "exp", "m", "addition", "all", "test", "meta.json"), "utf8"));
  const want = rows("test").reverse();
  assert.deepEqual(meta.ids, want.map((r: { id: string }) => r.id));
  assert.deepEqual(meta.bob_labels, want.map((r: { bob_label: boolean }) => +r.bob_label));
  assert.deepEqual(meta.difficulty_quantiles, want.map((r: { difficulty_quantile: number }) => r.difficulty_quantile));
  // f16 states are stored as numpy's own f16 → f32 upcast, bit for bit
  assert.equal(runCli(["export", join(dir, "exp", "m", "addition", "all", "test"), "--out", join(dir, "x")]).code, 0);
  assert.ok(readFileSync(join(dir, "x", "hiddens.npy")).equals(readFileSync(join(src, "test-upcast.npy"))));
  // by order, the reversed rows do not match: the first id is named
  const byOrder = runCli(["import", "--from", src, "--out", join(dir, "exp3"), "--model", "m", "--dataset", join(ds, "addition"), "--match", "order"]);
  assert.equal(byOrder.code, 1);
  assert.match(byOrder.stderr, /ids: '[0-9a-f]{8}' at row 0, but row 0 of .*'s validation split is '[0-9a-f]{8}'/);
  assert.ok(!existsSync(join(dir, "exp3")));
  assert.ok(counts.test > 0);
});

/** The CLI's main() in this process: what it prints on stderr and the exit code it sets. */
async function runMainHere(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { main } = await import("../src/cli/main.ts");
  let stdout = "";
  let stderr = "";
  const [log, error] = [console.log, console.error];
  console.log = (...a: unknown[]) => void (stdout += a.join(" ") + "\n");
  console.error = (...a: unknown[]) => void (stderr += a.join(" ") + "\n");
  const before = process.exitCode;
  try {
    await main(["node", "quirky", ...args]);
    return { code: process.exitCode === undefined ? 0 : Number(process.exitCode), stdout, stderr };
  } finally {
    [console.log, console.error] = [log, error];
    process.exitCode = before;
  }
}

test("import: every bad input is one line naming the file and field, exits non-zero and writes nothing", async (t) => {
  const dir = tempDir(t);
  const src = makeSource(dir);
  const py = (code: string, at: string) => runPython(`import numpy as np, json\nd = ${JSON.stringify(at)}\n${code}`, "");
  const cases: [string, (at: string) => void, RegExp, string[]?][] = [
    ["wrong rank", (at) => py(`np.save(d + "/validation/hiddens.npy", np.zeros((3, 240), np.float32))`, at), /validation\/hiddens\.npy: hiddens: shape \(3, 240\) has rank 2; expected \[L, n, d\]/],
    ["n mismatch", (at) => py(`np.save(d + "/test/labels.npy", np.zeros(199, np.int64))`, at), /test\/labels\.npy: labels: 199 rows, but hiddens has 200/],
    ["labels 2", (at) => py(`a = np.load(d + "/validation/alice_labels.npy"); a[5] = 2; np.save(d + "/validation/alice_labels.npy", a)`, at), /alice_labels\.npy: alice_labels: value 2 at row 5; labels must be 0 or 1/],
    ["NaN", (at) => py(`a = np.load(d + "/test/hiddens.npy"); a[1, 7, 2] = np.nan; np.save(d + "/test/hiddens.npy", a)`, at), /test\/hiddens\.npy: hiddens: non-finite value NaN at layer 1, row 7/],
    ["f64 with Inf", (at) => py(`a = np.load(d + "/test/pair_hiddens.npy").astype(np.float64); a[2, 3, 1, 0] = np.inf; np.save(d + "/test/pair_hiddens.npy", a)`, at), /pair_hiddens: non-finite value Infinity at layer 2, row 3/],
    ["f64 beyond f32", (at) => py(`a = np.load(d + "/test/hiddens.npy").astype(np.float64); a[0, 0, 0] = 1e300; np.save(d + "/test/hiddens.npy", a)`, at), /hiddens: value 1e\+300 overflows float32 at layer 0, row 0/],
    ["missing pair states for a pair reporter", (at) => py(`import os; os.remove(d + "/validation/pair_hiddens.npy")`, at), /validation: pair_hiddens: missing, but lr-on-pair, ccs read contrast pairs/, ["--reporters", "lr,lr-on-pair,ccs"]],
    ["truncated .npy", (at) => py(`p = d + "/validation/difficulty.npy"; b = open(p, "rb").read(); open(p, "wb").write(b[:-5])`, at), /difficulty\.npy: truncated or padded: <f8 × \(240\) needs 1920 data bytes, the file has 1915/],
    ["wrong dtype code", (at) => py(`np.save(d + "/test/lm_log_odds.npy", np.zeros(200, np.complex64))`, at), /lm_log_odds\.npy: unsupported dtype '<c8'/],
    ["not a .npy file", (at) => py(`open(d + "/test/bob_labels.npy", "w").write("bob,labels\\n0,1\\n")`, at), /bob_labels\.npy: not a \.npy file/],
    ["missing split", (at) => py(`import shutil; shutil.rmtree(d + "/test")`, at), /no test split \(expected .*test\/hiddens\.npy … or .*test\.safetensors\)/],
    ["unknown field", (at) => py(`np.save(d + "/validation/hidden.npy", np.zeros(3))`, at), /validation\/hidden\.npy: unknown field 'hidden'/],
    ["character not Alice/Bob", (at) => py(`a = np.load(d + "/test/character.npy"); a[4] = "Carol"; np.save(d + "/test/character.npy", a)`, at), /character\.npy: character: value "Carol" at row 4/],
    ["label against its character", (at) => py(`a = np.load(d + "/validation/labels.npy"); b = np.load(d + "/validation/alice_labels.npy"); a[0] = 1 - b[0]; np.save(d + "/validation/labels.npy", a)`, at), /labels\.npy: labels: row 0 is \d, but its character Alice's label \(alice_labels\) is \d/],
    ["pair states of another width", (at) => py(`np.save(d + "/test/pair_hiddens.npy", np.zeros((3, 200, 2, 5), np.float32))`, at), /pair_hiddens: shape \(3, 200, 2, 5\) does not match hiddens' 3 layers × 200 rows × width 6/],
    ["splits from different models", (at) => py(`np.save(d + "/test/hiddens.npy", np.zeros((3, 200, 5), np.float32)); np.save(d + "/test/pair_hiddens.npy", np.zeros((3, 200, 2, 5), np.float32))`, at), /test.*hiddens: 3 layers × width 5, but validation's are 3 × 6/],
    ["duplicate ids", (at) => py(`a = np.load(d + "/test/ids.npy"); a[9] = a[2]; np.save(d + "/test/ids.npy", a)`, at), /ids\.npy: ids: '.*' at rows 2 and 9; ids must be unique/],
    ["Fortran order", (at) => py(`a = np.load(d + "/test/hiddens.npy"); np.save(d + "/test/hiddens.npy", np.asfortranarray(a))`, at), /hiddens\.npy: Fortran-ordered array/],
    ["big-endian", (at) => py(`np.save(d + "/test/difficulty.npy", np.load(d + "/test/difficulty.npy").astype(">f8"))`, at), /difficulty\.npy: big-endian dtype '>f8'/],
    ["no hard Bob rows", (at) => py(`import os
for s in ("validation", "test"):
    c = np.load(f"{d}/{s}/character.npy"); x = np.load(f"{d}/{s}/difficulty.npy"); x[c == "Bob"] = -1; np.save(f"{d}/{s}/difficulty.npy", x)`, at), /no rows in distribution BH \(Bob, difficulty quantile 0\.75–1\)/],
    ["ids not in the dataset", (at) => py(`pass`, at), /ids: 'v00000' at row 0 is not in .*'s validation split/, ["--dataset", "DATASET"]],
  ];
  const ds = join(dir, "ds");
  assert.equal(runCli(["datasets", "create", "addition", "--out", ds, "--base-examples", "1000", "--n-validation", "200", "--n-test", "200", "--format", "jsonl"]).code, 0);
  assert.ok(cases.length >= 12);
  const runs = cases.map(([name, spoil, message, extra = []]) => {
    const at = join(dir, name.replace(/\W+/g, "-"));
    cpSync(src, at, { recursive: true });
    spoil(at);
    const out = join(dir, `out-${name.replace(/\W+/g, "-")}`);
    const args = ["import", "--from", at, "--out", out, "--model", "m", ...extra.map((a) => (a === "DATASET" ? join(ds, "addition") : a))];
    if (!extra.includes("--dataset")) args.push("--dataset-name", "addition");
    return { name, message, out, args };
  });
  // the first three as a user runs them (a process each, its exit code), the rest through the same main() in this process
  const results = new Map<string, { code: number | null; stdout: string; stderr: string }>();
  for (const [i, r] of runs.entries()) results.set(r.name, i < 3 ? runCli(r.args) : await runMainHere(r.args));
  for (const { name, message, out } of runs) {
    const r = results.get(name)!;
    assert.equal(r.code, 1, `${name}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `${name}: one line, got:\n${r.stderr}`);
    assert.match(lines[0], /^quirky: /, name);
    assert.match(lines[0], message, name);
    assert.ok(!existsSync(out), `${name}: something was written`);
  }
});

test("import: a safetensors source with bf16 states (torch's bits) and ids in __metadata__", (t) => {
  const dir = tempDir(t);
  const src = join(dir, "st");
  // written by hand to the safetensors spec (8-byte header length, JSON header, data), bf16 bytes from torch
  runPython(String.raw`
import json, os, struct, sys, numpy as np, torch
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(3)
for split, n in (("validation", 64), ("test", 48)):
    alice = rng.integers(0, 2, n); bob = 1 - alice; char = np.arange(n) % 2
    h = torch.tensor(rng.standard_normal((n, 2, 5)), dtype=torch.float32).to(torch.bfloat16)  # [n, L, d]
    ts = {"hiddens": ("BF16", list(h.shape), h.view(torch.int16).numpy().tobytes()),
          "alice_labels": ("I64", [n], alice.astype("<i8").tobytes()), "bob_labels": ("U8", [n], bob.astype("u1").tobytes()),
          "character": ("I32", [n], char.astype("<i4").tobytes()), "difficulty": ("F64", [n], rng.random(n).astype("<f8").tobytes())}
    header, data = {"__metadata__": {"ids": json.dumps(["%s-%d" % (split, i) for i in range(n)])}}, b""
    for k, (dt, shape, b) in ts.items():
        header[k] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(b)]}; data += b
    hb = json.dumps(header).encode()
    open(f"{out}/{split}.safetensors", "wb").write(struct.pack("<Q", len(hb)) + hb + data)
    np.save(f"{out}/../{split}-upcast.npy", h.to(torch.float32).numpy())
`.replace("sys.argv[1]", JSON.stringify(src)), "");
  const ok = runCli(["import", "--from", src, "--out", join(dir, "exp"), "--model", "m", "--dataset-name", "addition", "--layer-axis", "1", "--reporters", "lr,mean-diff,lda,random"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /no pair states, no LM log-odds/);
  const root = join(dir, "exp", "m", "addition");
  const meta = JSON.parse(readFileSync(join(root, "all", "test", "meta.json"), "utf8"));
  assert.equal(meta.ids[5], "test-5");
  assert.equal(meta.characters[1], "Bob");
  // the stored states are torch's bf16 → f32 upcast, moved from [n, L, d] to [L, n, d]
  const upcast = readNpy(join(dir, "test-upcast.npy"));
  const out = join(dir, "npy");
  assert.equal(runCli(["export", join(root, "all", "test"), "--out", out]).code, 0);
  const stored = readNpy(join(out, "hiddens.npy"));
  assert.deepEqual(stored.shape, [2, 48, 5]);
  for (let i = 0; i < 48; i++) for (let l = 0; l < 2; l++) for (let k = 0; k < 5; k++) {
    assert.equal((stored.data as Float32Array)[(l * 48 + i) * 5 + k], (upcast.data as Float32Array)[(i * 2 + l) * 5 + k]);
  }
  // without pair states or LM log-odds the non-pair grid runs; the LM-output line is absent (null), not made up
  const grid = runCli(["grid", "--root", root, "--reporters", "lr,mean-diff,lda,random", "--random-samples", "32"]);
  assert.equal(grid.code, 0, grid.stderr);
  const m = JSON.parse(readFileSync(join(root, "B", "test", "A_lr_metrics.json"), "utf8"));
  assert.equal(m.lm.label.all, null);
  assert.equal(runCli(["report", join(dir, "exp"), "--out", join(dir, "report")]).code, 0);
});

test("hashBytesBase64 (chunked) equals hashJson of the whole base64 string, so states keep their fingerprints", () => {
  for (const n of [0, 1, 2, 3, 1000, (3 << 20) + 7, 2 * (3 << 20)]) {
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = (i * 2654435761) >>> 24;
    assert.equal(hashBytesBase64(bytes), hashJson(Buffer.from(bytes).toString("base64")), `${n} bytes`);
  }
});
