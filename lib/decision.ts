import { RollbackError } from "./errors";
import { DEFAULT_THRESHOLDS, Thresholds, ThresholdsSchema } from "./thresholds";

/**
 * The rollback decision (plan §5, R2) as a pure function of measurements and thresholds.
 * Every criterion is reported with its value, threshold and verdict, so the decision explains
 * itself; a criterion that was not measured says so instead of passing silently.
 */
export interface Measurements {
  /** Rows the new side (AWS) lost: present on the old side at cut-over, missing now. */
  readonly lostRows?: number;
  /** Integrity mismatch between the two sides, in percent of rows compared. */
  readonly mismatchPct?: number;
  /** How much slower the new side answers than the old one, in percent (negative: faster). */
  readonly performanceDegradationPct?: number;
  /** Longest continuous outage seen by users, in minutes. */
  readonly outageMin?: number;
  /** Share of failed application requests on the new side, in percent. */
  readonly errorRatePct?: number;
  /** Manual input: a critical security issue was found. */
  readonly criticalSecurityIssue?: boolean;
  /** Manual input: an error the team cannot recover from on the new side. */
  readonly unrecoverableError?: boolean;
}

export type CriterionId = "data-loss" | "mismatch" | "performance" | "outage" | "error-rate" | "security" | "unrecoverable";

export type Verdict = "rollback" | "ok" | "not-measured";

export interface Criterion {
  readonly id: CriterionId;
  /** The plan's wording. */
  readonly title: string;
  readonly value: number | boolean | null;
  /** Rolls back when the value exceeds this (numbers) or is true (manual flags). */
  readonly threshold: number | boolean;
  readonly unit: string;
  readonly verdict: Verdict;
  /** One sentence: the value against the threshold. */
  readonly reason: string;
}

export interface Decision {
  readonly rollback: boolean;
  /** The reasons of the criteria that call for a rollback (empty when staying). */
  readonly reasons: string[];
  readonly criteria: Criterion[];
  readonly thresholds: Thresholds;
}

interface NumericRule {
  readonly id: CriterionId;
  readonly title: string;
  readonly unit: string;
  readonly value: (m: Measurements) => number | undefined;
  readonly threshold: (t: Thresholds) => number;
}

const NUMERIC: readonly NumericRule[] = [
  { id: "data-loss", title: "Data loss", unit: "rows", value: (m) => m.lostRows, threshold: (t) => t.maxLostRows },
  { id: "mismatch", title: "Integrity mismatch", unit: "%", value: (m) => m.mismatchPct, threshold: (t) => t.maxMismatchPct },
  {
    id: "performance",
    title: "Performance degradation",
    unit: "%",
    value: (m) => m.performanceDegradationPct,
    threshold: (t) => t.maxPerformanceDegradationPct,
  },
  { id: "outage", title: "Outage duration", unit: "min", value: (m) => m.outageMin, threshold: (t) => t.maxOutageMin },
  { id: "error-rate", title: "Application error rate", unit: "%", value: (m) => m.errorRatePct, threshold: (t) => t.maxErrorRatePct },
];

const FLAGS: readonly { id: CriterionId; title: string; value: (m: Measurements) => boolean | undefined }[] = [
  { id: "security", title: "Critical security issue (manual input)", value: (m) => m.criticalSecurityIssue },
  { id: "unrecoverable", title: "Unrecoverable system error (manual input)", value: (m) => m.unrecoverableError },
];

/** Rounds for display only; the comparison uses the exact value. */
function show(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

function numeric(rule: NumericRule, m: Measurements, t: Thresholds): Criterion {
  const value = rule.value(m);
  const threshold = rule.threshold(t);
  const base = { id: rule.id, title: rule.title, threshold, unit: rule.unit };
  if (value === undefined || Number.isNaN(value)) {
    return { ...base, value: null, verdict: "not-measured", reason: `${rule.title}: not measured` };
  }
  const over = value > threshold;
  return {
    ...base,
    value,
    verdict: over ? "rollback" : "ok",
    reason: `${rule.title}: ${show(value)} ${rule.unit} ${over ? ">" : "<="} ${show(threshold)} ${rule.unit}`,
  };
}

function flag(rule: (typeof FLAGS)[number], m: Measurements): Criterion {
  const value = rule.value(m);
  const base = { id: rule.id, title: rule.title, threshold: true, unit: "" };
  if (value === undefined) return { ...base, value: null, verdict: "not-measured", reason: `${rule.title}: not reported` };
  return { ...base, value, verdict: value ? "rollback" : "ok", reason: `${rule.title}: ${value ? "reported" : "none"}` };
}

/** Rolls back when any measured criterion exceeds its threshold (the plan: any one of them suffices). */
export function decide(m: Measurements, thresholds: Thresholds = DEFAULT_THRESHOLDS): Decision {
  const criteria = [...NUMERIC.map((r) => numeric(r, m, thresholds)), ...FLAGS.map((r) => flag(r, m))];
  const reasons = criteria.filter((c) => c.verdict === "rollback").map((c) => c.reason);
  return { rollback: reasons.length > 0, reasons, criteria, thresholds };
}

/** The subset of a data-engine verify report (lib/data) the decision reads. */
export interface VerifyLike {
  readonly mismatchPct: number;
  readonly tables: readonly { readonly missing: number }[];
}

/**
 * Data loss and mismatch from a verify report whose source is the side that must be complete
 * (IDC at cut-over) and whose target is the new side (AWS): rows missing in the target were lost.
 */
export function measurementsFromVerify(report: VerifyLike): Pick<Measurements, "lostRows" | "mismatchPct"> {
  return { lostRows: report.tables.reduce((n, t) => n + t.missing, 0), mismatchPct: report.mismatchPct };
}

/** Error rate and longest outage from request counts seen by clients (load balancer logs, the drill's load generator). */
export function measurementsFromClients(c: { requests: number; errors: number; longestOutageMs: number }): Pick<
  Measurements,
  "errorRatePct" | "outageMin"
> {
  return { errorRatePct: c.requests > 0 ? (c.errors * 100) / c.requests : undefined, outageMin: c.longestOutageMs / 60_000 };
}

/** Validates thresholds from config (JSON); missing keys take the plan's defaults; errors name the key. */
export function parseThresholds(raw: unknown, subject: string): Thresholds {
  const r = ThresholdsSchema.safeParse(raw ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new RollbackError("THRESHOLDS_INVALID", `${subject}.${issue.path.join(".") || "(root)"}`, issue.message);
  }
  return r.data;
}
