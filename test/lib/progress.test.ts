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
    expect([formatDuration(4_000), formatDuration(125_000), formatDuration(3_725_000)]).toEqual(["4 s", "2 min 05 s", "1 h 02 min"]);
    expect([formatDuration(850), formatDuration(15 * 60_000), formatDuration(2 * 3_600_000)]).toEqual(["850 ms", "15 min", "2 h"]);
  });
});
