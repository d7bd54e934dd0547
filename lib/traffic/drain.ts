import type { Connection } from "mysql2/promise";
import { Dsn, describeDsn } from "../dsn";
import { RollbackError, messageOf } from "../errors";
import { KILL_SQL, KillVia } from "../flavor";
import { connect } from "../mysql";

/**
 * Drain: wait until no application transaction is open on a database (R3: "let in-flight
 * transactions finish", bounded). A blocker is another client session that holds an InnoDB
 * transaction (even an idle one: `BEGIN` then nothing is the dangerous case, its writes land
 * later) or is executing a statement right now. Idle pooled sessions are not blockers: pools
 * keep them open for hours and they hold nothing. System threads, replication and the
 * provider's own sessions (RDS's `rdsadmin`) are never blockers.
 */
export interface Session {
  readonly id: number;
  readonly user: string;
  readonly host: string;
  readonly db: string | null;
  readonly command: string;
  readonly state: string | null;
  /** Seconds in the current command (PROCESSLIST.TIME). */
  readonly time: number;
  readonly info: string | null;
  readonly trxId: string | null;
  /** Seconds since the InnoDB transaction started. */
  readonly trxAge: number | null;
  readonly trxQuery: string | null;
}

/** A session's client host without its port (PROCESSLIST shows "10.0.0.5:51234"): what account host patterns match. */
export function clientHost(s: Pick<Session, "host">): string {
  return s.host.replace(/:\d+$/, "");
}

export interface Blocker {
  readonly id: number;
  readonly user: string;
  readonly host: string;
  readonly db: string | null;
  /** "transaction" (holds an InnoDB transaction) or "statement" (running one without a transaction). */
  readonly kind: "transaction" | "statement";
  /** Seconds: since the transaction started, or in the running statement. */
  readonly ageS: number;
  readonly command: string;
  /** What the thread is doing (PROCESSLIST.STATE), e.g. "Waiting for table metadata lock". */
  readonly state: string | null;
  /** The first STATEMENT_PREFIX characters of the running statement; null when idle in a transaction. */
  readonly statement: string | null;
}

/** Users that are never application sessions: MySQL/MariaDB internals and RDS's management user. */
export const SYSTEM_USERS: readonly string[] = ["system user", "event_scheduler", "rdsadmin"];
/** Commands of threads that are not application work: background daemons and replicas reading the binlog. */
const SYSTEM_COMMANDS = new Set(["Daemon", "Binlog Dump", "Binlog Dump GTID", "Slave_IO", "Slave_SQL", "Slave_worker"]);
const STATEMENT_PREFIX = 100;
/** A little more than InnoDB's INNODB_TRX cache lifetime (100 ms). */
const TRX_CACHE_MS = 150;

/** Which sessions block a drain. Pure: tested on rows without a server. */
export function findBlockers(sessions: readonly Session[], ignoreUsers: readonly string[] = SYSTEM_USERS): Blocker[] {
  const ignored = new Set(ignoreUsers);
  return sessions
    .filter((s) => !ignored.has(s.user) && !SYSTEM_COMMANDS.has(s.command))
    .filter((s) => s.trxId !== null || s.command !== "Sleep")
    .map((s) => ({
      id: s.id,
      user: s.user,
      host: s.host,
      db: s.db,
      kind: s.trxId !== null ? ("transaction" as const) : ("statement" as const),
      ageS: s.trxId !== null && s.trxAge !== null ? s.trxAge : s.time,
      command: s.command,
      state: s.state,
      statement: statementPrefix(s.trxQuery ?? s.info),
    }))
    .sort((a, b) => b.ageS - a.ageS || a.id - b.id);
}

/** A statement's first characters; statements that may carry a password are not printed at all. */
export function statementPrefix(sql: string | null): string | null {
  if (sql === null) return null;
  if (/\b(IDENTIFIED|PASSWORD)\b/i.test(sql)) return "<redacted: statement mentions a password>";
  const oneLine = sql.replace(/\s+/g, " ").trim();
  return oneLine.length > STATEMENT_PREFIX ? `${oneLine.slice(0, STATEMENT_PREFIX)}…` : oneLine;
}

