import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseUsers } from "../../lib/fence/accounts";
import { fenceOn } from "../../lib/fence/fence";
import { testFlavors } from "../../lib/sandbox/server";
import { Pair, runScript, startPair } from "../data/pair";

/**
 * settle as the runbook runs it: `fence check` on the side being left (the pair's source, AWS),
 * the position read from the run's timeline (step.ts passes ROLLBACK_TIMELINE), after a real
 * verify; a late write by an account outside the fence stops it, --resync-on-move copies it.
 */
describe.each(testFlavors())("settle (%s)", (flavor) => {
  let pair: Pair;
  const timeline = () => `${pair.source.datadir}/../settle-${flavor}-timeline.jsonl`;
  const env = (extra: NodeJS.ProcessEnv = {}) => ({ ...pair.env(), DATABASE_URL: pair.source.url("app"), ROLLBACK_TIMELINE: timeline(), ...extra });
  beforeAll(async () => {
    pair = await startPair(`settle-${flavor}`, { flavor, source: flavor === "mariadb" ? ["--log-bin=binlog"] : [] });
    await pair.onBoth("CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(40))", "INSERT INTO orders VALUES (1, 'a'), (2, 'b')");
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

  it("exits 1 naming the position after a late write by an account outside the fence", async () => {
    const { connect } = await import("../../lib/mysql");
    const job = await connect({ ...pair.source.dsn("app"), user: "report_job", password: "job-pw" });
    await job.query("INSERT INTO orders VALUES (3, 'written after the proof')");
    await job.end();
    const r = await runScript("fence", ["check", "--users", "app", "--json"], env()).done;
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).moved).toEqual([expect.stringMatching(/^position: \S+ -> \S+ \(something committed after the proof\)$/)]);
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
