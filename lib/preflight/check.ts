import { RollbackError, awsErrorName, isRollbackError, messageOf } from "../errors";

/** The assumptions preflight checks, one id each (the names used in its output and report). */
export type CheckId = "databases" | "nginx" | "connection-secret" | "route53" | "rds" | "docker" | "backups";

/** What one check found. `not-checked` says why it could not look (never counted as a pass). */
export interface CheckResult {
  readonly id: CheckId;
  readonly status: "pass" | "fail" | "not-checked";
  /** What was seen, for the report: versions, ids, states; never a secret. */
  readonly evidence: readonly string[];
  readonly problems: readonly RollbackError[];
  readonly reason?: string;
}

/** What a check's body hands back: what it saw, what is wrong, or why it could not look. */
export interface Findings {
  readonly evidence: string[];
  readonly problems: RollbackError[];
  notChecked?: string;
}

export function findings(): Findings {
  return { evidence: [], problems: [] };
}

/**
 * Runs one check; a thrown RollbackError is one problem of that check (the check stops there),
 * anything else is reported as UNEXPECTED with its message, so one broken check never hides
 * the others' answers.
 */
export async function runCheck(id: CheckId, body: (f: Findings) => Promise<void>): Promise<CheckResult> {
  const f = findings();
  try {
    await body(f);
  } catch (e) {
    f.problems.push(isRollbackError(e) ? e : new RollbackError("UNEXPECTED", id, messageOf(e)));
  }
  const status = f.problems.length > 0 ? "fail" : f.notChecked ? "not-checked" : "pass";
  return { id, status, evidence: f.evidence, problems: f.problems, ...(f.notChecked ? { reason: f.notChecked } : {}) };
}

/** An AWS call that failed for a reason the check has no special answer for (credentials, network, throttling). */
export function awsUnavailable(subject: string, call: string, e: unknown): RollbackError {
  return new RollbackError("AWS_UNAVAILABLE", subject, `${call} failed: ${awsErrorName(e) ?? "error"}: ${messageOf(e)}`, "check the runner's AWS credentials, region and network");
}
