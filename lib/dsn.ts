import { RollbackError } from "./errors";

/**
 * TLS for a connection, MySQL's own `--ssl-mode` names:
 * - DISABLED: plain TCP;
 * - PREFERRED (the default): TLS when the server offers it, unverified; plain otherwise;
 * - REQUIRED: TLS or nothing, unverified (with `ssl-ca`, MySQL's client verifies the chain: so do we);
 * - VERIFY_CA: TLS, the server's certificate chain must lead to `ssl-ca` (else Node's CA store);
 * - VERIFY_IDENTITY: VERIFY_CA, and the certificate must name the URL's host (DNS or IP SAN).
 */
export const SSL_MODES = ["DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"] as const;
export type SslMode = (typeof SSL_MODES)[number];

export interface DsnTls {
  readonly mode: SslMode;
  /** PEM file paths (never their contents): the CA bundle (RDS: global-bundle.pem), a client certificate and key. */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** A parsed `mysql://user:pass@host:port/db?ssl-mode=…&ssl-ca=…` connection URL. */
export interface Dsn {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** Absent: PREFERRED without files. */
  readonly tls?: DsnTls;
}

/** The URL parameters, named as MySQL's client options; the value of each goes to the DsnTls field. */
const TLS_PARAMS = { "ssl-mode": "mode", "ssl-ca": "ca", "ssl-cert": "cert", "ssl-key": "key" } as const;

/** The mode a DSN connects with. */
export function sslMode(d: Dsn): SslMode {
  return d.tls?.mode ?? "PREFERRED";
}

/** Validates TLS settings from a URL or stack config; `name` is what the error names. */
export function checkTls(tls: { mode?: string; ca?: string; cert?: string; key?: string }, name: string): DsnTls {
  const mode = (tls.mode ?? "PREFERRED").toUpperCase();
  if (!(SSL_MODES as readonly string[]).includes(mode)) {
    throw new RollbackError("DSN_INVALID", name, `ssl-mode must be one of ${SSL_MODES.join(", ")} (got ${tls.mode})`);
  }
  if (Boolean(tls.cert) !== Boolean(tls.key)) throw new RollbackError("DSN_INVALID", name, "ssl-cert and ssl-key go together");
  if (mode === "DISABLED" && (tls.ca || tls.cert)) {
    throw new RollbackError("DSN_INVALID", name, "ssl-mode=DISABLED with certificate files", "drop the files, or choose a TLS mode");
  }
  return {
    mode: mode as SslMode,
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(tls.cert ? { cert: tls.cert } : {}),
    ...(tls.key ? { key: tls.key } : {}),
  };
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
  // Parameter names only, never values: a mistyped one must not be silently ignored (a lost
  // ssl-mode=REQUIRED would send the password in clear text).
  const unknown = [...u.searchParams.keys()].filter((k) => !(k in TLS_PARAMS));
  if (unknown.length) {
    throw new RollbackError("DSN_INVALID", name, `unknown URL parameter ${unknown.join(", ")}`, `known: ${Object.keys(TLS_PARAMS).join(", ")}`);
  }
  const tls: Record<string, string> = {};
  for (const [param, field] of Object.entries(TLS_PARAMS)) {
    const v = u.searchParams.get(param);
    if (v !== null) tls[field] = v;
  }
  return {
    host: u.hostname.replace(/^\[|\]$/g, ""),
    port,
    user: decodeURIComponent(u.username || "root"),
    password: decodeURIComponent(u.password),
    database,
    ...(Object.keys(tls).length ? { tls: checkTls(tls, name) } : {}),
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
  const params = new URLSearchParams();
  if (d.tls) for (const [param, field] of Object.entries(TLS_PARAMS)) if (d.tls[field]) params.set(param, d.tls[field]);
  const query = params.size ? `?${params}` : "";
  return `mysql://${auth}@${d.host.includes(":") ? `[${d.host}]` : d.host}:${d.port}/${encodeURIComponent(d.database)}${query}`;
}

/** What may be printed about a DSN: everything but the password. */
export function describeDsn(d: Dsn): string {
  return `${d.user}@${d.host}:${d.port}/${d.database}`;
}
