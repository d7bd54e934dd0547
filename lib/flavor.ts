import type { Connection, RowDataPacket } from "mysql2/promise";

/**
 * Everything that differs between MySQL and MariaDB, in one place: which statement, variable,
 * column name or function a server of a given family and version understands. Pure functions
 * and tables keyed by a ServerInfo; callers send the SQL. Sources: the MySQL 8.0/8.4/9.x and
 * MariaDB 10.x/11.x reference manuals (versions noted per entry), checked on MariaDB 10.11 and
 * MySQL 9.7.4 (test/lib/flavor.test.ts).
 */

/** The server family. */
export type Flavor = "mariadb" | "mysql";

export interface ServerInfo {
  readonly flavor: Flavor;
  /** Numeric release, "10.11.6" or "9.7.4". */
  readonly version: string;
}

/** Read once per session; its text decides flavour and version. */
export const VERSION_SQL = "SELECT VERSION() AS v";

/** From `SELECT VERSION()`: "10.11.6-MariaDB-0+deb12u1" is MariaDB 10.11.6, "9.7.4" MySQL 9.7.4. */
export function parseServerVersion(text: string): ServerInfo {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(text);
  return { flavor: /mariadb/i.test(text) ? "mariadb" : "mysql", version: m ? `${m[1]}.${m[2]}.${m[3]}` : "0.0.0" };
}

export async function readServerInfo(conn: Connection): Promise<ServerInfo> {
  const [r] = await conn.query<RowDataPacket[]>(VERSION_SQL);
  return parseServerVersion(String(r[0].v));
}

