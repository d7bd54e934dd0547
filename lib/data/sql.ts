import { hashSql } from "../flavor";
import { ident } from "../mysql";
import type { ColumnInfo, KeyRange, KeyToken, TablePlan } from "./types";
import { keyLiteral, keyTokenSelect, readExpression } from "./values";

/**
 * Every statement the engine sends, built from a TablePlan as plain text, so any chunk's SQL
 * can be printed (`sync --dry-run --show-sql`) and replayed by hand.
 */

/**
 * The bytes hashed for one column. Lengths prefix strings and a NULL bitmap ends the row,
 * so the encoding is injective: NULL, '' and 'NULL' differ, and no separator inside a value
 * can make two rows look alike (pt-table-sync's CONCAT_WS('#') can). Strings are hashed as
 * their stored bytes, never compared by collation: case, accents and trailing spaces change
 * the hash even under _ci / PAD SPACE collations. FLOAT goes through DOUBLE because the
 * server prints FLOAT with 6 digits (16777217 and 16777216 both print as 16777200).
 */
function hashItems(c: ColumnInfo, convert: boolean, cast: boolean): string[] {
  const col = ident(c.name);
  switch (c.kind) {
    case "float":
      return [`CAST(${col} AS DOUBLE)`];
    case "bit":
      return [`CAST(${col} AS UNSIGNED)`];
    case "text": {
      const bytes = convert ? `CAST(CONVERT(${col} USING utf8mb4) AS BINARY)` : cast ? `CAST(${col} AS BINARY)` : col;
      // LENGTH counts bytes whatever the character set, so it needs no cast.
      return [`LENGTH(${convert ? bytes : col})`, bytes];
    }
    case "json":
      // MySQL prints a JSON DATETIME/DATE/TIME scalar exactly like a string of the same text:
      // the paths of the string scalars (JSON_SEARCH matches strings only) tell them apart.
      return [`LENGTH(${col})`, `CAST(${col} AS BINARY)`, `CAST(IFNULL(JSON_SEARCH(${col}, 'all', '%'), '') AS BINARY)`];
    case "binary":
    case "spatial":
      return [`LENGTH(${col})`, col];
    default:
      return [col];
  }
}

/** Character sets whose text CONCAT_WS passes through byte for byte next to ASCII digits and commas. */
const ASCII_SETS = new Set(["utf8mb4", "utf8mb3", "utf8", "latin1", "ascii"]);

/**
 * Whether the text columns can go into CONCAT_WS without CAST(... AS BINARY). When they all
 * share one collation of an ASCII-compatible set, CONCAT_WS converts nothing (numbers and
 * binary columns join as their bytes; checked on MariaDB 10.11), so the result holds the
 * stored bytes, exactly what the casts would give. Mixed character sets are converted to a
 * common one (lossy for some) and mixed collations are an error, so those keep the casts.
 * Skipping them makes the encoding about a third cheaper (bench/data.md).
 */
function needsCasts(plan: TablePlan): boolean {
  if (plan.convertColumns.size) return true;
  const texts = plan.columns.filter((c) => c.kind === "text");
  return texts.some((c) => !c.charset || !c.collation || !ASCII_SETS.has(c.charset) || c.collation !== texts[0].collation);
}

/** The row encoding fed to the hash; see hashItems. */
export function rowEncoding(plan: TablePlan): string {
  const cast = needsCasts(plan);
  const items = plan.columns.flatMap((c) => hashItems(c, plan.convertColumns.has(c.name), cast));
  const nullable = plan.columns.filter((c) => c.nullable);
  if (nullable.length) items.push(`CONCAT(${nullable.map((c) => `ISNULL(${ident(c.name)})`).join(", ")})`);
  return `CONCAT_WS(',', ${items.join(", ")})`;
}

