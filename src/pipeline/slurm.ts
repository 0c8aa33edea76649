/**
 * `quirky slurm CONFIG`: an sbatch script that runs a config as a SLURM job array. Array task i of n runs
 * `quirky run CONFIG` as shard i/n (parseShard reads SLURM_ARRAY_TASK_ID/COUNT/MIN); the task that finds every
 * unit done writes the tables and the report. The script runs this checkout's bin/quirky.js by absolute path
 * (the checkout must be on a filesystem the compute nodes share), from the config file's folder, and its log
 * gets line-based progress while the job runs (src/util/progress.ts: stderr is a file there).
 */
import { dirname, resolve } from "node:path";
import { REPO_ROOT } from "./default.ts";

export interface SlurmOptions {
  /** array tasks (shards) */
  tasks: number;
  /** CPUs per task; also the threads quirky uses (QUIRKY_THREADS) */
  cpus?: number;
  /** memory per task, as sbatch --mem takes it: 32G, 4000M, 500 */
  mem?: string;
  /** time limit per task, as sbatch --time takes it: 24:00:00, 2-00:00:00, 90 */
  time?: string;
  partition?: string;
}

export class SlurmOptionError extends Error {}

/** A positive whole number from a command-line flag, or a one-line error naming the flag. */
export function positiveCount(flag: string, value: string): number {
  if (!/^[1-9]\d*$/.test(value.trim()) || !Number.isSafeInteger(Number(value))) throw new SlurmOptionError(`${flag} ${value}: expected a whole number ≥ 1`);
  return Number(value);
}

// sbatch's own formats; anything else would reach the #SBATCH lines and fail only at submission
const MEM = /^\d+[KMGT]?$/i;
const TIME = /^(\d+-\d+(:\d+){0,2}|\d+(:\d+){0,2}|UNLIMITED|INFINITE)$/i;
const PARTITION = /^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*$/;

/** a word for bash, single-quoted */
const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** The sbatch script (text) that runs `configPath` as `opts.tasks` array tasks. */
export function slurmScript(configPath: string, opts: SlurmOptions): string {
  const { tasks, cpus = 8, mem = "32G", time = "24:00:00", partition } = opts;
  if (!Number.isSafeInteger(tasks) || tasks < 1) throw new SlurmOptionError(`--tasks ${tasks}: expected a whole number ≥ 1`);
  if (!Number.isSafeInteger(cpus) || cpus < 1) throw new SlurmOptionError(`--cpus ${cpus}: expected a whole number ≥ 1`);
  if (!MEM.test(mem)) throw new SlurmOptionError(`--mem ${mem}: expected a size such as 32G, 4000M or 500 (megabytes)`);
  if (!TIME.test(time)) throw new SlurmOptionError(`--time ${time}: expected minutes, hh:mm:ss or days-hh:mm:ss, e.g. 24:00:00`);
  if (partition !== undefined && !PARTITION.test(partition)) throw new SlurmOptionError(`--partition ${partition}: expected a partition name (letters, digits, _ . -), or several separated by commas`);
  const config = resolve(configPath);
  const dir = dirname(config);
  // #SBATCH lines take double-quoted values, without escapes
  if (/["\n\r]/.test(dir)) throw new SlurmOptionError(`${config}: a config folder whose path holds a double quote or a line break cannot be named in an #SBATCH line`);
  const repo = REPO_ROOT.replace(/\/$/, "");
  return [
    "#!/bin/bash",
    "#SBATCH --job-name=quirky",
    `#SBATCH --array=0-${tasks - 1}`,
    `#SBATCH --cpus-per-task=${cpus}`,
    `#SBATCH --mem=${mem}`,
    `#SBATCH --time=${time}`,
    ...(partition ? [`#SBATCH --partition=${partition}`] : []),
    `#SBATCH --output="${dir}/quirky-%A_%a.log"`,
    "",
    `# Written by quirky slurm: runs the config below as ${tasks} array tasks; unit of work k goes to task k mod ${tasks},`,
    "# and the task that finds every unit done writes the tables and the report. Resubmitting resumes.",
    "set -euo pipefail",
    `repo=${shellQuote(repo)}`,
    `config=${shellQuote(config)}`,
    "# node on the job's PATH (sbatch passes the submitting shell's), else the node that wrote this script",
    `node_bin=$(command -v node || echo ${shellQuote(process.execPath)})`,
    `[ -x "$node_bin" ] || { echo "quirky: no node on PATH on $(hostname); load Node.js ≥ 20 before sbatch" >&2; exit 1; }`,
    `[ -f "$repo/bin/quirky.js" ] || { echo "quirky: $repo/bin/quirky.js not found on $(hostname): the checkout must be on a filesystem the compute nodes share" >&2; exit 1; }`,
    'cd "$(dirname "$config")"',
    `export QUIRKY_THREADS=\${SLURM_CPUS_PER_TASK:-${cpus}}`,
    'echo "quirky run $config: array task ${SLURM_ARRAY_TASK_ID:-?} (of ${SLURM_ARRAY_TASK_COUNT:-?}) on $(hostname), node $("$node_bin" --version), $(date -u +%FT%TZ)"',
    'exec "$node_bin" "$repo/bin/quirky.js" run "$config"',
    "",
  ].join("\n");
}
