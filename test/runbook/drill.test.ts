import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DrillResult, runDrill } from "../../lib/drill";
import { TRIGGERS } from "../../lib/drill/shop";
import { silentView } from "../../lib/drill/view";
import { STEPS } from "../../lib/runbook";

/**
 * The drill end to end, on real MariaDB servers, nginx and app processes: the default rollback
 * and one fault (IDC killed, restarted through the idc-health step). Both run at once to keep
 * the suite short; each drill has its own servers, ports and output folder.
 */
const out = (name: string) => join(tmpdir(), `rollback-drill-test-${process.pid}-${name}`);

describe("the rollback drill", () => {
  let normal: DrillResult;
  let idcDown: DrillResult;

  beforeAll(async () => {
    const common = { rows: 2_000, view: silentView(), usersSeconds: 2, quiet: true };
    [normal, idcDown] = await Promise.all([
      runDrill({ ...common, scenario: "default", out: out("default") }),
      runDrill({ ...common, scenario: "idc-down", out: out("idc-down") }),
    ]);
  }, 240_000);

  afterAll(async () => {
    await rm(out("default"), { recursive: true, force: true });
    await rm(out("idc-down"), { recursive: true, force: true });
  });

  it("rolls back end to end without losing a row users wrote on AWS", () => {
    expect(normal.scenario.unmet).toEqual([]);
    expect(normal.checklist.filter((c) => !c.pass)).toEqual([]);
    expect(normal.ok).toBe(true);
    expect(normal.decision.rollback).toBe(true);
    expect(normal.rows.writtenOnAws).toBeGreaterThan(0);
    expect(normal.rows.synced).toBeGreaterThan(0);
    expect(normal.rows.lost).toBe(0);
    expect(normal.rows.resurrected).toBe(0);
    expect(normal.verification).toEqual({ identical: true, mismatchPct: 0 });
  });

  it("syncs the shop's triggers' tables with IDC's triggers dropped, and leaves them back as they were", () => {
    // The sync saved IDC's triggers, dropped them for the copy (or every order it wrote would add an
    // order_events row AWS never had: verify above would not be identical), recreated and proved them.
    expect(normal.triggers.sync).toEqual({ saved: [...TRIGGERS], recreated: [...TRIGGERS], verified: true });
    // And on IDC after the rollback: the same triggers as before it, doing what AWS's do.
    expect(normal.triggers).toMatchObject({ idc: [...TRIGGERS], aws: [...TRIGGERS], asBefore: true, asOnAws: true });
  });

  it("runs the runbook's steps in lib/runbook.ts order, each phase within its budget", () => {
    // As the Pulumi Runbook: every step in order, the report last and unwrapped (not a timed step).
    expect(normal.steps.map((s) => s.step)).toEqual(STEPS.filter((s) => s.id !== "report").map((s) => s.id));
    expect(normal.steps.filter((s) => s.status !== "ok").map((s) => [s.step, s.status])).toEqual([["rds-power", "not-run"]]);
    expect(normal.phases.map((p) => [p.id, p.status])).toEqual([
      ["cutoff", "ok"],
      ["data-sync", "ok"],
      ["normalisation", "ok"],
    ]);
    const starts = normal.phases.map((p) => Date.parse(p.startedAt!));
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
  });

  it("keeps users served: failures are the maintenance page, not errors", () => {
    const c = normal.clients;
    expect(c.requests).toBeGreaterThan(100);
    expect(c.maintenance503).toBeGreaterThan(0);
    // A request racing nginx's reload on a keep-alive connection is the only error users may see.
    expect(c.errors).toBeLessThanOrEqual(3);
    for (const e of c.errorSamples) expect(e.error).toMatch(/socket hang up|ECONNRESET/);
    expect(c.afterRollback.requests).toBeGreaterThan(0);
    expect(c.afterRollback.errors).toBe(0);
  });

  it("writes a report with every §6 item passing, and no secret in it", async () => {
    const md = await readFile(normal.files.reportMd, "utf8");
    expect(md).toContain("**Result: OK**");
    expect(md.match(/: PASS\*\*/g)).toHaveLength(7);
    const timeline = await readFile(normal.files.timelineJson, "utf8");
    // The drill's database users have random passwords; they reach scripts only through env.
    for (const text of [md, timeline, await readFile(normal.files.timeline, "utf8"), await readFile(normal.files.cutoverTimeline, "utf8")]) {
      expect(text).not.toMatch(/mysql:\/\/[^:\s"]+:[^@\s"[]+@/);
      expect(text).not.toMatch(/"password"/);
    }
  });

  it("detects a killed IDC server at the idc-health step, restarts it, and still loses nothing", () => {
    expect(idcDown.scenario.unmet).toEqual([]);
    expect(idcDown.checklist.filter((c) => !c.pass)).toEqual([]);
    expect(idcDown.ok).toBe(true);
    expect(idcDown.scenario.detection.join("\n")).toMatch(/idc-mysql was exited; action: restart; MySQL answers/);
    expect(idcDown.scenario.detection.join("\n")).toMatch(/docker restart idc-mysql/);
    expect(idcDown.rows.lost).toBe(0);
    expect(idcDown.verification.identical).toBe(true);
  });
});
