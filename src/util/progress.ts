/**
 * Progress on stderr. On a terminal: cli-progress bars and one rewriting status line. Anywhere else (a log file,
 * a pipe, a SLURM job's log) whole lines: the first update, then at most one line every QUIRKY_PROGRESS_EVERY
 * seconds (default 10; 0: every update) with counts, percent and an estimate of the time left, a line when the
 * stage changes (at most one a second), and an end line. Lines start with the UTC time of day.
 */
import cliProgress from "cli-progress";

export interface Progress {
  update(done: number, total: number, label?: string): void;
  stop(): void;
}

/** Milliseconds between two lines of one bar off a terminal: $QUIRKY_PROGRESS_EVERY seconds, default 10. */
const everyMs = () => {
  const s = Number(process.env.QUIRKY_PROGRESS_EVERY ?? 10);
  return 1000 * (Number.isFinite(s) && s >= 0 ? s : 10);
};
/** A new stage gets its own line, but no more than one a second. */
const STAGE_GAP_MS = 1000;

/** `42 s`, `3 min 05 s`, `2 h 03 min` */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/**
 * Seconds left at a constant rate: rate = (done − done0) / elapsed since the stage's first update (done0 items
 * were already done then, e.g. by a resumed run), left = (total − done) / rate. Undefined until a rate exists.
 */
export function secondsLeft(elapsedMs: number, done0: number, done: number, total: number): number | undefined {
  if (done <= done0 || elapsedMs <= 0) return undefined;
  return ((total - done) * elapsedMs) / (done - done0) / 1000;
}

const clock = () => new Date().toISOString().slice(11, 19);
/** the stage a message belongs to: its text with the numbers left out ("layer 3/24" and "layer 4/24" are one stage) */
const stageOf = (text: string) => text.replace(/\d+(\.\d+)?/g, "#");

/** Line-based progress for a non-terminal stderr; `write` is where the lines go. */
export class ProgressLines {
  private stage?: string;
  private t0 = 0;
  private done0 = 0;
  private stageShown = false;
  private lastLine = -Infinity;
  private last?: { text: string; done?: number; total?: number };
  private start = 0;

  constructor(
    private readonly write: (line: string) => void = (l) => process.stderr.write(l + "\n"),
    private readonly now: () => number = Date.now,
  ) {}

  /** `text`, with counts when known (done of total) */
  update(text: string, done?: number, total?: number): void {
    const t = this.now();
    if (!this.last) this.start = t;
    const stage = stageOf(text) + (total === undefined ? "" : `|${total}`);
    const newStage = stage !== this.stage || (done !== undefined && this.last?.done !== undefined && done < this.last.done);
    if (newStage) {
      this.stage = stage;
      this.t0 = t;
      this.done0 = done ?? 0;
      this.stageShown = false;
    }
    this.last = { text, done, total };
    // a stage not shown yet waits at most a second; a shown one, the interval
    const every = everyMs();
    if (t - this.lastLine >= (this.stageShown ? every : Math.min(every, STAGE_GAP_MS))) this.print(t);
  }

  /** the end line: `summary` (default: the last state) and the time since the first update */
  end(summary?: string): void {
    const t = this.now();
    if (this.last) this.write(`[${clock()}] ${summary ?? this.describe(t)} (${formatDuration((t - this.start) / 1000)} in all)`);
    this.last = undefined;
  }

  private describe(t: number): string {
    const { text, done, total } = this.last!;
    if (done === undefined || total === undefined || total <= 0) return text;
    const left = secondsLeft(t - this.t0, this.done0, done, total);
    const eta = done >= total ? "" : left === undefined ? ", estimating time left" : `, ~${formatDuration(left)} left`;
    return `${text} ${done}/${total} (${Math.floor((100 * done) / total)}%)${eta}`;
  }

  private print(t: number): void {
    this.lastLine = t;
    this.stageShown = true;
    this.write(`[${clock()}] ${this.describe(t)}`);
  }
}

/** A progress bar on a terminal; progress lines (ProgressLines) otherwise. */
export function progressBar(label: string): Progress {
  if (!process.stderr.isTTY) {
    const lines = new ProgressLines();
    return {
      update: (done, total, stage) => lines.update(stage ? `${label} ${stage}` : label, done, total),
      stop: () => lines.end(),
    };
  }
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

export interface StatusLine {
  /** a message, with counts (done of total) when known */
  (text: string, done?: number, total?: number): void;
  /** clear the terminal line, or write the end line (default: "done") */
  end(summary?: string): void;
}

/**
 * One rewriting status line on a terminal; progress lines (ProgressLines) otherwise. Without explicit counts, a
 * message ending in `done/total` ("fit lr on A layer 3/24") is counted by that.
 */
export function statusLine(): StatusLine {
  if (!process.stderr.isTTY) {
    const lines = new ProgressLines();
    const update = (text: string, done?: number, total?: number) => {
      const m = done === undefined ? /^(.*\S) (\d+)\/(\d+)$/.exec(text) : null;
      if (m) lines.update(m[1], Number(m[2]), Number(m[3]));
      else lines.update(text, done, total);
    };
    return Object.assign(update, { end: (summary = "done") => lines.end(summary) });
  }
  const show = (text: string, done?: number, total?: number) => {
    const counts = done !== undefined && total !== undefined ? ` ${done}/${total}` : "";
    process.stderr.write(`\r${(text + counts).slice(0, 100).padEnd(100)}`);
  };
  return Object.assign(show, { end: () => process.stderr.write(`\r${" ".repeat(100)}\r`) });
}
