import type { Connection } from "mysql2/promise";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseUsers } from "../../lib/fence/accounts";
import { fenceOn } from "../../lib/fence/fence";
import { DEFAULT_GUARDRAILS, judgeGuardrails } from "../../lib/guardrails";
import { checkGuardrails } from "../../lib/guardrails-measure";
import { connect } from "../../lib/mysql";
import { freePort } from "../../lib/sandbox/free-port";
import { LocalServer, startLocalServer, testFlavors } from "../../lib/sandbox/server";

describe("guardrails verdicts (pure)", () => {
  const quiet = { transactions: [], ddl: [], unlistedWrites: { windowS: 5, byAccount: [] }, replica: { configured: false, ioRunning: false, sqlRunning: false, secondsBehind: null } };

  it("passes a quiet server and reports every rule with its value and threshold", () => {
    const r = judgeGuardrails(quiet);
    expect(r.ok).toBe(true);
    expect(r.results.map((x) => [x.id, x.verdict, x.value, x.threshold])).toEqual([
      ["long-transaction", "ok", 0, 60],
      ["ddl", "ok", 0, 0],
      ["unlisted-writes", "ok", 0, 0],
      ["replica", "ok", "not a replica", 0],
    ]);
  });

  it("says not-measured instead of passing silently, and does not refuse on it", () => {
    const r = judgeGuardrails({ unlistedWritesUnmeasured: "performance_schema is off on this server" });
    expect(r.ok).toBe(true);
    expect(r.results.map((x) => x.verdict)).toEqual(["not-measured", "not-measured", "not-measured", "not-measured"]);
    expect(r.results[2].reason).toBe("writes by unlisted accounts: not measured (performance_schema is off on this server)");
  });

  it("refuses a running replica that is behind or half-stopped; a stopped or caught-up one passes", () => {
    const replica = (ioRunning: boolean, sqlRunning: boolean, secondsBehind: number | null) => judgeGuardrails({ ...quiet, replica: { configured: true, ioRunning, sqlRunning, secondsBehind } }, { ...DEFAULT_GUARDRAILS, maxReplicaLagS: 2 }).results[3];
    expect(replica(true, true, 2)).toMatchObject({ verdict: "ok", value: 2 });
    expect(replica(false, false, null)).toMatchObject({ verdict: "ok", value: "stopped" });
    expect(replica(true, true, 3)).toMatchObject({ verdict: "refuse", value: 3, threshold: 2 });
    expect(replica(true, false, null).hint).toContain("STOP REPLICA on IDC");
  });
});

