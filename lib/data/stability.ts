import type { Connection } from "mysql2/promise";
import { rows } from "./session";
import type { Flavor } from "../flavor";

/**
 * A server's commit marker: text that changes whenever anything commits a write. Verify reads
 * it on both sides before and after comparing a table; if it moved on either side, rows may
 * have changed behind an already-compared chunk, so "identical" is not proven for that
 * window and the table is compared again (see verify.ts). Our own reads never move it.
 *
 * - MariaDB: Innodb_max_trx_id (every read-write transaction takes ids from it, also when
 *   the binlog is off) plus gtid_binlog_pos (non-InnoDB writes).
 * - MySQL: gtid_executed, the binary log position, and the InnoDB "Trx id counter"
 *   (SHOW ENGINE INNODB STATUS needs PROCESS; RDS's master user has it).
 *
 * null means no marker could be read: nothing can be proven stable on that server.
 */
export async function commitMarker(conn: Connection, flavor: Flavor): Promise<string | null> {
  const parts: string[] = [];
  if (flavor === "mariadb") {
    const [trx] = await rows<{ Value: string }>(conn, "SHOW GLOBAL STATUS LIKE 'Innodb_max_trx_id'");
    if (trx) parts.push(`trx:${trx.Value}`);
    const [g] = await rows<{ g: string }>(conn, "SELECT @@global.gtid_binlog_pos AS g");
    parts.push(`gtid:${g?.g ?? ""}`);
    return trx ? parts.join(" ") : null;
  }
  let proven = false;
  try {
    const [g] = await rows<{ g: string }>(conn, "SELECT @@global.gtid_executed AS g");
    if (g?.g) {
      parts.push(`gtid:${g.g}`);
      proven = true;
    }
  } catch {
    // gtid_executed does not exist before 5.6: fall through to the other signals.
  }
  for (const sql of ["SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"]) {
    try {
      const [s] = await rows<{ File: string; Position: string }>(conn, sql);
      if (s) {
        parts.push(`binlog:${s.File}:${s.Position}`);
        proven = true;
      }
      break;
    } catch {
      // SHOW BINARY LOG STATUS is 8.2+, SHOW MASTER STATUS was removed in 8.4: try the other.
    }
  }
  try {
    const [s] = await rows<{ Status: string }>(conn, "SHOW ENGINE INNODB STATUS");
    const m = /Trx id counter\s+(\d+)/.exec(s?.Status ?? "");
    if (m) {
      parts.push(`trx:${m[1]}`);
      proven = true;
    }
  } catch {
    // No PROCESS privilege: the binlog signals above must do.
  }
  return proven ? parts.join(" ") : null;
}

/** Whether a marker pair proves no commit happened in between. */
export function unchanged(before: string | null, after: string | null): boolean {
  return before !== null && before === after;
}
