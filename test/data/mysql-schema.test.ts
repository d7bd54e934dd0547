import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seq } from "../../lib/sandbox/seq";
import { Pair, startPair } from "./pair";

/**
 * MySQL-only schema features the engine must see through (issue 10, items 1–4 and 6), on a
 * real Oracle MySQL 9.7 pair: expression defaults, INVISIBLE columns and indexes, UNIQUE
 * functional indexes, a stock server without SHA1(), and JSON's own temporal types.
 */
let pair: Pair;
beforeAll(async () => {
  pair = await startPair("mysql-schema", { flavor: "mysql" });
});
afterAll(async () => {
  await pair?.stop();
});

/** Every column of every row as hex, so values are compared by bytes, never through `=`. */
async function sameRows(table: string, columns: string): Promise<void> {
  const all = `SELECT CONCAT_WS('|', ${columns
    .split(",")
    .map((c) => `HEX(${c.trim()})`)
    .join(", ")}) FROM ${table} ORDER BY 1`;
  expect(await pair.column("target", all)).toEqual(await pair.column("source", all));
}

describe("MySQL 9.7 schemas (mysql)", () => {
  it("hashes and writes columns with expression defaults (DEFAULT_GENERATED is not a generated column)", async () => {
    await pair.onBoth(
      `CREATE TABLE exprdef (
         id INT PRIMARY KEY,
         created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
         updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
         token CHAR(36) NOT NULL DEFAULT (UUID()),
         total INT AS (id * 10) STORED,
         half INT AS (id DIV 2) VIRTUAL)`,
    );
    await pair.onSource(
      "INSERT INTO exprdef (id, created_at, updated_at, token) VALUES (1, '2020-01-01 00:00:00', '2021-01-01 00:00:00', 'a'), (2, '2020-01-02 00:00:00', '2021-01-02 00:00:00', 'b'), (3, '2020-01-03 00:00:00', '2021-01-03 00:00:00', 'c')",
    );
    await pair.onTarget(
      // The same ids, but each differs only in a column with an expression default.
      "INSERT INTO exprdef (id, created_at, updated_at, token) VALUES (1, '2020-01-01 00:00:01', '2021-01-01 00:00:00', 'a'), (2, '2020-01-02 00:00:00', '2021-01-02 00:00:09', 'b'), (3, '2020-01-03 00:00:00', '2021-01-03 00:00:00', 'z')",
    );
    const v = (await pair.verify({ tables: ["exprdef"] })).tables[0];
    expect(v.changed).toBe(3);
    await pair.onSource("INSERT INTO exprdef (id, created_at, updated_at, token) VALUES (4, '1999-09-09 09:09:09', '1999-09-09 09:09:09', 'd')");
    const s = await pair.sync({ tables: ["exprdef"] });
    expect({ identical: s.identical, inserted: s.inserted, updated: s.updated }).toEqual({ identical: true, inserted: 1, updated: 3 });
    await sameRows("exprdef", "id, created_at, updated_at, token, total, half");
  });

  it("hashes and writes INVISIBLE columns, which SELECT * leaves out", async () => {
    await pair.onBoth("CREATE TABLE invcol (id INT PRIMARY KEY, v INT, secret VARCHAR(10) INVISIBLE)");
    await pair.onSource("INSERT INTO invcol (id, v, secret) VALUES (1, 1, 'x'), (2, 2, 'y')");
    await pair.onTarget("INSERT INTO invcol (id, v, secret) VALUES (1, 1, 'x'), (2, 2, 'other')");
    expect((await pair.verify({ tables: ["invcol"] })).tables[0].changed).toBe(1);
    expect((await pair.sync({ tables: ["invcol"] })).identical).toBe(true);
    await sameRows("invcol", "id, v, secret");
  });

  it("never chooses an INVISIBLE unique index as the key (FORCE INDEX on it fails), and says which key it used", async () => {
    // No primary key: InnoDB clusters on the first UNIQUE NOT NULL index (which may not be
    // invisible), and the narrower invisible `ua` is the one the key choice would prefer.
    await pair.onBoth(
      "CREATE TABLE invkey (a INT NOT NULL, b INT NOT NULL, v INT, UNIQUE KEY ub_wide (b, a), UNIQUE KEY ua (a) INVISIBLE)",
      "INSERT INTO invkey VALUES (1, 10, 1), (2, 20, 2), (3, 30, 3)",
    );
    await pair.onSource("UPDATE invkey SET v = 0 WHERE a = 2", "INSERT INTO invkey VALUES (4, 40, 4)");
    const v = await pair.verify({ tables: ["invkey"] });
    expect(v.tables[0]).toMatchObject({ key: "ub_wide", changed: 1, missing: 1 });
    expect((await pair.sync({ tables: ["invkey"] })).identical).toBe(true);
    await sameRows("invkey", "a, b, v");
  });

  it("displaces target rows that hold a UNIQUE functional index value an incoming row needs, on every rerun", async () => {
    await pair.onBoth(
      "CREATE TABLE m_func2 (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(10), UNIQUE KEY f_uq ((v * 1)))",
      `INSERT INTO m_func2 SELECT seq, seq * 10, 'x' FROM ${seq(1, 3000)}`,
    );
    // Rows 1 and 2500 swap their unique values on the source; they sit in different chunks, so
    // writing row 1 meets row 2500 still holding 25000 on the target.
    await pair.onSource("UPDATE m_func2 SET v = -1 WHERE id = 1", "UPDATE m_func2 SET v = 10 WHERE id = 2500", "UPDATE m_func2 SET v = 25000 WHERE id = 1");
    const s = await pair.sync({ tables: ["m_func2"], chunkSize: 100 });
    expect(s.identical).toBe(true);
    expect(s.tables[0].displaced).toBeGreaterThan(0);
    await sameRows("m_func2", "id, v, note");
    expect((await pair.sync({ tables: ["m_func2"], chunkSize: 100 })).identical).toBe(true);
  });

  it("displaces by a UNIQUE index on a generated column too", async () => {
    await pair.onBoth(
      "CREATE TABLE m_gen (id INT PRIMARY KEY, email VARCHAR(40) NOT NULL, lower_email VARCHAR(40) AS (LOWER(email)) VIRTUAL, UNIQUE KEY u_lower (lower_email))",
      `INSERT INTO m_gen (id, email) SELECT seq, CONCAT('u', seq, '@x') FROM ${seq(1, 3000)}`,
    );
    await pair.onSource("UPDATE m_gen SET email = 'tmp' WHERE id = 1", "UPDATE m_gen SET email = 'U1@X' WHERE id = 2600", "UPDATE m_gen SET email = 'U2600@x' WHERE id = 1");
    const s = await pair.sync({ tables: ["m_gen"], chunkSize: 100 });
    expect(s.identical).toBe(true);
    expect(s.tables[0].displaced).toBeGreaterThan(0);
    await sameRows("m_gen", "id, email");
  });

  it("keeps JSON's temporal scalars as JSON DATETIME/DATE/TIME through a sync, and sees a string in their place as a difference", async () => {
    await pair.onBoth("CREATE TABLE docs (id INT PRIMARY KEY, doc JSON)");
    await pair.onSource(
      "INSERT INTO docs VALUES (1, JSON_OBJECT('t', CAST('2024-05-06 07:08:09.123456' AS DATETIME(6)), 'd', CAST('2024-05-06' AS DATE), 'n', JSON_ARRAY(1, CAST('10:11:12' AS TIME), 'x'))), (2, JSON_OBJECT('s', 'plain')), (3, CAST(CAST('2001-02-03 04:05:06' AS DATETIME) AS JSON))",
    );
    // The target holds the same text, but its "temporals" are strings (what a text copy gives).
    await pair.onTarget("INSERT INTO docs SELECT 1, CAST(? AS JSON)".replace("?", "'{\"d\": \"2024-05-06\", \"n\": [1, \"10:11:12.000000\", \"x\"], \"t\": \"2024-05-06 07:08:09.123456\"}'"));
    const v = (await pair.verify({ tables: ["docs"] })).tables[0];
    expect({ missing: v.missing, changed: v.changed }).toEqual({ missing: 2, changed: 1 });
    expect((await pair.sync({ tables: ["docs"] })).identical).toBe(true);
    const types = "SELECT CONCAT_WS(',', id, JSON_TYPE(doc->'$.t'), JSON_TYPE(doc->'$.d'), JSON_TYPE(doc->'$.n[1]'), JSON_TYPE(doc)) FROM docs ORDER BY id";
    expect(await pair.column("target", types)).toEqual(["1,DATETIME,DATE,TIME,OBJECT", "2,OBJECT", "3,DATETIME"]);
    await sameRows("docs", "id, doc");
  });
});
