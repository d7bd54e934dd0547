import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseUsers } from "../../lib/fence/accounts";
import { fenceOn } from "../../lib/fence/fence";
import { connect } from "../../lib/mysql";
import { testFlavors } from "../../lib/sandbox/server";
import { Pair, runScript, startPair } from "../data/pair";

/**
 * settle as the runbook runs it: `fence check` on the side being left (the pair's source, AWS),
 * the position read from the run's timeline (step.ts passes ROLLBACK_TIMELINE), after a real
 * verify; a late write by an account outside the fence stops it, --resync-on-move copies it.
 */
describe.each(testFlavors())("settle (%s)", (flavor) => {
  let pair: Pair;
  const timeline = () => `${pair.source.datadir}.tmp/settle-timeline.jsonl`;
  const env = (extra: NodeJS.ProcessEnv = {}) => ({ ...pair.env(), DATABASE_URL: pair.source.url("app"), ROLLBACK_TIMELINE: timeline(), ...extra });
  beforeAll(async () => {
    // Row-based binary log, as RDS for MySQL's default (MariaDB's MIXED logs plain INSERTs as
    // statements, which name no table: those count as writes everywhere).
    pair = await startPair(`settle-${flavor}`, { flavor, source: flavor === "mariadb" ? ["--log-bin=binlog", "--binlog-format=ROW"] : [] });
    await pair.onBoth("CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(40))", "INSERT INTO orders VALUES (1, 'a'), (2, 'b')");
    // Another schema on the same server, as RDS's mysql.rds_heartbeat2.
    await pair.source.exec("CREATE DATABASE ops", "CREATE TABLE ops.heartbeat (id INT PRIMARY KEY, v BIGINT)", "INSERT INTO ops.heartbeat VALUES (1, 0)");
    await pair.source.exec(
      "CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'",
      "GRANT SELECT, INSERT ON app.* TO 'app'@'%'",
      "CREATE USER 'report_job'@'%' IDENTIFIED BY 'job-pw'",
      "GRANT INSERT ON app.* TO 'report_job'@'%'",
    );
    const fenced = await fenceOn({ dsn: pair.source.dsn("app"), users: parseUsers(["app"]), method: "account-lock", recordPath: `${timeline()}.fence.json`, timeoutS: 1 });
    expect(fenced.ok).toBe(true);
    const verify = await pair.verify();
    expect(verify.identical).toBe(true);
    expect(verify.sourcePosition).not.toBeNull();
    await writeFile(timeline(), `${JSON.stringify({ step: "verify", phase: "data-sync", startedAt: new Date().toISOString(), status: "ok", exitCode: 0, report: verify })}\n`);
  });
  afterAll(async () => {
    await pair?.stop();
  });

  it("passes when nothing was written after verify (position from the run's timeline)", async () => {
    const r = await runScript("fence", ["check", "--users", "app", "--json"], env()).done;
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, action: "check", moved: [] });
  });

  it("passes when the position moved only by writes to another schema (a heartbeat), and says so", async () => {
    await pair.source.exec("UPDATE ops.heartbeat SET v = v + 1 WHERE id = 1");
    const r = await runScript("fence", ["check", "--users", "app", "--json"], env()).done;
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.moved).toEqual([]);
    expect(report.positionNote).toMatch(/^\S+ -> \S+, but no event since the proof writes to database app \(other schemas only, e.g. RDS's heartbeat\)$/);
  });

  it("exits 1 naming the position after a late write by an account outside the fence", async () => {
    const job = await connect({ ...pair.source.dsn("app"), user: "report_job", password: "job-pw" });
    await job.query("INSERT INTO orders VALUES (3, 'written after the proof')");
    await job.end();
    const r = await runScript("fence", ["check", "--users", "app", "--json"], env()).done;
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).moved).toEqual([expect.stringMatching(/^position: \S+ -> \S+ \(something committed after the proof to database app\)$/)]);
    expect(await pair.column("target", "SELECT COUNT(*) FROM orders")).toEqual(["2"]);
  });

  it("--resync-on-move syncs the late row, verifies again and passes at the new proven position", async () => {
    const r = await runScript("fence", ["check", "--users", "app", "--resync-on-move", "1", "--json"], env()).done;
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, resynced: 1 });
    expect(r.stderr).toContain("re-sync 1 of 1");
    expect(await pair.column("target", "SELECT note FROM orders WHERE id = 3")).toEqual(["written after the proof"]);
  });
});
