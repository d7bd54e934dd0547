import { describe, expect, it } from "vitest";
import { formatDuration, rateAndEta } from "../../lib/progress";

describe("progress figures", () => {
  it("computes rate and ETA from rows done, total and elapsed time", () => {
    expect(rateAndEta(500, 1000, 10_000)).toEqual({ rate: 50, etaMs: 10_000 });
  });
  it("has no ETA without a total or before any progress", () => {
    expect(rateAndEta(500, undefined, 1000).etaMs).toBeUndefined();
    expect(rateAndEta(0, 1000, 1000).etaMs).toBeUndefined();
  });
  it("formats durations for people", () => {
    expect([formatDuration(4_000), formatDuration(125_000), formatDuration(3_725_000)]).toEqual(["4s", "2m05s", "1h02m"]);
  });
});
