#!/usr/bin/env node
// Thin launcher: load the TypeScript CLI through tsx, so no build step stands between `npm ci` and use.
import { register } from "tsx/esm/api";
register();
const { main } = await import("../src/cli/main.ts");
await main(process.argv);
