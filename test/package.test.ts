/**
 * quirky as an npm package: its postinstall sets up Debian packages only in quirky's own checkout (never when it is
 * someone's dependency), and `quirky --version` says the package's version. `scripts/pack-check.sh` runs the whole
 * `npm pack` → install-as-a-dependency → `npx quirky demo` check (slow: it installs from the registry).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, runCli, tempDir } from "./helpers.ts";

/** A copy of quirky's postinstall in `dir`, whose system-deps.sh only leaves a mark that it ran. */
function fakeCheckout(dir: string): void {
  mkdirSync(join(dir, "scripts"), { recursive: true });
  mkdirSync(join(dir, "test"), { recursive: true });
  copyFileSync(join(ROOT, "scripts", "postinstall.sh"), join(dir, "scripts", "postinstall.sh"));
  writeFileSync(join(dir, "scripts", "system-deps.sh"), "touch system-deps-ran\n");
}

const postinstall = (cwd: string, localPrefix: string) =>
  spawnSync("bash", ["scripts/postinstall.sh"], { cwd, encoding: "utf8", env: { ...process.env, npm_config_local_prefix: localPrefix } });

test("postinstall: sets up system packages in quirky's own checkout only, not as another project's dependency", (t) => {
  const dir = tempDir(t);
  const own = join(dir, "quirky");
  fakeCheckout(own);
  for (const p of ["linux-x64", "linux-x64-cuda", "linux-arm64"]) mkdirSync(join(own, "node_modules", "@node-llama-cpp", p), { recursive: true });
  const r0 = postinstall(own, own);
  assert.equal(r0.status, 0, r0.stderr);
  assert.ok(existsSync(join(own, "system-deps-ran")), "own checkout: system-deps.sh runs");
  // node-llama-cpp's unused prebuilt binaries go; the CPU build the oracle loads stays
  assert.ok(existsSync(join(own, "node_modules", "@node-llama-cpp", "linux-x64")));
  assert.ok(!existsSync(join(own, "node_modules", "@node-llama-cpp", "linux-x64-cuda")));
  assert.ok(!existsSync(join(own, "node_modules", "@node-llama-cpp", "linux-arm64")));
  assert.match(r0.stderr, /removed node-llama-cpp's unused prebuilt binaries/);

  const dep = join(dir, "project", "node_modules", "quirky");
  fakeCheckout(dep);
  mkdirSync(join(dep, "node_modules", "@node-llama-cpp", "linux-x64-cuda"), { recursive: true });
  const r = postinstall(dep, join(dir, "project"));
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!existsSync(join(dep, "system-deps-ran")), "as a dependency: system-deps.sh must not run");
  assert.ok(existsSync(join(dep, "node_modules", "@node-llama-cpp", "linux-x64-cuda")), "as a dependency: node_modules untouched");
  assert.equal(r.stdout + r.stderr, "");
});

test("quirky --version prints package.json's version", () => {
  const r = runCli(["--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
});

test("package.json ships what `quirky demo` needs and denies dependencies' install scripts that would download", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  for (const f of ["bin/", "src/", "data/", "models/", "scripts/"]) assert.ok(pkg.files.includes(f), f);
  assert.equal(pkg.allowScripts["onnxruntime-node"], false);
  // the README's two commands still set the checkout up: postinstall runs the system script
  assert.equal(pkg.scripts.postinstall, "bash scripts/postinstall.sh");
  assert.ok(!existsSync(join(ROOT, ".npmrc")) || !readFileSync(join(ROOT, ".npmrc"), "utf8").includes("onnxruntime-node-install"), "no npm warning on every call");
});
