import type { Connection, RowDataPacket } from "mysql2/promise";
import { RollbackError, messageOf } from "../errors";
import { type Session, clientHost } from "../traffic/drain";
import { FENCE_SQL } from "./sql";

/**
 * The accounts a fence acts on. `--users app,report@10.0.%` names an account by its name (every
 * host entry of that name: 'app'@'%', 'app'@'10.0.0.%', …) or by `name@host` exactly as in
 * mysql.user. A name with no entry at all is an error: a misspelt name would fence nobody.
 */
export interface UserSpec {
  readonly name: string;
  /** The Host column as written; undefined: every host entry of the name. */
  readonly host?: string;
}

export interface Account {
  readonly user: string;
  readonly host: string;
}

export function parseUsers(list: readonly string[]): UserSpec[] {
  if (list.length === 0) throw new RollbackError("ARGS_MISSING", "--users", "names no account", "e.g. --users app,worker@10.0.%");
  return list.map((u) => {
    const at = u.lastIndexOf("@");
    const spec = at < 0 ? { name: u } : { name: u.slice(0, at), host: u.slice(at + 1) };
    if (!spec.name || spec.host === "") throw new RollbackError("ARGS_INVALID", "--users", `"${u}" is not name or name@host`);
    return spec;
  });
}

export function describeAccount(a: Account): string {
  return `'${a.user}'@'${a.host}'`;
}

/** Every mysql.user entry the specs name, in a stable order; a spec that names none is refused. */
export async function resolveAccounts(c: Connection, specs: readonly UserSpec[], server: string): Promise<Account[]> {
  const out: Account[] = [];
  for (const spec of specs) {
    const rows = await query(c, FENCE_SQL.accountsOf, [spec.name], server);
    const found = rows.map((r) => ({ user: String(r.user), host: String(r.host) })).filter((a) => spec.host === undefined || a.host === spec.host);
    if (found.length === 0) {
      throw new RollbackError(
        "ACCOUNT_UNKNOWN",
        spec.host === undefined ? spec.name : `${spec.name}@${spec.host}`,
        `no such account on ${server}`,
        "name the application accounts as in mysql.user (SELECT User, Host FROM mysql.user)",
      );
    }
    for (const a of found) if (!out.some((o) => o.user === a.user && o.host === a.host)) out.push(a);
  }
  return out.sort((a, b) => a.user.localeCompare(b.user) || a.host.localeCompare(b.host));
}

/**
 * Whether an account is locked. SHOW CREATE USER says so on both flavours: MySQL always ends
 * with ACCOUNT LOCK or ACCOUNT UNLOCK, MariaDB writes ACCOUNT LOCK only when locked. Its text
 * also holds the password hash: it is matched here and never printed.
 */
export async function isLocked(c: Connection, a: Account, server: string): Promise<boolean> {
  const [row] = await query(c, FENCE_SQL.showCreateUser, [a.user, a.host], server);
  return /\bACCOUNT LOCK\b/.test(String(Object.values(row ?? {})[0] ?? ""));
}

export async function setLocked(c: Connection, a: Account, locked: boolean, server: string): Promise<void> {
  await query(c, locked ? FENCE_SQL.lock : FENCE_SQL.unlock, [a.user, a.host], server);
}

/**
 * Whether a session belongs to the fenced accounts. PROCESSLIST shows the client's user and
 * host, not the mysql.user entry it matched: a host entry is matched as MySQL matches it
 * (`%` and `_` wildcards against the client host without its port), which is exact for the
 * usual 'app'@'%' and 'app'@'10.0.%' entries.
 */
export function sessionOf(accounts: readonly Account[]): (s: Session) => boolean {
  return (s) => {
    const host = clientHost(s);
    return accounts.some((a) => a.user === s.user && hostMatches(a.host, host));
  };
}

export function hostMatches(pattern: string, host: string): boolean {
  const re = pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/%/g, ".*").replace(/_/g, ".");
  const loopback = ["localhost", "127.0.0.1", "::1"];
  // Without skip_name_resolve the processlist shows a loopback client as "localhost".
  return new RegExp(`^${re}$`, "i").test(host) || (loopback.includes(pattern) && loopback.includes(host));
}

async function query(c: Connection, sql: string, params: unknown[], server: string): Promise<RowDataPacket[]> {
  try {
    const [rows] = await c.query<RowDataPacket[]>(sql, params);
    return rows;
  } catch (e) {
    const errno = (e as { errno?: number }).errno;
    if (errno === 1227 || errno === 1142 || errno === 1044) {
      throw new RollbackError("PRIVILEGE_MISSING", server, messageOf(e), "the fence's admin account needs CREATE USER (ACCOUNT LOCK), SELECT on mysql.user and PROCESS; see docs/runbook.md");
    }
    throw new RollbackError("DB_QUERY", server, messageOf(e));
  }
}
