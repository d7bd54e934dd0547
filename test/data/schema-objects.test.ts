import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testFlavors } from "../../lib/sandbox/server";
import { Pair, runScript, startPair } from "./pair";

/**
 * "Identical" covers the schema a rollback returns to (issue 12 item 2): triggers, views,
 * stored procedures and functions and events are compared; a target missing them is not
 * identical, `sync --fix-schema-objects` creates them; a keyless table makes only itself not
 * comparable in verify; excluded and skipped tables (a view named in --tables) are listed.
 */
const OBJECTS = [
  "CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100",
  "CREATE PROCEDURE purge_small(IN below INT) MODIFIES SQL DATA DELETE FROM orders WHERE total < below",
  "CREATE FUNCTION order_total(oid INT) RETURNS INT READS SQL DATA RETURN (SELECT total FROM orders WHERE id = oid)",
  "CREATE TRIGGER orders_bi BEFORE INSERT ON orders FOR EACH ROW SET NEW.total = GREATEST(NEW.total, 0)",
];
const EVENT = (days: number) => `CREATE EVENT nightly ON SCHEDULE EVERY ${days} DAY STARTS '2030-01-01 00:00:00' DO DELETE FROM orders WHERE total < 0`;

describe.each(testFlavors())("schema objects (%s)", (flavor) => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair(`objects-${flavor}`, { flavor });
    await pair.onBoth("CREATE TABLE orders (id INT PRIMARY KEY, total INT NOT NULL)", "INSERT INTO orders VALUES (1, 50), (2, 150)", "CREATE TABLE notes (body TEXT)", "INSERT INTO notes VALUES ('a'), ('b')");
    await pair.onSource(...OBJECTS, EVENT(1));
    await pair.onTarget(EVENT(2));
  }, 120_000);
  afterAll(async () => {
    await pair?.stop();
  });

  it("verify: missing trigger, view, procedure, function and a different event make it DIFFERENT (exit 1), a keyless table is only not comparable", async () => {
    const r = await runScript("verify", ["--json", "--quiet"], pair.env()).done;
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.identical).toBe(false);
    expect(report.objects.definers).toBe("ignored");
    expect(report.objects.diffs.map((d: { kind: string; name: string; difference: string }) => `${d.kind} ${d.name} ${d.difference}`).sort()).toEqual([
      "event nightly definition",
      "function order_total missing",
      "procedure purge_small missing",
      "trigger orders_bi missing",
      "view big_orders missing",
    ]);
    const byTable = Object.fromEntries(report.tables.map((t: { table: string }) => [t.table, t]));
    expect(byTable.orders).toMatchObject({ identical: true, comparable: true });
    expect(byTable.notes).toMatchObject({ identical: false, comparable: false, sourceRows: 2, targetRows: 2, notComparable: expect.stringContaining("rows cannot be identified") });
    expect(r.stderr).toContain("trigger orders_bi: missing on the target");
    expect(r.stderr).toMatch(/notes: not comparable \(/);
  });

  it("sync --fix-schema-objects creates the missing objects and replaces the different one; excluded tables are listed", async () => {
    await expect(pair.sync()).rejects.toMatchObject({ code: "TABLE_NO_KEY", subject: "notes" });
    const plain = await pair.sync({ exclude: ["notes"] });
    expect(plain.identical).toBe(false);
    expect(plain.verify?.excluded).toEqual(["notes"]);
    const fixed = await pair.sync({ exclude: ["notes"], fixSchemaObjects: true });
    expect(fixed.identical).toBe(true);
    expect([...fixed.verify!.objects!.fixed].sort()).toEqual(["event nightly", "function order_total", "procedure purge_small", "trigger orders_bi", "view big_orders"]);
    expect(fixed.verify?.objects?.diffs).toEqual([]);
    expect(await pair.column("target", "SELECT order_total(2)")).toEqual([150]);
    const v = await pair.verify({ exclude: ["notes"] });
    expect(v).toMatchObject({ identical: true, excluded: ["notes"], skipped: [] });
    const text = await runScript("verify", ["--exclude", "notes", "--quiet"], pair.env()).done;
    expect(text.stderr).toContain("excluded (--exclude): notes");
  });

  it("--skip-schema-objects leaves them out and says so", async () => {
    await pair.onTarget("DROP FUNCTION order_total");
    const r = await pair.verify({ exclude: ["notes"], skipSchemaObjects: true });
    expect(r).toMatchObject({ identical: true, objects: null });
    expect((await pair.verify({ exclude: ["notes"] })).identical).toBe(false);
    await pair.onTarget("CREATE FUNCTION order_total(oid INT) RETURNS INT READS SQL DATA RETURN (SELECT total FROM orders WHERE id = oid)");
  });

  it("DEFINERs are ignored unless --compare-definers", async () => {
    await pair.target.exec("CREATE USER IF NOT EXISTS 'app_owner'@'%'", "GRANT ALL ON app.* TO 'app_owner'@'%'");
    await pair.onTarget("DROP VIEW big_orders", "CREATE DEFINER = 'app_owner'@'%' VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100");
    expect((await pair.verify({ exclude: ["notes"] })).identical).toBe(true);
    const strict = await pair.verify({ exclude: ["notes"], compareDefiners: true });
    expect(strict.identical).toBe(false);
    expect(strict.objects).toMatchObject({ definers: "compared", diffs: [{ kind: "view", name: "big_orders", difference: "definition" }] });
  });

  it("an event created in another time zone differs (its STARTS is read in it), and is fixed in the source's", async () => {
    await pair.onTarget("SET SESSION time_zone = '+09:00'", "DROP EVENT nightly", EVENT(1), "SET SESSION time_zone = '+00:00'");
    const r = await pair.verify({ exclude: ["notes"] });
    expect(r.objects?.diffs).toEqual([expect.objectContaining({ kind: "event", name: "nightly", difference: "definition", target: expect.stringContaining("time_zone +09:00") })]);
    const fixed = await pair.sync({ exclude: ["notes"], fixSchemaObjects: true });
    expect(fixed).toMatchObject({ identical: true, verify: { objects: { fixed: ["event nightly"], diffs: [] } } });
  });

  it("a view named in --tables is reported as a view, not as an unknown table", async () => {
    const r = await pair.verify({ tables: ["orders", "big_orders"] });
    expect(r.skipped).toEqual([{ table: "big_orders", reason: expect.stringContaining("a view") }]);
    expect(r.tables.map((t) => t.table)).toEqual(["orders"]);
    expect(r.objects?.scope).toBe("selected tables");
  });

  it("a database missing on one side says so", async () => {
    const env = { ...pair.env(), TARGET_DATABASE_URL: pair.target.url("no_such_db") };
    const r = await runScript("verify", ["--json"], env).done;
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: "DB_MISSING", problem: expect.stringContaining("no_such_db does not exist") });
  });
});
