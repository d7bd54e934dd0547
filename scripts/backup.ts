/**
 * Backups for the rollback (R4, R10).
 *
 *   backup.ts create --out DIR [--gzip-level N] [--json]                       env DATABASE_URL
 *   backup.ts verify PATH [PATH...] [--max-age-hours N] [--tables a,b] [--json]
 *   backup.ts restore PATH [--create] [--gtid-policy off|keep] [--jobs N] [--keep-previous] [--max-age-hours N] [--json]   env DATABASE_URL
 *
 * Exit codes: 0 ok (verify: a valid backup was found); 1 the check failed (verify: no valid
 * candidate; restore: the backup was refused or failed its checks, the target is unchanged);
 * 2 error (bad input, connection, unsupported); 130 / 143 interrupted by SIGINT / SIGTERM
 * (create: no backup and no partial directory left; restore: the target unchanged).
 */
import { EXIT, interruptSignal, listFlag, numberFlag, parseCli, runMain, signalExitCode } from "../lib/cli";
import { dsnFromEnv } from "../lib/dsn";
import { RollbackError, isRollbackError, messageOf } from "../lib/errors";
import { createBackup, restoreBackup, verifyBackups } from "../lib/backup";
import type { GtidPolicy } from "../lib/backup";

const USAGE = `usage:
  backup.ts create --out DIR [--gzip-level N] [--json]                        (env DATABASE_URL)
  backup.ts verify PATH [PATH...] [--max-age-hours N] [--tables a,b] [--json]
  backup.ts restore PATH [--create] [--gtid-policy off|keep] [--jobs N] [--keep-previous] [--max-age-hours N] [--json]  (env DATABASE_URL)
PATH: a backup directory, a mysqldump file (.sql/.sql.gz with FILE.sha256), or a directory of them.
--create: create DATABASE_URL's database if it does not exist (refused otherwise).
--gtid-policy: off (default) the source's GTIDs stay out of the target; keep: adopt the backup's GTID set.
Client tools: mysqldump/mysql for MySQL, mariadb-dump/mariadb for MariaDB, from ROLLBACK_TOOLS_DIR or PATH
(or MYSQL_DUMP, MYSQL_CLIENT, MARIADB_DUMP, MARIADB_CLIENT).
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

/**
 * Runs a command with SIGINT/SIGTERM turned into an abort: the library stops its child tools
 * and removes what it wrote; the exit code then says which signal (130 / 143), the message what
 * was left — never a stack trace.
 */
async function interruptible(json: boolean | undefined, run: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const signal = interruptSignal(say);
  try {
    return await run(signal);
  } catch (e) {
    // Interrupted, whatever the error says (Ctrl-C also reaches the child tools, which may die first).
    if (!signal.aborted) throw e;
    const err = isRollbackError(e) ? e : new RollbackError("ABORTED", "run", messageOf(e));
    say(`interrupted: ${err.message}`);
    if (json) print({ ok: false, interrupted: signal.reason, error: err.toJSON() });
    return signalExitCode(signal.reason as NodeJS.Signals);
  }
}

async function create(argv: string[]): Promise<number> {
  const { values } = parseCli(argv, { out: { type: "string" }, "gzip-level": { type: "string" }, json: { type: "boolean" } });
  if (!values.out) throw new RollbackError("ARGS_INVALID", "--out", "is required", "backup.ts create --out DIR");
  const level = numberFlag(values["gzip-level"], "gzip-level", 1, 0);
  if (level > 9) throw new RollbackError("ARGS_INVALID", "--gzip-level", "expected 0-9");
  const dsn = dsnFromEnv("DATABASE_URL");
  return interruptible(values.json, async (signal) => {
    const r = await createBackup({ dsn, out: values.out!, gzipLevel: level, signal });
    say(`backup ${r.path}: ${r.tables.length} tables, ${r.rows} rows, ${mb(r.bytes)} in ${seconds(r.durationMs)}${r.gtid ? `, GTID ${r.gtid}` : ""}`);
    for (const n of r.notes) say(`  note: ${n}`);
    if (values.json) print(r);
    return EXIT.ok;
  });
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
    {
      jobs: { type: "string" },
      "keep-previous": { type: "boolean" },
      "max-age-hours": { type: "string" },
      create: { type: "boolean" },
      "gtid-policy": { type: "string" },
      json: { type: "boolean" },
    },
    true,
  );
  if (positionals.length !== 1) throw new RollbackError("ARGS_INVALID", "PATH", "give exactly one backup to restore", "pick one with `backup.ts verify`");
  const policy = values["gtid-policy"] ?? "off";
  if (policy !== "off" && policy !== "keep") throw new RollbackError("ARGS_INVALID", "--gtid-policy", `expected off or keep, got "${policy}"`);
  const jobs = values.jobs === undefined ? undefined : numberFlag(values.jobs, "jobs", 2, 1);
  const maxAgeHours = values["max-age-hours"] === undefined ? undefined : numberFlag(values["max-age-hours"], "max-age-hours", 0);
  const dsn = dsnFromEnv("DATABASE_URL");
  return interruptible(values.json, (signal) => restoreWith(values.json, { dsn, path: positionals[0], jobs, maxAgeHours, keepPrevious: values["keep-previous"], create: values.create, gtidPolicy: policy as GtidPolicy, signal }));
}

async function restoreWith(json: boolean | undefined, opts: Parameters<typeof restoreBackup>[0]): Promise<number> {
  try {
    const r = await restoreBackup(opts);
    say(`restored ${r.backup.path} (taken ${r.backup.takenAt}, database ${r.backup.database}) into ${r.database}: ${r.tables.length} tables, ${r.rows} rows in ${seconds(r.durationMs)}`);
    say(`  checks: ${r.checks.foreignKeys} foreign keys without orphan rows, row counts match the backup`);
    if (r.previous) say(`  previous tables kept in ${r.previous}`);
    if (r.gtid.adopted) say(`  GTID set adopted: ${r.gtid.adopted}`);
    for (const n of r.notes) say(`  note: ${n}`);
    if (json) print(r);
    return EXIT.ok;
  } catch (e) {
    if (!isRollbackError(e) || !CHECK_FAILED.has(e.code)) throw e;
    say(`refused: ${e.message}`);
    if (json) print({ ok: false, refused: true, targetUnchanged: true, error: e.toJSON() });
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
