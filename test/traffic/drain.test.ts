import type { Connection } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../lib/mysql";
import { LocalServer, startLocalServer, testFlavors } from "../../lib/sandbox/server";
import { Session, drain, findBlockers, statementPrefix } from "../../lib/traffic/drain";
import { runScript } from "./support";

/** A real server of each flavour in KST (+09:00), like an IDC server, so transaction ages are checked across zones. */
describe.each(testFlavors())("drain on a real %s", (flavor) => {
  let db: LocalServer;
  const open: Connection[] = [];

  beforeAll(async () => {
    db = await startLocalServer({ flavor, name: "drain", timeZone: "+09:00", bufferPoolMb: 32 });
    await db.exec(
      "CREATE DATABASE shop",
      "CREATE TABLE shop.orders (id INT PRIMARY KEY, total DECIMAL(10,2))",
      "INSERT INTO shop.orders VALUES (1, 10.00), (2, 20.00), (3, 30.00)",
      "CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app-secret'",
      "GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO 'app'@'127.0.0.1'",
    );
  });

  afterAll(async () => {
    await Promise.all(open.map((c) => c.end().catch(() => undefined)));
    await db?.stop();
  });

  async function session(): Promise<Connection> {
    const c = await connect(db.dsn("shop"));
    open.push(c);
    return c;
  }

  it("passes at once when only idle pooled sessions are connected", async () => {
    await session(); // idle, no transaction: what a connection pool keeps open
    const r = await drain({ dsn: db.dsn("shop"), timeoutS: 5, pollMs: 50 });
    expect(r).toMatchObject({ ok: true, drained: true, initialBlockers: 0, blockers: [] });
  });

  // Runs right after a drain read INNODB_TRX: InnoDB may still serve that (empty) cached snapshot,
  // which a drain must not take for "nothing open".
  it("waits for an open transaction and returns as soon as it commits", async () => {
    const app = await session();
    await app.query("BEGIN");
    await app.query("UPDATE orders SET total = total + 1 WHERE id = 1");
    setTimeout(() => void app.query("COMMIT"), 1_000);

    const r = await drain({ dsn: db.dsn("shop"), timeoutS: 20, pollMs: 100 });

    expect(r).toMatchObject({ ok: true, drained: true, initialBlockers: 1 });
    expect(r.waitedMs).toBeGreaterThanOrEqual(900);
    expect(r.waitedMs).toBeLessThan(5_000);
  });

  it("on timeout exits 1 and lists each blocker with id, user, host, age and statement prefix", async () => {
    const idleInTrx = await session();
    await idleInTrx.query("BEGIN");
    await idleInTrx.query("INSERT INTO orders VALUES (10, 99.00)");
    const running = await session();
    const runningQuery = running.query("SELECT SLEEP(30) AS slept /* report */").catch(() => undefined);

    const run = await runScript("drain", ["--timeout", "1", "--poll-ms", "100", "--json"], { DATABASE_URL: db.url("shop") });

    expect(run.code, run.stderr).toBe(1);
    expect(run.json).toMatchObject({ ok: false, drained: false, timeoutS: 1, killed: [] });
    const byId = new Map((run.json.blockers as { id: number }[]).map((b) => [b.id, b]));
    expect(byId.get(idleInTrx.threadId!)).toMatchObject({ kind: "transaction", user: "root", db: "shop", command: "Sleep", statement: null });
    expect(byId.get(running.threadId!)).toMatchObject({ kind: "statement", user: "root", command: "Query", statement: "SELECT SLEEP(30) AS slept /* report */" });
    for (const b of run.json.blockers) {
      expect(b.host).toMatch(/^(localhost|127\.0\.0\.1)(:\d+)?$/);
      // Ages are seconds since start on a +09:00 server: a zone mix-up would be off by 32400.
      expect(b.ageS).toBeGreaterThanOrEqual(1);
      expect(b.ageS).toBeLessThan(60);
    }
    expect(run.stderr).toContain(`id ${idleInTrx.threadId} root@`);
    expect(run.stderr).toContain("(idle in transaction)");
    await idleInTrx.query("ROLLBACK");
    await db.exec(`KILL QUERY ${running.threadId}`);
    await runningQuery;
  });

  it("--kill kills what is left after the timeout, the transaction rolls back, and the drain passes", async () => {
    const stuck = await session();
    await stuck.query("BEGIN");
    await stuck.query("DELETE FROM orders WHERE id = 2");

    const r = await drain({ dsn: db.dsn("shop"), timeoutS: 0.3, pollMs: 50, kill: true });

    expect(r).toMatchObject({ ok: true, drained: false, remaining: [] });
    expect(r.blockers.map((b) => b.id)).toEqual([stuck.threadId]);
    expect(r.killed).toEqual([{ id: stuck.threadId, killed: true, via: "KILL", error: null }]);
    await expect(stuck.query("SELECT 1")).rejects.toThrow();
    const [rows] = await (await session()).query("SELECT COUNT(*) AS n FROM orders WHERE id = 2");
    expect(Number((rows as { n: string }[])[0].n)).toBe(1);
  });

  it("ignores the users it is told to ignore", async () => {
    const monitor = await connect({ ...db.dsn("shop"), user: "app", password: "app-secret" });
    open.push(monitor);
    await monitor.query("BEGIN");
    await monitor.query("SELECT * FROM orders FOR UPDATE");
    expect((await drain({ dsn: db.dsn("shop"), timeoutS: 0 })).ok).toBe(false);
    expect((await drain({ dsn: db.dsn("shop"), timeoutS: 0, ignoreUsers: ["app"] })).ok).toBe(true);
    await monitor.query("ROLLBACK");
  });

  it("refuses to run without the PROCESS privilege rather than pass by seeing nothing", async () => {
    const run = await runScript("drain", ["--timeout", "0", "--json"], { DATABASE_URL: db.url("shop").replace("root@", "app:app-secret@") });
    expect(run.code).toBe(2);
    expect(run.json.error).toMatchObject({ code: "PRIVILEGE_MISSING", subject: `app@127.0.0.1:${db.port}/shop` });
    expect(run.stdout + run.stderr).not.toContain("app-secret");
  });
});

