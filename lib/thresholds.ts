/**
 * The plan's rollback decision criteria (§5, R2), as configurable thresholds with the
 * plan's defaults. Config (`rollback:thresholds`) overrides them; the decision itself
 * lives in lib/decision.ts.
 */
export interface Thresholds {
  /** Any lost row triggers a rollback when this is 0 (the plan: "any data loss"). */
  readonly maxLostRows: number;
  /** Integrity mismatch, in percent of rows compared (the plan: > 1 %). */
  readonly maxMismatchPct: number;
  /** Response-time degradation of the new side, in percent (the plan: > 30 %). */
  readonly maxPerformanceDegradationPct: number;
  /** Outage duration in minutes (the plan: > 10 min). */
  readonly maxOutageMin: number;
  /** Application error rate on the new side, in percent. */
  readonly maxErrorRatePct: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  maxLostRows: 0,
  maxMismatchPct: 1,
  maxPerformanceDegradationPct: 30,
  maxOutageMin: 10,
  maxErrorRatePct: 5,
};
