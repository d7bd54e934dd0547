import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testFlavors } from "../../lib/sandbox/server";
import { Pair, startPair } from "./pair";
import { verifyWithWriteBehind } from "./write-behind";

/**
 * Binary log formats the scoped proof cannot fully use (stability.ts): STATEMENT names no
 * table per row, so the proof falls back to the server-wide marker and says to set ROW; MIXED
 * (MariaDB's default) stays scoped for row-logged writes, and a statement-logged write anywhere
 * counts as a write to the compared table.
 */
describe.each(testFlavors())("binary log formats (%s)", (flavor) => {
  const pairs: Record<string, Pair> = {};
  beforeAll(async () => {
    for (const format of ["STATEMENT", "MIXED"]) {
      const pair = await startPair(`fmt-${format.toLowerCase()}-${flavor}`, { flavor, source: ["--log-bin", `--binlog-format=${format}`] });
      pairs[format] = pair;
      await pair.onBoth("CREATE TABLE live (id INT PRIMARY KEY, v INT)", `INSERT INTO live VALUES ${Array.from({ length: 1000 }, (_, i) => `(${i + 1}, ${i})`).join(",")}`);
      await pair.source.exec("CREATE DATABASE other", "CREATE TABLE other.log (id INT AUTO_INCREMENT PRIMARY KEY, v INT)");
    }
  });
  afterAll(async () => {
    await Promise.all(Object.values(pairs).map((p) => p.stop()));
  });

  it("falls back to the server-wide marker with binlog_format=STATEMENT, saying to set ROW", async () => {
    const r = await pairs.STATEMENT.verify({ tables: ["live"] });
    expect(r.proof?.source).toMatchObject({ kind: "marker", limitation: expect.stringMatching(/binlog_format is STATEMENT.*set binlog_format=ROW/) });
    expect(r.tables[0]).toMatchObject({ identical: true, stability: "proven" });
    expect(r.sourcePosition?.proof).toBe("marker");
  });

  it("stays scoped with MIXED, and counts a statement-logged write elsewhere as a write to the table", async () => {
    const quiet = await pairs.MIXED.verify({ tables: ["live"] });
    expect(quiet.proof?.source).toMatchObject({ kind: "binlog", limitation: expect.stringMatching(/MIXED/) });
    expect(quiet.tables[0]).toMatchObject({ identical: true, stability: "proven" });
    // A plain INSERT is logged as a statement under MIXED: it cannot be attributed to a table.
    const { report, wrote } = await verifyWithWriteBehind(pairs.MIXED, "live", ["INSERT INTO other.log (v) VALUES (1)"]);
    expect(wrote).toBe(true);
    expect(report.tables[0]).toMatchObject({ identical: false, stability: "changing" });
  });
});
