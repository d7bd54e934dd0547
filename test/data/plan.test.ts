import { describe, expect, it } from "vitest";
import { KeyDensity } from "../../lib/data/chunker";
import { checksumFromRow, checksumOfHashes } from "../../lib/data/compare";
import { CHECKSUM_ROOM } from "../../lib/data/sql";
import { chooseKey, planTable } from "../../lib/data/plan";
import { preflight } from "../../lib/data/preflight";
import { mismatchPct } from "../../lib/data/report";
import { diffRows } from "../../lib/data/row-diff";
import { jsonTemporalsSql, rangePredicate, rowEncoding, selectRowsSql } from "../../lib/data/sql";
import type { ColumnInfo, TableSchema } from "../../lib/data/types";
import { columnKind, jsonLiteral, keyLiteral } from "../../lib/data/values";

/** The pure decisions of the data engine, without a server. */
function col(name: string, dataType: string, extra: Partial<ColumnInfo> = {}): ColumnInfo {
  return {
    name,
    dataType,
    columnType: dataType,
    kind: columnKind(dataType),
    nullable: false,
    charset: ["varchar", "char", "text"].includes(dataType) ? "utf8mb4" : null,
    collation: null,
    generated: false,
    generationExpression: null,
    extra: "",
    ...extra,
  };
}

function table(name: string, columns: ColumnInfo[], indexes: TableSchema["indexes"], triggers: string[] = []): TableSchema {
  return { name, engine: "InnoDB", collation: null, autoIncrement: null, estimatedRows: 0, columns, indexes, foreignKeys: [], triggers };
}

const PK = [{ name: "PRIMARY", unique: true, columns: ["id"], prefix: false, functional: false, hidden: false }];

const orders = table(
  "orders",
  [col("region", "varchar"), col("id", "bigint"), col("note", "text", { nullable: true }), col("total2", "int", { generated: true, generationExpression: "id*2" })],
  [{ name: "PRIMARY", unique: true, columns: ["region", "id"], prefix: false, functional: false, hidden: false }],
);

