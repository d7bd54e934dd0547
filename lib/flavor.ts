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

/**
 * Starts or stops a replica's threads (both, or one: SQL_THREAD is the applier, IO_THREAD the
 * receiver). START/STOP REPLICA exist on MySQL 8.0.22+ and MariaDB 10.5.1+; MySQL 8.4 removed
 * START/STOP SLAVE.
 */
export function replicaControlSql(s: ServerInfo, verb: "START" | "STOP", thread?: "SQL_THREAD" | "IO_THREAD"): string {
  const noun = atLeast(s, "mysql", "8.0.22") || atLeast(s, "mariadb", "10.5.1") ? "REPLICA" : "SLAVE";
  return `${verb} ${noun}${thread ? ` ${thread}` : ""}`;
}

/**
 * Points a replica at its source: four parameters (host, port, user, password). MySQL 8.0.23+
 * says CHANGE REPLICATION SOURCE TO SOURCE_* (8.4 removed CHANGE MASTER); MariaDB has only
 * CHANGE MASTER TO MASTER_*. "gtid": MySQL SOURCE_AUTO_POSITION=1 (gtid_mode=ON on both
 * servers), MariaDB MASTER_USE_GTID=slave_pos; "file": from the start of the source's first
 * binary log. GET_SOURCE_PUBLIC_KEY: a caching_sha2_password replication user over plain TCP
 * needs the source's RSA key (MySQL 8.0.23+).
 */
