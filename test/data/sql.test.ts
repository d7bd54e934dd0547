import { describe, expect, it } from "vitest";
import { normaliseObjectSql } from "../../lib/flavor";
import { diffObjects, SchemaObject } from "../../lib/data/objects";
import { SampleCollector } from "../../lib/data/samples";
import type { Side } from "../../lib/data/session";
import {
  EVENTS_SQL,
  GET_LOCK_SQL,
  LOCK_HOLDER_SQL,
  OBJECT_SESSION_SQL,
  OBJECT_TIME_ZONE_SQL,
  ROUTINES_SQL,
  SESSION_OWNER_SQL,
  TRIGGERS_SQL,
  VIEWS_SQL,
  dropObjectSql,
  showCreateSql,
} from "../../lib/data/sql";
import { syncLockName } from "../../lib/data/sync";
import { SavedTrigger, replayStatement } from "../../lib/data/triggers";
import type { ColumnInfo, TablePlan } from "../../lib/data/types";

/** The statements of triggers.ts, objects.ts and sync's lock, as exact text, and the pure helpers around them. */
describe("statements for triggers, schema objects and the sync lock", () => {
  it("are exactly these", () => {
    expect(TRIGGERS_SQL).toBe(
      "SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS tbl, ACTION_TIMING AS timing, EVENT_MANIPULATION AS event, " +
        "ACTION_ORDER AS actionOrder, DEFINER AS definer, SQL_MODE AS sqlMode, CHARACTER_SET_CLIENT AS characterSetClient, " +
        "COLLATION_CONNECTION AS collationConnection, DATABASE_COLLATION AS databaseCollation, ACTION_STATEMENT AS body " +
        "FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER",
    );
    expect(showCreateSql("TRIGGER", "odd`name")).toBe("SHOW CREATE TRIGGER `odd``name`");
    expect(dropObjectSql("PROCEDURE", "p")).toBe("DROP PROCEDURE IF EXISTS `p`");
    expect(OBJECT_SESSION_SQL).toBe("SET SESSION sql_mode = ?, character_set_client = ?, collation_connection = ?");
    expect(OBJECT_TIME_ZONE_SQL).toBe("SET SESSION time_zone = ?");
    expect(VIEWS_SQL).toBe("SELECT TABLE_NAME AS name FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME");
    expect(ROUTINES_SQL).toBe("SELECT ROUTINE_NAME AS name, ROUTINE_TYPE AS kind FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME");
    expect(EVENTS_SQL).toBe("SELECT EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME");
    expect(GET_LOCK_SQL).toBe("SELECT GET_LOCK(?, 0) AS got");
    expect(LOCK_HOLDER_SQL).toBe("SELECT IS_USED_LOCK(?) AS id");
    expect(SESSION_OWNER_SQL).toBe("SELECT USER AS user, HOST AS host FROM information_schema.PROCESSLIST WHERE ID = ?");
  });

  it("names the lock after the database, hashed when longer than GET_LOCK's 64 characters", () => {
    expect(syncLockName("app")).toBe("idc-rollback-sync:app");
    const long = syncLockName("d".repeat(60));
    expect(long).toMatch(/^idc-rollback-sync:[0-9a-f]{40}$/);
    expect(long.length).toBeLessThanOrEqual(64);
  });

  it("replays a trigger FOLLOWS the one before it, whatever order clause it was written with", () => {
    const t = {
      name: "b",
      statement: "CREATE DEFINER=`root`@`localhost` TRIGGER b BEFORE INSERT ON t FOR EACH ROW PRECEDES `a` SET NEW.x = 1",
    } as SavedTrigger;
    expect(replayStatement(t, null)).toBe("CREATE DEFINER=`root`@`localhost` TRIGGER b BEFORE INSERT ON t FOR EACH ROW SET NEW.x = 1");
    expect(replayStatement(t, "fir`st")).toBe("CREATE DEFINER=`root`@`localhost` TRIGGER b BEFORE INSERT ON t FOR EACH ROW FOLLOWS `fir``st` SET NEW.x = 1");
  });

  it("normalises SHOW CREATE text: whitespace, database qualifier, DEFINER unless compared", () => {
    const mysql = "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v` AS select `app`.`t`.`id` AS `id` from `app`.`t`";
    expect(normaliseObjectSql(mysql, "app", false)).toBe("CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v` AS select `t`.`id` AS `id` from `t`");
    expect(normaliseObjectSql(mysql, "app", true)).toContain("DEFINER=`root`@`localhost`");
    expect(normaliseObjectSql("CREATE  PROCEDURE `p`()\n  SELECT 1", "app", false)).toBe("CREATE PROCEDURE `p`() SELECT 1");
    // As typed, unquoted: only the database qualifier goes, not a longer name ending in it.
    expect(normaliseObjectSql("CREATE TRIGGER shop.t BEFORE INSERT ON shop.orders FOR EACH ROW SET NEW.x = myshop.f()", "shop", false)).toBe(
      "CREATE TRIGGER t BEFORE INSERT ON orders FOR EACH ROW SET NEW.x = myshop.f()",
    );
  });

  it("diffs objects into missing, extra and different definitions", () => {
    const o = (kind: SchemaObject["kind"], name: string, definition: string) => ({ kind, name, definition }) as SchemaObject;
    expect(diffObjects([o("view", "v", "a"), o("trigger", "t", "x"), o("function", "f", "1")], [o("view", "v", "b"), o("event", "e", "z"), o("function", "f", "1")])).toEqual([
      { kind: "view", name: "v", difference: "definition", source: "a", target: "b" },
      { kind: "trigger", name: "t", difference: "missing", source: "x", target: null },
      { kind: "event", name: "e", difference: "extra", source: null, target: "z" },
    ]);
  });

  it("names each sample key once, though a later sync pass meets the row again", async () => {
    const id: ColumnInfo = { name: "id", dataType: "int", columnType: "int", kind: "integer", nullable: false, charset: null, collation: null, generated: false, generationExpression: null, extra: "" };
    const plan: TablePlan = { table: "t", key: { index: "PRIMARY", columns: [id] }, columns: [id], convertColumns: new Set(), otherUniqueKeys: [], updateColumn: null };
    const samples = new SampleCollector(plan, 10);
    // Key lists (not "all") and no changed rows: add() reads nothing from the servers.
    const chunk = { range: {}, sourceRows: 2, targetRows: 0, missing: [["1"], ["2"]], extra: [], changed: [], identical: false, sourceChecksum: { n: 2, x: "" } };
    const noServer = undefined as unknown as Side;
    await samples.add(chunk, noServer, noServer);
    await samples.add({ ...chunk, missing: [["2"], ["3"]] }, noServer, noServer);
    expect(samples.samples.map((s) => s.key.id)).toEqual(["1", "2", "3"]);
  });
});
