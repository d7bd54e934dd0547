import type { Connection, RowDataPacket } from "mysql2/promise";
import { Dsn } from "../dsn";
import { messageOf } from "../errors";
import { ServerInfo, binlogStatusSql, isGeneratedColumn } from "../flavor";
import { streamRows } from "../data/session";
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
 * rows are in: a temporary table and one UPDATE … JOIN. The rows are streamed from the server
 * into the gzip'd file in batches (mysql2 pauses the socket while the file is behind): a table
 * of any size is read in bounded memory.
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

/** A file's first statement: the temporary table the exact values are loaded into. Pure. */
export function exactHeadSql(c: ExactColumns): string {
  const cols = [...c.key.map((k) => `${ident(k.name)} ${k.type}`), ...[...c.floats, ...c.doubles].map((v) => `${ident(v)} DOUBLE`)];
  return `CREATE TEMPORARY TABLE ${TEMP} (${cols.join(", ")}, PRIMARY KEY (${c.key.map((k) => ident(k.name)).join(", ")}));\n`;
}

/** One INSERT of a batch of rows (as `exactRowsSql` reads them) into the temporary table. `escape` quotes a key value. Pure. */
export function exactBatchSql(c: ExactColumns, rows: readonly RowDataPacket[], escape: (v: unknown) => string): string {
  const values = [...c.floats, ...c.doubles];
  const tuples = rows.map((r) => `(${[...c.key.map((k) => escape(r[k.name])), ...values.map((v) => (r[v] === null ? "NULL" : doubleLiteral(Number(r[v]))))].join(",")})`);
  return `INSERT INTO ${TEMP} VALUES ${tuples.join(",")};\n`;
}

/** A file's last statements: the exact values into the loaded table, and the temporary table gone. Pure. */
export function exactTailSql(c: ExactColumns): string {
  const join = c.key.map((k) => `t.${ident(k.name)} = x.${ident(k.name)}`).join(" AND ");
  const set = [...c.floats, ...c.doubles].map((v) => `t.${ident(v)} = x.${ident(v)}`).join(", ");
  return `UPDATE ${ident(c.table)} t JOIN ${TEMP} x ON ${join} SET ${set};\nDROP TEMPORARY TABLE ${TEMP};\n`;
}

/** Rows per INSERT: ~40 KB statements, far below any max_allowed_packet, and few round trips on restore. */
export const EXACT_BATCH_ROWS = 1000;

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

/** One table's exact file; `write` resolves once the bytes are taken (back-pressure). */
export interface ExactFile {
  write(sql: string): Promise<void>;
  close(): Promise<void>;
}

/** Where the exact values go: one file per table (lib/backup/writer.ts). */
export interface ExactSink {
  open(table: string): Promise<ExactFile>;
  /** Removes every file opened, finished or not: none of them is kept when the read fails. */
  discard(): Promise<void>;
}

export interface ExactFloats {
  /** The tables whose exact values were written to `out`. */
  readonly tables: string[];
  /** Why some tables keep 6-digit FLOATs (empty when every FLOAT is exact). */
  readonly notes: string[];
}

/**
 * Reads the exact values in a snapshot proven equal to the dump's (`dumpPosition`, "file:pos"
 * from the dump's header), streamed into `out` in batches: memory stays bounded whatever the
 * table's size. Or says why it could not. Never throws: a backup without exact FLOATs is still
 * a backup, and the manifest says so.
 */
export async function readExactFloats(dsn: Dsn, info: ServerInfo, dumpPosition: string | null, out: ExactSink): Promise<ExactFloats> {
  const c = await connect(dsn);
  let failed = false;
  try {
    await c.query("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    await c.query("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
    const { tables, noKey } = await lossyTables(c, info, dsn.database);
    const notes = noKey.map((t) => `\`${t}\` has no primary key: its FLOAT values are as the dump tool wrote them (6 significant digits)`);
    if (tables.length === 0) return { tables: [], notes };
    const names = tables.map((t) => `\`${t.table}\``).join(", ");
    if (dumpPosition === null) return { tables: [], notes: [...notes, `no binary log position: FLOAT values of ${names} could not be read exactly in the dump's snapshot (6 significant digits)`] };
    const ours = await snapshotPosition(c, info);
    if (ours !== dumpPosition) {
      return { tables: [], notes: [...notes, `the server was written to during the dump (binlog ${dumpPosition} → ${ours}): FLOAT values of ${names} are as the dump tool wrote them (6 significant digits)`] };
    }
    const written: string[] = [];
    for (const t of tables) if (await streamTable(c, t, out)) written.push(t.table);
    await c.query("COMMIT");
    return { tables: written, notes };
  } catch (e) {
    failed = true;
    await out.discard();
    return { tables: [], notes: [`FLOAT values not read exactly: ${messageOf(e)}`] };
  } finally {
    // A stream left mid-table keeps its connection paused: end() would wait for it forever.
    if (failed) c.destroy();
    else await c.end();
  }
}

/** `rows` in arrays of `size` (the last one shorter), pulled only as fast as they are consumed. */
async function* batches<T>(rows: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let batch: T[] = [];
  for await (const r of rows) {
    batch.push(r);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** One table's exact values into its file, EXACT_BATCH_ROWS per INSERT; no file when no row needs one. */
async function streamTable(c: Connection, t: ExactColumns, out: ExactSink): Promise<boolean> {
  let file: ExactFile | null = null;
  for await (const batch of batches(streamRows(c, exactRowsSql(t)), EXACT_BATCH_ROWS)) {
    if (!file) {
      file = await out.open(t.table);
      await file.write(exactHeadSql(t));
    }
    await file.write(exactBatchSql(t, batch, (v) => c.escape(v)));
  }
  if (!file) return false;
  await file.write(exactTailSql(t));
  await file.close();
  return true;
}
