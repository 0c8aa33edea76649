/**
 * Render the report from a synthetic experiments folder, to look at the page without running any model:
 *
 *   node --import tsx scripts/report-demo.ts [OUT_DIR]      (default out/report-demo; open OUT_DIR/index.html)
 */
import { join, resolve } from "node:path";
import { renderReport } from "../src/report/index.ts";
import { writeSyntheticExperiments } from "../src/report/synthetic.ts";

const out = resolve(process.argv[2] ?? "out/report-demo");
const exp = join(out, "experiments");
writeSyntheticExperiments(exp, { datasets: ["addition", "capitals", "sciq", "sentiment"], layers: { "pythia-tiny": 6, "mistral-mini": 10 } });
const t0 = performance.now();
const r = await renderReport(exp, join(out, "report"));
console.log(`${r.html} (${r.svgs.length} figures, ${r.files.length} files, ${(performance.now() - t0).toFixed(0)} ms)`);
for (const w of r.warnings) console.warn(`warning: ${w}`);
