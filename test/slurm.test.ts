import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { writeDataset } from "../src/datasets/create.ts";
import { writeCharTokenizer } from "../src/model/char-tokenizer.ts";
import { randomModel, saveModel } from "../src/model/load.ts";
import { parseShard } from "../src/pipeline/run.ts";
import { positiveCount, slurmScript, type SlurmOptions } from "../src/pipeline/slurm.ts";
import { ProgressLines, secondsLeft } from "../src/util/progress.ts";
import { ROOT, runCli, tempDir, files, TINY_NEOX as TINY } from "./helpers.ts";



/** A tiny random model and a small addition dataset, the kind the pipeline tests use. */
async function tinySetup(dir: string) {
  const model = join(dir, "tiny");
  saveModel(randomModel(TINY, 1, 0.2), model);
  writeCharTokenizer(join(model, "tokenizer.json"));
  const data = await writeDataset(join(dir, "data"), "addition", { baseExamples: 300, maxDigits: 2, nValidation: 300, nTest: 300 });
  return { model, data: data.dir };
}

test("quirky slurm refuses bad --tasks/--cpus/--mem/--time/--partition with one line, and writes nothing", async (t) => {
  const dir = tempDir(t);
  const cfg = join(dir, "cfg.json");
  writeFileSync(cfg, JSON.stringify({ out: "exp", models: [{ path: "m" }], datasets: [{ path: "d" }] }));
  // through the CLI: one line, exit 1, nothing written
  const bad: [string[], RegExp][] = [
    [["--tasks", "abc"], /^quirky: --tasks abc: expected a whole number ≥ 1$/],
    [["--tasks", "0"], /^quirky: --tasks 0: expected a whole number ≥ 1$/],
    [["--cpus", "-1"], /^quirky: --cpus -1: expected a whole number ≥ 1$/],
    [["--mem", "lots"], /^quirky: --mem lots: expected a size/],
  ];
  for (const [args, message] of bad) {
    const r = runCli(["slurm", cfg, ...args, "--out", join(dir, "job.sbatch")]);
    assert.equal(r.code, 1, args.join(" "));
    assert.match(r.stderr.trim(), message);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  // the rest through the library the CLI calls
  for (const tasks of ["-2", "2.5", "1e3", " ", "0x10"]) assert.throws(() => positiveCount("--tasks", tasks), /expected a whole number ≥ 1/, tasks);
  assert.equal(positiveCount("--tasks", "12"), 12);
  for (const [opts, message] of [
    [{ tasks: 0 }, /--tasks 0/],
    [{ tasks: 2, cpus: 1.5 }, /--cpus 1\.5/],
    [{ tasks: 2, time: "tomorrow" }, /--time tomorrow: expected minutes/],
    [{ tasks: 2, partition: "gpu; rm -rf ~" }, /--partition gpu; rm -rf ~: expected a partition name/],
  ] as [SlurmOptions, RegExp][]) assert.throws(() => slurmScript(cfg, opts), message);
  for (const time of ["90", "24:00:00", "2-00:00:00", "1-12", "UNLIMITED"]) assert.doesNotThrow(() => slurmScript(cfg, { tasks: 1, time }), time);
  const missing = runCli(["slurm", join(dir, "nope.json"), "--out", join(dir, "job.sbatch")]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope\.json: config file not found/);
  assert.deepEqual(readdirSync(dir), ["cfg.json"]);

  const ok = runCli(["slurm", cfg, "--tasks", "3", "--cpus", "2", "--mem", "4G", "--time", "1-00:00:00", "--partition", "gpu", "--out", join(dir, "job.sbatch")]);
  assert.equal(ok.code, 0, ok.stderr);
  const script = readFileSync(join(dir, "job.sbatch"), "utf8");
  assert.match(script, /^#SBATCH --array=0-2$/m);
  assert.match(script, /^#SBATCH --cpus-per-task=2$/m);
  assert.match(script, /^#SBATCH --partition=gpu$/m);
  assert.match(script, new RegExp(`^#SBATCH --output="${dir}/quirky-%A_%a.log"$`, "m"));
  // this checkout's launcher by absolute path, from the config's folder; no npx (it would ask the registry)
  assert.match(script, new RegExp(`^repo='${ROOT.replace(/\/$/, "")}'$`, "m"));
  assert.match(script, /^exec "\$node_bin" "\$repo\/bin\/quirky\.js" run "\$config"$/m);
  assert.match(script, /^cd "\$\(dirname "\$config"\)"$/m);
  assert.doesNotMatch(script, /npx/);
  assert.equal(spawnSync("bash", ["-n", join(dir, "job.sbatch")]).status, 0, "bash accepts the script");
});

test("SLURM array variables: a task outside 0..COUNT-1 or a malformed value is an error, never 'all done'", () => {
  assert.deepEqual(parseShard(undefined, { SLURM_ARRAY_TASK_ID: "2", SLURM_ARRAY_TASK_COUNT: "3" }), { index: 2, count: 3 });
  assert.deepEqual(parseShard(undefined, { SLURM_ARRAY_TASK_ID: "7", SLURM_ARRAY_TASK_COUNT: "3", SLURM_ARRAY_TASK_MIN: "5" }), { index: 2, count: 3 });
  assert.deepEqual(parseShard(undefined, {}), { index: 0, count: 1 });
  assert.throws(() => parseShard(undefined, { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_COUNT: "2" }), /SLURM array task 5 \(lowest 0, 2 tasks\) is not one of shards 0\.\.1/);
  assert.throws(() => parseShard(undefined, { SLURM_ARRAY_TASK_ID: "1", SLURM_ARRAY_TASK_COUNT: "2", SLURM_ARRAY_TASK_MIN: "2" }), /SLURM array task 1 \(lowest 2, 2 tasks\)/);
  assert.throws(() => parseShard(undefined, { SLURM_ARRAY_TASK_ID: "0", SLURM_ARRAY_TASK_COUNT: "0" }), /not one of shards/);
  assert.throws(() => parseShard(undefined, { SLURM_ARRAY_TASK_ID: "x", SLURM_ARRAY_TASK_COUNT: "2" }), /SLURM_ARRAY_TASK_ID=x: expected a whole number/);
  assert.throws(() => parseShard(undefined, { SLURM_ARRAY_TASK_ID: "1" }), /SLURM_ARRAY_TASK_COUNT=\(unset\)/);
  for (const spec of ["", "1", "a/b", "-1/2", "1/0", "2/2", "1.5/3", "1/2/3"]) assert.throws(() => parseShard(spec, {}), /expected i\/n with 0 ≤ i < n/, JSON.stringify(spec));
  // --shard wins over the environment
  assert.deepEqual(parseShard("0/2", { SLURM_ARRAY_TASK_ID: "9", SLURM_ARRAY_TASK_COUNT: "2" }), { index: 0, count: 2 });
});

test("progress lines off a terminal: first update, then one line per interval with counts and time left at a constant rate, stage lines, an end line", () => {
  const lines: string[] = [];
  let now = 0;
  const saved = process.env.QUIRKY_PROGRESS_EVERY;
  delete process.env.QUIRKY_PROGRESS_EVERY; // the default: 10 s
  try {
    const p = new ProgressLines((l) => lines.push(l.replace(/^\[\d\d:\d\d:\d\d\] /, "")), () => now);
    // 200 items at 10 items/s: an update every second
    for (let s = 0; s <= 20; s++) {
      now = 1000 * s;
      p.update("extract A/validation", 10 * s, 200);
    }
    now = 20_500; // a new stage less than a second after the last line waits for its turn
    p.update("fit lr on A layer 1/3");
    now = 21_000; // a second later it is shown
    p.update("fit lr on A layer 2/3");
    now = 21_300;
    p.update("lr A→B layer 1/3");
    now = 31_000; // the interval is up: the newest message
    p.update("lr A→B layer 3/3");
    now = 32_000;
    p.end("done");
  } finally {
    if (saved !== undefined) process.env.QUIRKY_PROGRESS_EVERY = saved;
  }
  assert.deepEqual(lines, [
    "extract A/validation 0/200 (0%), estimating time left",
    // after 10 s, 100 of 200 done at 10/s: (200 − 100) / 10 = 10 s left
    "extract A/validation 100/200 (50%), ~10 s left",
    "extract A/validation 200/200 (100%)",
    "fit lr on A layer 2/3",
    "lr A→B layer 3/3",
    "done (32 s in all)",
  ]);
  // a resumed stage counts its rate from where it started: 40 already done, 60 more in 30 s, 100 left → 50 s
  assert.equal(secondsLeft(30_000, 40, 100, 200), 50);
  assert.equal(secondsLeft(0, 40, 40, 200), undefined);
});

test("quirky run off a terminal: progress lines with counts and time left on stderr; the headline numbers and the report's path at the end", async (t) => {
  const dir = tempDir(t);
  const { model, data } = await tinySetup(dir);
  writeFileSync(join(dir, "run.json"), JSON.stringify({ out: "exp", models: [{ path: model }], datasets: [{ path: data }], reporters: ["lr", "random"], maxTrain: 48, maxTest: 32, batchSize: 16, randomSamples: 20 }));
  // stderr is a pipe here, as in a SLURM log
  const r = runCli(["run", join(dir, "run.json")], { env: { QUIRKY_PROGRESS_EVERY: "0" } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^\[\d\d:\d\d:\d\d\] grid tiny × addition × lr$/m);
  assert.match(r.stderr, /^\[\d\d:\d\d:\d\d\] extract A\/validation 16\/48 \(33%\), ~\d+ s left$/m, r.stderr);
  assert.match(r.stderr, /^\[\d\d:\d\d:\d\d\] done \(\d+ s in all\)$/m);
  assert.match(r.stdout, /^shard 0\/1: 2 of 2 units in \d+ s; all done$/m);
  assert.match(r.stdout, /^== tiny × addition ==$/m);
  assert.match(r.stdout, /Bob's disagreements vs Alice's labels +\d\.\d{3}$/m);
  assert.match(r.stdout, /^lr +\d\.\d{3} \(L\d\)/m);
  assert.match(r.stdout, new RegExp(`^report: ${join(dir, "exp", "report", "index.html")}$`, "m"));
  assert.ok(existsSync(join(dir, "exp", "report", "index.html")));
});

/** a TCP port nothing listens on now */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });
}

/** Why the real-cluster test cannot run here, or undefined when it can. */
function clusterMissing(): string | undefined {
  if (process.getuid?.() !== 0) return "slurmd must run as root (the test starts its own munged, slurmctld and slurmd)";
  for (const b of ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo"]) {
    if (spawnSync("sh", ["-c", `command -v ${b}`]).status !== 0) return `${b} is not installed (apt-get install --no-install-recommends slurm-wlm munge; scripts/system-deps.sh does it as root)`;
  }
  return undefined;
}
const missing = clusterMissing();
const inCI = process.env.CI === "true" || process.env.CI === "1";
if (missing) console.error(`slurm.test.ts: the real-cluster test ${inCI ? "FAILS in CI" : "is skipped"}: ${missing}`);

test(
  "a real SLURM cluster (munged + slurmctld + slurmd on loopback): quirky slurm --tasks 3, sbatch, squeue until done; outputs byte-equal to one unsharded quirky run; logs stream progress",
  { skip: missing && !inCI ? `no SLURM here: ${missing}` : false, timeout: 15 * 60_000 },
  async (t) => {
    assert.ok(!missing, `CI=true but ${missing}`);
    const dir = mkdtempSync(join(tmpdir(), "quirky-slurm-"));
    chmodSync(dir, 0o755); // munged wants every folder above its socket open to all
    const clusterDir = join(dir, "cluster");
    // stop the daemons whatever happens, then remove everything
    t.after(() => {
      spawnSync("bash", [join(ROOT, "scripts", "slurm-cluster.sh"), "stop", clusterDir], { stdio: "inherit" });
      rmSync(dir, { recursive: true, force: true });
    });
    const t0 = performance.now();
    const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
    const started = spawnSync("bash", [join(ROOT, "scripts", "slurm-cluster.sh"), "start", clusterDir], { encoding: "utf8", env: { ...process.env, SLURMCTLD_PORT: String(ctldPort), SLURMD_PORT: String(slurmdPort) } });
    assert.equal(started.status, 0, `the cluster did not start: ${started.stderr}`);
    const env = { ...process.env, SLURM_CONF: join(clusterDir, "slurm.conf") };
    const slurm = (cmd: string, args: string[]) => execFileSync(cmd, args, { env, encoding: "utf8" });
    assert.match(slurm("sinfo", ["-h", "-o", "%T"]), /idle/);
    const tStarted = performance.now();

    const { model, data } = await tinySetup(dir);
    // the same config in two folders; the same experiments folder name, since the report names it
    const config = { out: "exp", models: [{ path: model }], datasets: [{ path: data }], reporters: ["lr", "mean-diff", "random"], maxTrain: 48, maxTest: 32, batchSize: 16, randomSamples: 20 };
    for (const where of ["job", "whole"]) {
      mkdirSync(join(dir, where));
      writeFileSync(join(dir, where, "run.json"), JSON.stringify(config));
    }
    const w = runCli(["slurm", join(dir, "job", "run.json"), "--tasks", "3", "--cpus", "1", "--mem", "1G", "--time", "30", "--out", join(dir, "job", "job.sbatch")]);
    assert.equal(w.code, 0, w.stderr);
    // submitted from elsewhere: the script must find the checkout and the config by itself. PATH (for node) is
    // exported by sbatch by default; QUIRKY_PROGRESS_EVERY=0 makes every progress update a log line.
    const jobId = execFileSync("sbatch", ["--parsable", join(dir, "job", "job.sbatch")], { env: { ...env, QUIRKY_PROGRESS_EVERY: "0" }, cwd: dir, encoding: "utf8" }).trim();
    assert.match(jobId, /^\d+$/);

    // meanwhile, the same config unsharded
    const whole = runCli(["run", join(dir, "whole", "run.json")], { cwd: tmpdir() });
    assert.equal(whole.code, 0, whole.stderr);
    assert.match(whole.stdout, /all done/);
    assert.match(whole.stdout, /report: .*whole\/exp\/report\/index\.html/);

    // poll until the array has left the queue; meanwhile look for a log with progress lines but not yet its
    // task's last line: progress that streams while the task runs, not only at its end
    const logs = [0, 1, 2].map((i) => join(dir, "job", `quirky-${jobId}_${i}.log`));
    let streamed = false;
    const deadline = Date.now() + 10 * 60_000;
    while (slurm("squeue", ["-h", "-j", jobId]).trim() !== "") {
      assert.ok(Date.now() < deadline, `job ${jobId} still queued after 10 minutes:\n${slurm("squeue", ["-j", jobId])}`);
      for (const f of logs) {
        const log = existsSync(f) ? readFileSync(f, "utf8") : "";
        if (/^\[\d\d:\d\d:\d\d\] /m.test(log) && !/^shard \d\/3: /m.test(log)) streamed = true;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const tDone = performance.now();
    const logText = logs.map((f) => (existsSync(f) ? readFileSync(f, "utf8") : `(no log ${f})`)).join("\n----\n");
    // finished jobs stay known to slurmctld for MinJobAge (300 s): every task completed with exit code 0
    const states = slurm("scontrol", ["-o", "show", "job", jobId]).trim().split("\n");
    assert.equal(states.length, 3, states.join("\n"));
    for (const s of states) assert.match(s, /JobState=COMPLETED .*ExitCode=0:0/, `${s}\n${logText}`);
    // one CPU per task: with two or more, tasks ran at the same time, sharing the experiments folder
    const spans = states.map((s) => ["StartTime", "EndTime"].map((k) => Date.parse(new RegExp(`${k}=(\\S+)`).exec(s)![1])));
    const overlapped = spans.some(([s0, e0], i) => spans.some(([s1, e1], j) => i !== j && s0 < e1 && s1 < e0));
    if (availableParallelism() >= 2) assert.ok(overlapped, `no two array tasks ran at the same time:\n${states.join("\n")}`);

    for (const [i, f] of logs.entries()) {
      const log = readFileSync(f, "utf8");
      assert.match(log, new RegExp(`^quirky run ${join(dir, "job", "run.json")}: array task ${i} \\(of 3\\) on `, "m"), log);
      assert.match(log, new RegExp(`^shard ${i}/3: 1 of 3 units`, "m"), log);
      assert.match(log, /^\[\d\d:\d\d:\d\d\] grid tiny × addition × /m, log);
    }
    assert.ok(streamed, "no log showed progress before its task ended");
    // the states extracted in the array show counts and the time left while they run
    assert.match(logText, /^\[\d\d:\d\d:\d\d\] extract \w+\/\w+ \d+\/\d+ \(\d+%\), ~\d+ s left$/m, logText);
    const finishers = logs.filter((f) => /all done/.test(readFileSync(f, "utf8")));
    assert.ok(finishers.length >= 1, `no task finished the run:\n${logText}`);
    assert.match(readFileSync(finishers[0], "utf8"), /report: .*job\/exp\/report\/index\.html/);

    const a = files(join(dir, "whole", "exp"));
    const b = files(join(dir, "job", "exp"));
    assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
    for (const [f, bytes] of a) assert.ok(bytes.equals(b.get(f)!), `${f} differs between the SLURM array and one run`);
    for (const f of ["pgr.json", "report/index.html", "tiny/addition/summary.json", "tiny/addition/anomaly_lr.json"]) assert.ok(a.has(f), f);
    console.error(`slurm.test.ts: cluster start ${((tStarted - t0) / 1000).toFixed(1)} s; setup, unsharded run and the 3-task array ${((tDone - tStarted) / 1000).toFixed(1)} s`);
  },
);
