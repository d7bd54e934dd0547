import type { Connection, RowDataPacket } from "mysql2/promise";
import type { Dsn } from "../dsn";
import { RollbackError, messageOf } from "../errors";
import { ServerInfo, definerPrivilege } from "../flavor";
import { connect, ident } from "../mysql";
import { OBJECT_SESSION_SQL, OBJECT_TIME_ZONE_SQL, TRIGGERS_SQL, dropObjectSql, showCreateSql } from "./sql";

/**
 * Target triggers during a sync (issue 12). A trigger fires on every row the sync writes: a
 * BEFORE INSERT `SET NEW.payment_date = NOW()` rewrote historical rows through the changed-row
 * upsert (INSERT … ON DUPLICATE KEY UPDATE runs BEFORE INSERT triggers even for rows it only
 * updates), an AFTER INSERT audit trigger adds rows the source never had. So by default the
 * sync saves the target's triggers of the tables it writes (into the resume state, durably,
 * before the first DROP), drops them, syncs, recreates them exactly — same DEFINER, sql_mode,
 * character set and collation, same order among triggers of one table/timing/event — and proves
 * they are back by comparing information_schema's definitions with the saved ones. A kill -9 at
 * any point leaves the definitions in the state file; the next run (or `sync
 * --restore-triggers`) recreates whatever is missing.
 */

export interface SavedTrigger {
  readonly name: string;
  readonly table: string;
  readonly timing: string;
  readonly event: string;
  /** Position among triggers of the same table, timing and event (1 = fires first). */
  readonly actionOrder: number;
  readonly definer: string;
  readonly sqlMode: string;
  readonly characterSetClient: string;
  readonly collationConnection: string;
  /** The database's collation when the trigger was created; a recreated trigger takes today's. */
  readonly databaseCollation: string;
  /** information_schema ACTION_STATEMENT: the body, compared after recreation. */
  readonly body: string;
  /** SHOW CREATE TRIGGER's `SQL Original Statement` (with DEFINER): what is replayed. */
  readonly statement: string;
}

/** Every trigger of the database (optionally only of some tables), in firing order, with its CREATE statement. */
export async function readTriggers(conn: Connection, database: string, tables?: ReadonlySet<string>): Promise<SavedTrigger[]> {
  const [list] = await conn.query<RowDataPacket[]>(TRIGGERS_SQL, [database]);
  const out: SavedTrigger[] = [];
  for (const r of list) {
    if (tables && !tables.has(String(r.tbl))) continue;
    const [[create]] = await conn.query<RowDataPacket[]>(showCreateSql("TRIGGER", String(r.name)));
    out.push({
      name: String(r.name),
      table: String(r.tbl),
      timing: String(r.timing),
      event: String(r.event),
      actionOrder: Number(r.actionOrder),
      definer: String(r.definer),
      sqlMode: String(r.sqlMode),
      characterSetClient: String(r.characterSetClient),
      collationConnection: String(r.collationConnection),
      databaseCollation: String(r.databaseCollation),
      body: String(r.body),
      statement: String(create["SQL Original Statement"]),
    });
  }
  return out;
}

/** What must match for a recreated trigger to behave like the saved one. */
export function triggerDefinition(t: SavedTrigger): string {
  return JSON.stringify([t.table, t.timing, t.event, t.actionOrder, t.definer, t.sqlMode, t.characterSetClient, t.collationConnection, t.databaseCollation, t.body]);
}

/**
 * The CREATE statement to replay: the original one with its FOLLOWS/PRECEDES clause replaced by
 * `FOLLOWS <the trigger that fires before it>`. The original clause names a trigger that may not
 * exist yet when triggers are recreated in firing order (PRECEDES a later one); FOLLOWS the
 * previous one rebuilds the same order.
 */
export function replayStatement(t: SavedTrigger, follows: string | null): string {
  const name = "(?:`(?:[^`]|``)+`|[A-Za-z0-9_$]+)";
  const stripped = t.statement.replace(new RegExp(`(\\bFOR\\s+EACH\\s+ROW\\s+)(?:FOLLOWS|PRECEDES)\\s+${name}\\s*`, "i"), "$1");
  if (!follows) return stripped;
  return stripped.replace(/\bFOR\s+EACH\s+ROW\s+/i, (m) => `${m}FOLLOWS ${ident(follows)} `);
}