describe("which sessions block a drain (pure)", () => {
  const s = (over: Partial<Session>): Session => ({
    id: 1, user: "app", host: "10.0.0.5:50000", db: "shop", command: "Sleep", state: null, time: 0, info: null,
    trxId: null, trxAge: null, trxQuery: null, ...over,
  });

  it("blocks on transactions (idle or not) and running statements, not on idle sessions or system threads", () => {
    const blockers = findBlockers([
      s({ id: 1 }),
      s({ id: 2, trxId: "421", trxAge: 30, time: 29 }),
      s({ id: 3, command: "Query", time: 4, info: "SELECT * FROM orders" }),
      s({ id: 4, user: "system user", command: "Daemon", time: 9999 }),
      s({ id: 5, user: "event_scheduler", command: "Daemon" }),
      s({ id: 6, user: "repl", command: "Binlog Dump GTID", time: 9999 }),
      s({ id: 7, user: "rdsadmin", command: "Query", info: "SELECT 1" }),
      s({ id: 8, command: "Killed", trxId: "422", trxAge: 2 }),
    ]);
    expect(blockers.map((b) => [b.id, b.kind, b.ageS])).toEqual([
      [2, "transaction", 30],
      [3, "statement", 4],
      [8, "transaction", 2],
    ]);
  });

  it("prints a statement's first 100 characters on one line, and never one that carries a password", () => {
    expect(statementPrefix(`UPDATE orders\n   SET total = 1 WHERE ${"x".repeat(200)}`)).toMatch(/^UPDATE orders SET total = 1 WHERE x+…$/);
    expect(statementPrefix("UPDATE orders SET total = 1 WHERE x")).toBe("UPDATE orders SET total = 1 WHERE x");
    expect(statementPrefix("ALTER USER app IDENTIFIED BY 'hunter2'")).not.toContain("hunter2");
    expect(statementPrefix("SET PASSWORD FOR app = PASSWORD('hunter2')")).not.toContain("hunter2");
    expect(statementPrefix(null)).toBeNull();
  });
});
