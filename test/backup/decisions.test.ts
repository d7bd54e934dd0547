import { describe, expect, it } from "vitest";
import { clientConfig, clientTool, toolPath } from "../../lib/backup/client";
import { toolWarnings } from "../../lib/backup/create";
import { planDeferredKeys, orphanQuery } from "../../lib/backup/keys";
import { ManifestSchema, parseSidecar } from "../../lib/backup/manifest";
import { runPool } from "../../lib/backup/pool";
import { crossDatabaseReference, definersIn, sideSchema } from "../../lib/backup/restore";
import { Candidate, ageReason, chooseNewest } from "../../lib/backup/verify";
import { dataFileFor } from "../../lib/backup/writer";

const sha = "a".repeat(64);

function manifest(overrides: Record<string, unknown> = {}) {
  return {
    format: "idc-rollback-backup",
    version: 1,
    database: "shop",
    charset: null,
    server: { host: "h", port: 3306, hostname: null, version: "10.11", versionComment: null, timeZone: "+09:00" },
    tool: { name: "mariadb-dump", version: "10.19" },
    options: ["--single-transaction"],
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:01:00.000Z",
    binlog: null,
    gtid: null,
    tzUtc: true,
    tables: [{ name: "orders", rows: 3, file: "data/orders.sql.gz" }],
    views: [],
    files: ["schema.sql", "post.sql", "data/orders.sql.gz"].map((path) => ({ path, bytes: 1, sha256: sha })),
    notes: [],
    ...overrides,
  };
}

function cand(path: string, valid: boolean, createdAt: string | null): Candidate {
  return { path, kind: "backup", valid, reasons: valid ? [] : ["x"], notes: [], createdAt, database: "shop", tables: 1, rows: 1 };
}

