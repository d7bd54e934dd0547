import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { RollbackError } from "../errors";
import { Progress } from "../progress";
import { MANIFEST, Manifest, readManifest } from "./manifest";
import { scanFile } from "./read-dump";
import { Candidate, judgeDump, readDumpSidecar, verifyCandidate } from "./verify";
import { BackupWriter } from "./writer";

/** A backup ready to load: our layout on disk (the backup itself, or a plain dump split into a temp dir). */
export interface PreparedBackup {
  readonly dir: string;
  readonly manifest: Manifest;
  readonly candidate: Candidate;
  readonly cleanup: () => Promise<void>;
}

export interface PrepareOptions {
  readonly maxAgeHours?: number;
  readonly quiet?: boolean;
}

function refuse(c: Candidate): never {
  throw new RollbackError("BACKUP_INVALID", c.path, c.reasons.join("; "), "nothing was changed; `backup.ts verify` lists other candidates");
}

/**
 * A plain mysqldump file, verified and split in one read: checksum against its sidecar,
 * trailer, tables — then laid out like our backups so one restore path serves both.
 * Dumps of several databases are refused: loading one into one target database would do
 * something else than the file says. A --databases dump of one database is fine: its CREATE
 * DATABASE / USE lines are dropped, the target is DATABASE_URL's. Its SQL_LOG_BIN=0 and
 * GTID_PURGED statements are dropped too (dump-scanner.ts `replication`).
 */
async function splitPlainDump(file: string, opts: PrepareOptions): Promise<PreparedBackup> {
  const expected = await readDumpSidecar(file);
  const dir = await mkdtemp(join(tmpdir(), "rollback-restore-split-"));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const writer = new BackupWriter(dir, 1);
    const st = await stat(file);
    const progress = new Progress({ label: `check and split ${basename(file)}`, total: st.size, unit: "bytes", quiet: opts.quiet });
    const scan = await scanFile(file, { emit: writer.accept, afterChunk: () => writer.flush(), onBytes: (n) => progress.add(n) });
    progress.finish();
    const now = new Date();
    const judged = judgeDump(file, expected, scan, { maxAgeHours: opts.maxAgeHours }, st.mtime, now);
    const name = basename(file);
    if (scan.facts.databases.length > 1) judged.reasons.push(`${name}: holds ${scan.facts.databases.length} databases (${scan.facts.databases.join(", ")}): restore one database per dump`);
    if (judged.reasons.length > 0) {
      writer.abort();
      refuse({ ...judged, valid: false });
    }
    const { files, tables } = await writer.finish(scan.facts, now);
    const takenAt = judged.createdAt ?? now.toISOString();
    const manifest: Manifest = {
      format: "idc-rollback-backup",
      version: 1,
      database: judged.database ?? name.replace(/\.sql(\.gz)?$/, ""),
      charset: null,
      server: { host: "", port: 0, hostname: null, version: scan.facts.serverVersion ?? "unknown", versionComment: null, timeZone: null },
      tool: { name: scan.facts.tool ?? "unknown", version: "" },
      options: [],
      startedAt: takenAt,
      finishedAt: takenAt,
      binlog: scan.facts.binlog,
      gtid: scan.facts.gtid,
      tzUtc: scan.facts.tzUtc,
      tables,
      views: scan.facts.views,
      files,
      notes: judged.notes,
    };
    return { dir, manifest, candidate: judged, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/**
 * Checks a backup before anything is touched and refuses an invalid one with every reason.
 * Our own backups get the quick check here (manifest, sizes, sha256 of every file); the rest
 * (gzip integrity, trailers, row counts) is checked while loading into staging, before the
 * swap: the target never sees a file that fails either.
 */
export async function prepareBackup(path: string, opts: PrepareOptions = {}): Promise<PreparedBackup> {
  const st = await stat(path).catch(() => null);
  if (st?.isFile()) return splitPlainDump(path, opts);
  const candidate = await verifyCandidate(path, st ? "backup" : "unknown", { maxAgeHours: opts.maxAgeHours, deep: false });
  if (!candidate.valid) refuse(candidate);
  const read = await readManifest(join(path, MANIFEST));
  if (!read.manifest) refuse({ ...candidate, valid: false, reasons: read.reasons });
  return { dir: path, manifest: read.manifest, candidate, cleanup: async () => undefined };
}
