/** Vega-Lite spec → static SVG in Node (vega-lite compiles, vega renders headless with renderer "none"). */
import * as vega from "vega";
import { compile } from "vega-lite";
import type { VlSpec } from "./figures/vega.ts";

export interface RenderedSvg {
  svg: string;
  /** warnings from vega-lite's compiler and vega's runtime (a clean figure has none) */
  warnings: string[];
}

/** A logger that keeps warnings and errors instead of printing them. */
function collectingLogger(sink: string[]) {
  let lvl = vega.Warn;
  const logger = {
    level(l?: number) {
      if (l === undefined) return lvl;
      lvl = l;
      return logger;
    },
    error(...args: unknown[]) {
      sink.push(`error: ${args.map(String).join(" ")}`);
      return logger;
    },
    warn(...args: unknown[]) {
      if (lvl >= vega.Warn) sink.push(`warning: ${args.map(String).join(" ")}`);
      return logger;
    },
    info() {
      return logger;
    },
    debug() {
      return logger;
    },
  };
  return logger;
}

export async function renderSvg(spec: VlSpec): Promise<RenderedSvg> {
  const warnings: string[] = [];
  const logger = collectingLogger(warnings);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const vg = compile(spec as any, { logger: logger as any }).spec;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const view = new vega.View(vega.parse(vg), { renderer: "none", logger: logger as any, logLevel: vega.Warn });
  try {
    const svg = await view.toSVG();
    return { svg, warnings };
  } finally {
    view.finalize();
  }
}
