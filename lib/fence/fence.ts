import type { Connection, RowDataPacket } from "mysql2/promise";
import { Dsn, describeDsn } from "../dsn";
import { RollbackError, messageOf } from "../errors";
import { CommitPosition, ServerInfo, commitPosition, formatPosition, hasSuperReadOnly, isRds, readServerInfo, supportsAccountLock } from "../flavor";
import { GuardrailReport, guardrailLines } from "../guardrails";
import { GuardrailOptions, checkGuardrails } from "../guardrails-measure";
import { openSide } from "../data/session";
import { stabilityOf } from "../data/stability";
import { connect } from "../mysql";
import { KillResult, Session, SYSTEM_USERS, describeBlocker, drain, findBlockers, killSession, listSessions } from "../traffic/drain";
import { Account, UserSpec, describeAccount, isLocked, resolveAccounts, sessionOf, setLocked } from "./accounts";
import { FenceMethod, FenceRecord, assertRecordFor, readRecord, removeRecord, writeRecord } from "./record";
import { FENCE_SQL } from "./sql";

/**
 * The fence: the application accounts can no longer write on a server, whatever path they come
 * by (nginx, a worker, cron, an admin shell with the app's password). Maintenance mode only
 * stops what passes nginx's HTTP server; this stops it in the database (plan §3.1: "block AWS RDS
 * connections immediately … wait for in-flight transactions").
 *
 * account-lock (default): ALTER USER … ACCOUNT LOCK refuses new logins, but does not end the
 * sessions already open (a pool's idle connections can start a new transaction at any time),
 * so after a bounded wait for the accounts' open transactions every session of those accounts
 * is killed. A session killed mid-transaction rolls back: that write was never acknowledged.
 * read-only: SET GLOBAL read_only (+ super_read_only on MySQL), for self-managed servers; it
 * binds every account without SUPER / READ_ONLY ADMIN, listed or not. RDS refuses it (a
 * parameter-group setting), so the fence refuses it there and says so.
 */
export interface FenceOptions {
  readonly dsn: Dsn;
  readonly users: readonly UserSpec[];
  readonly method: FenceMethod;
  /** The durable record (required for on/off; status and check read it when given). */
  readonly recordPath?: string;
  /** on: seconds to wait for the accounts' open transactions before killing their sessions. */
  readonly timeoutS?: number;
  readonly pollMs?: number;
  /** on: the pre-switch guardrails to pass first (lib/guardrails.ts); undefined: skipped. */
  readonly guardrails?: Omit<GuardrailOptions, "dsn" | "accounts" | "log">;
  readonly log?: (line: string) => void;
}

export interface AccountState extends Account {
  readonly locked: boolean;
  /** on/off: whether the fence locks (locked) this account; false for an account locked before it. */
  readonly byFence?: boolean;
}

export interface KilledSession extends KillResult {
  readonly user: string;
  readonly host: string;
  /** It held a transaction when killed: that transaction rolled back, never acknowledged. */
  readonly inTransaction: boolean;
}

export interface FenceReport {
  readonly ok: boolean;
  readonly action: "on" | "off" | "status" | "check";
  readonly server: string;
  readonly method: FenceMethod;
  /** account-lock: all accounts locked; read-only: read_only (and super_read_only) on. */
  readonly fenced: boolean;
  readonly accounts: readonly AccountState[];
  readonly readOnly?: { readonly readOnly: boolean; readonly superReadOnly: boolean | null };
  /** Sessions of the fenced accounts open now (status, check, and what `on` could not end). */
  readonly sessions: readonly { readonly id: number; readonly user: string; readonly host: string; readonly inTransaction: boolean }[];
  /** on: how long it waited for open transactions, and whether they all finished in time. */
  readonly waitedMs?: number;
  readonly drained?: boolean;
  readonly killed?: readonly KilledSession[];
  /** The commit position now (after the fence held, for on); null where the binlog is off. */
  readonly position: (CommitPosition & { readonly text: string }) | null;
  /** check: the position it was given. */
  readonly expectedPosition?: string;
  /** check --resync-on-move: how many times the delta was synced and verified again. */
  readonly resynced?: number;
  /** check: the position moved, but only by writes outside the fenced database (binary log events read). */
  readonly positionNote?: string;
  /** check: what moved, one line each (empty when ok). */
  readonly moved?: readonly string[];
  /** off: what was lifted, and what stays as it was before the fence. */
  readonly lifted?: readonly string[];
  readonly kept?: readonly string[];
  readonly record?: string;
  /** on: the guardrails' verdicts (a refusal changes nothing); absent when skipped. */
  readonly guardrails?: GuardrailReport & { readonly waitedMs: number };
}