/** Whether the server is this family at this version or later ("8.0.22"). */
export function atLeast(s: ServerInfo, flavor: Flavor, version: string): boolean {
  if (s.flavor !== flavor) return false;
  const a = s.version.split(".").map(Number);
  const b = version.split(".").map(Number);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

/** "MySQL 9.7.4", "MariaDB 10.11.6": for messages and reports. */
export function describeServer(s: ServerInfo): string {
  return `${s.flavor === "mysql" ? "MySQL" : "MariaDB"} ${s.version}`;
}

// ---- binary log and GTIDs -------------------------------------------------------------

/**
 * The current binary log file and position (columns File, Position). MySQL renamed SHOW MASTER
 * STATUS to SHOW BINARY LOG STATUS in 8.2 and removed the old name in 8.4; MariaDB keeps SHOW
 * MASTER STATUS (SHOW BINLOG STATUS is only an alias there, 10.5.2+).
 */
export function binlogStatusSql(s: ServerInfo): string {
  return atLeast(s, "mysql", "8.2.0") ? "SHOW BINARY LOG STATUS" : "SHOW MASTER STATUS";
}

/**
 * The GTID variables. MySQL: one set, gtid_executed, on source and replica alike (empty when
 * gtid_mode is OFF), waited for with WAIT_FOR_EXECUTED_GTID_SET (5.7.5+). MariaDB: a source's
 * own binlogged transactions are gtid_binlog_pos, a replica's applied position gtid_slave_pos
 * (updated whether or not MASTER_USE_GTID is set), their union gtid_current_pos; waited for with
 * MASTER_GTID_WAIT.
 */
export interface GtidVariables {
  /** What this server has written to its binary log: the position a replica must reach. */
  readonly source: string;
  /** What this server has applied as a replica. */
  readonly replica: string;
  /** Everything this server has executed, as source or replica. */
  readonly current: string;
  /** Waits for a position: two parameters (position, timeout in s); 0 when reached, -1 on timeout. */
  readonly waitSql: string;
}

export function gtidVariables(s: ServerInfo): GtidVariables {
  return s.flavor === "mariadb"
    ? {
        source: "gtid_binlog_pos",
        replica: "gtid_slave_pos",
        current: "gtid_current_pos",
        waitSql: "SELECT MASTER_GTID_WAIT(?, ?) AS r",
      }
    : {
        source: "gtid_executed",
        replica: "gtid_executed",
        current: "gtid_executed",
        waitSql: "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS r",
      };
}

/** `SELECT @@global.<name> AS g` for one of gtidVariables' names. */
export function globalVariableSql(name: string): string {
  if (!/^[a-z_]+$/.test(name)) throw new Error(`not a variable name: ${name}`);
  return `SELECT @@global.${name} AS g`;
}

/**
 * Waits until a replica has executed up to a binlog file and position of its source: three
 * parameters (file, position, timeout in s); NULL when the SQL thread is stopped or the source
 * is not this replica's. SOURCE_POS_WAIT is MySQL 8.0.26+; MASTER_POS_WAIT before and on MariaDB.
 */
export function positionWaitSql(s: ServerInfo): string {
  return atLeast(s, "mysql", "8.0.26") ? "SELECT SOURCE_POS_WAIT(?, ?, ?) AS r" : "SELECT MASTER_POS_WAIT(?, ?, ?) AS r";
}

// ---- replica status -------------------------------------------------------------------

/**
 * SHOW REPLICA STATUS exists on MySQL 8.0.22+ and MariaDB 10.5.1+; MySQL 8.4 removed SHOW SLAVE
 * STATUS. Only MySQL renamed the columns (8.0.22: Replica_*, Source_*); MariaDB's SHOW REPLICA
 * STATUS still answers with Slave_* and Master_* names.
 */
export function replicaStatusSql(s: ServerInfo): string {
  return atLeast(s, "mysql", "8.0.22") || atLeast(s, "mariadb", "10.5.1") ? "SHOW REPLICA STATUS" : "SHOW SLAVE STATUS";
}

export type ReplicaColumn =
  | "ioRunning"
  | "sqlRunning"
  | "secondsBehind"
  | "sourceHost"
  | "sourceLogFile"
  | "readSourceLogPos"
  | "relaySourceLogFile"
  | "execSourceLogPos"
  | "lastIoError"
  | "lastSqlError";

const REPLICA_COLUMNS: Record<ReplicaColumn, readonly [replicaName: string, slaveName: string]> = {
  ioRunning: ["Replica_IO_Running", "Slave_IO_Running"],
  sqlRunning: ["Replica_SQL_Running", "Slave_SQL_Running"],
  secondsBehind: ["Seconds_Behind_Source", "Seconds_Behind_Master"],
  sourceHost: ["Source_Host", "Master_Host"],
  sourceLogFile: ["Source_Log_File", "Master_Log_File"],
  readSourceLogPos: ["Read_Source_Log_Pos", "Read_Master_Log_Pos"],
  relaySourceLogFile: ["Relay_Source_Log_File", "Relay_Master_Log_File"],
  execSourceLogPos: ["Exec_Source_Log_Pos", "Exec_Master_Log_Pos"],
  lastIoError: ["Last_IO_Error", "Last_IO_Error"],
  lastSqlError: ["Last_SQL_Error", "Last_SQL_Error"],
};

/** The name of a SHOW REPLICA STATUS column on this server. */
export function replicaColumn(s: ServerInfo, column: ReplicaColumn): string {
  return REPLICA_COLUMNS[column][atLeast(s, "mysql", "8.0.22") ? 0 : 1];
}

/** One field of a SHOW REPLICA STATUS row as text; null when absent or NULL. */
export function replicaField(s: ServerInfo, row: Record<string, unknown>, column: ReplicaColumn): string | null {
  const v = row[replicaColumn(s, column)];
  return v === undefined || v === null ? null : String(v);
}

// ---- row hashing ----------------------------------------------------------------------

/**
 * The hash every checksum uses, on both servers and in node (compare.ts re-checks a chunk from
 * the row hashes it read). SHA2(…, 256): MySQL 9.6+ has no SHA1()/MD5() unless the
 * component_classic_hashing component is installed ("FUNCTION db.SHA1 does not exist");
 * SHA2 exists on every MySQL since 5.5 and every MariaDB since 5.5. Same on both flavours.
 */
export function hashSql(expression: string): string {
  return `SHA2(${expression}, 256)`;
}

/** node:crypto's name for the same hash. */
export const NODE_HASH = "sha256";

// ---- columns and indexes --------------------------------------------------------------

/**
 * information_schema.COLUMNS.EXTRA words that mark a generated column. MySQL 5.7+ and MariaDB
 * 10.2+ say 'VIRTUAL GENERATED' / 'STORED GENERATED'; MariaDB before 10.2 'VIRTUAL' /
 * 'PERSISTENT'. Not generated: MySQL 8.0.13+'s 'DEFAULT_GENERATED' (an expression DEFAULT such
 * as CURRENT_TIMESTAMP or (UUID()): the column holds its own value), 'on update
 * CURRENT_TIMESTAMP', 'auto_increment', 'INVISIBLE'. EXTRA can hold several ("DEFAULT_GENERATED
 * on update CURRENT_TIMESTAMP", "STORED GENERATED INVISIBLE"), so words are matched, not text.
 */
export function isGeneratedColumn(extra: string): boolean {
  return /(^|\s)(VIRTUAL|STORED) GENERATED(\s|$)/i.test(extra) || /^(VIRTUAL|PERSISTENT)(\s|$)/i.test(extra.trim());
}

/** INVISIBLE columns (MySQL 8.0.23+, MariaDB 10.3.3+): SELECT * leaves them out; they are data all the same. */
export function isInvisibleColumn(extra: string): boolean {
  return /(^|\s)INVISIBLE(\s|$)/i.test(extra);
}

/**
 * A SQL condition over information_schema.STATISTICS that is true for an index the optimizer
 * may not use, so FORCE INDEX on it fails ("Key 'x' doesn't exist"): MySQL 8.0+'s INVISIBLE
 * indexes (IS_VISIBLE = 'NO'), MariaDB 10.6+'s IGNORED indexes (IGNORED = 'YES').
 */
export function hiddenIndexCondition(s: ServerInfo): string {
  if (atLeast(s, "mysql", "8.0.0")) return "IS_VISIBLE = 'NO'";
  if (atLeast(s, "mariadb", "10.6.0")) return "IGNORED = 'YES'";
  return "FALSE";
}

/** Functional key parts (MySQL 8.0.13+): STATISTICS.EXPRESSION; MariaDB has none (it indexes generated columns). */
export function indexExpressionColumn(s: ServerInfo): string {
  return atLeast(s, "mysql", "8.0.13") ? "EXPRESSION" : "NULL";
}

// ---- sessions and accounts ------------------------------------------------------------

/**
 * Ending another session: KILL CONNECTION needs CONNECTION_ADMIN or SUPER (or the same user);
 * RDS's master user has neither and uses the stored procedure RDS provides (both RDS for MySQL
 * and RDS for MariaDB have mysql.rds_kill). One parameter, the connection id.
 */
export const KILL_SQL = { KILL: "KILL CONNECTION ?", "mysql.rds_kill": "CALL mysql.rds_kill(?)" } as const;
export type KillVia = keyof typeof KILL_SQL;

/** ALTER USER … ACCOUNT LOCK: MySQL 5.7.6+, MariaDB 10.4.2+. */
export function supportsAccountLock(s: ServerInfo): boolean {
  return atLeast(s, "mysql", "5.7.6") || atLeast(s, "mariadb", "10.4.2");
}

/** super_read_only (binds SUPER users too) exists on MySQL 5.7.8+ only; MariaDB has read_only alone. */
export function hasSuperReadOnly(s: ServerInfo): boolean {
  return atLeast(s, "mysql", "5.7.8");
}
