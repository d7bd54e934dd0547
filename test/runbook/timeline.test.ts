import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budgetMs } from "../../lib/runbook";
import { appendEntry, phaseTimings, readTimeline, stepPhase, TimelineEntry, timelinePath } from "../../lib/timeline";

const at = (min: number) => new Date(Date.parse("2024-12-01T01:00:00Z") + min * 60_000).toISOString();
const entry = (step: string, startMin: number, durMin: number, status: TimelineEntry["status"] = "ok"): TimelineEntry => ({
  step,
  ...stepPhase(step),
  startedAt: at(startMin),
  durationMs: durMin * 60_000,
  status,
  exitCode: status === "ok" ? 0 : 1,
  report: null,
});

describe("the timeline (R6)", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "rollback-timeline-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("appends one line per entry and reads them back, creating the folder", async () => {
    const file = join(dir, "run", "timeline.jsonl");
    await appendEntry(file, entry("maintenance-on", 0, 1));
    await appendEntry(file, entry("drain", 1, 2));
    expect((await readTimeline(file)).map((e) => e.step)).toEqual(["maintenance-on", "drain"]);
  });

  it("names the file and line of a malformed entry, and a missing timeline", async () => {
    const file = join(dir, "bad.jsonl");
    await writeFile(file, `${JSON.stringify(entry("drain", 0, 1))}\n{"step":\n`);
    await expect(readTimeline(file)).rejects.toThrow(`TIMELINE_INVALID: ${file}:2`);
    await expect(readTimeline(join(dir, "none.jsonl"))).rejects.toThrow(/TIMELINE_MISSING/);
  });

  it("takes the file from the flag, else ROLLBACK_TIMELINE, else .rollback/timeline.jsonl", () => {
    expect(timelinePath("x.jsonl", { ROLLBACK_TIMELINE: "y.jsonl" })).toBe("x.jsonl");
    expect(timelinePath(undefined, { ROLLBACK_TIMELINE: "y.jsonl" })).toBe("y.jsonl");
    expect(timelinePath(undefined, {})).toBe(".rollback/timeline.jsonl");
  });

  it("times each phase against its budget and the plan's window", () => {
    const p = phaseTimings([entry("maintenance-on", 0, 2), entry("drain", 2, 3), entry("backup-check", 5, 4), entry("sync", 9, 30)]);
    expect(p[0]).toMatchObject({ id: "cutoff", durationMs: 5 * 60_000, budgetMs: budgetMs("cutoff"), endedAtMin: 5, status: "ok", steps: ["maintenance-on", "drain"] });
    // 34 minutes of data sync: over its 15-minute budget and past minute 30.
    expect(p[1]).toMatchObject({ id: "data-sync", durationMs: 34 * 60_000, status: "over-budget", endedAtMin: 39 });
    expect(p[2]).toMatchObject({ id: "normalisation", status: "not-run", startedAt: null });
  });

  it("flags a phase that ends after its window even within its budget", () => {
    // Cut-off starts late (minute 10) and takes 6 minutes: within 15 minutes, but past minute 15.
    const p = phaseTimings([entry("report", 0, 0), entry("maintenance-on", 10, 6)]);
    expect(p[0]).toMatchObject({ status: "over-budget", endedAtMin: 16 });
  });

  it("lets a step re-run after a failure supersede it (a second pulumi up)", () => {
    const failedOnce = [entry("sync", 0, 1, "failed"), entry("sync", 2, 1)];
    expect(phaseTimings(failedOnce)[1].status).toBe("ok");
    expect(phaseTimings(failedOnce.slice(0, 1))[1].status).toBe("failed");
  });
});
