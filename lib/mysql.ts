import { readFileSync } from "node:fs";
import { PeerCertificate, TLSSocket, checkServerIdentity } from "node:tls";
import type { Connection, ConnectionOptions, Pool, PoolOptions, RowDataPacket } from "mysql2/promise";
import { createConnection, createPool } from "mysql2/promise";
import { Dsn, DsnTls, SslMode, describeDsn, sslMode } from "./dsn";
import { RollbackError, messageOf } from "./errors";
import type { Flavor } from "./flavor";

/**
 * Session settings every tool uses, on both servers, so values compare byte for byte:
 * - time_zone '+00:00': IDC often runs KST and RDS UTC; TIMESTAMP values are read and
 *   written in UTC on both sides, so they never shift.
 * - dateStrings / bigNumberStrings / decimal as string: no value goes through a JS number
 *   or Date (DOUBLE last digits, DECIMAL(30,10), DATETIME(6), BIGINT stay exact).
 */
const exactValues: ConnectionOptions = {
  dateStrings: true,
  supportBigNumbers: true,
  bigNumberStrings: true,
  decimalNumbers: false,
  timezone: "Z",
  charset: "utf8mb4_bin",
  multipleStatements: false,
};

const sessionInit = [
  "SET SESSION time_zone = '+00:00'",
  "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
  "SET NAMES utf8mb4 COLLATE utf8mb4_bin",
];

function readPem(d: Dsn, param: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new RollbackError("DB_CONNECT", describeDsn(d), `${param} ${path} cannot be read: ${messageOf(e)}`);
  }
}

/**
 * mysql2's `ssl` option for a mode (PREFERRED is tried as "TLS, unverified" first, see connect).
 * The host name is never left to mysql2: it checks IP hosts against "localhost" (mysql2 passes
 * no servername for an IP and node then defaults to localhost), so VERIFY_IDENTITY is checked
 * after the handshake by verifyIdentity, against the URL's own host.
 */
function sslOption(d: Dsn, mode: SslMode): ConnectionOptions["ssl"] {
  const tls: DsnTls = d.tls ?? { mode };
  if (mode === "DISABLED") return undefined;
  // MySQL's client: REQUIRED with a CA given verifies the chain, as VERIFY_CA.
  const verify = mode === "VERIFY_CA" || mode === "VERIFY_IDENTITY" || (mode === "REQUIRED" && Boolean(tls.ca));
  return {
    rejectUnauthorized: verify,
    ...(tls.ca ? { ca: readPem(d, "ssl-ca", tls.ca) } : {}),
    ...(tls.cert ? { cert: readPem(d, "ssl-cert", tls.cert) } : {}),
    ...(tls.key ? { key: readPem(d, "ssl-key", tls.key) } : {}),
  };
}

function options(d: Dsn, extra: ConnectionOptions, mode: SslMode = sslMode(d)): ConnectionOptions {
  return {
    host: d.host,
    port: d.port,
    user: d.user,
    password: d.password,
    database: d.database,
    connectTimeout: 10_000,
    ssl: sslOption(d, mode),
    ...exactValues,
    ...extra,
  };
}

/** Node's TLS error codes for a certificate that does not chain to the CA. */
const CHAIN_ERRORS = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
]);
const CHAIN_MESSAGES = /self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate|certificate has expired|certificate is not yet valid|certificate signature failure/i;
/** ER_SECURE_TRANSPORT_REQUIRED: "Connections using insecure transport are prohibited while --require_secure_transport=ON". */
const ER_SECURE_TRANSPORT_REQUIRED = 3159;
/** ER_BAD_DB_ERROR: "Unknown database": the server answered and took the credentials; only the database is absent. */
const ER_BAD_DB_ERROR = 1049;

