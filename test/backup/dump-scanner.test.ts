import { describe, expect, it } from "vitest";
import { DumpScanner, Section, countTuples, scanDump } from "../../lib/backup/dump-scanner";

const HEADER = `/*M!999999\\- enable the sandbox mode */
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: 127.0.0.1    Database: shop
-- ------------------------------------------------------
-- Server version\t10.11.19-MariaDB-log

/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
-- CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000003', MASTER_LOG_POS=4242;

`;

const TABLE = (name: string, inserts: string) => `--
-- Table structure for table \`${name}\`
--

DROP TABLE IF EXISTS \`${name}\`;
CREATE TABLE \`${name}\` (
  \`id\` int(11) NOT NULL,
  PRIMARY KEY (\`id\`)
) ENGINE=InnoDB;

--
-- Dumping data for table \`${name}\`
--

LOCK TABLES \`${name}\` WRITE;
${inserts}UNLOCK TABLES;
`;

const TRIGGER = `/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=\`root\`@\`localhost\`*/ /*!50003 TRIGGER t1 BEFORE INSERT ON orders FOR EACH ROW SET NEW.id = NEW.id */;;
DELIMITER ;
`;

const FOOTER = `--
-- Final view structure for view \`v\`
--

/*!50001 VIEW \`v\` AS select 1 AS \`one\` */;

-- SET GLOBAL gtid_slave_pos='0-1-77';
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

-- Dump completed on 2026-01-02  3:04:05
`.replace("2026-01-02  3:04:05", "2026-01-02 03:04:05");

// Both INSERT layouts mysqldump has used: one line per statement, and one line per row.
const ORDERS = TABLE(
  "orders",
  "INSERT INTO `orders` VALUES (1,'a),(b'),(2,'it\\'s \\\\'),(3,NULL);\nINSERT INTO `orders` VALUES\n(4,'x'),\n(5,'(y)');\n",
);
const ODD = TABLE("odd`name (1)", "INSERT INTO `odd``name (1)` (`id`, `we(ird`) VALUES (1,0x00FF),(2,b'101');\n");
const DUMP = HEADER + ORDERS + TRIGGER + ODD + FOOTER;

function sections(text: string, chunk = text.length): { facts: ReturnType<DumpScanner["end"]>; parts: Array<[string, string]> } {
  const parts: Array<[string, string]> = [];
  const s = new DumpScanner((sec: Section, b: Buffer) => {
    const key = sec.table ? `${sec.kind}:${sec.table}` : sec.kind;
    const last = parts.at(-1);
    if (last && last[0] === key) last[1] += b.toString();
    else parts.push([key, b.toString()]);
  });
  const buf = Buffer.from(text);
  for (let i = 0; i < buf.length; i += chunk) s.push(buf.subarray(i, i + chunk));
  return { facts: s.end(), parts };
}

