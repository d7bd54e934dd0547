import type { Connection, RowDataPacket } from "mysql2/promise";
import type { Readable } from "node:stream";
import { Dsn, describeDsn } from "../dsn";
import { TlsState, connect, tlsOf } from "../mysql";
import { ServerInfo, readServerInfo } from "../flavor";
import { CHECKSUM_SESSION_SQL } from "./sql";
import type { SideName } from "./types";

/**
 * The connections the engine holds to one server. Reads on the source are plain autocommit
 * SELECTs, each its own consistent read: no lock and no transaction outlives a statement.
 */
export interface Side extends ServerInfo {
  readonly name: SideName;
  readonly dsn: Dsn;
  readonly label: string;
  /** The reader's TLS (every session of a side uses the DSN's mode). */
  readonly tls: TlsState;
  /** Checksums, row hashes and row reads. */
  readonly reader: Connection;
  /** Keyset walk for chunk boundaries (runs ahead of the reader). */
  readonly walker: Connection;
  close(): Promise<void>;
}

export async function rows<T = RowDataPacket>(conn: Connection, sql: string, values?: unknown[]): Promise<T[]> {
  const [r] = await conn.query<RowDataPacket[]>(sql, values);
  return r as T[];
}

/** Runs a statement that may not exist on this server flavour or version; false when it failed. */
export async function tryQuery(conn: Connection, sql: string): Promise<boolean> {
  try {
    await conn.query(sql);
    return true;
  } catch {
    return false;
  }
}

/** One more session with the engine's settings (sync's row fetcher runs beside the comparison). */
export async function openConnection(dsn: Dsn): Promise<Connection> {
  const c = await connect(dsn);
  // MySQL 8 caches information_schema.TABLES statistics (AUTO_INCREMENT, TABLE_ROWS) for a day.
  await tryQuery(c, "SET SESSION information_schema_stats_expiry = 0");
  await c.query(CHECKSUM_SESSION_SQL);
  return c;
}

export async function openSide(name: SideName, dsn: Dsn): Promise<Side> {
  const reader = await openConnection(dsn);
  let walker: Connection;
  try {
    walker = await openConnection(dsn);
  } catch (e) {
    await reader.end();
    throw e;
  }
  return {
    ...(await readServerInfo(reader)),
    name,
    dsn,
    label: `${name} ${describeDsn(dsn)}`,
    tls: await tlsOf(reader),
    reader,
    walker,
    async close() {
      await Promise.allSettled([reader.end(), walker.end()]);
    },
  };
}

/**
 * The target's writing session: foreign key checks off (rows arrive in key order, not
 * parent-first; checks off also stops ON DELETE CASCADE from deleting rows the sync is about
 * to compare; integrity.ts checks the result) and strict mode, so a value that does not fit
 * is an error instead of a silent truncation.
 */
export async function openWriter(dsn: Dsn): Promise<Connection> {
  const c = await openConnection(dsn);
  await c.query("SET SESSION foreign_key_checks = 0");
  await c.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'");
  return c;
}

/**
 * Streams raw rows (arrays of Buffer | null, exactly the bytes the server sent) with
 * back-pressure: mysql2 pauses the socket while the consumer awaits.
 */
export function streamRaw(conn: Connection, sql: string): AsyncIterable<(Buffer | null)[]> {
  return streamRows(conn, sql, { typeCast: false, rowsAsArray: true });
}

/**
 * A query's rows, typed as `conn.query` would give them unless `options` (mysql2 query
 * options) say otherwise, as a stream: mysql2 pauses the socket while the consumer is behind,
 * so a table of any size is read in bounded memory.
 */
export function streamRows<T = RowDataPacket>(conn: Connection, sql: string, options: object = {}): AsyncIterable<T> {
  const core = (conn as unknown as { connection: NodeJS.EventEmitter & { query(o: object): { stream(o: object): Readable } } }).connection;
  const stream = core.query({ ...options, sql }).stream({ highWaterMark: 4, objectMode: true });
  // A lost connection (KILL, a dropped socket) is told only to commands with a callback, and a
  // streamed query has none (mysql2 base/connection.js _notifyError): the stream would wait forever.
  const lost = (e: Error) => stream.destroy(e);
  core.once("error", lost);
  stream.once("close", () => core.removeListener("error", lost));
  return stream;
}

/** Raw rows of a bounded result (a handful of sample rows). */
export async function rawRows(conn: Connection, sql: string): Promise<(Buffer | null)[][]> {
  const [r] = await conn.query({ sql, typeCast: false, rowsAsArray: true });
  return r as unknown as (Buffer | null)[][];
}
