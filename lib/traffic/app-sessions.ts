import type { Connection } from "mysql2/promise";
import { type Dsn, describeDsn } from "../dsn";
import { connect } from "../mysql";
import { clientHost, listSessions } from "./drain";

/**
 * The proof that the app moved (issue 14, connection-secret): a new secret version and a recycle
 * say nothing about where pooled connections actually go. Each side's PROCESSLIST does: no
 * session of the app's accounts may be left on the side being left, and with `expectTarget`
 * they must have one on the side going live. That half is optional because the step runs under
 * maintenance: a lazily filled pool (mysql2's, most drivers') opens no connection until a request
 * comes, so "none on the target" is normal then. Needs PROCESS on both (without it PROCESSLIST
 * shows only the checker's own sessions).
 */
export interface AppSessionsOptions {
  readonly source: Dsn;
  readonly target: Dsn;
  /** The app's accounts, by user name. */
  readonly users: readonly string[];
  readonly timeoutS: number;
  /** Also require a session of theirs on the target (apps that keep idle connections open). */
  readonly expectTarget?: boolean;
  readonly pollMs?: number;
  readonly log?: (line: string) => void;
}

export interface SideSessions {
  readonly server: string;
  readonly sessions: number;
  /** Client hosts of those sessions (who still holds a connection), deduplicated. */
  readonly hosts: string[];
}

export interface AppSessionsReport {
  /** No session of the app's accounts on the source (and, with expectTarget, one on the target). */
  readonly ok: boolean;
  readonly users: readonly string[];
  readonly source: SideSessions;
  readonly target: SideSessions;
  readonly waitedMs: number;
  readonly timeoutS: number;
}

async function sideSessions(c: Connection, server: string, users: ReadonlySet<string>): Promise<SideSessions> {
  const mine = (await listSessions(c, server)).filter((s) => users.has(s.user));
  return { server, sessions: mine.length, hosts: [...new Set(mine.map(clientHost))].sort() };
}

/** Polls both sides until the app's sessions are all on the target, or the timeout. */
export async function awaitAppSessions(opts: AppSessionsOptions): Promise<AppSessionsReport> {
  const users = new Set(opts.users);
  const started = Date.now();
  const source = await connect(opts.source);
  try {
    const target = await connect(opts.target);
    try {
      for (;;) {
        const [onSource, onTarget] = [await sideSessions(source, describeDsn(opts.source), users), await sideSessions(target, describeDsn(opts.target), users)];
        const ok = onSource.sessions === 0 && (!opts.expectTarget || onTarget.sessions > 0);
        const waitedMs = Date.now() - started;
        if (ok || waitedMs >= opts.timeoutS * 1000) return { ok, users: opts.users, source: onSource, target: onTarget, waitedMs, timeoutS: opts.timeoutS };
        opts.log?.(`app sessions: ${onTarget.sessions} on ${onTarget.server}, ${onSource.sessions} still on ${onSource.server}${onSource.hosts.length ? ` (${onSource.hosts.join(", ")})` : ""}`);
        await new Promise((r) => setTimeout(r, opts.pollMs ?? 1000));
      }
    } finally {
      await target.end();
    }
  } finally {
    await source.end();
  }
}
