import type { Connection } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commitPosition, parseServerVersion } from "../../lib/flavor";
import { testFlavors } from "../../lib/sandbox/server";
import { Pair, startPair } from "./pair";
import { verifyWithWriteBehind } from "./write-behind";

/**
 * Issue 12 item 3 and issue 11's sourcePosition: on a shared source server (another schema
 * written all the time, as another app on the same RDS instance), identical tables are proven
 * identical from the binary log's row events of the compared tables, while a write to a
 * compared table is still caught; without the grant to read the binary log the proof falls
 * back to the server-wide marker and says what to grant. MariaDB needs --log-bin (and ROW, its
 * default is MIXED); MySQL logs in ROW format by default, as RDS does.
 */
const rowsOf = (n: number) => Array.from({ length: n }, (_, i) => `(${i + 1}, ${i + 1})`).join(",");

describe.each(testFlavors())("shared source server (%s)", (flavor) => {
  let pair: Pair;
  let hammer: Connection;
  let hammering = false;
  let hammered = 0;
  let loop: Promise<void> = Promise.resolve();

  /** Another app writing to another schema on the source, one commit after another, until stopped. */
  const startHammer = () => {
    hammering = true;
    loop = (async () => {
      while (hammering) {
        await hammer.query("INSERT INTO other.log (v) VALUES (1)");
        hammered++;
      }
    })();
  };
  const stopHammer = async () => {
    hammering = false;
    await loop;
  };

  beforeAll(async () => {
    pair = await startPair(`scoped-${flavor}`, { flavor, source: flavor === "mariadb" ? ["--log-bin", "--binlog-format=ROW"] : [] });
    await pair.onBoth(
      "CREATE TABLE live (id INT PRIMARY KEY, v INT)",
      `INSERT INTO live VALUES ${rowsOf(2000)}`,
      "CREATE TABLE quiet (id INT PRIMARY KEY, v INT)",
      `INSERT INTO quiet VALUES ${rowsOf(500)}`,
    );
    await pair.source.exec(
      "CREATE DATABASE other",
      "CREATE TABLE other.log (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
      // A reader that may read the binlog status but not its events (MySQL: REPLICATION
      // SLAVE; MariaDB: BINLOG MONITOR covers both, so it gets neither). No password, so
      // caching_sha2_password needs no TLS or RSA exchange on MySQL.
      "CREATE USER 'plain'@'%'",
      `GRANT SELECT, PROCESS${flavor === "mysql" ? ", REPLICATION CLIENT" : ""} ON *.* TO 'plain'@'%'`,
    );
    hammer = await pair.source.admin();
  });
  afterAll(async () => {
    await stopHammer();
    await hammer?.end();
    await pair?.stop();
  });

  it("proves identical tables identical while another schema is written all the time", async () => {
    startHammer();
    try {
      const before = hammered;
      const r = await pair.verify({ tables: ["live", "quiet"], chunkSize: 200 });
      expect(hammered).toBeGreaterThan(before);
      expect(r.identical).toBe(true);
      for (const t of r.tables) expect(t).toMatchObject({ stability: "proven", rounds: 1 });
      expect(r.proof?.source).toMatchObject({ kind: "binlog", limitation: null });
      expect(r.sourcePosition).toMatchObject({ kind: flavor === "mysql" ? "mysql-gtid" : "mariadb-gtid", proof: "binlog" });
    } finally {
      await stopHammer();
    }
  });

  it("still catches a write to a compared table behind an already-compared chunk", async () => {
    startHammer();
    try {
      const { report: r, wrote } = await verifyWithWriteBehind(pair, "live", ["UPDATE live SET v = -v WHERE id = 5"]);
      expect(wrote).toBe(true);
      expect(r.identical).toBe(false);
      expect(r.tables[0].stability).toBe("changing");
      expect(r.sourcePosition).toBeNull();
    } finally {
      await stopHammer();
      await pair.onSource("UPDATE live SET v = -v WHERE id = 5");
    }
  });

  it("syncs identical databases at once, ending identical, while another schema is written", async () => {
    startHammer();
    try {
      const started = Date.now();
      const r = await pair.sync({ tables: ["live", "quiet"], chunkSize: 200 });
      expect(r.identical).toBe(true);
      expect(r.passes).toBe(1);
      expect(r.verify?.tables.every((t) => t.stability === "proven")).toBe(true);
      expect(r.verify?.sourcePosition?.proof).toBe("binlog");
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      await stopHammer();
    }
  });

  it("reports the position at which the tables were proven, and none when a proven table changed later", async () => {
    const r = await pair.verify({ tables: ["live", "quiet"], chunkSize: 200 });
    const conn = await pair.source.admin();
    try {
      const [v] = (await conn.query("SELECT VERSION() AS v")) as unknown as [{ v: string }[]];
      const now = await commitPosition(conn, parseServerVersion(v[0].v));
      expect(r.sourcePosition).toMatchObject({ kind: now?.kind, value: now?.value });
    } finally {
      await conn.end();
    }
    // `live` is proven first; a write to it while `quiet` is compared leaves both tables
    // proven at their own moments, but no single position at which both were identical.
    let wrote = false;
    const later = await pair.verify({
      tables: ["live", "quiet"],
      chunkSize: 200,
      onChunk: async (e) => {
        if (!wrote && e.table === "quiet") {
          wrote = true;
          await pair.onSource("UPDATE live SET v = v + 1 WHERE id = 9", "UPDATE live SET v = v - 1 WHERE id = 9");
        }
      },
    });
    expect(wrote).toBe(true);
    expect(later.identical).toBe(true);
    expect(later.sourcePosition).toBeNull();
  });

  it("falls back to the server-wide marker without the grant to read the binary log, and says what to grant", async () => {
    startHammer();
    try {
      const r = await pair.verify({ source: { ...pair.source.dsn("app"), user: "plain" }, tables: ["quiet"], chunkSize: 100, rounds: 2 });
      expect(r.proof?.source.kind).toBe("marker");
      expect(r.proof?.source.limitation).toMatch(flavor === "mysql" ? /grant REPLICATION SLAVE/ : /grant BINLOG MONITOR/);
      // Server-wide, the other schema's writes count: today's behaviour, now explained.
      expect(r.tables[0].stability).toBe("changing");
    } finally {
      await stopHammer();
    }
  });
});
