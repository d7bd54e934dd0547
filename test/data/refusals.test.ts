import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testFlavors } from "../../lib/sandbox/server";
import { Pair, startPair } from "./pair";

/** What the engine refuses up front, before any write, and what verify reports instead. */
describe.each(testFlavors())("refusals (%s)", (flavor) => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair("refuse", { flavor });
  });
  afterAll(async () => {
    await pair?.stop();
  });

  describe("refusals", () => {
    it("refuses to sync into a table with triggers on the target with refuseTriggers", async () => {
      await pair.onBoth("CREATE TABLE audited (id INT PRIMARY KEY, v INT)", "CREATE TABLE audit_log (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(20))");
      await pair.onTarget("CREATE TRIGGER audited_ai AFTER INSERT ON audited FOR EACH ROW INSERT INTO audit_log (note) VALUES ('insert')");
      await pair.onSource("INSERT INTO audited VALUES (1, 1)");
      await expect(pair.sync({ tables: ["audited"], refuseTriggers: true })).rejects.toMatchObject({
        code: "TARGET_TRIGGERS",
        subject: "audited",
        problem: expect.stringContaining("audited_ai"),
      });
      expect(await pair.column("target", "SELECT COUNT(*) FROM audited")).toEqual(["0"]);
      // By default the trigger is dropped for the sync and recreated: it did not fire, the rows are
      // equal, and the target-only trigger is the one difference left (schema objects are compared).
      const s = await pair.sync({ tables: ["audited"] });
      expect(s.verify?.tables.every((t) => t.identical)).toBe(true);
      expect(await pair.column("target", "SELECT COUNT(*) FROM audit_log")).toEqual(["0"]);
      expect(s.verify?.objects?.diffs).toEqual([expect.objectContaining({ kind: "trigger", name: "audited_ai", difference: "extra" })]);
      expect(s.identical).toBe(false);
    });

    it("refuses a sync across unsafe schema differences but verify reports them", async () => {
      await pair.onSource("CREATE TABLE drift (id INT PRIMARY KEY, name VARCHAR(10) COLLATE utf8mb4_bin, extra_col INT)");
      await pair.onTarget("CREATE TABLE drift (id INT PRIMARY KEY, name VARCHAR(20) COLLATE utf8mb4_general_ci)");
      await expect(pair.sync({ tables: ["drift"] })).rejects.toMatchObject({ code: "SCHEMA_UNSAFE", subject: "drift" });
      const t = (await pair.verify({ tables: ["drift"] })).tables[0];
      expect(t.identical).toBe(false);
      expect(t.schemaDiffs.map((d) => `${d.kind} ${d.subject}`).sort()).toEqual(["collation name", "column extra_col", "type name"]);
    });

    it("refuses to sync a table the target lacks; verify counts it as missing", async () => {
      await pair.onSource("CREATE TABLE only_source (id INT PRIMARY KEY)", "INSERT INTO only_source VALUES (1), (2)");
      await expect(pair.sync({ tables: ["only_source"] })).rejects.toMatchObject({ code: "TABLE_MISSING" });
      const t = (await pair.verify({ tables: ["only_source"] })).tables[0];
      expect(t).toMatchObject({ identical: false, comparable: false, sourceRows: 2, missing: 2, mismatchPct: 100 });
    });

    it("names unknown tables given to --tables", async () => {
      await expect(pair.verify({ tables: ["nope"] })).rejects.toMatchObject({ code: "TABLE_UNKNOWN", subject: "nope" });
    });
  });
});
