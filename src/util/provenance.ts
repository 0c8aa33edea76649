/**
 * Provenance of cached results. Every output a long stage skips when present (extracted states, fitted reporters,
 * transfer metrics, random baselines, anomaly and intervention results) records what it was computed from — its
 * `inputs` — and their fingerprint. A later run reuses it only when the fingerprint of what it would compute from
 * now is the same; otherwise it refuses (or, with `force`, recomputes). Outputs are never reused just because a
 * file exists.
 */
import { canonicalJson, hashJson } from "./fingerprint.ts";

export interface Provenance {
  /** hashJson(inputs) */
  fingerprint: string;
  /** what the result was computed from: fingerprints of upstream results and the settings that change it */
  inputs: Record<string, unknown>;
}

export function provenance(inputs: Record<string, unknown>): Provenance {
  return { fingerprint: hashJson(inputs), inputs };
}

/** A result on disk was computed from other inputs than the ones asked for now. */
export class StaleResultError extends Error {}

/** "key: old → new" for the inputs that differ (nested keys joined with dots), at most `max` of them. */
export function describeDifferences(found: Record<string, unknown>, wanted: Record<string, unknown>, max = 4): string[] {
  const flat = (o: unknown, prefix: string, out: Map<string, string>) => {
    if (o && typeof o === "object" && !Array.isArray(o)) for (const [k, v] of Object.entries(o)) flat(v, prefix ? `${prefix}.${k}` : k, out);
    else out.set(prefix, canonicalJson(o) ?? "undefined");
    return out;
  };
  const a = flat(found, "", new Map());
  const b = flat(wanted, "", new Map());
  const short = (s: string | undefined) => (s === undefined ? "(none)" : s.length > 40 ? `${s.slice(0, 37)}...` : s);
  const keys = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k));
  const lines = keys.slice(0, max).map((k) => `${k}: ${short(a.get(k))} → ${short(b.get(k))}`);
  if (keys.length > max) lines.push(`and ${keys.length - max} more`);
  return lines;
}

/**
 * Whether the result at `path` can be reused for `wanted`. `found` is the provenance it records (undefined when
 * it records none), or null when there is no result. Returns true to reuse, false to compute (nothing there, or
 * stale and `force`); throws StaleResultError for a stale result without `force`, saying what changed: `context`
 * when given (a caller that can name the change better), else the inputs that differ.
 */
export function reuseCached(path: string, found: Provenance | undefined | null, wanted: Provenance, force = false, context: string[] = []): boolean {
  if (found === null) return false;
  if (found?.fingerprint === wanted.fingerprint) return true;
  if (force) return false;
  const why = !found ? ["it records no inputs (made by an older quirky)"] : context.length ? context : describeDifferences(found.inputs, wanted.inputs);
  throw new StaleResultError(`${path}: computed from other inputs than now (${why.join("; ")}); pass --force to recompute it, or use another output folder`);
}
