import type { RowDataPacket } from "mysql2/promise";
import { escape } from "mysql2";
import { describe, expect, it } from "vitest";
import { ExactColumns, doubleLiteral, exactBatchSql, exactHeadSql, exactRowsSql, exactTailSql } from "../../lib/backup/exact-floats";

/** mysql2's own quoting, what the connection's escape() does. */
const quote = (v: unknown) => escape(v as string | number);
const T: ExactColumns = { table: "nums", key: [{ name: "id", type: "int(11)" }, { name: "k", type: "varchar(8)" }], floats: ["f"], doubles: ["d"] };

describe("exact FLOAT file statements", () => {
  it("reads the rows that need one: any FLOAT set, or a -0 DOUBLE", () => {
    expect(exactRowsSql(T)).toBe("SELECT `id`, `k`, CAST(`f` AS DOUBLE) AS `f`, `d` FROM `nums` WHERE `f` IS NOT NULL OR (`d` = 0 AND ATAN2(`d`, -1) < 0)");
  });

  it("opens with the temporary table keyed like the table", () => {
    expect(exactHeadSql(T)).toBe("CREATE TEMPORARY TABLE `idc_rollback_exact` (`id` int(11), `k` varchar(8), `f` DOUBLE, `d` DOUBLE, PRIMARY KEY (`id`, `k`));\n");
  });

  it("writes one batch as one INSERT: keys escaped, values as round-trip DOUBLE literals, NULL kept", () => {
    const rows = [
      { id: 1, k: "a'b", f: 1.0000002384185791, d: -0 },
      { id: 2, k: "c", f: null, d: 5e-324 },
    ] as unknown as RowDataPacket[];
    expect(exactBatchSql(T, rows, quote)).toBe("INSERT INTO `idc_rollback_exact` VALUES (1,'a\\'b',1.000000238418579e0,-0e0),(2,'c',NULL,5e-324);\n");
  });

  it("ends with the UPDATE … JOIN and the temporary table dropped", () => {
    expect(exactTailSql(T)).toBe(
      "UPDATE `nums` t JOIN `idc_rollback_exact` x ON t.`id` = x.`id` AND t.`k` = x.`k` SET t.`f` = x.`f`, t.`d` = x.`d`;\nDROP TEMPORARY TABLE `idc_rollback_exact`;\n",
    );
  });

  it("writes DOUBLE literals that read back bit for bit", () => {
    expect([doubleLiteral(-0), doubleLiteral(16777217), doubleLiteral(1e300), doubleLiteral(0.1)]).toEqual(["-0e0", "16777217e0", "1e+300", "0.1e0"]);
  });
});