interface Ctx {
  readonly c: Connection;
  readonly info: ServerInfo;
  readonly server: string;
  readonly log: (line: string) => void;
}

async function withAdmin<T>(opts: FenceOptions, run: (ctx: Ctx) => Promise<T>): Promise<T> {
  const c = await connect(opts.dsn);
  try {
    const info = await readServerInfo(c);
    return await run({ c, info, server: describeDsn(opts.dsn), log: opts.log ?? (() => undefined) });
  } finally {
    await c.end().catch(() => undefined);
  }
}

function requireRecord(opts: FenceOptions): string {
  if (!opts.recordPath) throw new RollbackError("ARGS_MISSING", "--record", "is required for on and off: it is what lets off lift exactly what on did", "e.g. --record .rollback/fence-aws.json");
  return opts.recordPath;
}

export async function fenceOn(opts: FenceOptions): Promise<FenceReport> {
  const recordPath = requireRecord(opts);
  return withAdmin(opts, async (ctx) => {
    const { c, server, log } = ctx;
    const accounts = await resolveAccounts(c, opts.users, server);
    if (accounts.some((a) => a.user === opts.dsn.user)) {
      throw new RollbackError("ARGS_INVALID", "--users", `names ${opts.dsn.user}, the account the fence itself connects with`, "fence the application's accounts; run the fence as an admin account");
    }
    const previous = await readRecord(recordPath);
    if (previous) assertRecordFor(previous, recordPath, server, opts.method);
    // Guardrails come before the fence; once a fence is (partly) up, completing it is safer.
    const guardrails = opts.guardrails && !previous ? await checkGuardrails(c, { ...opts.guardrails, dsn: opts.dsn, accounts, log }) : undefined;
    for (const line of guardrails ? guardrailLines(guardrails) : []) log(line);
    if (guardrails && !guardrails.ok) {
      log(`fence: refused by the guardrails; nothing was changed on ${server}`);
      const state = await accountStates(ctx, accounts);
      return { ok: false, action: "on", server, method: opts.method, fenced: false, accounts: state, sessions: [], position: await positionNow(ctx), guardrails };
    }
    const record = await planRecord(ctx, opts.method, accounts, previous);
    // Durable before the first change: a crash from here on leaves a record `off` can undo.
    await writeRecord(recordPath, record);

    if (opts.method === "account-lock") {
      for (const a of record.accounts) if (!a.wasLocked) await setLocked(c, a, true, server);
      log(`fence: locked ${record.accounts.filter((a) => !a.wasLocked).map(describeAccount).join(", ") || "nothing new"} on ${server}`);
    }
    const timeoutS = opts.timeoutS ?? 30;
    const select = sessionOf(accounts);
    const d = await drain({ dsn: opts.dsn, timeoutS, select, pollMs: opts.pollMs, log });
    const killed = await killAll(ctx, select);
    const remaining = await waitGone(ctx, select, 10_000);
    if (opts.method === "read-only") await setReadOnly(ctx, true, timeoutS);

    const position = await positionNow(ctx);
    await writeRecord(recordPath, { ...record, state: "on", position: position?.text ?? null });
    const state = await accountStates(ctx, accounts);
    const readOnly = opts.method === "read-only" ? await readOnlyState(ctx) : undefined;
    const fenced = isFenced(opts.method, state, readOnly);
    log(`fence: ${fenced && remaining.length === 0 ? "holds" : "does NOT hold"} on ${server}; killed ${killed.filter((k) => k.killed).length} session(s); position ${position?.text ?? "unknown (binlog off)"}`);
    return {
      ok: fenced && remaining.length === 0 && killed.every((k) => k.killed),
      action: "on",
      server,
      method: opts.method,
      fenced,
      accounts: state.map((a) => ({ ...a, byFence: !record.accounts.find((r) => r.user === a.user && r.host === a.host)?.wasLocked })),
      readOnly,
      sessions: remaining,
      waitedMs: d.waitedMs,
      drained: d.ok,
      killed,
      position,
      record: recordPath,
      guardrails,
    };
  });
}

