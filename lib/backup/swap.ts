import type { Connection, RowDataPacket } from "mysql2/promise";
import { RollbackError, messageOf } from "../errors";
import { ident } from "../mysql";

/**
 * Putting a restored staging schema in place of the target in one step, or not at all.
 *
 * Tables move with a single RENAME TABLE (atomic across all its tables in MariaDB 10.6+ / MySQL
 * 8): the target's old tables go to a "previous" schema, the staged ones come in. Triggers,
 * views, routines and events cannot move that way (RENAME TABLE refuses a table with triggers
 * across schemas; views cannot change schema), so the target's own are saved (SHOW CREATE)
 * and dropped just before the rename, and the backup's are created after it (post.sql). If
 * anything after the first drop fails, every step is undone in reverse: the target is left
 * as it was.
 */

export type ObjectKind = "TRIGGER" | "VIEW" | "PROCEDURE" | "FUNCTION" | "EVENT";

export interface SchemaObject {
  readonly kind: ObjectKind;
  readonly name: string;
}

export interface SavedObject extends SchemaObject {
  /** The CREATE statement as SHOW CREATE gives it. */
  readonly create: string;
  readonly sqlMode: string | null;
  readonly timeZone: string | null;
}

export interface TargetState {
  readonly exists: boolean;
  /** Base tables (and sequences): what RENAME moves. */
  readonly tables: string[];
  readonly objects: SavedObject[];
}

async function rows(c: Connection, sql: string, args: unknown[] = []): Promise<RowDataPacket[]> {
  const [r] = await c.query<RowDataPacket[]>(sql, args);
  return r;
}

/** Triggers first: a table with triggers cannot be renamed into another schema. */
export async function listObjects(c: Connection, db: string): Promise<SchemaObject[]> {
  const list = (kind: ObjectKind, r: RowDataPacket[]) => r.map((x) => ({ kind, name: String(x.name) }));
  return [
    ...list("TRIGGER", await rows(c, "SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?", [db])),
    ...list("VIEW", await rows(c, "SELECT TABLE_NAME AS name FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?", [db])),
    ...list("EVENT", await rows(c, "SELECT EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?", [db])),
    ...(await rows(c, "SELECT ROUTINE_TYPE AS kind, ROUTINE_NAME AS name FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?", [db])).map((x) => ({
      kind: x.kind as ObjectKind,
      name: String(x.name),
    })),
  ];
}

const createColumn: Record<ObjectKind, string> = {
  TRIGGER: "SQL Original Statement",
  VIEW: "Create View",
  PROCEDURE: "Create Procedure",
  FUNCTION: "Create Function",
  EVENT: "Create Event",
};

function qualified(db: string, o: SchemaObject): string {
  return `${ident(db)}.${ident(o.name)}`;
}

export async function captureTarget(c: Connection, db: string): Promise<TargetState> {
  const exists = (await rows(c, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [db])).length > 0;
  if (!exists) return { exists, tables: [], objects: [] };
  const tables = (await rows(c, "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW' ORDER BY TABLE_NAME", [db])).map((r) =>
    String(r.name),
  );
  const objects: SavedObject[] = [];
  for (const o of await listObjects(c, db)) {
    const [r] = await rows(c, `SHOW CREATE ${o.kind} ${qualified(db, o)}`);
    objects.push({ ...o, create: String(r[createColumn[o.kind]]), sqlMode: r.sql_mode ?? null, timeZone: r.time_zone ?? null });
  }
  return { exists, tables, objects };
}

async function dropObjects(c: Connection, db: string, objects: readonly SchemaObject[]): Promise<void> {
  for (const o of objects) await c.query(`DROP ${o.kind} IF EXISTS ${qualified(db, o)}`);
}

/**
 * Recreates saved objects with the sql_mode (and event time zone) they were defined under.
 * A view over another view fails until that one exists: failures are retried while any
 * object still gets created.
 */
