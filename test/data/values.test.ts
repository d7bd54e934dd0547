import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testFlavors } from "../../lib/sandbox/server";
import { Pair, startPair } from "./pair";

/**
 * The value traps of issue 3: each is a difference that `=` under the column's collation,
 * a float print or a time zone would hide. For every trap: identical copies verify as
 * identical; one change on the source is reported as exactly that row; sync makes the
 * target byte-for-byte equal (compared with HEX() of every column, so not through `=`).
 */
describe.each(testFlavors())("value traps (%s)", (flavor) => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair("values", { flavor });
  });
  afterAll(async () => {
    await pair?.stop();
  });

  interface Trap {
    readonly name: string;
    /** Column definitions after `id INT PRIMARY KEY`. */
    readonly columns: string;
    /** VALUES rows inserted on both servers. */
    readonly rows: string;
    /** Statements on the source that create the difference. */
    readonly change: string[];
    readonly expected: { missing?: number; extra?: number; changed?: number };
  }

  const TRAPS: Trap[] = [
    {
      name: "null_empty_text",
      columns: "v VARCHAR(10) NULL",
      rows: "(1, NULL), (2, ''), (3, 'NULL')",
      change: ["UPDATE t SET v = CASE id WHEN 1 THEN '' WHEN 2 THEN 'NULL' ELSE NULL END"],
      expected: { changed: 3 },
    },
    {
      name: "case_only_ci",
      columns: "v VARCHAR(20) COLLATE utf8mb4_general_ci NOT NULL",
      rows: "(1, 'Seoul'), (2, 'Busan')",
      change: ["UPDATE t SET v = 'SEOUL' WHERE id = 1"],
      expected: { changed: 1 },
    },
    {
      name: "accent_only_ci",
      columns: "v VARCHAR(20) COLLATE utf8mb4_unicode_ci NOT NULL",
      rows: "(1, 'resume'), (2, 'cafe')",
      change: ["UPDATE t SET v = 'résumé' WHERE id = 1"],
      expected: { changed: 1 },
    },
    {
      name: "trailing_space_pad",
      columns: "v VARCHAR(20) COLLATE utf8mb4_general_ci NOT NULL",
      rows: "(1, 'a'), (2, 'b')",
      change: ["UPDATE t SET v = 'a  ' WHERE id = 1"],
      expected: { changed: 1 },
    },
    {
      // One collation for every text column: hashed without casts (sql.ts), still by bytes.
      name: "shifted_between_columns",
      columns: "a VARCHAR(10) COLLATE utf8mb4_general_ci NULL, b VARCHAR(10) COLLATE utf8mb4_general_ci NULL, v VARBINARY(4) NULL",
      rows: "(1, 'ab', 'c', X'00'), (2, 'x', NULL, NULL), (3, 'K', 'z', X'01')",
      change: ["UPDATE t SET a = 'a', b = 'bc' WHERE id = 1", "UPDATE t SET a = NULL, b = 'x' WHERE id = 2", "UPDATE t SET a = 'k' WHERE id = 3"],
      expected: { changed: 3 },
    },
    {
      name: "latin1_high_bytes",
      columns: "a VARCHAR(10) CHARACTER SET latin1 NOT NULL, b TEXT CHARACTER SET latin1 NULL",
      rows: "(1, _latin1 X'E9FF80', _latin1 X'8081'), (2, 'plain', NULL)",
      change: ["UPDATE t SET a = _latin1 X'C9FF80' WHERE id = 1", "UPDATE t SET b = '' WHERE id = 2"],
      expected: { changed: 2 },
    },
    {
      name: "double_float_last_digit",
      columns: "d DOUBLE NOT NULL, f FLOAT NOT NULL",
      rows: "(1, 0.1, 1.0000001), (2, 16777216, 16777216)",
      change: ["UPDATE t SET d = 0.10000000000000002 WHERE id = 1", "UPDATE t SET f = 1.0000002 WHERE id = 2"],
      expected: { changed: 2 },
    },
    {
      name: "decimal_30_10",
      columns: "v DECIMAL(30,10) NOT NULL",
      rows: "(1, '12345678901234567890.0123456789'), (2, '-0.0000000001')",
      change: ["UPDATE t SET v = '12345678901234567890.0123456788' WHERE id = 1"],
      expected: { changed: 1 },
    },
    {
      name: "temporal_edges",
      columns: "dt DATETIME(6) NOT NULL, tm TIME(6) NOT NULL, y YEAR NOT NULL, d DATE NOT NULL",
      rows: "(1, '1000-01-01 00:00:00.000000', '-838:59:59', 1901, '1000-01-01'), (2, '9999-12-31 23:59:59.999999', '838:59:59', 2155, '9999-12-31')",
      change: ["UPDATE t SET dt = '9999-12-31 23:59:59.999998' WHERE id = 2", "UPDATE t SET tm = '-838:59:58' WHERE id = 1"],
      expected: { changed: 2 },
    },
    {
      name: "json_text",
      columns: "j JSON NULL",
      rows: `(1, '{"a":1}'), (2, '[1,2]')`,
      // MariaDB's JSON is LONGTEXT: whitespace alone is a change. MySQL's binary JSON drops
      // whitespace and even takes 1.0 = 1 as no change (the UPDATE changes no row), so the
      // trap is a number that became a string, a change on both.
      change: [`UPDATE t SET j = '{"a": "1"}' WHERE id = 1`],
      expected: { changed: 1 },
    },
    {
      name: "blob_zero_bytes",
      columns: "b BLOB NULL, vb VARBINARY(8) NULL",
      rows: "(1, X'00', X''), (2, X'0000', NULL)",
      change: ["UPDATE t SET b = X'0000' WHERE id = 1", "UPDATE t SET vb = X'' WHERE id = 2"],
      expected: { changed: 2 },
    },
    {
      name: "bit_enum_set",
      columns: "b BIT(10) NOT NULL, e ENUM('a','b') NOT NULL, s SET('x','y') NOT NULL",
      rows: "(1, b'1', 'a', 'x'), (2, b'1111111111', 'b', 'x,y')",
      change: ["UPDATE t SET b = b'10' WHERE id = 1", "UPDATE t SET s = 'y' WHERE id = 2"],
      expected: { changed: 2 },
    },
    {
      name: "utf8_4byte",
      columns: "v VARCHAR(10) CHARACTER SET utf8mb4 NOT NULL",
      rows: "(1, '😀'), (2, '𝄞')",
      change: ["UPDATE t SET v = '😁' WHERE id = 1"],
      expected: { changed: 1 },
    },
    {
      name: "longtext_multi_mb",
      columns: "v LONGTEXT NOT NULL",
      rows: "(1, REPEAT('x', 3000000)), (2, 'small')",
      change: ["UPDATE t SET v = INSERT(v, 1500000, 1, 'y') WHERE id = 1", "INSERT INTO t VALUES (3, REPEAT('z', 2500000))"],
      expected: { changed: 1, missing: 1 },
    },
    {
      name: "generated_columns",
      columns: "a INT NOT NULL, v INT AS (a * 2) VIRTUAL, s VARCHAR(20) AS (CONCAT('n', a)) STORED",
      rows: "(1, 1, DEFAULT, DEFAULT), (2, 2, DEFAULT, DEFAULT)",
      change: ["UPDATE t SET a = 20 WHERE id = 2", "INSERT INTO t (id, a) VALUES (3, 3)", "DELETE FROM t WHERE id = 1"],
      expected: { changed: 1, missing: 1, extra: 1 },
    },
  ];

  /** Every column of every row as hex, read on one side: equal lists mean equal bytes. */
  async function hexRows(side: "source" | "target", table: string): Promise<unknown[]> {
    const cols = (await pair.column(side, `SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = '${table}' ORDER BY ORDINAL_POSITION`)) as string[];
    const expr = cols.map((c) => `IFNULL(HEX(\`${c}\`), 'NULL')`).join(", '|', ");
    return pair.column(side, `SELECT CONCAT(${expr}) FROM \`${table}\` ORDER BY id`);
  }

  describe("verify and sync are exact for every value trap", () => {
    for (const trap of TRAPS) {
      it(`${trap.name}: a change is found and copied byte for byte`, async () => {
        const table = trap.name;
        await pair.onBoth(`CREATE TABLE \`${table}\` (id INT PRIMARY KEY, ${trap.columns})`, `INSERT INTO \`${table}\` VALUES ${trap.rows}`);
        const before = await pair.verify({ tables: [table] });
        expect(before.identical).toBe(true);

        for (const sql of trap.change) await pair.onSource(sql.replace(/\bt\b/, `\`${table}\``));
        const found = (await pair.verify({ tables: [table] })).tables[0];
        expect(found.identical).toBe(false);
        expect({ missing: found.missing, extra: found.extra, changed: found.changed }).toEqual({
          missing: trap.expected.missing ?? 0,
          extra: trap.expected.extra ?? 0,
          changed: trap.expected.changed ?? 0,
        });

        const synced = await pair.sync({ tables: [table] });
        expect(synced.identical).toBe(true);
        // Proven by the target-only re-check: node's checksum of the source's row hashes equals
        // the server's checksum of the same rows, for this type too.
        expect(synced.verify?.tables[0].checked).toBe("target");
        expect(await hexRows("target", table)).toEqual(await hexRows("source", table));
      });
    }

    it("a TIMESTAMP never shifts between a UTC source and a KST target", async () => {
      await pair.onBoth("CREATE TABLE ts (id INT PRIMARY KEY, at TIMESTAMP(3) NULL)");
      // The same instant written in each server's own zone.
      await pair.source.exec("INSERT INTO app.ts VALUES (1, '2024-03-01 00:00:00.250')");
      await pair.target.exec("SET time_zone = '+09:00'", "INSERT INTO app.ts VALUES (1, '2024-03-01 09:00:00.250')");
      expect((await pair.verify({ tables: ["ts"] })).identical).toBe(true);

      await pair.onSource("UPDATE ts SET at = at + INTERVAL 1 SECOND");
      expect((await pair.verify({ tables: ["ts"] })).tables[0].changed).toBe(1);
      expect((await pair.sync({ tables: ["ts"] })).identical).toBe(true);
      const epoch = (side: "source" | "target") => pair.column(side, "SELECT UNIX_TIMESTAMP(at) FROM ts");
      expect(await epoch("target")).toEqual(await epoch("source"));
    });

    it("reports which columns of a changed row differ", async () => {
      await pair.onBoth("CREATE TABLE cols (id INT PRIMARY KEY, a INT, b VARCHAR(5), c INT)", "INSERT INTO cols VALUES (1, 1, 'x', 1)");
      await pair.onSource("UPDATE cols SET b = 'X', c = 2");
      const t = (await pair.verify({ tables: ["cols"] })).tables[0];
      expect(t.sampleKeys).toEqual([{ kind: "changed", key: { id: "1" }, columns: ["b", "c"] }]);
    });
  });
});