/**
 * The record for this `on`. A second `on` (idempotent, or after a crash) keeps what the first
 * recorded as "before": the accounts are locked now because of that first run.
 */
async function planRecord(ctx: Ctx, method: FenceMethod, accounts: readonly Account[], previous: FenceRecord | undefined): Promise<FenceRecord> {
  const { c, info, server } = ctx;
  const base = { version: 1 as const, server, method, state: "applying" as const, startedAt: previous?.startedAt ?? new Date().toISOString() };
  if (method === "read-only") {
    if (await isRds(c)) {
      throw new RollbackError(
        "FENCE_UNSUPPORTED",
        server,
        "read_only cannot be set on Amazon RDS (its master user lacks SYSTEM_VARIABLES_ADMIN; read_only is a DB parameter group setting)",
        "use --method account-lock, or set read_only=1 in the instance's parameter group",
      );
    }
    return { ...base, accounts: [], readOnlyBefore: previous?.readOnlyBefore ?? (await readOnlyState(ctx)) };
  }
  if (!supportsAccountLock(info)) {
    throw new RollbackError("FENCE_UNSUPPORTED", server, `ALTER USER … ACCOUNT LOCK needs MySQL 5.7.6+ or MariaDB 10.4.2+ (server is ${info.flavor} ${info.version})`, "use --method read-only");
  }
  const out: FenceRecord["accounts"][number][] = [];
  for (const a of accounts) {
    const known = previous?.accounts.find((p) => p.user === a.user && p.host === a.host);
    out.push({ ...a, wasLocked: known ? known.wasLocked : await isLocked(c, a, server) });
  }
  // Accounts of a previous run that this one does not name stay in the record: off lifts them too.
  for (const p of previous?.accounts ?? []) if (!out.some((o) => o.user === p.user && o.host === p.host)) out.push(p);
  return { ...base, accounts: out };
}

export async function fenceOff(opts: FenceOptions): Promise<FenceReport> {
  const recordPath = requireRecord(opts);
  return withAdmin(opts, async (ctx) => {
    const { c, server, log } = ctx;
    const record = await readRecord(recordPath);
    const lifted: string[] = [];
    const kept: string[] = [];
    if (record) {
      assertRecordFor(record, recordPath, server, opts.method);
      for (const a of record.accounts) {
        if (a.wasLocked) kept.push(`${describeAccount(a)} (locked before the fence)`);
        else {
          await setLocked(c, a, false, server);
          lifted.push(describeAccount(a));
        }
      }
      if (record.readOnlyBefore) {
        await restoreReadOnly(ctx, record.readOnlyBefore);
        lifted.push(`read_only=${record.readOnlyBefore.readOnly ? 1 : 0}${record.readOnlyBefore.superReadOnly === null ? "" : ` super_read_only=${record.readOnlyBefore.superReadOnly ? 1 : 0}`}`);
      }
      await removeRecord(recordPath);
    }
    log(record ? `fence: lifted ${lifted.join(", ") || "nothing"} on ${server}${kept.length ? `; kept ${kept.join(", ")}` : ""}` : `fence: no record at ${recordPath}: nothing to lift on ${server}`);
    const accounts = record ? await accountStates(ctx, record.accounts) : [];
    const readOnly = opts.method === "read-only" ? await readOnlyState(ctx) : undefined;
    return {
      ok: true,
      action: "off",
      server,
      method: opts.method,
      fenced: record ? isFenced(opts.method, accounts, readOnly) && kept.length === accounts.length : false,
      accounts,
      readOnly,
      sessions: [],
      position: await positionNow(ctx),
      lifted,
      kept,
      record: recordPath,
    };
  });
}

