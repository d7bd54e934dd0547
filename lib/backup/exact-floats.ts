import type { Connection, RowDataPacket } from "mysql2/promise";
import { Dsn } from "../dsn";
import { messageOf } from "../errors";
import { ServerInfo, binlogStatusSql, isGeneratedColumn } from "../flavor";
import { connect, ident } from "../mysql";

/**
 * FLOAT values exact through a backup. Both servers send a FLOAT as text with 6 significant
 * digits (FLT_DIG), so every dump tool writes 1.0000002 as `1` and 16777217 as `16777200`:
 * the restored value is another number. (DOUBLE is sent with up to 17 digits, which round-trips,
 * except MySQL's -0, written `-0` and read back as the integer 0.) No dump option changes that.
 *
 * So, per table with FLOAT (or, on MySQL, a -0 DOUBLE), the exact values are read once more —
 * `CAST(f AS DOUBLE)` widens a FLOAT exactly, and a DOUBLE literal narrows back to the same
 * FLOAT — keyed by primary key, and written into a file the restore runs after the table's
 * rows are in: a temporary table and one UPDATE … JOIN.
 *
 * They must come from the dump's own snapshot. A second connection cannot share it without a
 * global read lock, but it can prove it sees the same: its snapshot is taken after the dump
 * recorded its binary log position, and that position must still be the server's afterwards
 * (MariaDB: the snapshot's own binlog_snapshot_position; MySQL: SHOW BINARY LOG STATUS after
 * START TRANSACTION WITH CONSISTENT SNAPSHOT: a commit visible to us but not to the dump would
 * have been binlogged past it). Not provable (writes during the dump, binary logging off, no
 * primary key): no file, and the manifest says which tables keep 6-digit FLOATs.
 */

export interface ExactColumns {
  readonly table: string;
  readonly key: ReadonlyArray<{ name: string; type: string }>;
  readonly floats: readonly string[];
  /** DOUBLE columns, for MySQL's -0 only. */
  readonly doubles: readonly string[];
}

/** A DOUBLE as a DOUBLE literal that reads back bit for bit: shortest round-trip digits; -0 kept. Pure. */
export function doubleLiteral(n: number): string {
  if (Object.is(n, -0)) return "-0e0";
  const s = String(n);
  return /e/i.test(s) ? s : `${s}e0`;
}

/** The rows a file must carry: any FLOAT set, or a DOUBLE that is -0. Pure. */
export function exactRowsSql(c: ExactColumns): string {
  const cols = [...c.key.map((k) => ident(k.name)), ...c.floats.map((f) => `CAST(${ident(f)} AS DOUBLE) AS ${ident(f)}`), ...c.doubles.map(ident)];
  const where = [...c.floats.map((f) => `${ident(f)} IS NOT NULL`), ...c.doubles.map((d) => `(${ident(d)} = 0 AND ATAN2(${ident(d)}, -1) < 0)`)];
  return `SELECT ${cols.join(", ")} FROM ${ident(c.table)} WHERE ${where.join(" OR ")}`;
}

const TEMP = "`idc_rollback_exact`";

/** The statements that put the exact values back into the loaded table. `escape` quotes a key value. Pure. */
export function exactFileSql(c: ExactColumns, rows: readonly RowDataPacket[], escape: (v: unknown) => string, batch = 1000): string {
  const values = [...c.floats, ...c.doubles];
  const out = [
    `CREATE TEMPORARY TABLE ${TEMP} (${[...c.key.map((k) => `${ident(k.name)} ${k.type}`), ...values.map((v) => `${ident(v)} DOUBLE`)].join(", ")}, PRIMARY KEY (${c.key.map((k) => ident(k.name)).join(", ")}));`,
  ];
  for (let i = 0; i < rows.length; i += batch) {
    const tuples = rows.slice(i, i + batch).map((r) => `(${[...c.key.map((k) => escape(r[k.name])), ...values.map((v) => (r[v] === null ? "NULL" : doubleLiteral(Number(r[v]))))].join(",")})`);
    out.push(`INSERT INTO ${TEMP} VALUES ${tuples.join(",")};`);
  }
  const join = c.key.map((k) => `t.${ident(k.name)} = x.${ident(k.name)}`).join(" AND ");
  out.push(`UPDATE ${ident(c.table)} t JOIN ${TEMP} x ON ${join} SET ${values.map((v) => `t.${ident(v)} = x.${ident(v)}`).join(", ")};`);
  out.push(`DROP TEMPORARY TABLE ${TEMP};`);
  return out.join("\n") + "\n";
}

