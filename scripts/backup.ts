/**
 * Backups for the rollback (R4, R10).
 *
 *   backup.ts create --out DIR [--gzip-level N] [--json]                       env DATABASE_URL
 *   backup.ts verify PATH [PATH...] [--max-age-hours N] [--tables a,b] [--json]
 *   backup.ts restore PATH [--jobs N] [--keep-previous] [--max-age-hours N] [--json]   env DATABASE_URL
 *
 * Exit codes: 0 ok (verify: a valid backup was found); 1 the check failed (verify: no valid
 * candidate; restore: the backup was refused or failed its checks, the target is unchanged);
 * 2 error (bad input, connection, unsupported).
 */
import { EXIT, listFlag, numberFlag, parseCli, runMain } from "../lib/cli";
import { dsnFromEnv } from "../lib/dsn";
import { RollbackError, isRollbackError } from "../lib/errors";
import { createBackup, restoreBackup, verifyBackups } from "../lib/backup";

const USAGE = `usage:
  backup.ts create --out DIR [--gzip-level N] [--json]                        (env DATABASE_URL)
  backup.ts verify PATH [PATH...] [--max-age-hours N] [--tables a,b] [--json]
  backup.ts restore PATH [--jobs N] [--keep-previous] [--max-age-hours N] [--json]  (env DATABASE_URL)
PATH: a backup directory, a mysqldump file (.sql/.sql.gz with FILE.sha256), or a directory of them.
`;

/** Refusals and failed checks: the target was not changed, exit 1 rather than 2. */
const CHECK_FAILED = new Set(["BACKUP_INVALID", "BACKUP_INCOMPLETE", "BACKUP_FILE_CHANGED", "BACKUP_FILE_BAD", "RESTORE_CHECK_FAILED"]);

const say = (line: string) => process.stderr.write(`${line}\n`);
const print = (doc: unknown) => process.stdout.write(JSON.stringify(doc, null, 2) + "\n");

function mb(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MB`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function abortOnSigint(): AbortSignal {
  const ac = new AbortController();
  process.once("SIGINT", () => {
    say("interrupted: stopping (press Ctrl-C again to kill)");
    ac.abort();
  });
  return ac.signal;
}

async function create(argv: string[]): Promise<number> {
  const { values } = parseCli(argv, { out: { type: "string" }, "gzip-level": { type: "string" }, json: { type: "boolean" } });
  if (!values.out) throw new RollbackError("ARGS_INVALID", "--out", "is required", "backup.ts create --out DIR");
  const level = numberFlag(values["gzip-level"], "gzip-level", 1, 0);
  if (level > 9) throw new RollbackError("ARGS_INVALID", "--gzip-level", "expected 0-9");
  const r = await createBackup({ dsn: dsnFromEnv("DATABASE_URL"), out: values.out, gzipLevel: level, signal: abortOnSigint() });
  say(`backup ${r.path}: ${r.tables.length} tables, ${r.rows} rows, ${mb(r.bytes)} in ${seconds(r.durationMs)}${r.gtid ? `, GTID ${r.gtid}` : ""}`);
  for (const n of r.notes) say(`  note: ${n}`);
  if (values.json) print(r);
  return EXIT.ok;
}

async function verify(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(
    argv,
    { "max-age-hours": { type: "string" }, tables: { type: "string" }, json: { type: "boolean" } },
    true,
  );
  if (positionals.length === 0) throw new RollbackError("ARGS_INVALID", "PATH", "give at least one backup directory or dump file", USAGE.split("\n")[2].trim());
  const maxAge = values["max-age-hours"] === undefined ? undefined : numberFlag(values["max-age-hours"], "max-age-hours", 0);
  const report = await verifyBackups(positionals, { maxAgeHours: maxAge, tables: listFlag(values.tables) });
  for (const c of report.candidates) {
    const mark = c.path === report.chosen ? "chosen" : c.valid ? "valid " : "REJECTED";
    const facts = [c.createdAt && `taken ${c.createdAt}`, c.database && `database ${c.database}`, c.tables > 0 && `${c.tables} tables`, c.rows !== null && `${c.rows} rows`];
    const known = facts.filter(Boolean).join(", ");
    say(`${mark} ${c.path}${known ? ` (${known})` : ""}`);
    for (const r of c.reasons) say(`    ${r}`);
  }
  say(report.chosen ? `newest valid backup: ${report.chosen}` : "no valid backup");
  if (values.json) print(report);
  return report.ok ? EXIT.ok : EXIT.failed;
}

async function restore(argv: string[]): Promise<number> {
  const { values, positionals } = parseCli(
    argv,
    { jobs: { type: "string" }, "keep-previous": { type: "boolean" }, "max-age-hours": { type: "string" }, json: { type: "boolean" } },
    true,
  );
  if (positionals.length !== 1) throw new RollbackError("ARGS_INVALID", "PATH", "give exactly one backup to restore", "pick one with `backup.ts verify`");
  const dsn = dsnFromEnv("DATABASE_URL");
  try {
    const r = await restoreBackup({
      dsn,
      path: positionals[0],
      jobs: values.jobs === undefined ? undefined : numberFlag(values.jobs, "jobs", 2, 1),
      keepPrevious: values["keep-previous"],
      maxAgeHours: values["max-age-hours"] === undefined ? undefined : numberFlag(values["max-age-hours"], "max-age-hours", 0),
      signal: abortOnSigint(),
    });
    say(`restored ${r.backup.path} (taken ${r.backup.takenAt}, database ${r.backup.database}) into ${r.database}: ${r.tables.length} tables, ${r.rows} rows in ${seconds(r.durationMs)}`);
    say(`  checks: ${r.checks.foreignKeys} foreign keys without orphan rows, row counts match the backup`);
    if (r.previous) say(`  previous tables kept in ${r.previous}`);
    for (const n of r.notes) say(`  note: ${n}`);
    if (values.json) print(r);
    return EXIT.ok;
  } catch (e) {
    if (!isRollbackError(e) || !CHECK_FAILED.has(e.code)) throw e;
    say(`refused: ${e.message}`);
    if (values.json) print({ ok: false, refused: true, targetUnchanged: true, error: e.toJSON() });
    return EXIT.failed;
  }
}

runMain(async (argv) => {
  const [command, ...rest] = argv;
  if (command === "--help" || command === "-h") {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  if (command === undefined) {
    process.stderr.write(USAGE);
    return EXIT.error;
  }
  if (command === "create") return create(rest);
  if (command === "verify") return verify(rest);
  if (command === "restore") return restore(rest);
  throw new RollbackError("ARGS_INVALID", command, "unknown command", "create | verify | restore");
});
