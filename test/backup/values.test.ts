import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../lib/mysql";
import { LocalServer, testFlavors } from "../../lib/sandbox/server";
import { seq } from "../../lib/sandbox/seq";
import { createBackup, restoreBackup, verifyBackups } from "../../lib/backup";
import { Manifest } from "../../lib/backup/manifest";
import { startServers, useSandboxTools } from "./helpers";

useSandboxTools();

// FLOAT and DOUBLE edge values: what a dump's text must not round (FLT_DIG is 6).
const FLOATS = ["1.0000002", "16777217", "-0e0", "3.4028234663852886e38", "-3.4028234663852886e38", "1.1754943508222875e-38", "1.401298464324817e-45", "0.1", "-1.5"];
const DOUBLES = ["1.0000000000000002", "9007199254740993", "-0e0", "1.7976931348623157e308", "2.2250738585072014e-308", "4.9406564584124654e-324", "0.1", "-1e-300", "0"];

/** Each value with its sign bit (ATAN2(x, -1) < 0 only for negative values and -0): what equality alone cannot see. */
async function exactValues(s: LocalServer, db: string): Promise<RowDataPacket[]> {
  const c = await connect(s.dsn(db));
  try {
    const [rows] = await c.query<RowDataPacket[]>(
      "SELECT id, CAST(f AS DOUBLE) AS f, ATAN2(f, -1) < 0 AS f_neg, d, ATAN2(d, -1) < 0 AS d_neg, CAST(f2 AS DOUBLE) AS f2 FROM nums ORDER BY id",
    );
    return rows;
  } finally {
    await c.end();
  }
}

