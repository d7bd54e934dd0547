import { mkdir, readdir, readFile, rename, rm, rmdir, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import type { Connection, RowDataPacket } from "mysql2/promise";
import { Dsn, describeDsn } from "../dsn";
import { RollbackError, messageOf } from "../errors";
import { ServerInfo, binlogStatusSql, dumpNoPositionFlags, dumpPositionFlags, parseServerVersion } from "../flavor";
import { connect } from "../mysql";
import { Progress } from "../progress";
import { alive, clientTool, spawnTool, withClientConfig } from "./client";
import { DumpScanner } from "./dump-scanner";
import { ExactFloats, readExactFloats } from "./exact-floats";
import { MANIFEST, Manifest, writeManifest } from "./manifest";
import { BackupWriter } from "./writer";

export interface CreateOptions {
  readonly dsn: Dsn;
  /** The backup directory to create; it must not exist yet (or be empty). */
  readonly out: string;
  /** gzip level of the data files. 1 by default: measured 2x faster than 6 for 5 % more bytes. */
  readonly gzipLevel?: number;
  readonly quiet?: boolean;
  readonly signal?: AbortSignal;
}

export interface CreateReport {
  readonly ok: true;
  readonly path: string;
  readonly database: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly rows: number;
  readonly bytes: number;
  readonly tables: ReadonlyArray<{ name: string; rows: number; file: string | null }>;
  readonly binlog: Manifest["binlog"];
  readonly gtid: string | null;
  readonly notes: readonly string[];
}

interface ServerFacts {
  info: ServerInfo;
  server: Manifest["server"];
  charset: Manifest["charset"];
  estimatedRows: number;
  /** Dump flags for the binlog/GTID position, and why there are none. */
  positionFlags: string[];
  notes: string[];
}

async function one<T extends RowDataPacket>(c: Connection, sql: string, args: unknown[] = []): Promise<T | undefined> {
  const [rows] = await c.query<T[]>(sql, args);
  return rows[0];
}

/**
 * What the manifest records about the server, and whether the dump can record a binlog
 * position: it needs binary logging and the BINLOG MONITOR / REPLICATION CLIENT privilege (and
 * RELOAD on MySQL, whose mysqldump takes a brief global read lock for it); MariaDB reads it
 * from the snapshot (binlog_snapshot_*), without a global lock.
 */
async function serverFacts(d: Dsn): Promise<ServerFacts> {
  const c = await connect(d);
  try {
    const v = (await one(c, "SELECT VERSION() AS version, @@version_comment AS comment, @@hostname AS hostname, @@global.time_zone AS tz, @@system_time_zone AS systemTz, @@log_bin AS logBin"))!;
    const schema = await one(c, "SELECT DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS coll FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [d.database]);
    if (!schema) throw new RollbackError("DB_MISSING", describeDsn(d), "the database does not exist", "check DATABASE_URL");
    const rows = await one(c, "SELECT COALESCE(SUM(TABLE_ROWS), 0) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE <> 'VIEW'", [d.database]);
    const info = parseServerVersion(String(v.version));
    const notes: string[] = [];
    let positionFlags = dumpNoPositionFlags(info);
    if (String(v.logBin) !== "1") notes.push("binary logging is off on the server: no binlog/GTID position recorded");
    else {
      try {
        await c.query(binlogStatusSql(info));
        positionFlags = dumpPositionFlags(info);
      } catch (e) {
        notes.push(`binlog position not recorded: ${messageOf(e)}`);
      }
    }
    return {
      info,
      server: {
        host: d.host,
        port: d.port,
        hostname: v.hostname === null ? null : String(v.hostname),
        version: String(v.version),
        versionComment: v.comment === null ? null : String(v.comment),
        timeZone: String(v.tz) === "SYSTEM" ? String(v.systemTz) : String(v.tz),
      },
      charset: { characterSet: String(schema.cs), collation: String(schema.coll) },
      estimatedRows: Number(rows?.n ?? 0),
      positionFlags,
      notes,
    };
  } finally {
    await c.end();
  }
}

/**
 * One consistent snapshot of the whole database: mariadb-dump --single-transaction reads every
 * table in a single REPEATABLE READ transaction, so a parent and its children match. (Dumping
 * tables in parallel would need one snapshot shared across connections, i.e. a global read
 * lock: not on a live IDC server.) Triggers/routines/events included; binaries as hex so the
 * files are plain text; --tz-utc so TIMESTAMPs are UTC in the files.
 */
export const DUMP_FLAGS = [
  "--single-transaction",
  "--quick",
  "--routines",
  "--triggers",
  "--events",
  "--hex-blob",
  "--tz-utc",
  // Tablespace statements are for NDB; reading them needs PROCESS since MySQL 8.0.21.
  "--no-tablespaces",
  "--default-character-set=utf8mb4",
  "--max-allowed-packet=1G",
] as const;

/**
 * The dump tool's stderr for the manifest's notes, without mysqldump's advice that a partial
 * dump "will by default include the GTIDs": ours writes them only as a comment, and restore's
 * --gtid-policy decides (dump-scanner.ts `replication`). Pure.
 */
export function toolWarnings(stderr: string): string {
  return stderr.replace(/^(mysqldump: )?Warning: A partial dump from a server that has GTIDs[^\n]*\n?/m, "").trim();
}

async function assertFreeTarget(out: string): Promise<void> {
  const entries = await readdir(out).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? [] : Promise.reject(e)));
  if (entries.length > 0) throw new RollbackError("BACKUP_EXISTS", out, "already exists and is not empty", "choose a new --out directory; backups are never overwritten");
}

