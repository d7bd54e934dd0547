import { spawn } from "node:child_process";
import { appendFile, mkdir, open, readFile } from "node:fs/promises";
import { constants } from "node:os";
import { dirname } from "node:path";
import { RollbackError, messageOf } from "./errors";
import { redactDeep, secretValues } from "./report/redact";
import { PHASES, PhaseId, STEPS, budgetMs } from "./runbook";

/**
 * The rollback timeline (R6): one JSON line per runbook step, appended as each step ends, so a
 * run that dies half-way still leaves what happened. Besides the runbook's steps, the decision
 * before it and the checks after it are recorded as entries of the pseudo-phases "decision" and
 * "verification" (no budget), so the report is built from the timeline alone.
 */
export type EntryPhase = PhaseId | "decision" | "verification";

/**
 * ok: done; failed: the step ran and failed; interrupted: a SIGINT/SIGTERM reached it (forwarded
 * by scripts/step.ts) and it ended; not-run: deliberately not executed (says why in `note`).
 */
export type EntryStatus = "ok" | "failed" | "interrupted" | "not-run";

/** A step that did not do its job: it failed, or it was interrupted. */
export function didNotFinish(e: TimelineEntry | undefined): boolean {
  return e?.status === "failed" || e?.status === "interrupted";
}

export interface TimelineEntry {
  readonly step: string;
  readonly phase: EntryPhase;
  /** ISO 8601. */
  readonly startedAt: string;
  readonly durationMs: number;
  /** The budget of the step's phase; null for decision and verification entries. */
  readonly budgetMs: number | null;
  readonly status: EntryStatus;
  readonly exitCode: number | null;
  /** The step's `--json` report (parsed), or null when it printed none. */
  readonly report: unknown;
  /** Why a step did not run, or what stood in for it (drill stand-ins say so here). */
  readonly note?: string;
}

export const DEFAULT_TIMELINE = ".rollback/timeline.jsonl";

/** The timeline file: the flag, else env ROLLBACK_TIMELINE, else the default. */
export function timelinePath(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.ROLLBACK_TIMELINE ?? DEFAULT_TIMELINE;
}

/** The phase and budget of a runbook step; the error names an unknown id. */
export function stepPhase(step: string): { phase: PhaseId; budgetMs: number } {
  const s = STEPS.find((x) => x.id === step);
  if (!s) {
    throw new RollbackError("STEP_UNKNOWN", step, "is not a runbook step", `one of: ${STEPS.map((x) => x.id).join(", ")}`);
  }
  return { phase: s.phase, budgetMs: budgetMs(s.phase) };
}

/**
 * Refuses a timeline path a step could not append to, before the step runs (a step that moved
 * traffic and then could not record it leaves the report blind): a directory, a parent that is a
 * file, an unwritable place, or an existing file that is not a timeline. Creates the directory.
 */
export async function prepareTimeline(file: string): Promise<void> {
  try {
    await mkdir(dirname(file), { recursive: true });
    const fh = await open(file, "a");
    await fh.close();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "EISDIR" ? "is a directory" : code === "ENOTDIR" || code === "EEXIST" ? "has a file where a directory should be" : messageOf(e);
    throw new RollbackError("TIMELINE_INVALID", file, `cannot be appended to: ${why}`, "give --timeline a writable file path");
  }
  await readTimeline(file);
}

export async function appendEntry(file: string, entry: TimelineEntry): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await appendFile(file, JSON.stringify(entry) + "\n");
}

/** Reads a timeline; a malformed line is an error naming the file and line. */
export async function readTimeline(file: string): Promise<TimelineEntry[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new RollbackError("TIMELINE_MISSING", file, messageOf(e), "run the runbook steps through scripts/step.ts first");
  }
  return text
    .split("\n")
    .map((line, i) => ({ line, n: i + 1 }))
    .filter(({ line }) => line.trim() !== "")
    .map(({ line, n }) => {
      try {
        const e = JSON.parse(line) as TimelineEntry;
        if (typeof e.step !== "string" || typeof e.startedAt !== "string" || typeof e.durationMs !== "number") {
          throw new Error("missing step, startedAt or durationMs");
        }
        return e;
      } catch (err) {
        throw new RollbackError("TIMELINE_INVALID", `${file}:${n}`, messageOf(err));
      }
    });
}

export type PhaseStatus = "ok" | "over-budget" | "failed" | "not-run";

export interface PhaseTiming {
  readonly id: PhaseId;
  readonly title: string;
  /** ISO start of its first step; null when none ran. */
  readonly startedAt: string | null;
  /** From the start of its first step to the end of its last. */
  readonly durationMs: number;
  readonly budgetMs: number;
  /** Minutes from the start of the rollback when the phase ended, against the plan's window end. */
  readonly endedAtMin: number | null;
  readonly windowEndMin: number;
  readonly status: PhaseStatus;
  readonly steps: string[];
}

const endOf = (e: TimelineEntry) => Date.parse(e.startedAt) + e.durationMs;

/**
 * Phase timings against the plan's budgets. A phase is over budget when it took longer than its
 * budget or ended after its window (cut-off by minute 15, data sync by 30, normalisation by 60).
 */
