import { messageOf } from "../../errors";

/**
 * One health check's verdict with its evidence (R7: "each item pass/fail with evidence").
 * `evidence` holds what was measured, never a secret.
 */
export interface CheckResult {
  /** e.g. "mysql", "canary", "http", "disk", "memory". */
  readonly check: string;
  /** What was checked: a server (without password), URL, path. */
  readonly target: string;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly evidence: Readonly<Record<string, unknown>>;
  /** Why it failed; null when it passed. */
  readonly problem: string | null;
}

/** The verdict half of a check, before timing. */
export interface Verdict {
  readonly evidence: Record<string, unknown>;
  readonly problems: readonly string[];
}

/**
 * Runs a check and times it; an exception (server down, refused connection) is a failed check
 * with its message as the problem, not a crash of the whole health run.
 */
export async function timed(check: string, target: string, body: () => Promise<Verdict>): Promise<CheckResult> {
  const started = Date.now();
  try {
    const v = await body();
    return {
      check,
      target,
      ok: v.problems.length === 0,
      durationMs: Date.now() - started,
      evidence: v.evidence,
      problem: v.problems.length ? v.problems.join("; ") : null,
    };
  } catch (e) {
    return { check, target, ok: false, durationMs: Date.now() - started, evidence: {}, problem: messageOf(e) };
  }
}
