import type { Connection, RowDataPacket } from "mysql2/promise";
import { normaliseObjectSql } from "../flavor";
import { ident } from "../mysql";
import type { Side } from "./session";
import { EVENTS_SQL, ObjectKeyword, ROUTINES_SQL, VIEWS_SQL, dropObjectSql, showCreateSql } from "./sql";
import { createInSession, readTriggers, replayStatement } from "./triggers";

/**
 * Triggers, views, stored procedures and functions, and events: the part of a schema a
 * rollback returns to that holds no rows (issue 12 item 2). A target missing a trigger or a
 * procedure is not "identical". Each object is compared by its SHOW CREATE text, normalised by
 * flavor.ts (whitespace, database qualifier, DEFINER unless compared) plus what the text does
 * not say: the sql_mode it runs under (routines, triggers, events) and, for triggers, their
 * firing order. Views compare ALGORITHM and SQL SECURITY as written in SHOW CREATE VIEW.
 */

export type ObjectKind = "trigger" | "view" | "procedure" | "function" | "event";

export interface SchemaObject {
  readonly kind: ObjectKind;
  readonly name: string;
  /** Triggers: the table they belong to. */
  readonly table?: string;
  /** What is compared (normalised). */
  readonly definition: string;
  /** The CREATE statement to replay on the other side, and the session it needs. */
  readonly create: string;
  readonly sqlMode: string;
  readonly characterSetClient: string;
  readonly collationConnection: string;
  /** Events: the time zone they were created in (SHOW CREATE EVENT's `time_zone`). */
  readonly timeZone?: string;
}

export interface ObjectDiff {
  readonly kind: ObjectKind;
  readonly name: string;
  /** missing: on the source only; extra: on the target only; definition: both, different. */
  readonly difference: "missing" | "extra" | "definition";
  readonly source: string | null;
  readonly target: string | null;
}

export interface ObjectsReport {
  /** Whether DEFINER clauses were part of the comparison (--compare-definers). */
  readonly definers: "compared" | "ignored";
  /** Which objects were compared: all of the database, or (with --tables) the selected tables' triggers and views. */
  readonly scope: "database" | "selected tables";
  readonly compared: number;
  readonly diffs: ObjectDiff[];
  /** Objects `sync --fix-schema-objects` created or replaced on the target. */
  readonly fixed: string[];
}

export interface ObjectScope {
  /** Only these tables' triggers and these views (a --tables selection); all objects when absent. */
  readonly tables?: ReadonlySet<string>;
  readonly compareDefiners: boolean;
}

/**
 * What a run compares: with a --tables selection, the triggers of the compared tables and the
 * views named; otherwise every object of the database (--exclude only leaves out tables' rows).
 */
export function objectScope(opts: { tables?: readonly string[]; compareDefiners?: boolean }, checks: readonly { table: string }[], skipped: readonly { table: string }[]): ObjectScope {
  const compareDefiners = Boolean(opts.compareDefiners);
  return opts.tables ? { tables: new Set([...checks.map((c) => c.table), ...skipped.map((s) => s.table)]), compareDefiners } : { compareDefiners };
}

const SHOW: Record<Exclude<ObjectKind, "trigger">, { keyword: Exclude<ObjectKeyword, "TRIGGER">; column: string }> = {
  view: { keyword: "VIEW", column: "Create View" },
  procedure: { keyword: "PROCEDURE", column: "Create Procedure" },
  function: { keyword: "FUNCTION", column: "Create Function" },
  event: { keyword: "EVENT", column: "Create Event" },
};

async function names(conn: Connection, sql: string, database: string): Promise<RowDataPacket[]> {
  return (await conn.query<RowDataPacket[]>(sql, [database]))[0];
}

