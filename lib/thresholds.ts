import { z } from "zod";

/**
 * The plan's rollback decision criteria (§5, R2), as configurable thresholds with the
 * plan's defaults. Config (`rollback:thresholds`) overrides them; the decision itself
 * lives in lib/decision.ts.
 */
export const ThresholdsSchema = z
  .object({
    /** Lost rows tolerated; 0 is the plan's "any data loss". */
    maxLostRows: z.number().int().min(0).default(0),
    /** Integrity mismatch, in percent of rows compared (the plan: > 1 %). */
    maxMismatchPct: z.number().min(0).max(100).default(1),
    /** Response-time degradation of the new side, in percent (the plan: > 30 %). */
    maxPerformanceDegradationPct: z.number().min(0).default(30),
    /** Outage duration in minutes (the plan: > 10 min). */
    maxOutageMin: z.number().min(0).default(10),
    /** Application error rate on the new side, in percent (not in the plan; 5 % by default). */
    maxErrorRatePct: z.number().min(0).max(100).default(5),
  })
  .strict();

export type Thresholds = z.infer<typeof ThresholdsSchema>;

export const DEFAULT_THRESHOLDS: Thresholds = ThresholdsSchema.parse({});
