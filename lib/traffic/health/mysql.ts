import type { Connection } from "mysql2/promise";
import { Dsn, describeDsn } from "../../dsn";
import { ServerInfo, hasSuperReadOnly, parseServerVersion, replicaField, replicaStatusSql } from "../../flavor";
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
  const info = parseServerVersion(String(server.version));
  // MySQL's read_only does not bind SUPER users, super_read_only does; MariaDB has no such variable.
  const superReadOnly = hasSuperReadOnly(info)
    ? await c.query("SELECT @@super_read_only AS v").then(([rows]) => Number((rows as Record<string, unknown>[])[0].v) === 1)
    : null;
  return {
    version: String(server.version),
    comment: String(server.comment),
    hostname: String(server.hostname),
    readOnly: Number(server.readOnly) === 1,
    superReadOnly,
    replication: await replication(c, info),
  };
}

/** The replication state; statement and column names per flavour and version (lib/flavor.ts). */
async function replication(c: Connection, info: ServerInfo): Promise<Replication> {
  let rows: Record<string, unknown>[];
  try {
    [rows] = (await c.query(replicaStatusSql(info))) as unknown as [Record<string, unknown>[]];
  } catch (e) {
    if ((e as { errno?: number }).errno !== 1227) throw e;
    return { role: "unknown", note: "needs REPLICATION CLIENT (MySQL) or REPLICA MONITOR (MariaDB) to read the replication state" };
  }
  if (rows.length === 0) return { role: "primary" };
  const f = (column: Parameters<typeof replicaField>[2]) => replicaField(info, rows[0], column);
  const behind = f("secondsBehind");
  return {
    role: "replica",
    ioRunning: String(f("ioRunning")),
    sqlRunning: String(f("sqlRunning")),
    secondsBehind: behind === null ? null : Number(behind),
    sourceHost: String(f("sourceHost")),
    lastError: f("lastIoError") || f("lastSqlError") || "",
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
