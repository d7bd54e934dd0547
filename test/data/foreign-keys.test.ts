import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testFlavors } from "../../lib/sandbox/server";
import { Pair, startPair } from "./pair";

/**
 * Foreign keys: the sync writes with foreign_key_checks off (no parent-first ordering, no
 * cascades firing on the target) and checks integrity afterwards.
 */
describe.each(testFlavors())("foreign keys (%s)", (flavor) => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair("fk", { flavor });
    await pair.onBoth(
      "CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(10))",
      "CREATE TABLE child (id INT PRIMARY KEY, parent_id INT NULL, CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE)",
      "CREATE TABLE node (id INT PRIMARY KEY, up INT NULL, FOREIGN KEY fk_up (up) REFERENCES node (id))",
      "INSERT INTO parent VALUES (1, 'p1'), (2, 'p2'), (3, 'p3')",
      "INSERT INTO child VALUES (10, 1), (11, 1), (20, 2), (30, 3)",
      "INSERT INTO node VALUES (1, NULL), (2, 1), (3, 2)",
    );
  });
  afterAll(async () => {
    await pair?.stop();
  });

  describe("foreign keys", () => {
    it("syncs deletes with cascades and re-parenting, and the target stays consistent", async () => {
      await pair.onSource(
        "UPDATE child SET parent_id = 2 WHERE id = 11", // re-parenting
        "DELETE FROM parent WHERE id = 1", // cascades to child 10 on the source
        "INSERT INTO parent VALUES (4, 'p4')",
        "INSERT INTO child VALUES (40, 4)",
        // A self-reference re-pointed to a row inserted after it (no parent-first order exists).
        "SET foreign_key_checks = 0",
        "UPDATE node SET up = 4 WHERE id = 3",
        "INSERT INTO node VALUES (4, 1)",
        "SET foreign_key_checks = 1",
      );
      const s = await pair.sync({ tables: ["child", "node", "parent"] });
      expect(s.identical).toBe(true);
      expect(s.integrity).toEqual([]);
      expect(s.tables.find((t) => t.table === "child")).toMatchObject({ inserted: 1, updated: 1, deleted: 1 });
      // Deleting parent 1 on the target must not have cascaded beyond what the source holds.
      expect(await pair.column("target", "SELECT id FROM child ORDER BY id")).toEqual([11, 20, 30, 40]);
    });

    it("does not report success when a synced child references rows of a parent left unsynced", async () => {
      await pair.onSource("INSERT INTO parent VALUES (5, 'p5')", "INSERT INTO child VALUES (50, 5)");
      const s = await pair.sync({ tables: ["child"] });
      expect(s.identical).toBe(false);
      expect(s.integrity).toEqual([{ constraint: "fk_parent", table: "child", parentTable: "parent", sourceOrphans: 0, targetOrphans: 1 }]);
      expect((await pair.sync({ tables: ["child", "parent"] })).identical).toBe(true);
    });
  });
});
