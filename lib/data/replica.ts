import type { Connection, RowDataPacket } from "mysql2/promise";
import { RollbackError } from "../errors";
import {
  ReplicaColumn,
  ServerInfo,
  binlogStatusSql,
  globalVariableSql,
  gtidVariables,
  positionWaitSql,
  replicaField,
  replicaStatusSql,
} from "../flavor";
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

type Status = Record<string, unknown>;

/** This server's SHOW REPLICA STATUS row (lib/flavor.ts picks the spelling); null when not a replica. */
export async function replicaStatus(conn: Connection, server: ServerInfo): Promise<Status | null> {
  const [r] = await conn.query<RowDataPacket[]>(replicaStatusSql(server));
  return (r[0] as Status | undefined) ?? null;
}

export function sqlThreadRunning(server: ServerInfo, s: Status): boolean {
  return replicaField(server, s, "sqlRunning") === "Yes";
}

async function waitFunction(conn: Connection, sql: string, args: unknown[]): Promise<number | null> {
  const [r] = await rows<{ r: number | string | null }>(conn, sql, args);
  return r.r === null ? null : Number(r.r);
}

export async function checkReplica(source: Side, target: Side, waitSeconds: number): Promise<ReplicaReport> {
  const before = await replicaStatus(target.reader, target);
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

  const gtid = gtidVariables(source);
  const [g] = await rows<{ g: string }>(source.reader, globalVariableSql(gtid.source));
  if (g?.g) {
    method = source.flavor === "mariadb" ? "mariadb-gtid" : "mysql-gtid";
    sourcePosition = g.g;
    reached = (await waitFunction(target.reader, gtidVariables(target).waitSql, [g.g, waitSeconds])) === 0;
  }
  if (reached === null) {
    const [pos] = await rows<{ File: string; Position: string }>(source.reader, binlogStatusSql(source));
    if (pos) {
      method = "binlog-position";
      sourcePosition = `${pos.File}:${pos.Position}`;
      const r = await waitFunction(target.reader, positionWaitSql(target), [pos.File, Number(pos.Position), waitSeconds]);
      // NULL: the SQL thread is stopped or the replica's source is another server.
      reached = r !== null && r >= 0;
    }
  }

  const after = (await replicaStatus(target.reader, target)) ?? before;
  const f = (column: ReplicaColumn) => replicaField(target, after, column);
  const lagText = f("secondsBehind");
  const secondsBehind = lagText === null ? null : Number(lagText);
  const ioRunning = f("ioRunning") === "Yes";
  const sqlRunning = sqlThreadRunning(target, after);
  const readPos = `${f("sourceLogFile")}:${f("readSourceLogPos")}`;
  const execPos = `${f("relaySourceLogFile")}:${f("execSourceLogPos")}`;
  if (reached === null) reached = ioRunning && sqlRunning && secondsBehind === 0 && readPos === execPos;

  const replicaPosition =
    method === "mariadb-gtid" || method === "mysql-gtid"
      ? ((await rows<{ g: string }>(target.reader, globalVariableSql(gtidVariables(target).replica)))[0]?.g ?? null)
      : execPos;

  return {
    caughtUp: reached,
    method,
    sourcePosition,
    replicaPosition,
    secondsBehind,
    ioRunning,
    sqlRunning,
    lastError: f("lastSqlError") || f("lastIoError") || null,
    waitedMs: Date.now() - started,
  };
}