/**
 * 64 bits of SHA-256 per row: the row diff pairs rows by key and compares these, so a change
 * escapes only with a 2^-64 collision. SHA2 because stock MySQL 9.6+ has neither SHA1() nor
 * MD5() (lib/flavor.ts hashSql). Not CRC32: 32 bits, and linear.
 */
export function rowHash(plan: TablePlan): string {
  return `LEFT(${hashSql(rowEncoding(plan))}, 16)`;
}

function rangeBound(columns: readonly ColumnInfo[], token: KeyToken, op: ">" | "<", inclusive: boolean): string {
  // (a, b) >= (x, y) spelled out as a > x OR (a = x AND b >= y): MariaDB's range optimizer
  // turns this into index ranges, which it does not do for row-constructor comparisons.
  const build = (i: number): string => {
    const col = ident(columns[i].name);
    const lit = keyLiteral(columns[i], token[i]);
    if (i === columns.length - 1) return `${col} ${op}${inclusive ? "=" : ""} ${lit}`;
    return `(${col} ${op} ${lit} OR (${col} = ${lit} AND ${build(i + 1)}))`;
  };
  return build(0);
}

/** WHERE clause (without WHERE) for `[from, to)`; "1=1" for the whole table. */
export function rangePredicate(plan: TablePlan, range: KeyRange): string {
  const parts: string[] = [];
  if (range.from) parts.push(rangeBound(plan.key.columns, range.from, ">", true));
  if (range.to) parts.push(rangeBound(plan.key.columns, range.to, "<", false));
  return parts.length ? parts.join(" AND ") : "1=1";
}

/** WHERE clause matching exactly the given keys. */
export function keysPredicate(plan: TablePlan, tokens: readonly KeyToken[]): string {
  const cols = plan.key.columns;
  if (cols.length === 1) return `${ident(cols[0].name)} IN (${tokens.map((t) => keyLiteral(cols[0], t[0])).join(", ")})`;
  return tokens.map((t) => `(${cols.map((c, i) => `${ident(c.name)} = ${keyLiteral(c, t[i])}`).join(" AND ")})`).join(" OR ");
}

function from(plan: TablePlan): string {
  return `${ident(plan.table)} FORCE INDEX (${ident(plan.key.index)})`;
}

function orderBy(plan: TablePlan): string {
  return plan.key.columns.map((c) => ident(c.name)).join(", ");
}

/**
 * GROUP_CONCAT room for the chunk checksum: 16 hex digits a row, so 2M rows. A range holding
 * more rows on one side than this would be hashed truncated; compare.ts treats such a
 * checksum as unknown (the range is split), never as equal.
 */
export const CHECKSUM_ROOM = 32 * 1024 * 1024;
export const CHECKSUM_SESSION_SQL = `SET SESSION group_concat_max_len = ${CHECKSUM_ROOM}`;

/**
 * COUNT and SHA-256 of the chunk's row hashes concatenated in scan order, which is key order
 * (FORCE INDEX on a range). Node computes the same from a row-hash list (compare.ts) for
 * sync's target-only re-check. A hash over the 64-bit row hashes instead of BIT_XOR of them:
 * CONV(…, 16, 10) per row cost a fifth of the whole checksum (bench/data.md). If the two
 * servers ever walked a range in different orders, the checksums would differ and the chunk
 * would be diffed row by row: slower, never wrong.
 */
export function checksumSql(plan: TablePlan, range: KeyRange): string {
  return (
    `SELECT COUNT(*) AS n, ${hashSql(`GROUP_CONCAT(${rowHash(plan)} SEPARATOR '')`)} AS x ` +
    `FROM ${from(plan)} WHERE ${rangePredicate(plan, range)}`
  );
}

/** Key token and row hash of every row of a chunk, in key order; `limit` bounds memory. */
export function rowHashesSql(plan: TablePlan, range: KeyRange, limit: number): string {
  return (
    `SELECT ${keyTokenSelect(plan.key.columns)} AS k, ${rowHash(plan)} AS h ` +
    `FROM ${from(plan)} WHERE ${rangePredicate(plan, range)} ORDER BY ${orderBy(plan)} LIMIT ${limit}`
  );
}