/** A connection failure as the reason a reader can act on: TLS ones named, the rest as the driver says. */
function connectError(d: Dsn, mode: SslMode, e: unknown): RollbackError {
  const err = e as { code?: string; errno?: number };
  const where = describeDsn(d);
  const ca = d.tls?.ca ? ` (${d.tls.ca})` : " (no ssl-ca: Node's CA store)";
  if (err.errno === ER_SECURE_TRANSPORT_REQUIRED) {
    return new RollbackError("DB_TLS", where, `the server refuses plain TCP (require_secure_transport=ON) and ssl-mode is ${mode}`, "use ssl-mode=VERIFY_IDENTITY with ssl-ca");
  }
  if (err.code === "HANDSHAKE_NO_SSL_SUPPORT") {
    return new RollbackError("DB_TLS", where, `ssl-mode=${mode} needs TLS but the server does not offer it`, "configure TLS on the server (ssl_cert/ssl_key), or lower ssl-mode");
  }
  if (err.code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return new RollbackError("DB_TLS", where, `TLS: the server's certificate does not name ${d.host} (${messageOf(e)})`, "connect by a name the certificate lists, or use ssl-mode=VERIFY_CA");
  }
  // mysql2 passes node's TLS errors on with the message only (no code).
  if ((err.code && CHAIN_ERRORS.has(err.code)) || CHAIN_MESSAGES.test(messageOf(e))) {
    return new RollbackError("DB_TLS", where, `TLS: the server's certificate is not trusted by ssl-ca${ca}: ${err.code}`, "give the CA bundle that signed the server's certificate (RDS: global-bundle.pem)");
  }
  if (err.errno === ER_BAD_DB_ERROR) {
    return new RollbackError("DB_MISSING", where, `the database ${d.database} does not exist on this server`, "create it (restore the schema first), or fix the database name in the URL");
  }
  return new RollbackError("DB_CONNECT", where, messageOf(e), "check host, port, credentials and network");
}

const ER_ACCESS_DENIED = 1045;

/**
 * MariaDB answers a plain-TCP login under require_secure_transport=ON (or to an account with
 * REQUIRE SSL) with "Access denied", the same words as a wrong password. When DISABLED was
 * denied, one TLS attempt with the same credentials tells the two apart.
 */
async function tlsOnlyLogin(d: Dsn, extra: ConnectionOptions, mode: SslMode, e: unknown): Promise<RollbackError | null> {
  if (mode !== "DISABLED" || (e as { errno?: number }).errno !== ER_ACCESS_DENIED) return null;
  const c = await open(d, extra, "REQUIRED").catch(() => null);
  if (!c) return null;
  c.destroy();
  return new RollbackError("DB_TLS", describeDsn(d), "the server refuses this login over plain TCP (require_secure_transport=ON or REQUIRE SSL) and ssl-mode is DISABLED", "use ssl-mode=VERIFY_IDENTITY with ssl-ca");
}

/** VERIFY_IDENTITY: the peer certificate must name the URL's host (DNS name or IP address SAN). */
function verifyIdentity(c: Connection, d: Dsn): void {
  const socket = (c as unknown as { connection: { stream: TLSSocket } }).connection.stream;
  const problem = checkServerIdentity(d.host, socket.getPeerCertificate() as PeerCertificate);
  if (problem) throw Object.assign(problem, { code: "ERR_TLS_CERT_ALTNAME_INVALID" });
}

const tlsModes = new WeakMap<object, SslMode>();

async function open(d: Dsn, extra: ConnectionOptions, mode: SslMode): Promise<Connection> {
  const c = await createConnection(options(d, extra, mode));
  try {
    if (mode === "VERIFY_IDENTITY") verifyIdentity(c, d);
  } catch (e) {
    c.destroy();
    throw e;
  }
  return c;
}

/**
 * Opens a connection with the exact-value session settings and the URL's TLS mode. PREFERRED
 * tries TLS and falls back to plain TCP only when the server offers no TLS at all (as MySQL's
 * client does). Errors name the server and the TLS reason, never the password.
 */