describe("data engine decisions", () => {
  it("spells composite key ranges out so the range optimizer can use the index", () => {
    const plan = planTable(orders, orders, chooseKey(orders) as never);
    expect(rangePredicate(plan, { from: ["6B72", "5"], to: ["7573", "1"] })).toBe(
      "(`region` > _utf8mb4 X'6B72' OR (`region` = _utf8mb4 X'6B72' AND `id` >= 5)) AND (`region` < _utf8mb4 X'7573' OR (`region` = _utf8mb4 X'7573' AND `id` < 1))",
    );
    expect(rangePredicate(plan, {})).toBe("1=1");
  });

  it("hashes lengths and a NULL bitmap so NULL, '' and 'NULL' differ, and never hashes generated columns", () => {
    const plan = planTable(orders, orders, chooseKey(orders) as never);
    const enc = rowEncoding(plan);
    expect(enc).toContain("LENGTH(`note`), CAST(`note` AS BINARY)");
    expect(enc).toContain("CONCAT(ISNULL(`note`))");
    expect(enc).not.toContain("total2");
  });

  it("hashes stored bytes without casts only when every text column shares one collation of an ASCII-compatible set", () => {
    const ci = { charset: "utf8mb4", collation: "utf8mb4_general_ci" };
    const same = table("t", [col("id", "bigint"), col("a", "varchar", ci), col("b", "text", { ...ci, nullable: true }), col("v", "varbinary")], PK);
    const plan = planTable(same, same, chooseKey(same) as never);
    expect(rowEncoding(plan)).toBe("CONCAT_WS(',', `id`, LENGTH(`a`), `a`, LENGTH(`b`), `b`, LENGTH(`v`), `v`, CONCAT(ISNULL(`b`)))");
    const mixed = table("t", [col("id", "bigint"), col("a", "varchar", ci), col("b", "text", { ...ci, collation: "utf8mb4_unicode_ci" })], PK);
    expect(rowEncoding(planTable(mixed, mixed, chooseKey(mixed) as never))).toContain("CAST(`b` AS BINARY)");
    const sjis = table("t", [col("id", "bigint"), col("a", "varchar", { charset: "sjis", collation: "sjis_japanese_ci" })], PK);
    expect(rowEncoding(planTable(sjis, sjis, chooseKey(sjis) as never))).toContain("CAST(`a` AS BINARY)");
  });

  it("prefers the primary key, else a unique key on NOT NULL columns, and explains refusals", () => {
    const uk = table("t", [col("a", "int"), col("b", "int", { nullable: true })], [
      { name: "u_b", unique: true, columns: ["b"], prefix: false, functional: false, hidden: false },
      { name: "u_a", unique: true, columns: ["a"], prefix: false, functional: false, hidden: false },
    ]);
    expect(chooseKey(uk)).toMatchObject({ index: "u_a" });
    const none = table("t", [col("f", "float")], [{ name: "PRIMARY", unique: true, columns: ["f"], prefix: false, functional: false, hidden: false }]);
    expect(chooseKey(none)).toEqual({ problem: "no usable primary or unique key (PRIMARY is a FLOAT key)" });
  });

  it("hashes MySQL JSON with its string paths, and reads its temporal scalars only for written rows", () => {
    const t = table("t", [col("id", "int"), col("doc", "json", { nullable: true, charset: "utf8mb4", collation: "utf8mb4_bin" })], PK);
    const plan = planTable(t, t, chooseKey(t) as never);
    expect(rowEncoding(plan)).toBe(
      "CONCAT_WS(',', `id`, LENGTH(`doc`), CAST(`doc` AS BINARY), CAST(IFNULL(JSON_SEARCH(`doc`, 'all', '%'), '') AS BINARY), CONCAT(ISNULL(`doc`)))",
    );
    expect(jsonTemporalsSql(plan.columns[1])).toBe(
      "(WITH RECURSIVE w(p, v) AS (SELECT CAST('$' AS CHAR(4096)), `doc` " +
        "UNION ALL SELECT CONCAT(w.p, '.', JSON_QUOTE(k.k)), JSON_EXTRACT(w.v, CONCAT('$.', JSON_QUOTE(k.k))) " +
        "FROM w, JSON_TABLE(JSON_KEYS(w.v), '$[*]' COLUMNS (k VARCHAR(4096) PATH '$')) k WHERE JSON_TYPE(w.v) = 'OBJECT' " +
        "UNION ALL SELECT CONCAT(w.p, '[', a.i - 1, ']'), JSON_EXTRACT(w.v, CONCAT('$[', a.i - 1, ']')) " +
        "FROM w, JSON_TABLE(w.v, '$[*]' COLUMNS (i FOR ORDINALITY)) a WHERE JSON_TYPE(w.v) = 'ARRAY') " +
        "SELECT JSON_ARRAYAGG(JSON_ARRAY(p, JSON_TYPE(v), JSON_UNQUOTE(v))) FROM w WHERE JSON_TYPE(v) IN ('DATE', 'TIME', 'DATETIME'))",
    );
    expect(selectRowsSql(plan, "1=1", ["(`id` * 2)"])).toBe("SELECT CONCAT(`id`), `id`, `doc`, (`id` * 2) FROM `t` FORCE INDEX (`PRIMARY`) WHERE 1=1");
    const doc = Buffer.from('{"t": "2024-05-06 07:08:09.000000"}');
    expect(jsonLiteral(plan.columns[1], doc, Buffer.from('[["$.\\"t\\"", "DATETIME", "2024-05-06 07:08:09.000000"]]'))).toBe(
      `JSON_SET(CAST(_utf8mb4 X'${doc.toString("hex")}' AS JSON), _utf8mb4 X'${Buffer.from('$."t"').toString("hex")}', CAST('2024-05-06 07:08:09.000000' AS DATETIME(6)))`,
    );
    expect(jsonLiteral(plan.columns[1], doc, null)).toBe(`_utf8mb4 X'${doc.toString("hex")}'`);
  });

  it("never takes an INVISIBLE/IGNORED or functional unique index as the key, and says why", () => {
    const t = table("t", [col("a", "int"), col("b", "int")], [
      { name: "u_inv", unique: true, columns: ["a"], prefix: false, functional: false, hidden: true },
      { name: "u_fn", unique: true, columns: ["(`a` * 2)"], prefix: false, functional: true, hidden: false },
    ]);
    expect(chooseKey(t)).toEqual({
      problem: "no usable primary or unique key (u_fn is a functional index; u_inv is INVISIBLE (the optimizer may not use it))",
    });
  });

  it("refuses triggers on the target for sync with refuseTriggers, never for verify", () => {
    const s = table("t", [col("id", "int")], [{ name: "PRIMARY", unique: true, columns: ["id"], prefix: false, functional: false, hidden: false }]);
    const t = { ...s, triggers: ["t_ai"] };
    const maps = [new Map([["t", s]]), new Map([["t", t]])] as const;
    expect(() => preflight(...maps, { mode: "sync", refuseTriggers: true })).toThrow(/TARGET_TRIGGERS: t: t: the target has triggers \(t_ai\)/);
    expect(preflight(...maps, { mode: "verify" })[0].plan).toBeDefined();
    expect(preflight(...maps, { mode: "sync" })).toHaveLength(1);
  });

  it("classifies rows by exact key bytes", () => {
    const d = diffRows(
      [["1", "aa"], ["2", "bb"], ["3", "cc"]],
      [["2", "bb"], ["3", "cd"], ["4", "dd"]],
    );
    expect(d).toEqual({ missing: [["1"]], extra: [["4"]], changed: [["3"]] });
  });

  it("diffs rows by exact key bytes whatever their order, pairing aligned runs without a map", () => {
    const rows = (keys: number[], changedAt: number[] = []) => keys.map((k) => [String(k), changedAt.includes(k) ? "x" : "h"] as const);
    const source = rows([1, 2, 3, 5, 6, 7, 8, 10, 11, 12], [6, 12]);
    const target = rows([1, 2, 4, 5, 6, 9, 8, 7, 12, 13]);
    const d = diffRows(source, target);
    const ids = (l: readonly (readonly string[])[]) => l.map((t) => Number(t[0])).sort((a, b) => a - b);
    expect(ids(d.missing)).toEqual([3, 10, 11]);
    expect(ids(d.extra)).toEqual([4, 9, 13]);
    expect(ids(d.changed)).toEqual([6, 12]);
    // Any order, any mix: the same classification as plain set arithmetic.
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    for (let trial = 0; trial < 200; trial++) {
      const s = [...Array(30).keys()].filter(() => rand(4) > 0).map((k) => [String(k), rand(5) ? "h" : "x"] as const);
      const t = [...Array(30).keys()].filter(() => rand(4) > 0).map((k) => [String(k), "h"] as const);
      if (rand(2)) t.reverse();
      const r = diffRows(s, t);
      const sk = new Map(s), tk = new Map(t);
      expect(ids(r.missing)).toEqual(ids([...sk.keys()].filter((k) => !tk.has(k)).map((k) => [k])));
      expect(ids(r.extra)).toEqual(ids([...tk.keys()].filter((k) => !sk.has(k)).map((k) => [k])));
      expect(ids(r.changed)).toEqual(ids([...sk].filter(([k, h]) => tk.has(k) && tk.get(k) !== h).map(([k]) => [k])));
    }
    // Keys equal only under a _ci collation are different rows.
    expect(diffRows([["6162", "h"]], [["4142", "h"]])).toEqual({ missing: [["6162"]], extra: [["4142"]], changed: [] });
  });

  it("computes the chunk checksum from row hashes as SHA-256 of their concatenation, in order", () => {
    // SELECT SHA2('ffffffffffffffff0000000000000001', 256) on MariaDB 10.11 and MySQL 9.7 (test/lib/flavor.test.ts).
    expect(checksumOfHashes([["1", "ffffffffffffffff"], ["2", "0000000000000001"]])).toEqual({
      n: 2,
      x: "a355bbf083a3077c846de79662022088725d1396a98880bdfe9f20016e9543f1",
    });
    expect(checksumOfHashes([["2", "0000000000000001"], ["1", "ffffffffffffffff"]]).x).not.toBe(checksumOfHashes([["1", "ffffffffffffffff"], ["2", "0000000000000001"]]).x);
    expect(checksumOfHashes([])).toEqual({ n: 0, x: "" });
  });

  it("learns rows per key value from compared chunks, at most 4x per chunk", () => {
    const d = new KeyDensity();
    expect(d.value).toBe(1);
    d.observe({ from: ["0"], to: ["1000"] }, 0); // a gap: widen, but only 4x
    expect(d.value).toBe(0.25);
    d.observe({ from: ["1000"], to: ["5000"] }, 1000); // exactly what was seen
    expect(d.value).toBe(0.25);
    d.observe({ from: ["5000"], to: ["6000"] }, 100000); // a dense stretch: narrow, 4x
    expect(d.value).toBe(1);
    d.observe({ from: undefined, to: ["10"] }, 5); // an open range says nothing about density
    expect(d.value).toBe(1);
    d.observe({ from: ["18446744073709551000"], to: ["18446744073709551615"] }, 615); // BIGINT UNSIGNED
    expect(d.value).toBe(1);
  });

  it("treats a checksum over more rows than GROUP_CONCAT holds as unknown, never equal", () => {
    expect(checksumFromRow(2, "abc")).toEqual({ n: 2, x: "abc" });
    expect(checksumFromRow(0, null)).toEqual({ n: 0, x: "" });
    expect(checksumFromRow(CHECKSUM_ROOM / 16, "abc").x).toBe("abc");
    expect(checksumFromRow(CHECKSUM_ROOM / 16 + 1, "abc").x).toBeNull();
  });

  it("computes mismatch percentages over all distinct rows", () => {
    expect(mismatchPct(1, 1, 2, 100)).toBe(3.9604);
    expect(mismatchPct(0, 0, 0, 0)).toBe(0);
  });

  it("refuses key text that could inject SQL", () => {
    expect(() => keyLiteral(col("id", "int"), "1 OR 1=1")).toThrow(/VALUE_INVALID/);
  });
});
