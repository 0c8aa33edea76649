#!/usr/bin/env node
// Thin launcher: load the TypeScript CLI through tsx, so no build step stands between `npm ci` and use.
import { register } from "tsx/esm/api";
register();
// first, once: the C allocator's settings for onnxruntime (src/util/allocator.ts)
const again = (await import("../src/util/allocator.ts")).runWithTunedAllocator();
if (again) process.exit(await again);
const { main } = await import("../src/cli/main.ts");
await main(process.argv);