/** Tables whose FLOATs (or MySQL -0 DOUBLEs) a dump loses, with their primary key; and those without one. */
async function lossyTables(c: Connection, info: ServerInfo, db: string): Promise<{ tables: ExactColumns[]; noKey: string[] }> {
  const [cols] = await c.query<RowDataPacket[]>(
    `SELECT c.TABLE_NAME AS t, c.COLUMN_NAME AS col, c.DATA_TYPE AS type, c.EXTRA AS extra
       FROM information_schema.COLUMNS c JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
      WHERE c.TABLE_SCHEMA = ? AND t.TABLE_TYPE = 'BASE TABLE' AND c.DATA_TYPE IN ('float', 'double') ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION`,
    [db],
  );
  const byTable = new Map<string, { floats: string[]; doubles: string[] }>();
  for (const r of cols) {
    if (isGeneratedColumn(String(r.extra))) continue;
    const e = byTable.get(r.t) ?? { floats: [], doubles: [] };
    if (r.type === "float") e.floats.push(r.col);
    else if (info.flavor === "mysql") e.doubles.push(r.col);
    byTable.set(r.t, e);
  }
  const tables: ExactColumns[] = [];
  const noKey: string[] = [];
  for (const [table, e] of byTable) {
    if (e.floats.length + e.doubles.length === 0) continue;
    const [key] = await c.query<RowDataPacket[]>(
      `SELECT k.COLUMN_NAME AS name, c.COLUMN_TYPE AS type FROM information_schema.KEY_COLUMN_USAGE k
         JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = k.TABLE_SCHEMA AND c.TABLE_NAME = k.TABLE_NAME AND c.COLUMN_NAME = k.COLUMN_NAME
        WHERE k.TABLE_SCHEMA = ? AND k.TABLE_NAME = ? AND k.CONSTRAINT_NAME = 'PRIMARY' ORDER BY k.ORDINAL_POSITION`,
      [db, table],
    );
    if (key.length === 0) noKey.push(table);
    else tables.push({ table, key: key.map((k) => ({ name: String(k.name), type: String(k.type) })), ...e });
  }
  return { tables, noKey };
}

/** Where the snapshot just opened on `c` stands in the binary log, as "file:pos". */
async function snapshotPosition(c: Connection, info: ServerInfo): Promise<string | null> {
  if (info.flavor === "mariadb") {
    const [r] = await c.query<RowDataPacket[]>("SHOW STATUS LIKE 'binlog_snapshot_%'");
    const v = Object.fromEntries(r.map((x) => [String(x.Variable_name).toLowerCase(), String(x.Value)]));
    return v.binlog_snapshot_file ? `${v.binlog_snapshot_file}:${v.binlog_snapshot_position}` : null;
  }
  const [r] = await c.query<RowDataPacket[]>(binlogStatusSql(info));
  return r[0] ? `${r[0].File}:${r[0].Position}` : null;
}

export interface ExactFloats {
  /** Table → the SQL that puts its exact values back. */
  readonly files: Map<string, string>;
  /** Why some tables keep 6-digit FLOATs (empty when every FLOAT is exact). */
  readonly notes: string[];
}

/**
 * Reads the exact values in a snapshot proven equal to the dump's (`dumpPosition`, "file:pos"
 * from the dump's header); or says why it could not. Never throws: a backup without exact
 * FLOATs is still a backup, and the manifest says so.
 */
export async function readExactFloats(dsn: Dsn, info: ServerInfo, dumpPosition: string | null): Promise<ExactFloats> {
  const c = await connect(dsn);
  try {
    await c.query("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    await c.query("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
    const { tables, noKey } = await lossyTables(c, info, dsn.database);
    const notes = noKey.map((t) => `\`${t}\` has no primary key: its FLOAT values are as the dump tool wrote them (6 significant digits)`);
    if (tables.length === 0) return { files: new Map(), notes };
    const names = tables.map((t) => `\`${t.table}\``).join(", ");
    if (dumpPosition === null) return { files: new Map(), notes: [...notes, `no binary log position: FLOAT values of ${names} could not be read exactly in the dump's snapshot (6 significant digits)`] };
    const ours = await snapshotPosition(c, info);
    if (ours !== dumpPosition) {
      return { files: new Map(), notes: [...notes, `the server was written to during the dump (binlog ${dumpPosition} → ${ours}): FLOAT values of ${names} are as the dump tool wrote them (6 significant digits)`] };
    }
    const files = new Map<string, string>();
    for (const t of tables) {
      const [rows] = await c.query<RowDataPacket[]>(exactRowsSql(t));
      if (rows.length > 0) files.set(t.table, exactFileSql(t, rows, (v) => c.escape(v)));
    }
    await c.query("COMMIT");
    return { files, notes };
  } catch (e) {
    return { files: new Map(), notes: [`FLOAT values not read exactly: ${messageOf(e)}`] };
  } finally {
    await c.end();
  }
}
