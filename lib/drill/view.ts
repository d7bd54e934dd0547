import { formatDuration } from "../progress";
import type { TimelineEntry } from "../timeline";

/**
 * The drill's live view on stderr (without --json): what happens, phase by phase and step by
 * step, the steps' own output indented under them, and a status line with what users see.
 * With --json the view is silent: stdout holds the one report, stderr only errors.
 */
export interface View {
  info(line: string): void;
  /** A heading: setup, cut-over, users on AWS, decision, rollback, verification. */
  stage(title: string): void;
  stepStart(step: string, title: string): void;
  stepEnd(entry: TimelineEntry): void;
  /** A child's stderr (a step's script, an app). */
  child(text: string): void;
  /** The users' counters, refreshed periodically. */
  status(line: string): void;
}

export function silentView(): View {
  const none = () => undefined;
  return { info: none, stage: none, stepStart: none, stepEnd: none, child: none, status: none };
}

export function liveView(stream: NodeJS.WriteStream = process.stderr): View {
  const t0 = Date.now();
  const tty = Boolean(stream.isTTY);
  let statusShown = false;
  const stamp = () => `[${formatDuration(Date.now() - t0).padStart(5)}]`;
  const write = (text: string) => {
    if (statusShown) stream.write("\r\x1b[K");
    statusShown = false;
    stream.write(text.endsWith("\n") ? text : `${text}\n`);
  };
  return {
    info: (line) => write(`${stamp()} ${line}`),
    stage: (title) => write(`\n${stamp()} == ${title} ==`),
    stepStart: (step, title) => write(`${stamp()} -> ${step}: ${title}`),
    stepEnd: (e) =>
      write(`${stamp()}    ${e.status === "ok" ? "ok" : e.status.toUpperCase()} ${e.step} in ${formatDuration(e.durationMs)}${e.exitCode !== null ? ` (exit ${e.exitCode})` : ""}${e.note ? ` — ${e.note}` : ""}`),
    child: (text) => {
      for (const line of text.split(/\r?\n/).filter((l) => l.trim())) write(`         | ${line.replace(/\r|\x1b\[K/g, "")}`);
    },
    status: (line) => {
      if (tty) {
        stream.write(`\r\x1b[K${stamp()} ${line}`);
        statusShown = true;
      } else write(`${stamp()} ${line}`);
    },
  };
}
