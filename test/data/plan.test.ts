import { describe, expect, it } from "vitest";
import { xorOfHashes } from "../../lib/data/compare";
import { chooseKey, planTable } from "../../lib/data/plan";
import { preflight } from "../../lib/data/preflight";
import { mismatchPct } from "../../lib/data/report";
import { diffRows } from "../../lib/data/row-diff";
import { rangePredicate, rowEncoding } from "../../lib/data/sql";
import type { ColumnInfo, TableSchema } from "../../lib/data/types";
import { columnKind, keyLiteral } from "../../lib/data/values";

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

const PK = [{ name: "PRIMARY", unique: true, columns: ["id"], prefix: false }];

const orders = table(
  "orders",
  [col("region", "varchar"), col("id", "bigint"), col("note", "text", { nullable: true }), col("total2", "int", { generated: true, generationExpression: "id*2" })],
  [{ name: "PRIMARY", unique: true, columns: ["region", "id"], prefix: false }],
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
      { name: "u_b", unique: true, columns: ["b"], prefix: false },
      { name: "u_a", unique: true, columns: ["a"], prefix: false },
    ]);
    expect(chooseKey(uk)).toMatchObject({ index: "u_a" });
    const none = table("t", [col("f", "float")], [{ name: "PRIMARY", unique: true, columns: ["f"], prefix: false }]);
    expect(chooseKey(none)).toEqual({ problem: "no usable primary or unique key (PRIMARY is a FLOAT key)" });
  });

  it("refuses triggers on the target for sync but not for verify", () => {
    const s = table("t", [col("id", "int")], [{ name: "PRIMARY", unique: true, columns: ["id"], prefix: false }]);
    const t = { ...s, triggers: ["t_ai"] };
    const maps = [new Map([["t", s]]), new Map([["t", t]])] as const;
    expect(() => preflight(...maps, { mode: "sync" })).toThrow(/TARGET_TRIGGERS: t: t: the target has triggers \(t_ai\)/);
    expect(preflight(...maps, { mode: "verify" })[0].plan).toBeDefined();
    expect(preflight(...maps, { mode: "sync", allowTriggers: true })).toHaveLength(1);
  });

  it("classifies rows by exact key bytes", () => {
    const d = diffRows(
      [["1", "aa"], ["2", "bb"], ["3", "cc"]],
      [["2", "bb"], ["3", "cd"], ["4", "dd"]],
    );
    expect(d).toEqual({ missing: [["1"]], extra: [["4"]], changed: [["3"]] });
  });

  it("computes the chunk checksum from row hashes exactly as BIT_XOR(CONV(h, 16, 10))", () => {
    expect(xorOfHashes([["1", "ffffffffffffffff"], ["2", "0000000000000001"]])).toBe("18446744073709551614");
    expect(xorOfHashes([])).toBe("0");
  });

  it("computes mismatch percentages over all distinct rows", () => {
    expect(mismatchPct(1, 1, 2, 100)).toBe(3.9604);
    expect(mismatchPct(0, 0, 0, 0)).toBe(0);
  });

  it("refuses key text that could inject SQL", () => {
    expect(() => keyLiteral(col("id", "int"), "1 OR 1=1")).toThrow(/VALUE_INVALID/);
  });
});
