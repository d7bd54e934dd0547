import type { Connection } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatDsn } from "../../lib/dsn";
import { connect } from "../../lib/mysql";
import { type LocalServer, startLocalServer, testFlavors } from "../../lib/sandbox/server";
import { runScript } from "./support";

/**
 * The connection-secret step's proof (issue 14): after the secret changed and the app was
 * recycled, the app's sessions are on the side going live and none are left on the other. Two
 * real servers, the app's account on both, real client connections opened and closed.
 */
describe.each(testFlavors())("app sessions after the switch (%s)", (flavor) => {
  let aws: LocalServer;
  let idc: LocalServer;
  const open: Connection[] = [];
  const app = (s: LocalServer) => ({ ...s.dsn("shop"), user: "shop_app", password: "app-Secret-1" });

  beforeAll(async () => {
    [aws, idc] = await Promise.all([startLocalServer({ flavor, name: "sessions-aws" }), startLocalServer({ flavor, name: "sessions-idc", timeZone: "+09:00" })]);
    for (const s of [aws, idc]) await s.exec("CREATE DATABASE shop", "CREATE USER 'shop_app'@'%' IDENTIFIED BY 'app-Secret-1'", "GRANT SELECT ON shop.* TO 'shop_app'@'%'");
  }, 120_000);

  afterAll(async () => {
    await Promise.all(open.map((c) => c.end().catch(() => undefined)));
    await Promise.all([aws?.stop(), idc?.stop()]);
  });

  const run = (timeout: number, ...flags: string[]) =>
    runScript("app-sessions", ["--users", "shop_app,shop_worker", "--timeout", String(timeout), "--poll-ms", "100", ...flags, "--json"], {
      SOURCE_DATABASE_URL: aws.url("shop"),
      TARGET_DATABASE_URL: idc.url("shop"),
    });

  it("fails while the app still holds a connection to the side being left, saying from where", async () => {
    const stale = await connect(app(aws));
    open.push(stale);
    open.push(await connect(app(idc)));
    const r = await run(1);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ ok: false, source: { sessions: 1 }, target: { sessions: 1 } });
    // The client's host as the server shows it ("localhost" for loopback without skip_name_resolve).
    expect((r.json as { source: { hosts: string[] } }).source.hosts).toEqual([expect.stringMatching(/^(127\.0\.0\.1|localhost)$/)]);
    expect(r.stderr).toContain("app sessions: 1 still on");
    expect(r.stdout + r.stderr).not.toContain("app-Secret-1");
  }, 60_000);

  it("passes once the last connection to the side being left is gone, within the bound", async () => {
    const stale = open.shift()!;
    setTimeout(() => void stale.end(), 500);
    const r = await run(20);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, source: { sessions: 0 }, target: { sessions: 1 } });
    expect((r.json as { waitedMs: number }).waitedMs).toBeLessThan(20_000);
  }, 60_000);

  it("with --expect-target, fails when the app reached neither side; without, a lazy pool under maintenance passes", async () => {
    await Promise.all(open.splice(0).map((c) => c.end()));
    const strict = await run(0, "--expect-target");
    expect(strict.code).toBe(1);
    expect(strict.json).toMatchObject({ ok: false, source: { sessions: 0 }, target: { sessions: 0 } });
    expect((await run(0)).json).toMatchObject({ ok: true, source: { sessions: 0 }, target: { sessions: 0 } });
  }, 60_000);

  it("refuses to run without the app's accounts", async () => {
    const r = await runScript("app-sessions", ["--timeout", "1"], { SOURCE_DATABASE_URL: formatDsn(aws.dsn("shop")), TARGET_DATABASE_URL: idc.url("shop") });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--users/);
  });
});
