import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testFlavors } from "../../lib/sandbox/server";
import { seq } from "../../lib/sandbox/seq";
import { Pair, startPair } from "./pair";

/**
 * Row identity and chunking: composite and non-integer keys, odd names, a unique key
 * standing in for a missing primary key, tables without any key, many chunks, a table
 * emptied on the source, and rows that swap a unique value.
 */
describe.each(testFlavors())("keys (%s)", (flavor) => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair("keys", { flavor });
  });
  afterAll(async () => {
    await pair?.stop();
  });

  describe("keys and chunks", () => {
    it("syncs a composite key over many small chunks", async () => {
      await pair.onBoth(
        "CREATE TABLE comp (region VARCHAR(8) NOT NULL, n INT NOT NULL, v INT, PRIMARY KEY (region, n))",
        `INSERT INTO comp SELECT ELT(1 + seq % 3, 'apac', 'emea', 'us'), seq, seq FROM ${seq(1, 3000)}`,
      );
      await pair.onSource(
        "UPDATE comp SET v = -v WHERE n % 97 = 0",
        "DELETE FROM comp WHERE n % 101 = 0",
        `INSERT INTO comp SELECT 'zz', seq, 0 FROM ${seq(1, 50)}`,
      );
      await pair.onTarget("INSERT INTO comp VALUES ('aaa', 1, 1)");
      const v = (await pair.verify({ tables: ["comp"], chunkSize: 100 })).tables[0];
      expect(v.chunks).toBeGreaterThan(25);
      expect({ missing: v.missing, extra: v.extra, changed: v.changed }).toEqual({ missing: 50, extra: 1 + 29, changed: 30 });
      const s = await pair.sync({ tables: ["comp"], chunkSize: 100 });
      expect(s.identical).toBe(true);
      expect({ inserted: s.inserted, updated: s.updated, deleted: s.deleted }).toEqual({ inserted: 50, updated: 30, deleted: 30 });
    });

    it("cuts integer keys by value across gaps, dense stretches, negatives and BIGINT UNSIGNED's top", async () => {
      // No keyset walk for one integer column (chunker.ts stepByValue): the chunks must still
      // cover every key either side has, whatever the spacing.
      await pair.onBoth(
        "CREATE TABLE spaced (id BIGINT UNSIGNED PRIMARY KEY, v INT)",
        // A dense run, a sparse run (every 1,000,000th value), and the last values below 2^64.
        `INSERT INTO spaced SELECT seq, seq FROM ${seq(1, 2000)}`,
        `INSERT INTO spaced SELECT seq * 1000000, seq FROM ${seq(1, 300)}`,
        "INSERT INTO spaced VALUES (18446744073709551613, 1), (18446744073709551615, 2)",
        "CREATE TABLE signed_key (id INT PRIMARY KEY, v INT)",
        `INSERT INTO signed_key SELECT CAST(seq AS SIGNED) - 1500, seq FROM ${seq(1, 3000)}`,
      );
      await pair.onSource(
        "UPDATE spaced SET v = -v WHERE id % 7 = 0 OR id = 18446744073709551615",
        "DELETE FROM spaced WHERE id BETWEEN 500 AND 900",
        "INSERT INTO spaced VALUES (18446744073709551614, 3), (0, 0)",
        "UPDATE signed_key SET v = 0 WHERE id % 10 = 0",
      );
      // Rows only the target has, below the source's first key and above its last.
      await pair.onTarget("INSERT INTO signed_key VALUES (-100000, 1), (100000, 1)");
      const v = await pair.verify({ tables: ["spaced", "signed_key"], chunkSize: 200 });
      const [spaced, signed] = v.tables;
      expect(spaced.chunks).toBeGreaterThan(10);
      expect({ missing: spaced.missing, extra: spaced.extra }).toEqual({ missing: 2, extra: 401 });
      expect({ missing: signed.missing, extra: signed.extra, changed: signed.changed }).toEqual({ missing: 0, extra: 2, changed: 300 });
      const s = await pair.sync({ tables: ["spaced", "signed_key"], chunkSize: 200, allowShrink: ["spaced"] });
      expect(s.identical).toBe(true);
      for (const t of ["spaced", "signed_key"]) {
        const all = `SELECT CONCAT(id, ':', v) FROM ${t} ORDER BY id`;
        expect(await pair.column("target", all)).toEqual(await pair.column("source", all));
      }
    });

    it("treats a key that changed only in case (utf8mb4_general_ci) as the row it is", async () => {
      await pair.onBoth(
        "CREATE TABLE ci_key (code VARCHAR(10) COLLATE utf8mb4_general_ci PRIMARY KEY, v INT)",
        "INSERT INTO ci_key VALUES ('abc', 1), ('def', 2)",
      );
      await pair.onSource("UPDATE ci_key SET code = 'ABC' WHERE code = 'abc'");
      const v = (await pair.verify({ tables: ["ci_key"] })).tables[0];
      expect(v.identical).toBe(false);
      expect((await pair.sync({ tables: ["ci_key"] })).identical).toBe(true);
      expect(await pair.column("target", "SELECT HEX(code) FROM ci_key ORDER BY v")).toEqual(["414243", "646566"]);
    });

    it("syncs a BINARY(16) key with zero bytes", async () => {
      await pair.onBoth(
        "CREATE TABLE uuid_key (id BINARY(16) PRIMARY KEY, v VARCHAR(10))",
        "INSERT INTO uuid_key VALUES (X'00000000000000000000000000000000', 'zero'), (X'FFEEDDCCBBAA99887766554433221100', 'high')",
      );
      await pair.onSource("INSERT INTO uuid_key VALUES (X'00000000000000000000000000000001', 'one')", "UPDATE uuid_key SET v = 'ZERO' WHERE v = 'zero'");
      const v = (await pair.verify({ tables: ["uuid_key"] })).tables[0];
      expect({ missing: v.missing, changed: v.changed }).toEqual({ missing: 1, changed: 1 });
      expect(v.sampleKeys[0].key).toEqual({ id: "0x00000000000000000000000000000001" });
      expect((await pair.sync({ tables: ["uuid_key"] })).identical).toBe(true);
    });

    it("handles reserved words and odd characters in table and column names", async () => {
      const table = "`select-from we``ird`";
      await pair.onBoth(
        `CREATE TABLE ${table} (\`order\` INT PRIMARY KEY, \`group by\` VARCHAR(10), \`dé\`\`j,à\` INT)`,
        `INSERT INTO ${table} VALUES (1, 'a', 1), (2, 'b', 2)`,
      );
      await pair.onSource(`UPDATE ${table} SET \`group by\` = 'B' WHERE \`order\` = 2`, `INSERT INTO ${table} VALUES (3, 'c', 3)`);
      const s = await pair.sync({ tables: ["select-from we`ird"] });
      expect(s.identical).toBe(true);
      expect(s.tables[0]).toMatchObject({ inserted: 1, updated: 1, deleted: 0 });
    });

    it("uses a unique key on NOT NULL columns when there is no primary key", async () => {
      await pair.onBoth("CREATE TABLE uk_only (email VARCHAR(40) NOT NULL, v INT, UNIQUE KEY uk_email (email))", "INSERT INTO uk_only VALUES ('a@x', 1)");
      await pair.onSource("INSERT INTO uk_only VALUES ('b@x', 2)");
      const s = await pair.sync({ tables: ["uk_only"] });
      expect(s.identical).toBe(true);
      expect(s.inserted).toBe(1);
    });

    it("refuses to sync a table without a primary or usable unique key, saying what to do; verify reports it not comparable", async () => {
      await pair.onBoth("CREATE TABLE no_key (a INT NULL, b INT, UNIQUE KEY (a))");
      const v = await pair.verify({ tables: ["no_key"] });
      expect(v.tables[0]).toMatchObject({ table: "no_key", identical: false, comparable: false, notComparable: expect.stringContaining("rows cannot be identified") });
      await expect(pair.sync({ tables: ["no_key"] })).rejects.toMatchObject({
        code: "TABLE_NO_KEY",
        subject: "no_key",
        hint: expect.stringContaining("add a primary key"),
      });
    });

    it("empties the target's copy of a table emptied on the source, chunk by chunk", async () => {
      await pair.onBoth("CREATE TABLE emptied (id INT PRIMARY KEY, v INT)", `INSERT INTO emptied SELECT seq, seq FROM ${seq(1, 2500)}`);
      await pair.onSource("DELETE FROM emptied");
      const v = (await pair.verify({ tables: ["emptied"], chunkSize: 100 })).tables[0];
      expect({ sourceRows: v.sourceRows, targetRows: v.targetRows, extra: v.extra, mismatchPct: v.mismatchPct }).toEqual({
        sourceRows: 0,
        targetRows: 2500,
        extra: 2500,
        mismatchPct: 100,
      });
      expect(v.sampleKeys.slice(0, 2)).toEqual([
        { kind: "extra", key: { id: "1" } },
        { kind: "extra", key: { id: "2" } },
      ]);
      // The shrink guard refuses a source that lost every row unless the table is named as intended.
      await expect(pair.sync({ tables: ["emptied"], chunkSize: 100 })).rejects.toThrow("SHRINK_REFUSED: emptied: the target has 2500 rows, the source 0");
      const s = await pair.sync({ tables: ["emptied"], chunkSize: 100, allowShrink: ["emptied"] });
      expect(s).toMatchObject({ identical: true, deleted: 2500 });
      // One transaction per chunk: the huge single range was split before writing.
      expect(s.tables[0].chunksChanged).toBeGreaterThanOrEqual(25);
    });

    it("syncs rows that swap a secondary unique value (delete-insert strategy)", async () => {
      await pair.onBoth(
        "CREATE TABLE swap (id INT PRIMARY KEY, email VARCHAR(20) NOT NULL, UNIQUE KEY uk (email))",
        "INSERT INTO swap VALUES (1, 'a@x'), (2, 'b@x'), (3, 'c@x')",
      );
      await pair.onSource(
        "UPDATE swap SET email = 'tmp' WHERE id = 1",
        "UPDATE swap SET email = 'a@x' WHERE id = 2",
        "UPDATE swap SET email = 'b@x' WHERE id = 1",
        "UPDATE swap SET email = 'd@x' WHERE id = 3",
        "INSERT INTO swap VALUES (4, 'c@x')",
      );
      const s = await pair.sync({ tables: ["swap"] });
      expect(s.identical).toBe(true);
      expect(s.tables[0]).toMatchObject({ strategy: "delete-insert", updated: 3, inserted: 1 });
    });

    it("raises the target's AUTO_INCREMENT to the source's", async () => {
      await pair.onBoth("CREATE TABLE ai (id INT AUTO_INCREMENT PRIMARY KEY, v INT)", "INSERT INTO ai (v) VALUES (1)");
      await pair.onSource("INSERT INTO ai (v) VALUES (2), (3)", "DELETE FROM ai WHERE v = 3");
      const s = await pair.sync({ tables: ["ai"] });
      expect(s.tables[0].autoIncrement).toMatchObject({ source: 4, raisedTo: 4 });
      await pair.onTarget("INSERT INTO ai (v) VALUES (9)");
      expect(await pair.column("target", "SELECT id FROM ai WHERE v = 9")).toEqual([4]);
    });
  });
});
