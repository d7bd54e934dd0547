import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatDsn } from "../../lib/dsn";
import { binlogStatusSql, globalVariableSql, gtidVariables, parseServerVersion } from "../../lib/flavor";
import { connect } from "../../lib/mysql";
import { LocalServer, SandboxFlavor, testFlavors } from "../../lib/sandbox/server";
import { createBackup, restoreBackup, verifyBackups } from "../../lib/backup";
import { DUMP_FLAGS } from "../../lib/backup/create";
import { Manifest } from "../../lib/backup/manifest";
import { backupCli, dumpCommand, fingerprint, rowsOf, seq, sha256sum, startServers, useSandboxTools } from "./helpers";

const run = promisify(execFile);
useSandboxTools();

/** A backup user whose password needs every kind of quoting an option file has. */
const USER = "backup";
const PASSWORD = `p#a"s\\s w'd`;
const TABLES = ["parent", "child", "odd name-ü", "empty"];

/**
 * Both servers log binary (as RDS and a replicated IDC do); MySQL's with GTIDs on, so the GTID
 * policy and the replication of a restore are tested where they bite.
 */
function serverArgs(flavor: SandboxFlavor, name: string, id: number): string[] {
  const common = [`--log-bin=${name}-bin`, `--server-id=${id}`];
  return flavor === "mysql" ? [...common, "--gtid-mode=ON", "--enforce-gtid-consistency=ON"] : common;
}