export function phaseTimings(entries: readonly TimelineEntry[]): PhaseTiming[] {
  const steps = entries.filter((e) => STEPS.some((s) => s.id === e.step));
  const t0 = steps.length ? Math.min(...steps.map((e) => Date.parse(e.startedAt))) : 0;
  return PHASES.map((p) => {
    const mine = steps.filter((e) => e.phase === p.id);
    const budget = budgetMs(p.id);
    const base = { id: p.id, title: p.title, budgetMs: budget, windowEndMin: p.endsAtMin, steps: [...new Set(mine.map((e) => e.step))] };
    if (mine.length === 0) return { ...base, startedAt: null, durationMs: 0, endedAtMin: null, status: "not-run" as const };
    const start = Math.min(...mine.map((e) => Date.parse(e.startedAt)));
    const end = Math.max(...mine.map(endOf));
    const durationMs = end - start;
    const endedAtMin = (end - t0) / 60_000;
    // A step rerun after a failure (a second `pulumi up`) supersedes the failed attempt.
    const failed = [...new Set(mine.map((e) => e.step))].some((id) => didNotFinish(lastEntry(mine, id)));
    const status: PhaseStatus = failed
      ? "failed"
      : durationMs > budget || endedAtMin > p.endsAtMin
        ? "over-budget"
        : "ok";
    return { ...base, startedAt: new Date(start).toISOString(), durationMs, endedAtMin, status };
  });
}

/**
 * The latest entry of a step in time order (a rerun after a failure supersedes the failure). By
 * start time, not file position: entries are appended when a step ends, and timelines written by
 * more than one process (decide.ts records its entry with its own start) are not in time order;
 * on equal starts the later line wins.
 */
export function lastEntry(entries: readonly TimelineEntry[], step: string): TimelineEntry | undefined {
  let latest: TimelineEntry | undefined;
  for (const e of entries) if (e.step === step && (!latest || Date.parse(e.startedAt) >= Date.parse(latest.startedAt))) latest = e;
  return latest;
}

export interface ChildOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Receives the child's stderr; by default it is streamed to ours. */
  readonly onStderr?: (chunk: string) => void;
  /** Also write the child's stdout (its --json report) to ours, as a command resource expects. */
  readonly echoStdout?: boolean;
  /** When aborted, its reason (a signal name) is sent to the child, which is then waited for. */
  readonly signal?: AbortSignal;
}

export interface ChildResult {
  /** The exit code; a child killed by a signal gets 128 + the signal number, as a shell reports it. */
  readonly code: number | null;
  readonly stdout: string;
}

/** Runs a command without a shell, streaming its stderr and capturing its stdout. */
export function runChild(command: readonly string[], opts: ChildOptions = {}): Promise<ChildResult> {
  const [cmd, ...args] = command;
  if (!cmd) return Promise.reject(new RollbackError("ARGS_INVALID", "command", "is empty", "pass it after --"));
  return new Promise<ChildResult>((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => {
      out.push(b);
      if (opts.echoStdout) process.stdout.write(b);
    });
    child.stderr.on("data", (b: Buffer) => (opts.onStderr ? opts.onStderr(b.toString()) : process.stderr.write(b)));
    const forward = () => child.kill(opts.signal!.reason as NodeJS.Signals);
    opts.signal?.addEventListener("abort", forward, { once: true });
    child.on("error", (e) => reject(new RollbackError("COMMAND_SPAWN", cmd, messageOf(e), "is it installed and on PATH?")));
    child.on("close", () => opts.signal?.removeEventListener("abort", forward));
    child.on("close", (c, signal) => resolve({ code: c ?? (signal ? 128 + (constants.signals[signal] ?? 0) : null), stdout: Buffer.concat(out).toString() }));
  });
}

export interface RunStepOptions extends ChildOptions {
  readonly step: string;
  /** The command and its arguments; secrets travel in `env`, never here. */
  readonly command: readonly string[];
  readonly timeline: string;
  /** Exit codes that count as success (e.g. 1 for the `diff` step: verify exits 1 when the sides differ, as expected in a rollback). */
  readonly okCodes?: readonly number[];
}

export interface StepResult {
  readonly entry: TimelineEntry;
  readonly stdout: string;
}

/** The child's report: its stdout as one JSON document, else its last JSON line, else null. */
export function parseReport(stdout: string): unknown {
  const text = stdout.trim();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    const last = text.split("\n").at(-1)!;
    try {
      return JSON.parse(last);
    } catch {
      return null;
    }
  }
}

/**
 * Runs one runbook step's command (what scripts/step.ts and the drill do), streams its stderr,
 * captures its stdout report, and appends the step's timeline line, secrets redacted.
 */
export async function runStep(opts: RunStepOptions): Promise<StepResult> {
  const { phase, budgetMs: budget } = stepPhase(opts.step);
  const env = opts.env ?? process.env;
  const startedAt = new Date();
  // The step's command may read this run's timeline (settle reads verify's proven position from it).
  const { code, stdout } = await runChild(opts.command, { ...opts, env: { ...env, ROLLBACK_TIMELINE: opts.timeline } });
  const ok = code !== null && (opts.okCodes ?? [0]).includes(code);
  const interrupted = opts.signal?.aborted === true;
  const entry: TimelineEntry = {
    step: opts.step,
    phase,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    budgetMs: budget,
    status: interrupted ? "interrupted" : ok ? "ok" : "failed",
    exitCode: code,
    report: redactDeep(parseReport(stdout), secretValues(env)),
    ...(interrupted ? { note: `interrupted: ${String(opts.signal!.reason)} was passed to the step's command, which ended with exit ${code}` } : {}),
  };
  await appendEntry(opts.timeline, entry);
  return { entry, stdout };
}
