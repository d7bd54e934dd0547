import { access } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { judgeShrink, shrinkPct } from "../../lib/data/guard";
import { Pair, runScript, startPair } from "./pair";

/**
 * The shrink guard: the rollback's sync after a cut-over whose load stopped half-way must not
 * copy AWS's incomplete tables over IDC. `orders` stands for such a table (the source holds 10 %
 * of the target's rows); `users` got one genuine new row on the source.
 */
let pair: Pair;
const stateFile = () => `${pair.target.datadir}/sync-state.json`;
beforeAll(async () => {
  pair = await startPair("guard");
  await pair.onBoth(
    "CREATE TABLE orders (id INT PRIMARY KEY, amount INT)",
    "INSERT INTO orders SELECT seq, seq FROM seq_1_to_1000",
    "CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(20))",
    "INSERT INTO users SELECT seq, CONCAT('u', seq) FROM seq_1_to_100",
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
      "was the cut-over's data load complete? If users really deleted these rows on the source, pass --allow-shrink <table> (or raise --max-shrink-pct)",
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
      allowShrink: [],
      refused: true,
      tables: [
        { table: "orders", sourceRows: 100, targetRows: 1000, shrinkPct: 90, verdict: "refused" },
        { table: "users", sourceRows: 101, targetRows: 100, shrinkPct: 0, verdict: "ok" },
      ],
    });
    expect(r.stderr).toContain("shrink guard (max 5%): REFUSED: orders 1000 -> 100 rows (-90%, refused) — a real sync would write nothing");
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
    expect(s.guard).toMatchObject({ refused: false, allowShrink: ["orders"], tables: [{ table: "orders", shrinkPct: 90, verdict: "allowed" }, { table: "users", verdict: "ok" }] });
    expect(await pair.column("target", "SELECT COUNT(*) FROM orders")).toEqual(["100"]);
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
    expect(judgeShrink(counts, {}).tables.map((t) => t.verdict)).toEqual(["ok", "refused", "ok"]);
    expect(judgeShrink(counts, { maxShrinkPct: 4 }).tables.map((t) => t.verdict)).toEqual(["refused", "refused", "ok"]);
    expect(judgeShrink(counts, { allowShrink: ["b"] })).toMatchObject({ refused: false, tables: [{ verdict: "ok" }, { verdict: "allowed" }, { verdict: "ok" }] });
    expect(judgeShrink(counts, { maxShrinkPct: 100 }).refused).toBe(false);
  });

  it("rejects a limit outside 0-100", () => {
    expect(() => judgeShrink(counts, { maxShrinkPct: 101 })).toThrow("ARGS_INVALID: --max-shrink-pct: expected a percentage from 0 to 100, got 101");
  });
});