/** Where the proof's position sits in the binary log (verify's sourcePosition carries it). */
export interface ProofBinlog {
  readonly file: string;
  readonly pos: number;
}

/**
 * Whether anything since `since` wrote to the fenced database, read from the binary log's events
 * (lib/data/stability.ts, the scoped proof verify uses): a position moved only by writes
 * elsewhere — RDS's rdsadmin rewrites mysql.rds_heartbeat2 every few minutes — is no write after
 * the proof. null when that cannot be told (no readable binary log, ROW format, privilege).
 */
async function wroteSince(opts: FenceOptions, since: ProofBinlog): Promise<boolean | null> {
  const side = await openSide("source", opts.dsn);
  try {
    const proof = await stabilityOf(side);
    if (proof?.info.kind !== "binlog") return null;
    const now = await proof.point();
    return !(await proof.quiet({ binlog: since, marker: null }, now, { database: opts.dsn.database, tables: "database", transactional: true }));
  } finally {
    await side.close();
  }
}

/**
 * status (ok = the fence holds and no session of the accounts is open) and check (also: the
 * position is P, or — given where P sits in the binary log — nothing since P wrote to the database).
 */
export async function fenceStatus(opts: FenceOptions, expected?: string, since?: ProofBinlog | null): Promise<FenceReport> {
  return withAdmin(opts, async (ctx) => {
    const { server } = ctx;
    const record = opts.recordPath ? await readRecord(opts.recordPath) : undefined;
    if (record) assertRecordFor(record, opts.recordPath!, server, opts.method);
    const accounts = await resolveAccounts(ctx.c, opts.users, server);
    const state = await accountStates(ctx, accounts);
    const readOnly = opts.method === "read-only" ? await readOnlyState(ctx) : undefined;
    const sessions = await openSessions(ctx, sessionOf(accounts));
    const position = await positionNow(ctx);
    const fenced = isFenced(opts.method, state, readOnly);
    const base = { action: "status" as const, server, method: opts.method, fenced, accounts: state, readOnly, sessions, position, record: opts.recordPath };
    if (expected === undefined) return { ...base, ok: fenced && sessions.length === 0 };

    const moved: string[] = [];
    let positionNote: string | undefined;
    if (position === null) moved.push("position: cannot be read (the binary log is off), so no write after the proof can be ruled out");
    else if (position.text !== expected) {
      const wrote = since ? await wroteSince(opts, since) : null;
      if (wrote === false) positionNote = `${expected} -> ${position.text}, but no event since the proof writes to database ${opts.dsn.database} (other schemas only, e.g. RDS's heartbeat)`;
      else moved.push(`position: ${expected} -> ${position.text} (something committed after the proof${wrote ? ` to database ${opts.dsn.database}` : ""})`);
    }
    for (const a of state.filter((x) => !x.locked && opts.method === "account-lock")) moved.push(`account: ${describeAccount(a)} is not locked`);
    if (readOnly && !fenced) moved.push(`read_only: off (read_only=${readOnly.readOnly ? 1 : 0}${readOnly.superReadOnly === null ? "" : `, super_read_only=${readOnly.superReadOnly ? 1 : 0}`})`);
    for (const s of sessions) moved.push(`session: id ${s.id} ${s.user}@${s.host}${s.inTransaction ? " (in a transaction)" : ""} is open`);
    return { ...base, action: "check", ok: moved.length === 0, expectedPosition: expected, moved, ...(positionNote ? { positionNote } : {}) };
  });
}

function isFenced(method: FenceMethod, accounts: readonly AccountState[], readOnly: FenceReport["readOnly"]): boolean {
  if (method === "read-only") return !!readOnly && readOnly.readOnly && readOnly.superReadOnly !== false;
  return accounts.length > 0 && accounts.every((a) => a.locked);
}

async function accountStates(ctx: Ctx, accounts: readonly Account[]): Promise<AccountState[]> {
  const out: AccountState[] = [];
  for (const a of accounts) out.push({ user: a.user, host: a.host, locked: await isLocked(ctx.c, a, ctx.server) });
  return out;
}

