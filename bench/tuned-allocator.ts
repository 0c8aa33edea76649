/**
 * Imported first by the benchmarks: run the benchmark again with the C allocator's settings the CLI uses
 * (src/util/allocator.ts), so what they time is what `quirky` does. Later imports wait for this module.
 */
import { runWithTunedAllocator } from "../src/util/allocator.ts";

const again = runWithTunedAllocator();
if (again) process.exit(await again);
