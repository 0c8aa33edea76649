/** Crash-safe writes: every file is written under a temporary name and renamed into place. */
import { mkdirSync, renameSync, rmSync, writeFileSync, openSync, writeSync, closeSync, fsyncSync } from "node:fs";
import { dirname, join, basename } from "node:path";

/** The temporary name a writer uses for `path` before it renames: same folder, so the rename is atomic. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
}

/** Write `data` to `path` atomically (temp file, fsync, rename). */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    writeFileSync(tmp, data);
    const fd = openSync(tmp, "r+");
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Write many chunks to `path` atomically, without building one big string. */
export function writeChunksAtomic(path: string, chunks: Iterable<string | Uint8Array>): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  try {
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
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Run `write(tmpDir)` and, only if it succeeds, move the folder to `dir` (replacing an old one). */
export function writeDirAtomic(dir: string, write: (tmpDir: string) => void): void {
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = tempPathFor(dir);
  try {
    mkdirSync(tmp, { recursive: true });
    write(tmp);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
