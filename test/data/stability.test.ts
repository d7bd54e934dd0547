import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testFlavors } from "../../lib/sandbox/server";
import { seq } from "../../lib/sandbox/seq";
import { Pair, startPair } from "./pair";
import { verifyWithWriteBehind } from "./write-behind";

/**
 * The source changing during a verify must never produce "identical": a write behind an
 * already-compared chunk moves the source's commit marker, and the table is compared again.
 */
describe.each(testFlavors())("stability (%s)", (flavor) => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair("stable", { flavor });
    await pair.onBoth("CREATE TABLE live (id INT PRIMARY KEY, v INT)", `INSERT INTO live SELECT seq, seq FROM ${seq(1, 2000)}`);
  });
  afterAll(async () => {
    await pair?.stop();
  });

  describe("a source that changes during verify", () => {
    it("is not called identical when a compared chunk changes afterwards", async () => {
      const { report: r, wrote } = await verifyWithWriteBehind(pair, "live", ["UPDATE live SET v = -v WHERE id = 5"]);
      expect(wrote).toBe(true);
      expect(r.identical).toBe(false);
      expect(r.tables[0].stability).toBe("changing");
    });

    it("flags a comparison that saw writes, and the next quiet one reports every difference", async () => {
      const { report: r } = await verifyWithWriteBehind(pair, "live", ["UPDATE live SET v = v + 1 WHERE id = 7"], { rounds: 3 });
      expect(r.identical).toBe(false);
      expect(r.tables[0].stability).toBe("changing");
      const quiet = await pair.verify({ tables: ["live"], chunkSize: 200 });
      expect(quiet.tables[0]).toMatchObject({ identical: false, changed: 2, stability: "proven", rounds: 1 });
    });

    it("compares again after a write that was undone, and proves identical in the next round", async () => {
      await pair.sync({ tables: ["live"] });
      const undone = ["UPDATE live SET v = v + 1 WHERE id = 9", "UPDATE live SET v = v - 1 WHERE id = 9"];
      const { report: r } = await verifyWithWriteBehind(pair, "live", undone, { rounds: 3 });
      expect(r.identical).toBe(true);
      expect(r.tables[0]).toMatchObject({ stability: "proven", rounds: 2 });
    });

    it("is identical, proven, when nothing writes", async () => {
      await pair.sync({ tables: ["live"] });
      const r = await pair.verify({ tables: ["live"], chunkSize: 200 });
      expect(r.identical).toBe(true);
      expect(r.tables[0]).toMatchObject({ stability: "proven", rounds: 1 });
    });
  });
});
