import { describe, expect, it } from "vitest";
import { decide, measurementsFromClients, measurementsFromVerify, parseThresholds } from "../../lib/decision";
import { DEFAULT_THRESHOLDS } from "../../lib/thresholds";

const calm = {
  lostRows: 0,
  mismatchPct: 0.5,
  performanceDegradationPct: 12,
  outageMin: 2,
  errorRatePct: 0.1,
  criticalSecurityIssue: false,
  unrecoverableError: false,
};

describe("the rollback decision (plan §5)", () => {
  it("stays when every criterion is within the plan's defaults, and says so for each", () => {
    const d = decide(calm);
    expect(d.rollback).toBe(false);
    expect(d.reasons).toEqual([]);
    expect(d.criteria.map((c) => [c.id, c.verdict])).toEqual([
      ["data-loss", "ok"],
      ["mismatch", "ok"],
      ["performance", "ok"],
      ["outage", "ok"],
      ["error-rate", "ok"],
      ["security", "ok"],
      ["unrecoverable", "ok"],
    ]);
    expect(d.criteria.find((c) => c.id === "mismatch")).toMatchObject({ value: 0.5, threshold: 1, unit: "%" });
  });

  it.each([
    ["data-loss", { lostRows: 1 }, "Data loss: 1 rows > 0 rows"],
    ["mismatch", { mismatchPct: 1.01 }, "Integrity mismatch: 1.01 % > 1 %"],
    ["performance", { performanceDegradationPct: 30.5 }, "Performance degradation: 30.50 % > 30 %"],
    ["outage", { outageMin: 10.5 }, "Outage duration: 10.50 min > 10 min"],
    ["error-rate", { errorRatePct: 6 }, "Application error rate: 6 % > 5 %"],
    ["security", { criticalSecurityIssue: true }, "Critical security issue (manual input): reported"],
    ["unrecoverable", { unrecoverableError: true }, "Unrecoverable system error (manual input): reported"],
  ])("rolls back on %s alone, with the value and threshold in the reason", (id, bad, reason) => {
    const d = decide({ ...calm, ...bad });
    expect(d.rollback).toBe(true);
    expect(d.reasons).toEqual([reason]);
    expect(d.criteria.filter((c) => c.verdict === "rollback").map((c) => c.id)).toEqual([id]);
  });

  it("treats a value equal to the threshold as within it (the plan says 'more than')", () => {
    expect(decide({ mismatchPct: 1, performanceDegradationPct: 30, outageMin: 10, lostRows: 0 }).rollback).toBe(false);
  });

  it("reports unmeasured criteria as not measured instead of passing them", () => {
    const d = decide({ mismatchPct: 0 });
    expect(d.rollback).toBe(false);
    expect(d.criteria.find((c) => c.id === "performance")).toMatchObject({ value: null, verdict: "not-measured" });
    expect(d.criteria.find((c) => c.id === "security")?.reason).toMatch(/not reported/);
  });

  it("uses thresholds from config over the defaults", () => {
    const t = parseThresholds({ maxMismatchPct: 5, maxPerformanceDegradationPct: 50, maxLostRows: 10 }, "rollback:thresholds");
    expect(t.maxOutageMin).toBe(DEFAULT_THRESHOLDS.maxOutageMin);
    const d = decide({ mismatchPct: 3, performanceDegradationPct: 45, lostRows: 10 }, t);
    expect(d.rollback).toBe(false);
    expect(decide({ mismatchPct: 3 }).rollback).toBe(true);
    expect(decide({ outageMin: 0.5 }, parseThresholds({ maxOutageMin: 0.25 }, "t")).reasons).toEqual(["Outage duration: 0.50 min > 0.25 min"]);
  });

  it("refuses bad thresholds with the key named", () => {
    expect(() => parseThresholds({ maxMismatchPct: 101 }, "rollback:thresholds")).toThrow(/rollback:thresholds\.maxMismatchPct/);
    expect(() => parseThresholds({ maxMismatch: 1 }, "ROLLBACK_THRESHOLDS")).toThrow(/THRESHOLDS_INVALID: ROLLBACK_THRESHOLDS/);
    expect(() => parseThresholds({ maxLostRows: -1 }, "t")).toThrow(/t\.maxLostRows/);
  });

  it("takes data loss and mismatch from a verify report (rows missing on the new side are lost)", () => {
    const m = measurementsFromVerify({ mismatchPct: 2.5, tables: [{ missing: 3 }, { missing: 0 }, { missing: 4 }] });
    expect(m).toEqual({ lostRows: 7, mismatchPct: 2.5 });
    expect(decide(m).reasons).toEqual(["Data loss: 7 rows > 0 rows", "Integrity mismatch: 2.50 % > 1 %"]);
  });

  it("takes error rate and the longest outage from client counts", () => {
    expect(measurementsFromClients({ requests: 200, errors: 20, longestOutageMs: 90_000 })).toEqual({ errorRatePct: 10, outageMin: 1.5 });
    expect(measurementsFromClients({ requests: 0, errors: 0, longestOutageMs: 0 }).errorRatePct).toBeUndefined();
  });
});