/** The first key at least `step` rows after `range.from` (keyset walk), or nothing at the end. */
export function boundarySql(plan: TablePlan, range: KeyRange, step: number): string {
  return (
    `SELECT ${keyTokenSelect(plan.key.columns)} AS k FROM ${from(plan)} ` +
    `WHERE ${rangePredicate(plan, range)} ORDER BY ${orderBy(plan)} LIMIT 1 OFFSET ${step}`
  );
}

/** MIN and MAX of a single-column integer key within a range, as text (BIGINT UNSIGNED exceeds JS numbers). */
export function keyBoundsSql(plan: TablePlan, range: KeyRange): string {
  const k = ident(plan.key.columns[0].name);
  return `SELECT CAST(MIN(${k}) AS CHAR) AS lo, CAST(MAX(${k}) AS CHAR) AS hi FROM ${from(plan)} WHERE ${rangePredicate(plan, range)}`;
}

/** The first few keys of a range (sample keys of a chunk that is entirely missing or extra). */
export function firstKeysSql(plan: TablePlan, range: KeyRange, limit: number): string {
  return (
    `SELECT ${keyTokenSelect(plan.key.columns)} AS k FROM ${from(plan)} ` +
    `WHERE ${rangePredicate(plan, range)} ORDER BY ${orderBy(plan)} LIMIT ${limit}`
  );
}

/**
 * Wide values left out of a row read: a capped column above `bytes` reads as NULL, and its
 * LENGTH follows the extras (in column order), so the applier reads it in pieces instead.
 */
export interface ValueCap {
  readonly columns: ReadonlySet<string>;
  readonly bytes: number;
}

/**
 * Key token, then the written columns with exact read expressions, of the rows matching `where`;
 * then `extra` expressions (unique-key parts that are not written: generated columns, functional parts);
 * then with `cap`, the capped columns' lengths.
 */
export function selectRowsSql(plan: TablePlan, where: string, extra: readonly string[] = [], cap?: ValueCap): string {
  const read = (c: ColumnInfo) => (cap?.columns.has(c.name) ? `IF(LENGTH(${ident(c.name)}) > ${cap.bytes}, NULL, ${readExpression(c)})` : readExpression(c));
  const lengths = cap ? plan.columns.filter((c) => cap.columns.has(c.name)).map((c) => `LENGTH(${ident(c.name)})`) : [];
  const items = [keyTokenSelect(plan.key.columns), ...plan.columns.map(read), ...extra, ...lengths];
  return `SELECT ${items.join(", ")} FROM ${from(plan)} WHERE ${where}`;
}

/**
 * The temporal scalars of a MySQL JSON column, for jsonLiteral: a JSON array of [path, JSON_TYPE,
 * text], or NULL. A recursive walk of the document (keys through JSON_KEYS, array elements by
 * position); JSON_EXTRACT keeps the scalars' types. Run only for rows being written.
 */
export function jsonTemporalsSql(column: ColumnInfo): string {
  return (
    "(WITH RECURSIVE w(p, v) AS (" +
    `SELECT CAST('$' AS CHAR(4096)), ${ident(column.name)} ` +
    "UNION ALL SELECT CONCAT(w.p, '.', JSON_QUOTE(k.k)), JSON_EXTRACT(w.v, CONCAT('$.', JSON_QUOTE(k.k))) " +
    "FROM w, JSON_TABLE(JSON_KEYS(w.v), '$[*]' COLUMNS (k VARCHAR(4096) PATH '$')) k WHERE JSON_TYPE(w.v) = 'OBJECT' " +
    "UNION ALL SELECT CONCAT(w.p, '[', a.i - 1, ']'), JSON_EXTRACT(w.v, CONCAT('$[', a.i - 1, ']')) " +
    "FROM w, JSON_TABLE(w.v, '$[*]' COLUMNS (i FOR ORDINALITY)) a WHERE JSON_TYPE(w.v) = 'ARRAY') " +
    "SELECT JSON_ARRAYAGG(JSON_ARRAY(p, JSON_TYPE(v), JSON_UNQUOTE(v))) FROM w WHERE JSON_TYPE(v) IN ('DATE', 'TIME', 'DATETIME'))"
  );
}

