/** Shared test helpers. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const FIXTURES = join(ROOT, "test", "fixtures");

/** A fresh temporary folder, removed when the test ends. */
export function tempDir(t: { after: (fn: () => void) => void }, prefix = "quirky-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Debian's Python (the one with python3-* packages), used as an independent reference. */
export const SYSTEM_PYTHON = "/usr/bin/python3";

export function runPython(code: string, input: string): string {
  const r = spawnSync(SYSTEM_PYTHON, ["-c", code], { input, encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout;
}

/** Run the quirky CLI as a user would. */
export function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "quirky.js"), ...args], {
    encoding: "utf8",
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    maxBuffer: 1 << 26,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A tiny GPT-NeoX config (character-level vocabulary) for pipeline tests. */
export const TINY_NEOX = { model_type: "gpt_neox", vocab_size: 98, hidden_size: 16, num_hidden_layers: 3, num_attention_heads: 2, intermediate_size: 32, rotary_pct: 0.5, max_position_embeddings: 128 };

/** Every file under `dir`, by path relative to it, with its bytes (to compare whole output folders). */
export function files(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}