describe.each(testFlavors())("backup round trip on real servers (%s)", (flavor) => {
  // IDC runs KST, the restore target UTC: TIMESTAMPs must keep their instant.
  let idc: LocalServer;
  let target: LocalServer;
  let stopServers: () => Promise<void> = async () => undefined;
  let work: string;

  async function seed(s: LocalServer): Promise<void> {
    const c = await s.admin();
    try {
      await c.query("SET time_zone = '+09:00'");
      for (const sql of [
        "CREATE DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        "USE app",
        `CREATE TABLE parent (
           id INT PRIMARY KEY, name VARCHAR(50) NOT NULL,
           bin BINARY(4), vb VARBINARY(16), blb BLOB, flag BIT(1), bits BIT(64),
           price DECIMAL(30,10), ratio DOUBLE, f FLOAT, doc JSON,
           kind ENUM('a','b'), tags SET('x','y','z'),
           dt6 DATETIME(6), ts6 TIMESTAMP(6) NULL, d DATE, t TIME(3), y YEAR,
           total_v INT AS (id * 10) VIRTUAL, name_s VARCHAR(60) AS (UPPER(name)) STORED,
           KEY (name))`,
        `CREATE TABLE child (id BIGINT UNSIGNED PRIMARY KEY AUTO_INCREMENT, parent_id INT NULL, note TEXT,
           CONSTRAINT child_parent FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE)`,
        "CREATE TABLE `odd name-ü` (`k` VARCHAR(10) PRIMARY KEY, `v``q` INT)",
        "CREATE TABLE `empty` (id INT PRIMARY KEY)",
        `INSERT INTO parent (id, name, bin, vb, blb, flag, bits, price, ratio, f, doc, kind, tags, dt6, ts6, d, t, y) VALUES
           (1, 'plain', 0x00000000, 0x00FF00FF00, 0x000102, b'1', b'1111111111111111111111111111111111111111111111111111111111111111',
            12345678901234567890.0123456789, 0.30000000000000004, 3.4e38, '{"emoji":"😀","n":{"a":[1,2]}}', 'b', 'x,z',
            '2024-02-29 23:59:59.999999', '2024-03-10 09:00:00.123456', '1000-01-01', '-838:59:59.000', 2155),
           (2, '😀 4-byte 𝄞 한글', NULL, '', NULL, b'0', b'0', -0.0000000001, -1e-300, -1.5, '[]', 'a', '', '9999-12-31 23:59:59.000000',
            '1970-01-01 09:00:01.000000', '9999-12-31', '838:59:59.999', 1901),
           (3, 'quote''s \\\\ back\\nslash\\0nul', 0x5C000A0D, 0x27, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
        `INSERT INTO parent (id, name, vb, ts6) SELECT seq, CONCAT('p', seq), LEFT(UNHEX(SHA2(seq, 256)), 16), '2024-06-01 12:00:00' + INTERVAL seq SECOND FROM ${seq(4, 300)}`,
        `INSERT INTO child (parent_id, note) SELECT 1 + seq % 300, IF(seq % 7 = 0, NULL, CONCAT('n', seq)) FROM ${seq(1, 900)} ORDER BY seq`,
        "INSERT INTO child (parent_id, note) VALUES (NULL, 'no parent is fine')",
        "INSERT INTO `odd name-ü` VALUES ('a`b', 1), ('ü', NULL)",
        "CREATE VIEW parent_names AS SELECT id, name FROM parent WHERE id < 10",
        "CREATE TRIGGER child_note BEFORE INSERT ON child FOR EACH ROW SET NEW.note = COALESCE(NEW.note, 'none')",
        "CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
        "CREATE PROCEDURE count_children(OUT n INT) SELECT COUNT(*) INTO n FROM child",
        "CREATE EVENT purge_nothing ON SCHEDULE EVERY 1 DAY DO DELETE FROM child WHERE id = 0",
        `CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`,
        // REPLICATION CLIENT: the binlog position (MariaDB 10.5+ calls it BINLOG MONITOR and takes the old name);
        // RELOAD: MySQL's mysqldump holds a global read lock for an instant to read it.
        `GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, RELOAD, REPLICATION CLIENT ON *.* TO '${USER}'@'%'`,
      ]) {
        await c.query(sql);
      }
    } finally {
      await c.end();
    }
  }

  async function expectSameRows(db: string): Promise<void> {
    for (const table of TABLES) {
      const [a, b] = await Promise.all([rowsOf(idc, "app", table), rowsOf(target, db, table)]);
      expect(b.length, table).toBe(a.length);
      expect(b, table).toEqual(a);
    }
  }

  /** The first row of a query; with `serverZone`, in the server's own time zone instead of UTC. */
  async function one(s: LocalServer, db: string, sql: string, serverZone = false): Promise<RowDataPacket> {
    const c = await connect(s.dsn(db));
    try {
      if (serverZone) await c.query("SET time_zone = @@global.time_zone");
      const [rows] = await c.query<RowDataPacket[]>(sql);
      return rows[0];
    } finally {
      await c.end();
    }
  }

  const inServerZone = (s: LocalServer, db: string, sql: string) => one(s, db, sql, true);

  beforeAll(async () => {
    const started = await startServers(
      { flavor, name: `backup-idc-${flavor}`, timeZone: "+09:00", args: serverArgs(flavor, "idc", 7) },
      { flavor, name: `backup-target-${flavor}`, timeZone: "+00:00", args: serverArgs(flavor, "target", 8) },
    );
    [idc, target] = started.servers;
    stopServers = started.stop;
    work = await mkdtemp(join(tmpdir(), "backup-round-trip-"));
    await seed(idc);
    // The target already holds an older state of the database, with an object of its own.
    await target.exec("CREATE DATABASE app", "CREATE TABLE app.parent (id INT PRIMARY KEY)", "INSERT INTO app.parent VALUES (42)", "CREATE TABLE app.stale (x INT)", "CREATE VIEW app.stale_v AS SELECT x FROM app.stale");
  });

  afterAll(async () => {
    await stopServers();
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe("create, verify, restore", () => {
    const dir = () => join(work, "app-backup");
    const env = () => ({ DATABASE_URL: formatDsn({ ...idc.dsn("app"), user: USER, password: PASSWORD }) });

    it("backs up with a password user (option file, never argv), recording GTID, binlog position, rows and checksums", async () => {
      const r = await backupCli(["create", "--out", dir(), "--json"], env());
      expect(r.stderr).not.toContain("error");
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report).toMatchObject({ ok: true, database: "app", rows: 300 + 901 + 2 });
      const manifest = JSON.parse(await readFile(join(dir(), "manifest.json"), "utf8")) as Manifest;
      // The GTID state of the dump's own snapshot (MySQL: gtid_executed, written by mysqldump as a comment).
      const pos = await one(idc, "app", globalVariableSql(gtidVariables(parseServerVersion(manifest.server.version)).source));
      expect(manifest.gtid).toBe(String(pos.g).replace(/\s+/g, ""));
      expect(manifest.gtid).toMatch(/\S/);
      expect(manifest.tool.version).toMatch(flavor === "mysql" ? /^mysqldump\s+Ver 9\./ : /MariaDB/);
      expect(manifest.binlog?.file).toMatch(/^idc-bin\.\d+$/);
      expect(manifest.server).toMatchObject({ timeZone: "+09:00", port: idc.port });
      expect(manifest.tzUtc).toBe(true);
      expect(Object.fromEntries(manifest.tables.map((t) => [t.name, t.rows]))).toEqual({ child: 901, empty: 0, "odd name-ü": 2, parent: 300 });
      expect(manifest.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256) && f.bytes > 0)).toBe(true);
      expect(manifest.options).toContain("--single-transaction");
      for (const text of [r.stdout, r.stderr, JSON.stringify(manifest)]) expect(text).not.toContain(PASSWORD);
      // sha256sum itself accepts the manifest's sidecar.
      await expect(run("sha256sum", ["-c", "manifest.json.sha256"], { cwd: dir() })).resolves.toBeDefined();
    });

    it("verifies its own backup: every file complete and every row count as recorded", async () => {
      const report = await verifyBackups([dir()], { maxAgeHours: 1, tables: ["parent", "child"], quiet: true });
      expect(report.candidates[0]).toMatchObject({ valid: true, reasons: [], database: "app", tables: 4, rows: 1203 });
      expect(report.chosen).toBe(dir());
    });

    it("restores into a UTC server, replacing the old state: every row identical, TIMESTAMPs unshifted", async () => {
      const r = await restoreBackup({ dsn: target.dsn("app"), path: dir(), quiet: true, deferKeysMinRows: 100 });
      expect(r).toMatchObject({ ok: true, database: "app", rows: 1203, checks: { foreignKeys: 1, orphanRows: 0 }, replaced: { tables: 2, objects: 1 } });
      // deferKeysMinRows 100: child's FK and index were built after its rows were in.
      expect(r.tables.find((t) => t.table === "child")?.deferredKeys).toBe(1);
      await expectSameRows("app");
      // The same instant, shown in each server's own zone.
      const local = "SELECT ts6, UNIX_TIMESTAMP(ts6) AS epoch FROM parent WHERE id = 1";
      const kst = await inServerZone(idc, "app", local);
      const utc = await inServerZone(target, "app", local);
      expect(kst.ts6).toBe("2024-03-10 09:00:00.123456");
      expect(utc.ts6).toBe("2024-03-10 00:00:00.123456");
      expect(utc.epoch).toBe(kst.epoch);
    });

    it("brings back the views, triggers, routines and events, and drops what the backup does not have", async () => {
      const tables = await target.admin().then(async (c) => {
        const [rows] = await c.query<RowDataPacket[]>("SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'app' ORDER BY 1");
        const [schemas] = await c.query<RowDataPacket[]>("SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'app%'");
        await c.end();
        return { tables: rows.map((r) => r.t), schemas: schemas.map((s) => s.s) };
      });
      expect(tables.tables).toEqual(["child", "empty", "odd name-ü", "parent", "parent_names"]);
      expect(tables.schemas).toEqual(["app"]);
      const c = await connect(target.dsn("app"));
      try {
        await c.query("INSERT INTO child (parent_id) VALUES (2)");
        const [[note]] = await c.query<RowDataPacket[]>("SELECT note FROM child ORDER BY id DESC LIMIT 1");
        expect(note.note).toBe("none");
        const [[f]] = await c.query<RowDataPacket[]>("SELECT twice(21) AS v, (SELECT COUNT(*) FROM parent_names) AS names");
        expect(f).toEqual({ v: 42, names: "9" });
        await c.query("CALL count_children(@n)");
        const [[n]] = await c.query<RowDataPacket[]>("SELECT @n AS n");
        expect(Number(n.n)).toBe(902);
        const [events] = await c.query<RowDataPacket[]>("SELECT EVENT_NAME AS e FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'app'");
        expect(events.map((e) => e.e)).toEqual(["purge_nothing"]);
      } finally {
        await c.end();
      }
    });

    it("verifies and restores a plain dump of the server's own dump tool (its defaults), gzipped, with a sha256sum sidecar", async () => {
      const sql = join(work, "idc-app.sql");
      // No GTID flag: on MySQL with GTIDs, mysqldump's default (AUTO) writes SQL_LOG_BIN=0 and SET GTID_PURGED.
      await run("sh", ["-c", `${await dumpCommand(idc, DUMP_FLAGS)} app > '${sql}' && gzip -k '${sql}'`]);
      await sha256sum(work, "idc-app.sql");
      await sha256sum(work, "idc-app.sql.gz");
      const report = await verifyBackups([`${sql}.gz`, sql], { quiet: true });
      expect(report.candidates.map((c) => [c.kind, c.valid, c.rows, c.reasons])).toEqual([
        ["dump", true, 1203, []],
        ["dump", true, 1203, []],
      ]);
      const r = await restoreBackup({ dsn: target.dsn("app_from_dump"), path: `${sql}.gz`, quiet: true, create: true });
      expect(r).toMatchObject({ ok: true, database: "app_from_dump", createdDatabase: true, rows: 1203, backup: { database: "app" } });
      await expectSameRows("app_from_dump");
    });

    it("restores a `--databases app` dump under another name without running its CREATE DATABASE / USE", async () => {
      const sql = join(work, "idc-app-B.sql");
      await run("sh", ["-c", `${await dumpCommand(idc, DUMP_FLAGS)} --databases app > '${sql}'`]);
      await sha256sum(work, "idc-app-B.sql");
      // The target server has its own `app` (restored above): a stray `USE app` would land there.
      const before = await fingerprint(target, "app").then(({ state, checksums }) => ({ state, checksums }));
      const r = await restoreBackup({ dsn: target.dsn("app_from_b"), path: sql, quiet: true, create: true });
      expect(r).toMatchObject({ ok: true, database: "app_from_b", rows: 1203, views: 1, backup: { database: "app" } });
      await expectSameRows("app_from_b");
      expect(await rowsOf(target, "app_from_b", "parent_names")).toHaveLength(9);
      // The backup's trigger was created in app_from_b (a `USE app` would have put it into app, where it exists: an error).
      const triggers = await one(target, "information_schema", "SELECT GROUP_CONCAT(TRIGGER_SCHEMA) AS s FROM information_schema.TRIGGERS WHERE TRIGGER_NAME = 'child_note'");
      expect(String(triggers.s).split(",").sort()).toEqual(["app", "app_from_b", "app_from_dump"]);
      expect(await fingerprint(target, "app")).toMatchObject(before);
    });

    it("backs up and restores a database without tables (the swap has nothing to rename)", async () => {
      await idc.exec("CREATE DATABASE nothing");
      const out = join(work, "nothing");
      expect(await createBackup({ dsn: idc.dsn("nothing"), out, quiet: true })).toMatchObject({ ok: true, tables: [], rows: 0 });
      expect((await verifyBackups([out], { quiet: true })).ok).toBe(true);
      const r = await restoreBackup({ dsn: target.dsn("nothing_restored"), path: out, quiet: true, create: true });
      expect(r).toMatchObject({ ok: true, tables: [], createdDatabase: true, replaced: { tables: 0, objects: 0 } });
    });

    it("refuses to restore into a database that does not exist unless --create is given (CLI)", async () => {
      const url = formatDsn(target.dsn("app_typo"));
      const r = await backupCli(["restore", dir(), "--json"], { DATABASE_URL: url });
      expect(r.code).toBe(2);
      expect(JSON.parse(r.stdout).error).toMatchObject({ code: "DB_MISSING", subject: "app_typo" });
      expect(r.stderr).toContain("pass --create");
      expect((await fingerprint(target, "app_typo")).schemas).not.toContain("app_typo");
      const created = await backupCli(["restore", dir(), "--create", "--json"], { DATABASE_URL: url });
      expect(created.code).toBe(0);
      expect(JSON.parse(created.stdout)).toMatchObject({ ok: true, createdDatabase: true, rows: 1203 });
    });
  });

  describe("replication and GTIDs of a restore", () => {
    const dir = () => join(work, "app-backup");
    const gtidOf = async (s: LocalServer, name: string) => String((await one(s, "mysql", globalVariableSql(name))).g).replace(/\s+/g, "");

    /** The binary log events a restore wrote from `from` on, as text: the rows must be among them. */
    async function binlogSince(from: { File: string; Position: number }): Promise<string> {
      const c = await target.admin();
      try {
        const [events] = await c.query<RowDataPacket[]>(`SHOW BINLOG EVENTS IN '${from.File}' FROM ${from.Position}`);
        return events.map((e) => `${e.Event_type}: ${e.Info}`).join("\n");
      } finally {
        await c.end();
      }
    }

    it("writes the restored rows to the target's binary log, so its replicas get them (no SQL_LOG_BIN=0)", async () => {
      const version = parseServerVersion(String((await one(target, "mysql", "SELECT VERSION() AS v")).v));
      const before = (await one(target, "mysql", binlogStatusSql(version))) as { File: string; Position: number };
      const r = await restoreBackup({ dsn: target.dsn("app_replicated"), path: dir(), quiet: true, create: true });
      expect(r.gtid).toEqual({ policy: "off", adopted: null });
      const events = await binlogSince(before);
      // Row format (MySQL's default) logs a Table_map per table, mixed (MariaDB's) the INSERT itself.
      expect(events).toMatch(flavor === "mysql" ? /Table_map: table_id: \d+ \(app_replicated__restore_\d+\.child\)/ : /INSERT INTO `child` VALUES/);
      expect(events).toMatch(/RENAME TABLE/);
    });

    it.runIf(flavor === "mysql")("--gtid-policy off: none of the source's GTIDs enter the target; only the target's own", async () => {
      const source = String((await one(idc, "mysql", "SELECT @@server_uuid AS u")).u);
      const own = String((await one(target, "mysql", "SELECT @@server_uuid AS u")).u);
      const before = await gtidOf(target, "gtid_executed");
      await restoreBackup({ dsn: target.dsn("app_gtid_off"), path: dir(), quiet: true, create: true, gtidPolicy: "off" });
      const after = await gtidOf(target, "gtid_executed");
      expect(after).not.toContain(source);
      const added = String((await one(target, "mysql", `SELECT GTID_SUBTRACT('${after}', '${before}') AS g`)).g);
      expect(added).toMatch(new RegExp(`^${own}:\\d+(-\\d+)?$`));
    });

    it.runIf(flavor === "mysql")("--gtid-policy keep: the target adopts exactly the backup's GTID set; a second keep is refused untouched", async () => {
      const manifest = JSON.parse(await readFile(join(dir(), "manifest.json"), "utf8")) as Manifest;
      const own = String((await one(target, "mysql", "SELECT @@server_uuid AS u")).u);
      const before = await gtidOf(target, "gtid_executed");
      const r = await restoreBackup({ dsn: target.dsn("app_gtid_keep"), path: dir(), quiet: true, create: true, gtidPolicy: "keep" });
      expect(r.gtid).toEqual({ policy: "keep", adopted: manifest.gtid });
      const after = await gtidOf(target, "gtid_executed");
      const [diff] = await Promise.all([one(target, "mysql", `SELECT GTID_SUBTRACT(GTID_SUBTRACT('${after}', '${before}'), '${manifest.gtid}') AS own, GTID_SUBSET('${manifest.gtid}', '${after}') AS adopted`)]);
      expect(Number(diff.adopted)).toBe(1);
      expect(String(diff.own)).toMatch(new RegExp(`^${own}:\\d+(-\\d+)?$`));
      const untouched = await fingerprint(target, "app_gtid_keep");
      const again = await restoreBackup({ dsn: target.dsn("app_gtid_keep"), path: dir(), quiet: true, gtidPolicy: "keep" }).catch((e: unknown) => e);
      expect(again).toMatchObject({ code: "RESTORE_GTID", message: expect.stringContaining("already holds part of the backup's set") });
      expect(await fingerprint(target, "app_gtid_keep")).toEqual(untouched);
      expect(await gtidOf(target, "gtid_executed")).toBe(after);
    });

    it.runIf(flavor === "mariadb")("--gtid-policy keep sets the target's replica position to the backup's GTID; off leaves it", async () => {
      const manifest = JSON.parse(await readFile(join(dir(), "manifest.json"), "utf8")) as Manifest;
      expect(await gtidOf(target, "gtid_slave_pos")).toBe("");
      const r = await restoreBackup({ dsn: target.dsn("app_gtid_keep"), path: dir(), quiet: true, create: true, gtidPolicy: "keep" });
      expect(r.gtid).toEqual({ policy: "keep", adopted: manifest.gtid });
      expect(await gtidOf(target, "gtid_slave_pos")).toBe(manifest.gtid);
    });
  });
});