/** The measurements on real servers; performance_schema on (RDS for MySQL has it on; MariaDB's default is off). */
describe.each(testFlavors())("guardrails on a real server (%s)", (flavor) => {
  let db: LocalServer;
  const open: Connection[] = [];
  const accounts = [{ user: "app", host: "%" }];
  const opts = (over: object = {}) => ({ dsn: db.dsn("app"), accounts, thresholds: DEFAULT_GUARDRAILS, windowS: 0, waitS: 0, ...over });
  const as = async (user: string) => {
    const c = await connect({ ...db.dsn("app"), user, password: `${user}-pw` });
    open.push(c);
    return c;
  };
  const check = async (over: object = {}) => {
    const c = await db.admin();
    try {
      return await checkGuardrails(c, opts(over));
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    db = await startLocalServer({ flavor, name: `guardrails-${flavor}`, bufferPoolMb: 32, args: ["--performance-schema=ON", ...(flavor === "mariadb" ? ["--log-bin=binlog"] : [])] });
    const grant = (u: string) => [`CREATE USER '${u}'@'%' IDENTIFIED BY '${u}-pw'`, `GRANT SELECT, INSERT, UPDATE, DELETE, ALTER ON app.* TO '${u}'@'%'`];
    await db.exec("CREATE DATABASE app", "CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)", ...grant("app"), ...grant("other"));
  });
  afterAll(async () => {
    await Promise.all(open.map((c) => c.end().catch(() => undefined)));
    await db?.stop();
  });

  it("a quiet server passes; IDC that is no replica passes the replica rule", async () => {
    const r = await check({ windowS: 0.5, replicaDsn: db.dsn("app") });
    expect(r.ok).toBe(true);
    expect(r.results.map((x) => x.verdict)).toEqual(["ok", "ok", "ok", "ok"]);
  });

  it("an IDC that does not answer (the idc-down case) leaves the replica rule not measured and does not stop the fence", async () => {
    const down = { ...db.dsn("app"), port: await freePort() };
    const r = await check({ windowS: 0, replicaDsn: down });
    expect(r.ok).toBe(true);
    const replica = r.results.find((x) => x.id === "replica");
    expect(replica?.verdict).toBe("not-measured");
    expect(replica?.reason).toMatch(/IDC does not answer: .*ECONNREFUSED.*sync refuses a running replica/);
  });

  it("refuses a transaction older than the threshold, naming the session and its age", async () => {
    const other = await as("other");
    await other.query("BEGIN");
    await other.query("INSERT INTO t (v) VALUES (1)");
    await new Promise((r) => setTimeout(r, 2100));
    const r = await check({ thresholds: { ...DEFAULT_GUARDRAILS, maxTransactionS: 1 } });
    expect(r.ok).toBe(false);
    expect(r.results[0]).toMatchObject({ id: "long-transaction", verdict: "refuse", threshold: 1 });
    expect(r.results[0].reason).toMatch(new RegExp(`^transaction of other@(localhost|127\\.0\\.0\\.1) \\(session ${other.threadId}\\) open for \\d+ s > 1 s$`));
    await other.query("ROLLBACK");
  });

  it("refuses while an ALTER waits on a metadata lock; passes once it is through", async () => {
    const reader = await as("app");
    await reader.query("BEGIN");
    await reader.query("SELECT * FROM t");
    const alter = (await as("other")).query("ALTER TABLE t ADD COLUMN w INT");
    await new Promise((r) => setTimeout(r, 300));
    const r = await check();
    expect(r.results[1]).toMatchObject({ id: "ddl", verdict: "refuse", value: 1 });
    expect(r.results[1].reason).toContain("Waiting for table metadata lock): ALTER TABLE t ADD COLUMN w INT");
    await reader.query("COMMIT");
    await alter;
    expect((await check()).results[1].verdict).toBe("ok");
  });

  it("counts rows written by accounts outside the fence during the window; the fenced account's writes do not count", async () => {
    const other = await as("other");
    const app = await as("app");
    const writes = (async () => {
      await new Promise((r) => setTimeout(r, 300));
      await app.query("INSERT INTO t (v) VALUES (2), (3)");
      await other.query("INSERT INTO t (v) VALUES (4), (5), (6)");
    })();
    const r = await check({ windowS: 1.5 });
    await writes;
    expect(r.ok).toBe(false);
    expect(r.results[2]).toMatchObject({ id: "unlisted-writes", verdict: "refuse", value: 3 });
    expect(r.results[2].reason).toMatch(/^accounts outside the fence wrote during 1.5 s: other@(localhost|127\.0\.0\.1) 3 row\(s\)$/);
  });

  it("fence on refused by a guardrail changes nothing: no account locked, no record", async () => {
    const other = await as("other");
    await other.query("BEGIN");
    await other.query("INSERT INTO t (v) VALUES (7)");
    await new Promise((r) => setTimeout(r, 1100));
    const record = join(`${db.datadir}.tmp`, "refused.json");
    const r = await fenceOn({ dsn: db.dsn("app"), users: parseUsers(["app"]), method: "account-lock", recordPath: record, timeoutS: 1, guardrails: { thresholds: { ...DEFAULT_GUARDRAILS, maxTransactionS: 0 }, windowS: 0, waitS: 0 } });
    expect(r).toMatchObject({ ok: false, fenced: false, accounts: [{ user: "app", host: "%", locked: false }] });
    expect(r.guardrails!.results[0].verdict).toBe("refuse");
    await expect(access(record)).rejects.toThrow(/ENOENT/);
    await other.query("ROLLBACK");
  });
});
