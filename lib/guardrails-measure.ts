import type { Connection, RowDataPacket } from "mysql2/promise";
import type { Dsn } from "./dsn";
import { describeDsn } from "./dsn";
import { messageOf } from "./errors";
import type { Account } from "./fence/accounts";
import { sessionOf } from "./fence/accounts";
import { readServerInfo, replicaField, replicaStatusSql } from "./flavor";
import { DdlSeen, GuardrailMeasurements, GuardrailReport, GuardrailThresholds, ReplicaSeen, TransactionSeen, judgeGuardrails } from "./guardrails";
import { connect } from "./mysql";
import { SYSTEM_USERS, Session, clientHost, findBlockers, listSessions, statementPrefix } from "./traffic/drain";

/**
 * Measures the guardrails (lib/guardrails.ts) on real servers:
 * - transactions and DDL from information_schema.PROCESSLIST + INNODB_TRX (the drain's read);
 *   DDL is a running ALTER/CREATE/DROP/RENAME/TRUNCATE/OPTIMIZE/REPAIR, or any statement
 *   waiting for a metadata lock (what a queued ALTER makes every later query do).
 * - writes by unlisted accounts from performance_schema's statement counters per account
 *   (events_statements_summary_by_account_by_event_name, SUM_ROWS_AFFECTED of the DML events),
 *   read twice `windowS` apart: the window is the seconds right before the fence, not a look
 *   back (the counters have no timestamps). Not measured where performance_schema is off
 *   (MariaDB's default; RDS for MySQL turns it on with the parameter group's default), nor
 *   writes by the admin account itself (counters are per account, and the fence's own
 *   connection cannot be told apart from another session of that account), nor statements
 *   still running at the second read.
 * - IDC's replication from SHOW REPLICA STATUS on the IDC connection, when one is given.
 */
export interface GuardrailOptions {
  readonly dsn: Dsn;
  /** IDC, to check its replication; undefined: that rule is not measured. */
  readonly replicaDsn?: Dsn;
  /** The fenced accounts: their writes are expected, the fence stops them. */
  readonly accounts: readonly Account[];
  readonly thresholds: GuardrailThresholds;
  /** Seconds over which writes by unlisted accounts are counted (0: not measured). */
  readonly windowS: number;
  /** Re-measure until every rule passes, for up to this many seconds (0: judge once). */
  readonly waitS: number;
  readonly log?: (line: string) => void;
}

const DDL = /^\s*(ALTER|CREATE|DROP|RENAME|TRUNCATE|OPTIMIZE|REPAIR)\b/i;

// The DML statement events whose SUM_ROWS_AFFECTED counts rows written (MySQL and MariaDB).
const WRITE_EVENTS = ["insert", "insert_select", "update", "update_multi", "delete", "delete_multi", "replace", "replace_select", "load"]
  .map((e) => `'statement/sql/${e}'`)
  .join(", ");
export const GUARDRAIL_SQL = {
  performanceSchema: "SELECT @@global.performance_schema AS on_",
  writesByAccount: `SELECT USER AS user, HOST AS host, SUM(SUM_ROWS_AFFECTED) AS n FROM performance_schema.events_statements_summary_by_account_by_event_name WHERE USER IS NOT NULL AND EVENT_NAME IN (${WRITE_EVENTS}) GROUP BY USER, HOST`,
} as const;

export function transactionsOf(sessions: readonly Session[]): TransactionSeen[] {
  return findBlockers(sessions, SYSTEM_USERS)
    .filter((b) => b.kind === "transaction")
    .map((b) => ({ id: b.id, account: `${b.user}@${clientHost(b)}`, ageS: b.ageS }));
}

export function ddlOf(sessions: readonly Session[]): DdlSeen[] {
  return sessions
    .filter((s) => !SYSTEM_USERS.includes(s.user) && s.command === "Query" && ((s.info !== null && DDL.test(s.info)) || /metadata lock/i.test(s.state ?? "")))
    .map((s) => ({ id: s.id, account: `${s.user}@${clientHost(s)}`, state: /metadata lock/i.test(s.state ?? "") ? String(s.state) : "running", statement: statementPrefix(s.info) }));
}

