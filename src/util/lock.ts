/**
 * Work locks, so shards that share an output folder (SLURM array tasks, `--shard i/n` started together) never
 * compute or write the same result at once. A lock is a file created exclusively (O_EXCL) that names its holder;
 * the holder refreshes its mtime while it works. A lock is stale, and is broken, when its holder is a dead process
 * on this machine, or when it has not been refreshed for STALE_MS (a holder on another node of a shared file system).
 */
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";

const REFRESH_MS = 20_000;
const STALE_MS = 5 * 60_000;

export interface Lock {
  path: string;
  release(): void;
}

/** Whether a process with this pid runs on this machine. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function holderOf(path: string): { text: string; host: string; pid: number; mtimeMs: number } | undefined {
  try {
    const text = readFileSync(path, "utf8");
    const { host, pid } = JSON.parse(text) as { host: string; pid: number };
    return { text, host, pid, mtimeMs: statSync(path).mtimeMs };
  } catch {
    return undefined; // vanished, or half-written by a holder that is creating it right now
  }
}

function isStale(h: { host: string; pid: number; mtimeMs: number }): boolean {
  if (h.host === hostname()) return !pidAlive(h.pid);
  return Date.now() - h.mtimeMs > STALE_MS;
}

/** Take the lock at `path` if it is free (or stale); undefined when a live process holds it. */
export function tryLock(path: string): Lock | undefined {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, "wx");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const h = holderOf(path);
      if (!h || !isStale(h)) return undefined;
      // break the stale lock: move it aside, and put it back if it turns out to be a fresh one taken meanwhile
      const aside = `${path}.${process.pid}.broken`;
      try {
        renameSync(path, aside);
      } catch {
        continue;
      }
      if (readFileSync(aside, "utf8") !== h.text) {
        try {
          linkSync(aside, path);
        } catch {
          /* another holder exists now either way */
        }
        unlinkSync(aside);
        return undefined;
      }
      unlinkSync(aside);
      continue;
    }
    writeSync(fd, JSON.stringify({ host: hostname(), pid: process.pid, since: new Date().toISOString() }));
    closeSync(fd);
    const timer = setInterval(() => {
      try {
        const now = new Date();
        utimesSync(path, now, now);
      } catch {
        /* the lock was broken by someone who judged us dead; nothing to refresh */
      }
    }, REFRESH_MS);
    timer.unref();
    let held = true;
    return {
      path,
      release() {
        if (!held) return;
        held = false;
        clearInterval(timer);
        try {
          unlinkSync(path);
        } catch {
          /* already gone */
        }
      },
    };
  }
  return undefined;
}

/**
 * Run `fn` holding the lock at `path`, waiting (polling) while another live process holds it. `onWait` is told
 * once when waiting starts.
 */
export async function withLock<T>(path: string, fn: () => Promise<T> | T, onWait?: (holder: string) => void): Promise<T> {
  let told = false;
  for (;;) {
    const lock = tryLock(path);
    if (lock) {
      try {
        return await fn();
      } finally {
        lock.release();
      }
    }
    if (!told) {
      const h = holderOf(path);
      onWait?.(h ? `process ${h.pid} on ${h.host}` : "another process");
      told = true;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