async function recreate(c: Connection, db: string, objects: readonly SavedObject[]): Promise<void> {
  if (objects.length === 0) return;
  await c.query(`USE ${ident(db)}`);
  let pending = [...objects].reverse();
  for (;;) {
    const failed: Array<[SavedObject, unknown]> = [];
    for (const o of pending) {
      try {
        if (o.sqlMode !== null) await c.query("SET SESSION sql_mode = ?", [o.sqlMode]);
        if (o.timeZone !== null) await c.query("SET SESSION time_zone = ?", [o.timeZone]);
        await c.query(o.create);
      } catch (e) {
        failed.push([o, e]);
      } finally {
        await c.query("SET SESSION time_zone = '+00:00', sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'");
      }
    }
    if (failed.length === 0) return;
    if (failed.length === pending.length) {
      throw new Error(failed.map(([o, e]) => `${o.kind} ${o.name}: ${messageOf(e)}`).join("; "));
    }
    pending = failed.map(([o]) => o);
  }
}

function renameAll(pairs: ReadonlyArray<[string, string]>): string {
  return `RENAME TABLE ${pairs.map(([from, to]) => `${from} TO ${to}`).join(", ")}`;
}

export interface SwapPlan {
  readonly target: string;
  readonly staging: string;
  /** Where the target's current tables go; created when there are any. */
  readonly previous: string;
  readonly stagedTables: readonly string[];
  /** Character set for the target when it does not exist yet. */
  readonly createTarget: string;
  /** Creates the backup's triggers/views/routines/events in the target (runs post.sql). */
  readonly createObjects: () => Promise<void>;
}

export interface SwapResult {
  readonly createdTarget: boolean;
  /** The schema now holding the target's old tables, or null when it had none. */
  readonly previous: string | null;
  readonly replacedTables: number;
  readonly replacedObjects: number;
}

/**
 * Swaps the staged tables in. On failure the target is put back (tables renamed back, objects
 * recreated, created schemas dropped) and the original error is rethrown; if putting back
 * itself fails, the error says exactly what is where.
 */
export async function swapIn(c: Connection, plan: SwapPlan): Promise<SwapResult> {
  const before = await captureTarget(c, plan.target);
  const t = (db: string, table: string) => `${ident(db)}.${ident(table)}`;
  const outPairs = before.tables.map((name): [string, string] => [t(plan.target, name), t(plan.previous, name)]);
  const inPairs = plan.stagedTables.map((name): [string, string] => [t(plan.staging, name), t(plan.target, name)]);
  const undo: Array<{ what: string; run: () => Promise<unknown> }> = [];
  try {
    if (!before.exists) {
      await c.query(`CREATE DATABASE ${ident(plan.target)} ${plan.createTarget}`);
      undo.push({ what: `drop the created database ${plan.target}`, run: () => c.query(`DROP DATABASE ${ident(plan.target)}`) });
    }
    if (outPairs.length > 0) {
      await c.query(`CREATE DATABASE ${ident(plan.previous)}`);
      undo.push({ what: `drop ${plan.previous}`, run: () => c.query(`DROP DATABASE IF EXISTS ${ident(plan.previous)}`) });
    }
    undo.push({ what: `recreate ${before.objects.length} trigger/view/routine/event(s) in ${plan.target}`, run: () => recreate(c, plan.target, before.objects) });
    await dropObjects(c, plan.target, before.objects);
    if (outPairs.length + inPairs.length > 0) await c.query(renameAll([...outPairs, ...inPairs]));
    undo.push({
      what: `rename the tables back (${plan.target} → ${plan.staging}, ${plan.previous} → ${plan.target})`,
      run: async () => {
        await dropObjects(c, plan.target, await listObjects(c, plan.target));
        if (outPairs.length + inPairs.length > 0) {
          await c.query(renameAll([...inPairs.map(([a, b]): [string, string] => [b, a]), ...outPairs.map(([a, b]): [string, string] => [b, a])]));
        }
      },
    });
    await plan.createObjects();
  } catch (e) {
    const failed: string[] = [];
    for (const step of undo.reverse()) {
      try {
        await step.run();
      } catch (u) {
        failed.push(`${step.what}: ${messageOf(u)}`);
      }
    }
    if (failed.length > 0) {
      throw new RollbackError(
        "RESTORE_UNDO_FAILED",
        plan.target,
        `${messageOf(e)}; then putting the target back failed: ${failed.join("; ")}`,
        `the target's old tables are in ${plan.previous} if not back in ${plan.target}; the restored ones in ${plan.staging}`,
      );
    }
    throw e;
  }
  return {
    createdTarget: !before.exists,
    previous: outPairs.length > 0 ? plan.previous : null,
    replacedTables: before.tables.length,
    replacedObjects: before.objects.length,
  };
}