/**
 * Key token, then a hash of each written column as read (text as utf8mb4, as the rows travel),
 * of the rows matching `where`: which columns of a changed row differ, without reading its
 * values (a sample of ten 40 MB rows would otherwise hold 800 MB; samples.ts).
 */
export function columnHashesSql(plan: TablePlan, where: string): string {
  const hashes = plan.columns.map((c) => hashSql(c.kind === "text" ? `CONVERT(${ident(c.name)} USING utf8mb4)` : readExpression(c)));
  return `SELECT ${keyTokenSelect(plan.key.columns)}, ${hashes.join(", ")} FROM ${from(plan)} WHERE ${where}`;
}

export function deleteSql(plan: TablePlan, where: string): string {
  return `DELETE FROM ${ident(plan.table)} WHERE ${where}`;
}

/**
 * The head of a multi-row INSERT; rows are appended as `(...)` groups. With `upsert`, an
 * existing row with the same key is updated in place (ON DUPLICATE KEY UPDATE).
 * Generated columns are not in plan.columns: writing them is an error in MySQL.
 */
export function insertHead(plan: TablePlan): string {
  return `INSERT INTO ${ident(plan.table)} (${plan.columns.map((c) => ident(c.name)).join(", ")}) VALUES `;
}

export function upsertTail(plan: TablePlan): string {
  const keyNames = new Set(plan.key.columns.map((c) => c.name));
  const cols = plan.columns.filter((c) => !keyNames.has(c.name));
  // A key-only table has nothing to update; re-assigning the key keeps the statement valid.
  const assigned = cols.length ? cols : plan.key.columns;
  return ` ON DUPLICATE KEY UPDATE ${assigned.map((c) => `${ident(c.name)} = VALUES(${ident(c.name)})`).join(", ")}`;
}

// ---- triggers, schema objects and the sync lock ---------------------------------------
// Parameters (`?`) are filled by mysql2's client-side escaping; the text itself is fixed.

/**
 * Every trigger of a database with what decides its behaviour: the sql_mode and character set
 * settings it was created under and its order among triggers of the same table, timing and event
 * (ACTION_ORDER, MySQL 5.7.2+ / MariaDB 10.2.3+). One parameter: the database.
 */
export const TRIGGERS_SQL =
  "SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS tbl, ACTION_TIMING AS timing, EVENT_MANIPULATION AS event, " +
  "ACTION_ORDER AS actionOrder, DEFINER AS definer, SQL_MODE AS sqlMode, CHARACTER_SET_CLIENT AS characterSetClient, " +
  "COLLATION_CONNECTION AS collationConnection, DATABASE_COLLATION AS databaseCollation, ACTION_STATEMENT AS body " +
  "FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER";

/** The kinds of stored object SHOW CREATE and DROP … IF EXISTS take. */
export type ObjectKeyword = "TRIGGER" | "VIEW" | "PROCEDURE" | "FUNCTION" | "EVENT";

/** The CREATE statement of a trigger as it was written (column `SQL Original Statement`, DEFINER included). */
export function showCreateSql(kind: ObjectKeyword, name: string): string {
  return `SHOW CREATE ${kind} ${ident(name)}`;
}

export function dropObjectSql(kind: ObjectKeyword, name: string): string {
  return `DROP ${kind} IF EXISTS ${ident(name)}`;
}

/**
 * The session a trigger is created in decides its sql_mode and character set for ever (they are
 * stored with it and applied whenever it fires). Three parameters.
 */
