import { describe, expect, it } from "vitest";
import { combineRounds, compare, degradationPct, parseQuerySet, percentile, stats } from "../../lib/perf";

describe("the performance probe's math", () => {
  it("takes nearest-rank percentiles", () => {
    const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(s, 50)).toBe(5);
    expect(percentile(s, 95)).toBe(10);
    expect(percentile(s, 0)).toBe(1);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it("summarises a side regardless of sample order", () => {
    expect(stats([5, 1, 3, 2, 4])).toEqual({ runs: 5, p50Ms: 3, p95Ms: 5, meanMs: 3 });
  });

  it("measures degradation against the baseline (negative when the candidate is faster)", () => {
    expect(degradationPct(10, 13)).toBeCloseTo(30);
    expect(degradationPct(10, 8)).toBeCloseTo(-20);
    expect(degradationPct(0, 0)).toBe(0);
  });

  it("compares medians summed over the query set, so one slow outlier does not flip the verdict", () => {
    const r = compare(
      [
        { name: "by-id", baseline: [1, 1, 1, 1, 50], candidate: [1.2, 1.2, 1.2, 1.2, 1.2] },
        { name: "by-customer", baseline: [3, 3, 3, 3, 3], candidate: [4, 4, 4, 4, 4] },
      ],
      { baseline: "idc", candidate: "aws" },
    );
    expect(r.queries[0].baseline.p95Ms).toBe(50);
    expect(r.queries[0].degradationPct).toBeCloseTo(20);
    expect(r.baselineP50Ms).toBe(4);
    expect(r.candidateP50Ms).toBeCloseTo(5.2);
    expect(r.degradationPct).toBeCloseTo(30);
    expect(r).toMatchObject({ baselineLabel: "idc", candidateLabel: "aws", runs: 5 });
  });

  it("takes the median round's degradation, so one round a burst of load hit does not decide", () => {
    const round = (idc: number, aws: number) => [{ name: "q", baseline: [idc, idc, idc], candidate: [aws, aws, aws] }];
    const r = combineRounds([round(10, 11), round(10, 30), round(10, 10.5)], { baseline: "idc", candidate: "aws" });
    expect(r.roundsDegradationPct.map((x) => Math.round(x))).toEqual([10, 200, 5]);
    expect(r.degradationPct).toBeCloseTo(10);
    expect(r.runs).toBe(9);
    expect(r.queries[0].candidate.p50Ms).toBe(11);
  });

  it("accepts a read-only query set and refuses writes, naming the query", () => {
    expect(parseQuerySet('[{"name":"q","sql":"SELECT 1"},{"name":"w","sql":"WITH x AS (SELECT 1) SELECT * FROM x"}]', "q.json")).toHaveLength(2);
    expect(() => parseQuerySet('[{"name":"purge","sql":"DELETE FROM orders"}]', "q.json")).toThrow(/PERF_QUERY_NOT_READ_ONLY: q.json: purge/);
    expect(() => parseQuerySet('[{"name":"q"}]', "q.json")).toThrow(/q.json\[0.sql\]/);
    expect(() => parseQuerySet("[]", "q.json")).toThrow(/PERF_QUERIES_INVALID/);
    expect(() => parseQuerySet("{", "q.json")).toThrow(/is not JSON/);
  });
});
