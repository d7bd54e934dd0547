import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seq } from "../../lib/sandbox/seq";
import { Pair, startPair } from "./pair";

/**
 * Reverse replication mode against a real MariaDB replication pair: the source writes a
 * binlog with GTIDs, the target replicates from it. MariaDB's own GTIDs and CHANGE MASTER;
 * the MySQL GTID replica is test/data/mysql-replica.test.ts.
 */
let pair: Pair;
beforeAll(async () => {
  pair = await startPair("replica", { flavor: "mariadb", source: ["--log-bin=binlog", "--server-id=1", "--binlog-format=ROW"], target: ["--server-id=2"] });
  await pair.onBoth("CREATE TABLE events (id INT PRIMARY KEY, v INT)");
  // Start replicating from the source's current position (the setup above ran on both already).
  const [pos] = (await pair.column("source", "SELECT @@global.gtid_binlog_pos")) as string[];
  await pair.target.exec(
    `SET GLOBAL gtid_slave_pos = '${pos}'`,
    `CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = ${pair.source.port}, MASTER_USER = 'root', MASTER_USE_GTID = slave_pos`,
    "START SLAVE",
  );
});
afterAll(async () => {
  await pair?.target.exec("STOP SLAVE").catch(() => undefined);
  await pair?.stop();
});

describe("reverse replication mode", () => {
  it("reports a replica that applied everything, by MariaDB GTID, and verifies", async () => {
    await pair.onSource(`INSERT INTO events SELECT seq, seq FROM ${seq(1, 500)}`);
    const r = await pair.verify({ replica: true, replicaWaitSeconds: 20 });
    expect(r.replica).toMatchObject({ caughtUp: true, method: "mariadb-gtid", ioRunning: true, sqlRunning: true });
    expect(r.replica?.replicaPosition).toBe(r.replica?.sourcePosition);
    expect(r.identical).toBe(true);
  });

  it("reports a replica that has not applied the source's last writes", async () => {
    await pair.target.exec("STOP SLAVE SQL_THREAD");
    await pair.onSource("UPDATE events SET v = -v WHERE id <= 10");
    const r = await pair.verify({ replica: true, replicaWaitSeconds: 1 });
    expect(r.replica).toMatchObject({ caughtUp: false, method: "mariadb-gtid", sqlRunning: false });
    expect(r.identical).toBe(false);
    expect(r.tables[0].changed).toBe(10);
    await pair.target.exec("START SLAVE SQL_THREAD");
  });

  it("never writes to a running replica: sync refuses, sync --replica only checks and verifies", async () => {
    await expect(pair.sync()).rejects.toMatchObject({ code: "REPLICA_RUNNING" });
    const s = await pair.sync({ replica: true, replicaWaitSeconds: 20 });
    expect(s).toMatchObject({ identical: true, inserted: 0, updated: 0, deleted: 0, passes: 0 });
    expect(s.replica?.caughtUp).toBe(true);
  });
});