export function changeSourceSql(s: ServerInfo, mode: "gtid" | "file"): string {
  if (atLeast(s, "mysql", "8.0.23")) {
    const position = mode === "gtid" ? "SOURCE_AUTO_POSITION = 1" : "SOURCE_AUTO_POSITION = 0";
    return `CHANGE REPLICATION SOURCE TO SOURCE_HOST = ?, SOURCE_PORT = ?, SOURCE_USER = ?, SOURCE_PASSWORD = ?, ${position}, GET_SOURCE_PUBLIC_KEY = 1`;
  }
  const position = s.flavor === "mysql" ? `MASTER_AUTO_POSITION = ${mode === "gtid" ? 1 : 0}` : `MASTER_USE_GTID = ${mode === "gtid" ? "slave_pos" : "no"}`;
  return `CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, ${position}`;
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

// ---- the fence: RDS, and commit positions as text --------------------------------------

/** A commit position as one word for a command line (`fence check --position`) and reports: `<kind>:<value>`. */
export function formatPosition(p: CommitPosition): string {
  return `${p.kind}:${p.value}`;
}

/**
 * Amazon RDS (for MySQL and for MariaDB) is recognised by its stored procedure mysql.rds_kill:
 * its master user lacks SUPER / CONNECTION_ADMIN / SYSTEM_VARIABLES_ADMIN, so sessions end
 * through rds_kill and read_only is a parameter-group setting there. ROUTINES lists a routine
 * to a user that may run it, which the master user may.
 */
export const RDS_DETECT_SQL =
  "SELECT COUNT(*) AS n FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'mysql' AND ROUTINE_NAME = 'rds_kill'";

export async function isRds(conn: Connection): Promise<boolean> {
  const [r] = await conn.query<RowDataPacket[]>(RDS_DETECT_SQL);
  return Number(r[0].n) > 0;
}

// ---- server identity and stored objects -----------------------------------------------

/**
 * What names one server, so a sync's resume state is never taken up against another server
 * behind the same host:port (a rebuilt container, a restored instance). MySQL 5.6+ has
 * @@server_uuid (new per datadir); MariaDB has none, so its datadir-bound @@server_id and
 * @@hostname stand in, with @@port. Column `id`.
 */
export function serverIdentitySql(s: ServerInfo): string {
  return s.flavor === "mysql"
    ? "SELECT @@server_uuid AS id"
    : "SELECT CONCAT(@@hostname, ':', @@port, '#', @@server_id) AS id";
}

/**
 * The privilege that lets a session create a trigger, view, routine or event with a DEFINER other
 * than itself: MySQL 8.2+ SET_ANY_DEFINER (SET_USER_ID before, deprecated in 8.2), or SUPER;
 * MariaDB 10.5.2+ SET USER, or SUPER. RDS for MySQL 8.0.36+ gives its master user SET_USER_ID;
 * RDS for MariaDB's master user has neither, so it can only recreate objects it defines itself.
 */
export function definerPrivilege(s: ServerInfo): string {
  if (atLeast(s, "mysql", "8.2.0")) return "SET_ANY_DEFINER";
  if (s.flavor === "mysql") return "SET_USER_ID";
  return "SET USER";
}

/**
 * SHOW CREATE text of a view, routine, trigger or event, normalised so the two servers' texts
 * compare equal when the objects behave the same: whitespace collapsed (MariaDB keeps the text
 * as written for routines and triggers; MySQL reformats view bodies), the database qualifier
 * dropped (MySQL and MariaDB print `db`.`table` in view bodies, and the two databases may be
 * named differently), the DEFINER clause removed unless definers are compared, and MySQL's
 * view header defaults (ALGORITHM=UNDEFINED) made explicit on both.
 */
export function normaliseObjectSql(text: string, database: string, keepDefiner: boolean): string {
  let t = text.replace(/\s+/g, " ").trim();
  const qualifier = "`" + database.replace(/`/g, "``") + "`.";
  t = t.split(qualifier).join("");
  // Triggers and routines keep the text as typed, where the qualifier may be unquoted (`shop.orders`).
  if (/^[A-Za-z0-9_$]+$/.test(database)) t = t.replace(new RegExp(`(^|[^A-Za-z0-9_$\`.])${database.replace(/\$/g, "\\$")}\\.(?=[\`A-Za-z_$])`, "g"), "$1");
  if (!keepDefiner) t = t.replace(/\bDEFINER\s*=\s*(`(?:[^`]|``)*`|'[^']*'|\S+?)@(`(?:[^`]|``)*`|'[^']*'|\S+)\s*/i, "");
  if (/^CREATE (ALGORITHM|DEFINER|SQL SECURITY|VIEW|OR REPLACE)/i.test(t) && /\bVIEW\b/i.test(t) && !/\bALGORITHM=/i.test(t)) {
    t = t.replace(/^CREATE /i, "CREATE ALGORITHM=UNDEFINED ");
  }
  return t;
}

// ---- client tools and dumps (backups) ---------------------------------------------------

/**
 * The dump and command-line client of each family. Each family's dump writes what the other's
 * server refuses: mariadb-dump writes generated-column values into its INSERTs, which MySQL
 * rejects on load (ERROR 3105); Oracle's mysqldump queries tables MariaDB lacks. Debian's
 * /usr/bin/mysqldump is MariaDB's under the old name, so the name alone proves nothing: the
 * `--version` text does (toolFlavor).
 */
export function clientToolNames(f: Flavor): { readonly dump: string; readonly client: string } {
  return f === "mysql" ? { dump: "mysqldump", client: "mysql" } : { dump: "mariadb-dump", client: "mariadb" };
}

/** The family a client tool belongs to, from its `--version` line ("… Distrib 10.11.19-MariaDB, …" / "mysqldump  Ver 9.7.4-2 for Linux"). */
export function toolFlavor(versionText: string): Flavor {
  return /mariadb/i.test(versionText) ? "mariadb" : "mysql";
}

/**
 * Dump flags that record the binary log position and GTID state of the dump's own snapshot.
 * MariaDB: --master-data=2 --gtid (a comment; the position comes from binlog_snapshot_*, no
 * global lock). MySQL: --source-data=2 (8.0.26+, --master-data before; a brief FLUSH TABLES
 * WITH READ LOCK around the snapshot, RELOAD needed) and --set-gtid-purged=COMMENTED: the GTID
 * set is written as a comment. ON/AUTO (the default with gtid_mode=ON) would put
 * `SET @@GLOBAL.GTID_PURGED` into the header, and it would add the source's GTIDs to the
 * target's gtid_executed for good (and fail, ERROR 3546, once it is not empty).
 */
export function dumpPositionFlags(s: ServerInfo): string[] {
  if (s.flavor === "mariadb") return ["--master-data=2", "--gtid"];
  return [atLeast(s, "mysql", "8.0.26") ? "--source-data=2" : "--master-data=2", "--set-gtid-purged=COMMENTED"];
}

/** Dump flags when no position is recorded: MySQL's mysqldump would still write GTID_PURGED (AUTO) on a gtid_mode=ON server. */
export function dumpNoPositionFlags(s: ServerInfo): string[] {
  return s.flavor === "mysql" ? ["--set-gtid-purged=OFF"] : [];
}

/**
 * Makes a server take a backup's GTID set as already executed, so it can replicate from the
 * backup's source onwards (restore --gtid-policy keep). One parameter, the GTID set. MySQL 8.0+
 * adds to gtid_purged with a leading '+' (needs SYSTEM_VARIABLES_ADMIN or SUPER, and the set must
 * not overlap gtid_executed); MariaDB sets the replica position, gtid_slave_pos (replica
 * threads stopped).
 */
export function adoptGtidSql(s: ServerInfo): string {
  return s.flavor === "mysql" ? "SET @@GLOBAL.gtid_purged = CONCAT('+', ?)" : "SET GLOBAL gtid_slave_pos = ?";
}

// ---- commit position --------------------------------------------------------------------

/**
 * How far a server's commits have reached, as one value that moves with every commit it
 * binlogs: verify reports it as `sourcePosition` (the point at which the compared tables were
 * proven identical) and `fence check --position` compares the server's current one with it.
 * A GTID set where the server keeps one (MySQL gtid_executed, empty when gtid_mode is OFF;
 * MariaDB gtid_binlog_pos), otherwise the binary log's file:position. Both print canonically
 * (MySQL merges and sorts GTID intervals), so two positions are equal exactly when their kind
 * and value are. null: the binary log is off (or its status unreadable): no position exists.
 */
export type CommitPositionKind = "mysql-gtid" | "mariadb-gtid" | "binlog-position";

export interface CommitPosition {
  readonly kind: CommitPositionKind;
  /** The GTID set, or "file:position" for binlog-position. */
  readonly value: string;
  /** The binary log coordinates read with it; null when SHOW … STATUS was refused or empty. */
  readonly file: string | null;
  readonly pos: number | null;
}

export async function commitPosition(conn: Connection, s: ServerInfo): Promise<CommitPosition | null> {
  const first = async (sql: string) => (await conn.query<RowDataPacket[]>(sql).then(([r]) => r[0], () => undefined)) as Record<string, unknown> | undefined;
  const status = await first(binlogStatusSql(s));
  const file = status?.File ? String(status.File) : null;
  const pos = file ? Number(status!.Position) : null;
  const gtid = String((await first(globalVariableSql(gtidVariables(s).source)))?.g ?? "");
  if (gtid) return { kind: s.flavor === "mariadb" ? "mariadb-gtid" : "mysql-gtid", value: gtid, file, pos };
  return file ? { kind: "binlog-position", value: `${file}:${pos}`, file, pos } : null;
}

/** Whether two commit positions are the same point (see CommitPosition). */
export function samePosition(a: CommitPosition | null, b: CommitPosition | null): boolean {
  return a !== null && b !== null && a.kind === b.kind && a.value === b.value;
}
