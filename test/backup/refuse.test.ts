import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatDsn } from "../../lib/dsn";
import { RollbackError } from "../../lib/errors";
import { LocalServer, testFlavors } from "../../lib/sandbox/server";
import { createBackup, restoreBackup, verifyBackups } from "../../lib/backup";
import { DUMP_FLAGS } from "../../lib/backup/create";
import { backupCli, dumpCommand, fingerprint, rehash, rewriteManifest, rowsOf, seq, sha256sum, startServers, useSandboxTools } from "./helpers";

const run = promisify(execFile);
useSandboxTools();

describe.each(testFlavors())("backups that must be refused, and restores that must leave the target as it was (%s)", (flavor) => {

  // One server: the IDC source `shop`, and the restore target `shop_idc` with a state of its own
  // that every refused or failed restore must leave exactly as it was.
  let server: LocalServer;
  let stopServers: () => Promise<void> = async () => undefined;
  let work: string;
  let base: string;
  let untouched: Awaited<ReturnType<typeof fingerprint>>;

  const target = () => server.dsn("shop_idc");

  async function copyOfBase(name: string): Promise<string> {
    const dir = join(work, name);
    await cp(base, dir, { recursive: true });
    return dir;
  }

  /** Restores and returns the error it must fail with. */
  async function failedRestore(path: string, extra: Partial<Parameters<typeof restoreBackup>[0]> = {}): Promise<RollbackError> {
    const err = await restoreBackup({ dsn: target(), path, quiet: true, ...extra }).then(
      () => new Error("restore succeeded"),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RollbackError);
    return err as RollbackError;
  }

  async function expectTargetUntouched(): Promise<void> {
    expect(await fingerprint(server, "shop_idc")).toEqual(untouched);
  }

  async function reasonsFor(path: string, opts: Parameters<typeof verifyBackups>[1] = {}): Promise<string[]> {
    const report = await verifyBackups([path], { quiet: true, ...opts });
    expect(report.ok).toBe(false);
    return report.candidates[0].reasons;
  }

  beforeAll(async () => {
    const started = await startServers({ flavor, name: `backup-refuse-${flavor}` });
    [server] = started.servers;
    stopServers = started.stop;
    work = await mkdtemp(join(tmpdir(), "backup-refuse-"));
    await server.exec(
      "CREATE DATABASE shop",
      "CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL)",
      "CREATE TABLE shop.orders (id INT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2), KEY (total), CONSTRAINT orders_customer FOREIGN KEY (customer_id) REFERENCES shop.customers (id))",
      `INSERT INTO shop.customers SELECT seq, CONCAT('c', seq) FROM ${seq(1, 50)}`,
      `INSERT INTO shop.orders SELECT seq, 1 + seq % 50, seq / 4 FROM ${seq(1, 2000)}`,
      "CREATE DATABASE shop_idc",
      "CREATE TABLE shop_idc.customers (id INT PRIMARY KEY, name VARCHAR(40))",
      "INSERT INTO shop_idc.customers VALUES (1, 'idc-only')",
      "CREATE TABLE shop_idc.legacy (id INT PRIMARY KEY, seen INT DEFAULT 0)",
      "INSERT INTO shop_idc.legacy (id) VALUES (1), (2)",
      "CREATE VIEW shop_idc.legacy_v AS SELECT id FROM shop_idc.legacy",
      "CREATE TRIGGER shop_idc.legacy_seen BEFORE UPDATE ON shop_idc.legacy FOR EACH ROW SET NEW.seen = OLD.seen + 1",
    );
    base = join(work, "base");
    await createBackup({ dsn: server.dsn("shop"), out: base, quiet: true });
    untouched = await fingerprint(server, "shop_idc");
  });

  afterAll(async () => {
    await stopServers();
    if (work) await rm(work, { recursive: true, force: true });
  });

  describe("refusals", () => {
    it("refuses a backup with a flipped byte, naming the file", async () => {
      const dir = await copyOfBase("flipped");
      const file = join(dir, "data/orders.sql.gz");
      const bytes = await readFile(file);
      bytes[Math.floor(bytes.length / 2)] ^= 0x01;
      await writeFile(file, bytes);
      expect(await reasonsFor(dir)).toEqual([expect.stringMatching(/^data\/orders\.sql\.gz: sha256 mismatch/)]);
      const err = await failedRestore(dir);
      expect(err.code).toBe("BACKUP_INVALID");
      expect(err.message).toContain("data/orders.sql.gz: sha256 mismatch");
      await expectTargetUntouched();
    });

    it("calls a truncated file incomplete even when its checksum was recomputed to match", async () => {
      const dir = await copyOfBase("truncated");
      const file = join(dir, "data/orders.sql.gz");
      const sql = gunzipSync(await readFile(file)).toString();
      // Cut before the last INSERT (mysqldump may write all 2000 rows on one line).
      const cut = sql.slice(0, sql.lastIndexOf("INSERT INTO"));
      await writeFile(file, gzipSync(cut));
      await rehash(dir, "data/orders.sql.gz");
      const reasons = await reasonsFor(dir);
      expect(reasons).toContain("data/orders.sql.gz: incomplete: does not end with the '-- Dump completed' trailer");
      expect(reasons.some((r) => /^data\/orders\.sql\.gz: \d+ rows, the manifest says 2000$/.test(r))).toBe(true);
      // The quick pre-check passes (sizes and hashes agree); loading into staging finds the cut.
      const err = await failedRestore(dir);
      expect(err.code).toBe("BACKUP_INCOMPLETE");
      expect(err.subject).toBe("data/orders.sql.gz");
      await expectTargetUntouched();
    });

    it("refuses a backup with a table's file missing", async () => {
      const dir = await copyOfBase("missing");
      await rm(join(dir, "data/customers.sql.gz"));
      expect(await reasonsFor(dir)).toEqual(["data/customers.sql.gz: missing"]);
      expect((await failedRestore(dir)).message).toContain("data/customers.sql.gz: missing");
      await expectTargetUntouched();
    });

    it("catches a tampered manifest, and a tampered manifest whose sidecar was rewritten to match", async () => {
      const dir = await copyOfBase("tampered");
      const path = join(dir, "manifest.json");
      await writeFile(path, (await readFile(path, "utf8")).replace('"rows": 2000', '"rows": 1999'));
      expect(await reasonsFor(dir)).toEqual([expect.stringMatching(/^manifest\.json: sha256 \w+… does not match manifest\.json\.sha256 .*edited or is corrupt$/)]);
      expect((await failedRestore(dir)).code).toBe("BACKUP_INVALID");

      await rewriteManifest(dir, (m) => {
        m.tables.find((t) => t.name === "orders")!.rows = 1999;
      });
      expect(await reasonsFor(dir)).toEqual(["data/orders.sql.gz: 2000 rows, the manifest says 1999"]);
      // Files and hashes agree with the manifest; the row counts after loading do not.
      const err = await failedRestore(dir);
      expect(err.code).toBe("RESTORE_CHECK_FAILED");
      expect(err.message).toContain("`orders`: 2000 rows loaded, the backup has 1999");
      await expectTargetUntouched();
    });

    it("refuses a backup older than --max-age-hours", async () => {
      const dir = await copyOfBase("old");
      const threeDaysAgo = new Date(Date.now() - 72 * 3_600_000).toISOString();
      await rewriteManifest(dir, (m) => {
        m.startedAt = threeDaysAgo;
      });
      expect(await reasonsFor(dir, { maxAgeHours: 24 })).toEqual([expect.stringMatching(new RegExp(`^manifest\\.json: too old: taken ${threeDaysAgo}, 72\\.0 h ago, more than --max-age-hours 24$`))]);
      expect((await failedRestore(dir, { maxAgeHours: 24 })).message).toContain("too old");
      await expectTargetUntouched();
    });

    it("picks the newest valid of several candidates and says why the others were rejected (CLI)", async () => {
      const newestButCorrupt = await copyOfBase("z-newest");
      await rewriteManifest(newestButCorrupt, (m) => {
        m.startedAt = new Date(Date.now() + 60_000).toISOString();
      });
      await rm(join(newestButCorrupt, "post.sql"));
      const r = await backupCli(["verify", newestButCorrupt, join(work, "old"), base, join(work, "nowhere"), "--max-age-hours", "24", "--json"]);
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.ok).toBe(true);
      expect(report.chosen).toBe(base);
      expect(report.candidates.map((c: { path: string; valid: boolean; reasons: string[] }) => [c.path, c.valid, c.reasons.map((x) => x.split(":")[0])])).toEqual([
        [newestButCorrupt, false, ["post.sql"]],
        [join(work, "old"), false, ["manifest.json"]],
        [base, true, []],
        [join(work, "nowhere"), false, [join(work, "nowhere")]],
      ]);
      expect(r.stderr).toContain(`newest valid backup: ${base}`);
      const none = await backupCli(["verify", newestButCorrupt, "--json"]);
      expect(none.code).toBe(1);
      expect(JSON.parse(none.stdout)).toMatchObject({ ok: false, chosen: null });
    });

    it("calls a plain dump cut short incomplete even with a matching sha256sum sidecar", async () => {
      const sql = join(work, "shop.sql");
      await run("sh", ["-c", `${await dumpCommand(server, DUMP_FLAGS)} shop > '${sql}'`]);
      const text = await readFile(sql, "utf8");
      await writeFile(sql, text.slice(0, text.lastIndexOf("UNLOCK TABLES;")));
      await sha256sum(work, "shop.sql");
      expect(await reasonsFor(sql)).toEqual(["shop.sql: incomplete: does not end with the '-- Dump completed' trailer (cut short, or the dump failed)"]);
      const r = await backupCli(["restore", sql, "--json"], { DATABASE_URL: formatDsn(target()) });
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, refused: true, targetUnchanged: true, error: { code: "BACKUP_INVALID" } });
      await expectTargetUntouched();
    });

    it("does not swap in data with orphan rows: the foreign key check fails, the target stays", async () => {
      const c = await server.admin();
      await c.query("SET SESSION foreign_key_checks = 0");
      await c.query("INSERT INTO shop.orders VALUES (9999, 777, 1.00)");
      await c.end();
      const dir = join(work, "orphans");
      await createBackup({ dsn: server.dsn("shop"), out: dir, quiet: true });
      await server.exec("DELETE FROM shop.orders WHERE id = 9999");
      expect((await verifyBackups([dir], { quiet: true })).ok).toBe(true); // the files are intact; the data is not
      const err = await failedRestore(dir);
      expect(err.code).toBe("RESTORE_CHECK_FAILED");
      expect(err.message).toContain("`orders`: 1 row(s) break foreign key orders_customer (no matching `customers` row)");
      await expectTargetUntouched();
    });

    it("refuses, before touching anything, a backup whose triggers need a definer the restoring user may not set", async () => {
      await server.exec(
        "USE shop",
        "CREATE TRIGGER orders_check BEFORE INSERT ON orders FOR EACH ROW SET NEW.total = ABS(NEW.total)",
        "CREATE USER limited@'%' IDENTIFIED BY 'limited-pw'",
        "GRANT ALL PRIVILEGES ON `shop\\_idc%`.* TO limited@'%'",
      );
      const dir = join(work, "with-trigger");
      await createBackup({ dsn: server.dsn("shop"), out: dir, quiet: true });
      await server.exec("DROP TRIGGER shop.orders_check");
      const err = await failedRestore(dir, { dsn: { ...target(), user: "limited", password: "limited-pw" } });
      expect(err.code).toBe("RESTORE_PRIVILEGES");
      expect(err.message).toContain("post.sql: creates triggers/views/routines/events with DEFINER root@localhost; limited@% may not");
      await expectTargetUntouched();
    });

    it("refuses to run while another restore into the same database holds the lock", async () => {
      const other = await server.admin();
      try {
        const { createHash } = await import("node:crypto");
        await other.query("SELECT GET_LOCK(?, 0)", [`idc-rollback-restore:${createHash("sha1").update("shop_idc").digest("hex").slice(0, 24)}`]);
        expect((await failedRestore(base)).code).toBe("RESTORE_BUSY");
      } finally {
        await other.end();
      }
      await expectTargetUntouched();
    });

    it("leaves the target as it was when interrupted mid-load", async () => {
      const ac = new AbortController();
      const err = await failedRestore(base, { jobs: 1, signal: ac.signal, onTableLoaded: () => ac.abort() });
      expect(err.code).toBe("ABORTED");
      await expectTargetUntouched();
    });

    it("leaves the target as it was when the restoring process is killed mid-load; the next run clears its staging schema", async () => {
      await server.exec("CREATE TABLE shop.events (id INT PRIMARY KEY, payload VARCHAR(64))", `INSERT INTO shop.events SELECT seq, LEFT(SHA2(seq, 256), 32) FROM ${seq(1, 300_000)}`);
      const dir = join(work, "big");
      await createBackup({ dsn: server.dsn("shop"), out: dir, quiet: true });
      await server.exec("DROP TABLE shop.events");
      // node itself (not the tsx wrapper, which would outlive SIGKILL's target): one process to kill.
      const child = spawn(process.execPath, ["--import", "tsx", "scripts/backup.ts", "restore", dir], {
        cwd: join(__dirname, "..", ".."),
        env: { ...process.env, DATABASE_URL: formatDsn(target()) },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes("defer-keys done")) child.kill("SIGKILL");
      });
      await once(child, "exit");
      expect(stderr).not.toContain("load done");
      // The target is as it was; only the killed run's staging schema is left.
      const { schemas, ...rest } = untouched;
      const now = await fingerprint(server, "shop_idc");
      expect(now).toMatchObject(rest);
      expect(now.schemas.filter((s) => !schemas.includes(s))).toEqual([expect.stringMatching(/^shop_idc__restore_\d{14}$/)]);
      // Its option file (the password) could not be removed by the killed process...
      const leftover = () => readdir(tmpdir()).then((names) => names.filter((n) => n.startsWith(`rollback-client-${child.pid}-`)));
      expect(await leftover()).toHaveLength(1);
      // ...the next run (here one that then fails its checks) removes it and drops the staging schema.
      await failedRestore(join(work, "orphans"));
      expect(await leftover()).toEqual([]);
      await expectTargetUntouched();
    });

    it("puts the target back when creating the backup's views fails after the swap", async () => {
      const dir = await copyOfBase("bad-post");
      const post = join(dir, "post.sql");
      const text = await readFile(post, "utf8");
      const trailer = text.lastIndexOf("-- Dump completed");
      await writeFile(post, `${text.slice(0, trailer)}CREATE VIEW broken AS SELECT * FROM no_such_table;\n${text.slice(trailer)}`);
      await rehash(dir, "post.sql");
      expect((await verifyBackups([dir], { quiet: true })).ok).toBe(true);
      const err = await failedRestore(dir);
      expect(err.code).toBe("TOOL_FAILED");
      expect(err.message).toContain("post.sql");
      expect(err.message).toContain("no_such_table");
      await expectTargetUntouched();
    });

    it("restores a good backup under another database name, dropping a staging schema an interrupted run left (CLI)", async () => {
      await server.exec("CREATE DATABASE shop_idc__restore_20000101000000");
      const r = await backupCli(["restore", base, "--keep-previous", "--json"], { DATABASE_URL: formatDsn(target()) });
      expect(r.stderr).not.toContain("error:");
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report).toMatchObject({ ok: true, database: "shop_idc", rows: 2050, replaced: { tables: 2, objects: 2 }, backup: { database: "shop" } });
      expect(report.notes).toContain("dropped shop_idc__restore_20000101000000, left by an interrupted restore");
      expect(report.previous).toMatch(/^shop_idc__previous_\d{14}$/);
      for (const t of ["customers", "orders"]) expect(await rowsOf(server, "shop_idc", t)).toEqual(await rowsOf(server, "shop", t));
      // --keep-previous: the old state is still there, whole.
      expect(await rowsOf(server, report.previous, "legacy")).toHaveLength(2);
      expect(r.stderr).toMatch(/restored .* into shop_idc: 2 tables, 2050 rows/);
    });
  });
});
