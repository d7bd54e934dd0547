import { createHash } from "node:crypto";
import type { Connection } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  KILL_SQL,
  NODE_HASH,
  ServerInfo,
  atLeast,
  binlogStatusSql,
  changeSourceSql,
  globalVariableSql,
  gtidVariables,
  hasSuperReadOnly,
  hashSql,
  hiddenIndexCondition,
  indexExpressionColumn,
  isGeneratedColumn,
  isInvisibleColumn,
  parseServerVersion,
  positionWaitSql,
  readServerInfo,
  replicaColumn,
  replicaControlSql,
  replicaStatusSql,
  supportsAccountLock,
} from "../../lib/flavor";
import { connect } from "../../lib/mysql";
import { LocalServer, SandboxFlavor, startLocalServer, testFlavors } from "../../lib/sandbox/server";

describe("flavour decisions", () => {
  it("reads flavour and version from VERSION()", () => {
    expect(parseServerVersion("10.11.19-MariaDB-0+deb12u1")).toEqual({ flavor: "mariadb", version: "10.11.19" });
    expect(parseServerVersion("9.7.4-2")).toEqual({ flavor: "mysql", version: "9.7.4" });
    expect(parseServerVersion("8.0.36")).toEqual({ flavor: "mysql", version: "8.0.36" });
  });

  it("picks statements and column names by version, as the manuals date them", () => {
    const v = (flavor: "mysql" | "mariadb", version: string): ServerInfo => ({ flavor, version });
    expect(binlogStatusSql(v("mysql", "8.0.36"))).toBe("SHOW MASTER STATUS");
    expect(binlogStatusSql(v("mysql", "8.4.0"))).toBe("SHOW BINARY LOG STATUS");
    expect(binlogStatusSql(v("mariadb", "11.4.2"))).toBe("SHOW MASTER STATUS");
    expect(replicaStatusSql(v("mysql", "8.0.21"))).toBe("SHOW SLAVE STATUS");
    expect(replicaStatusSql(v("mariadb", "10.5.1"))).toBe("SHOW REPLICA STATUS");
    expect(replicaColumn(v("mysql", "9.7.4"), "secondsBehind")).toBe("Seconds_Behind_Source");
    expect(replicaColumn(v("mariadb", "10.11.19"), "secondsBehind")).toBe("Seconds_Behind_Master");
    expect(positionWaitSql(v("mysql", "8.0.25"))).toContain("MASTER_POS_WAIT");
    expect(atLeast(v("mysql", "10.0.0"), "mysql", "9.7.4")).toBe(true);
    expect(atLeast(v("mariadb", "11.0.0"), "mysql", "8.0.0")).toBe(false);
    expect(replicaControlSql(v("mysql", "9.7.4"), "STOP", "SQL_THREAD")).toBe("STOP REPLICA SQL_THREAD");
    expect(replicaControlSql(v("mariadb", "10.11.19"), "START")).toBe("START REPLICA");
    expect(replicaControlSql(v("mysql", "8.0.21"), "START")).toBe("START SLAVE");
    expect(changeSourceSql(v("mysql", "9.7.4"), "gtid")).toBe(
      "CHANGE REPLICATION SOURCE TO SOURCE_HOST = ?, SOURCE_PORT = ?, SOURCE_USER = ?, SOURCE_PASSWORD = ?, SOURCE_AUTO_POSITION = 1, GET_SOURCE_PUBLIC_KEY = 1",
    );
    expect(changeSourceSql(v("mysql", "8.0.22"), "file")).toBe("CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_AUTO_POSITION = 0");
    expect(changeSourceSql(v("mariadb", "10.11.19"), "file")).toBe("CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = no");
    expect(changeSourceSql(v("mariadb", "10.11.19"), "gtid")).toContain("MASTER_USE_GTID = slave_pos");
  });

  it("tells generated columns from expression defaults and invisible columns by EXTRA's words", () => {
    for (const extra of ["VIRTUAL GENERATED", "STORED GENERATED", "STORED GENERATED INVISIBLE", "PERSISTENT", "VIRTUAL"]) expect(isGeneratedColumn(extra)).toBe(true);
    for (const extra of ["", "DEFAULT_GENERATED", "DEFAULT_GENERATED on update CURRENT_TIMESTAMP", "on update current_timestamp()", "auto_increment", "INVISIBLE"]) {
      expect(isGeneratedColumn(extra)).toBe(false);
    }
    expect(isInvisibleColumn("DEFAULT_GENERATED INVISIBLE")).toBe(true);
    expect(isInvisibleColumn("VIRTUAL GENERATED")).toBe(false);
  });
});

