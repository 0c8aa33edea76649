/**
 * quirky's results as `.npy` files for other tools (numpy reads safetensors too, but many scripts want `.npy`):
 * a states folder becomes the fields `quirky import` reads (hiddens [L, n, d] f32, pair_hiddens [L, n, 2, d],
 * lm_log_odds [n], labels / alice_labels / bob_labels int64, character strings, difficulty and
 * difficulty_quantile f64, ids strings), and a transfer's log-odds file its [L, n] f32 array. The files are what
 * `np.save` writes for the same arrays, byte for byte, so export ∘ import gives numpy's files back. A results
 * folder is mirrored: each states folder's fields, and its transfers' log-odds in a log_odds/ folder beside them.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { readSafetensorsHeader, readTensor } from "../model/safetensors.ts";
import { writeNpy } from "../util/npy.ts";
import { META_FILE, STATES_FILE, isComplete, readStatesMeta } from "./states.ts";

/** One states folder → OUT/<field>.npy; returns the files written. */
export function exportStates(dir: string, out: string): string[] {
  const meta = readStatesMeta(dir);
  const path = join(dir, STATES_FILE);
  const { tensors } = readSafetensorsHeader(path);
  const written: string[] = [];
  const put = (name: string, a: Parameters<typeof writeNpy>[1]) => {
    writeNpy(join(out, `${name}.npy`), a);
    written.push(join(out, `${name}.npy`));
  };
  for (const name of ["hiddens", "pair_hiddens", "lm_log_odds"]) {
    const info = tensors.get(name);
    if (info) put(name, { dtype: "f4", shape: info.shape, data: readTensor(path, info) });
  }
  const n = meta.n;
  put("labels", { dtype: "i8", shape: [n], data: meta.labels });
  put("alice_labels", { dtype: "i8", shape: [n], data: meta.alice_labels });
  put("bob_labels", { dtype: "i8", shape: [n], data: meta.bob_labels });
  put("character", { dtype: "U", shape: [n], data: meta.characters });
  put("difficulty", { dtype: "f8", shape: [n], data: meta.difficulty });
  if (meta.difficulty_quantiles) put("difficulty_quantile", { dtype: "f8", shape: [n], data: meta.difficulty_quantiles });
  put("ids", { dtype: "U", shape: [n], data: meta.ids });
  return written;
}

/** A transfer's `<train>_<reporter>_log_odds.safetensors` ([L, n]) → OUT/<same stem>.npy. */
export function exportLogOdds(file: string, out: string): string {
  const info = readSafetensorsHeader(file).tensors.get("log_odds");
  if (!info) throw new Error(`${file}: no 'log_odds' tensor (not a transfer's log-odds file)`);
  const dst = join(out, file.split("/").pop()!.replace(/\.safetensors$/, ".npy"));
  writeNpy(dst, { dtype: "f4", shape: info.shape, data: readTensor(file, info) });
  return dst;
}

const LOG_ODDS_RE = /_log_odds\.safetensors$/;
/** where a states folder's transfer log-odds go, beside its fields (import skips it) */
export const LOG_ODDS_DIR = "log_odds";

/**
 * Export a states folder, a log-odds file, or every states folder and log-odds file under a results folder
 * (mirrored: SRC/<rel>/ → OUT/<rel>/). Returns the files written; throws when there is nothing to export.
 */
export function exportResults(src: string, out: string): string[] {
  if (!existsSync(src)) throw new Error(`${src}: no such file or folder`);
  if (statSync(src).isFile()) {
    if (!LOG_ODDS_RE.test(src)) throw new Error(`${src}: not a log-odds file (<train>_<reporter>_log_odds.safetensors) or a states folder`);
    return [exportLogOdds(src, out)];
  }
  const written: string[] = [];
  const walk = (dir: string) => {
    if (existsSync(join(dir, META_FILE)) && existsSync(join(dir, STATES_FILE))) {
      if (!isComplete(dir)) throw new Error(`${dir}: an extraction still under way (meta.json is not complete)`);
      const dst = join(out, relative(src, dir));
      written.push(...exportStates(dir, dst));
      for (const f of readdirSync(dir).sort()) if (LOG_ODDS_RE.test(f)) written.push(exportLogOdds(join(dir, f), join(dst, LOG_ODDS_DIR)));
    }
    for (const f of readdirSync(dir).sort()) {
      const p = join(dir, f);
      if (!f.startsWith(".") && statSync(p).isDirectory()) walk(p);
    }
  };
  walk(src);
  if (written.length === 0) throw new Error(`${src}: no states folders (states.safetensors + meta.json) or log-odds files under it`);
  return written;
}
