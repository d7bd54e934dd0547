import type { Connection, ConnectionOptions, Pool, PoolOptions } from "mysql2/promise";
import { createConnection, createPool } from "mysql2/promise";
import { Dsn, describeDsn } from "./dsn";
import { RollbackError, messageOf } from "./errors";

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

function options(d: Dsn, extra: ConnectionOptions): ConnectionOptions {
  return {
    host: d.host,
    port: d.port,
    user: d.user,
    password: d.password,
    database: d.database,
    connectTimeout: 10_000,
    ...exactValues,
    ...extra,
  };
}

/** Opens a connection with the exact-value session settings. Errors name the server, not the password. */
export async function connect(d: Dsn, extra: ConnectionOptions = {}): Promise<Connection> {
  let c: Connection;
  try {
    c = await createConnection(options(d, extra));
  } catch (e) {
    throw new RollbackError("DB_CONNECT", describeDsn(d), messageOf(e), "check host, port, credentials and network");
  }
  for (const sql of sessionInit) await c.query(sql);
  return c;
}

/** A pool whose every connection has the exact-value session settings. */
export function pool(d: Dsn, extra: PoolOptions = {}): Pool {
  const p = createPool({ ...(options(d, extra) as PoolOptions), waitForConnections: true, ...extra });
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
