import type { Connection } from "mysql2/promise";
import { Dsn, describeDsn } from "../../dsn";
import { connect } from "../../mysql";
import { CheckResult, Verdict, timed } from "./check";

export interface MysqlCheckOptions {
  readonly dsn: Dsn;
  /** Fail when the server is read_only (or super_read_only): after a rollback IDC must take writes. */
  readonly expectWritable?: boolean;
  /** Fail unless the server is a replica with both threads running and at most this lag. */
  readonly maxReplicaLagS?: number;
}

export interface Replication {
  /** "primary": no replica configuration; "replica": SHOW REPLICA STATUS has a row; "unknown": not allowed to look. */
  readonly role: "primary" | "replica" | "unknown";
  readonly ioRunning?: string;
  readonly sqlRunning?: string;
  readonly secondsBehind?: number | null;
  readonly sourceHost?: string;
  readonly lastError?: string;
  readonly note?: string;
}

/** MySQL answers: version, read_only, replication state; judged only on what was asked for. */
export function checkMysql(opts: MysqlCheckOptions): Promise<CheckResult> {
  return timed("mysql", describeDsn(opts.dsn), async () => {
    const c = await connect(opts.dsn, { connectTimeout: 5_000 });
    try {
      return judge(await observe(c), opts);
    } finally {
      await c.end().catch(() => undefined);
    }
  });
}

async function observe(c: Connection) {
  const [[server]] = (await c.query(
    "SELECT VERSION() AS version, @@version_comment AS comment, @@hostname AS hostname, @@read_only AS readOnly",
  )) as unknown as [Record<string, unknown>[]];
  // MariaDB has no super_read_only (error 1193); MySQL's read_only does not bind SUPER users, this does.
  const superReadOnly = await c.query("SELECT @@super_read_only AS v").then(
    ([rows]) => Number((rows as Record<string, unknown>[])[0].v) === 1,
    () => null,
  );
  return {
    version: String(server.version),
    comment: String(server.comment),
    hostname: String(server.hostname),
    readOnly: Number(server.readOnly) === 1,
    superReadOnly,
    replication: await replication(c),
  };
}

/** SHOW REPLICA STATUS (MariaDB 10.5+, MySQL 8.0.22+), else the older SHOW SLAVE STATUS; MySQL renamed the columns too. */
async function replication(c: Connection): Promise<Replication> {
  let rows: Record<string, unknown>[] | undefined;
  let denied = "";
  for (const sql of ["SHOW REPLICA STATUS", "SHOW SLAVE STATUS"]) {
    try {
      [rows] = (await c.query(sql)) as unknown as [Record<string, unknown>[]];
      break;
    } catch (e) {
      if ((e as { errno?: number }).errno === 1227) denied = "needs REPLICATION CLIENT (MySQL) or REPLICA MONITOR (MariaDB) to read the replication state";
    }
  }
  if (!rows) return { role: "unknown", note: denied || "SHOW REPLICA STATUS is not supported" };
  if (rows.length === 0) return { role: "primary" };
  const r = rows[0];
  const pick = (...names: string[]) => names.map((n) => r[n]).find((v) => v !== undefined);
  const behind = pick("Seconds_Behind_Source", "Seconds_Behind_Master");
  return {
    role: "replica",
    ioRunning: String(pick("Replica_IO_Running", "Slave_IO_Running")),
    sqlRunning: String(pick("Replica_SQL_Running", "Slave_SQL_Running")),
    secondsBehind: behind === null || behind === undefined ? null : Number(behind),
    sourceHost: String(pick("Source_Host", "Master_Host")),
    lastError: String(pick("Last_IO_Error") || pick("Last_SQL_Error") || ""),
  };
}

function judge(o: Awaited<ReturnType<typeof observe>>, opts: MysqlCheckOptions): Verdict {
  const problems: string[] = [];
  if (opts.expectWritable && (o.readOnly || o.superReadOnly)) {
    problems.push(`server is ${o.superReadOnly ? "super_read_only" : "read_only"}; expected writable`);
  }
  if (opts.maxReplicaLagS !== undefined) {
    const r = o.replication;
    if (r.role !== "replica") problems.push(`expected a replica, replication role is ${r.role}`);
    else if (r.ioRunning !== "Yes" || r.sqlRunning !== "Yes") {
      problems.push(`replication stopped (IO ${r.ioRunning}, SQL ${r.sqlRunning})${r.lastError ? `: ${r.lastError}` : ""}`);
    } else if (r.secondsBehind === null || r.secondsBehind === undefined || r.secondsBehind > opts.maxReplicaLagS) {
      problems.push(`replica lag ${r.secondsBehind ?? "unknown"} s exceeds ${opts.maxReplicaLagS} s`);
    }
  }
  return { evidence: o, problems };
}
