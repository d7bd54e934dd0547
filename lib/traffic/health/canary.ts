import { hostname } from "node:os";
import { Dsn, describeDsn } from "../../dsn";
import { RollbackError } from "../../errors";
import { connect, ident } from "../../mysql";
import { CheckResult, timed } from "./check";

/**
 * The canary table's shape. It is not created unless asked (`--create-canary`): a health check
 * that silently adds a table to a production schema would show up as a schema difference in
 * the next verify.
 */
export function canaryDdl(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualified(table)} (id VARCHAR(64) NOT NULL PRIMARY KEY, written_at DATETIME(6) NOT NULL, writer VARCHAR(255) NOT NULL) ENGINE=InnoDB`;
}

/** Validates `table` or `db.table` before anything runs; the error names the flag. */
export function parseCanaryTable(text: string, subject = "--canary-table"): string {
  if (!/^[A-Za-z0-9_$]{1,64}(\.[A-Za-z0-9_$]{1,64})?$/.test(text)) {
    throw new RollbackError("ARGS_INVALID", subject, `"${text}" is not a table name`, "use table or database.table");
  }
  return text;
}

function qualified(table: string): string {
  return table.split(".").map(ident).join(".");
}

const ER_NO_SUCH_TABLE = 1146;

/**
 * Write, read back, delete, confirm gone: the database takes writes and returns exactly what was
 * written (a DATETIME(6) with microseconds round-trips byte for byte through the exact-value session).
 */
export function checkCanary(opts: { dsn: Dsn; table: string; create?: boolean }): Promise<CheckResult> {
  return timed("canary", `${describeDsn(opts.dsn)} ${opts.table}`, async () => {
    const t = qualified(opts.table);
    const c = await connect(opts.dsn, { connectTimeout: 5_000 });
    const key = `health-${hostname()}-${process.pid}-${Date.now()}`.slice(0, 64);
    const now = new Date();
    const writtenAt = now.toISOString().replace("T", " ").replace("Z", "") + "000";
    const ms: Record<string, number> = {};
    const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
      const s = Date.now();
      const r = await work();
      ms[`${name}Ms`] = Date.now() - s;
      return r;
    };
    let inserted = false;
    try {
      if (opts.create) await c.query(canaryDdl(opts.table));
      try {
        await step("write", () => c.query(`INSERT INTO ${t} (id, written_at, writer) VALUES (?, ?, ?)`, [key, writtenAt, `${hostname()}:${process.pid}`]));
      } catch (e) {
        if ((e as { errno?: number }).errno !== ER_NO_SUCH_TABLE) throw e;
        return { evidence: { key }, problems: [`table ${opts.table} does not exist; create it (--create-canary) with: ${canaryDdl(opts.table)}`] };
      }
      inserted = true;
      const [rows] = await step("read", () => c.query(`SELECT written_at AS writtenAt FROM ${t} WHERE id = ?`, [key]));
      const readBack = (rows as { writtenAt: string }[])[0]?.writtenAt ?? null;
      await step("delete", () => c.query(`DELETE FROM ${t} WHERE id = ?`, [key]));
      inserted = false;
      const [left] = await c.query(`SELECT COUNT(*) AS n FROM ${t} WHERE id = ?`, [key]);
      const remaining = Number((left as { n: string }[])[0].n);
      const problems = [
        readBack !== writtenAt ? `read back ${readBack === null ? "nothing" : `"${readBack}"`}, wrote "${writtenAt}"` : "",
        remaining !== 0 ? "the canary row is still there after DELETE" : "",
      ].filter(Boolean);
      return { evidence: { key, wrote: writtenAt, readBack, deleted: remaining === 0, ...ms }, problems };
    } finally {
      if (inserted) await c.query(`DELETE FROM ${t} WHERE id = ?`, [key]).catch(() => undefined);
      await c.end().catch(() => undefined);
    }
  });
}
