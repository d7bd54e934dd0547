import { access, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testFlavors } from "../../lib/sandbox/server";
import { seq } from "../../lib/sandbox/seq";
import { verifyDatabases } from "../../lib/data";
import { judgeShrink, loadCutoverProof, shrinkPct } from "../../lib/data/guard";
import { Pair, runScript, startPair } from "./pair";

/**
 * The shrink guard: the rollback's sync after a cut-over whose load stopped half-way must not
 * copy AWS's incomplete tables over IDC. `orders` stands for such a table (the source holds 10 %
 * of the target's rows); `users` got one genuine new row on the source.
 */
describe.each(testFlavors())("shrink guard (%s)", (flavor) => {
  let pair: Pair;
  const stateFile = () => `${pair.target.datadir}/sync-state.json`;
  beforeAll(async () => {
    pair = await startPair("guard", { flavor });
    await pair.onBoth(
      "CREATE TABLE orders (id INT PRIMARY KEY, amount INT)",
      `INSERT INTO orders SELECT seq, seq FROM ${seq(1, 1000)}`,
      "CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(20))",
      `INSERT INTO users SELECT seq, CONCAT('u', seq) FROM ${seq(1, 100)}`,
    );
    await pair.onSource("DELETE FROM orders WHERE id > 100", "INSERT INTO users VALUES (101, 'new')");
  });
  afterAll(async () => {
    await pair?.stop();
  });

  async function targetChecksums(): Promise<unknown[]> {
    const [orders, users] = await Promise.all([
      pair.column("target", "SELECT COUNT(*) FROM orders"),
      pair.column("target", "SELECT COUNT(*) FROM users"),
    ]);
    const sums = await pair.target.admin().then(async (c) => {
      try {
        const [r] = await c.query({ sql: "CHECKSUM TABLE app.orders, app.users EXTENDED", rowsAsArray: true });
        return (r as unknown[][]).map((row) => row[1]);
      } finally {
        await c.end();
      }
    });
    return [orders, users, sums];
  }

  describe("shrink guard (real servers)", () => {
    it("refuses the whole sync before any write, naming the table, both counts and the percentage (exit 2)", async () => {
      const before = await targetChecksums();
      const r = await runScript("sync", ["--json", "--quiet", "--state", stateFile()], pair.env()).done;
      expect(r.code).toBe(2);
      const { error } = JSON.parse(r.stdout);
      expect(error).toMatchObject({ code: "SHRINK_REFUSED", subject: "orders" });
      expect(error.problem).toContain("the target has 1000 rows, the source 100; syncing would delete 900 (90%)");
      expect(error.hint).toBe(
        "was the cut-over's data load complete? If users really deleted these rows on the source, pass --allow-shrink <table> (or raise --max-shrink-pct), or give the cut-over's proof with --cutover-proof",
      );
      expect(r.stderr).toContain("SHRINK_REFUSED: orders: the target has 1000 rows");
      // Nothing written: not the shrinking table, not the table that only gained a row, no state file.
      expect(await targetChecksums()).toEqual(before);
      await expect(access(stateFile())).rejects.toThrow();
    });

    it("--dry-run reports the verdict for every table and exits 2", async () => {
      const r = await runScript("sync", ["--dry-run", "--json", "--quiet"], pair.env()).done;
      expect(r.code).toBe(2);
      const report = JSON.parse(r.stdout);
      expect(report).toMatchObject({ dryRun: true, deleted: 900, inserted: 1 });
      expect(report.guard).toEqual({
        maxShrinkPct: 5,
        minShrinkRows: 10,
        allowShrink: [],
        cutoverProof: null,
        refused: true,
        tables: [
          { table: "orders", sourceRows: 100, targetRows: 1000, shrinkPct: 90, verdict: "refused", rule: "over-limit", provenRows: null },
          { table: "users", sourceRows: 101, targetRows: 100, shrinkPct: 0, verdict: "ok", rule: "no-shrink", provenRows: null },
        ],
      });
      expect(r.stderr).toContain("shrink guard (max 5%): REFUSED: orders 1000 -> 100 rows (-90%, refused by over-limit) — a real sync would write nothing");
    });

    it("rejects an --allow-shrink name that is not a table of the sync", async () => {
      const r = await runScript("sync", ["--allow-shrink", "order", "--json", "--quiet"], pair.env()).done;
      expect(r.code).toBe(2);
      expect(JSON.parse(r.stdout).error).toMatchObject({ code: "ARGS_INVALID", subject: "--allow-shrink" });
      expect(JSON.parse(r.stdout).error.problem).toContain("order: not among the tables this sync writes (orders, users)");
    });

    it("a shrink under --max-shrink-pct passes; a table allowed with allowShrink syncs and says so", async () => {
      const under = await pair.sync({ tables: ["orders"], maxShrinkPct: 95, dryRun: true });
      expect(under.guard).toMatchObject({ refused: false, tables: [{ table: "orders", verdict: "ok" }] });

      const s = await pair.sync({ allowShrink: ["orders"] });
      expect(s).toMatchObject({ identical: true, deleted: 900, inserted: 1 });
      expect(s.guard).toMatchObject({ refused: false, allowShrink: ["orders"], tables: [{ table: "orders", shrinkPct: 90, verdict: "allowed", rule: "allow-shrink" }, { table: "users", verdict: "ok" }] });
      expect(await pair.column("target", "SELECT COUNT(*) FROM orders")).toEqual(["100"]);
    });
  });

  /**
   * A normal rollback after a proven cut-over: on AWS users deleted 2 of a 4-row lookup table's
   * rows and emptied a 50-row table. The forward run's verify (SOURCE = IDC, TARGET = AWS) proved
   * both tables complete at the cut-over.
   */
  describe("shrink guard after a proven cut-over (real servers)", () => {
    const proofFile = () => `${pair.target.datadir}/cutover-verify.json`;
    const timelineFile = () => `${pair.target.datadir}/cutover-timeline.jsonl`;
    const tables = ["lookup", "carts"];
    beforeAll(async () => {
      await pair.onBoth(
        "CREATE TABLE lookup (id INT PRIMARY KEY, label VARCHAR(10))",
        "INSERT INTO lookup VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')",
        "CREATE TABLE carts (id INT PRIMARY KEY, n INT)",
        `INSERT INTO carts SELECT seq, seq FROM ${seq(1, 50)}`,
      );
      const forward = await verifyDatabases({ source: pair.target.dsn("app"), target: pair.source.dsn("app"), tables });
      expect(forward.identical).toBe(true);
      await writeFile(proofFile(), JSON.stringify(forward));
      const entry = { step: "verify", phase: "data-sync", startedAt: "2026-12-01T20:00:00.000Z", status: "ok", exitCode: 0, report: forward };
      await writeFile(timelineFile(), `${JSON.stringify({ step: "sync", status: "ok" })}\n${JSON.stringify(entry)}\n`);
      await pair.onSource("DELETE FROM lookup WHERE id > 2", "DELETE FROM carts");
    });

    it("without a proof: the 4-row table losing 2 rows passes by the floor, the emptied 50-row table is refused", async () => {
      const r = await pair.sync({ tables, dryRun: true });
      expect(r.guard!.tables.map((t) => [t.table, t.verdict, t.rule])).toEqual([
        ["lookup", "ok", "floor"],
        ["carts", "refused", "over-limit"],
      ]);
    });

    it("a proof does not cover a table IDC changed after the cut-over (its count is not the proven one)", async () => {
      await pair.onTarget("INSERT INTO carts VALUES (51, 51)");
      const r = await pair.sync({ tables, dryRun: true, cutoverProof: await loadCutoverProof(proofFile()) });
      expect(r.guard!.tables.find((t) => t.table === "carts")).toMatchObject({ verdict: "refused", rule: "over-limit", provenRows: 50, targetRows: 51 });
      await pair.onTarget("DELETE FROM carts WHERE id = 51");
    });

    it("reads the proof from the cut-over's timeline too (its last successful verify step)", async () => {
      const p = await loadCutoverProof(timelineFile());
      expect(p).toMatchObject({ provenAt: "2026-12-01T20:00:00.000Z", tables: { lookup: 4, carts: 50 } });
      expect(p.sourcePosition === null || /^(mariadb-gtid|mysql-gtid|binlog-position):/.test(p.sourcePosition)).toBe(true);
    });

    it("sync --cutover-proof passes both tables, says which rule decided each, and deletes the rows users deleted", async () => {
      const r = await runScript("sync", ["--tables", tables.join(","), "--cutover-proof", proofFile(), "--json", "--quiet", "--state", `${pair.target.datadir}/proof-state.json`], pair.env()).done;
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report).toMatchObject({ identical: true, deleted: 52 });
      expect(report.guard).toMatchObject({ refused: false, cutoverProof: { path: proofFile() } });
      expect(report.guard.tables.map((t: { table: string; rule: string }) => [t.table, t.rule])).toEqual([
        ["lookup", "floor"],
        ["carts", "proof"],
      ]);
      expect(r.stderr).toContain("carts 50 -> 0 rows (-100%, ok by proof)");
      expect(await pair.column("target", "SELECT COUNT(*) FROM carts")).toEqual(["0"]);
    });

    it("refuses a proof whose verify did not find the sides identical", async () => {
      await writeFile(proofFile(), JSON.stringify({ identical: false, tables: [] }));
      await expect(loadCutoverProof(proofFile())).rejects.toThrow(/STATE_INVALID: .*cutover-verify.json: its verify did not find the two sides identical/);
    });
  });

  describe("shrink guard verdict (pure)", () => {
    const counts = [
      { table: "a", sourceRows: 95, targetRows: 100 },
      { table: "b", sourceRows: 0, targetRows: 10 },
      { table: "c", sourceRows: 10, targetRows: 0 },
    ];

    it("measures the shrink against the target's rows; growth and empty targets are 0", () => {
      expect([shrinkPct(95, 100), shrinkPct(0, 10), shrinkPct(10, 0), shrinkPct(1, 3)]).toEqual([5, 100, 0, 66.67]);
    });

    it("refuses above the limit (5 % exactly passes), exempts allowed tables, and 100 disables it", () => {
      const noFloor = { minShrinkRows: 0 };
      expect(judgeShrink(counts, noFloor).tables.map((t) => t.verdict)).toEqual(["ok", "refused", "ok"]);
      expect(judgeShrink(counts, { ...noFloor, maxShrinkPct: 4 }).tables.map((t) => t.verdict)).toEqual(["refused", "refused", "ok"]);
      expect(judgeShrink(counts, { ...noFloor, allowShrink: ["b"] })).toMatchObject({ refused: false, tables: [{ verdict: "ok" }, { verdict: "allowed" }, { verdict: "ok" }] });
      expect(judgeShrink(counts, { ...noFloor, maxShrinkPct: 100 }).refused).toBe(false);
    });

    it("a table losing no more than the floor (10 rows) passes whatever its percentage; the rule says so", () => {
      const lookup = [
        { table: "lookup", sourceRows: 2, targetRows: 4 },
        { table: "ten", sourceRows: 0, targetRows: 10 },
        { table: "eleven", sourceRows: 0, targetRows: 11 },
      ];
      expect(judgeShrink(lookup, {}).tables.map((t) => [t.table, t.verdict, t.rule])).toEqual([
        ["lookup", "ok", "floor"],
        ["ten", "ok", "floor"],
        ["eleven", "refused", "over-limit"],
      ]);
      expect(() => judgeShrink(lookup, { minShrinkRows: 1.5 })).toThrow("ARGS_INVALID: --min-shrink-rows: expected a whole number of rows >= 0, got 1.5");
    });

    it("with a cut-over proof, a table may shrink only while the target still holds the rows the proof counted", () => {
      const proof = { path: "p", provenAt: null, sourcePosition: null, tables: { emptied: 50, grew: 50 } };
      const g = judgeShrink(
        [
          { table: "emptied", sourceRows: 0, targetRows: 50 },
          { table: "grew", sourceRows: 0, targetRows: 51 },
          { table: "unproven", sourceRows: 0, targetRows: 50 },
        ],
        { cutoverProof: proof },
      );
      expect(g.tables.map((t) => [t.table, t.verdict, t.rule, t.provenRows])).toEqual([
        ["emptied", "ok", "proof", 50],
        ["grew", "refused", "over-limit", 50],
        ["unproven", "refused", "over-limit", null],
      ]);
      expect(g.cutoverProof).toEqual({ path: "p", provenAt: null, sourcePosition: null });
    });

    it("rejects a limit outside 0-100", () => {
      expect(() => judgeShrink(counts, { maxShrinkPct: 101 })).toThrow("ARGS_INVALID: --max-shrink-pct: expected a percentage from 0 to 100, got 101");
    });
  });
});