// TIMESTAMPDIFF against NOW(): both are in the session's time zone, so the age is right whatever
// the server's zone (the IDC runs KST). INNODB_TRX needs the PROCESS privilege; without it
// PROCESSLIST shows only our own user's sessions and a drain would pass by seeing nothing.
const SESSIONS_SQL = `
SELECT p.ID AS id, p.USER AS user, p.HOST AS host, p.DB AS db, p.COMMAND AS command, p.STATE AS state,
       p.TIME AS time, LEFT(p.INFO, 1000) AS info,
       t.trx_id AS trxId,
       TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) AS trxAge, LEFT(t.trx_query, 1000) AS trxQuery
  FROM information_schema.PROCESSLIST p
  LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
 WHERE p.ID <> CONNECTION_ID()`;

export async function listSessions(c: Connection, server: string): Promise<Session[]> {
  try {
    const [rows] = await c.query(SESSIONS_SQL);
    return (rows as Record<string, unknown>[]).map((r) => ({
      id: Number(r.id),
      user: String(r.user ?? ""),
      host: String(r.host ?? ""),
      db: r.db === null ? null : String(r.db),
      command: String(r.command ?? ""),
      state: r.state === null ? null : String(r.state),
      time: Number(r.time ?? 0),
      info: r.info === null ? null : String(r.info),
      trxId: r.trxId === null ? null : String(r.trxId),
      trxAge: r.trxAge === null ? null : Number(r.trxAge),
      trxQuery: r.trxQuery === null ? null : String(r.trxQuery),
    }));
  } catch (e) {
    if ((e as { errno?: number }).errno === 1227) {
      throw new RollbackError(
        "PRIVILEGE_MISSING",
        server,
        "reading information_schema.INNODB_TRX needs the PROCESS privilege",
        "GRANT PROCESS ON *.* TO the drain user; without it other users' transactions are invisible",
      );
    }
    throw new RollbackError("DB_QUERY", server, messageOf(e));
  }
}

export interface KillResult {
  readonly id: number;
  readonly killed: boolean;
  /** How: `KILL CONNECTION`, or RDS's `mysql.rds_kill` (the RDS master user lacks CONNECTION_ADMIN/SUPER). */
  readonly via: KillVia | null;
  readonly error: string | null;
}

const ER_NO_SUCH_THREAD = 1094;
const ER_KILL_DENIED = 1095;

/** Kills a session; a session that is already gone counts as killed. */
export async function killSession(c: Connection, id: number): Promise<KillResult> {
  const attempt = async (via: KillVia): Promise<KillResult> => {
    try {
      await c.query(KILL_SQL[via], [id]);
      return { id, killed: true, via, error: null };
    } catch (e) {
      const errno = (e as { errno?: number }).errno;
      if (errno === ER_NO_SUCH_THREAD) return { id, killed: true, via, error: null };
      return { id, killed: false, via, error: `${errno ?? ""} ${messageOf(e)}`.trim() };
    }
  };
  const first = await attempt("KILL");
  if (first.killed || !first.error?.startsWith(String(ER_KILL_DENIED))) return first;
  const rds = await attempt("mysql.rds_kill");
  return rds.killed ? rds : { ...first, error: `${first.error}; mysql.rds_kill: ${rds.error}` };
}

export interface DrainOptions {
  readonly dsn: Dsn;
  readonly timeoutS: number;
  /** Kill the blockers left when the timeout expires. */
  readonly kill?: boolean;
  readonly pollMs?: number;
  /** Users to ignore besides SYSTEM_USERS (e.g. a monitoring agent). */
  readonly ignoreUsers?: readonly string[];
  /** Only these sessions can block (the fence waits for its own accounts' transactions only). */
  readonly select?: (s: Session) => boolean;
  /** How long to wait for killed sessions to finish rolling back. */
  readonly afterKillS?: number;
  readonly log?: (line: string) => void;
}

