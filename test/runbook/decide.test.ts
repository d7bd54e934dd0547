import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalServer, startLocalServer } from "../../lib/sandbox/server";
import { readTimeline } from "../../lib/timeline";

const exec = promisify(execFile);
const ROOT = join(__dirname, "..", "..");

/** Runs scripts/decide.ts; resolves with its exit code and parsed JSON. */
async function decide(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await exec(join(ROOT, "node_modules", ".bin", "tsx"), [join(ROOT, "scripts", "decide.ts"), ...args], { env: { ...process.env, ...env } }).then(
    (x) => ({ code: 0, stdout: x.stdout, stderr: x.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
  return { ...r, json: r.stdout.trim() ? JSON.parse(r.stdout) : undefined };
}

describe("scripts/decide.ts", () => {
  let dir = "";
  let server: LocalServer;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "rollback-decide-"));
    server = await startLocalServer({ name: "decide" });
    const table = "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), KEY (v))";
    await server.exec("CREATE DATABASE idc", "CREATE DATABASE aws", `USE idc`, table, `USE aws`, table);
    await server.exec(
      "INSERT INTO idc.t SELECT seq, CONCAT('v', seq % 100) FROM seq_1_to_2000",
      "INSERT INTO aws.t SELECT seq, CONCAT('v', seq % 100) FROM seq_1_to_2000",
    );
    await writeFile(
      join(dir, "verify.json"),
      JSON.stringify({ identical: false, mismatchPct: 0.4, rowsCompared: 1000, tables: [{ table: "orders", identical: false, missing: 2, extra: 0, changed: 2 }] }),
    );
    await writeFile(join(dir, "queries.json"), JSON.stringify([{ name: "by v", sql: "SELECT COUNT(*) FROM t WHERE v = ?", params: ["v7"] }]));
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("decides to roll back on data missing from AWS, exits 1, and records the decision in the timeline", async () => {
    const timeline = join(dir, "a.jsonl");
    const r = await decide(["--verify", join(dir, "verify.json"), "--error-rate-pct", "0.2", "--timeline", timeline, "--json"]);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ rollback: true, reasons: ["Data loss: 2 rows > 0 rows"], measurements: { lostRows: 2, mismatchPct: 0.4, errorRatePct: 0.2 } });
    expect(r.json.criteria.find((c: { id: string }) => c.id === "outage")).toMatchObject({ verdict: "not-measured" });
    expect(r.stderr).toMatch(/rollback\s+Data loss: 2 rows > 0 rows/);
    const [e] = await readTimeline(timeline);
    expect(e).toMatchObject({ step: "decide", phase: "decision", budgetMs: null, report: { rollback: true } });
  });

  it("stays (exit 0) when thresholds from ROLLBACK_THRESHOLDS allow the measurements", async () => {
    const r = await decide(["--verify", join(dir, "verify.json"), "--json"], { ROLLBACK_THRESHOLDS: JSON.stringify({ maxLostRows: 5 }) });
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ rollback: false, reasons: [], thresholds: { maxLostRows: 5, maxMismatchPct: 1 } });
  });

  it("refuses bad thresholds and bad input, naming them (exit 2)", async () => {
    const bad = await decide(["--json"], { ROLLBACK_THRESHOLDS: JSON.stringify({ maxMismatchPct: "high" }) });
    expect(bad.code).toBe(2);
    expect(bad.json.error).toMatchObject({ code: "THRESHOLDS_INVALID", subject: "ROLLBACK_THRESHOLDS.maxMismatchPct" });
    const notVerify = await decide(["--verify", join(dir, "queries.json")]);
    expect(notVerify.code).toBe(2);
    expect(notVerify.stderr).toMatch(/is not a verify report/);
    const negative = await decide(["--outage-min=-3"]);
    expect(negative.stderr).toMatch(/--outage-min: expected a number >= 0/);
  });

  it("probes both databases with the configured queries and records p50/p95 per side", async () => {
    const timeline = join(dir, "p.jsonl");
    const r = await decide(["--probe", join(dir, "queries.json"), "--runs", "8", "--timeline", timeline, "--json"], {
      BASELINE_DATABASE_URL: server.url("idc"),
      CANDIDATE_DATABASE_URL: server.url("aws"),
      // Sub-millisecond queries on a shared machine: this test is about the measurement, not the verdict.
      ROLLBACK_THRESHOLDS: JSON.stringify({ maxPerformanceDegradationPct: 1e6 }),
    });
    expect(r.code).toBe(0);
    const perf = r.json.perf;
    // 8 runs in each of 3 rounds; the verdict is the median round's.
    expect(perf).toMatchObject({ baselineLabel: "idc", candidateLabel: "aws", runs: 24 });
    expect(perf.roundsDegradationPct).toHaveLength(3);
    expect(perf.queries[0].baseline.runs).toBe(24);
    expect(perf.queries[0].candidate.p95Ms).toBeGreaterThanOrEqual(perf.queries[0].candidate.p50Ms);
    expect(r.json.measurements.performanceDegradationPct).toBe(perf.degradationPct);
    expect((await readTimeline(timeline)).map((e) => e.step)).toEqual(["perf", "decide"]);
    expect(r.stdout).not.toContain(server.url("idc"));
  });
});
