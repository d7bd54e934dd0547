import { readFile, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testFlavors } from "../../lib/sandbox/server";
import { seq } from "../backup/helpers";
import { Pair, startPair } from "./pair";

/**
 * A sync that fails (not killed) half-way, issue 12 item 4: its state belongs to its own
 * selection and pair of servers; a rerun with another selection does not take it up, a rerun
 * with the same one resumes and reports what it did itself, apart from what the failed run did.
 */
describe.each(testFlavors())("resume after a failed sync (%s)", (flavor) => {
  let pair: Pair;
  let state: string;
  beforeAll(async () => {
    pair = await startPair(`resume-${flavor}`, { flavor });
    state = `${pair.target.datadir}/resume-state.json`;
    for (const t of ["a", "b", "c"]) {
      await pair.onBoth(`CREATE TABLE ${t} (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL)`);
      await pair.onSource(`INSERT INTO ${t} SELECT seq, CONCAT('${t}', seq) FROM ${seq(1, 3000)}`);
    }
    // The target rejects part of b's rows: the sync fails in the middle of b (SYNC_WRITE).
    await pair.onTarget("ALTER TABLE b ADD CONSTRAINT b_small CHECK (id < 1500)");
  }, 120_000);
  afterAll(async () => {
    await pair?.stop();
  });

  it("keeps the failed run's state for that selection only, then resumes it with honest counts", async () => {
    const tables = ["a", "b", "c"];
    await expect(pair.sync({ tables, chunkSize: 500, stateFile: state })).rejects.toMatchObject({ code: "SYNC_WRITE", subject: "b" });
    const saved = JSON.parse(await readFile(state, "utf8"));
    expect(saved.selection).toEqual(tables);
    expect(saved.tables.a.done).toBe(true);
    const committedB = Number((await pair.column("target", "SELECT COUNT(*) FROM b"))[0]);
    expect(committedB).toBeGreaterThan(0);
    expect(committedB).toBeLessThan(1500);

    // Another selection must not take the state up as its own (it would skip a and report its counts).
    await expect(pair.sync({ tables: ["a", "c"], chunkSize: 500, stateFile: state })).rejects.toMatchObject({
      code: "STATE_MISMATCH",
      problem: expect.stringContaining("a, b, c"),
    });
    expect(JSON.parse(await readFile(state, "utf8"))).toEqual(saved);
    // Nor does the same host:port once it is another server (a rebuilt container, a restored instance).
    const rebuilt = `${pair.target.datadir}/rebuilt-state.json`;
    await writeFile(rebuilt, JSON.stringify({ ...saved, target: { ...saved.target, identity: "another-server" } }));
    await expect(pair.sync({ tables, chunkSize: 500, stateFile: rebuilt })).rejects.toMatchObject({
      code: "STATE_MISMATCH",
      problem: expect.stringContaining("another pair of servers"),
    });

    await pair.onTarget("ALTER TABLE b DROP CONSTRAINT b_small");
    const r = await pair.sync({ tables, chunkSize: 500, stateFile: state });
    expect(r.identical).toBe(true);
    expect(r.resumed).toMatchObject({ stateFile: state, earlier: { inserted: 3000 + committedB, updated: 0, deleted: 0 } });
    // This run's own counts: nothing in a, the rest of b, all of c.
    expect(r.inserted).toBe(3000 - committedB + 3000);
    const byTable = Object.fromEntries(r.tables.map((t) => [t.table, t]));
    expect(byTable.a).toMatchObject({ inserted: 0, earlier: { inserted: 3000 } });
    expect(byTable.b).toMatchObject({ inserted: 3000 - committedB, earlier: { inserted: committedB } });
    expect(byTable.c).toMatchObject({ inserted: 3000, earlier: { inserted: 0 } });
    // The run ended: no state left for a later run to mistake for its own.
    await expect(readFile(state, "utf8")).rejects.toThrow();
    const again = await pair.sync({ tables, stateFile: state });
    expect(again).toMatchObject({ identical: true, inserted: 0, resumed: null });
  });

  it("reports each table's own time as its durationMs", async () => {
    await pair.onSource("UPDATE a SET v = 'changed' WHERE id <= 5", "UPDATE c SET v = 'changed' WHERE id <= 5");
    const started = Date.now();
    const r = await pair.sync({ tables: ["a", "c"], stateFile: state });
    const total = Date.now() - started;
    expect(r.tables.reduce((n, t) => n + t.durationMs, 0)).toBeLessThanOrEqual(total);
  });
});