export interface DrainReport {
  readonly ok: boolean;
  readonly server: string;
  /** True when no blocker was left, without killing anything. */
  readonly drained: boolean;
  readonly waitedMs: number;
  readonly timeoutS: number;
  readonly polls: number;
  /** Blockers seen at the first look. */
  readonly initialBlockers: number;
  /** Blockers when the timeout expired (before any kill); empty when drained. */
  readonly blockers: readonly Blocker[];
  readonly killed: readonly KillResult[];
  /** Blockers still there at the end (after the kill, when --kill). */
  readonly remaining: readonly Blocker[];
}

export async function drain(opts: DrainOptions): Promise<DrainReport> {
  const log = opts.log ?? (() => undefined);
  const server = describeDsn(opts.dsn);
  const ignore = [...SYSTEM_USERS, ...(opts.ignoreUsers ?? [])];
  const pollMs = opts.pollMs ?? 500;
  const started = Date.now();
  const deadline = started + opts.timeoutS * 1000;
  const c = await connect(opts.dsn);
  try {
    // InnoDB serves INNODB_TRX from a cache that it refreshes only when nobody has read it for
    // 100 ms (TRX_I_S_CACHE_MIN_REFRESH_TIME, counted from the last read): polling faster than
    // that reads one stale snapshot forever, and any read may return what another client's
    // read cached. So reads are spaced TRX_CACHE_MS apart, "nothing open" is believed only when
    // a second read says it too, and the sessions to kill come from a read made just before.
    let polls = 0;
    let lastRead = 0;
    const read = async () => {
      await sleep(lastRead + TRX_CACHE_MS - Date.now());
      lastRead = Date.now();
      polls++;
      return findBlockers((await listSessions(c, server)).filter(opts.select ?? (() => true)), ignore);
    };
    const look = async () => {
      const found = await read();
      return found.length > 0 ? found : read();
    };

    let blockers = await look();
    const initialBlockers = blockers.length;
    let lastLog = 0;
    while (blockers.length > 0 && Date.now() < deadline) {
      if (Date.now() - lastLog >= 5_000) {
        log(`drain: ${blockers.length} open (${describeBlocker(blockers[0])}), ${Math.ceil((deadline - Date.now()) / 1000)}s left`);
        lastLog = Date.now();
      }
      await sleep(Math.min(pollMs, deadline - Date.now()));
      blockers = await look();
    }
    if (blockers.length > 0 && opts.kill) blockers = await look();
    const report = { server, timeoutS: opts.timeoutS, initialBlockers };
    if (blockers.length === 0) {
      const waitedMs = Date.now() - started;
      log(`drain: no open transaction on ${server} after ${polls} look(s), ${waitedMs} ms`);
      return { ok: true, drained: true, polls, waitedMs, blockers: [], killed: [], remaining: [], ...report };
    }
    for (const b of blockers) log(`drain: still open after ${opts.timeoutS}s: ${describeBlocker(b)}`);
    if (!opts.kill) return { ok: false, drained: false, polls, waitedMs: Date.now() - started, blockers, killed: [], remaining: blockers, ...report };

    const killed: KillResult[] = [];
    for (const b of blockers) {
      const k = await killSession(c, b.id);
      log(`drain: kill ${b.id}: ${k.killed ? `done (${k.via})` : k.error}`);
      killed.push(k);
    }
    // A killed session rolls its transaction back before it disappears; wait for that, bounded.
    const afterDeadline = Date.now() + (opts.afterKillS ?? 10) * 1000;
    let remaining = await look();
    while (remaining.length > 0 && Date.now() < afterDeadline) {
      await sleep(pollMs);
      remaining = await look();
    }
    return { ok: remaining.length === 0, drained: false, polls, waitedMs: Date.now() - started, blockers, killed, remaining, ...report };
  } finally {
    await c.end().catch(() => undefined);
  }
}

export function describeBlocker(b: Blocker): string {
  return `id ${b.id} ${b.user}@${b.host}${b.db ? `/${b.db}` : ""} ${b.kind} ${b.ageS}s ${b.statement ? `"${b.statement}"` : "(idle in transaction)"}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}