async function writeCounters(c: Connection): Promise<Map<string, { user: string; host: string; n: number }>> {
  const [rows] = await c.query<RowDataPacket[]>(GUARDRAIL_SQL.writesByAccount);
  return new Map(rows.map((r) => [`${r.user}@${r.host}`, { user: String(r.user), host: String(r.host ?? ""), n: Number(r.n ?? 0) }]));
}

async function unlistedWrites(c: Connection, opts: GuardrailOptions): Promise<Pick<GuardrailMeasurements, "unlistedWrites" | "unlistedWritesUnmeasured">> {
  if (opts.windowS <= 0) return { unlistedWritesUnmeasured: "the window is 0 s" };
  const [[ps]] = await c.query<RowDataPacket[]>(GUARDRAIL_SQL.performanceSchema);
  if (Number(ps.on_) !== 1) return { unlistedWritesUnmeasured: "performance_schema is off on this server" };
  let before: Awaited<ReturnType<typeof writeCounters>>;
  try {
    before = await writeCounters(c);
  } catch (e) {
    return { unlistedWritesUnmeasured: `performance_schema not readable: ${messageOf(e)}` };
  }
  await new Promise((r) => setTimeout(r, opts.windowS * 1000));
  const after = await writeCounters(c);
  const listed = sessionOf(opts.accounts);
  const byAccount = [...after.values()]
    .filter((a) => !SYSTEM_USERS.includes(a.user) && a.user !== opts.dsn.user)
    .filter((a) => !listed({ user: a.user, host: a.host } as Session))
    .map((a) => ({ account: `${a.user}@${a.host}`, rows: a.n - (before.get(`${a.user}@${a.host}`)?.n ?? 0) }))
    .filter((a) => a.rows > 0);
  return { unlistedWrites: { windowS: opts.windowS, byAccount } };
}

async function replicaState(d: Dsn): Promise<Pick<GuardrailMeasurements, "replica" | "replicaUnmeasured">> {
  let c: Connection;
  try {
    c = await connect(d);
  } catch (e) {
    return { replicaUnmeasured: `IDC does not answer: ${messageOf(e)}` };
  }
  try {
    const info = await readServerInfo(c);
    const [rows] = await c.query<RowDataPacket[]>(replicaStatusSql(info));
    const row = rows[0];
    if (!row) return { replica: { configured: false, ioRunning: false, sqlRunning: false, secondsBehind: null } };
    const behind = replicaField(info, row, "secondsBehind");
    const replica: ReplicaSeen = {
      configured: true,
      ioRunning: replicaField(info, row, "ioRunning") === "Yes",
      sqlRunning: replicaField(info, row, "sqlRunning") === "Yes",
      secondsBehind: behind === null ? null : Number(behind),
    };
    return { replica };
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function measureGuardrails(c: Connection, opts: GuardrailOptions): Promise<GuardrailMeasurements> {
  const sessions = await listSessions(c, describeDsn(opts.dsn));
  return {
    transactions: transactionsOf(sessions),
    ddl: ddlOf(sessions),
    ...(await unlistedWrites(c, opts)),
    ...(opts.replicaDsn ? await replicaState(opts.replicaDsn) : {}),
  };
}

/** Measures and judges, again and again up to waitS while a rule refuses; the last verdict. */
export async function checkGuardrails(c: Connection, opts: GuardrailOptions): Promise<GuardrailReport & { readonly waitedMs: number }> {
  const started = Date.now();
  for (;;) {
    const r = judgeGuardrails(await measureGuardrails(c, opts), opts.thresholds);
    if (r.ok || Date.now() - started >= opts.waitS * 1000) return { ...r, waitedMs: Date.now() - started };
    opts.log?.(`guardrails: ${r.results.filter((x) => x.verdict === "refuse").map((x) => x.reason).join("; ")}; waiting (${Math.ceil(opts.waitS - (Date.now() - started) / 1000)} s left)`);
    await new Promise((res) => setTimeout(res, 1000));
  }
}
