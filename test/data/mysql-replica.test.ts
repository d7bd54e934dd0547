import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seq } from "../../lib/sandbox/seq";
import { Pair, startPair } from "./pair";

/**
 * Reverse replication mode against a real MySQL 9.7 GTID replica (gtid_mode=ON,
 * enforce_gtid_consistency=ON, SOURCE_AUTO_POSITION=1), as RDS for MySQL replicating to the IDC.
 */
const GTID = ["--gtid-mode=ON", "--enforce-gtid-consistency=ON"];
let pair: Pair;
beforeAll(async () => {
  pair = await startPair("mysql-replica", { flavor: "mysql", source: ["--server-id=1", ...GTID], target: ["--server-id=2", ...GTID] });
  await pair.onBoth("CREATE TABLE events (id INT PRIMARY KEY, v INT)");
  // The target already has what the source executed so far (both ran the same setup): it
  // claims those GTIDs as purged and replicates from there on.
  const [executed] = (await pair.column("source", "SELECT @@global.gtid_executed")) as string[];
  await pair.target.exec(
    "RESET BINARY LOGS AND GTIDS",
    `SET GLOBAL gtid_purged = '${executed}'`,
    `CHANGE REPLICATION SOURCE TO SOURCE_HOST = '127.0.0.1', SOURCE_PORT = ${pair.source.port}, SOURCE_USER = 'root', SOURCE_AUTO_POSITION = 1`,
    "START REPLICA",
  );
});
afterAll(async () => {
  await pair?.target.exec("STOP REPLICA").catch(() => undefined);
  await pair?.stop();
});

describe("reverse replication mode on MySQL (mysql)", () => {
  it("reports a replica that applied everything, by MySQL GTID, and verifies", async () => {
    await pair.onSource(`INSERT INTO events SELECT seq, seq FROM ${seq(1, 500)}`);
    const r = await pair.verify({ replica: true, replicaWaitSeconds: 20 });
    expect(r.replica).toMatchObject({ caughtUp: true, method: "mysql-gtid", ioRunning: true, sqlRunning: true, lastError: null });
    expect(r.replica?.replicaPosition).toBe(r.replica?.sourcePosition);
    expect(r.identical).toBe(true);
  });

  it("reports a replica that has not applied the source's last writes", async () => {
    await pair.target.exec("STOP REPLICA SQL_THREAD");
    await pair.onSource("UPDATE events SET v = -v WHERE id <= 10");
    const r = await pair.verify({ replica: true, replicaWaitSeconds: 1 });
    expect(r.replica).toMatchObject({ caughtUp: false, method: "mysql-gtid", sqlRunning: false });
    expect(r.identical).toBe(false);
    expect(r.tables[0].changed).toBe(10);
    await pair.target.exec("START REPLICA SQL_THREAD");
  });

  it("never writes to a running replica: sync refuses, sync --replica only checks and verifies", async () => {
    await expect(pair.sync()).rejects.toMatchObject({ code: "REPLICA_RUNNING" });
    const s = await pair.sync({ replica: true, replicaWaitSeconds: 20 });
    expect(s).toMatchObject({ identical: true, inserted: 0, updated: 0, deleted: 0, passes: 0 });
    expect(s.replica?.caughtUp).toBe(true);
  });
});
