/**
 * Fingerprints: short content hashes that tie a cached result to what it was computed from.
 *
 * A fingerprint depends only on content, never on paths or modification times, so the same inputs give the same
 * fingerprint on any machine and in any folder (sharded and unsharded runs write byte-equal outputs).
 */
import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

const HEX = 16; // 64 bits of sha256: collisions are not a concern at this scale

/** sha256 of a JSON value with object keys sorted, so key order does not matter. */
export function hashJson(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex").slice(0, HEX);
}

/**
 * hashJson of the base64 text of some bytes, computed in chunks: the same fingerprint as
 * hashJson(Buffer.from(bytes).toString("base64")) without building a string that outgrows V8's limit (~512 MB).
 */
export function hashBytesBase64(bytes: Uint8Array): string {
  const h = createHash("sha256").update('"'); // JSON.stringify of a base64 string only adds the quotes
  const CHUNK = 3 << 20; // a multiple of 3 bytes: chunks' base64 concatenates to the whole's
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < buf.length; i += CHUNK) h.update(buf.subarray(i, i + CHUNK).toString("base64"));
  return h.update('"').digest("hex").slice(0, HEX);
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v,
  );
}

/** Files up to this size are hashed whole; larger ones (multi-GB weights) by a fixed sample of their content. */
const FULL_HASH_MAX = 1 << 30;
const SAMPLE_BLOCKS = 4096;
const SAMPLE_BLOCK = 4096;

const memo = new Map<string, string>();

/**
 * Content hash of a file: sha256 of every byte up to 1 GiB; above that, of its size, its first 1 MiB and 4,096
 * evenly spaced 4 KiB blocks (16 MiB read), so a 14 GB checkpoint is fingerprinted in well under a second yet any
 * retraining, which changes every block, changes the hash. Memoised per process by (path, size, mtime).
 */
export function fileHash(path: string): string {
  const fd = openSync(path, "r");
  try {
    const st = fstatSync(fd);
    const key = `${path}\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
    const hit = memo.get(key);
    if (hit) return hit;
    const h = createHash("sha256");
    const buf = Buffer.allocUnsafe(1 << 20);
    const readAt = (pos: number, len: number) => {
      let got = 0;
      while (got < len) {
        const r = readSync(fd, buf, got, len - got, pos + got);
        if (r === 0) break;
        got += r;
      }
      h.update(buf.subarray(0, got));
    };
    if (st.size <= FULL_HASH_MAX) {
      for (let pos = 0; pos < st.size; pos += buf.length) readAt(pos, Math.min(buf.length, st.size - pos));
    } else {
      h.update(`sampled:${st.size}:`);
      readAt(0, buf.length);
      const step = Math.floor((st.size - SAMPLE_BLOCK) / (SAMPLE_BLOCKS - 1));
      for (let i = 0; i < SAMPLE_BLOCKS; i++) readAt(i * step, SAMPLE_BLOCK);
    }
    const digest = h.digest("hex").slice(0, HEX);
    memo.set(key, digest);
    return digest;
  } finally {
    closeSync(fd);
  }
}
