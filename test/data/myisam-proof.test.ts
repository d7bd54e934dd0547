import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyLines } from "../../lib/data/report";
import { testFlavors } from "../../lib/sandbox/server";
import { Pair, startPair } from "./pair";
import { verifyWithWriteBehind } from "./write-behind";

/**
 * Issue 12 item 6: with the binary log off, a write to a MyISAM table moves no marker
 * (Innodb_max_trx_id, InnoDB's trx id counter and GTIDs all stay put), so a change behind an
 * already-compared chunk went unseen and the table was called identical, "proven". Such tables
 * are reported unproven (not identical), saying what would prove them; InnoDB tables beside
 * them are still proven. MariaDB logs nothing by default; MySQL needs --skip-log-bin.
 */
describe.each(testFlavors())("non-transactional tables without a binary log (%s)", (flavor) => {
  let pair: Pair;
  beforeAll(async () => {
    const off = flavor === "mysql" ? ["--skip-log-bin"] : [];
    pair = await startPair(`myisam-${flavor}`, { flavor, source: off, target: off });
    const values = Array.from({ length: 1000 }, (_, i) => `(${i + 1}, ${i + 1})`).join(",");
    await pair.onBoth(
      "CREATE TABLE m (id INT PRIMARY KEY, v INT) ENGINE=MyISAM",
      `INSERT INTO m VALUES ${values}`,
      "CREATE TABLE i (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
      `INSERT INTO i VALUES ${values}`,
    );
  });
  afterAll(async () => {
    await pair?.stop();
  });

  it("does not call a MyISAM table identical when it changed behind a compared chunk", async () => {
    const { report: r, wrote } = await verifyWithWriteBehind(pair, "m", ["UPDATE m SET v = -v WHERE id = 5"], { chunkSize: 100 });
    await pair.onSource("UPDATE m SET v = -v WHERE id = 5");
    expect(wrote).toBe(true);
    expect(r.identical).toBe(false);
    expect(r.tables[0]).toMatchObject({ stability: "unproven" });
  });

  it("reports an unchanged MyISAM table unproven, with what would prove it, and proves the InnoDB table", async () => {
    const r = await pair.verify({ tables: ["m", "i"] });
    const byName = Object.fromEntries(r.tables.map((t) => [t.table, t]));
    expect(byName.m).toMatchObject({ identical: false, stability: "unproven", missing: 0, extra: 0, changed: 0 });
    expect(byName.i).toMatchObject({ identical: true, stability: "proven" });
    expect(r.identical).toBe(false);
    expect(r.sourcePosition).toBeNull();
    expect(r.proof?.source).toMatchObject({ kind: "marker", coversNonTransactional: false });
    expect(verifyLines(r).join("\n")).toMatch(/m: unproven: .*enable log_bin/);
    expect(verifyLines(r).join("\n")).toMatch(/stability proof: source any commit on the server \(server-wide marker\) — the binary log is off/);
  });

  it("accepts the MyISAM table with --assume-quiet (writes stopped by the operator)", async () => {
    const r = await pair.verify({ tables: ["m"], assumeQuiet: true });
    expect(r.tables[0]).toMatchObject({ identical: true, stability: "assumed" });
    expect(r.proof).toBeNull();
  });
});