describe("dump scanner", () => {
  it("counts rows in both INSERT layouts without being fooled by parentheses or quotes inside values", () => {
    const { facts } = sections(DUMP);
    expect(facts.tables.get("orders")).toEqual({ structure: true, data: true, rows: 5 });
    expect(facts.tables.get("odd`name (1)")).toEqual({ structure: true, data: true, rows: 2 });
    expect(facts.rows).toBe(7);
  });

  it("passes every byte through exactly once, whatever the chunk size", () => {
    for (const chunk of [1, 7, 64, 100_000]) {
      const { parts, facts } = sections(DUMP, chunk);
      expect(parts.map(([, t]) => t).join("")).toBe(DUMP);
      expect(facts.rows).toBe(7);
    }
  });

  it("routes structure, data and the objects created after the tables (triggers, views, footer)", () => {
    const { parts } = sections(DUMP);
    expect(parts.map(([k]) => k)).toEqual(["header", "structure:orders", "data:orders", "post", "structure:odd`name (1)", "data:odd`name (1)", "post"]);
    const post = parts.filter(([k]) => k === "post").map(([, t]) => t).join("");
    expect(post).toContain("TRIGGER t1");
    expect(post).toContain("VIEW `v`");
    expect(post).toContain("-- Dump completed");
    const data = parts.find(([k]) => k === "data:orders")![1];
    expect(data).toContain("UNLOCK TABLES;");
    expect(data).not.toContain("TRIGGER");
  });

  it("reads the header: database, server, binlog position, GTID, --tz-utc, views, trailer date", () => {
    const { facts } = sections(DUMP);
    expect(facts).toMatchObject({
      database: "shop",
      serverVersion: "10.11.19-MariaDB-log",
      binlog: { file: "mysql-bin.000003", position: 4242 },
      gtid: "0-1-77",
      tzUtc: true,
      views: ["v"],
      completed: true,
      completedAt: "2026-01-02 03:04:05",
      databases: [],
      setsGtidPurged: false,
    });
    expect(facts.tool).toMatch(/^MariaDB dump/);
  });

  it("calls a dump incomplete unless the trailer is its last line", () => {
    const cut = DUMP.slice(0, DUMP.indexOf("-- Dump completed"));
    expect(scanDump(Buffer.from(cut)).completed).toBe(false);
    expect(scanDump(Buffer.from(DUMP + "\n\n")).completed).toBe(true);
    const appended = scanDump(Buffer.from(DUMP + "INSERT INTO `orders` VALUES (9);\n"));
    expect(appended.completed).toBe(false);
    expect(appended.completedAt).toBeNull();
    // A cut inside a row: the rows before it still count, the dump is not complete.
    const mid = scanDump(Buffer.from(DUMP.slice(0, DUMP.indexOf("(5,"))));
    expect(mid.completed).toBe(false);
    expect(mid.tables.get("orders")!.rows).toBe(4);
  });

  it("reads a --databases dump of one database like a plain one, keeping its CREATE DATABASE / USE apart", () => {
    const use = (db: string) => `--\n-- Current Database: \`${db}\`\n--\n\nCREATE DATABASE /*!32312 IF NOT EXISTS*/ \`${db}\`;\n\nUSE \`${db}\`;\n\n`;
    const { facts, parts } = sections(HEADER + use("a") + ORDERS + use("a") + FOOTER);
    expect(facts.databases).toEqual(["a"]);
    expect([...facts.tables.keys()]).toEqual(["orders"]);
    const database = parts.filter(([k]) => k === "database").map(([, t]) => t).join("");
    expect(database).toContain("CREATE DATABASE");
    expect(parts.filter(([k]) => k !== "database").map(([, t]) => t).join("")).not.toMatch(/USE `a`|CREATE DATABASE/);
    const two = scanDump(Buffer.from(HEADER + use("a") + ORDERS + use("b") + ORDERS + FOOTER));
    expect(two.databases).toEqual(["a", "b"]);
    expect([...two.tables.keys()]).toEqual(["a.orders", "b.orders"]);
  });

  it("notices MySQL's GTID_PURGED", () => {
    const gtid = scanDump(Buffer.from(HEADER + "SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5';\n" + ORDERS + FOOTER.replace(/-- SET GLOBAL gtid_slave_pos.*\n/, "")));
    expect(gtid.setsGtidPurged).toBe(true);
    expect(gtid.gtid).toBe("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5");
  });

  it("keeps mysqldump's replication statements apart (SQL_LOG_BIN=0, GTID_PURGED over several lines), commented or not", () => {
    const uuids = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n4b8aa561-edcc-11f1-89cb-02fc00000001:1-191";
    const header = (gtid: string) =>
      HEADER + "SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN;\nSET @@SESSION.SQL_LOG_BIN= 0;\n\n--\n-- GTID state at the beginning of the backup \n--\n\n" + gtid + "\n\n";
    const footer = FOOTER.replace(/-- SET GLOBAL gtid_slave_pos.*\n/, "SET @@SESSION.SQL_LOG_BIN = @MYSQLDUMP_TEMP_LOG_BIN;\n");
    for (const [gtid, sets] of [
      [`/* SET @@GLOBAL.GTID_PURGED='+${uuids}';*/`, false],
      [`SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '${uuids}';`, true],
    ] as const) {
      for (const chunk of [1, 13, 100_000]) {
        const text = header(gtid) + ORDERS + footer;
        const { facts, parts } = sections(text, chunk);
        expect(facts).toMatchObject({ setsGtidPurged: sets, disablesBinlog: true, gtid: uuids.replace("\n", ""), rows: 5 });
        const replication = parts.filter(([k]) => k === "replication").map(([, t]) => t);
        expect(replication).toEqual(["SET @@SESSION.SQL_LOG_BIN= 0;\n", `${gtid}\n`, "SET @@SESSION.SQL_LOG_BIN = @MYSQLDUMP_TEMP_LOG_BIN;\n"]);
        const kept = parts.filter(([k]) => k !== "replication").map(([, t]) => t).join("");
        expect(kept).not.toMatch(/SQL_LOG_BIN= 0|GTID_PURGED=|= @MYSQLDUMP_TEMP_LOG_BIN/);
        expect(kept).toContain("SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN;");
        expect(parts.map(([, t]) => t).join("")).toBe(text);
      }
    }
  });

  it("finds nothing in a file that is not a dump", () => {
    const f = scanDump(Buffer.from("hello\nworld\n"));
    expect(f.tool).toBeNull();
    expect(f.tables.size).toBe(0);
    expect(f.completed).toBe(false);
  });

  it("counts tuples with backslash escapes", () => {
    const b = Buffer.from("(1,'\\\\'),(2,'\\'(')");
    expect(countTuples(b, 0, b.length)).toBe(2);
  });
});
