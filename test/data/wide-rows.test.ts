import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIG_VALUE_BYTES, STATEMENT_BYTES, batchBudget, bigColumns } from "../../lib/data/applier";
import { clearVariablesSql, columnHashesSql, selectRowsSql, setPieceSql, valuePieceSql, variableLengthSql, variableValue } from "../../lib/data/sql";
import type { ColumnInfo, TablePlan } from "../../lib/data/types";
import { testFlavors } from "../../lib/sandbox/server";
import { Pair, startPair } from "./pair";

/**
 * Issue 12 item 5: batches are sized by bytes, values above BIG_VALUE_BYTES travel as binary
 * pieces into a session variable, and the only bound on a value is the target's real
 * max_allowed_packet (a 40 MB row was refused as ROW_TOO_LARGE with a 64 MB packet). Peak RSS
 * is measured by bench/wide-rows.ts, not here.
 */
const MB = 1024 * 1024;
const col = (name: string, kind: ColumnInfo["kind"]): ColumnInfo => ({
  name,
  dataType: kind,
  columnType: kind,
  kind,
  nullable: true,
  charset: null,
  collation: null,
  generated: false,
  generationExpression: null,
  extra: "",
});

describe("batch planner (pure)", () => {
  it("bounds statements by bytes below the target's max_allowed_packet", () => {
    expect(batchBudget(64 * MB)).toEqual({ statementBytes: STATEMENT_BYTES, bigValueBytes: BIG_VALUE_BYTES, valueBytes: 64 * MB - 64 * 1024 });
    const small = batchBudget(1 * MB);
    expect(small.statementBytes).toBe(MB - 64 * 1024);
    expect(small.bigValueBytes).toBe(BIG_VALUE_BYTES);
    const tiny = batchBudget(96 * 1024);
    expect(tiny.statementBytes).toBe(32 * 1024);
    expect(tiny.bigValueBytes).toBe(4 * 1024);
    // A big value's hex literal never reaches the statement budget: 2 bytes a byte, 8x margin.
    for (const b of [small, tiny, batchBudget(1024 * MB)]) expect(2 * b.bigValueBytes * 4).toBeLessThanOrEqual(b.statementBytes);
    expect(batchBudget(1024 * MB).statementBytes).toBe(STATEMENT_BYTES);
  });

  it("sends only wide text and BLOB values in pieces", () => {
    const cols = [col("id", "integer"), col("b", "binary"), col("t", "text"), col("j", "json"), col("g", "spatial"), col("n", "binary")];
    const budget = batchBudget(64 * MB);
    const big = BIG_VALUE_BYTES + 1;
    expect(bigColumns(cols, [big, big, big, big, big, null], budget)).toEqual([1, 2]);
    expect(bigColumns(cols, [4, BIG_VALUE_BYTES, 10, big, 0, null], budget)).toEqual([]);
  });

  it("states its SQL exactly", () => {
    expect(setPieceSql("rollback_value_1", true)).toBe("SET @rollback_value_1 = ?");
    expect(setPieceSql("rollback_value_1", false)).toBe("SET @rollback_value_1 = CONCAT(@rollback_value_1, ?)");
    expect(variableLengthSql("rollback_value_1")).toBe("SELECT LENGTH(@rollback_value_1) AS n");
    expect(clearVariablesSql(["rollback_value_1", "rollback_value_3"])).toBe("SET @rollback_value_1 = NULL, @rollback_value_3 = NULL");
    expect(variableValue(col("t", "text"), "v")).toBe("CONVERT(@v USING utf8mb4)");
    expect(variableValue(col("b", "binary"), "v")).toBe("@v");
    const plan = {
      table: "w",
      key: { index: "PRIMARY", columns: [col("id", "integer")] },
      columns: [col("id", "integer"), col("b", "binary"), col("t", "text")],
    } as unknown as TablePlan;
    expect(selectRowsSql(plan, "`id` IN (1)", [], { columns: new Set(["b", "t"]), bytes: 65536 })).toBe(
      "SELECT CONCAT(`id`), `id`, IF(LENGTH(`b`) > 65536, NULL, `b`), IF(LENGTH(`t`) > 65536, NULL, `t`), LENGTH(`b`), LENGTH(`t`) FROM `w` FORCE INDEX (`PRIMARY`) WHERE `id` IN (1)",
    );
    expect(valuePieceSql(plan, col("b", "binary"), "`id` IN (1)", 4194305, 4194304)).toBe(
      "SELECT SUBSTRING(`b`, 4194305, 4194304) AS p FROM `w` FORCE INDEX (`PRIMARY`) WHERE `id` IN (1)",
    );
    expect(columnHashesSql(plan, "`id` IN (1)")).toBe(
      "SELECT CONCAT(`id`), SHA2(`id`, 256), SHA2(`b`, 256), SHA2(CONVERT(`t` USING utf8mb4), 256) FROM `w` FORCE INDEX (`PRIMARY`) WHERE `id` IN (1)",
    );
  });
});

describe.each(testFlavors())("wide rows on real servers (%s)", (flavor) => {
  let pair: Pair;
  const sums = "SELECT CONCAT_WS(':', id, LENGTH(b), SHA2(b, 256), LENGTH(t), SHA2(t, 256)) FROM big ORDER BY id";
  beforeAll(async () => {
    // RDS's default max_allowed_packet is 64 MB; the source keeps the sandbox's 256 MB.
    pair = await startPair(`wide-${flavor}`, { flavor, target: ["--max-allowed-packet=64M"] });
    await pair.onBoth("CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB, t LONGTEXT CHARACTER SET utf8mb4, note VARCHAR(20))");
    await pair.onSource(
      "INSERT INTO big VALUES (1, REPEAT(RANDOM_BYTES(1024), 40 * 1024), REPEAT('héllo wörld ✓ ', 300000), 'forty')",
      "INSERT INTO big VALUES (2, RANDOM_BYTES(100), 'small', 'small')",
    );
  });
  afterAll(async () => {
    await pair?.stop();
  });

  it("syncs a 40 MB row into a target whose max_allowed_packet is 64 MB, and a change to it", async () => {
    const r = await pair.sync({ tables: ["big"] });
    expect(r.identical).toBe(true);
    expect(r.tables[0]).toMatchObject({ inserted: 2, updated: 0 });
    expect(await pair.column("target", sums)).toEqual(await pair.column("source", sums));
    await pair.onSource("UPDATE big SET b = REVERSE(b), t = CONCAT(t, 'ß') WHERE id = 1");
    const again = await pair.sync({ tables: ["big"] });
    expect(again.identical).toBe(true);
    expect(again.tables[0]).toMatchObject({ inserted: 0, updated: 1 });
    expect(await pair.column("target", sums)).toEqual(await pair.column("source", sums));
  });

  it("refuses a value larger than the target's max_allowed_packet, naming the column, and writes nothing of its chunk", async () => {
    await pair.onSource("INSERT INTO big VALUES (3, REPEAT(RANDOM_BYTES(1024), 70 * 1024), 'x', 'seventy')");
    await expect(pair.sync({ tables: ["big"] })).rejects.toMatchObject({ code: "ROW_TOO_LARGE", subject: "big.b", hint: expect.stringMatching(/max_allowed_packet/) });
    expect(await pair.column("target", "SELECT id FROM big ORDER BY id")).toEqual([1, 2]);
  });
});
