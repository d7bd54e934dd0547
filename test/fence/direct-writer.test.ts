import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoadGenerator } from "../../lib/drill/load";
import { parseUsers } from "../../lib/fence/accounts";
import { fenceOn, fenceStatus } from "../../lib/fence/fence";
import { formatPosition } from "../../lib/flavor";
import { connect } from "../../lib/mysql";
import { testFlavors } from "../../lib/sandbox/server";
import { Pair, startPair } from "../data/pair";

/**
 * The drill's direct writer without the drill: a job with the app's account inserting straight
 * into AWS (the pair's source), past any nginx, its acknowledged rows in the drill's ledger.
 * Without a fence, a sync leaves it writing rows IDC never gets; with the fence, every
 * acknowledged row reaches IDC and its logins are refused.
 */
describe.each(testFlavors())("a direct writer and the fence (%s)", (flavor) => {
  let pair: Pair;
  let load: LoadGenerator;
  const lost = async () => {
    const c = await connect(pair.target.dsn("app"));
    try {
      return await load.check(c);
    } finally {
      await c.end();
    }
  };
  beforeAll(async () => {
    pair = await startPair(`direct-${flavor}`, { flavor, source: flavor === "mariadb" ? ["--log-bin=binlog"] : [] });
    // The drill's shop columns the direct writer fills (BIGINT keys: read back as exact strings, as the ledger holds them).
    await pair.onBoth(
      "CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id BIGINT NOT NULL, amount DECIMAL(12,2) NOT NULL, status VARCHAR(20) NOT NULL, note VARCHAR(255), created_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NOT NULL)",
      "CREATE TABLE customers (id BIGINT PRIMARY KEY)",
    );
    await pair.source.exec("CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'", "GRANT SELECT, INSERT ON app.* TO 'app'@'%'");
    // No HTTP users here (workers: 0): only the direct writer.
    load = new LoadGenerator({ baseUrl: "http://127.0.0.1:9", rows: 500, workers: 0, sideOf: (x) => x });
    load.start();
    load.startDirect({ ...pair.source.dsn("app"), user: "app", password: "app-pw" }, "aws", 5);
    await new Promise((r) => setTimeout(r, 500));
  });
  afterAll(async () => {
    await load?.stop();
    await pair?.stop();
  });

  it("without the fence: acknowledged rows written after the sync never reach IDC", async () => {
    const s = await pair.sync();
    expect(s.inserted).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 300));
    expect((await lost()).lost).toBeGreaterThan(0);
  });

  it("with the fence: its session is killed, its logins refused, and IDC holds every acknowledged row", async () => {
    const f = await fenceOn({ dsn: pair.source.dsn("app"), users: parseUsers(["app"]), method: "account-lock", recordPath: `${pair.source.datadir}.tmp/fence.json`, timeoutS: 1 });
    expect(f.ok).toBe(true);
    expect(f.killed!.length).toBeGreaterThanOrEqual(1);
    const s = await pair.sync();
    expect(s.identical).toBe(true);
    const proven = s.verify!.sourcePosition!;
    await new Promise((r) => setTimeout(r, 500)); // the writer keeps trying
    const check = await fenceStatus({ dsn: pair.source.dsn("app"), users: parseUsers(["app"]), method: "account-lock" }, formatPosition(proven));
    expect(check).toMatchObject({ ok: true, moved: [] });
    const direct = load.directStats();
    expect(direct.acknowledged).toBeGreaterThan(0);
    expect(direct.refused).toBeGreaterThan(0);
    expect(direct.lastRefusal).toMatch(/locked/i);
    const ledger = await lost();
    expect(ledger).toMatchObject({ lost: 0, resurrected: 0 });
    expect(ledger.checked).toBe(direct.acknowledged);
    expect(ledger.writtenOnAws).toBe(direct.acknowledged);
  });
});
