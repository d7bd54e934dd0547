import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SandboxFlavor, testFlavors } from "../../lib/sandbox/server";
import { seq } from "../../lib/sandbox/seq";
import { Pair, startPair } from "./pair";

/**
 * Reverse replication mode against a real replication pair of each flavour: the source writes
 * a binlog with GTIDs, the target replicates from it and starts where the source stands (the
 * setup ran on both already). MariaDB: its own GTIDs, CHANGE MASTER … MASTER_USE_GTID. MySQL
 * 9.7 as RDS for MySQL replicating to the IDC: gtid_mode=ON, enforce_gtid_consistency=ON,
 * CHANGE REPLICATION SOURCE … SOURCE_AUTO_POSITION=1, the target claiming the source's GTIDs
 * so far as purged.
 */
const SETUP: Record<SandboxFlavor, { source: string[]; target: string[]; start(pair: Pair): Promise<void>; stopReplica: string; stopApplier: string; startApplier: string }> = {
  mariadb: {
    source: ["--log-bin=binlog", "--server-id=1", "--binlog-format=ROW"],
    target: ["--server-id=2"],
    async start(pair) {
      const [pos] = (await pair.column("source", "SELECT @@global.gtid_binlog_pos")) as string[];
      await pair.target.exec(
        `SET GLOBAL gtid_slave_pos = '${pos}'`,
        `CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = ${pair.source.port}, MASTER_USER = 'root', MASTER_USE_GTID = slave_pos`,
        "START SLAVE",
      );
    },
    stopReplica: "STOP SLAVE",
    stopApplier: "STOP SLAVE SQL_THREAD",
    startApplier: "START SLAVE SQL_THREAD",
  },
  mysql: {
    source: ["--server-id=1", "--gtid-mode=ON", "--enforce-gtid-consistency=ON"],
    target: ["--server-id=2", "--gtid-mode=ON", "--enforce-gtid-consistency=ON"],
    async start(pair) {
      const [executed] = (await pair.column("source", "SELECT @@global.gtid_executed")) as string[];
      await pair.target.exec(
        "RESET BINARY LOGS AND GTIDS",
        `SET GLOBAL gtid_purged = '${executed}'`,
        `CHANGE REPLICATION SOURCE TO SOURCE_HOST = '127.0.0.1', SOURCE_PORT = ${pair.source.port}, SOURCE_USER = 'root', SOURCE_AUTO_POSITION = 1`,
        "START REPLICA",
      );
    },
    stopReplica: "STOP REPLICA",
    stopApplier: "STOP REPLICA SQL_THREAD",
    startApplier: "START REPLICA SQL_THREAD",
  },
};

describe.each(testFlavors())("reverse replication mode (%s)", (flavor) => {
  const setup = SETUP[flavor];
  const method = `${flavor}-gtid`;
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair("replica", { flavor, source: setup.source, target: setup.target });
    await pair.onBoth("CREATE TABLE events (id INT PRIMARY KEY, v INT)");
    await setup.start(pair);
  });
  afterAll(async () => {
    await pair?.target.exec(setup.stopReplica).catch(() => undefined);
    await pair?.stop();
  });

  it("reports a replica that applied everything, by the flavour's GTID, and verifies", async () => {
    await pair.onSource(`INSERT INTO events SELECT seq, seq FROM ${seq(1, 500)}`);
    const r = await pair.verify({ replica: true, replicaWaitSeconds: 20 });
    expect(r.replica).toMatchObject({ caughtUp: true, method, ioRunning: true, sqlRunning: true, lastError: null });
    expect(r.replica?.replicaPosition).toBe(r.replica?.sourcePosition);
    expect(r.identical).toBe(true);
  });

  it("reports a replica that has not applied the source's last writes", async () => {
    await pair.target.exec(setup.stopApplier);
    await pair.onSource("UPDATE events SET v = -v WHERE id <= 10");
    const r = await pair.verify({ replica: true, replicaWaitSeconds: 1 });
    expect(r.replica).toMatchObject({ caughtUp: false, method, sqlRunning: false });
    expect(r.identical).toBe(false);
    expect(r.tables[0].changed).toBe(10);
    await pair.target.exec(setup.startApplier);
  });

  it("never writes to a running replica: sync refuses, sync --replica only checks and verifies", async () => {
    await expect(pair.sync()).rejects.toMatchObject({ code: "REPLICA_RUNNING" });
    const s = await pair.sync({ replica: true, replicaWaitSeconds: 20 });
    expect(s).toMatchObject({ identical: true, inserted: 0, updated: 0, deleted: 0, passes: 0 });
    expect(s.replica?.caughtUp).toBe(true);
  });
});
