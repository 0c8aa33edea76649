/** Progress bars on stderr (cli-progress); silent when stderr is not a terminal. */
import cliProgress from "cli-progress";

export interface Progress {
  update(done: number, total: number, label?: string): void;
  stop(): void;
}

export function progressBar(label: string): Progress {
  const bar = new cliProgress.SingleBar(
    { format: `{label} [{bar}] {percentage}% | {value}/{total} | {duration_formatted}`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, stage) {
      if (!started) {
        bar.start(total, 0, { label });
        started = true;
      }
      bar.setTotal(total);
      bar.update(done, { label: stage ? `${label} ${stage}` : label });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