export async function connect(d: Dsn, extra: ConnectionOptions = {}): Promise<Connection> {
  const mode = sslMode(d);
  let c: Connection;
  try {
    c = await open(d, extra, mode === "PREFERRED" ? "REQUIRED" : mode).catch((e) => {
      if (mode === "PREFERRED" && (e as { code?: string }).code === "HANDSHAKE_NO_SSL_SUPPORT") return open(d, extra, "DISABLED");
      throw e;
    });
  } catch (e) {
    throw (await tlsOnlyLogin(d, extra, mode, e)) ?? connectError(d, mode, e);
  }
  tlsModes.set(c, mode);
  for (const sql of sessionInit) await c.query(sql);
  return c;
}

/** What a connection's TLS is: the mode asked for, and the server's Ssl_version/Ssl_cipher (null: plain TCP, e.g. PREFERRED without TLS on offer). */
export interface TlsState {
  readonly mode: SslMode | "unknown";
  readonly version: string | null;
  readonly cipher: string | null;
}

export async function tlsOf(c: Connection): Promise<TlsState> {
  const [r] = await c.query<RowDataPacket[]>("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')");
  const v = Object.fromEntries(r.map((x) => [String(x.Variable_name), String(x.Value ?? "")]));
  return { mode: tlsModes.get(c) ?? "unknown", version: v.Ssl_version || null, cipher: v.Ssl_cipher || null };
}

/** "VERIFY_IDENTITY, TLSv1.3 TLS_AES_256_GCM_SHA384" or "PREFERRED, plain TCP": for reports. */
export function describeTls(t: TlsState): string {
  return `${t.mode}, ${t.cipher ? `${t.version} ${t.cipher}` : "plain TCP"}`;
}

/**
 * The TLS lines of a client option file ([client] section) for the dump/restore tools, so they
 * connect as the engine does. MySQL's tools take ssl-mode itself (5.7.11+). MariaDB's client
 * has no ssl-mode: `ssl` turns TLS on, `ssl-verify-server-cert` checks chain and host name
 * (MariaDB has no chain-only check: VERIFY_CA verifies the host name too, the stricter
 * choice); PREFERRED is its default behaviour without options (10.x connectors: TLS if offered
 * is not guaranteed, so PREFERRED says nothing and leaves the tool's default).
 */
export function clientTlsOptions(d: Dsn, flavor: Flavor): string[] {
  const tls: DsnTls = d.tls ?? { mode: "PREFERRED" };
  const files = [...(tls.ca ? [`ssl-ca=${tls.ca}`] : []), ...(tls.cert ? [`ssl-cert=${tls.cert}`, `ssl-key=${tls.key}`] : [])];
  if (flavor === "mysql") return [`ssl-mode=${tls.mode}`, ...(tls.mode === "DISABLED" ? [] : files)];
  switch (tls.mode) {
    case "DISABLED":
      return ["skip-ssl"];
    case "PREFERRED":
      return files;
    case "REQUIRED":
      return ["ssl", ...files];
    case "VERIFY_CA":
    case "VERIFY_IDENTITY":
      return ["ssl", "ssl-verify-server-cert", ...files];
  }
}

/**
 * A pool whose every connection has the exact-value session settings. One probe connection
 * first, through connect: it settles PREFERRED (every pooled connection then uses the same
 * mode) and proves VERIFY_IDENTITY's host name once; pooled connections check the chain.
 */
export async function pool(d: Dsn, extra: PoolOptions = {}): Promise<Pool> {
  const probe = await connect(d);
  const tls = await tlsOf(probe).finally(() => probe.end());
  const asked = sslMode(d);
  const mode = asked !== "PREFERRED" ? asked : tls.cipher ? "REQUIRED" : "DISABLED";
  const p = createPool({ ...(options(d, extra, mode) as PoolOptions), waitForConnections: true, ...extra });
  // mysql2 emits 'connection' with the callback-style connection; run the session setup on it.
  p.pool.on("connection", (conn) => {
    for (const sql of sessionInit) conn.query(sql);
  });
  return p;
}

/** Quotes an identifier (table or column name) for MySQL: backticks doubled. */
export function ident(name: string): string {
  return "`" + name.replace(/`/g, "``") + "`";
}