/** `host pid`: who holds a lock or wrote a partial directory (pids are only comparable on one host). */
const OWNER = `${hostname()} ${process.pid}`;

/** Whether `owner` ("host pid") names a process of this host that is gone. */
function deadOwner(owner: string): boolean {
  const [host, pid] = owner.trim().split(" ");
  return host === hostname() && /^\d+$/.test(pid ?? "") && !alive(Number(pid));
}

/**
 * One `create` per backup path at a time: `.NAME.lock` next to it, created exclusively and
 * holding "host pid". A lock whose process (on this host) is gone was left by a killed run and
 * is taken over; any other is refused. Returns the release function.
 */
async function lockOut(out: string): Promise<() => Promise<void>> {
  const lock = join(dirname(out), `.${basename(out)}.lock`);
  await mkdir(dirname(out), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(lock, `${OWNER}\n`, { flag: "wx", mode: 0o600 });
      return () => rm(lock, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new RollbackError("FILE_UNWRITABLE", lock, messageOf(e), "check that the backup's parent directory exists and is writable");
      const holder = await readFile(lock, "utf8").catch(() => "");
      if (attempt > 0 || !deadOwner(holder)) {
        throw new RollbackError("BACKUP_BUSY", out, `another backup create into this path is running (${lock}: ${holder.trim() || "being written"})`, "wait for it to finish, or choose another --out");
      }
      await rm(lock, { force: true });
    }
  }
}

const PARTIAL = /^\.(.+)\.partial-(\S+)-(\d+)$/;

/** The sibling directory a backup is written into, named after this host and process. */
function partialDir(out: string): string {
  return join(dirname(out), `.${basename(out)}.partial-${OWNER.replace(" ", "-")}`);
}

/** Partial directories of runs on this host that were killed (their process is gone): production data, removed. */
async function removeStalePartials(parent: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const m = PARTIAL.exec(name);
    if (m && deadOwner(`${m[2]} ${m[3]}`)) {
      await rm(join(parent, name), { recursive: true, force: true });
      removed.push(`removed ${name}, left by a backup run that was killed`);
    }
  }
  return removed;
}

/**
 * Dumps the database into a new backup directory. Everything is written into a sibling
 * `.partial` directory (0700, files 0600: production data) renamed into place at the end: a
 * directory named like the backup is always a finished one. Interrupted (`signal`), the dump is
 * stopped and the partial directory and the client option file are removed.
 */
export async function createBackup(opts: CreateOptions): Promise<CreateReport> {
  const out = resolve(opts.out);
  const release = await lockOut(out);
  try {
    return await createLocked(opts, out);
  } finally {
    await release();
  }
}

