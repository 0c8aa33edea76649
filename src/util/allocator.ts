/**
 * The C allocator's settings for a process that runs onnxruntime. onnxruntime-node copies every output of every run
 * into a fresh ArrayBuffer, and glibc by default hands freed blocks of 128 KiB to 32 MiB back to the kernel (mmap'd
 * blocks, and a trimmed heap top), so each run's output pages are faulted in anew. Page faults are slow on some
 * machines (about 15 µs a page on our 2-core sandbox: an 8 MiB output cost 33 ms instead of 1 ms). With blocks up to
 * 32 MiB served from the heap and the heap kept, the pages are reused. glibc reads these only at start, so the CLI
 * and the benchmarks run themselves again with them set (`runWithTunedAllocator`); other allocators ignore them.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";

/** mallopt(3)'s environment: blocks below 32 MiB (glibc's ceiling for this) from the heap; trim only above 1 GiB free. */
export const ALLOCATOR_ENV = { MALLOC_MMAP_THRESHOLD_: String(32 << 20), MALLOC_TRIM_THRESHOLD_: String(1 << 30) };

/**
 * On Linux, unless ALLOCATOR_ENV is already set: run this same command again with it (stdio shared, signals passed
 * on) and resolve to the exit code the caller should exit with. Resolves to undefined when this process already has
 * the settings (or is not on Linux): carry on.
 */
export function runWithTunedAllocator(): Promise<number> | undefined {
  if (process.platform !== "linux" || Object.keys(ALLOCATOR_ENV).every((k) => process.env[k] !== undefined)) return undefined;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: "inherit", env: { ...process.env, ...ALLOCATOR_ENV } });
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const s of signals) process.on(s, () => child.kill(s));
  return new Promise((resolve) => {
    child.on("error", (e) => {
      console.error(`quirky: could not start ${process.execPath}: ${e.message}`);
      resolve(1);
    });
    child.on("exit", (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}