async function positionNow(ctx: Ctx): Promise<FenceReport["position"]> {
  const p = await commitPosition(ctx.c, ctx.info).catch((e) => {
    throw new RollbackError("DB_QUERY", ctx.server, `reading the commit position: ${messageOf(e)}`, "the admin account needs REPLICATION CLIENT (or BINLOG MONITOR on MariaDB)");
  });
  return p ? { ...p, text: formatPosition(p) } : null;
}

/** The fenced accounts' sessions now, application threads only (not replication, not the server's own). */
async function openSessions(ctx: Ctx, select: (s: Session) => boolean): Promise<FenceReport["sessions"]> {
  const all = (await listSessions(ctx.c, ctx.server)).filter(select);
  // findBlockers drops system users and replication threads; idle sessions count here too.
  const app = new Set(findBlockers(all.map((s) => ({ ...s, command: s.command === "Sleep" ? "Query" : s.command })), SYSTEM_USERS).map((b) => b.id));
  return all.filter((s) => app.has(s.id)).map((s) => ({ id: s.id, user: s.user, host: s.host, inTransaction: s.trxId !== null }));
}

async function killAll(ctx: Ctx, select: (s: Session) => boolean): Promise<KilledSession[]> {
  const out: KilledSession[] = [];
  for (const s of await openSessions(ctx, select)) {
    const k = await killSession(ctx.c, s.id);
    ctx.log(`fence: kill ${describeBlocker({ id: s.id, user: s.user, host: s.host, db: null, kind: s.inTransaction ? "transaction" : "statement", ageS: 0, command: "", state: null, statement: null })}: ${k.killed ? `done (${k.via})` : k.error}`);
    out.push({ ...k, user: s.user, host: s.host, inTransaction: s.inTransaction });
  }
  return out;
}

/** A killed session rolls its transaction back before it leaves the processlist: wait for that, bounded. */
async function waitGone(ctx: Ctx, select: (s: Session) => boolean, ms: number): Promise<FenceReport["sessions"]> {
  const deadline = Date.now() + ms;
  let left = await openSessions(ctx, select);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = await openSessions(ctx, select);
  }
  return left;
}

async function readOnlyState(ctx: Ctx): Promise<{ readOnly: boolean; superReadOnly: boolean | null }> {
  const flag = async (sql: string) => Number(Object.values((await ctx.c.query<RowDataPacket[]>(sql))[0][0])[0]) === 1;
  return { readOnly: await flag(FENCE_SQL.readOnly), superReadOnly: hasSuperReadOnly(ctx.info) ? await flag(FENCE_SQL.superReadOnly) : null };
}

async function setReadOnly(ctx: Ctx, on: boolean, timeoutS: number): Promise<void> {
  try {
    // SET GLOBAL read_only waits for open transactions and table locks of every account.
    await ctx.c.query(FENCE_SQL.lockWaitTimeout, [Math.max(1, Math.ceil(timeoutS))]);
    await ctx.c.query(FENCE_SQL.setReadOnly, [on ? 1 : 0]);
    if (hasSuperReadOnly(ctx.info)) await ctx.c.query(FENCE_SQL.setSuperReadOnly, [on ? 1 : 0]);
  } catch (e) {
    throw new RollbackError("DB_QUERY", ctx.server, `SET GLOBAL read_only: ${messageOf(e)}`, "the admin account needs SUPER or SYSTEM_VARIABLES_ADMIN; a long transaction of another account blocks it (lock_wait_timeout)");
  }
}

async function restoreReadOnly(ctx: Ctx, before: NonNullable<FenceRecord["readOnlyBefore"]>): Promise<void> {
  try {
    // super_read_only=1 implies read_only=1: lift it first, then set read_only as it was.
    if (before.superReadOnly !== null) await ctx.c.query(FENCE_SQL.setSuperReadOnly, [before.superReadOnly ? 1 : 0]);
    await ctx.c.query(FENCE_SQL.setReadOnly, [before.readOnly ? 1 : 0]);
  } catch (e) {
    throw new RollbackError("DB_QUERY", ctx.server, `restoring read_only: ${messageOf(e)}`);
  }
}