/** Every object of one side's database within the scope. */
export async function readObjects(side: Side, scope: ObjectScope): Promise<SchemaObject[]> {
  const conn = side.reader;
  const db = side.dsn.database;
  const norm = (text: string) => normaliseObjectSql(text, db, scope.compareDefiners);
  const out: SchemaObject[] = (await readTriggers(conn, db, scope.tables)).map((t) => ({
    kind: "trigger",
    name: t.name,
    table: t.table,
    definition: `${norm(replayStatement(t, null))} /* order ${t.actionOrder}, sql_mode ${t.sqlMode} */`,
    create: replayStatement(t, null),
    sqlMode: t.sqlMode,
    characterSetClient: t.characterSetClient,
    collationConnection: t.collationConnection,
  }));
  const wanted: { kind: Exclude<ObjectKind, "trigger">; name: string }[] = (await names(conn, VIEWS_SQL, db))
    .filter((r) => !scope.tables || scope.tables.has(String(r.name)))
    .map((r) => ({ kind: "view", name: String(r.name) }));
  if (!scope.tables) {
    for (const r of await names(conn, ROUTINES_SQL, db)) wanted.push({ kind: String(r.kind).toLowerCase() as "procedure" | "function", name: String(r.name) });
    for (const r of await names(conn, EVENTS_SQL, db)) wanted.push({ kind: "event", name: String(r.name) });
  }
  for (const w of wanted) {
    const [[row]] = await conn.query<RowDataPacket[]>(showCreateSql(SHOW[w.kind].keyword, w.name));
    const create = String(row[SHOW[w.kind].column] ?? "");
    // Views have no sql_mode of their own; routines and events run under the one they were created
    // with; an event's STARTS/ENDS are read in its own time zone, which its text does not print.
    const sqlMode = row.sql_mode === undefined ? "" : String(row.sql_mode);
    const timeZone = row.time_zone === undefined ? undefined : String(row.time_zone);
    out.push({
      kind: w.kind,
      name: w.name,
      definition: `${norm(create)}${sqlMode ? ` /* sql_mode ${sqlMode} */` : ""}${timeZone ? ` /* time_zone ${timeZone} */` : ""}`,
      timeZone,
      create,
      sqlMode,
      characterSetClient: String(row.character_set_client),
      collationConnection: String(row.collation_connection),
    });
  }
  return out;
}

/** Differences between the two sides' objects (pure). */
export function diffObjects(source: readonly SchemaObject[], target: readonly SchemaObject[]): ObjectDiff[] {
  const key = (o: SchemaObject) => `${o.kind} ${o.name}`;
  const t = new Map(target.map((o) => [key(o), o]));
  const s = new Map(source.map((o) => [key(o), o]));
  const out: ObjectDiff[] = [];
  for (const o of source) {
    const other = t.get(key(o));
    if (!other) out.push({ kind: o.kind, name: o.name, difference: "missing", source: o.definition, target: null });
    else if (other.definition !== o.definition) out.push({ kind: o.kind, name: o.name, difference: "definition", source: o.definition, target: other.definition });
  }
  for (const o of target) if (!s.has(key(o))) out.push({ kind: o.kind, name: o.name, difference: "extra", source: null, target: o.definition });
  return out;
}

export async function compareObjects(sides: { source: Side; target: Side }, scope: ObjectScope): Promise<{ report: ObjectsReport; source: SchemaObject[] }> {
  const [s, t] = await Promise.all([readObjects(sides.source, scope), readObjects(sides.target, scope)]);
  const diffs = diffObjects(s, t);
  return {
    source: s,
    report: { definers: scope.compareDefiners ? "compared" : "ignored", scope: scope.tables ? "selected tables" : "database", compared: new Set([...s, ...t].map((o) => `${o.kind} ${o.name}`)).size, diffs, fixed: [] },
  };
}

/**
 * `sync --fix-schema-objects`: creates the source's missing objects on the target and replaces
 * differing ones (DROP, then CREATE in the source object's session settings). Objects only the
 * target has are reported, never dropped: they may be IDC-only on purpose. Views first depend on
 * tables only; routines may call each other, which MySQL resolves at run time, so order is free.
 */
export async function fixObjects(
  sourceDatabase: string,
  target: Side,
  writer: Connection,
  diffs: readonly ObjectDiff[],
  source: readonly SchemaObject[],
): Promise<string[]> {
  // SHOW CREATE VIEW qualifies tables with the source's database name; the target's may differ.
  const requalify = (sql: string) => sql.split(`${ident(sourceDatabase)}.`).join(`${ident(target.dsn.database)}.`);
  const byKey = new Map(source.map((o) => [`${o.kind} ${o.name}`, o]));
  const fixed: string[] = [];
  for (const d of diffs) {
    const o = byKey.get(`${d.kind} ${d.name}`);
    if (!o || d.difference === "extra") continue;
    if (d.difference === "definition") await writer.query(dropObjectSql(o.kind === "trigger" ? "TRIGGER" : SHOW[o.kind].keyword, o.name));
    await createInSession(target.dsn, target, o, requalify(o.create), `${o.kind} ${o.name}`);
    fixed.push(`${o.kind} ${o.name}`);
  }
  return fixed;
}