async function createLocked(opts: CreateOptions, out: string): Promise<CreateReport> {
  await assertFreeTarget(out);
  const cleaned = await removeStalePartials(dirname(out));
  const facts = await serverFacts(opts.dsn);
  const tool = await clientTool(facts.info.flavor, "dump");
  const partial = partialDir(out);
  await mkdir(partial, { mode: 0o700 });
  const writer = new BackupWriter(partial, opts.gzipLevel ?? 1);
  const options = [...DUMP_FLAGS, ...facts.positionFlags];
  // information_schema's row counts are estimates (InnoDB samples): good enough for an ETA.
  const progress = new Progress({ label: `backup ${opts.dsn.database}`, total: facts.estimatedRows || undefined, quiet: opts.quiet });
  const started = new Date();
  try {
    const scanned = await withClientConfig(opts.dsn, facts.info.flavor, async (cnf) => {
      const dump = spawnTool(tool.bin, cnf, [...options, "--", opts.dsn.database], opts.dsn.database, "read");
      const stop = () => dump.child.kill("SIGTERM");
      opts.signal?.addEventListener("abort", stop, { once: true });
      if (opts.signal?.aborted) stop();
      const scanner = new DumpScanner(writer.accept);
      // Exact FLOATs are read in a snapshot taken once the dump has recorded its position (in its
      // header), and streamed into their files while the dump goes on.
      let exact: Promise<ExactFloats> | null = null;
      const readExact = () => (exact ??= readExactFloats(opts.dsn, facts.info, scanner.facts.binlog && `${scanner.facts.binlog.file}:${scanner.facts.binlog.position}`, writer.exactSink()));
      try {
        for await (const chunk of dump.child.stdout!) {
          scanner.push(chunk as Buffer);
          if (scanner.facts.binlog) void readExact();
          await writer.flush();
          progress.set(scanner.facts.rows);
        }
        await dump.exited;
      } catch (e) {
        stop();
        await dump.exited.catch(() => undefined);
        throw opts.signal?.aborted ? new RollbackError("ABORTED", out, "interrupted; no backup written (the partial directory was removed)") : e;
      } finally {
        opts.signal?.removeEventListener("abort", stop);
      }
      return { facts: scanner.end(), warnings: toolWarnings(dump.stderr()), exact: await readExact() };
    });
    if (!scanned.facts.completed) {
      throw new RollbackError("BACKUP_INCOMPLETE", tool.bin, "output ended without the '-- Dump completed' trailer", "see the dump tool's messages above");
    }
    const finished = new Date();
    const { files, tables } = await writer.finish(scanned.facts, finished);
    progress.finish();
    const manifest: Manifest = {
      format: "idc-rollback-backup",
      version: 1,
      database: opts.dsn.database,
      charset: facts.charset,
      server: facts.server,
      tool: { name: basename(tool.bin), version: tool.version },
      options,
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      binlog: scanned.facts.binlog,
      gtid: scanned.facts.gtid,
      tzUtc: scanned.facts.tzUtc,
      tables,
      views: scanned.facts.views,
      files,
      notes: [...facts.notes, ...cleaned, ...scanned.exact.notes, ...(scanned.warnings ? [`${basename(tool.bin)}: ${scanned.warnings}`] : [])],
    };
    await writeManifest(join(partial, MANIFEST), manifest);
    await rmdir(out).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? undefined : Promise.reject(e))); // empty (checked above; we hold the lock) or absent
    await rename(partial, out);
    return {
      ok: true,
      path: out,
      database: manifest.database,
      startedAt: manifest.startedAt,
      finishedAt: manifest.finishedAt,
      durationMs: finished.getTime() - started.getTime(),
      rows: tables.reduce((n, t) => n + t.rows, 0),
      bytes: files.reduce((n, f) => n + f.bytes, 0),
      tables,
      binlog: manifest.binlog,
      gtid: manifest.gtid,
      notes: manifest.notes,
    };
  } catch (e) {
    writer.abort();
    await rm(partial, { recursive: true, force: true });
    throw e;
  }
}