describe.each(testFlavors())("values a dump's text would change (%s)", (flavor) => {
  let source: LocalServer;
  let target: LocalServer;
  let stop: () => Promise<void> = async () => undefined;
  let work: string;

  beforeAll(async () => {
    const started = await startServers(
      { flavor, name: `backup-values-src-${flavor}`, args: ["--log-bin=src-bin", "--server-id=11"] },
      // No binary log on the target: a backup of it cannot prove its snapshot (the last test).
      { flavor, name: `backup-values-dst-${flavor}`, args: flavor === "mysql" ? ["--skip-log-bin"] : [] },
    );
    [source, target] = started.servers;
    stop = started.stop;
    work = await mkdtemp(join(tmpdir(), "backup-values-"));
    const rows = FLOATS.map((f, i) => `(${i + 1}, ${f}, ${DOUBLES[i]}, ${i % 2 ? "NULL" : f})`);
    await source.exec(
      "CREATE DATABASE app",
      "CREATE TABLE app.nums (id INT PRIMARY KEY, f FLOAT, d DOUBLE, f2 FLOAT NULL)",
      `INSERT INTO app.nums VALUES ${rows.join(", ")}`,
      "CREATE TABLE app.docs (id INT PRIMARY KEY, j JSON)",
      "INSERT INTO app.docs VALUES (1, JSON_OBJECT('at', TIMESTAMP'2024-02-29 23:59:59.123456', 'on', DATE'2024-02-29', 'n', 1.5, 's', 'x'))",
    );
  });

  afterAll(async () => {
    await stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("restores FLOAT and DOUBLE edge values bit for bit (-0, denormals, max, 1.0000002, 2^24+1)", async () => {
    const dir = join(work, "nums");
    const created = await createBackup({ dsn: source.dsn("app"), out: dir, quiet: true });
    expect(created.notes.filter((n) => /FLOAT/.test(n))).toEqual([]);
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as Manifest;
    expect(manifest.tables.find((t) => t.name === "nums")?.exact).toBe("data/nums.exact.sql.gz");
    expect((await verifyBackups([dir], { quiet: true })).ok).toBe(true);
    await restoreBackup({ dsn: target.dsn("app"), path: dir, quiet: true, create: true });
    const [want, got] = await Promise.all([exactValues(source, "app"), exactValues(target, "app")]);
    expect(got).toEqual(want);
    expect(got[0]).toMatchObject({ f: 1.0000002384185791, d: 1.0000000000000002 });
    expect(got[1]).toMatchObject({ f: 16777216, d: 9007199254740992 });
    // MariaDB stores -0 as 0 in the first place; MySQL keeps the sign, and so must the restore.
    const negativeZero = flavor === "mysql" ? 1 : 0;
    expect([Number(got[2].f_neg), Number(got[2].d_neg)]).toEqual([negativeZero, negativeZero]);
    expect([got[5].d, got[6].f]).toEqual([5e-324, 1.401298464324817e-45]);
  });

  it("keeps JSON as JSON with the same text; MySQL's typed JSON scalars (DATETIME, DECIMAL) come back as STRING and DOUBLE", async () => {
    const dir = join(work, "nums");
    const q = "SELECT CAST(j AS CHAR) AS text, JSON_TYPE(j) AS type, JSON_TYPE(JSON_EXTRACT(j, '$.at')) AS at, JSON_TYPE(JSON_EXTRACT(j, '$.n')) AS n FROM docs";
    const read = async (s: LocalServer) => {
      const c = await connect(s.dsn("app"));
      try {
        return (await c.query<RowDataPacket[]>(q))[0][0];
      } finally {
        await c.end();
      }
    };
    const [before, after] = await Promise.all([read(source), read(target)]);
    expect(after.text).toBe(before.text);
    expect(after.type).toBe("OBJECT");
    // The text every dump tool writes has no scalar types: MySQL's DATETIME / DECIMAL scalars
    // (made by JSON_OBJECT from SQL values) are read back as a string and a double.
    expect([before.at, before.n]).toEqual(flavor === "mysql" ? ["DATETIME", "DECIMAL"] : ["STRING", "DOUBLE"]);
    expect([after.at, after.n]).toEqual(["STRING", "DOUBLE"]);
    expect(dir).toBeTruthy();
  });

  it("streams a table's exact values in batches of 1000 rows: 2,500 rows restore bit for bit", async () => {
    const dir = join(work, "many");
    // 1 + n * 2^-23 (DOUBLE arithmetic; a DECIMAL division would round to 4 places) needs 24 bits: the dump's 6 digits lose it for all but a few rows.
    await source.exec("CREATE DATABASE many", `CREATE TABLE many.t (id INT PRIMARY KEY, f FLOAT NOT NULL) SELECT seq AS id, 1 + seq * POW(2, -23) AS f FROM ${seq(1, 2500)}`);
    const created = await createBackup({ dsn: source.dsn("many"), out: dir, quiet: true });
    expect(created.notes.filter((n) => /FLOAT/.test(n))).toEqual([]);
    const sql = gunzipSync(await readFile(join(dir, "data/t.exact.sql.gz"))).toString();
    expect(sql.match(/^INSERT INTO `idc_rollback_exact` VALUES /gm)?.length).toBe(3);
    expect((await verifyBackups([dir], { quiet: true })).ok).toBe(true);
    await restoreBackup({ dsn: target.dsn("many"), path: dir, quiet: true, create: true });
    const read = async (s: LocalServer) => {
      const c = await connect(s.dsn("many"));
      try {
        return (await c.query<RowDataPacket[]>("SELECT id, CAST(f AS DOUBLE) AS f FROM t ORDER BY id"))[0];
      } finally {
        await c.end();
      }
    };
    const [want, got] = await Promise.all([read(source), read(target)]);
    expect(got).toHaveLength(2500);
    expect(got).toEqual(want);
    expect(got[2499].f).toBe(1 + 2500 / 8388608);
  });

  it("a read that fails mid-stream (its connection killed) leaves no exact file, and the manifest says so", async () => {
    const dir = join(work, "killed");
    await source.exec("CREATE DATABASE killed", `CREATE TABLE killed.t (id INT PRIMARY KEY, f FLOAT NOT NULL) SELECT seq AS id, 1 + seq * POW(2, -23) AS f FROM ${seq(1, 400000)}`);
    const admin = await source.admin();
    let killedWith: string | null = null;
    const backup = createBackup({ dsn: source.dsn("killed"), out: dir, quiet: true });
    try {
      // Once the exact file is on disk (batches are being written), kill the session streaming it.
      for (let i = 0; i < 2000 && killedWith === null; i++) {
        const partial = (await readdir(work)).find((n) => n.startsWith(".killed.partial-"));
        const opened = partial !== undefined && existsSync(join(work, partial, "data/t.exact.sql.gz"));
        const [reader] = await admin.query<RowDataPacket[]>("SELECT ID AS id FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT `id`, CAST(`f` AS DOUBLE)%'");
        if (opened && reader[0]) {
          await admin.query(`KILL ${Number(reader[0].id)}`);
          killedWith = partial!;
        } else await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      await admin.end();
    }
    const r = await backup;
    expect(killedWith).not.toBeNull();
    expect(r.notes.filter((n) => n.startsWith("FLOAT values not read exactly: "))).toHaveLength(1);
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as Manifest;
    expect(manifest.tables.find((t) => t.name === "t")?.exact).toBeUndefined();
    expect(await readdir(join(dir, "data"))).toEqual(["t.sql.gz"]);
    expect((await verifyBackups([dir], { quiet: true })).ok).toBe(true);
  });

  it("says in the manifest when FLOATs could not be read in the dump's snapshot (no binary log)", async () => {
    const dir = join(work, "unproven");
    const r = await createBackup({ dsn: target.dsn("app"), out: dir, quiet: true });
    expect(r.notes).toContain("no binary log position: FLOAT values of `nums` could not be read exactly in the dump's snapshot (6 significant digits)");
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as Manifest;
    expect(manifest.tables.find((t) => t.name === "nums")?.exact).toBeUndefined();
  });
});
