/** `quirky import | export`: activations from other tools in, quirky's states and log-odds out (src/extract/import.ts, export.ts). */
import { Command, Option } from "commander";
import { join } from "node:path";
import { datasetNameOf } from "../extract/examples.ts";
import { IMPORT_FIELDS, importStates } from "../extract/import.ts";
import { exportResults } from "../extract/export.ts";
import { parseReporters } from "./experiments.ts";

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

export function interopCommands(): Command[] {
  const imp = new Command("import")
    .description("bring in hidden states made by another tool (.npy or safetensors) as quirky states, ready for 'quirky grid --root'")
    .requiredOption("--from <dir>", `folder with validation/ and test/ holding <field>.npy files, or validation.safetensors and test.safetensors; fields: ${IMPORT_FIELDS.join(", ")}`)
    .requiredOption("--out <dir>", "experiments folder; states go to OUT/<model>/<dataset>/<distribution>/<split>")
    .requiredOption("--model <name>", "name of the model the states came from (recorded, and the results folder's name)")
    .option("--adapter <name>", "name of its adapter, if any (recorded)")
    .option("--dataset <dir>", "a quirky dataset folder: labels, characters and difficulties come from its rows")
    .option("--dataset-name <name>", "the dataset's name, without --dataset (e.g. addition)")
    .addOption(new Option("--match <how>", "match arrays to the dataset's rows by id (needs ids.npy) or by order (default: id when ids are given)").choices(["id", "order"]))
    .addOption(new Option("--layer-axis <axis>", "where the layer axis is: 0 for hiddens [L, n, d], 1 for [n, L, d] (pair_hiddens [n, L, 2, d])").choices(["0", "1"]).default("0"))
    .option("--reporters <list>", "reporters the grid will run (pair reporters need pair_hiddens); default: all eight", parseReporters)
    .option("--force", "replace states there that were imported or extracted from other data (without it, they are refused)")
    .addHelpText("after", `
Fields, one .npy file each (or one tensor each in a safetensors file, ids as a JSON list in __metadata__.ids):
  hiddens [L, n, d]            last-token residual state after each layer (f16, bf16, f32, f64; stored as f32)
  pair_hiddens [L, n, 2, d]    state at each answer choice's first token, [false, true] (pair reporters, CCS, CRC)
  lm_log_odds [n]              the LM's logit(true) − logit(false) (optional; the LM-output line)
  labels, alice_labels, bob_labels [n]   0/1;  character [n] "Alice"/"Bob" or 0/1
  difficulty [n], difficulty_quantile [n] (optional: else (rank + 0.5) / n over the imported rows), ids [n]
With --dataset, labels, characters and difficulties come from the dataset's rows (arrays given as well must agree).
Nothing is written unless every file checks out. Then: quirky grid --root OUT/<model>/<dataset> --reporters ...`)
    .action(async (o) => {
      if (!SAFE_NAME.test(o.model)) throw new Error(`--model '${o.model}': a name, not a path (letters, digits, . _ + -)`);
      const dataset = o.dataset ? datasetNameOf(o.dataset) : o.datasetName;
      if (!dataset) throw new Error("name the dataset: --dataset DIR (a quirky dataset folder) or --dataset-name NAME");
      if (!SAFE_NAME.test(dataset)) throw new Error(`--dataset-name '${dataset}': a name, not a path`);
      if (o.match && !o.dataset) throw new Error("--match needs --dataset (the rows to match)");
      const root = join(o.out, o.adapter ? `${o.model}__${o.adapter}` : o.model, dataset);
      const r = await importStates({
        from: o.from, root, model: o.model, adapter: o.adapter ?? null, dataset, datasetDir: o.dataset, match: o.match,
        layerAxis: Number(o.layerAxis) as 0 | 1, reporters: o.reporters, force: o.force,
      });
      console.log(`imported ${r.rows.validation} validation + ${r.rows.test} test rows, ${r.layers} layers × ${r.d}${r.pairs ? ", with pair states" : ", no pair states"}${r.lmLogOdds ? ", with LM log-odds" : ", no LM log-odds"}`);
      console.log(`${r.written.length} states folders written, ${r.unchanged.length} unchanged → ${root}`);
      console.log(`next: quirky grid --root ${root}${o.reporters ? ` --reporters ${o.reporters.join(",")}` : ""}`);
    });

  const exp = new Command("export")
    .description("write states folders and transfers' log-odds as .npy files (what 'quirky import' reads; np.load opens them)")
    .argument("<path>", "a states folder, a <train>_<reporter>_log_odds.safetensors file, or a results folder (every states folder and log-odds file under it)")
    .requiredOption("--out <dir>", "output folder (a results folder's layout is mirrored under it)")
    .action((path: string, o) => {
      const files = exportResults(path, o.out);
      console.log(`wrote ${files.length} .npy files under ${o.out}`);
    });
  return [imp, exp];
}
