import { createHash } from "node:crypto";
import { cpus } from "node:os";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Connection, RowDataPacket } from "mysql2/promise";
import { Dsn } from "../dsn";
import { RollbackError, messageOf } from "../errors";
import { ServerInfo, adoptGtidSql, definerPrivilege, readServerInfo } from "../flavor";
import { connect, ident, pool } from "../mysql";
import { Progress } from "../progress";
import { Tool, clientTool, runSql, withClientConfig } from "./client";
import { KeyPlan, foreignKeys, orphanQuery, planDeferredKeys } from "./keys";
import { Manifest, ManifestTable, POST_FILE, SCHEMA_FILE } from "./manifest";
import { runPool } from "./pool";
import { PreparedBackup, prepareBackup } from "./prepare";
import { checkedSql } from "./read-dump";
import { swapIn } from "./swap";

export interface RestoreOptions {
  /** The target: the database this DSN names, whatever the backup's own database was. */
  readonly dsn: Dsn;
  /** A backup directory or a plain dump file (.sql / .sql.gz with a .sha256 sidecar). */
  readonly path: string;
  /** Tables loaded at once. Default: the CPU count, 2 to 4. */
  readonly jobs?: number;
  /** Keep the target's old tables in `<db>__previous_<time>` instead of dropping them. */
  readonly keepPrevious?: boolean;
  /** Refuse backups older than this. */
  readonly maxAgeHours?: number;
  /** Create the target database when it does not exist (refused otherwise: a typo'd name would get a new database). */
  readonly create?: boolean;
  /**
   * The backup's GTID set on the target. `off` (default): the restore's writes are the target's
   * own transactions (binlogged, so its replicas get them, under the target's GTIDs) and the
   * source's GTIDs never enter the target. `keep`: additionally the backup's set is adopted after
   * the swap (MySQL: added to gtid_purged; MariaDB: gtid_slave_pos), so the target can replicate
   * from the backup's source from that point.
   */
  readonly gtidPolicy?: GtidPolicy;
  /** Tables with at least this many rows get their secondary indexes built after the load. */
  readonly deferKeysMinRows?: number;
  readonly quiet?: boolean;
  readonly signal?: AbortSignal;
  /** Called as each table finishes loading into staging. */
  readonly onTableLoaded?: (table: string) => void;
}

export type GtidPolicy = "off" | "keep";

export interface RestoredTable {
  readonly table: string;
  readonly rows: number;
  readonly bytes: number;
  readonly loadMs: number;
  readonly deferredKeys: number;
}

export interface RestoreReport {
  readonly ok: true;
  readonly database: string;
  readonly backup: { readonly path: string; readonly database: string; readonly takenAt: string; readonly gtid: string | null; readonly binlog: Manifest["binlog"] };
  readonly tables: RestoredTable[];
  readonly rows: number;
  readonly views: number;
  readonly checks: { readonly foreignKeys: number; readonly orphanRows: 0; readonly rowCountsMatch: true };
  readonly createdDatabase: boolean;
  /** The GTID policy applied and the set adopted (keep), else null. */
  readonly gtid: { readonly policy: GtidPolicy; readonly adopted: string | null };
  readonly replaced: { readonly tables: number; readonly objects: number };
  /** Where the target's old tables were kept (--keep-previous), else null. */
  readonly previous: string | null;
  readonly phasesMs: Record<string, number>;
  readonly durationMs: number;
  readonly notes: string[];
}

const DEFAULT_DEFER_ROWS = 50_000;

/** `<db>__<what>_<YYYYMMDDhhmmss>`, shortened with a hash to fit MySQL's 64-character limit. Pure. */
export function sideSchema(db: string, what: "restore" | "previous", at: Date): string {
  const stamp = at.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const room = 64 - `__${what}_`.length - stamp.length;
  const base = db.length <= room ? db : `${db.slice(0, room - 9)}_${createHash("sha1").update(db).digest("hex").slice(0, 8)}`;
  return `${base}__${what}_${stamp}`;
}

/**
 * Refuses a backup whose triggers/routines/events/views name its original database when
 * restoring under another name: they would be created against (or fail on) that database. Pure.
 */
