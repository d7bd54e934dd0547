import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Connection } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseUsers } from "../../lib/fence/accounts";
import { fenceOff, fenceOn, fenceStatus } from "../../lib/fence/fence";
import type { FenceRecord } from "../../lib/fence/record";
import { connect } from "../../lib/mysql";
import { LocalServer, startLocalServer, testFlavors } from "../../lib/sandbox/server";
import { runScript } from "../data/pair";

/**
 * The fence on real servers of both flavours, with the binary log on (RDS has it on; MariaDB
 * needs --log-bin): `app` (two host entries) is the application account, `legacy` an account
 * locked before any fence, `other` an account the fence does not list.
 */
describe.each(testFlavors())("fence (%s)", (flavor) => {
  let db: LocalServer;
  const open: Connection[] = [];
  const record = () => join(`${db.datadir}.tmp`, "fence.json");
  const users = parseUsers(["app", "legacy"]);
  const opts = () => ({ dsn: db.dsn("app"), users, method: "account-lock" as const, recordPath: record(), timeoutS: 5, pollMs: 50 });
  const as = async (user: string): Promise<Connection> => {
    const c = await connect({ ...db.dsn("app"), user, password: `${user}-pw` });
    open.push(c);
    return c;
  };
  const rows = async (sql: string) => {
    const c = await db.admin();
    try {
      return (await c.query(sql))[0] as Record<string, unknown>[];
    } finally {
      await c.end();
    }
  };
  const locked = async (user: string, host = "%") => /\bACCOUNT LOCK\b/.test(String(Object.values((await rows(`SHOW CREATE USER '${user}'@'${host}'`))[0])[0]));
  const env = () => ({ ...process.env, DATABASE_URL: db.url("app") });

  beforeAll(async () => {
    db = await startLocalServer({ flavor, name: `fence-${flavor}`, bufferPoolMb: 32, args: flavor === "mariadb" ? ["--log-bin=binlog"] : [] });
    const grant = (u: string, host = "%") => [
      `CREATE USER '${u}'@'${host}' IDENTIFIED BY '${u}-pw'`,
      `GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO '${u}'@'${host}'`,
    ];
    await db.exec(
      "CREATE DATABASE app",
      "CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, who VARCHAR(20))",
      ...grant("app"),
      ...grant("app", "127.0.0.1"),
      ...grant("legacy"),
      "ALTER USER 'legacy'@'%' ACCOUNT LOCK",
      ...grant("other"),
    );
  });
  afterAll(async () => {
    await Promise.all(open.map((c) => c.end().catch(() => undefined)));
    await db?.stop();
    await rm(record(), { force: true });
  });

  it("on: waits for an open transaction to commit, kills idle sessions, locks every host entry; new logins are refused", async () => {
    const writer = await as("app");
    const idle = await as("app");
    await writer.query("BEGIN");
    await writer.query("INSERT INTO t (who) VALUES ('in-flight')");
    const committed = new Promise((r) => setTimeout(r, 800)).then(() => writer.query("COMMIT"));

    const r = await fenceOn(opts());
    await committed; // the in-flight transaction was allowed to finish: its COMMIT succeeded

    expect(r).toMatchObject({ ok: true, fenced: true, drained: true, sessions: [] });
    // Its COMMIT (800 ms in) landed while the fence waited: the row is there, the session was then idle.
    expect(r.accounts).toEqual([
      { user: "app", host: "%", locked: true, byFence: true },
      { user: "app", host: "127.0.0.1", locked: true, byFence: true },
      { user: "legacy", host: "%", locked: true, byFence: false },
    ]);
    expect(r.killed!.map((k) => k.id).sort()).toEqual([writer.threadId, idle.threadId].sort());
    expect(r.killed!.every((k) => k.killed && k.via === "KILL" && !k.inTransaction)).toBe(true);
    expect(await rows("SELECT who FROM app.t")).toEqual([{ who: "in-flight" }]);
    await expect(idle.query("SELECT 1")).rejects.toThrow();
    await expect(as("app")).rejects.toThrow(/locked/i);
    expect(r.position?.kind).toMatch(flavor === "mariadb" ? /^mariadb-gtid$/ : /^(mysql-gtid|binlog-position)$/);
    expect(r.position?.text).toBe(`${r.position!.kind}:${r.position!.value}`);
  });

  it("on again is idempotent: nothing to kill, the record still says which accounts were locked before", async () => {
    const r = await fenceOn(opts());
    expect(r).toMatchObject({ ok: true, fenced: true, killed: [] });
    const rec = JSON.parse(await readFile(record(), "utf8")) as FenceRecord;
    expect(rec.state).toBe("on");
    expect(rec.accounts.map((a) => [a.user, a.host, a.wasLocked])).toEqual([
      ["app", "%", false],
      ["app", "127.0.0.1", false],
      ["legacy", "%", true],
    ]);
  });

  it("check exits 0 at the fence's position, 1 naming the position after a late write by an unlisted account", async () => {
    const held = await runScript("fence", ["check", "--users", "app,legacy", "--record", record(), "--json"], env()).done;
    expect(held.code, held.stderr).toBe(0);
    const position = JSON.parse(held.stdout).position.text as string;

    await (await as("other")).query("INSERT INTO t (who) VALUES ('late')");
    const moved = await runScript("fence", ["check", "--users", "app,legacy", "--position", position, "--json"], env()).done;
    expect(moved.code).toBe(1);
    const report = JSON.parse(moved.stdout);
    expect(report.moved).toHaveLength(1);
    expect(report.moved[0]).toMatch(new RegExp(`^position: ${position.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} -> \\S+ \\(something committed after the proof\\)$`));
    expect(moved.stderr).toContain("fence check: MOVED position:");
  });

  it("check names a reopened session and the unlocked account", async () => {
    const before = await fenceStatus(opts());
    await db.exec("ALTER USER 'app'@'127.0.0.1' ACCOUNT UNLOCK"); // an admin's mistake
    const back = await as("app");
    const r = await fenceStatus(opts(), before.position!.text);
    expect(r.ok).toBe(false);
    expect(r.moved).toContain("account: 'app'@'127.0.0.1' is not locked");
    // PROCESSLIST shows the client's host as resolved (127.0.0.1 -> localhost) with its port.
    expect(r.moved).toContainEqual(expect.stringMatching(new RegExp(`^session: id ${back.threadId} app@(localhost|127\\.0\\.0\\.1):\\d+ is open$`)));
    // An ALTER USER is binlogged: the position moved with it.
    expect(r.moved!.some((m) => m.startsWith("position: "))).toBe(true);
    await back.end();
    await fenceOn(opts()); // put the fence back for the next test
  });

  it("off lifts only what on did: app can log in again, legacy (locked before) stays locked; off again does nothing", async () => {
    const r = await fenceOff(opts());
    expect(r.lifted).toEqual(["'app'@'%'", "'app'@'127.0.0.1'"]);
    expect(r.kept).toEqual(["'legacy'@'%' (locked before the fence)"]);
    expect(await locked("app")).toBe(false);
    expect(await locked("app", "127.0.0.1")).toBe(false);
    expect(await locked("legacy")).toBe(true);
    const again = await as("app");
    await again.query("SELECT 1");
    await again.end();
    await expect(readFile(record())).rejects.toThrow(/ENOENT/);
    expect(await fenceOff(opts())).toMatchObject({ ok: true, lifted: [], kept: [] });
  });

  it("a SIGKILL between the lock and the kill: off after it unlocks what was locked, and on again fences (the stuck transaction rolls back)", async () => {
    const stuck = await as("app");
    await stuck.query("BEGIN");
    await stuck.query("INSERT INTO t (who) VALUES ('never-acknowledged')");
    const run = runScript("fence", ["on", "--users", "app,legacy", "--record", record(), "--timeout", "60", "--poll-ms", "50", "--skip-guardrails"], env());
    // Wait until the script has locked the accounts and sits in its wait for the open transaction.
    for (let i = 0; i < 200 && !(await locked("app", "127.0.0.1")); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await locked("app", "127.0.0.1")).toBe(true);
    run.kill();
    expect((await run.done).code).toBe(null);
    expect((JSON.parse(await readFile(record(), "utf8")) as FenceRecord).state).toBe("applying");

    const off = await runScript("fence", ["off", "--users", "app,legacy", "--record", record(), "--json"], env()).done;
    expect(off.code, off.stderr).toBe(0);
    expect(await locked("app")).toBe(false);
    expect(await locked("legacy")).toBe(true);

    const on = await runScript("fence", ["on", "--users", "app,legacy", "--record", record(), "--timeout", "0.5", "--skip-guardrails", "--json"], env()).done;
    expect(on.code, on.stderr).toBe(0);
    const report = JSON.parse(on.stdout);
    expect(report.killed).toEqual([expect.objectContaining({ id: stuck.threadId, user: "app", killed: true, inTransaction: true })]);
    expect(await rows("SELECT who FROM app.t WHERE who = 'never-acknowledged'")).toEqual([]);
    await fenceOff(opts());
  });

  it("read-only: unlisted accounts cannot write either; off puts read_only back as it was", async () => {
    const ro = { ...opts(), method: "read-only" as const };
    const r = await fenceOn(ro);
    expect(r).toMatchObject({ ok: true, fenced: true, readOnly: { readOnly: true, superReadOnly: flavor === "mysql" ? true : null } });
    const other = await as("other");
    await expect(other.query("INSERT INTO t (who) VALUES ('ro')")).rejects.toThrow(/read.only/i);
    const off = await fenceOff(ro);
    expect(off.readOnly).toEqual({ readOnly: false, superReadOnly: flavor === "mysql" ? false : null });
    await other.query("INSERT INTO t (who) VALUES ('after-ro')");
  });

  it("refuses an unknown account and the admin's own account before changing anything (exit 2)", async () => {
    const unknown = await runScript("fence", ["on", "--users", "app,nosuch", "--record", record(), "--json"], env()).done;
    expect(unknown.code).toBe(2);
    expect(JSON.parse(unknown.stdout).error).toMatchObject({ code: "ACCOUNT_UNKNOWN", subject: "nosuch" });
    const self = await runScript("fence", ["on", "--users", "app,root", "--record", record(), "--json"], env()).done;
    expect(self.code).toBe(2);
    expect(JSON.parse(self.stdout).error).toMatchObject({ code: "ARGS_INVALID", subject: "--users" });
    expect(await locked("app")).toBe(false);
    await expect(readFile(record())).rejects.toThrow(/ENOENT/);
  });
});