export const OBJECT_SESSION_SQL = "SET SESSION sql_mode = ?, character_set_client = ?, collation_connection = ?";
/** An event also keeps the time zone it was created in (its STARTS/ENDS are read in it). One parameter. */
export const OBJECT_TIME_ZONE_SQL = "SET SESSION time_zone = ?";

/** Views, routines and events of a database (names and kinds; definitions come from SHOW CREATE). */
export const VIEWS_SQL = "SELECT TABLE_NAME AS name FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME";
export const ROUTINES_SQL =
  "SELECT ROUTINE_NAME AS name, ROUTINE_TYPE AS kind FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME";
export const EVENTS_SQL = "SELECT EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME";

/**
 * The sync's advisory lock on the target, held by the writer session for the whole run; 0 s
 * timeout: a second sync is refused at once. A server-side lock, so two machines cannot both
 * sync into one target; the server releases it when the session ends (kill -9 included).
 */
export const GET_LOCK_SQL = "SELECT GET_LOCK(?, 0) AS got";
/** The connection id holding a lock (NULL when free). */
export const LOCK_HOLDER_SQL = "SELECT IS_USED_LOCK(?) AS id";
/** Who a connection is (needs PROCESS to see other users' sessions). */
export const SESSION_OWNER_SQL = "SELECT USER AS user, HOST AS host FROM information_schema.PROCESSLIST WHERE ID = ?";

// ---- stability proof (stability.ts) ---------------------------------------------------------

/** A quoted string literal for SHOW statements, which take no placeholders on the server. */
function textLiteral(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** One page of the binary log's events from a position (an event boundary). */
export function binlogEventsSql(file: string, pos: number, limit: number): string {
  return `SHOW BINLOG EVENTS IN ${textLiteral(file)} FROM ${pos} LIMIT ${limit}`;
}

/** The binary log files still on the server, oldest first. */
export const BINARY_LOGS_SQL = "SHOW BINARY LOGS";

/** ROW, MIXED or STATEMENT; MySQL 9.x still has the variable (deprecated since 8.0.34). */
export const BINLOG_FORMAT_SQL = "SELECT @@global.binlog_format AS f";

/** The MariaDB marker's parts; MySQL reads its InnoDB counter from SHOW ENGINE INNODB STATUS. */
export const MAX_TRX_ID_SQL = "SHOW GLOBAL STATUS LIKE 'Innodb_max_trx_id'";
export const INNODB_STATUS_SQL = "SHOW ENGINE INNODB STATUS";

// ---- wide values (applier.ts) ------------------------------------------------------------

/**
 * One piece of a wide value into a session variable, a prepared statement whose parameter is
 * the piece's raw bytes: the first assigns, the rest append. A binary parameter makes a binary
 * string, so CONCAT appends bytes and never converts a character set.
 */
export function setPieceSql(variable: string, first: boolean): string {
  return first ? `SET @${variable} = ?` : `SET @${variable} = CONCAT(@${variable}, ?)`;
}

/** Characters (text) or bytes (binary strings) `pos`.. of one column of the rows matching `where` (SUBSTRING counts either way). */
export function valuePieceSql(plan: TablePlan, column: ColumnInfo, where: string, pos: number, length: number): string {
  return `SELECT SUBSTRING(${ident(column.name)}, ${pos}, ${length}) AS p FROM ${from(plan)} WHERE ${where}`;
}

export function variableLengthSql(variable: string): string {
  return `SELECT LENGTH(@${variable}) AS n`;
}

/** Frees the server's copy of the values once the row is written. */
export function clearVariablesSql(variables: readonly string[]): string {
  return `SET ${variables.map((v) => `@${v} = NULL`).join(", ")}`;
}

/** A variable's bytes as a value for a column: text as utf8mb4, as valueLiteral's `_utf8mb4 X''`. */
export function variableValue(c: ColumnInfo, variable: string): string {
  return c.kind === "text" ? `CONVERT(@${variable} USING utf8mb4)` : `@${variable}`;
}