/** Every string the module hands out, sent to a real server of each flavour. */
describe.each(testFlavors())("flavour SQL on a real server (%s)", (flavor: SandboxFlavor) => {
  let server: LocalServer;
  let c: Connection;
  let info: ServerInfo;
  beforeAll(async () => {
    server = await startLocalServer({ flavor, name: `flavor-${flavor}`, bufferPoolMb: 32, args: flavor === "mariadb" ? ["--log-bin=binlog", "--server-id=1"] : [] });
    c = await connect(server.dsn("mysql"));
    info = await readServerInfo(c);
  });
  afterAll(async () => {
    await c?.end();
    await server?.stop();
  });

  it("detects the flavour it runs on", () => {
    expect(info.flavor).toBe(flavor);
  });

  it("reads the binlog position, the GTID variables and the replica status with the module's statements", async () => {
    const [[pos]] = (await c.query(binlogStatusSql(info))) as unknown as [Record<string, unknown>[]];
    expect(pos).toMatchObject({ File: expect.stringMatching(/^binlog\.\d+$/), Position: expect.anything() });
    const g = gtidVariables(info);
    for (const name of [g.source, g.replica, g.current]) await c.query(globalVariableSql(name));
    const [[own]] = (await c.query(globalVariableSql(g.source))) as unknown as [{ g: string }[]];
    const [[w]] = (await c.query(g.waitSql, [own.g, 1])) as unknown as [{ r: unknown }[]];
    expect(Number(w.r)).toBe(0);
    const [[p]] = (await c.query(positionWaitSql(info), ["binlog.000001", 4, 0])) as unknown as [{ r: unknown }[]];
    expect(p.r).toBeNull(); // not a replica
    const [rows] = (await c.query(replicaStatusSql(info))) as unknown as [unknown[]];
    expect(rows).toEqual([]);
  });

  it("hashes with SHA2 exactly as node does", async () => {
    const [[h]] = (await c.query(`SELECT ${hashSql("'ffffffffffffffff0000000000000001'")} AS h`)) as unknown as [{ h: string }[]];
    expect(h.h).toBe(createHash(NODE_HASH).update("ffffffffffffffff0000000000000001").digest("hex"));
  });

  it("reads hidden and functional index parts from STATISTICS", async () => {
    await c.query("CREATE DATABASE IF NOT EXISTS f");
    await c.query(`CREATE TABLE f.t (id INT PRIMARY KEY, a INT NOT NULL, UNIQUE KEY ua (a) ${flavor === "mysql" ? "INVISIBLE" : "IGNORED"})`);
    const [rows] = (await c.query(
      `SELECT INDEX_NAME AS name, ${hiddenIndexCondition(info)} AS hidden, ${indexExpressionColumn(info)} AS expr FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'f' ORDER BY INDEX_NAME`,
    )) as unknown as [{ name: string; hidden: number; expr: string | null }[]];
    expect(rows.map((r) => [r.name, Number(r.hidden)])).toEqual([
      ["PRIMARY", 0],
      ["ua", 1],
    ]);
  });

  it("kills a session with KILL_SQL and locks an account where supported", async () => {
    const victim = await connect(server.dsn("mysql"));
    const [[id]] = (await victim.query("SELECT CONNECTION_ID() AS id")) as unknown as [{ id: number }[]];
    await c.query(KILL_SQL.KILL, [id.id]);
    await expect(victim.query("SELECT 1")).rejects.toThrow();
    victim.destroy();
    expect(supportsAccountLock(info)).toBe(true);
    await c.query("CREATE USER 'locked'@'%' IDENTIFIED BY 'x'");
    await c.query("ALTER USER 'locked'@'%' ACCOUNT LOCK");
    const superReadOnly = c.query("SELECT @@global.super_read_only");
    if (hasSuperReadOnly(info)) await superReadOnly;
    else await expect(superReadOnly).rejects.toThrow(/Unknown system variable/);
  });
});
