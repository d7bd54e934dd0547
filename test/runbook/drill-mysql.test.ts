import { spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { DrillResult } from "../../lib/drill";

/**
 * The default drill with `--flavor mysql`: AWS and IDC both Oracle MySQL 9.7, started as an
 * operator starts it (scripts/drill.ts, its JSON report on stdout). The MariaDB drills are
 * drill.test.ts. About 3 minutes on two idle cores (servers, cut-over, users, rollback).
 */
const out = join(tmpdir(), `rollback-drill-mysql-${process.pid}`);

function drill(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/drill.ts", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

afterAll(async () => {
  await rm(out, { recursive: true, force: true, maxRetries: 5 });
});

describe("the rollback drill on MySQL (mysql)", () => {
  it("rolls back end to end on MySQL 9.7 without losing a row users wrote on AWS", async () => {
    const r = await drill(["--flavor", "mysql", "--rows", "2000", "--users-seconds", "2", "--json", "--out", out]);
    expect(r.stderr.slice(-2000)).not.toMatch(/UNEXPECTED|Error:/);
    const result = JSON.parse(r.stdout) as DrillResult;
    // The steps that did not end ok, beside the unmet expectations: a failure says where.
    const notOk = result.steps.filter((s) => s.status !== "ok" && s.step !== "rds-power").map((s) => [s.step, s.status]);
    expect({ unmet: result.scenario.unmet, notOk }).toEqual({ unmet: [], notOk: [] });
    // "Performance compared" times IDC against AWS on two shared cores that seven other test
    // runs may be loading: a +55 % p50 swing between rounds was seen here with nothing wrong.
    // drill.test.ts holds the MariaDB drill to it; this test to everything else.
    expect(result.checklist.filter((c) => !c.pass && c.id !== "performance")).toEqual([]);
    expect(result.rows.writtenOnAws).toBeGreaterThan(0);
    expect(result.rows.lost).toBe(0);
    expect(result.rows.resurrected).toBe(0);
    expect(result.verification).toEqual({ identical: true, mismatchPct: 0 });
    expect(r.code).toBe(result.ok ? 0 : 1);
  }, 600_000);

  it("refuses an unknown flavour as a usage error", async () => {
    const r = await drill(["--flavor", "postgres"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--flavor: must be mariadb or mysql (got postgres)");
  });
});
