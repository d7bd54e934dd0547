import type { Connection, RowDataPacket } from "mysql2/promise";
import { RollbackError } from "../errors";
import { Side, rows } from "./session";

/**
 * Reverse replication mode: when RDS replicates to the IDC server, the first question is
 * whether the replica has applied everything the source has committed. The answer uses the
 * strongest position both servers can give:
 * - MariaDB GTID: the source's gtid_binlog_pos, waited for on the replica with
 *   MASTER_GTID_WAIT (its gtid_slave_pos is updated whether or not master_use_gtid is set);
 * - MySQL GTID: the source's gtid_executed, waited for with WAIT_FOR_EXECUTED_GTID_SET;
 * - binlog file/position (no GTIDs): SOURCE_POS_WAIT / MASTER_POS_WAIT, valid when the
 *   source is the replica's direct master;
 * - otherwise only the replica's own view (Seconds_Behind_Master 0, everything read executed).
 */
export interface ReplicaReport {
  readonly caughtUp: boolean;
  readonly method: "mariadb-gtid" | "mysql-gtid" | "binlog-position" | "lag";
  readonly sourcePosition: string | null;
  readonly replicaPosition: string | null;
  readonly secondsBehind: number | null;
  readonly ioRunning: boolean;
  readonly sqlRunning: boolean;
  readonly lastError: string | null;
  readonly waitedMs: number;
}

type Status = Record<string, string | number | null>;

/** SHOW REPLICA STATUS (MySQL 8.0.22+, MariaDB 10.5+) or SHOW SLAVE STATUS; null when not a replica. */
export async function replicaStatus(conn: Connection): Promise<Status | null> {
  for (const sql of ["SHOW REPLICA STATUS", "SHOW SLAVE STATUS"]) {
    try {
      const [r] = await conn.query<RowDataPacket[]>(sql);
      return (r[0] as Status | undefined) ?? null;
    } catch {
      // Older servers know only SHOW SLAVE STATUS; MySQL 8.4 only SHOW REPLICA STATUS.
    }
  }
  return null;
}

/** A field under its MySQL 8 name or its older/MariaDB name. */
function field(s: Status, replica: string, slave: string): string | null {
  const v = s[replica] ?? s[slave];
  return v === undefined || v === null ? null : String(v);
}

export function sqlThreadRunning(s: Status): boolean {
  return field(s, "Replica_SQL_Running", "Slave_SQL_Running") === "Yes";
}

async function binlogPosition(conn: Connection): Promise<{ File: string; Position: string } | null> {
  for (const sql of ["SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"]) {
    try {
      const [s] = await rows<{ File: string; Position: string }>(conn, sql);
      return s ?? null;
    } catch {
      // See commitMarker: one of the two spellings exists.
    }
  }
  return null;
}

async function waitFunction(conn: Connection, calls: string[], args: unknown[]): Promise<number | null> {
  for (const sql of calls) {
    try {
      const [r] = await rows<{ r: number | string | null }>(conn, sql, args);
      return r.r === null ? null : Number(r.r);
    } catch {
      // SOURCE_POS_WAIT is MySQL 8.0.26+; MASTER_POS_WAIT the older and MariaDB spelling.
    }
  }
  return null;
}

export async function checkReplica(source: Side, target: Side, waitSeconds: number): Promise<ReplicaReport> {
  const before = await replicaStatus(target.reader);
  if (!before) {
    throw new RollbackError(
      "REPLICA_NOT_CONFIGURED",
      target.label,
      "--replica was given but the target is not a replica (SHOW REPLICA STATUS is empty)",
      "drop --replica, or set up replication from the source first",
    );
  }
  const started = Date.now();
  let method: ReplicaReport["method"] = "lag";
  let sourcePosition: string | null = null;
  let reached: boolean | null = null;

  if (source.flavor === "mariadb") {
    const [g] = await rows<{ g: string }>(source.reader, "SELECT @@global.gtid_binlog_pos AS g");
    if (g?.g) {
      method = "mariadb-gtid";
      sourcePosition = g.g;
      reached = (await waitFunction(target.reader, ["SELECT MASTER_GTID_WAIT(?, ?) AS r"], [g.g, waitSeconds])) === 0;
    }
  } else {
    const [g] = await rows<{ g: string }>(source.reader, "SELECT @@global.gtid_executed AS g").catch(() => []);
    if (g?.g) {
      method = "mysql-gtid";
      sourcePosition = g.g;
      reached = (await waitFunction(target.reader, ["SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS r"], [g.g, waitSeconds])) === 0;
    }
  }
  if (reached === null) {
    const pos = await binlogPosition(source.reader);
    if (pos) {
      method = "binlog-position";
      sourcePosition = `${pos.File}:${pos.Position}`;
      const r = await waitFunction(
        target.reader,
        ["SELECT SOURCE_POS_WAIT(?, ?, ?) AS r", "SELECT MASTER_POS_WAIT(?, ?, ?) AS r"],
        [pos.File, Number(pos.Position), waitSeconds],
      );
      // NULL: the SQL thread is stopped or the replica's master is another server.
      reached = r !== null && r >= 0;
    }
  }

  const after = (await replicaStatus(target.reader)) ?? before;
  const lagText = field(after, "Seconds_Behind_Source", "Seconds_Behind_Master");
  const secondsBehind = lagText === null ? null : Number(lagText);
  const ioRunning = field(after, "Replica_IO_Running", "Slave_IO_Running") === "Yes";
  const sqlRunning = sqlThreadRunning(after);
  const readPos = `${field(after, "Source_Log_File", "Master_Log_File")}:${field(after, "Read_Source_Log_Pos", "Read_Master_Log_Pos")}`;
  const execPos = `${field(after, "Relay_Source_Log_File", "Relay_Master_Log_File")}:${field(after, "Exec_Source_Log_Pos", "Exec_Master_Log_Pos")}`;
  if (reached === null) reached = ioRunning && sqlRunning && secondsBehind === 0 && readPos === execPos;

  let replicaPosition: string | null = execPos;
  if (method === "mariadb-gtid") replicaPosition = (await rows<{ g: string }>(target.reader, "SELECT @@global.gtid_slave_pos AS g"))[0]?.g ?? null;
  if (method === "mysql-gtid") replicaPosition = (await rows<{ g: string }>(target.reader, "SELECT @@global.gtid_executed AS g"))[0]?.g ?? null;

  return {
    caughtUp: reached,
    method,
    sourcePosition,
    replicaPosition,
    secondsBehind,
    ioRunning,
    sqlRunning,
    lastError: String(after.Last_Error ?? after.Last_SQL_Error ?? "") || null,
    waitedMs: Date.now() - started,
  };
}
