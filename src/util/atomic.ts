/** Crash-safe writes: every file is written under a temporary name and renamed into place. */
import { createHash } from "node:crypto";
import { mkdirSync, renameSync, rmSync, writeFileSync, openSync, writeSync, closeSync, fsyncSync, readdirSync, lstatSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, join, basename } from "node:path";
import { pidAlive } from "./lock.ts";

/** This machine, in temp names: a leftover is known dead when its host is ours and its pid is gone. */
const HOST_TAG = createHash("sha256").update(hostname()).digest("hex").slice(0, 8);
const TEMP_RE = /^\..+\.([0-9a-f]{8})-(\d+)\.[0-9a-z]+\.tmp$/;
/** A leftover of another machine (shared file system) is removed only after this long. */
const FOREIGN_TEMP_MAX_AGE_MS = 24 * 3600_000;

/** The temporary name a writer uses for `path` before it renames: same folder, so the rename is atomic. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${HOST_TAG}-${process.pid}.${Date.now().toString(36)}.tmp`);
}

/**
 * Remove the temporary files and folders that killed writers left under `dir` (recursively): those of dead
 * processes on this machine, and those of other machines older than a day. Returns how many were removed.
 */
export function removeStaleTemps(dir: string): number {
  let removed = 0;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of entries) {
    const p = join(dir, name);
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue; // removed meanwhile
    }
    const m = TEMP_RE.exec(name);
    const dead = m && (m[1] === HOST_TAG ? !pidAlive(Number(m[2])) : Date.now() - st.mtimeMs > FOREIGN_TEMP_MAX_AGE_MS);
    if (dead) {
      rmSync(p, { recursive: true, force: true });
      removed++;
    } else if (st.isDirectory()) removed += removeStaleTemps(p);
  }
  return removed;
}

/** Remove a temporary file or folder after a failed write; the write's own error is the one to report. */
function removeQuietly(tmp: string): void {
  try {
    rmSync(tmp, { recursive: true, force: true });
  } catch {
    /* e.g. its parent is not a folder: then nothing was created */
  }
}

/** A failed write as one line naming the file we meant to write (not the temporary name). */
function cannotWrite(path: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  if (!e.code) return e;
  if (e.code === "EEXIST" && e.syscall === "mkdir") return new Error(`${path}: cannot write (ENOTDIR: a parent is not a folder)`);
  const why = { EACCES: "permission denied", EPERM: "not permitted", EROFS: "read-only file system", ENOSPC: "no space left on the device", ENOTDIR: "a parent is not a folder" }[e.code] ?? e.message;
  return new Error(`${path}: cannot write (${e.code}: ${why})`);
}

/** Write `data` to `path` atomically (temp file, fsync, rename). */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = tempPathFor(path);
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, data);
    const fd = openSync(tmp, "r+");
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    removeQuietly(tmp);
    throw cannotWrite(path, err);
  }
}

/** Write many chunks to `path` atomically, without building one big string. */
export function writeChunksAtomic(path: string, chunks: Iterable<string | Uint8Array>): void {
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  try {
    mkdirSync(dirname(path), { recursive: true });
    fd = openSync(tmp, "w");
    // batch small chunks into ~1 MiB writes
    let pending = "";
    for (const chunk of chunks) {
      if (typeof chunk === "string") {
        pending += chunk;
        if (pending.length < 1 << 20) continue;
        writeSync(fd, pending);
        pending = "";
      } else {
        if (pending) writeSync(fd, pending);
        pending = "";
        writeSync(fd, chunk);
      }
    }
    if (pending) writeSync(fd, pending);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    removeQuietly(tmp);
    throw cannotWrite(path, err);
  }
}

/** Run `write(tmpDir)` and, only if it succeeds, move the folder to `dir` (replacing an old one). */
export function writeDirAtomic(dir: string, write: (tmpDir: string) => void): void {
  const tmp = tempPathFor(dir);
  try {
    mkdirSync(dirname(dir), { recursive: true });
    mkdirSync(tmp, { recursive: true });
    write(tmp);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (err) {
    removeQuietly(tmp);
    throw cannotWrite(dir, err);
  }
}
