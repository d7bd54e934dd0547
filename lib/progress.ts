/**
 * Progress for long work: a rewritten status line on a TTY (rows, rate, ETA), plain
 * log lines at most every `intervalMs` otherwise. Always on stderr, so `--json` keeps
 * stdout for the report.
 */
export interface ProgressOptions {
  readonly label: string;
  readonly total?: number;
  readonly unit?: string;
  readonly stream?: NodeJS.WriteStream;
  readonly intervalMs?: number;
  /** Silence everything (tests, nested runs). */
  readonly quiet?: boolean;
}

/** A duration as people read it: "850 ms", "4 s", "2 min 05 s", "15 min", "1 h 02 min". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${String(s % 60).padStart(2, "0")} s` : `${m} min`;
  return m % 60 ? `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min` : `${Math.floor(m / 60)} h`;
}

/** Rate and ETA from counts, as a pure function (tested without a clock). */
export function rateAndEta(done: number, total: number | undefined, elapsedMs: number): { rate: number; etaMs?: number } {
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  if (total === undefined || rate <= 0) return { rate };
  return { rate, etaMs: (Math.max(0, total - done) / rate) * 1000 };
}

export class Progress {
  private done = 0;
  private readonly started = Date.now();
  // The first line waits one interval too: printed at once it said "0/s" (no time had passed yet).
  private lastPrint = this.started;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY) && !opts.quiet;
  }

  add(n: number): void {
    this.done += n;
    this.maybePrint(false);
  }

  set(done: number): void {
    this.done = done;
    this.maybePrint(false);
  }

  finish(note = ""): void {
    this.maybePrint(true, note);
    if (this.tty) this.stream.write("\n");
  }

  line(note = ""): string {
    const elapsed = Date.now() - this.started;
    const unit = this.opts.unit ?? "rows";
    const { rate, etaMs } = rateAndEta(this.done, this.opts.total, elapsed);
    const of = this.opts.total !== undefined ? `/${this.opts.total}` : "";
    const eta = etaMs !== undefined ? ` eta ${formatDuration(etaMs)}` : "";
    return `${this.opts.label}: ${this.done}${of} ${unit} ${Math.round(rate)}/s elapsed ${formatDuration(elapsed)}${eta}${note ? ` ${note}` : ""}`;
  }

  private maybePrint(force: boolean, note = ""): void {
    if (this.opts.quiet) return;
    const now = Date.now();
    const interval = this.opts.intervalMs ?? (this.tty ? 200 : 5000);
    if (!force && now - this.lastPrint < interval) return;
    this.lastPrint = now;
    if (this.tty) this.stream.write(`\r\x1b[K${this.line(note)}`);
    else this.stream.write(`${this.line(note)}\n`);
  }
}
