import { readdir, readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { DumpFacts } from "./dump-scanner";
import { MANIFEST, Manifest, ManifestFile, POST_FILE, SCHEMA_FILE, parseSidecar, readManifest, sha256File } from "./manifest";
import { Progress } from "../progress";
import { ScanResult, scanFile } from "./read-dump";

export type CandidateKind = "backup" | "dump" | "unknown";

export interface Candidate {
  readonly path: string;
  readonly kind: CandidateKind;
  readonly valid: boolean;
  /** Why it is invalid; each names the file and the problem. */
  readonly reasons: string[];
  /** Worth knowing, not disqualifying. */
  readonly notes: string[];
  /** The point in time the data reflects (ISO); null when unknown. */
  readonly createdAt: string | null;
  readonly database: string | null;
  readonly tables: number;
  /** Rows in the files (null when not counted). */
  readonly rows: number | null;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly chosen: string | null;
  readonly candidates: Candidate[];
}

export interface VerifyOptions {
  /** Reject backups older than this (R4 "last backup time"). */
  readonly maxAgeHours?: number;
  /** Tables that must be in the backup. */
  readonly tables?: readonly string[];
  /**
   * Decompress and read every file (trailer, row counts). Restore skips it for our own
   * backups: it checks the same while loading, before anything reaches the target.
   */
  readonly deep?: boolean;
  /** No progress lines on stderr. */
  readonly quiet?: boolean;
  readonly now?: Date;
}

/** Newest valid candidate; ties keep the order given. Pure. */
export function chooseNewest(candidates: readonly Candidate[]): Candidate | null {
  let best: Candidate | null = null;
  for (const c of candidates) {
    if (!c.valid) continue;
    if (!best || (c.createdAt ?? "") > (best.createdAt ?? "")) best = c;
  }
  return best;
}

/** The age check as a reason string, or null when fresh enough. Pure. */
export function ageReason(file: string, createdAt: string | null, maxAgeHours: number | undefined, now: Date): string | null {
  if (maxAgeHours === undefined) return null;
  if (createdAt === null) return `${file}: backup time unknown, cannot check --max-age-hours ${maxAgeHours}`;
  const hours = (now.getTime() - Date.parse(createdAt)) / 3_600_000;
  if (hours <= maxAgeHours) return null;
  return `${file}: too old: taken ${createdAt}, ${hours.toFixed(1)} h ago, more than --max-age-hours ${maxAgeHours}`;
}

/** "YYYY-MM-DD HH:MM:SS" of mysqldump's trailer is the dumping client's local time; read it as this machine's. */
function localStampToIso(stamp: string): string {
  const [d, t] = stamp.split(" ");
  const [y, mo, da] = d.split("-").map(Number);
  const [h, mi, s] = t.split(":").map(Number);
  return new Date(y, mo - 1, da, h, mi, s).toISOString();
}

function missingTables(file: string, present: ReadonlySet<string>, expected: readonly string[] | undefined): string[] {
  return (expected ?? []).filter((t) => !present.has(t)).map((t) => `${file}: expected table \`${t}\` is not in the backup`);
}

function candidate(path: string, kind: CandidateKind, fields: Partial<Candidate> & { reasons: string[] }): Candidate {
  return {
    path,
    kind,
    valid: fields.reasons.length === 0,
    reasons: fields.reasons,
    notes: fields.notes ?? [],
    createdAt: fields.createdAt ?? null,
    database: fields.database ?? null,
    tables: fields.tables ?? 0,
    rows: fields.rows ?? null,
  };
}

/**
 * Checks one file of our backup against its manifest entry: size, sha256 and, deep, one read
 * through the scanner (gzip intact, trailer last, facts for the row counts).
 */
async function checkBackupFile(dir: string, f: ManifestFile, deep: boolean, onBytes?: (n: number) => void): Promise<{ reasons: string[]; facts: DumpFacts | null }> {
  const abs = join(dir, f.path);
  const st = await stat(abs).catch(() => null);
  if (!st) return { reasons: [`${f.path}: missing`], facts: null };
  if (st.size !== f.bytes) return { reasons: [`${f.path}: ${st.size} bytes, the manifest says ${f.bytes} (truncated or replaced)`], facts: null };
  const scan = deep ? await scanFile(abs, { onBytes }) : null;
  const sha256 = scan?.sha256 ?? (await sha256File(abs)).sha256;
  if (sha256 !== f.sha256) {
    return { reasons: [`${f.path}: sha256 mismatch: file ${sha256.slice(0, 12)}…, manifest ${f.sha256.slice(0, 12)}… (corrupt or altered)`], facts: null };
  }
  if (!scan) return { reasons: [], facts: null };
  const reasons: string[] = [];
  if (scan.error) reasons.push(`${f.path}: ${scan.error}`);
  else if (!scan.facts.completed) reasons.push(`${f.path}: incomplete: does not end with the '-- Dump completed' trailer`);
  return { reasons, facts: scan.facts };
}

/** Progress over the bytes a deep check reads: long for big backups. */
function readProgress(path: string, total: number, opts: VerifyOptions): Progress | null {
  return opts.deep === false ? null : new Progress({ label: `verify ${path}`, total, unit: "bytes", quiet: opts.quiet });
}

/**
 * Our backup directory: manifest intact (sidecar), every file present with its size and
 * sha256, and (deep) every file complete, every table's CREATE in schema.sql and its row
 * count in its data file equal to the manifest's.
 */
async function verifyBackupDir(dir: string, opts: VerifyOptions, now: Date): Promise<Candidate> {
  const read = await readManifest(join(dir, MANIFEST));
  if (!read.manifest) return candidate(dir, "backup", { reasons: read.reasons });
  const m: Manifest = read.manifest;
  const reasons: string[] = [];
  const facts = new Map<string, DumpFacts>();
  const progress = readProgress(dir, m.files.reduce((n, f) => n + f.bytes, 0), opts);
  for (const f of m.files) {
    const checked = await checkBackupFile(dir, f, opts.deep ?? true, (n) => progress?.add(n));
    reasons.push(...checked.reasons);
    if (checked.facts) facts.set(f.path, checked.facts);
  }
  progress?.finish();
  const schema = facts.get(SCHEMA_FILE);
  const listed = new Set(m.tables.map((t) => t.name));
  for (const [name, t] of schema?.tables ?? []) {
    if (t.structure && !listed.has(name)) reasons.push(`${SCHEMA_FILE}: creates table \`${name}\`, which the manifest does not list`);
  }
  for (const t of m.tables) {
    if (schema && !schema.tables.get(t.name)?.structure) reasons.push(`${SCHEMA_FILE}: no CREATE TABLE for \`${t.name}\``);
    const data = t.file === null ? undefined : facts.get(t.file);
    if (!data) continue;
    const inFile = data.tables.get(t.name);
    if (!inFile?.data) reasons.push(`${t.file}: holds no data for table \`${t.name}\``);
    else if (inFile.rows !== t.rows) reasons.push(`${t.file}: ${inFile.rows} rows, the manifest says ${t.rows}`);
  }
  if (facts.has(POST_FILE) && m.views.some((v) => !facts.get(POST_FILE)!.views.includes(v))) {
    reasons.push(`${POST_FILE}: missing views the manifest lists`);
  }
  reasons.push(...missingTables(MANIFEST, listed, opts.tables));
  const age = ageReason(MANIFEST, m.startedAt, opts.maxAgeHours, now);
  if (age) reasons.push(age);
  const notes = [...m.notes];
  if (!m.tzUtc) notes.push("dumped without --tz-utc: TIMESTAMP values are in the source server's time zone");
  return candidate(dir, "backup", {
    reasons,
    notes,
    createdAt: m.startedAt,
    database: m.database,
    tables: m.tables.length,
    rows: m.tables.reduce((n, t) => n + t.rows, 0),
  });
}

/** The sidecar of a plain dump, as the sha256 it promises, or a reason. */
export async function readDumpSidecar(file: string): Promise<string | { reason: string }> {
  const name = basename(file);
  const text = await readFile(`${file}.sha256`, "utf8").catch(() => null);
  if (text === null) return { reason: `${name}.sha256: missing, so ${name} cannot be checked (create it with: sha256sum ${name} > ${name}.sha256)` };
  const sidecar = parseSidecar(text);
  if (typeof sidecar === "string") return { reason: `${name}.sha256: ${sidecar}` };
  if (sidecar.name && basename(sidecar.name) !== name) return { reason: `${name}.sha256: is for "${sidecar.name}", not ${name}` };
  return sidecar.sha256;
}

/**
 * Judges a plain dump from its checksum and what the scanner found. Pure: restore uses it on
 * the same scan that splits the dump.
 */
export function judgeDump(
  file: string,
  expectedSha: string | { reason: string },
  scan: ScanResult,
  opts: VerifyOptions,
  fallbackTime: Date,
  now: Date,
): Candidate {
  const name = basename(file);
  const f = scan.facts;
  const reasons: string[] = [];
  const notes: string[] = [];
  if (typeof expectedSha !== "string") reasons.push(expectedSha.reason);
  else if (expectedSha !== scan.sha256) {
    reasons.push(`${name}: sha256 mismatch: file ${scan.sha256.slice(0, 12)}…, ${name}.sha256 ${expectedSha.slice(0, 12)}… (corrupt or altered)`);
  }
  if (scan.error) reasons.push(`${name}: ${scan.error}`);
  else if (f.tool === null) reasons.push(`${name}: does not start like a mysqldump / mariadb-dump file`);
  else if (!f.completed) {
    reasons.push(`${name}: incomplete: does not end with the '-- Dump completed' trailer (cut short, or the dump failed)`);
  }
  if (!scan.error && f.tables.size === 0) reasons.push(`${name}: holds no tables`);
  reasons.push(...missingTables(name, new Set([...f.tables].filter(([, t]) => t.structure).map(([n]) => n)), opts.tables));
  let createdAt = f.completedAt === null ? null : localStampToIso(f.completedAt);
  if (createdAt === null) {
    createdAt = fallbackTime.toISOString();
    notes.push(`${name}: no date in the trailer: using the file's modification time`);
  }
  const age = ageReason(name, createdAt, opts.maxAgeHours, now);
  if (age) reasons.push(age);
  if (!f.tzUtc) notes.push(`${name}: dumped without --tz-utc: TIMESTAMP values are in the source server's time zone`);
  if (f.databases.length > 1) notes.push(`${name}: holds ${f.databases.length} databases (${f.databases.join(", ")}): restore takes one database per dump`);
  const dataOnly = [...f.tables].filter(([, t]) => !t.structure).length;
  if (dataOnly > 0) notes.push(`${name}: ${dataOnly} table(s) have data but no CREATE TABLE (--no-create-info): restore needs the schema`);
  if (f.setsGtidPurged) notes.push(`${name}: sets GTID_PURGED on load (mysqldump --set-gtid-purged=ON); restore does not run it (--gtid-policy keep adopts the set)`);
  if (f.disablesBinlog) notes.push(`${name}: sets SQL_LOG_BIN=0 on load; restore does not run it, so the restore reaches the target's replicas`);
  notes.push(`${name}: plain dump: row counts found (${f.rows}) cannot be checked against a manifest`);
  return candidate(file, "dump", { reasons, notes, createdAt, database: f.databases[0] ?? f.database, tables: f.tables.size, rows: f.rows });
}

async function verifyDumpFile(file: string, opts: VerifyOptions, now: Date): Promise<Candidate> {
  const expected = await readDumpSidecar(file);
  const st = await stat(file);
  const progress = readProgress(file, st.size, { ...opts, deep: true });
  const scan = await scanFile(file, { onBytes: (n) => progress?.add(n) });
  progress?.finish();
  return judgeDump(file, expected, scan, opts, st.mtime, now);
}

const DUMP_NAME = /\.sql(\.gz)?$/;

/** A directory holding our layout; one that lost its manifest still counts (and is rejected for it, not skipped). */
async function looksLikeBackup(dir: string): Promise<boolean> {
  for (const name of [MANIFEST, SCHEMA_FILE]) if (await stat(join(dir, name)).catch(() => null)) return true;
  return false;
}

/** A path given on the command line: a backup directory, a dump file, or a directory holding several of them. */
async function expand(path: string): Promise<Array<{ path: string; kind: CandidateKind }>> {
  const st = await stat(path).catch(() => null);
  if (!st) return [{ path, kind: "unknown" }];
  if (st.isFile()) return [{ path, kind: "dump" }];
  if (await looksLikeBackup(path)) return [{ path, kind: "backup" }];
  const found: Array<{ path: string; kind: CandidateKind }> = [];
  for (const e of (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const child = join(path, e.name);
    if (e.isDirectory() && !e.name.startsWith(".") && (await looksLikeBackup(child))) found.push({ path: child, kind: "backup" });
    else if (e.isFile() && DUMP_NAME.test(e.name)) found.push({ path: child, kind: "dump" });
  }
  return found.length > 0 ? found : [{ path, kind: "unknown" }];
}

export async function verifyCandidate(path: string, kind: CandidateKind, opts: VerifyOptions = {}): Promise<Candidate> {
  const now = opts.now ?? new Date();
  if (kind === "backup") return verifyBackupDir(path, opts, now);
  if (kind === "dump") return verifyDumpFile(path, opts, now);
  const exists = await stat(path).catch(() => null);
  return candidate(path, "unknown", {
    reasons: [exists ? `${path}: no backup found (no ${MANIFEST}, no *.sql or *.sql.gz)` : `${path}: does not exist`],
  });
}

/**
 * Checks every candidate and picks the newest valid one (R10 "several backups"); every other
 * candidate says why it was not chosen.
 */
export async function verifyBackups(paths: readonly string[], opts: VerifyOptions = {}): Promise<VerifyReport> {
  const candidates: Candidate[] = [];
  for (const p of paths) {
    for (const c of await expand(p)) candidates.push(await verifyCandidate(c.path, c.kind, opts));
  }
  const chosen = chooseNewest(candidates);
  return { ok: chosen !== null, chosen: chosen?.path ?? null, candidates };
}
