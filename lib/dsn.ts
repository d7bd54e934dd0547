import { RollbackError } from "./errors";

/** A parsed `mysql://user:pass@host:port/db` connection URL. */
export interface Dsn {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

/**
 * Parses a MySQL URL. The error names the environment variable, never the value:
 * the value holds a password.
 */
export function parseDsn(url: string, name: string): Dsn {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new RollbackError("DSN_INVALID", name, "is not a URL", "expected mysql://user:pass@host:port/db");
  }
  if (u.protocol !== "mysql:" && u.protocol !== "mariadb:") {
    throw new RollbackError("DSN_INVALID", name, `scheme must be mysql:// (got ${u.protocol}//)`);
  }
  if (!u.hostname) throw new RollbackError("DSN_INVALID", name, "has no host");
  const port = u.port ? Number(u.port) : 3306;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RollbackError("DSN_INVALID", name, "port must be 1-65535");
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (!database) throw new RollbackError("DSN_INVALID", name, "has no database name", "append /<database>");
  return {
    host: u.hostname.replace(/^\[|\]$/g, ""),
    port,
    user: decodeURIComponent(u.username || "root"),
    password: decodeURIComponent(u.password),
    database,
  };
}

/** Reads and parses a DSN from the environment; a missing variable is a clear error. */
export function dsnFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): Dsn {
  const value = env[name];
  if (!value) {
    throw new RollbackError("DSN_MISSING", name, "environment variable is not set", "export it as mysql://user:pass@host:port/db");
  }
  return parseDsn(value, name);
}

/** Builds a URL from parts (passwords are percent-encoded). */
export function formatDsn(d: Dsn): string {
  const auth = d.password ? `${encodeURIComponent(d.user)}:${encodeURIComponent(d.password)}` : encodeURIComponent(d.user);
  return `mysql://${auth}@${d.host.includes(":") ? `[${d.host}]` : d.host}:${d.port}/${encodeURIComponent(d.database)}`;
}

/** What may be printed about a DSN: everything but the password. */
export function describeDsn(d: Dsn): string {
  return `${d.user}@${d.host}:${d.port}/${d.database}`;
}
