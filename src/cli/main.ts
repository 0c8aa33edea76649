/** The `quirky` command line: each subcommand is a thin layer over the library in src/. */
import { Command } from "commander";
import { datasetsCommand } from "./datasets.ts";
import { experimentCommands } from "./experiments.ts";
import { trainCommand } from "./train.ts";
import { reportCommand } from "./report.ts";
import { exploreCommand } from "./explore.ts";
import { runCommands } from "./run.ts";
import { interopCommands } from "./interop.ts";
import { quirkyVersion } from "../analysis/run-info.ts";

export function program(): Command {
  const p = new Command("quirky")
    .description("Eliciting latent knowledge from quirky language models: datasets, models, probes, transfer, reports")
    .version(quirkyVersion(), "-V, --version", "print quirky's version")
    .showHelpAfterError()
    .addCommand(datasetsCommand());
  for (const c of experimentCommands()) p.addCommand(c);
  for (const c of interopCommands()) p.addCommand(c);
  p.addCommand(trainCommand());
  p.addCommand(reportCommand());
  p.addCommand(exploreCommand());
  for (const c of runCommands()) p.addCommand(c);
  return p;
}

/** Run the CLI; errors print as one line (no stack) and exit 1. Set QUIRKY_DEBUG=1 for stacks. */
export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (err) {
    if (process.env.QUIRKY_DEBUG) console.error(err);
    else console.error(`quirky: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
