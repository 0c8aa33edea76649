/** `quirky explore DIR [--port N]`: a thin layer over startExplorer; serves until Ctrl-C. */
import { Command } from "commander";
import { startExplorer } from "../report/explore.ts";

export function exploreCommand(): Command {
  return new Command("explore")
    .description(
      "explore a results folder in the browser: pick model, dataset, reporter, transfer and label column, move along the layers, and see " +
        "the layerwise AUROC (with the random-direction band and the LM's output), the probe's outputs by character × agreement, the " +
        "anomaly scores of AH vs BH beside the no-quirk control, PGR and EIL beside the paper's numbers, and the run's provenance. " +
        "Serves on 127.0.0.1 only and loads each selection's data when it is picked; stop with Ctrl-C",
    )
    .argument("<dir>", "results folder written by 'quirky demo', 'quirky run' or 'quirky grid' (<model>/<dataset>/summary.json, …)")
    .option("--port <n>", "port to listen on (0: any free port)", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port: '${v}' is not a port number (0–65535)`);
      return n;
    }, 0)
    .action(async (dir: string, o: { port: number }) => {
      const ex = await startExplorer(dir, { port: o.port });
      console.log(`quirky explore: ${ex.url}  (Ctrl-C to stop)`);
      await new Promise<void>((done) => {
        process.once("SIGINT", () => {
          console.log("\nquirky explore: stopped");
          void ex.close().then(done);
          // open keep-alive connections must not hold the process
          ex.server.closeAllConnections();
        });
      });
    });
}