/** Groups saved triggers by table, timing and event, each group in firing order. */
function firingGroups(saved: readonly SavedTrigger[]): SavedTrigger[][] {
  const groups = new Map<string, SavedTrigger[]>();
  for (const t of saved) {
    const k = `${t.table}\n${t.timing}\n${t.event}`;
    groups.set(k, [...(groups.get(k) ?? []), t]);
  }
  return [...groups.values()].map((g) => g.sort((a, b) => a.actionOrder - b.actionOrder));
}

export async function dropTriggers(conn: Connection, triggers: readonly SavedTrigger[]): Promise<void> {
  for (const t of triggers) await conn.query(dropObjectSql("TRIGGER", t.name));
}

/**
 * Creates one stored object in the session settings it was defined under. The statement's
 * bytes must reach the server in `character_set_client`: mysql2 encodes a query in the charset
 * of its handshake, so the session is opened with that charset (a SET NAMES alone would leave
 * node sending UTF-8 that the server then reads as, say, latin1).
 */
export async function createInSession(
  dsn: Dsn,
  server: ServerInfo,
  settings: { sqlMode: string; characterSetClient: string; collationConnection: string; timeZone?: string },
  statement: string,
  subject: string,
): Promise<void> {
  const c = await connect(dsn, { charset: settings.characterSetClient });
  try {
    await c.query(OBJECT_SESSION_SQL, [settings.sqlMode, settings.characterSetClient, settings.collationConnection]);
    if (settings.timeZone) await c.query(OBJECT_TIME_ZONE_SQL, [settings.timeZone]);
    await c.query(statement);
  } catch (e) {
    const message = messageOf(e);
    // MySQL with binary logging: a trigger or routine created without SUPER is refused unless
    // log_bin_trust_function_creators=1 (a parameter-group setting on RDS), whatever the DEFINER.
    const hint = /log_bin_trust_function_creators/.test(message)
      ? "set log_bin_trust_function_creators=1 on the target (binary logging is on), or sync as an account with SUPER; then rerun sync or sync --restore-triggers"
      : /SUPER|SET_USER_ID|SET_ANY_DEFINER|SET USER|definer/i.test(message)
        ? `recreating an object with another user's DEFINER needs ${definerPrivilege(server)} (or SUPER) on the target; grant it, then rerun sync or sync --restore-triggers`
        : "fix the cause, then rerun sync or sync --restore-triggers: the definitions are kept in the resume state";
    throw new RollbackError("OBJECT_CREATE", subject, `recreating it on the target failed: ${message}`, hint);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Recreates every saved trigger the target lacks, in firing order, then proves each saved
 * trigger is present with the same definition. Returns the names it created.
 */
export async function restoreTriggers(dsn: Dsn, server: ServerInfo, conn: Connection, saved: readonly SavedTrigger[]): Promise<string[]> {
  const present = new Map((await readTriggers(conn, dsn.database)).map((t) => [t.name, t]));
  const created: string[] = [];
  for (const group of firingGroups(saved)) {
    let previous: string | null = null;
    for (const t of group) {
      if (!present.has(t.name)) {
        await createInSession(dsn, server, t, replayStatement(t, previous), `trigger ${t.name} on ${t.table}`);
        created.push(t.name);
      }
      previous = t.name;
    }
  }
  const after = new Map((await readTriggers(conn, dsn.database)).map((t) => [t.name, t]));
  const wrong = saved.filter((t) => {
    const now = after.get(t.name);
    return !now || triggerDefinition(now) !== triggerDefinition(t);
  });
  if (wrong.length) {
    throw new RollbackError(
      "TRIGGERS_NOT_RESTORED",
      wrong.map((t) => t.name).join(", "),
      "after recreation these triggers are missing or differ from the saved definitions (definer, sql_mode, character set, collation, order or body)",
      "compare SHOW CREATE TRIGGER with the definitions kept in the resume state; a different database collation needs ALTER DATABASE first",
    );
  }
  return created;
}