describe("backup decisions", () => {
  it("accepts a well-formed manifest and refuses one pointing outside the backup or at unlisted files", () => {
    expect(ManifestSchema.safeParse(manifest()).success).toBe(true);
    const escape = ManifestSchema.safeParse(manifest({ files: [{ path: "../../etc/passwd", bytes: 1, sha256: sha }] }));
    expect(escape.success).toBe(false);
    expect(JSON.stringify(escape.error!.issues)).toContain("inside the backup directory");
    const unlisted = ManifestSchema.safeParse(manifest({ tables: [{ name: "orders", rows: 3, file: "data/other.sql.gz" }] }));
    expect(unlisted.error!.issues.map((i) => i.message)).toContain("data/other.sql.gz is not in files");
    expect(ManifestSchema.safeParse(manifest({ extra: 1 })).success).toBe(false);
  });

  it("reads sha256sum sidecars in text and binary mode, and says why a bad one is bad", () => {
    expect(parseSidecar(`${sha}  dump.sql.gz\n`)).toEqual({ sha256: sha, name: "dump.sql.gz" });
    expect(parseSidecar(`${sha.toUpperCase()} *dump.sql\n`)).toEqual({ sha256: sha, name: "dump.sql" });
    expect(parseSidecar(sha)).toEqual({ sha256: sha, name: "" });
    expect(parseSidecar("")).toMatch(/expected one/);
    expect(parseSidecar("abc  dump.sql")).toMatch(/not a sha256sum line/);
  });

  it("chooses the newest valid backup, never an invalid one", () => {
    const c = [cand("old", true, "2026-01-01T00:00:00Z"), cand("newest-but-corrupt", false, "2026-01-03T00:00:00Z"), cand("new", true, "2026-01-02T00:00:00Z")];
    expect(chooseNewest(c)?.path).toBe("new");
    expect(chooseNewest([cand("bad", false, "2026-01-01T00:00:00Z")])).toBeNull();
  });

  it("rejects a backup older than --max-age-hours, naming its time", () => {
    const now = new Date("2026-01-02T06:00:00Z");
    expect(ageReason("manifest.json", "2026-01-02T00:00:00Z", 24, now)).toBeNull();
    expect(ageReason("manifest.json", "2026-01-01T00:00:00Z", 24, now)).toBe(
      "manifest.json: too old: taken 2026-01-01T00:00:00Z, 30.0 h ago, more than --max-age-hours 24",
    );
    expect(ageReason("x", null, 1, now)).toMatch(/unknown/);
    expect(ageReason("x", "2000-01-01T00:00:00Z", undefined, now)).toBeNull();
  });

  it("defers plain secondary keys and foreign keys, keeps unique, fulltext and FK-referenced ones", () => {
    const create = [
      "CREATE TABLE `orders` (",
      "  `id` int(11) NOT NULL,",
      "  `customer_id` int(11) NOT NULL,",
      "  `code` varchar(10) DEFAULT NULL,",
      "  `note` text DEFAULT NULL,",
      "  PRIMARY KEY (`id`),",
      "  UNIQUE KEY `code` (`code`),",
      "  KEY `customer_id` (`customer_id`),",
      "  KEY `by``code` (`code`(4),`id`) COMMENT 'x, y',",
      "  KEY `referenced` (`note`(10)),",
      "  FULLTEXT KEY `ft` (`note`),",
      "  CONSTRAINT `orders_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`) ON DELETE CASCADE",
      ") ENGINE=InnoDB",
    ].join("\n");
    const plan = planDeferredKeys("orders", create, new Set(["note"]));
    expect(plan.drop).toEqual(["DROP FOREIGN KEY `orders_customer`", "DROP KEY `customer_id`", "DROP KEY `by``code`"]);
    expect(plan.addKeys).toEqual(["ADD KEY `customer_id` (`customer_id`)", "ADD KEY `by``code` (`code`(4),`id`) COMMENT 'x, y'"]);
    expect(plan.addForeignKeys).toEqual(["ADD CONSTRAINT `orders_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`) ON DELETE CASCADE"]);
  });

  it("builds an orphan check that treats a NULL key as no reference (MATCH SIMPLE)", () => {
    const sql = orphanQuery("s", { name: "fk", table: "child", columns: ["a", "b"], refSchema: "s", refTable: "parent", refColumns: ["x", "y"] });
    expect(sql).toBe(
      "SELECT COUNT(*) AS orphans FROM `s`.`child` c WHERE c.`a` IS NOT NULL AND c.`b` IS NOT NULL AND NOT EXISTS (SELECT 1 FROM `s`.`parent` p WHERE p.`x` = c.`a` AND p.`y` = c.`b`)",
    );
  });

  it("names staging schemas within MySQL's 64 characters", () => {
    const at = new Date("2026-03-04T05:06:07Z");
    expect(sideSchema("shop", "restore", at)).toBe("shop__restore_20260304050607");
    const long = sideSchema("x".repeat(64), "previous", at);
    expect(long.length).toBeLessThanOrEqual(64);
    expect(long).not.toBe(sideSchema("x".repeat(63) + "y", "previous", at));
  });

  it("refuses to restore under another name when triggers or routines name the original database", () => {
    expect(crossDatabaseReference("shop", "shop", "TRIGGER shop.t")).toBeNull();
    expect(crossDatabaseReference("shop", "idc", "CREATE TRIGGER t BEFORE INSERT ON orders")).toBeNull();
    expect(crossDatabaseReference("shop", "idc", "x\nTRIGGER shop.t BEFORE INSERT ON shop.orders\ny")).toMatch(/names the backup's database `shop` \("TRIGGER shop.t/);
    expect(crossDatabaseReference("shop", "idc", "DELETE FROM `shop`.`orders`")).not.toBeNull();
    expect(crossDatabaseReference("shop", "idc", "DELETE FROM myshop.orders")).toBeNull();
  });

  it("lists the definers post.sql would create objects for", () => {
    expect(definersIn("/*!50017 DEFINER=`root`@`localhost`*/ x DEFINER=`a``b`@`%` y DEFINER=`root`@`localhost`")).toEqual(["root@localhost", "a`b@%"]);
  });

  it("writes the password into a quoted option-file value, never anywhere else", () => {
    const cnf = clientConfig({ host: "db.idc", port: 3307, user: "backup", password: 'p#a"s\\s w\'d', database: "shop" }, "mariadb");
    expect(cnf).toContain('password="p#a\\"s\\\\s w\'d"');
    expect(cnf).toContain("port=3307");
    expect(cnf).toContain("protocol=TCP");
    expect(cnf).not.toContain("shop");
  });

  it("carries the DSN's TLS settings into the option file in the tool family's words", () => {
    const d = { host: "rds", port: 3306, user: "u", password: "p", database: "shop", tls: { mode: "VERIFY_IDENTITY" as const, ca: "/etc/rds-ca.pem" } };
    expect(clientConfig(d, "mysql").split("\n")).toEqual(expect.arrayContaining(["ssl-mode=VERIFY_IDENTITY", "ssl-ca=/etc/rds-ca.pem"]));
    expect(clientConfig(d, "mariadb").split("\n")).toEqual(expect.arrayContaining(["ssl", "ssl-verify-server-cert", "ssl-ca=/etc/rds-ca.pem"]));
  });

  it("refuses a dump tool of the other family: Debian's /usr/bin/mysqldump is MariaDB's", async () => {
    await expect(clientTool("mysql", "dump", { MYSQL_DUMP: "/usr/bin/mysqldump" })).rejects.toMatchObject({
      code: "TOOL_MISMATCH",
      subject: "/usr/bin/mysqldump",
      message: expect.stringContaining("is MariaDB's"),
    });
    await expect(clientTool("mariadb", "dump", { PATH: process.env.PATH })).resolves.toMatchObject({ bin: "mariadb-dump", version: expect.stringMatching(/MariaDB/) });
    await expect(clientTool("mysql", "client", { MYSQL_CLIENT: "/nonexistent/mysql" })).rejects.toMatchObject({ code: "TOOL_MISSING", hint: expect.stringContaining("ROLLBACK_TOOLS_DIR") });
  });

  it("looks for a tool in its env override, then ROLLBACK_TOOLS_DIR, then PATH", () => {
    expect(toolPath("mysql", "dump", { MYSQL_DUMP: "/opt/x/mysqldump", ROLLBACK_TOOLS_DIR: "/usr/bin" })).toBe("/opt/x/mysqldump");
    expect(toolPath("mariadb", "client", { ROLLBACK_TOOLS_DIR: "/usr/bin" })).toBe("/usr/bin/mariadb");
    expect(toolPath("mysql", "dump", { ROLLBACK_TOOLS_DIR: "/nonexistent" })).toBe("mysqldump");
  });

  it("drops mysqldump's GTID advice from the notes (the restore's --gtid-policy decides), keeps other warnings", () => {
    const advice = "Warning: A partial dump from a server that has GTIDs will by default include the GTIDs of all transactions, even those that changed suppressed parts of the database. If you don't want to restore GTIDs, pass --set-gtid-purged=OFF.";
    expect(toolWarnings(`${advice}\n`)).toBe("");
    expect(toolWarnings(`mysqldump: ${advice}\nmysqldump: Error: 'x' when trying to dump tablespaces`)).toBe("mysqldump: Error: 'x' when trying to dump tablespaces");
  });

  it("maps any table name to its own file inside data/", () => {
    expect(dataFileFor("orders")).toBe("data/orders.sql.gz");
    expect(dataFileFor("../a b")).toBe("data/%2E%2E%2Fa%20b.sql.gz");
    expect(dataFileFor("주문")).toMatch(/^data\/(%[0-9A-F]{2})+\.sql\.gz$/);
    expect(dataFileFor("a.b")).not.toBe(dataFileFor("a_b"));
  });

  it("stops starting work after the first failure and reports it", async () => {
    const started: number[] = [];
    const run = runPool([1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      await new Promise((r) => setTimeout(r, 5));
      if (n === 2) throw new Error("two failed");
      return n;
    });
    await expect(run).rejects.toThrow("two failed");
    expect(started).toEqual([1, 2, 3]);
    await expect(runPool([3, 1, 2], 8, async (n) => n * 2)).resolves.toEqual([6, 2, 4]);
  });
});