export function crossDatabaseReference(original: string, target: string, postSql: string): string | null {
  if (original === target) return null;
  const esc = original.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const m = new RegExp("(`" + esc.replace(/`/g, "``") + "`|(?<![\\w$`])" + esc + ")\\.[`\\w$]", "u").exec(postSql);
  if (!m) return null;
  const line = postSql.slice(postSql.lastIndexOf("\n", m.index) + 1, postSql.indexOf("\n", m.index)).trim();
  return `names the backup's database \`${original}\` ("${line.slice(0, 120)}"); restored into \`${target}\` it would act on \`${original}\``;
}

/** The definers post.sql creates objects for, as "user@host". Pure. */
export function definersIn(postSql: string): string[] {
  const out = new Set<string>();
  for (const m of postSql.matchAll(/DEFINER=`((?:[^`]|``)*)`@`((?:[^`]|``)*)`/g)) out.add(`${m[1].replace(/``/g, "`")}@${m[2].replace(/``/g, "`")}`);
  return [...out];
}

async function query(c: Connection, sql: string, args: unknown[] = []): Promise<RowDataPacket[]> {
  const [rows] = await c.query<RowDataPacket[]>(sql, args);
  return rows;
}

/**
 * Creating an object for another definer needs SET USER (MariaDB) / SET_ANY_DEFINER (MySQL) or
 * SUPER. Checked before anything is touched, rather than failing after the swap.
 */
async function refuseForeignDefiners(c: Connection, info: ServerInfo, postSql: string): Promise<void> {
  const current = String((await query(c, "SELECT CURRENT_USER() AS u"))[0].u);
  const foreign = definersIn(postSql).filter((d) => d !== current);
  if (foreign.length === 0) return;
  const grants = (await query(c, "SHOW GRANTS")).map((r) => String(Object.values(r)[0]));
  const privilege = definerPrivilege(info);
  if (grants.some((g) => new RegExp(`^GRANT (ALL PRIVILEGES|.*\\b(SUPER|${privilege})\\b.*) ON \\*\\.\\* TO`).test(g))) return;
  throw new RollbackError(
    "RESTORE_PRIVILEGES",
    POST_FILE,
    `creates triggers/views/routines/events with DEFINER ${foreign.join(", ")}; ${current} may not (needs ${privilege} or SUPER)`,
    `restore as a user with ${privilege}, or as the definer; nothing was changed`,
  );
}

/** One restore per target at a time; a named lock, released when the connection ends. */
async function lockTarget(c: Connection, target: string): Promise<void> {
  const name = `idc-rollback-restore:${createHash("sha1").update(target).digest("hex").slice(0, 24)}`;
  const got = (await query(c, "SELECT GET_LOCK(?, 0) AS got", [name]))[0].got;
  if (Number(got) !== 1) throw new RollbackError("RESTORE_BUSY", target, "another restore into this database is running");
}

/** Staging schemas of interrupted restores (safe to drop: we hold the restore lock). */
async function dropLeftovers(c: Connection, target: string): Promise<string[]> {
  const prefix = sideSchema(target, "restore", new Date()).replace(/\d{14}$/, "");
  const like = prefix.replace(/[\\%_]/g, "\\$&") + "%";
  const notes: string[] = [];
  for (const r of await query(c, "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?", [like])) {
    await c.query(`DROP DATABASE ${ident(String(r.name))}`);
    notes.push(`dropped ${r.name}, left by an interrupted restore`);
  }
  return notes;
}

/** Drops a side schema; returns why it could not be dropped instead of throwing. */
async function dropSchema(c: Connection, schema: string): Promise<string | null> {
  try {
    await c.query(`DROP DATABASE IF EXISTS ${ident(schema)}`);
    return null;
  } catch (e) {
    return `${messageOf(e)} (drop it by hand)`;
  }
}

/**
 * --gtid-policy keep, checked before anything is touched: the backup must have recorded a GTID
 * set, and on MySQL the target must run with gtid_mode=ON and hold none of it (gtid_purged can
 * only grow by a set disjoint from gtid_executed; a target that already executed part of it is
 * not what the backup's source left).
 */
async function checkGtidAdoptable(c: Connection, info: ServerInfo, gtid: string | null): Promise<void> {
  if (!gtid) throw new RollbackError("RESTORE_GTID", "--gtid-policy keep", "the backup recorded no GTID set (binary logging or GTIDs were off at backup time)", "restore with --gtid-policy off; nothing was changed");
  if (info.flavor !== "mysql") return;
  const [r] = await query(c, "SELECT @@GLOBAL.gtid_mode AS mode, GTID_SUBSET(?, GTID_SUBTRACT(?, @@GLOBAL.gtid_executed)) AS disjoint, @@GLOBAL.gtid_executed AS executed", [gtid, gtid]);
  if (String(r.mode) !== "ON") throw new RollbackError("RESTORE_GTID", "--gtid-policy keep", `the target runs with gtid_mode=${r.mode}: it cannot take GTIDs`, "restore with --gtid-policy off; nothing was changed");
  if (Number(r.disjoint) !== 1) {
    throw new RollbackError("RESTORE_GTID", "--gtid-policy keep", `the target's gtid_executed (${String(r.executed).replace(/\s+/g, "")}) already holds part of the backup's set ${gtid}`, "restore with --gtid-policy off; nothing was changed");
  }
}

/** Adopts the backup's GTID set (after the swap); returns the set. */
async function adoptGtid(c: Connection, info: ServerInfo, gtid: string): Promise<string> {
  try {
    await c.query(adoptGtidSql(info), [gtid]);
  } catch (e) {
    throw new RollbackError("RESTORE_GTID", "--gtid-policy keep", `the data is restored, but adopting the backup's GTID set ${gtid} failed: ${messageOf(e)}`, "set it by hand (MySQL: SET GLOBAL gtid_purged = '+<set>'), or rerun with --gtid-policy off");
  }
  return gtid;
}

function charsetClause(m: Manifest): string {
  return m.charset ? `CHARACTER SET ${m.charset.characterSet} COLLATE ${m.charset.collation}` : "";
}

class Restore {
  readonly phasesMs: Record<string, number> = {};
  private readonly jobs: number;
  private readonly tables: readonly ManifestTable[];

  constructor(
    private readonly opts: RestoreOptions,
    private readonly backup: PreparedBackup,
    private readonly c: Connection,
    private readonly cnf: string,
    private readonly client: Tool,
    private readonly staging: string,
  ) {
    this.jobs = opts.jobs ?? Math.min(4, Math.max(2, cpus().length));
    this.tables = backup.manifest.tables;
  }

  private get m(): Manifest {
    return this.backup.manifest;
  }

  private file(path: string): { abs: string; sha256: string; bytes: number } {
    const f = this.m.files.find((x) => x.path === path)!;
    return { abs: join(this.backup.dir, path), sha256: f.sha256, bytes: f.bytes };
  }

  private async sqlFile(path: string, database: string, onBytes?: (n: number) => void, abortable = true): Promise<void> {
    const f = this.file(path);
    await runSql(this.client, this.cnf, database, await checkedSql(f.abs, path, f.sha256, onBytes), path, abortable ? this.opts.signal : undefined);
  }

  /** Runs a phase, records its duration, and tells the operator (stderr) when it is done. */
  async timed<T>(phase: string, fn: () => Promise<T>): Promise<T> {
    const t = Date.now();
    const result = await fn();
    this.phasesMs[phase] = Date.now() - t;
    if (!this.opts.quiet) process.stderr.write(`restore ${this.opts.dsn.database}: ${phase} done in ${(this.phasesMs[phase] / 1000).toFixed(1)} s\n`);
    return result;
  }

  private checkAborted(): void {
    if (this.opts.signal?.aborted) throw new RollbackError("ABORTED", this.opts.dsn.database, "interrupted before the swap; the target is unchanged");
  }

  async schema(): Promise<void> {
    await this.sqlFile(SCHEMA_FILE, this.staging);
    const have = new Set((await query(this.c, "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", [this.staging])).map((r) => String(r.t)));
    const missing = this.tables.filter((t) => !have.has(t.name)).map((t) => `\`${t.name}\``);
    if (missing.length > 0) throw new RollbackError("BACKUP_INCOMPLETE", SCHEMA_FILE, `creates no table ${missing.join(", ")}`);
  }

  /** Drops the deferrable keys of big tables in staging; returns what to add back. */
  async deferKeys(): Promise<KeyPlan[]> {
    const min = this.opts.deferKeysMinRows ?? DEFAULT_DEFER_ROWS;
    const referenced = new Map<string, Set<string>>();
    for (const fk of await foreignKeys(this.c, this.staging)) {
      if (fk.refSchema !== this.staging) continue;
      const set = referenced.get(fk.refTable) ?? new Set<string>();
      fk.refColumns.forEach((col) => set.add(col));
      referenced.set(fk.refTable, set);
    }
    const plans: KeyPlan[] = [];
    for (const t of this.tables.filter((x) => x.file !== null && x.rows >= min)) {
      const create = String((await query(this.c, `SHOW CREATE TABLE ${ident(this.staging)}.${ident(t.name)}`))[0]["Create Table"]);
      const plan = planDeferredKeys(t.name, create, referenced.get(t.name) ?? new Set());
      if (plan.drop.length === 0) continue;
      await this.c.query(`ALTER TABLE ${ident(this.staging)}.${ident(t.name)} ${plan.drop.join(", ")}`);
      plans.push(plan);
    }
    return plans;
  }

  /** Loads every table's data file into staging, biggest first, `jobs` at a time. */
  async load(plans: readonly KeyPlan[]): Promise<RestoredTable[]> {
    const withData = [...this.tables].filter((t) => t.file !== null).sort((a, b) => this.file(b.file!).bytes - this.file(a.file!).bytes);
    const progress = new Progress({ label: `restore ${this.opts.dsn.database}`, total: withData.reduce((n, t) => n + t.rows, 0), quiet: this.opts.quiet });
    let estimated = 0;
    const loaded = await runPool(withData, this.jobs, async (t) => {
      this.checkAborted();
      const started = Date.now();
      const f = this.file(t.file!);
      const rowsPerByte = f.bytes > 0 ? t.rows / f.bytes : 0;
      await this.sqlFile(t.file!, this.staging, (n) => {
        estimated += n * rowsPerByte;
        progress.set(Math.round(estimated));
      });
      if (t.exact) await this.sqlFile(t.exact, this.staging);
      this.opts.onTableLoaded?.(t.name);
      return { table: t.name, rows: t.rows, bytes: f.bytes, loadMs: Date.now() - started, deferredKeys: plans.find((p) => p.table === t.name)?.addKeys.length ?? 0 };
    });
    progress.finish();
    const byName = new Map(loaded.map((l) => [l.table, l]));
    return this.tables.map((t) => byName.get(t.name) ?? { table: t.name, rows: 0, bytes: 0, loadMs: 0, deferredKeys: 0 });
  }

  /** Secondary indexes back (tables in parallel, one sorted build each), then the foreign keys. */
  async restoreKeys(plans: readonly KeyPlan[]): Promise<void> {
    const p = await pool({ ...this.opts.dsn, database: this.staging }, { connectionLimit: this.jobs });
    try {
      await runPool(
        plans.filter((x) => x.addKeys.length > 0),
        this.jobs,
        (plan) => p.query(`ALTER TABLE ${ident(plan.table)} ${plan.addKeys.join(", ")}`),
      );
    } finally {
      await p.end();
    }
    await this.c.query("SET SESSION foreign_key_checks = 0");
    try {
      for (const plan of plans.filter((x) => x.addForeignKeys.length > 0)) {
        await this.c.query(`ALTER TABLE ${ident(this.staging)}.${ident(plan.table)} ${plan.addForeignKeys.join(", ")}`);
      }
    } finally {
      await this.c.query("SET SESSION foreign_key_checks = 1");
    }
  }

  /** Orphan rows for every foreign key, and every table's row count against the manifest. */
  async check(): Promise<number> {
    const problems: string[] = [];
    const fks = await foreignKeys(this.c, this.staging);
    for (const fk of fks) {
      const n = Number((await query(this.c, orphanQuery(this.staging, fk)))[0].orphans);
      if (n > 0) problems.push(`\`${fk.table}\`: ${n} row(s) break foreign key ${fk.name} (no matching \`${fk.refTable}\` row)`);
    }
    for (const t of this.tables) {
      const n = Number((await query(this.c, `SELECT COUNT(*) AS n FROM ${ident(this.staging)}.${ident(t.name)}`))[0].n);
      if (n !== t.rows) problems.push(`\`${t.name}\`: ${n} rows loaded, the backup has ${t.rows}`);
    }
    if (problems.length > 0) {
      throw new RollbackError("RESTORE_CHECK_FAILED", this.backup.candidate.path, problems.join("; "), "the target is unchanged; the backup's data is inconsistent");
    }
    return fks.length;
  }

  swap() {
    this.checkAborted();
    return swapIn(this.c, {
      target: this.opts.dsn.database,
      staging: this.staging,
      previous: sideSchema(this.opts.dsn.database, "previous", new Date()),
      stagedTables: this.tables.map((t) => t.name),
      createTarget: charsetClause(this.m),
      // Past the swap an interrupt would only trigger the undo: let it finish.
      createObjects: () => this.sqlFile(POST_FILE, this.opts.dsn.database, undefined, false),
    });
  }
}

/**
 * Restores a backup into the database DATABASE_URL names: refuse an invalid backup before
 * touching anything; load it into a staging schema (schema first, data table by table with
 * FOREIGN_KEY_CHECKS=0, then keys and foreign keys back, an orphan-row check and row counts
 * against the manifest); only then swap it in atomically. Any failure before the swap leaves
 * the target untouched; a failure during it puts the target back.
 */
export async function restoreBackup(opts: RestoreOptions): Promise<RestoreReport> {
  const started = Date.now();
  const target = opts.dsn.database;
  const backup = await prepareBackup(opts.path, { maxAgeHours: opts.maxAgeHours, quiet: opts.quiet });
  const verifyMs = Date.now() - started;
  try {
    const post = await readFile(join(backup.dir, POST_FILE), "utf8");
    const cross = crossDatabaseReference(backup.manifest.database, target, post);
    if (cross) throw new RollbackError("RESTORE_CROSS_DATABASE", POST_FILE, cross, `restore into a database named \`${backup.manifest.database}\`; nothing was changed`);
    const c = await connect({ ...opts.dsn, database: "" });
    try {
      await lockTarget(c, target);
      const info = await readServerInfo(c);
      const client = await clientTool(info.flavor, "client");
      const exists = (await query(c, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [target])).length > 0;
      if (!exists && !opts.create) throw new RollbackError("DB_MISSING", target, "the target database does not exist", "check DATABASE_URL's database name, or pass --create to create it; nothing was changed");
      const policy = opts.gtidPolicy ?? "off";
      if (policy === "keep") await checkGtidAdoptable(c, info, backup.manifest.gtid);
      await refuseForeignDefiners(c, info, post);
      const notes = [...backup.candidate.notes.map((n) => `backup: ${n}`), ...(await dropLeftovers(c, target))];
      const staging = sideSchema(target, "restore", new Date());
      await c.query(`CREATE DATABASE ${ident(staging)} ${charsetClause(backup.manifest)}`);
      let report: RestoreReport | undefined;
      try {
        report = await withClientConfig(opts.dsn, info.flavor, async (cnf) => {
          const r = new Restore(opts, backup, c, cnf, client, staging);
          r.phasesMs.verify = verifyMs;
          await r.timed("schema", () => r.schema());
          const plans = await r.timed("defer-keys", () => r.deferKeys());
          const tables = await r.timed("load", () => r.load(plans));
          await r.timed("keys", () => r.restoreKeys(plans));
          const fkCount = await r.timed("checks", () => r.check());
          const swapped = await r.timed("swap", () => r.swap());
          const adopted = policy === "keep" ? await adoptGtid(c, info, backup.manifest.gtid!) : null;
          if (swapped.previous && !opts.keepPrevious) {
            const failed = await dropSchema(c, swapped.previous);
            if (failed) notes.push(`the target's old tables stay in ${swapped.previous}: ${failed}`);
          }
          return {
            ok: true,
            database: target,
            backup: { path: backup.candidate.path, database: backup.manifest.database, takenAt: backup.manifest.startedAt, gtid: backup.manifest.gtid, binlog: backup.manifest.binlog },
            tables,
            rows: tables.reduce((n, t) => n + t.rows, 0),
            views: backup.manifest.views.length,
            checks: { foreignKeys: fkCount, orphanRows: 0, rowCountsMatch: true },
            createdDatabase: swapped.createdTarget,
            gtid: { policy, adopted },
            replaced: { tables: swapped.replacedTables, objects: swapped.replacedObjects },
            previous: opts.keepPrevious ? swapped.previous : null,
            phasesMs: r.phasesMs,
            durationMs: Date.now() - started,
            notes,
          } satisfies RestoreReport;
        });
      } finally {
        // Best effort: a failed cleanup must neither hide the restore's own error nor undo its success.
        const failed = await dropSchema(c, staging);
        if (failed) report?.notes.push(`the staging schema ${staging} is left over: ${failed}`);
      }
      return report;
    } finally {
      await c.end();
    }
  } finally {
    await backup.cleanup();
  }
}
